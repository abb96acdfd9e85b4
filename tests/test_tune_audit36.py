"""A study's trials rank only where their validation scores measure the same thing: refusals of searches and reruns
that changed what they measure (the data, the windows a count of batches holds, a loss's own units, a count for a
share), and a SIGTERM wherever it lands stops the study, its other processes too."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest

from forecast import tune as tune_module
from forecast.study_scoring import check_ranked, check_scored_on, scored_on
from forecast.study_trials import TrialFits
from forecast.tune import tune
from forecast.tune_args import TuneArgs

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
LR = {"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1], "log": True}}
CONFIG = {"data": {"source": "a.csv", "batch_size": 32, "batch_channels": None}, "trainer": {"limit_val_batches": 2}}


@pytest.mark.parametrize("key", ["data.batch_size", "data.batch_channels"])
def test_a_search_of_the_batch_under_a_count_of_validation_batches_is_refused(key):
    """Under ``limit_val_batches: 2`` a trial of batches of 8 windows scored 16 validation windows, one of 64 128."""
    with pytest.raises(ValueError, match=rf"'{key}' may not be searched with trainer.limit_val_batches=2: .*fraction"):
        check_ranked({key}, "val/loss", "space.yaml", CONFIG)
    check_ranked({key}, "val/loss", "space.yaml", {"trainer": {"limit_val_batches": 0.5}})  # a share of every batch
    assert scored_on("val/mse", CONFIG, set())["data.batch_size"] == 32  # a rerun with another batch is refused
    assert "data.batch_size" not in scored_on("val/mse", {"trainer": {"limit_val_batches": 1.0}}, set())


def test_a_search_of_the_loss_ranked_by_its_own_value_is_refused():
    """A pinball loss of 0.11 ranked ahead of a squared error of 0.27 that forecast better by every shared metric."""
    with pytest.raises(
        ValueError, match=r"'model.loss' may not be searched with --metric val/loss: .*--metric val/mse"
    ):
        check_ranked({"model.loss"}, "val/loss", "space.yaml", CONFIG)
    check_ranked({"model.loss"}, "val/mae", "space.yaml", CONFIG)
    loss = {"class_path": "forecast.losses.MAELoss"}
    assert scored_on("val/loss", {"model": {"loss": loss}}, set())["model.loss.class_path"] == loss["class_path"]


def test_a_search_or_a_rerun_of_other_data_is_refused():
    with pytest.raises(ValueError, match=r"'data.source' may not be searched: .*one study per --data.source"):
        check_ranked({"data.source"}, "val/loss", "space.yaml", CONFIG)
    study = optuna.create_study()
    check_scored_on(study, scored_on("val/loss", CONFIG, set()), "memory")
    other = CONFIG | {"data": CONFIG["data"] | {"source": "walk.csv"}}
    with pytest.raises(ValueError, match=r"scores its trials with data.source='a.csv', this run with 'walk.csv'"):
        check_scored_on(study, scored_on("val/loss", other, set()), "memory")


def test_a_rerun_with_a_count_where_the_study_had_a_share_is_refused():
    """``1.0`` validates every batch and ``1`` one batch, yet ``1 == 1.0``: the rerun ranked them together."""
    study = optuna.create_study()
    check_scored_on(study, scored_on("val/loss", {"trainer": {"limit_val_batches": 1.0}}, set()), "memory")
    with pytest.raises(ValueError, match=r"trainer.limit_val_batches=1.0, this run with 1\b"):
        check_scored_on(study, scored_on("val/loss", {"trainer": {"limit_val_batches": 1}}, set()), "memory")


def test_sigterm_outside_a_fit_stops_the_study_and_the_processes_it_started(tune_fit_args, tmp_path, monkeypatch):
    """A SIGTERM before a trial's fit (its parsing, the sampler) took the default action: tune died at once, its trial
    left running in the storage, no results written; and a SIGTERM to tune left the processes of --n_jobs running."""
    started = []

    def spawn(argv, run_start):  # a process --n_jobs would start: here one that waits to be stopped
        started.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
        return started[-1]

    fit = TrialFits._fit
    calls = []

    def signalled(self, trial):
        calls.append(trial.number)
        if trial.number == 1:  # the second trial, before its fit starts
            os.kill(os.getpid(), signal.SIGTERM)
        return fit(self, trial)

    monkeypatch.setattr(tune_module, "_spawn_worker", spawn)
    monkeypatch.setattr(TrialFits, "_fit", signalled)
    args = TuneArgs(space=LR, n_trials=3, n_jobs=2, run_dir=str(tmp_path / "run"), study_name="tiny")
    with pytest.raises(KeyboardInterrupt, match="stopped by SIGTERM"):
        tune(args, tune_fit_args, worker_argv=["--config", QUICKSTART])
    assert started[0].poll() == -signal.SIGTERM  # stopped, not left running
    trials = optuna.load_study(study_name="tiny", storage=f"sqlite:///{tmp_path / 'run/study.db'}").trials
    assert [trial.state.name for trial in trials] == ["COMPLETE", "FAIL"]
    assert trials[1].user_attrs["error"] == "KeyboardInterrupt: stopped by SIGTERM"
    assert pd.read_csv(tmp_path / "run/trials.csv")["state"].tolist() == ["COMPLETE", "FAIL"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # given back after the study
