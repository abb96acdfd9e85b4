"""``python -m forecast tune`` as a user runs it: options it refuses before a study starts, and small real studies
checked against Optuna's own record of them (``optuna.load_study`` on the study's storage)."""

import json
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

import forecast.tune as tune_module
from forecast.data import TimeSeriesDataModule
from forecast.tune import main as tune_main
from forecast.tune import tune
from forecast.tune_args import TuneArgs

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
LR = {"model.optimizer.init_args.lr": {"float": [1e-4, 1e-1], "log": True}}
SEARCH = """\
sampler: {class_path: optuna.samplers.TPESampler, init_args: {n_startup_trials: 2}}
pruner: {class_path: optuna.pruners.MedianPruner, init_args: {n_startup_trials: 1}}
space:
  model.optimizer.init_args.lr: {float: [1.0e-4, 1.0e-1], log: true}
  model.encoder.init_args.hidden_size: {int: [2, 8]}
  data.lookback: {choice: [12, 24]}
"""
# The fields of a trial that two runs of one study (or two studies of one seed) must agree on.
PARAMS = ["model.optimizer.init_args.lr", "model.encoder.init_args.hidden_size", "data.lookback"]


def hourly_csv(path: Path, test_scale: float = 1.0) -> str:
    """200 hourly rows of two channels; ``test_scale`` multiplies the last 40 rows, the test part of
    ``FractionSplit``'s 70/10/20."""
    steps = np.arange(200)
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    frame = pd.DataFrame({"a": 10 + np.sin(steps / 4), "b": -5 + 2 * np.cos(steps / 6)}, index=index)
    frame.iloc[160:] *= test_scale
    frame.to_csv(path)
    return str(path)


def tune_argv(csv: str, run_dir: Path, *extra: str) -> list[str]:
    """A ``tune`` command line of tiny two-epoch GRU fits on ``csv``."""
    return ["--config", QUICKSTART, "--data.source", csv, "--data.horizon", "6", "--data.lookback", "24",
            "--data.split", "forecast.data.FractionSplit", "--trainer.max_epochs", "2",
            "--trainer.limit_train_batches", "2", "--trainer.enable_model_summary", "false",
            "--trainer.enable_progress_bar", "false", "--model.encoder.init_args.hidden_size", "4",
            "--run_dir", str(run_dir), "--study_name", "s", *extra]  # fmt: skip


@pytest.mark.parametrize(
    "option, match",
    [
        ({"n_trials": -2}, r"--n_trials -2 is negative; pass the number of trials"),
        ({"n_jobs": 0}, r"--n_jobs 0 is below 1; pass the number of processes on this machine, 1 or more"),
        ({"heartbeat_interval": 0}, r"--heartbeat_interval 0 is below 1; pass the seconds between"),
        ({"timeout": -5.0}, r"--timeout -5.0 would start no trial; pass the seconds .* or leave it out"),
        ({"timeout": 0}, r"--timeout 0 would start no trial"),
    ],
)
def test_an_option_no_study_runs_with_is_refused_before_the_study_is_made(option, match, tmp_path):
    """A negative n_trials or timeout made the study, ran no trial and failed with "no trial completed", as if
    every trial had failed; n_jobs 0 ran one process; heartbeat_interval 0 failed in Optuna's storage."""
    args = TuneArgs(**{"space": LR, "run_dir": str(tmp_path), **option})
    with pytest.raises(ValueError, match=match):  # before the config is read, or the study made
        tune(args, ["--config", str(tmp_path / "absent.yaml")])
    assert not (tmp_path / "study.db").exists()


def study_record(run_dir: Path) -> list[tuple]:
    """Each trial of study ``s`` in ``run_dir``, as Optuna's storage holds it: number, state, value, params."""
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{run_dir / 'study.db'}")
    return [(t.number, t.state.name, t.value, [t.params[key] for key in PARAMS]) for t in study.trials]


