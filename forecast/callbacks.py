"""Callbacks the CLI adds to every run."""

from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .predict import forecast_table

__all__ = ["PredictionWriter"]


def _gather_windows(stacked: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """All processes' forecasts, each window once, ordered by series and time as in one process.

    Under DDP every rank predicts a share of the windows, and the distributed sampler repeats a few
    to give each rank as many; a window is its (series, time), so repeats are dropped by it.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return stacked
    shares: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(shares, stacked)
    merged = {key: np.concatenate([share[key] for share in shares]) for key in stacked}
    keys = np.stack([merged["series"], merged["time"]], axis=1)  # -> (N_all, 2)
    _, first = np.unique(keys, axis=0, return_index=True)  # sorted by series, then time
    return {key: value[first] for key, value in merged.items()}


class PredictionWriter(BasePredictionWriter):
    """Writes the forecasts of ``predict`` as a long table: ``id``, ``time``, one column per target.

    Forecasts are in original units, with times continuing each series at its frequency. A
    probabilistic model adds a column per target and quantile level, e.g. ``OT_q0.9``. Under DDP
    the ranks' forecasts are gathered and rank 0 writes one table, in the order of one process.

    Args:
        output: a ``.csv`` or ``.parquet`` path; ``None`` writes ``predictions.csv`` in the run directory.
    """

    def __init__(self, output: str | None = None):
        super().__init__(write_interval="epoch")
        self.output = output

    def write_on_epoch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, predictions: list[Any], batch_indices: Any
    ) -> None:
        stacked = _gather_windows(
            {key: torch.cat([p[key] for p in predictions]).cpu().numpy() for key in predictions[0]}
        )
        if not trainer.is_global_zero:
            return
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
