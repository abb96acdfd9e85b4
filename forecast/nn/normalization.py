"""Input normalizations: take each window's level (and scale) out before encoding, put it back after.

ETTh1's test part sits at other levels than its training part; normalizing each window by its own
statistics is what lets recurrent and linear models generalize across that shift (Kim et al.,
"Reversible Instance Normalization", ICLR 2022; Lin et al., "SegRNN", 2023, Section 3.1).
"""

import math
import numbers

import torch
from torch import nn

from .checks import check_flag

__all__ = ["Normalization", "NoNormalization", "LastValueNormalization", "InstanceNormalization"]

Rescale = tuple[torch.Tensor, torch.Tensor]


class Normalization(nn.Module):
    """The contract: normalize the window, and say how to map a forecast back.

    ``forward`` returns the normalized window and ``(loc, scale)`` for the target channels, such that
    a forecast in original scale is ``normalized_forecast * scale + loc``; all three come in the normalized
    window's dtype, so that a model moved to float64 or bfloat16 forecasts in it.

    Shapes:
        past: (B, L, C_in) -> normalized past (B, L, C_in), loc (B, 1, C_out), scale (B, 1, C_out)
    """

    def forward(self, past: torch.Tensor, target_size: int) -> tuple[torch.Tensor, Rescale]:
        raise NotImplementedError


class NoNormalization(Normalization):
    """Leave the window as it is (the data module's scaling still applies)."""

    def __init__(self, input_size: int):
        super().__init__()

    def forward(self, past: torch.Tensor, target_size: int) -> tuple[torch.Tensor, Rescale]:
        zero = past.new_zeros(past.shape[0], 1, target_size)
        return past, (zero, torch.ones_like(zero))


class LastValueNormalization(Normalization):
    """Subtract each channel's last observed value (SegRNN, Section 3.1): forecasts become changes."""

    def __init__(self, input_size: int):
        super().__init__()

    def forward(self, past: torch.Tensor, target_size: int) -> tuple[torch.Tensor, Rescale]:
        last = past[:, -1:]  # -> (B, 1, C_in)
        loc = last[..., :target_size]  # -> (B, 1, C_out)
        return past - last, (loc, torch.ones_like(loc))


def _round_up(value: float) -> float:
    """``value`` rounded up to two significant digits, so that the number an error message prints is allowed."""
    unit = 10.0 ** (math.floor(math.log10(value)) - 1)
    return math.ceil(value / unit) * unit


class InstanceNormalization(Normalization):
    """RevIN: standardize each channel by the window's mean and deviation, with a learned affine map.

    Args:
        input_size: C_in, channels of the window (given by the Forecaster).
        affine: learn a per-channel scale and shift applied after standardizing (RevIN's gamma, beta).
        eps: added to the variance, for flat windows; a weight within its square of zero is taken as that
            square when inverting.

    The window's mean and variance are taken in float64: a window spread over more than 1.8e19 (unscaled
    data) has a variance beyond float32, whose overflow would make every forecast of it NaN.

    Raises:
        TypeError: ``affine`` is no bool (the text "false" is true to Python), or ``eps`` is no number (text such
            as "1e-5").
        ValueError: ``eps`` is not positive (a flat window would divide zero by zero) or infinite (every window
            would normalize to zeros and every forecast be NaN), or its square is
            below the smallest normal number of the parameters' dtype (float32: ``eps`` below 1.1e-19),
            where ``eps**2`` no longer keeps a weight trained to zero from dividing by zero.
    """

    def __init__(self, input_size: int, *, affine: bool = True, eps: float = 1e-5):
        super().__init__()
        check_flag("model.normalization.init_args.affine", affine)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real):  # "1e-5" as text, say
            raise TypeError(f"model.normalization.init_args.eps={eps!r} is not a number; give one such as 1e-5")
        if not 0 < eps < math.inf:
            raise ValueError(
                f"model.normalization.init_args.eps={eps} must be positive and finite: it keeps a flat window's "
                "deviation above zero, and an infinite one makes every forecast NaN; RevIN's is 1e-5"
            )
        self.weight = nn.Parameter(torch.ones(input_size), requires_grad=affine)
        self.bias = nn.Parameter(torch.zeros(input_size), requires_grad=affine)
        tiny = torch.finfo(self.weight.dtype).tiny
        if eps**2 < tiny:
            raise ValueError(
                f"model.normalization.init_args.eps={eps} is too small for {self.weight.dtype}: its square, which "
                "stands in for a weight trained to zero when inverting, underflows there, so such a weight gives "
                "infinite forecasts; "
                f"use eps >= {_round_up(math.sqrt(tiny)):.2g} (RevIN's is 1e-5)"
            )
        self.eps = eps

    def forward(self, past: torch.Tensor, target_size: int) -> tuple[torch.Tensor, Rescale]:
        wide = past.double()  # a variance in float32 overflows for a spread above 1.8e19
        mean = wide.mean(dim=1, keepdim=True).to(past.dtype)  # -> (B, 1, C_in)
        std = (wide.var(dim=1, keepdim=True, unbiased=False) + self.eps).sqrt().to(past.dtype)  # -> (B, 1, C_in)
        normalized = (past - mean) / std * self.weight + self.bias  # -> (B, L, C_in)
        # Invert y_norm = (y - mean) / std * w + b for the targets: y = y_norm * (std / w) + mean - b * std / w.
        # A weight within eps^2 of zero counts as +-eps^2, so a weight trained to zero stays finite. RevIN (Kim et
        # al., ICLR 2022) adds eps^2 to every weight instead, which leaves its inverse off by a factor 1 + eps^2.
        weight, floor = self.weight[:target_size], self.eps**2
        weight = torch.where(weight.abs() < floor, torch.where(weight < 0, -floor, floor), weight)
        scale = std[..., :target_size] / weight  # -> (B, 1, C_out)
        loc = mean[..., :target_size] - self.bias[:target_size] * scale  # -> (B, 1, C_out)
        # In the normalized window's dtype: torch.where makes the Python floor float32, so a bfloat16 model's
        # loc and scale, and with them its forecasts, would be float32.
        return normalized, (loc.to(normalized.dtype), scale.to(normalized.dtype))
