"""Losses: each says how many parameters P per forecast value the head must output, and how to read
point forecasts and quantiles from them.

The head's raw output becomes the loss's parameters in one place, ``Loss.rescale``, which the
Forecaster calls on every forward pass. It first constrains the raw output on the window's
normalized scale (softplus for scales and degrees of freedom, ordered increments for quantiles),
then maps the constrained parameters to the target's units (``value * scale + loc``). Everything
after it (``forward``, ``point``, ``quantiles``, ``distribution``) reads constrained parameters in
the target's units. Constraining before the affine map keeps the map exact: the distribution of
the rescaled parameters is the normalized distribution mapped by ``value * scale + loc``, with no
inverse softplus in between (for a negative scale, a RevIN weight turned negative, exactly so for the symmetric
Gaussian and Student-t; ``QuantileLoss`` keeps its steps above its anchor on the upper levels, mapped by the
scale's absolute value). A softplus floor such as ``min_scale`` is therefore in normalized
units, where 1 is the size of the window's own variation.

Shapes use the legend of ``forecast.batch``; P is ``num_params`` and Q the number of quantile levels.
"""

import math
from collections.abc import Sequence

import torch
from torch import distributions, nn
from torch.distributions.utils import broadcast_all
from torch.nn import functional

from .metrics import check_quantile_levels
from .metrics.functional import _pinball_losses

__all__ = ["Loss", "MSELoss", "MAELoss", "HuberLoss", "GaussianNLLLoss", "StudentTNLLoss", "QuantileLoss"]


