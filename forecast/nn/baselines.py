"""Baselines as Forecaster parts: the simple forecasts every model is reported against.

A baseline reads the lookback window itself, so it runs with ``IdentityEmbedding`` (the default)
and ``IdentityEncoder``, which hands the window on unchanged; the head is the baseline. The naive
heads have no parameters, so ``test`` runs them without ``fit`` or a checkpoint; the linear head
is trained like any model. The target channels come first in ``past`` (see ``forecast.batch``).
"""

import torch
from torch import nn
from torch.nn import functional

from ..batch import ModelDims
from .checks import check_flag, check_size
from .encoders import Encoder, EncoderOutput, State
from .heads import Decoding, Head

__all__ = [
    "seasonal_naive",
    "IdentityEncoder",
    "LastValueHead",
    "SeasonalNaiveHead",
    "LookbackMeanHead",
    "LookbackLinearHead",
]


def seasonal_naive(history: torch.Tensor, horizon: int, period: int) -> torch.Tensor:
    """Each forecast step repeats the value one season earlier, ``y[t] = y[t - period]``; steps beyond the
    first season repeat the last observed season again. ``period=1`` is the last value repeated.

    Shapes:
        history: (B, L, C) with L >= period -> (B, horizon, C)

    Raises:
        ValueError: ``period`` is below 1, or longer than the history's L steps, where the last season is not
            in the window: its indices would fall before the window's start, and torch would wrap them round
            to its end, a forecast of the wrong steps.
    """
    lookback = history.shape[1]
    if period < 1:
        raise ValueError(f"seasonal_naive: period={period} must be at least 1 step (1 is the last value repeated)")
    if period > lookback:
        raise ValueError(
            f"seasonal_naive: period={period} is longer than the history's {lookback} steps, so its last season is "
            f"not in the window; lower the period to at most {lookback}, or pass a history of at least {period} "
            "steps (a longer data.lookback)"
        )
    steps = lookback - period + torch.arange(horizon, device=history.device) % period  # -> (H,)
    return history[:, steps]


class IdentityEncoder(Encoder):
    """No encoder: the sequence is the embedded window itself, for heads that read the window.

    Args:
        input_size: D_in, features per step (given by the Forecaster).
    """

    def __init__(self, input_size: int):
        super().__init__()
        self.output_size = input_size

    def forward(self, x: torch.Tensor, state: State | None = None) -> EncoderOutput:
        # x: (B, T, D_in)
        return EncoderOutput(sequence=x, last=x[:, -1], state=x[:, -1][None])  # -> (B, T, D), (B, D), (1, B, D)


class _WindowHead(Head):
    """A head that reads the targets' own lookback, ``history``: the normalized window, whatever encodes it.

    It reads ``history`` rather than the encoder's sequence, so that an embedding that keeps the window's
    sizes (a ``LinearEmbedding`` of ``input_size`` features) cannot silently stand in for the window.

    Raises:
        ValueError: the encoder is not ``IdentityEncoder`` or the embedding changes the window's sizes
            (parameters the head would never train), or (``point_only``) the loss needs more than one
            parameter per value.
    """

    def __init__(self, dims: ModelDims, decoding: Decoding | None = None, *, point_only: bool = True):
        super().__init__()
        name = type(self).__name__
        if (
            dims.encoder_steps != dims.lookback
            or dims.encoder_size != dims.input_size
            or decoding is not None
            and not isinstance(decoding.encoder(dims.encoder_size), IdentityEncoder)  # a GRU of the window's width
        ):
            raise ValueError(
                f"model.head={name} reads the lookback window itself; set model.encoder: "
                "forecast.nn.IdentityEncoder and model.embedding: forecast.nn.IdentityEmbedding"
            )
        if point_only and dims.num_params != 1:
            raise ValueError(
                f"model.head={name} gives point forecasts only, but model.loss needs {dims.num_params} "
                "parameters per value; use a point loss (MSELoss, MAELoss, HuberLoss) or LookbackLinearHead"
            )
        self.horizon = dims.horizon


