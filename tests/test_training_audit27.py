"""Resuming a fit from a checkpoint written between two optimizer steps of an accumulation."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import lightning as L
import pandas as pd
import pytest
import torch

from forecast.callbacks import ResumableModelCheckpoint
from forecast.runs import resolve_checkpoint


class _Killed(Exception):
    """Stands in for a kill: the fit stops where it is, and writes nothing more."""


class _KillAtBatch(L.Callback):
    """Stops the fit as the training batch ``batch_idx`` of epoch 0 starts."""

    def __init__(self, batch_idx: int):
        self.batch_idx = batch_idx

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch, batch_idx: int) -> None:
        if trainer.current_epoch == 0 and batch_idx == self.batch_idx:
            raise _Killed


class _Linear(L.LightningModule):
    """One linear layer under SGD with momentum, fitting y = 2x + 1 from the rows ``x``."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        return (self.layer(batch) - (2 * batch + 1)).pow(2).mean()

    def validation_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.log("val/loss", (self.layer(batch) - (2 * batch + 1)).pow(2).mean())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.5)


def _fit_accumulating(root: Path, ckpt_path: str | None = None, kill_at: int | None = None) -> _Linear:
    """Two epochs of 4 batches, a step every 2 batches, a validation (and so a checkpoint) after batch index 2."""
    callbacks = [ResumableModelCheckpoint(monitor="val/loss", save_last=True)]
    trainer = L.Trainer(max_epochs=2, accumulate_grad_batches=2, val_check_interval=3, default_root_dir=root,
                        callbacks=callbacks + ([_KillAtBatch(kill_at)] if kill_at is not None else []),
                        logger=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0)  # fmt: skip
    # 4 batches alike, so that a resumed epoch's new iterator of the loader reads what the killed one would have.
    loader = torch.utils.data.DataLoader(torch.tensor([[-1.0], [0.5]]).repeat(4, 1), batch_size=2)
    torch.manual_seed(0)
    model = _Linear()
    trainer.fit(model, loader, loader, ckpt_path=ckpt_path)
    return model


@pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")
def test_a_fit_resumed_between_the_steps_of_an_accumulation_ends_with_the_weights_of_one_never_stopped(tmp_path):
    """The checkpoint of the validation after batch 2 falls between the steps after batches 1 and 3: resumed from
    it, the step after batch 3 lost batch 2's gradient, and every later weight moved."""
    whole = _fit_accumulating(tmp_path / "whole")
    with pytest.raises(_Killed):
        _fit_accumulating(tmp_path / "parts", kill_at=3)
    last = tmp_path / "parts" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 1  # written after batch 2, before the second step
    parts = _fit_accumulating(tmp_path / "parts", ckpt_path=str(last))
    assert parts.trainer.global_step == whole.trainer.global_step == 4
    for name, weight in whole.state_dict().items():
        torch.testing.assert_close(parts.state_dict()[name], weight, rtol=0, atol=0, msg=name)


@pytest.mark.slow
def test_a_cli_fit_killed_after_a_validation_between_accumulated_steps_resumes_to_the_weights_of_one_run(
    tmp_path, wide_csv, tiny_cli
):
    """``forecast fit`` of 4 batches an epoch, a step every 2 batches and a validation after 3, SIGKILLed as batch 3
    starts (tests/killed_fit.py) and resumed with ``--ckpt_path last``: the same weights and validation losses as
    the fit never killed."""
    root = Path(__file__).resolve().parents[1]

    def fit(run: Path, *program: str, resume: bool = False) -> int:
        command = [sys.executable, *program, "fit", "--config", str(root / "configs/quickstart.yaml"),
                   *tiny_cli(wide_csv, run, batch_size=32), "--trainer.deterministic", "true",
                   "--model.encoder.hidden_size", "4", "--trainer.max_epochs", "2",
                   "--trainer.accumulate_grad_batches", "2", "--trainer.val_check_interval", "3",
                   *(["--ckpt_path", "last"] if resume else [])]  # fmt: skip
        env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, timeout=300).returncode

    assert fit(tmp_path / "whole", "-m", "forecast") == 0
    assert fit(tmp_path / "parts", str(root / "tests/killed_fit.py"), "on_train_batch_start", "4") == -signal.SIGKILL
    assert torch.load(resolve_checkpoint("last", tmp_path / "parts"), weights_only=True)["global_step"] == 1
    assert fit(tmp_path / "parts", "-m", "forecast", resume=True) == 0
    whole = torch.load(resolve_checkpoint("last", tmp_path / "whole"), weights_only=True)
    parts = torch.load(resolve_checkpoint("last", tmp_path / "parts"), weights_only=True)
    assert parts["global_step"] == whole["global_step"] == 4
    for name, weight in whole["state_dict"].items():
        torch.testing.assert_close(parts["state_dict"][name], weight, rtol=0, atol=0, msg=name)
    logs = tmp_path / "whole/lightning_logs/version_0", tmp_path / "parts/lightning_logs/version_1"
    whole_loss, resumed_loss = (pd.read_csv(log / "metrics.csv")["val/loss"].dropna().tolist() for log in logs)
    assert resumed_loss == whole_loss[1:]  # epoch 1's validation, after the resume
