import os
import signal
from pathlib import Path

import lightning as L
import numpy as np
import optuna
import pandas as pd
import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.data import RowSplit
from forecast.tune import tune
from forecast.tune_args import TuneArgs

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
LR = {"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1], "log": True}}


@pytest.fixture
def tiny_fit(tmp_path, wide_frame, tiny_cli) -> list[str]:
    """The quickstart GRU shrunk to one epoch of two batches of 200 hourly rows, horizon 6."""
    wide_frame.to_csv(tmp_path / "wide.csv")
    return ["--config", QUICKSTART, *tiny_cli(tmp_path / "wide.csv"), "--trainer.max_epochs", "1",
            "--trainer.limit_train_batches", "2", "--model.encoder.init_args.hidden_size", "4"]  # fmt: skip


@pytest.mark.slow  # a tiny tune through the CLI: seconds
@pytest.mark.parametrize(("signum", "stopped_by"), [(signal.SIGINT, "Ctrl-C"), (signal.SIGTERM, "SIGTERM")])
def test_ctrl_c_or_sigterm_in_a_trial_stops_the_study(tiny_fit, tmp_path, monkeypatch, signum, stopped_by):
    """Ctrl-C, and SIGTERM (``timeout``, ``kill``, a scheduler ending the job; Lightning's SIGTERMException), were
    taken for a failed fit, and the study went on to its next trial."""
    step = Forecaster.training_step

    def signalled(self, batch, batch_idx):
        os.kill(os.getpid(), signum)  # SIGINT interrupts here; Lightning notes SIGTERM and stops after the step
        return step(self, batch, batch_idx)

    monkeypatch.setattr(Forecaster, "training_step", signalled)
    args = TuneArgs(space=LR, n_trials=2, run_dir=str(tmp_path / "run"), study_name="tiny")
    with pytest.raises(KeyboardInterrupt):
        tune(args, tiny_fit)
    trials = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'run/study.db'}").trials
    assert [trial.state for trial in trials] == [optuna.trial.TrialState.FAIL]
    assert stopped_by in trials[0].user_attrs["error"]
    assert pd.read_csv(tmp_path / "run/trials.csv")["state"].tolist() == ["FAIL"]  # the results so far


def fit_with_plateau(val_check_interval: int) -> L.Trainer:
    """Four epochs of two batches under a ReduceLROnPlateau on val/loss, validating every ``val_check_interval``
    batches counted across epochs (``check_val_every_n_epoch=None``)."""
    index = pd.date_range("2024-01-01", periods=80, freq="h", name="date")
    frame = pd.DataFrame({"y": np.sin(np.arange(80) / 4)}, index=index)
    data = TimeSeriesDataModule(frame, 24, 6, split=RowSplit(50, 65), batch_size=8)
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1,
                       lr_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau)  # fmt: skip
    trainer = L.Trainer(max_epochs=4, limit_train_batches=2, limit_val_batches=1, check_val_every_n_epoch=None,
                        val_check_interval=val_check_interval, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(model, data)
    return trainer


def test_a_plateau_scheduler_steps_once_per_validation_counted_in_batches_across_epochs():
    """Validating every 4 batches (every other epoch of 2), Lightning stepped it after the first epoch, before any
    val/loss, and stopped the fit with "ReduceLROnPlateau conditioned on metric val/loss which is not available"."""
    trainer = fit_with_plateau(val_check_interval=4)
    assert trainer.current_epoch == 4
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 2  # one step per validation


def test_a_plateau_scheduler_on_validations_that_skip_some_epoch_ends_is_refused_naming_the_interval():
    with pytest.raises(ValueError, match=r"trainer.val_check_interval=3 batches across epochs of 2.*at most 2"):
        fit_with_plateau(val_check_interval=3)
