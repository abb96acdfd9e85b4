"""Resuming a fit: the learning-rate schedule a resumed fit goes on with, and the files a killed save leaves."""

import os
import signal
import socket
from pathlib import Path

import lightning as L
import pytest
import torch

from forecast.callbacks import ResumableModelCheckpoint
from forecast.checkpointing import AtomicCheckpointIO
from forecast.cli import main
from forecast.runs import resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]

# A ReduceLROnPlateau that no epoch after the first satisfies: it cuts the learning rate after every later epoch.
PLATEAU = ["--model.lr_scheduler", "torch.optim.lr_scheduler.ReduceLROnPlateau", "--model.lr_scheduler.patience", "0",
           "--model.lr_scheduler.threshold", "0.9", "--model.optimizer.lr", "0.01"]  # fmt: skip


@pytest.fixture
def fit(wide_csv, tiny_cli):
    """``fit(root, *args)``: a deterministic CLI fit of a tiny GRU on ``wide_csv``, one step and one validation
    batch an epoch."""

    def run(root: Path, *args: str) -> None:
        tiny = [*tiny_cli(wide_csv, root, batch_size=32), "--trainer.deterministic", "true"]
        main(["fit", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny, "--model.encoder.hidden_size", "4",
              "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1", *PLATEAU, *args])  # fmt: skip

    return run


class _Plateau(L.LightningModule):
    """One linear layer, SGD under a per-epoch ReduceLROnPlateau on ``val/loss``, which is ``scores[epoch]``."""

    def __init__(self, scores: list[float]):
        super().__init__()
        self.layer, self.scores = torch.nn.Linear(2, 1), scores

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return self.layer(batch).pow(2).mean()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/loss", self.scores[self.current_epoch])

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.SGD(self.parameters(), lr=0.1)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val/loss"}}


def _fit_plateau(root: Path, max_epochs: int, ckpt_path: str | None = None) -> _Plateau:
    trainer = L.Trainer(max_epochs=max_epochs, default_root_dir=root, logger=False, enable_progress_bar=False,
                        callbacks=[ResumableModelCheckpoint(monitor="val/loss", save_last=True)],
                        enable_model_summary=False, num_sanity_val_steps=0)  # fmt: skip
    loader = torch.utils.data.DataLoader(torch.ones(4, 2), batch_size=2)
    torch.manual_seed(0)
    model = _Plateau([1.0, 2.0, 3.0, 4.0])
    trainer.fit(model, loader, loader, ckpt_path=ckpt_path)
    return model


@pytest.mark.parametrize("resume_from", ["last.ckpt", "epoch=0-step=2.ckpt"])
def test_a_fit_resumed_after_an_epoch_takes_its_plateau_step(resume_from, tmp_path):
    """Resumed from last.ckpt of epoch 1 (or the best file, of epoch 0), the fit skipped that epoch's plateau step:
    it trained the next epoch at the learning rate the uninterrupted fit had cut, and cut it an epoch late."""
    whole = _fit_plateau(tmp_path / "whole", 4)
    _fit_plateau(tmp_path / "parts", 2)
    parts = _fit_plateau(tmp_path / "parts", 4, str(tmp_path / "parts" / "checkpoints" / resume_from))
    (whole_plateau,), (parts_plateau,) = whole.trainer.lr_scheduler_configs, parts.trainer.lr_scheduler_configs
    assert whole.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-4)  # cut after epochs 1, 2, 3
    assert parts.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-4)
    assert parts_plateau.scheduler.state_dict() == whole_plateau.scheduler.state_dict()
    for name, weight in whole.state_dict().items():
        torch.testing.assert_close(parts.state_dict()[name], weight, rtol=0, atol=0, msg=name)