class Loss(nn.Module):
    """The contract every loss keeps: ``num_params`` sizes the head, ``levels`` names quantile columns.

    Attributes:
        num_params: P, parameters per forecast value; the head's last dimension.
        levels: the quantile levels a prediction writes as columns by default, in increasing order;
            empty for point losses, which have no quantiles.

    A loss gives each target value's loss (``elementwise``); ``forward`` averages them over the values
    that were observed, so that a target the data module repaired (``nan_policy`` ffill, interpolate or
    zero) never trains or scores a forecast.

    Shapes:
        rescale(raw (B, H, C, P), loc (B, 1, C), scale (B, 1, C)) -> params (B, H, C, P);
        elementwise(params, target (B, H, C)) -> (B, H, C); forward(params, target, observed (B, H, C)
        bool or None) -> scalar; point(params) -> (B, H, C); quantiles(params, levels) -> (B, H, C, Q)
    """

    num_params: int
    levels: tuple[float, ...]

    @property
    def forecasts_points(self) -> bool:
        """Whether the loss's forecast is a point, as the naive forecasts and an ensemble's mean are: one
        parameter per value and no quantile levels (a ``QuantileLoss`` of one level forecasts that quantile)."""
        return self.num_params == 1 and not self.levels

    def forward(self, params: torch.Tensor, target: torch.Tensor, observed: torch.Tensor | None = None) -> torch.Tensor:
        """The mean loss of forecasts with parameters ``params`` (from ``rescale``) over the values of ``target``
        that ``observed`` marks (all when ``None``); 0 when none is.

        An unobserved target is read as the point forecast itself before any loss is taken, so that one
        holding no value (NaN or infinite) gives no NaN gradient: masking its loss afterwards would not do,
        as autograd multiplies the mask's zero by the loss's NaN derivative there.
        """
        if observed is None:
            return self.elementwise(params, target).mean()
        target = target.where(observed, self.point(params).detach())  # -> (B, H, C), finite where unobserved
        losses = self.elementwise(params, target)  # -> (B, H, C)
        return losses.where(observed, 0.0).sum() / observed.sum().clamp(min=1)

    def elementwise(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of each target value, (B, H, C)."""
        raise NotImplementedError

    def point(self, params: torch.Tensor) -> torch.Tensor:
        """The point forecast, (B, H, C)."""
        raise NotImplementedError

    def quantiles(self, params: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
        """The forecast's quantiles at ``levels`` (strictly increasing, in (0, 1)), (B, H, C, Q).

        Raises:
            ValueError: for a loss that gives point forecasts only, or bad levels.
        """
        raise NotImplementedError

    def raw_point(self, raw: torch.Tensor) -> torch.Tensor:
        """The point forecast of a head's raw output, on the normalized scale (rescaled by nothing): what a recurrent
        head decodes its next step from. (B, H, C, P) -> (B, H, C)."""
        return self.point(self.rescale(raw, raw.new_zeros(1, 1, 1), raw.new_ones(1, 1, 1)))

    def rescale(self, raw: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """The parameters, in the target's units, of the forecast the head made on the normalized scale.

        Args:
            raw: the head's unconstrained output, on the normalized scale.
            loc: what normalization took out; (0, 1) when there was none.
            scale: what normalization divided by, positive. A negative scale (a RevIN weight turned
                negative) maps the location exactly and the spread by its absolute value.
        """
        raise NotImplementedError


class _PointLoss(Loss):
    """A loss on one value per forecast step: the head's output is the forecast itself."""

    num_params = 1
    levels = ()

    def point(self, params: torch.Tensor) -> torch.Tensor:
        return params[..., 0]

    def quantiles(self, params: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
        # A point forecast repeated as every quantile would claim zero uncertainty and show 0% coverage.
        raise ValueError(
            f"{type(self).__name__} gives point forecasts only, so it has no quantiles; train with "
            "GaussianNLLLoss, StudentTNLLoss or QuantileLoss to forecast quantiles"
        )

    def rescale(self, raw: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return raw * scale.unsqueeze(-1) + loc.unsqueeze(-1)  # -> (B, H, C, 1)


class MSELoss(_PointLoss):
    """Mean squared error of a point forecast; its optimum is the conditional mean."""

    def elementwise(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return functional.mse_loss(self.point(params), target, reduction="none")


class MAELoss(_PointLoss):
    """Mean absolute error of a point forecast; its optimum is the conditional median."""

    def elementwise(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return functional.l1_loss(self.point(params), target, reduction="none")


class HuberLoss(_PointLoss):
    """Huber loss of a point forecast: squared for small errors, absolute for large ones (Huber, 1964).

    Less swayed by outliers than MSE, smoother than MAE near zero; its optimum lies between the
    conditional mean and median.

    Args:
        delta: the error size where the loss turns from squared to absolute, in the target's units
            (its scaled units when the data module scales).

    Raises:
        ValueError: if ``delta`` is not positive.
    """

    def __init__(self, delta: float = 1.0):
        super().__init__()
        if not delta > 0:
            raise ValueError(f"HuberLoss needs a positive delta; got {delta}")
        self.delta = delta

    def elementwise(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # In one dtype: torch's Huber backward fails on a forecast and target of two ("Found dtype Float but expected
        # Double"), as a model cast to float64 or bfloat16 gives against the data's float32 targets.
        forecast = self.point(params)
        dtype = torch.result_type(forecast, target)
        return functional.huber_loss(forecast.to(dtype), target.to(dtype), reduction="none", delta=self.delta)


class _LocationScaleLoss(Loss):
    """Negative log-likelihood of a location-scale family; params are (loc, scale, shape...)."""

    def __init__(self, levels: Sequence[float], min_scale: float):
        super().__init__()
        if not (min_scale > 0 and math.isfinite(min_scale)):  # an infinite one would make every loss infinite
            raise ValueError(
                f"{type(self).__name__} needs a positive min_scale, a finite number in normalized units "
                f"(1e-3 by default); got {min_scale}"
            )
        self.levels = check_quantile_levels(levels)
        self.min_scale = min_scale

    def distribution(self, params: torch.Tensor) -> distributions.Distribution:
        """The forecast distribution of each value, with batch shape (B, H, C).

        Built without argument validation: NaN parameters (weights a diverging update left) give a NaN
        loss, which ``FiniteLossCheck`` stops at with the epoch and step, rather than a torch error.
        """
        raise NotImplementedError

    def _standard_quantiles(self, params: torch.Tensor, levels: tuple[float, ...]) -> torch.Tensor:
        """Quantiles of the family at loc 0 and scale 1, (Q,) or (B, H, C, Q)."""
        raise NotImplementedError

    def _constrain_shape(self, raw_shape: torch.Tensor) -> torch.Tensor:
        """Shape parameters (B, H, C, P - 2) from the head's raw output; none by default."""
        return raw_shape

    def elementwise(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return -self.distribution(params).log_prob(target)

    def point(self, params: torch.Tensor) -> torch.Tensor:
        return params[..., 0]

    def quantiles(self, params: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
        standard = self._standard_quantiles(params, check_quantile_levels(levels))  # -> (Q,) or (B, H, C, Q)
        return params[..., :1] + params[..., 1:2] * standard  # -> (B, H, C, Q)

    def rescale(self, raw: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        location = raw[..., 0] * scale + loc  # -> (B, H, C)
        spread = (functional.softplus(raw[..., 1]) + self.min_scale) * scale.abs()  # -> (B, H, C)
        shape = self._constrain_shape(raw[..., 2:])  # -> (B, H, C, P - 2)
        return torch.cat([location.unsqueeze(-1), spread.unsqueeze(-1), shape], dim=-1)  # -> (B, H, C, P)


class GaussianNLLLoss(_LocationScaleLoss):
    """Negative log-likelihood of a normal forecast: params are (mean, standard deviation).

    The standard deviation is ``softplus(raw) + min_scale`` on the normalized scale (applied in
    ``rescale``), times the normalization's scale. ``point`` is the mean; quantiles are exact
    (``torch.special.ndtri``) and differentiable.

    Args:
        levels: the quantile levels a prediction writes as columns, strictly increasing in (0, 1).
        min_scale: the smallest standard deviation, in normalized units; keeps the likelihood bounded.

    Raises:
        ValueError: on bad quantile levels or a ``min_scale`` that is not positive and finite.
    """

    num_params = 2

    def __init__(self, levels: Sequence[float] = (0.1, 0.5, 0.9), min_scale: float = 1e-3):
        super().__init__(levels, min_scale)

    def distribution(self, params: torch.Tensor) -> distributions.Normal:
        return distributions.Normal(params[..., 0], params[..., 1], validate_args=False)

    def _standard_quantiles(self, params: torch.Tensor, levels: tuple[float, ...]) -> torch.Tensor:
        # In float64, then in the params' dtype: torch has no ndtri in half precision on the CPU, and a level
        # rounded to bfloat16 first (0.9 to 0.8984) would move its quantile.
        return torch.special.ndtri(torch.tensor(levels, dtype=torch.float64)).to(params)  # -> (Q,)


# From this many degrees of freedom on, ``_student_t_log_normalizer`` uses its asymptotic series.
_SERIES_FROM_DF = 10.0


def _student_t_log_normalizer(df: torch.Tensor) -> torch.Tensor:
    """``lgamma((df + 1) / 2) - lgamma(df / 2) - log(df) / 2``, the part of the Student-t log density that
    depends on the degrees of freedom only, accurate in float32 at any ``df``.

    The lgamma difference cancels two values that grow like ``df log(df)``: in float32 it is off by 5e-3 at
    df 1e4 and by more than 1 at df 1e8. From ``_SERIES_FROM_DF`` on, its asymptotic series (Stirling's) is
    used instead, whose terms are all small; the first one left out, ``-31 / (36 df^9)``, is below 1e-9 there.
    Each branch sees only the range it is used in, so neither can overflow into a NaN gradient.
    """
    small = df.clamp(max=_SERIES_FROM_DF)
    direct = torch.lgamma((small + 1) / 2) - torch.lgamma(small / 2) - small.log() / 2
    inverse = df.clamp(min=_SERIES_FROM_DF).reciprocal()  # powers of df itself would overflow in float32
    series = -math.log(2) / 2 - inverse / 4 + inverse**3 / 24 - inverse**5 / 20 + inverse**7 * 17 / 112
    return torch.where(df < _SERIES_FROM_DF, direct, series)


class _StudentT(distributions.StudentT):
    """torch's Student-t with a log density that stays accurate in float32 at large degrees of freedom, and
    built without argument validation."""

    def __init__(self, df: torch.Tensor | float, loc: torch.Tensor, scale: torch.Tensor):
        # Not torch's __init__: it builds its chi-squared with the default validation whatever ``validate_args``
        # says, so a NaN learned df (weights a diverging update left) raised a ValueError about Chi2.
        self.df, self.loc, self.scale = broadcast_all(df, loc, scale)
        self._chi2 = distributions.Chi2(self.df, validate_args=False)
        distributions.Distribution.__init__(self, self.df.shape, validate_args=False)

    def expand(self, batch_shape: torch.Size, _instance: "_StudentT | None" = None) -> "_StudentT":
        # torch's expand refuses a subclass with an __init__ of its own unless it is handed the new instance.
        return super().expand(batch_shape, self._get_checked_instance(_StudentT, _instance))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        standard = (value - self.loc) / self.scale
        return (
            _student_t_log_normalizer(self.df)
            - math.log(math.pi) / 2
            - self.scale.log()
            - (self.df + 1) / 2 * torch.log1p(standard**2 / self.df)
        )


class StudentTNLLoss(_LocationScaleLoss):
    """Negative log-likelihood of a Student-t forecast: params are (loc, scale[, degrees of freedom]).

    Heavier tails than the normal make it robust to outliers. The scale is ``softplus(raw) +
    min_scale`` on the normalized scale, times the normalization's scale; learned degrees of
    freedom are ``2 + softplus(raw)``, so the variance stays finite. Both are applied in ``rescale``.
    ``point`` is ``loc``, the median, and the mean whenever the degrees of freedom exceed 1.
    Quantiles come from SciPy's inverse t distribution (torch has none), so they carry no gradient to the
    degrees of freedom (they do to ``loc`` and ``scale``).

    Args:
        levels: the quantile levels a prediction writes as columns, strictly increasing in (0, 1).
        df: fixed degrees of freedom (positive and finite), or ``None`` to learn them per value (P = 3 instead of 2).
        min_scale: the smallest scale, in normalized units; keeps the likelihood bounded.

    Raises:
        ValueError: on bad quantile levels, or a ``df`` or ``min_scale`` that is not positive and finite.
    """

    def __init__(self, levels: Sequence[float] = (0.1, 0.5, 0.9), df: float | None = None, min_scale: float = 1e-3):
        super().__init__(levels, min_scale)
        if df is not None and not (df > 0 and math.isfinite(df)):  # infinite df would make every loss NaN
            raise ValueError(
                f"StudentTNLLoss needs positive degrees of freedom df, a finite number, or None to learn them; got "
                f"{df} (infinite degrees of freedom make the normal distribution: use GaussianNLLLoss)"
            )
        self.df = df
        self.num_params = 3 if df is None else 2

    def _degrees_of_freedom(self, params: torch.Tensor) -> torch.Tensor | float:
        return params[..., 2] if self.df is None else self.df

    def distribution(self, params: torch.Tensor) -> distributions.StudentT:
        df = self._degrees_of_freedom(params)
        return _StudentT(df, params[..., 0], params[..., 1])

    def _constrain_shape(self, raw_shape: torch.Tensor) -> torch.Tensor:
        # Empty when df is fixed; otherwise one column of degrees of freedom above 2.
        return 2.0 + functional.softplus(raw_shape)

    def _standard_quantiles(self, params: torch.Tensor, levels: tuple[float, ...]) -> torch.Tensor:
        # SciPy comes with scikit-learn, a dependency; imported here to keep it out of `import forecast`.
        from scipy.special import stdtrit

        df = torch.as_tensor(self._degrees_of_freedom(params.detach()), dtype=torch.float64).cpu().unsqueeze(-1)
        standard = stdtrit(df.numpy(), torch.tensor(levels, dtype=torch.float64).numpy())  # -> (Q,) or (B, H, C, Q)
        return torch.from_numpy(standard).to(params)


class QuantileLoss(Loss):
    """Pinball loss of quantile forecasts, averaged over values and levels: params are the quantiles.

    The quantiles cannot cross, in training or prediction: ``rescale`` takes the level closest to
    0.5 (the anchor; the lower one on a tie) from the head as it is, and builds the others outward
    from it by cumulative softplus increments, above and below. ``point`` is the anchor, the median
    when 0.5 is among the levels.

    Args:
        levels: the quantile levels to forecast, strictly increasing in (0, 1); P is their number.

    Raises:
        ValueError: on bad levels.
    """

    def __init__(self, levels: Sequence[float] = (0.1, 0.5, 0.9)):
        super().__init__()
        self.levels = check_quantile_levels(levels)
        self.num_params = len(self.levels)
        # The lowest of the levels nearest 0.5, nearest up to rounding: 0.7 - 0.5 < 0.5 - 0.3 in floats.
        distances = [abs(level - 0.5) for level in self.levels]
        nearest = min(distances)
        self.anchor = next(
            index for index, distance in enumerate(distances) if math.isclose(distance, nearest, abs_tol=1e-9)
        )

    def elementwise(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _pinball_losses(params, target, self.levels).mean(-1)  # the mean over levels

    def point(self, params: torch.Tensor) -> torch.Tensor:
        return params[..., self.anchor]

    def quantiles(self, params: torch.Tensor, levels: Sequence[float]) -> torch.Tensor:
        """The forecast's quantiles at ``levels``, which must be among the trained ``self.levels``.

        Raises:
            ValueError: for bad levels or a level the loss was not trained for.
        """
        columns = []
        for level in check_quantile_levels(levels):
            matches = [index for index, known in enumerate(self.levels) if math.isclose(level, known, abs_tol=1e-9)]
            if not matches:
                raise ValueError(
                    f"QuantileLoss forecasts the levels {list(self.levels)} only; got {level}. "
                    "Add it to `levels` and train again"
                )
            columns.append(matches[0])
        return params[..., columns]  # -> (B, H, C, Q)

    def rescale(self, raw: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        anchor = (raw[..., self.anchor] * scale + loc).unsqueeze(-1)  # -> (B, H, C, 1)
        spread = scale.abs().unsqueeze(-1)  # -> (B, 1, C, 1)
        above = functional.softplus(raw[..., self.anchor + 1 :]).cumsum(dim=-1)  # -> (B, H, C, Q_above)
        below = functional.softplus(raw[..., : self.anchor]).flip(-1).cumsum(dim=-1).flip(-1)  # -> (B, H, C, Q_below)
        return torch.cat([anchor - below * spread, anchor, anchor + above * spread], dim=-1)  # -> (B, H, C, Q)
