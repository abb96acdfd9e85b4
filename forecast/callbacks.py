"""Callbacks the CLI adds to every run."""

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities.rank_zero import rank_zero_info

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
        data = trainer.datamodule
        forecast = torch.cat([p["forecast"] for p in predictions]).cpu().numpy()  # -> (N, H, C_out)
        series = torch.cat([p["series"] for p in predictions]).tolist()
        time = torch.cat([p["time"] for p in predictions]).tolist()
        columns = list(data.targets)
        if "quantiles" in predictions[0]:
            quantiles = torch.cat([p["quantiles"] for p in predictions]).cpu().numpy()  # -> (N, H, C_out, Q)
            forecast = np.concatenate([forecast, quantiles.reshape(*forecast.shape[:2], -1)], axis=-1)
            columns += [f"{target}_q{level:g}" for target in data.targets for level in pl_module.loss.levels]
        frames = [
            pd.DataFrame(values, columns=columns).assign(
                id=data.series_names[index], time=data.forecast_times(index, row)
            )
            for values, index, row in zip(forecast, series, time, strict=True)
        ]
        table = pd.concat(frames, ignore_index=True)[["id", "time", *columns]]
        path = Path(self.output) if self.output else Path(trainer.log_dir) / "predictions.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".parquet":
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False)
        rank_zero_info(f"predictions: {path}")