class LastValueHead(_WindowHead):
    """Naive forecast: the last observed value of each target, repeated over the horizon.

    Args:
        dims: sizes from the Forecaster.
    """

    def forward(
        self,
        encoded: EncoderOutput,
        history: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return seasonal_naive(history, self.horizon, period=1).unsqueeze(-1)  # -> (B, H, C_out, 1)


class SeasonalNaiveHead(_WindowHead):
    """Seasonal naive forecast: each step repeats the value one season earlier, ``y[t] = y[t - period]``.

    Steps beyond the first season repeat the last observed season again. By default the season is the data's,
    from its frequency (``dims.season_length``, which the CLI links from the data module: 24 steps for hourly
    data, 7 for daily, 52 for weekly, 144 for 10-minute data), as for the seasonal naive that ``fit`` compares a
    model with (``NaiveComparison``), so that a config runs on data of any frequency; where the frequency has no
    common season (yearly data), that is the last value.

    Args:
        dims: sizes from the Forecaster.
        period: steps per season, at most the lookback; ``None``: the data's season.

    Raises:
        TypeError: ``period`` is no int.
        ValueError: ``period`` is below 1 or longer than the lookback, or without it, the data's season is.
    """

    def __init__(self, dims: ModelDims, decoding: Decoding | None = None, *, period: int | None = None):
        super().__init__(dims, decoding)
        if period is not None:
            check_size("model.head.init_args.period", period, 1)
        elif dims.season_length > dims.lookback:
            raise ValueError(
                f"model.head.init_args.period: the data's season has {dims.season_length} steps, more than "
                f"data.lookback={dims.lookback}: the last season must be inside the window; raise data.lookback to "
                f"{dims.season_length} or more, or set the period"
            )
        self.period = dims.season_length if period is None else period
        self.reads_season = period is None  # the data's season: the data module's must be the model's (check_data)
        if self.period > dims.lookback:
            raise ValueError(
                f"model.head.init_args.period={period} must lie in [1, lookback={dims.lookback}]: the last season "
                "must be inside the window; lower the period or raise data.lookback"
            )

    def forward(
        self,
        encoded: EncoderOutput,
        history: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        return seasonal_naive(history, self.horizon, self.period).unsqueeze(-1)  # -> (B, H, C_out, 1)


class LookbackMeanHead(_WindowHead):
    """Mean forecast: the mean of each target over the lookback, repeated over the horizon.

    Args:
        dims: sizes from the Forecaster.
    """

    def forward(
        self,
        encoded: EncoderOutput,
        history: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        mean = history.mean(dim=1, keepdim=True)  # -> (B, 1, C_out)
        return mean.expand(-1, self.horizon, -1).unsqueeze(-1)  # -> (B, H, C_out, 1)


class LookbackLinearHead(_WindowHead):
    """A linear map from each target's lookback to its horizon, shared by all channels (DLinear).

    With ``moving_average`` the window is split into a trend (its moving average, edges padded by
    repetition) and the remainder, each with its own linear map, as in DLinear (Zeng et al., "Are
    Transformers Effective for Time Series Forecasting?", AAAI 2023, Section 4); without, it is one
    linear map (their NLinear when combined with ``LastValueNormalization``). For a probabilistic
    loss it maps to all P parameters of every step.

    Args:
        dims: sizes from the Forecaster.
        moving_average: odd kernel size of the trend's moving average; 0 for no decomposition.
        individual: one map per target channel instead of one shared map. Under the Forecaster's
            ``channel_independent`` the head sees one channel at a time, so all channels share one map.

    Raises:
        TypeError: ``moving_average`` is no int, or ``individual`` no bool (the text "false" is true to Python).
        ValueError: ``moving_average`` is negative or even.
    """

    def __init__(
        self, dims: ModelDims, decoding: Decoding | None = None, *, moving_average: int = 0, individual: bool = False
    ):
        super().__init__(dims, decoding, point_only=False)
        check_size("model.head.init_args.moving_average", moving_average, 0)
        check_flag("model.head.init_args.individual", individual)
        if moving_average and moving_average % 2 == 0:
            raise ValueError(
                f"model.head.init_args.moving_average={moving_average} must be 0 (no decomposition) or odd, "
                "so that the moving average is centred; DLinear uses 25"
            )
        self.moving_average, self.num_params = moving_average, dims.num_params
        maps = dims.target_size if individual else 1
        parts = 2 if moving_average else 1
        out_features = dims.horizon * dims.num_params
        self.weight = nn.Parameter(torch.empty(parts, maps, out_features, dims.lookback))
        self.bias = nn.Parameter(torch.zeros(parts, maps, out_features))
        nn.init.uniform_(self.weight, -(dims.lookback**-0.5), dims.lookback**-0.5)  # nn.Linear's own range

    def _parts(self, window: torch.Tensor) -> torch.Tensor:
        """The window, or its remainder and trend: (B, C, L) -> (parts, B, C, L)."""
        if not self.moving_average:
            return window.unsqueeze(0)  # -> (1, B, C, L)
        pad = self.moving_average // 2
        padded = functional.pad(window, (pad, pad), mode="replicate")  # -> (B, C, L + 2 pad)
        trend = functional.avg_pool1d(padded, self.moving_average, stride=1)  # -> (B, C, L)
        return torch.stack([window - trend, trend])  # -> (2, B, C, L)

    def forward(
        self,
        encoded: EncoderOutput,
        history: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        window = history.transpose(1, 2)  # -> (B, C_out, L)
        batch, channels, _ = window.shape
        parts = self._parts(window)  # -> (parts, B, C_out, L)
        weight = self.weight.expand(-1, channels, -1, -1)  # -> (parts, C_out, H * P, L)
        params = torch.einsum("pbcl,pcol->bco", parts, weight) + self.bias.sum(0)  # -> (B, C_out, H * P)
        params = params.reshape(batch, channels, self.horizon, self.num_params)  # -> (B, C_out, H, P)
        return params.transpose(1, 2).contiguous()  # -> (B, H, C_out, P)