@pytest.mark.slow
@pytest.mark.parametrize("monitor", ["val/loss", "train/loss"])
def test_a_cli_fit_resumed_at_an_epoch_end_takes_that_epochs_plateau_step(monitor, fit, tmp_path):
    """Lightning steps ReduceLROnPlateau after the epoch's checkpoints and skips that step on resume: the resumed
    fit trained its next epoch at the learning rate the uninterrupted fit had already cut."""
    fit(tmp_path / "whole", "--trainer.max_epochs", "3", "--model.lr_scheduler_monitor", monitor)
    fit(tmp_path / "parts", "--trainer.max_epochs", "2", "--model.lr_scheduler_monitor", monitor)
    fit(tmp_path / "parts", "--trainer.max_epochs", "3", "--model.lr_scheduler_monitor", monitor, "--ckpt_path", "last")
    whole = torch.load(resolve_checkpoint("last", tmp_path / "whole"), weights_only=True)
    parts = torch.load(resolve_checkpoint("last", tmp_path / "parts"), weights_only=True)
    (whole_plateau,), (parts_plateau,) = whole["lr_schedulers"], parts["lr_schedulers"]
    assert whole_plateau["_last_lr"] == pytest.approx([1e-3])  # cut once, after epoch 1
    assert {**parts_plateau, "best": 0} == {**whole_plateau, "best": 0}
    assert parts_plateau["best"] == pytest.approx(whole_plateau["best"], rel=1e-6)
    for name, weight in whole["state_dict"].items():
        torch.testing.assert_close(parts["state_dict"][name], weight, rtol=0, atol=0, msg=name)


class _KillsItsProcess:
    """Pickled into a checkpoint, kills the process saving it: a kill that lands inside the save."""

    def __reduce__(self):
        os.kill(os.getpid(), signal.SIGKILL)


def _killed_mid_save(path: Path) -> None:
    """Save to ``path`` in a child process killed in the middle of its save."""
    child = os.fork()
    if child == 0:
        AtomicCheckpointIO().save_checkpoint({"weights": torch.zeros(3), "killer": _KillsItsProcess()}, path)
        os._exit(0)
    os.waitpid(child, 0)


def test_a_save_after_a_fit_killed_mid_save_leaves_no_temporary_file(tmp_path):
    """A fit killed during a checkpoint save left its hidden ``.last.ckpt.<hex>.tmp`` in the run's folder for ever,
    one more with each kill: the resumed fit's saves to the same file left them there."""
    path = tmp_path / "checkpoints" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"weights": torch.ones(3)}, path)
    _killed_mid_save(path)
    assert len(os.listdir(path.parent)) == 2  # last.ckpt and the killed save's temporary file
    AtomicCheckpointIO().save_checkpoint({"weights": torch.full((3,), 2.0)}, path)
    assert os.listdir(path.parent) == ["last.ckpt"]
    assert torch.equal(torch.load(path, weights_only=True)["weights"], torch.full((3,), 2.0))


def test_a_save_leaves_the_temporary_file_of_a_save_under_way_in_another_process(tmp_path):
    path = tmp_path / "last.ckpt"
    under_way = tmp_path / f".last.ckpt.{'0' * 32}.{os.getppid()}@{socket.gethostname()}.tmp"
    under_way.write_bytes(b"")
    AtomicCheckpointIO().save_checkpoint({"weights": torch.ones(3)}, path)
    assert sorted(os.listdir(tmp_path)) == [under_way.name, "last.ckpt"]


@pytest.mark.slow  # three CLI fits
def test_a_fit_resumed_mid_epoch_under_a_per_step_one_cycle_schedule_trains_the_batches_of_one_never_stopped(
    wide_csv, tiny_cli, tmp_path
):
    """The schedule's length was checked from ``trainer.estimated_stepping_batches`` while the optimizers were
    configured, which built the training loader before the checkpoint restored its state: the resumed epoch drew
    other batches, and its weights went another way."""
    one_cycle = ["--model.lr_scheduler", "torch.optim.lr_scheduler.OneCycleLR", "--model.lr_scheduler.max_lr", "0.01",
                 "--model.lr_scheduler.total_steps", "16", "--model.lr_scheduler_interval", "step",
                 "--checkpoint.every_n_train_steps", "1", "--trainer.max_epochs", "4"]  # fmt: skip

    def run(root: Path, *args: str) -> None:
        tiny = [*tiny_cli(wide_csv, root, batch_size=32), "--trainer.deterministic", "true"]
        main(["fit", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny, "--model.encoder.hidden_size", "4",
              *one_cycle, *args])  # fmt: skip

    run(tmp_path / "whole")
    run(tmp_path / "parts", "--trainer.max_steps", "6")
    run(tmp_path / "parts", "--ckpt_path", "last")
    whole = torch.load(resolve_checkpoint("last", tmp_path / "whole"), weights_only=True)
    parts = torch.load(resolve_checkpoint("last", tmp_path / "parts"), weights_only=True)
    assert parts["global_step"] == whole["global_step"]
    for name, weight in whole["state_dict"].items():
        torch.testing.assert_close(parts["state_dict"][name], weight, rtol=0, atol=0, msg=name)