@pytest.mark.slow  # three runs of tiny studies, eight trials: 25 s
def test_a_study_agrees_with_optuna_repeats_under_its_seed_and_resumes_where_it_stopped(tmp_path):
    """trials.csv, best.yaml and each trial's own config against Optuna's record; a second study of the same
    command runs the same trials; a rerun with more trials continues the numbering and keeps those it has."""
    (tmp_path / "search.yaml").write_text(SEARCH)
    csv = hourly_csv(tmp_path / "wide.csv")
    runs = [tmp_path / "first", tmp_path / "second"]
    for run_dir in runs:
        tune_main(
            [*tune_argv(csv, run_dir, "--search", str(tmp_path / "search.yaml"), "--seed", "3"), "--n_trials", "3"]
        )
    first = study_record(runs[0])
    assert study_record(runs[1]) == first  # one seed, one command: the same trials, values and states
    assert len(first) == 3

    table = pd.read_csv(runs[0] / "trials.csv")
    assert list(table["number"]) == [0, 1, 2]
    assert list(table["state"]) == [state for _, state, _, _ in first]
    np.testing.assert_allclose(table["value"], [value for _, _, value, _ in first])
    for number, _, _, params in first:
        fitted = yaml.safe_load(
            next((runs[0] / f"trials/{number}").glob("lightning_logs/version_0/config.yaml")).read_text()
        )
        assert [fitted["model"]["optimizer"]["init_args"]["lr"], fitted["model"]["encoder"]["init_args"]["hidden_size"],
                fitted["data"]["lookback"]] == params  # fmt: skip
        assert fitted["seed_everything"] == 3 + number

    study = optuna.load_study(study_name="s", storage=f"sqlite:///{runs[0] / 'study.db'}")
    best_yaml = (runs[0] / "best.yaml").read_text()
    assert best_yaml.startswith(f"# Best trial {study.best_trial.number} of study 's': {study.best_value:.6g}.")
    best = yaml.safe_load(best_yaml)
    assert best["model"]["encoder"]["init_args"]["hidden_size"] == study.best_params[PARAMS[1]]
    assert (
        best["data"]["lookback"] == study.best_params[PARAMS[2]]
        and best["seed_everything"] == 3 + study.best_trial.number
    )

    tune_main([*tune_argv(csv, runs[0], "--search", str(tmp_path / "search.yaml"), "--seed", "3"), "--n_trials", "5"])
    resumed = study_record(runs[0])
    assert resumed[:3] == first and [number for number, *_ in resumed] == [0, 1, 2, 3, 4]
    assert sorted(path.name for path in (runs[0] / "trials").iterdir()) == ["0", "1", "2", "3", "4"]
    assert list(pd.read_csv(runs[0] / "trials.csv")["number"]) == [0, 1, 2, 3, 4]


@pytest.mark.slow  # two tiny studies: 10 s
def test_trials_score_on_the_validation_part_whatever_the_test_part_holds(tmp_path, monkeypatch):
    """Two studies of data that differ only in the test part (scaled a thousandfold) score the same trials the
    same: no trial reads the test part, nor prepares it."""
    stages = []
    setup = TimeSeriesDataModule.setup
    monkeypatch.setattr(TimeSeriesDataModule, "setup", lambda self, stage: stages.append(stage) or setup(self, stage))
    values = []
    for scale in (1.0, 1000.0):
        csv = hourly_csv(tmp_path / f"wide{scale:g}.csv", test_scale=scale)
        study = tune_main([*tune_argv(csv, tmp_path / f"run{scale:g}", "--space", json.dumps(LR)), "--n_trials", "2"])
        values.append([trial.value for trial in study.trials])
    assert values[0] == values[1] and len(values[0]) == 2
    assert set(stages) == {"fit"}


def test_lr_find_with_a_search_space_warns_that_the_space_is_not_searched(monkeypatch, tmp_path):
    """``--lr_find true`` beside ``--space`` ran the finder and ignored the space without a word."""
    monkeypatch.setattr(tune_module, "find_lr", lambda fit_args, run_dir, steps: 0.01)
    monkeypatch.setattr(tune_module, "print_config", lambda argv: "{}")
    space = '{"model.optimizer.init_args.lr": {"float": [0.001, 0.1]}}'
    with pytest.warns(UserWarning, match=r"the space of --space \(model\.optimizer\.init_args\.lr\) is not searched"):
        assert tune_module.main(["--lr_find", "true", "--space", space, "--run_dir", str(tmp_path)]) == 0.01
