"""Leftover defects of the Forecaster's training loop, each pinned by the case that showed it."""

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback

from forecast import Forecaster, TimeSeriesDataModule
from forecast.data import RowSplit


class RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """ReduceLROnPlateau that keeps every metric it is stepped with."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        super().__init__(optimizer)
        self.seen: list[float] = []

    def step(self, metrics, *args, **kwargs):
        self.seen.append(float(metrics))
        return super().step(metrics, *args, **kwargs)


class BatchLosses(Callback):
    """The training loss and the windows of every batch."""

    def __init__(self):
        self.losses: list[float] = []
        self.sizes: list[int] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))
        self.sizes.append(len(batch))


def fit_with_plateau(interval: str) -> tuple[L.Trainer, RecordingPlateau, BatchLosses]:
    """One epoch of four batches (8, 8, 8 and 7 windows) under a plateau scheduler on ``train/loss``."""
    index = pd.date_range("2024-01-01", periods=60, freq="h", name="date")
    frame = pd.DataFrame({"y": np.sin(np.arange(60) / 3)}, index=index)
    data = TimeSeriesDataModule(frame, 8, 2, split=RowSplit(40, 50), batch_size=8)
    torch.manual_seed(0)
    model = Forecaster(lookback=8, horizon=2, input_size=1, target_size=1, lr_scheduler=RecordingPlateau,
                       lr_scheduler_interval=interval, lr_scheduler_monitor="train/loss")  # fmt: skip
    losses = BatchLosses()
    trainer = L.Trainer(max_epochs=1, limit_val_batches=0, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[losses])  # fmt: skip
    trainer.fit(model, data)
    return trainer, trainer.lr_scheduler_configs[0].scheduler, losses


def test_a_per_epoch_plateau_scheduler_on_the_training_loss_reads_the_epochs_mean():
    """train/loss is logged per step: the scheduler read the last batch's loss (0.776), not the epoch's (1.007)."""
    _, scheduler, batches = fit_with_plateau("epoch")
    assert batches.sizes == [8, 8, 8, 7]
    assert scheduler.seen == pytest.approx([np.average(batches.losses, weights=batches.sizes)], rel=1e-6)


def test_a_per_step_plateau_scheduler_reads_each_steps_training_loss_as_logged():
    trainer, scheduler, batches = fit_with_plateau("step")
    assert scheduler.seen == pytest.approx(batches.losses, rel=1e-6)
    assert trainer.callback_metrics["train/loss"].item() == pytest.approx(batches.losses[-1], rel=1e-6)
