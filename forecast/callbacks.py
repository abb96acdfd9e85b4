"""Callbacks the CLI adds to every run."""

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .predict import forecast_table

__all__ = ["PredictionWriter"]


class PredictionWriter(BasePredictionWriter):
    """Writes the forecasts of ``predict`` as a long table: ``id``, ``time``, one column per target.

    Forecasts are in original units, with times continuing each series at its frequency. A
    probabilistic model adds a column per target and quantile level, e.g. ``OT_q0.9``.

    Args:
        output: a ``.csv`` or ``.parquet`` path; ``None`` writes ``predictions.csv`` in the run directory.
    """

    def __init__(self, output: str | None = None):
        super().__init__(write_interval="epoch")
        self.output = output

    def write_on_epoch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: list[Any], batch_indices: Any
    ) -> None:
        stacked = {key: torch.cat([p[key] for p in predictions]).cpu().numpy() for key in predictions[0]}
        table = forecast_table(
            trainer.datamodule,
            stacked["forecast"],  # (N, H, C_out)
            stacked["series"],
            stacked["time"],
            stacked.get("quantiles"),  # (N, H, C_out, Q)
            pl_module.loss.levels,
        )
        path = Path(self.output) if self.output else Path(trainer.log_dir) / "predictions.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)
        rank_zero_info(f"predictions: {path}")
