"""Does the model beat the naive forecasts? ``fit`` says, on validation: the last value and the seasonal naive.

On a random walk no model beats the last value, and a model tuned on one data set can lose to both
naive forecasts on another; this is what a user should know before trusting a forecast. The
comparison reads only the validation windows, never the test part.
"""

import json
from pathlib import Path

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_info, rank_zero_warn

from .batch import Batch

__all__ = ["seasonal_period", "naive_forecasts", "NaiveComparison"]


def seasonal_period(freq: str) -> int | None:
    """The steps of one season at ``freq``: a day of sub-daily data, a week of daily data, a year of
    weekly, monthly or quarterly data; ``None`` when no such cycle is common (yearly data).

    Example:
        >>> seasonal_period("h"), seasonal_period("15min"), seasonal_period("D"), seasonal_period("MS")
        (24, 96, 7, 12)
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    if isinstance(offset, pd.offsets.Tick):
        step, day = pd.Timedelta(offset), pd.Timedelta(days=1)
        if step < day and day % step == pd.Timedelta(0):
            return day // step
        return {day: 7, 7 * day: 52}.get(step)
    seasons = {pd.offsets.Week: 52, pd.offsets.MonthBegin: 12, pd.offsets.MonthEnd: 12, pd.offsets.QuarterBegin: 4}
    seasons |= {pd.offsets.QuarterEnd: 4, pd.offsets.BusinessDay: 5, pd.offsets.Day: 7}  # a week of (business) days
    return next((steps // offset.n for kind, steps in seasons.items() if isinstance(offset, kind)), None)


def naive_forecasts(batch: Batch, period: int | None) -> dict[str, torch.Tensor]:
    """The last value repeated, and (when the lookback holds a season of ``period`` steps) the last season
    repeated, on the batch's scaled values.

    Shapes:
        batch.past: (B, L, C_in), batch.target: (B, H, C_out) -> {name: (B, H, C_out)}
    """
    horizon, targets = batch.target.shape[1:]
    history = batch.past[..., :targets]  # -> (B, L, C_out), the targets come first
    forecasts = {"last value": history[:, -1:].expand(-1, horizon, -1)}
    if period is not None and 1 < period <= history.shape[1]:
        steps = torch.arange(horizon, device=history.device) % period + history.shape[1] - period
        forecasts[f"seasonal naive ({period} steps)"] = history[:, steps]
    return forecasts


class NaiveComparison(L.Callback):
    """At the end of ``fit``, the validation MSE of the model's best epoch beside that of the naive forecasts.

    The model's figure is the ``val/mse`` of the epoch the checkpoint chose (the last epoch without
    one), on the scaled data; the naive forecasts are scored on the same validation windows. The log
    says which wins and by how much, with a warning when a naive forecast does, and
    ``naive_comparison.json`` in the run directory keeps the figures.

    Args:
        seasonal_period: steps of the seasonal naive's season; ``None`` derives it from the data's
            frequency (``seasonal_period``): 24 for hourly data.
    """

    def __init__(self, seasonal_period: int | None = None):
        self.seasonal_period = seasonal_period
        self.epochs: list[tuple[float, float]] = []  # per validation epoch: (monitored value, val/mse)

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs = []

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics, checkpoint = trainer.callback_metrics, trainer.checkpoint_callback
        monitor = checkpoint.monitor if checkpoint is not None and checkpoint.monitor else "val/mse"
        if not trainer.sanity_checking and "val/mse" in metrics and monitor in metrics:
            self.epochs.append((float(metrics[monitor]), float(metrics["val/mse"])))

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = trainer.datamodule
        if not self.epochs or data is None:
            return
        checkpoint = trainer.checkpoint_callback
        chosen = min if checkpoint is None or checkpoint.mode == "min" else max
        model = chosen(self.epochs, key=lambda epoch: epoch[0])[1] if checkpoint else self.epochs[-1][1]
        period = self.seasonal_period or seasonal_period(data.freq)
        naive = self._naive_mse(trainer, data.val_dataloader(), period)
        scores = {"model": model} | naive
        winner = min(scores, key=scores.get)
        gaps = ", ".join(
            f"{name} {value:.4f} (the model's {(model - value) / value:+.1%})" for name, value in naive.items()
        )
        message = f"validation MSE (scaled): model {model:.4f}; {gaps}: the {winner} wins"
        if winner == "model":
            rank_zero_info(message)
        else:
            rank_zero_warn(f"{message}; the model loses to a naive forecast on validation")
        directory = Path(trainer.log_dir or trainer.default_root_dir)  # on every process: log_dir broadcasts
        if trainer.is_global_zero:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "naive_comparison.json").write_text(
                json.dumps({"val_mse": scores, "winner": winner}, indent=2)
            )

    @staticmethod
    def _naive_mse(trainer: L.Trainer, loader: torch.utils.data.DataLoader, period: int | None) -> dict[str, float]:
        """Each naive forecast's MSE over this process's validation windows, summed over all processes."""
        totals: dict[str, torch.Tensor] = {}
        count = torch.zeros((), dtype=torch.float64)
        for batch in loader:
            for name, forecast in naive_forecasts(batch, period).items():
                error = (forecast - batch.target).double().square().sum()
                totals[name] = totals.get(name, torch.zeros((), dtype=torch.float64)) + error
            count += batch.target.numel()
        sums = trainer.strategy.reduce(torch.stack([count, *totals.values()]), reduce_op="sum")
        return {name: float(total / sums[0]) for name, total in zip(totals, sums[1:], strict=True)}
