"""A per-step scheduler on ``train/loss`` under ``accumulate_grad_batches`` reads each optimizer step's mean loss."""

import functools
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from test_resume_leftovers27 import _KillAtBatch, _Killed

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.batch import Batch
from forecast.callbacks import ResumableModelCheckpoint
from forecast.data import RowSplit
from forecast.data.windows import ResumableDataLoader, collate_batch
from forecast.nn import GRUEncoder, IdentityEncoder

BATCHES = 7  # per epoch: under accumulate_grad_batches=3 the steps accumulate batches (1-3), (4-6) and (7)


class _RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """A ``ReduceLROnPlateau`` that records every metric it is stepped with."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        super().__init__(optimizer)
        self.stepped: list[float] = []

    def step(self, metrics: float) -> None:  # type: ignore[override]
        self.stepped.append(float(metrics))
        super().step(metrics)


class _LoggedLosses(L.Callback):
    """Records the ``train/loss`` logged by every training batch, in order."""

    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer: L.Trainer, *args) -> None:
        self.losses.append(float(trainer.callback_metrics["train/loss"]))


def _fit(accumulate: int, tmp_path) -> tuple[list[float], list[float]]:
    """Two epochs of a tiny GRU over 7 batches each; the metrics its per-step plateau got, and the logged losses."""
    steps = np.arange(40)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=40, freq="h"), "a": np.sin(steps / 3)})
    data = TimeSeriesDataModule(frame, 4, 2, columns=Columns(targets=["a"]), split=RowSplit(32, 36), batch_size=4)
    torch.manual_seed(0)
    model = Forecaster(
        4, 2, 1, 1, encoder=functools.partial(GRUEncoder, hidden_size=2), lr_scheduler=_RecordingPlateau,
        lr_scheduler_interval="step", lr_scheduler_monitor="train/loss",
    )  # fmt: skip
    logged = _LoggedLosses()
    trainer = L.Trainer(
        max_epochs=2, accumulate_grad_batches=accumulate, limit_val_batches=0, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[logged],
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(model, data)
    assert trainer.num_training_batches == BATCHES
    return trainer.lr_scheduler_configs[0].scheduler.stepped, logged.losses


@pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")
@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_a_per_step_plateau_reads_the_mean_loss_of_the_batches_each_step_accumulated(tmp_path):
    """It read the last batch's loss (of batches 3, 6, 7), not the mean loss whose gradient the step descends;
    the epoch's last step accumulates batch 7 alone, and each epoch starts its accumulation anew."""
    stepped, logged = _fit(3, tmp_path)
    windows = [(0, 3), (3, 6), (6, 7), (7, 10), (10, 13), (13, 14)]
    expected = [np.mean(logged[start:stop]) for start, stop in windows]
    np.testing.assert_allclose(stepped, expected, rtol=1e-6)


@pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning")
@pytest.mark.filterwarnings("ignore:You defined a `validation_step` but have no `val_dataloader`")
def test_a_per_step_plateau_without_accumulation_reads_each_batch_s_logged_loss(tmp_path):
    """A step of one batch reads its logged loss itself, to the bit."""
    stepped, logged = _fit(1, tmp_path)
    assert stepped == logged


def _batch(target: float) -> Batch:
    """Two windows of one channel whose targets are all ``target``: batches of other targets have other losses."""
    return Batch(
        past=torch.zeros(2, 4, 1), future=torch.zeros(2, 2, 0), static=torch.zeros(2, 0),
        target=torch.full((2, 2, 1), target), series=torch.zeros(2, dtype=torch.long), time=torch.arange(2),
        target_scale=torch.ones(2, 1), target_offset=torch.zeros(2, 1), naive_scale=torch.ones(2, 1),
    )  # fmt: skip


def _fit_checkpointed(root: Path, ckpt_path: str | None = None, kill_at: tuple[int, int] | None = None) -> list[float]:
    """The metrics the per-step plateau of a fit of 2 epochs of 7 batches got, a step every 3 batches and a validation
    (and so a checkpoint) every 2: killed at ``kill_at`` (epoch, batch index), or resumed from ``ckpt_path``."""
    callbacks = [ResumableModelCheckpoint(monitor="val/loss", save_last=True)]
    trainer = L.Trainer(
        max_epochs=2, accumulate_grad_batches=3, val_check_interval=2, default_root_dir=root, logger=False,
        callbacks=callbacks + ([_KillAtBatch(*kill_at)] if kill_at is not None else []), enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0,
    )  # fmt: skip
    consumed = lambda: trainer.fit_loop.epoch_loop.batch_progress.current.ready  # noqa: E731
    batches = [_batch(target) for target in (0.1, 0.5, 2.0, 1.0, 3.0, 0.2, 1.5)]
    loader = ResumableDataLoader(batches, batch_size=None, collate_fn=collate_batch, consumed=consumed)
    torch.manual_seed(0)
    model = Forecaster(
        4, 2, 1, 1, encoder=IdentityEncoder, lr_scheduler=_RecordingPlateau, lr_scheduler_interval="step",
        lr_scheduler_monitor="train/loss",
    )  # fmt: skip
    validation = torch.utils.data.DataLoader(batches[:1], batch_size=None, collate_fn=collate_batch)
    trainer.fit(model, loader, validation, ckpt_path=ckpt_path)
    return trainer.lr_scheduler_configs[0].scheduler.stepped


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
@pytest.mark.parametrize(("kill_at", "steps"), [((0, 4), 1), ((1, 2), 3)])
def test_a_fit_resumed_between_the_steps_of_an_accumulation_steps_its_plateau_on_the_means_of_one_never_stopped(
    tmp_path, kill_at, steps
):
    """The checkpoint of the validation after batch 4 of epoch 0 (or 2 of epoch 1) falls inside the accumulation of
    its batches 4-6 (or 1-3): the resumed fit's step read the mean of the batches after it alone."""
    whole = _fit_checkpointed(tmp_path / "whole")
    with pytest.raises(_Killed):
        _fit_checkpointed(tmp_path / "parts", kill_at=kill_at)
    last = tmp_path / "parts" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == steps  # between two steps
    parts = _fit_checkpointed(tmp_path / "parts", ckpt_path=str(last))
    assert len(whole) == 6
    np.testing.assert_allclose(parts, whole, rtol=1e-6)
