"""Callbacks the CLI adds to every run."""

import random
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch.callbacks import BasePredictionWriter, Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .predict import forecast_table

__all__ = ["FiniteLossCheck", "PredictionWriter", "RandomStateCheckpoint"]


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


class FiniteLossCheck(Callback):
    """Stops ``fit`` at the first NaN or infinite training loss, before it reaches the weights.

    The error names the epoch, global step and batch index, so the run can be replayed up to it
    (``--seed_everything`` and ``trainer.deterministic: true``); no checkpoint of NaN weights is
    written. Usual fixes: a lower ``optimizer.init_args.lr``, ``trainer.gradient_clip_val``, or
    ``data.nan_policy`` for NaN in the data.

    Raises:
        FloatingPointError: the training loss is NaN or infinite.
    """

    def __init__(self):
        self.batch_idx = -1

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, batch_idx: int):
        self.batch_idx = batch_idx

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss).all():
            raise FloatingPointError(
                f"training loss is {loss.item()} at epoch {trainer.current_epoch}, global step "
                f"{trainer.global_step}, batch index {self.batch_idx} of the epoch; stopped before the "
                "update. Try a lower learning rate, trainer.gradient_clip_val, or check the data."
            )


class RandomStateCheckpoint(Callback):
    """Saves the random generators of this process in each checkpoint and restores them on resume.

    Lightning restores weights, optimizer, scheduler and loop counters, but a resumed run starts
    from ``seed_everything``'s generators: the next epoch's shuffle, dropout masks and worker seeds
    would repeat the first epoch's. With these states back, a run resumed at an epoch boundary goes
    on exactly as if never stopped (with ``trainer.deterministic: true``). States are plain lists and
    tensors, so checkpoints still load with ``weights_only=True``.
    """

    def state_dict(self) -> dict[str, Any]:
        name, keys, position, has_gauss, cached = np.random.get_state()
        state = {
            "torch": torch.get_rng_state(),
            "numpy": [name, keys.tolist(), position, has_gauss, cached],
            "python": random.getstate(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        torch.set_rng_state(state_dict["torch"])
        name, keys, position, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((name, np.array(keys, dtype=np.uint32), position, has_gauss, cached))
        random.setstate(state_dict["python"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
