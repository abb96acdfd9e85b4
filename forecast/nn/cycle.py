"""A learned periodic component, taken out of the window before the encoder and put back into the forecast.

CycleNet (Lin et al., "CycleNet: Enhancing Time Series Forecasting through Modeling Periodic Patterns",
NeurIPS 2024) learns one value per channel and position in the season (a day of hourly data), shared
by all windows; the network forecasts only the residual. Any encoder and head can be wrapped this way.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .checks import check_size

__all__ = ["ResidualCycle"]


class ResidualCycle(nn.Module):
    """One learned value per position in the season and target channel, indexed by each step's position.

    The Forecaster subtracts the cycle from the normalized lookback's targets and adds it to the
    forecast, on the same normalized scale (``remove``); positions come from the calendar feature ``season``,
    so consecutive steps have consecutive positions and the cycle is the same at any date. ``fit``
    starts it at the training rows' seasonal profile (``start``, ``TimeSeriesDataModule.season_means``; CycleNet
    starts from zero, which at a small learning rate stays near zero for many steps); that profile is
    on the scaled data, which is the forecasting scale of ``LastValueNormalization``.

    Args:
        channels: C_out, target channels (given by the Forecaster).
        period: steps of the season (the data's ``season_length``, linked by the CLI: 24 for hourly data).

    Raises:
        TypeError: ``channels`` or ``period`` is no int (a float, a bool), as ``check_size`` says it.
        ValueError: ``channels`` or ``period`` is below 1; or, when loading weights, they hold a cycle of another
            period (a checkpoint trained on data of another frequency), naming both periods and the fix.
    """

    def __init__(self, channels: int, period: int):
        super().__init__()
        check_size("ResidualCycle channels", channels, 1)
        check_size("ResidualCycle period", period, 1)
        self.period = period
        self.values = nn.Parameter(torch.zeros(period, channels))  # zero: the network alone, until fit starts it

    def forward(self, position: torch.Tensor, lookback: int, horizon: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The cycle over the lookback and over the horizon of windows whose first forecast step is at ``position``.

        Shapes:
            position: (B,) integer -> lookback cycle (B, L, C_out), horizon cycle (B, H, C_out)
        """
        steps = torch.arange(-lookback, horizon, device=position.device)  # -> (L + H,), 0 the first forecast step
        cycle = self.values[(position[:, None] + steps) % self.period]  # -> (B, L + H, C_out)
        return cycle[:, :lookback], cycle[:, lookback:]

    def remove(
        self, normalized: torch.Tensor, future: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor, channel: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The lookback's targets less the cycle, ``future`` without its ``channel`` of positions, and ``loc`` with
        the horizon's cycle (on the scale the head forecasts in) added, so that rescaling puts it back.

        Shapes:
            normalized: (B, L, C_in), future: (B, H, C_fut), loc and scale: (B, 1, C_out)
            -> (B, L, C_in), (B, H, C_fut - 1), (B, H, C_out)
        """
        targets = self.values.shape[1]  # C_out, the first channels of the window
        position = future[:, 0, channel].long()  # -> (B,), of each window's first forecast step
        past_cycle, future_cycle = self(position, normalized.shape[1], future.shape[1])
        normalized = torch.cat([normalized[..., :targets] - past_cycle, normalized[..., targets:]], dim=-1)
        future = torch.cat([future[..., :channel], future[..., channel + 1 :]], dim=-1)  # -> (B, H, C_fut - 1)
        return normalized, future, loc + scale * future_cycle

    def start(self, season_means: Callable[[], torch.Tensor] | None) -> None:
        """Start a cycle that is still at its zero start at the data's seasonal profile, ``season_means()``
        (``TimeSeriesDataModule.season_means``: (period, C_out)); ``None`` (data without one) leaves it as it is.

        A cycle that holds values (a trained or loaded model fit further, to fine-tune it or for more epochs) keeps
        them, as its other weights are kept.
        """
        if season_means is not None and not self.values.any():
            with torch.no_grad():
                self.values.copy_(season_means())

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        """Refuse a cycle of another period by name, where torch would say only "size mismatch for cycle.values".

        The period comes from the data (its ``season_length``), so a checkpoint trained on hourly data
        (24) and tested or resumed on data of another frequency builds a model whose cycle cannot hold it.
        """
        values = state_dict.get(prefix + "values")
        if values is not None and values.ndim == 2 and values.shape[0] != self.period:
            raise ValueError(
                f"the checkpoint's residual cycle ({prefix}values) has period {values.shape[0]} (the season_length of "
                f"the data it was trained on), but this model's has period {self.period} (the season_length of the "
                "data it was built for: another frequency): use data of the frequency the checkpoint was trained "
                f"on (a season of {values.shape[0]} steps), or train a new model on this data"
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
