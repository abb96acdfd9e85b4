"""Resuming a fit mid-epoch under a per-epoch plateau scheduler on ``train/loss`` (the epoch's mean) or ``val/loss``."""

import functools
from pathlib import Path

import lightning as L
import pytest
import torch

from forecast import Forecaster
from forecast.batch import Batch
from forecast.callbacks import ResumableModelCheckpoint
from forecast.data.windows import ResumableDataLoader, collate_batch
from forecast.nn import IdentityEncoder

LOOKBACK, HORIZON = 4, 2


class _Killed(Exception):
    """Stands in for a kill: the fit stops where it is, and writes nothing more."""


class _KillAtBatch(L.Callback):
    """Stops the fit as the training batch ``batch_idx`` of ``epoch`` starts."""

    def __init__(self, epoch: int, batch_idx: int):
        self.epoch, self.batch_idx = epoch, batch_idx

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if (trainer.current_epoch, batch_idx) == (self.epoch, self.batch_idx):
            raise _Killed


class _RecordingPlateau(torch.optim.lr_scheduler.ReduceLROnPlateau):
    """A ``ReduceLROnPlateau`` that keeps each score it was stepped with."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: list[float] = []

    def step(self, metrics, epoch=None) -> None:
        self.read.append(float(metrics))
        super().step(metrics)


def _batch(target: float, generator: torch.Generator) -> Batch:
    """Two windows of one channel whose targets are all ``target``, so a batch's loss is about ``target**2``."""
    return Batch(
        past=torch.randn(2, LOOKBACK, 1, generator=generator) * 0.1,
        future=torch.zeros(2, HORIZON, 0),
        static=torch.zeros(2, 0),
        target=torch.full((2, HORIZON, 1), target),
        series=torch.zeros(2, dtype=torch.long),
        time=torch.arange(2),
        target_scale=torch.ones(2, 1),
        target_offset=torch.zeros(2, 1),
        naive_scale=torch.ones(2, 1),
    )


def _fit(
    root: Path, monitor: str = "train/loss", ckpt_path: str | None = None, kill_at: tuple[int, int] | None = None
) -> Forecaster:
    """Two epochs of 4 batches, the first two of small losses and the last two of large ones, a validation (and so a
    checkpoint) after every 2 batches; a plateau scheduler on ``monitor`` that cuts the learning rate after an
    epoch whose score is not 10% below the best epoch's."""
    callbacks = [ResumableModelCheckpoint(monitor="val/loss", save_last=True)]
    trainer = L.Trainer(max_epochs=2, val_check_interval=2, default_root_dir=root, logger=False,
                        callbacks=callbacks + ([_KillAtBatch(*kill_at)] if kill_at is not None else []),
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    batches = [_batch(target, generator) for target in (0.1, 0.1, 3.0, 3.0)]
    consumed = lambda: trainer.fit_loop.epoch_loop.batch_progress.current.ready  # noqa: E731
    loader = ResumableDataLoader(batches, batch_size=None, collate_fn=collate_batch, consumed=consumed)
    torch.manual_seed(0)
    model = Forecaster(
        LOOKBACK, HORIZON, 1, 1, encoder=IdentityEncoder,
        optimizer=functools.partial(torch.optim.SGD, lr=1e-3),
        lr_scheduler=functools.partial(_RecordingPlateau, patience=0, factor=0.5, threshold=0.1),
        lr_scheduler_monitor=monitor,
    )  # fmt: skip
    trainer.fit(model, loader, loader, ckpt_path=ckpt_path)
    return model


def _plateau(model: Forecaster) -> _RecordingPlateau:
    (config,) = model.trainer.lr_scheduler_configs
    return config.scheduler


def _resumed(root: Path, kill_at: tuple[int, int], monitor: str = "train/loss") -> Forecaster:
    """The fit of ``_fit`` killed at ``kill_at`` (epoch, batch index) and resumed from its ``last.ckpt``."""
    with pytest.raises(_Killed):
        _fit(root, monitor, kill_at=kill_at)
    epoch, batch_idx = kill_at  # its last checkpoint is the validation's just before: after every 2 batches
    assert torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4 * epoch + batch_idx
    return _fit(root, monitor, ckpt_path=str(root / "checkpoints" / "last.ckpt"))


def _assert_same_schedule(parts: Forecaster, whole: Forecaster) -> None:
    """The same scores read after each epoch, and the same learning rate and plateau state after the fit."""
    assert parts.trainer.global_step == whole.trainer.global_step == 8
    assert len(whole_read := _plateau(whole).read) == 2
    assert _plateau(whole).get_last_lr() == pytest.approx([5e-4])  # epoch 1 not 10% below epoch 0: cut
    assert _plateau(parts).read == pytest.approx(whole_read, rel=1e-6)
    assert _plateau(parts).get_last_lr() == pytest.approx(_plateau(whole).get_last_lr(), rel=1e-6)
    assert _plateau(parts).num_bad_epochs == _plateau(whole).num_bad_epochs


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
def test_a_fit_resumed_mid_epoch_steps_its_train_loss_plateau_on_the_whole_epochs_mean(tmp_path):
    """Killed after the checkpoint of the validation after batch 1, the resumed fit took no plateau step after epoch 0
    (Lightning skips it after an epoch it resumed in): it read one score where the whole fit read two, and ended at
    another rate. The step must read the whole epoch's mean (7.58), not that of the large losses of batches 2 and 3
    that the resumed fit trained, which would take epoch 1 (7.54) for an improvement and keep the rate."""
    whole = _fit(tmp_path / "whole")
    _assert_same_schedule(_resumed(tmp_path / "parts", kill_at=(0, 2)), whole)


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
def test_a_fit_resumed_mid_epoch_steps_its_validation_plateau_after_that_epoch(tmp_path):
    """On ``val/loss``, the resumed fit took no step after epoch 0 either: it read one score where the whole fit read
    two, and so ended at another rate."""
    whole = _fit(tmp_path / "whole", "val/loss")
    _assert_same_schedule(_resumed(tmp_path / "parts", kill_at=(0, 2), monitor="val/loss"), whole)


def test_a_fit_resumed_after_an_epoch_reads_the_next_epochs_mean_alone(tmp_path):
    """Resumed from the checkpoint at the end of epoch 0 (its batches done), epoch 0's step is the checkpoint
    callback's, and epoch 1's mean holds none of epoch 0's batches."""
    whole = _fit(tmp_path / "whole")
    _assert_same_schedule(_resumed(tmp_path / "parts", kill_at=(1, 0)), whole)
