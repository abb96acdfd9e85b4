import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import torch
import yaml
from lightning.fabric.utilities.seed import max_seed_value

from forecast import Forecaster
from forecast.checkpointing import read_checkpoint
from forecast.cli import main as cli_main
from forecast.fit_config import config_keys
from forecast.lr_finder import find_lr
from forecast.search_space import Param, SearchSpace
from forecast.study_results import trials_table, write_results
from forecast.study_tracking import StudyTracking
from forecast.study_trials import TrialFits
from forecast.tune import main as tune_main
from forecast.tune import tune
from forecast.tune_args import TuneArgs, parse_args

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "configs/quickstart.yaml")
SRU = "forecast.nn.SRUEncoder"


@pytest.fixture(scope="module")
def tiny_csv(tmp_path_factory) -> str:
    """200 hourly rows of two smooth channels."""
    steps = np.arange(200)
    frame = pd.DataFrame(
        {"a": 10 + np.sin(steps / 4), "b": -5 + 2 * np.cos(steps / 6)},
        index=pd.date_range("2024-01-01", periods=200, freq="h", name="date"),
    )
    path = tmp_path_factory.mktemp("data") / "wide.csv"
    frame.to_csv(path)
    return str(path)


def tiny_fit_args(csv: str, *extra: str) -> list[str]:
    """The quickstart GRU shrunk to a two-epoch fit of a few batches on ``csv``."""
    return ["--config", QUICKSTART, "--data.source", csv, "--data.lookback", "24", "--data.horizon", "6",
            "--data.batch_size", "32", "--data.split", "forecast.data.FractionSplit", "--trainer.max_epochs", "2",
            "--trainer.limit_train_batches", "2", "--trainer.enable_model_summary", "false",
            "--model.encoder.init_args.hidden_size", "4", *extra]  # fmt: skip


def sample(space: SearchSpace, n: int) -> list[optuna.trial.FrozenTrial]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(n):
        trial = study.ask()
        space.suggest(trial)
        study.tell(trial, 0.0)
    return study.trials


def test_search_space_samples_ints_floats_and_choices_in_range_and_scale():
    space = SearchSpace(
        {
            "model.encoder.init_args.hidden_size": {"int": [8, 64], "log": True},
            "model.optimizer.init_args.lr": {"float": [1e-4, 1e-2], "log": True},
            "model.head.init_args.dropout": {"float": [0.0, 0.5], "step": 0.1},
            "model.encoder": {"choice": ["forecast.nn.GRUEncoder", "forecast.nn.SRUEncoder"]},
        }
    )
    trials = sample(space, 30)
    sizes = [t.params["model.encoder.init_args.hidden_size"] for t in trials]
    assert all(isinstance(size, int) and 8 <= size <= 64 for size in sizes)
    assert all(1e-4 <= t.params["model.optimizer.init_args.lr"] <= 1e-2 for t in trials)
    assert {round(t.params["model.head.init_args.dropout"] * 10, 6) % 1 for t in trials} == {0}
    assert {t.params["model.encoder"] for t in trials} == {"forecast.nn.GRUEncoder", "forecast.nn.SRUEncoder"}
    distributions = trials[0].distributions
    assert distributions["model.encoder.init_args.hidden_size"].log
    assert distributions["model.optimizer.init_args.lr"].log and not distributions["model.head.init_args.dropout"].log


def test_search_space_samples_a_conditional_key_only_under_its_condition():
    space = SearchSpace(
        {
            "model.encoder.init_args.highway_bias": {"float": [-3, 0], "when": {"model.encoder": SRU}},
            "model.encoder": {"choice": ["forecast.nn.GRUEncoder", SRU]},
        }
    )
    for trial in sample(space, 20):
        sru = trial.params["model.encoder"] == SRU
        assert ("model.encoder.init_args.highway_bias" in trial.params) == sru


def test_search_space_also_gives_other_keys_the_same_value():
    seg_len = {"choice": [24], "also": ["model.head.init_args.seg_len"]}
    space = SearchSpace({"model.embedding.init_args.seg_len": seg_len})
    overrides = space.overrides({"model.embedding.init_args.seg_len": 24})
    assert overrides == {"model.embedding.init_args.seg_len": 24, "model.head.init_args.seg_len": 24}


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"int": [1, 8], "choice": [1]}, "exactly one of"),
        ({"float": [1e-2, 1e-4]}, "low <= high"),
        ({"float": [0, 1], "log": True}, "low > 0 for log"),
        ({"int": [1, 8], "lgo": True}, r"unknown option\(s\) \['lgo'\]"),
        ({"float": [0, 1], "when": {"model.encoder": "forecast.nn.SRUEncoder"}}, "not an unconditional `choice`"),
        ({"float": [0.1, 1], "log": "false"}, "`log` takes true or false, got 'false'"),
        ({"float": [0, 1], "step": 0}, "`step` takes a positive number, got 0"),
        ({"float": [0, 1], "step": "0.1"}, "`step` takes a positive number, got '0.1'"),
        ({"int": [1, 8], "step": 0.5}, "`step` takes a positive integer, got 0.5"),
        ({"float": [1e-4, 1e-2], "log": True, "step": 1e-4}, r"with `log: true` Optuna takes no `step`, got step"),
        ({"int": [1, 8], "log": True, "step": 2}, r"with `log: true` Optuna takes no `step` \(or step 1\)"),
        ({"choice": [24, 48], "also": "model.head.x"}, r"`also` takes a list of keys \[key, \.\.\.\], got 'model"),
        ({"float": [0, 1], "when": "model.encoder"}, r"`when` takes a mapping \{choice_key: value or \[values\]\}"),
        ({"choice": [{"class_path": "torch.optim.Adam"}]}, r"`choice` takes plain values .* got \{'class_path'"),
        ({"choice": [24], "also": ["model.y", "model.x"]}, "`also` names the key itself"),
    ],
)
def test_search_space_rejects_a_malformed_spec_naming_the_key(spec, match):
    with pytest.raises(ValueError, match=rf"search.yaml: model.x: .*{match}"):
        SearchSpace({"model.x": spec}, source="search.yaml")


@pytest.mark.parametrize(
    "space",
    [
        {"model.embedding.init_args.seg_len": {"choice": [24, 48], "also": ["model.head.init_args.seg_len"]},
         "model.head.init_args.seg_len": {"choice": [12]}},
        {"model.embedding.init_args.seg_len": {"choice": [24, 48], "also": ["model.head.init_args.seg_len"]},
         "model.encoder.init_args.hidden_size": {"int": [4, 8], "also": ["model.head.init_args.seg_len"]}},
        {"model.encoder": {"choice": ["forecast.nn.GRUEncoder", SRU, "forecast.nn.LSTMEncoder"]},
         "model.embedding.init_args.seg_len": {"choice": [24], "also": ["model.head.init_args.seg_len"],
                                               "when": {"model.encoder": "forecast.nn.GRUEncoder"}},
         "model.head.init_args.seg_len": {"choice": [12], "when": {"model.encoder": [SRU, "forecast.nn.GRUEncoder"]}}},
    ],
)  # fmt: skip
def test_a_key_that_two_entries_set_in_one_trial_is_refused(space):
    """Which of the two values a fit took would depend on the entries' order, and trials.csv would record the other."""
    with pytest.raises(
        ValueError, match="'model.head.init_args.seg_len' is also set by .* a key takes one value a trial"
    ):
        SearchSpace(space, source="search.yaml")


def test_entries_whose_conditions_exclude_each_other_may_set_one_key():
    choice = {"choice": ["forecast.nn.GRUEncoder", SRU, "forecast.nn.LSTMEncoder"]}
    gru = {"int": [4, 8], "when": {"model.encoder": "forecast.nn.GRUEncoder"}, "also": ["model.head.init_args.x"]}
    other = {
        "int": [16, 32],
        "when": {"model.encoder": [SRU, "forecast.nn.LSTMEncoder"]},
        "also": ["model.head.init_args.x"],
    }
    space = SearchSpace({"model.encoder": choice, "model.a": gru, "model.b": other})
    for trial in sample(space, 10):
        (key,) = set(trial.params) - {"model.encoder"}
        assert space.overrides(trial.params)["model.head.init_args.x"] == trial.params[key]


def test_a_search_file_reads_as_tune_reads_it(tmp_path):
    """``1e-4`` without a dot is text to PyYAML but a number to ``tune --search`` (jsonargparse's loader)."""
    path = tmp_path / "search.yaml"
    path.write_text("space:\n  model.optimizer.init_args.lr: {float: [1e-4, 1e-2], log: true}\n")
    (param,) = SearchSpace.from_yaml(path).params
    assert param.bounds == (1e-4, 1e-2) and param.log
    args, _, source = parse_args(["--search", str(path)])
    assert args.space == {param.key: {"float": [1e-4, 1e-2], "log": True}} and source == str(path)


def test_an_int_on_a_log_scale_takes_step_1():
    (trial,) = sample(SearchSpace({"model.x": {"int": [1, 8], "log": True, "step": 1}}), 1)
    assert trial.distributions["model.x"].log and trial.distributions["model.x"].step == 1


def test_an_error_sampling_a_trial_is_recorded_on_it(tmp_path):
    """A value Optuna refuses (a log scale with a step, which the space's parser would refuse) fails
    the trial with its message in trials.csv."""
    space = SearchSpace({"model.x": {"float": [1e-4, 1e-2]}})
    space.params = [Param("model.x", "float", bounds=(1e-4, 1e-2), log=True, step=1e-4)]
    study = optuna.create_study()
    study.optimize(TrialFits(space, TuneArgs(), [], tmp_path, None), n_trials=1, catch=(ValueError,))
    assert "ValueError: " in study.trials[0].user_attrs["error"] and "step" in study.trials[0].user_attrs["error"]


def test_a_trial_asked_for_once_the_study_has_its_trials_stops_unfitted(tmp_path):
    """Two processes can race for the last trial (Optuna's MaxTrialsCallback counts after each one): the
    later one fails at once and stops its process, so the study finishes with n_trials trials, not more."""
    space = SearchSpace({"model.x": {"float": [1e-4, 1e-2]}})
    study = optuna.create_study()
    for value in (1.0, 2.0):
        study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=value))
    study.ask()  # another process's trial, still running
    study.optimize(TrialFits(space, TuneArgs(n_trials=3), [], tmp_path, None), n_trials=5, catch=(RuntimeError,))
    late = study.trials[3:]
    assert [trial.state for trial in late] == [optuna.trial.TrialState.FAIL]  # one trial, then the process stopped
    assert late[0].user_attrs["error"].startswith("not fitted: the study had its n_trials=3 trials")
    assert not (tmp_path / "trials").exists()


def test_failed_trials_count_towards_n_trials_but_one_failed_unfitted_does_not(tmp_path):
    """Trials that fail (here sampling: a log scale with a step) stop the study at n_trials; a trial that
    another process lost the race with never ran, so it leaves one more trial to run."""
    space = SearchSpace({"model.x": {"float": [1e-4, 1e-2]}})
    space.params = [Param("model.x", "float", bounds=(1e-4, 1e-2), log=True, step=1e-4)]
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    lost = {"error": "not fitted: the study had its n_trials=3 trials when this one began"}
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs=lost))
    fits = TrialFits(space, TuneArgs(n_trials=3), [], tmp_path, None)
    study.optimize(fits, n_trials=10, catch=(ValueError, RuntimeError))
    errors = [trial.user_attrs["error"] for trial in study.trials[2:]]
    assert sum(error.startswith("ValueError:") for error in errors) == 2


def test_results_of_a_study_whose_trials_all_still_run(tmp_path):
    study = optuna.create_study()
    study.ask()
    write_results(study, tmp_path, None, None)
    table = pd.read_csv(tmp_path / "trials.csv")
    assert list(table["state"]) == ["RUNNING"] and table["duration"].isna().all()
    assert not (tmp_path / "best.yaml").exists()


@pytest.fixture(scope="module")
def tiny_keys(tiny_csv):
    """``config_keys`` of the tiny fit, parsing each set of overrides once for the module (a parse takes ~1 s)."""
    parsed: dict[tuple, set[str]] = {}

    def keys(overrides: dict) -> set[str]:
        context = tuple(sorted(overrides.items()))
        if context not in parsed:
            parsed[context] = config_keys(tiny_fit_args(tiny_csv), overrides)
        return parsed[context]

    return keys


def test_unknown_key_is_named_with_the_nearest_valid_key(tiny_keys):
    space = SearchSpace({"model.encoder.init_args.hiden_size": {"int": [4, 8]}}, source="search.yaml")
    with pytest.raises(
        ValueError,
        match="search.yaml: 'model.encoder.init_args.hiden_size' .* did you mean 'model.encoder.init_args.hidden_size'",
    ):
        space.check_keys(tiny_keys)


def test_conditional_key_is_checked_in_the_config_where_it_exists(tiny_keys):
    choice = {"choice": ["forecast.nn.GRUEncoder", "forecast.nn.SRUEncoder"]}
    conditional = {"float": [-3, 0], "when": {"model.encoder": "forecast.nn.SRUEncoder"}}
    SearchSpace({"model.encoder": choice, "model.encoder.init_args.highway_bias": conditional}).check_keys(tiny_keys)
    unconditional = SearchSpace({"model.encoder": choice, "model.encoder.init_args.highway_bias": {"float": [-3, 0]}})
    with pytest.raises(ValueError, match="'model.encoder.init_args.highway_bias' is not a key of the config"):
        unconditional.check_keys(tiny_keys)


def test_string_choices_of_a_conditional_key_are_checked_under_its_condition(tiny_keys):
    """``threshold_mode`` exists only once the scheduler is ReduceLROnPlateau (the config has none)."""
    plateau = "torch.optim.lr_scheduler.ReduceLROnPlateau"
    mode = {"choice": ["rel", "abs"], "when": {"model.lr_scheduler": plateau}}
    SearchSpace(
        {"model.lr_scheduler": {"choice": [plateau]}, "model.lr_scheduler.init_args.threshold_mode": mode}
    ).check_keys(tiny_keys)


def test_grouped_data_keys_are_search_keys_and_a_flat_one_names_its_group(tiny_keys):
    assert {"data.columns.targets", "data.calendar.encoding"} <= tiny_keys({"data.scaling.per_series": True})
    SearchSpace({"data.scaling.per_series": {"choice": [True, False]}}).check_keys(tiny_keys)
    flat = SearchSpace({"data.scale_per_series": {"choice": [True, False]}}, source="search.yaml")
    with pytest.raises(ValueError, match="'data.scale_per_series' .* did you mean 'data.scaling.per_series'"):
        flat.check_keys(tiny_keys)


def test_a_class_choice_that_does_not_exist_fails_before_any_trial(tiny_keys):
    space = SearchSpace({"model.encoder": {"choice": ["forecast.nn.GRUEncoder", "forecast.nn.GRUEncodr"]}})
    with pytest.raises(ValueError, match="with {'model.encoder': 'forecast.nn.GRUEncodr'}: the config does not parse"):
        space.check_keys(tiny_keys)


def test_segrnn_search_space_keys_exist_in_its_config():
    path = ROOT / "configs/tune/segrnn_gru_search.yaml"
    args = ["--config", str(ROOT / "configs/etth1/segrnn_gru.yaml")]
    SearchSpace.from_yaml(path).check_keys(lambda overrides: config_keys(args, overrides))
    assert yaml.safe_load(path.read_text())["pruner"]["class_path"] == "optuna.pruners.HyperbandPruner"


@pytest.fixture(scope="module")
def study(tiny_csv, tmp_path_factory):
    """Three enqueued trials on the tiny fit: a good one, a hopeless one (pruned), one whose config fails."""
    run_dir = tmp_path_factory.mktemp("study")
    args = TuneArgs(
        space={"model.optimizer.init_args.lr": {"float": [1e-9, 1e-1], "log": True},
               "model.encoder.init_args.hidden_size": {"choice": [4, 0]}},
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1),
        n_trials=3, run_dir=str(run_dir), seed=7,
    )  # fmt: skip
    storage = f"sqlite:///{run_dir / 'study.db'}"
    created = optuna.create_study(storage=storage, study_name="tiny")
    for lr, hidden_size in [(3e-2, 4), (1e-9, 4), (3e-2, 0)]:
        created.enqueue_trial({"model.optimizer.init_args.lr": lr, "model.encoder.init_args.hidden_size": hidden_size})
    args.storage, args.study_name = storage, "tiny"
    return tune(args, tiny_fit_args(tiny_csv)), run_dir


def test_pruning_stops_a_hopeless_trial_after_its_first_epoch(study):
    study, _ = study
    good, hopeless = study.trials[0], study.trials[1]
    assert good.state == optuna.trial.TrialState.COMPLETE and len(good.intermediate_values) == 2
    assert hopeless.state == optuna.trial.TrialState.PRUNED
    assert list(hopeless.intermediate_values) == [0]


def test_failed_trial_is_recorded_with_its_message_in_trials_csv(study):
    _, run_dir = study
    table = pd.read_csv(run_dir / "trials.csv")
    assert list(table["state"]) == ["COMPLETE", "PRUNED", "FAIL"]
    assert "hidden_size=0 must be at least 1" in table.loc[2, "user_attrs_error"]
    assert list(table["epochs"]) == [2, 1, 0]
    params = {"params_model.optimizer.init_args.lr", "params_model.encoder.init_args.hidden_size"}
    assert params | {"duration"} <= set(table.columns)


def test_trial_runs_in_its_directory_seeded_from_the_study_seed(study):
    _, run_dir = study
    config = yaml.safe_load(next((run_dir / "trials/1").glob("lightning_logs/version_0/config.yaml")).read_text())
    assert config["seed_everything"] == 7 + 1
    assert config["model"]["optimizer"]["init_args"]["lr"] == pytest.approx(1e-9)
    assert (run_dir / "optimization_history.png").stat().st_size > 0
    assert (run_dir / "intermediate_values.png").stat().st_size > 0


def test_every_trial_records_the_directory_its_relative_paths_lead_from(study):
    _, run_dir = study
    assert pd.read_csv(run_dir / "trials.csv")["user_attrs_cwd"].tolist() == [os.getcwd()] * 3


def test_best_yaml_trains_the_best_trial_again_with_fit(study, tmp_path):
    study, run_dir = study
    cli = cli_main(["fit", "--config", str(run_dir / "best.yaml"), "--trainer.default_root_dir", str(tmp_path)])
    assert float(cli.trainer.checkpoint_callback.best_model_score) == pytest.approx(study.best_value, rel=1e-6)
    model = Forecaster.load(study.best_trial.user_attrs["checkpoint"])
    assert model.hparams["lookback"] == 24


@pytest.fixture(scope="module")
def resumable(tiny_csv, tmp_path_factory):
    """A study of one trial of the tiny fit for one epoch, of --seed 7, whose lr also sets the weight decay:
    the study, its options and its fit flags, for reruns that find it has its trial and write only its results."""
    lr = {"float": [1e-3, 1e-1], "log": True, "also": ["model.optimizer.init_args.weight_decay"]}
    run_dir = str(tmp_path_factory.mktemp("resumable"))
    args = TuneArgs(space={"model.optimizer.init_args.lr": lr}, n_trials=1, run_dir=run_dir, study_name="s", seed=7)
    fit_args = tiny_fit_args(tiny_csv, "--trainer.max_epochs", "1")
    return tune(args, fit_args), args, fit_args


def test_a_study_resumed_without_its_best_trials_key_or_seed_writes_that_trials_values_and_seed(resumable):
    study, args, fit_args = resumable
    # the search file no longer has lr, nor the rerun --seed 7
    rerun = TuneArgs(**(vars(args) | {"space": {"model.encoder.init_args.hidden_size": {"int": [4, 8]}}, "seed": 0}))
    tune(rerun, fit_args)
    best = yaml.safe_load((Path(args.run_dir) / "best.yaml").read_text())
    value = study.best_trial.params["model.optimizer.init_args.lr"]
    optimizer = best["model"]["optimizer"]["init_args"]
    assert optimizer["lr"] == pytest.approx(value) and optimizer["weight_decay"] == pytest.approx(value)
    assert best["seed_everything"] == 7  # trial 0 of --seed 7


def test_a_study_resumed_with_other_fit_flags_writes_the_best_trials_own_flags(resumable):
    """best.yaml reproduces the best trial: the fit flags it ran with, not those of the process writing it."""
    _, args, fit_args = resumable
    tune(args, [*fit_args, "--trainer.max_epochs", "3"])  # the study has its trial: this one writes only
    assert yaml.safe_load((Path(args.run_dir) / "best.yaml").read_text())["trainer"]["max_epochs"] == 1


def test_best_yaml_of_an_older_study_without_recorded_overrides_uses_its_parameters(tiny_csv, tmp_path):
    study = optuna.create_study()
    trial = study.ask()
    lr = trial.suggest_float("model.optimizer.init_args.lr", 1e-4, 1e-2, log=True)
    study.tell(trial, 0.5)
    space = SearchSpace({"model.optimizer.init_args.weight_decay": {"float": [0, 0.1]}})
    TrialFits(space, TuneArgs(), tiny_fit_args(tiny_csv), tmp_path, None).write_results(study)
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert best["model"]["optimizer"]["init_args"]["lr"] == pytest.approx(lr)


def test_a_rerun_fails_the_running_trial_of_an_ended_process_of_this_machine(tiny_csv, tmp_path):
    """A study killed mid-trial and rerun at once: its trial's heartbeat is still fresh, but its process is gone."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = optuna.storages.RDBStorage(url, heartbeat_interval=60)
    created = optuna.create_study(storage=storage, study_name="killed")
    for value in (1.0, None):
        trial = created.ask()
        trial.suggest_float("model.optimizer.init_args.lr", 1e-3, 1e-1, log=True)
        if value is not None:
            created.tell(trial, value)
    ended = subprocess.Popen([sys.executable, "-c", ""])
    ended.wait()
    trial.set_user_attr("worker", f"{socket.gethostname()}:{ended.pid}")
    storage.record_heartbeat(trial._trial_id)
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1], "log": True}}, n_trials=2,
                    run_dir=str(tmp_path), study_name="killed", storage=url)  # fmt: skip
    tune(args, tiny_fit_args(tiny_csv, "--trainer.max_epochs", "1"))
    table = pd.read_csv(tmp_path / "trials.csv")
    assert list(table["state"]) == ["COMPLETE", "FAIL", "COMPLETE"]
    assert table.loc[1, "user_attrs_error"] == f"its worker {socket.gethostname()}:{ended.pid} ended"


@pytest.mark.parametrize(
    "key, use",
    [("checkpoint.monitor", "--metric"), ("seed_everything", "--seed"), ("trainer.default_root_dir", "--run_dir")],
)
def test_a_key_that_tune_sets_in_every_trial_is_refused_in_the_space(key, use, tiny_csv, tmp_path):
    """A searched checkpoint.monitor failed every trial (its checkpoint no longer scored the metric)."""
    args = TuneArgs(space={key: {"choice": ["val/mae"]}}, run_dir=str(tmp_path))
    with pytest.raises(ValueError, match=rf"--space: '{key}' is set by tune in every trial; drop it and use {use}"):
        tune(args, tiny_fit_args(tiny_csv))
    assert not (tmp_path / "study.db").exists()


def test_resuming_a_study_of_the_other_direction_says_which_to_pass(tiny_csv, tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.create_study(storage=url, study_name="max", direction="maximize")
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}}, storage=url, study_name="max")
    with pytest.raises(ValueError, match="is a maximize study, not minimize; pass --direction maximize to resume it"):
        tune(args, tiny_fit_args(tiny_csv))


def test_lr_find_writes_its_plot_and_suggested_rate(tiny_csv, tmp_path):
    lr = find_lr(tiny_fit_args(tiny_csv, "--trainer.max_epochs", "10"), tmp_path, num_training=20)
    written = yaml.safe_load((tmp_path / "lr_find.yaml").read_text())
    assert written["model"]["optimizer"]["init_args"]["lr"] == lr and 1e-8 < lr < 1
    assert (tmp_path / "lr_find.png").stat().st_size > 0


def mlflow_flags(uri: str, artifacts: Path) -> list[str]:
    """``fit`` flags that log to MLflow at ``uri``, in the experiment ``tiny`` with its artifacts in ``artifacts``
    (a database's would go to ``./mlruns``)."""
    return ["--trainer.logger", "lightning.pytorch.loggers.MLFlowLogger", "--trainer.logger.init_args.tracking_uri",
            uri, "--trainer.logger.init_args.experiment_name", "tiny",
            "--trainer.logger.init_args.artifact_location", str(artifacts)]  # fmt: skip


@pytest.mark.parametrize("store", ["file", "sqlite"])
def test_mlflow_logs_the_study_as_parent_of_its_trial_runs(store, tiny_csv, tmp_path, monkeypatch):
    """A folder and a database (the README's ``sqlite:`` URI) as tracking URI; the study's run ends FINISHED."""
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 refuses a plain folder without it
    uri = f"file:{tmp_path / 'mlruns'}" if store == "file" else f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1], "log": True}}, n_trials=1,
                    run_dir=str(tmp_path / "run"), study_name="mlflow")  # fmt: skip
    study = tune(args, tiny_fit_args(tiny_csv, "--trainer.max_epochs", "1", *mlflow_flags(uri, tmp_path / "artifacts")))
    assert "error" not in study.trials[0].user_attrs
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    parent = next(run for run in runs if run.info.run_id == study.user_attrs["mlflow_run_id"])
    assert parent.info.status == "FINISHED"
    (child,) = [run for run in runs if run.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert child.info.status == "FINISHED"
    assert child.data.metrics["val/loss"] == pytest.approx(study.best_value)
    assert float(child.data.params["optimizer/init_args/lr"]) == pytest.approx(
        study.best_params["model.optimizer.init_args.lr"]
    )
    assert {"trials.csv", "best.yaml"} <= {artifact.path for artifact in client.list_artifacts(parent.info.run_id)}


def test_a_study_stopped_by_an_error_ends_its_mlflow_run_failed(tiny_csv, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{tmp_path / 'mlruns'}"

    def interrupted(self, trial):
        raise KeyboardInterrupt  # Ctrl-C during the first trial

    monkeypatch.setattr(TrialFits, "__call__", interrupted)
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}}, n_trials=1, run_dir=str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        tune(args, tiny_fit_args(tiny_csv, *mlflow_flags(uri, tmp_path / "artifacts")))
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert run.info.status == "FAILED"


def test_a_resumed_study_runs_its_ended_mlflow_run_again(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{tmp_path / 'mlruns'}"
    config = {"trainer": {"logger": {"class_path": "lightning.pytorch.loggers.MLFlowLogger",
                                     "init_args": {"tracking_uri": uri, "experiment_name": "tiny"}}}}  # fmt: skip
    study = optuna.create_study()
    with StudyTracking.of(config, study):
        pass
    client = mlflow.MlflowClient(uri)
    run_id = study.user_attrs["mlflow_run_id"]
    assert client.get_run(run_id).info.status == "FINISHED"
    with StudyTracking.of(config, study):
        assert client.get_run(run_id).info.status == "RUNNING"
    assert client.get_run(run_id).info.status == "FINISHED"


def worker_args(csv: str, run_dir: Path, *extra: str) -> list[str]:
    """The ``tune`` flags of a worker on the shared SQLite study of ``run_dir``."""
    return [*tiny_fit_args(csv), "--study_name", "shared",
            "--space", '{"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1], "log": true}}',
            "--storage", f"sqlite:///{run_dir / 'study.db'}", "--run_dir", str(run_dir), *extra]  # fmt: skip


def start_worker(csv: str, run_dir: Path, name: str, *extra: str) -> subprocess.Popen:
    """``python -m forecast tune`` on the shared SQLite study of ``run_dir``, as a user would start it;
    its output goes to ``run_dir/<name>.log``."""
    command = [sys.executable, "-m", "forecast", "tune", *worker_args(csv, run_dir, *extra)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    with open(run_dir / f"{name}.log", "w") as log:
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)


def wait_all(run_dir: Path, workers: dict[str, subprocess.Popen]) -> None:
    for name, worker in workers.items():
        if worker.wait(timeout=600) != 0:
            pytest.fail(f"{name} exited with {worker.returncode}: {(run_dir / f'{name}.log').read_text()[-3000:]}")


def assert_finished_once(run_dir: Path, n_trials: int) -> pd.DataFrame:
    """The study has ``n_trials`` finished trials, none of them a repeat of another's number or values."""
    table = pd.read_csv(run_dir / "trials.csv")
    finished = table[table["state"].isin(["COMPLETE", "PRUNED"])]
    assert len(finished) == n_trials
    assert table["number"].is_unique and finished["params_model.optimizer.init_args.lr"].is_unique
    return table


def test_two_workers_share_one_study_without_repeats(tiny_csv, tmp_path, monkeypatch):
    """This process and a worker process run the study's n_trials between them. This one fits a second trial only
    once the other has begun one, so that each fits some of the trials whatever their start-up times."""
    other = start_worker(tiny_csv, tmp_path, "other", "--n_trials", "3")
    fit, mine = TrialFits.__call__, set()

    def once_the_other_began(self: TrialFits, trial: optuna.Trial) -> float:
        deadline = time.monotonic() + 300
        while mine and {t.number for t in trial.study.get_trials(deepcopy=False)} <= mine | {trial.number}:
            if other.poll() is not None or time.monotonic() > deadline:
                other.kill()
                pytest.fail(f"the other worker began no trial: {(tmp_path / 'other.log').read_text()[-3000:]}")
            time.sleep(0.1)
        mine.add(trial.number)
        return fit(self, trial)

    monkeypatch.setattr(TrialFits, "__call__", once_the_other_began)
    tune_main(worker_args(tiny_csv, tmp_path, "--n_trials", "3"))
    wait_all(tmp_path, {"other": other})
    table = assert_finished_once(tmp_path, 3)
    assert table["user_attrs_worker"].nunique() == 2
    assert (tmp_path / "param_importances.png").stat().st_size > 0


def test_failed_trials_count_towards_n_trials_over_all_processes(tiny_csv, tmp_path, monkeypatch):
    """A learning rate whose training loss overflows fails every trial: ``--n_jobs 2 --n_trials 2`` fits two trials
    in all, not two in each process, and the process that started the other fails once both are done."""
    monkeypatch.chdir(ROOT)  # the second process runs `python -m forecast` here
    space = '{"model.optimizer.init_args.lr": {"float": [1e20, 1e30], "log": true}}'
    with pytest.raises(ValueError, match=r"no trial of study 'nope' completed \(\d failed\)"):
        tune_main([*tiny_fit_args(tiny_csv, "--trainer.max_epochs", "1"), "--space", space,
                   "--n_trials", "2", "--n_jobs", "2", "--run_dir", str(tmp_path), "--study_name", "nope"])  # fmt: skip
    errors = pd.read_csv(tmp_path / "trials.csv")["user_attrs_error"]
    assert errors.str.contains("FloatingPointError: training loss is").sum() == 2  # others failed unfitted, if any


@pytest.mark.slow  # 16 s; its small form, two workers on one storage, runs by default
def test_a_third_worker_finishes_the_study_after_one_is_killed(tiny_csv, tmp_path):
    flags = ("--n_trials", "5", "--heartbeat_interval", "1", "--trainer.max_epochs", "4")
    first, second = (
        start_worker(tiny_csv, tmp_path, "first", *flags),
        start_worker(tiny_csv, tmp_path, "second", *flags),
    )
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    deadline = time.monotonic() + 300
    while not any(
        trial.state == optuna.trial.TrialState.RUNNING and trial.user_attrs.get("worker", "").endswith(f":{first.pid}")
        for trial in _trials(storage)
    ):
        assert time.monotonic() < deadline and first.poll() is None, "the first worker never ran a trial"
        time.sleep(0.2)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    wait_all(tmp_path, {"second": second, "third": start_worker(tiny_csv, tmp_path, "third", *flags)})
    table = assert_finished_once(tmp_path, 5)
    killed = table[table["user_attrs_worker"].str.endswith(f":{first.pid}") & (table["state"] == "FAIL")]
    assert len(killed) == 1  # its running trial, failed by the others once its heartbeat stopped


def _trials(storage: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name="shared", storage=storage).get_trials(deepcopy=False)
    except KeyError:  # the workers have not created the study yet
        return []


def test_a_trial_scores_its_metric_at_every_validation_whatever_checkpoints_the_user_adds(tiny_csv, tmp_path):
    """A ModelCheckpoint of the user's on another metric must not score the trial, and two validations an
    epoch are two reports to the pruner, not one reported twice at one step."""
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}}, n_trials=1, run_dir=str(tmp_path))
    other = '{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"monitor": "val/mae"}}'
    fit_args = tiny_fit_args(tiny_csv, "--trainer.callbacks+", other, "--trainer.val_check_interval", "1")
    trial = tune(args, fit_args).trials[0]
    assert list(trial.intermediate_values) == [0, 1, 2, 3]  # 2 epochs of 2 batches, each batch validated
    assert trial.value == pytest.approx(min(trial.intermediate_values.values()))  # the best val/loss


@pytest.mark.parametrize(
    "schedule",
    [
        {"trainer": {"val_check_interval": 1}},  # Lightning's checkpoint: at epoch ends
        {"trainer": {"val_check_interval": 1}, "checkpoint": {"every_n_train_steps": 3}},  # the config's: other steps
        {"checkpoint": {"every_n_epochs": 2}},  # the config's: every other epoch's validation
    ],
)
def test_a_trial_scores_its_best_validation_which_its_checkpoint_keeps(schedule, tiny_csv, tmp_path):
    """A learning rate so high that the loss jumps about: the best validation is not one the config's checkpoint
    settings would save (mid-epoch; between two saves), yet it is the trial's value and its checkpoint's score,
    as tune checkpoints after every validation. It was the value of a validation no checkpoint kept."""
    config = tmp_path / "schedule.yaml"
    config.write_text(yaml.safe_dump(schedule))
    fit_args = tiny_fit_args(tiny_csv, "--trainer.max_epochs", "3", "--config", str(config))
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    space = SearchSpace({"model.optimizer.init_args.lr": {"choice": [3.0]}})
    study.optimize(TrialFits(space, TuneArgs(), fit_args, tmp_path, None), n_trials=1)
    trial = study.trials[0]
    scores = trial.intermediate_values
    assert trial.value == pytest.approx(min(scores.values()))
    assert trial.value < scores[max(scores)] * 0.9  # not the last validation's, which the default would score
    state = torch.load(trial.user_attrs["checkpoint"], weights_only=False)["callbacks"]
    saved = next(value for key, value in state.items() if key.startswith("ModelCheckpoint"))
    assert float(saved["best_model_score"]) == pytest.approx(trial.value)


@pytest.mark.parametrize("loss", ["forecast.losses.MSELoss", "forecast.losses.MAELoss"])
def test_a_trial_whose_checkpoint_fell_back_to_a_naive_forecast_scores_that_forecast(loss, tiny_csv, tmp_path):
    """With naive_comparison.fallback, an untrained network (and a margin it cannot beat) leaves a checkpoint that
    forecasts a naive forecast: the trial's value is that checkpoint's validation score, as ``validate`` gives it
    (for an MSE loss the comparison's own figure), not its network's."""
    args = TuneArgs(
        space={"model.optimizer.init_args.lr": {"choice": [1e-9]}}, n_trials=1, run_dir=str(tmp_path / "tune")
    )
    fit_args = tiny_fit_args(tiny_csv, "--trainer.max_epochs", "1", "--model.loss", loss,
                             "--naive_comparison.fallback", "true", "--naive_comparison.margin", "0.5")  # fmt: skip
    trial = tune(args, fit_args).trials[0]
    best = trial.user_attrs["checkpoint"]
    assert read_checkpoint(best, Forecaster)["naive_fallback"] is not None
    root = str(tmp_path / "validate")
    validated = cli_main(["validate", *fit_args, "--ckpt_path", best, "--trainer.default_root_dir", root])
    assert trial.value == pytest.approx(float(validated.trainer.callback_metrics["val/loss"]), rel=1e-5)
    assert trial.value != pytest.approx(trial.intermediate_values[0], rel=1e-3)  # the network's val/loss
    comparison = json.loads((Path(best).parents[1] / "naive_comparison.json").read_text())
    assert trial.user_attrs["naive_fallback"] == comparison["fallback"]
    if loss.endswith("MSELoss"):
        assert trial.value == pytest.approx(comparison["val_mse"][comparison["fallback"]], rel=1e-5)


def test_a_trial_whose_every_validation_was_nan_scores_the_naive_forecast_its_checkpoint_falls_back_to(
    tiny_csv, tmp_path, monkeypatch
):
    """A network that forecasts NaN on validation (finite in training) loses to the naive forecasts, so its checkpoint
    forecasts the better one; the trial failed for its NaN validations instead of taking that forecast's score."""
    network = Forecaster._network

    def nan_when_evaluating(self, *inputs):
        params = network(self, *inputs)
        return params if self.training else torch.full_like(params, math.nan)

    monkeypatch.setattr(Forecaster, "_network", nan_when_evaluating)
    args = TuneArgs(n_trials=1)
    fit_args = tiny_fit_args(tiny_csv, "--trainer.max_epochs", "1", "--naive_comparison.fallback", "true")
    study = optuna.create_study()
    space = SearchSpace({"model.optimizer.init_args.lr": {"choice": [1e-3]}})
    study.optimize(TrialFits(space, args, fit_args, tmp_path, None), n_trials=1)
    trial = study.trials[0]
    assert math.isnan(trial.intermediate_values[0])  # the network's val/loss
    comparison = json.loads((Path(trial.user_attrs["checkpoint"]).parents[1] / "naive_comparison.json").read_text())
    assert trial.user_attrs["naive_fallback"] == comparison["fallback"] == "last value"
    assert trial.value == pytest.approx(comparison["val_mse"]["last value"], rel=1e-5)


def test_the_trials_table_of_a_study_that_gains_a_trial_while_it_is_read(monkeypatch):
    """Other workers add trials to a shared study at any time, also between the table's two reads of it."""
    study = optuna.create_study()
    study.tell(study.ask(), 0.5)
    read = study.trials_dataframe

    def read_later(*args, **kwargs):
        study.ask()  # another worker's trial, started after the first read
        return read(*args, **kwargs)

    monkeypatch.setattr(study, "trials_dataframe", read_later)
    table = trials_table(study)
    assert list(table["number"]) == [0, 1] and list(table["epochs"]) == [0, 0]


def test_an_unconditional_key_is_checked_in_the_config_of_every_class_choice(tiny_keys):
    """``hidden_size`` is the GRU's, not the identity encoder's: trials with the latter would all fail."""
    space = SearchSpace(
        {"model.encoder": {"choice": ["forecast.nn.GRUEncoder", "forecast.nn.IdentityEncoder"]},
         "model.encoder.init_args.hidden_size": {"int": [4, 8]}}, source="search.yaml"
    )  # fmt: skip
    with pytest.raises(
        ValueError, match="'model.encoder.init_args.hidden_size' is not a key of the config when "
        "model.encoder=forecast.nn.IdentityEncoder"
    ):  # fmt: skip
        space.check_keys(tiny_keys)


@pytest.mark.parametrize(
    ("flag", "use"),
    [
        ("--seed_everything", "--seed"),
        ("--checkpoint.monitor=val/mse", "--metric"),
        ("--checkpoint.every_n_epochs", "nothing \\(tune checkpoints after every validation\\)"),
    ],
)
def test_a_fit_flag_that_tune_overrides_in_every_trial_is_refused(flag, use, tiny_csv, tmp_path):
    """Otherwise each trial's fit silently takes tune's value in its place."""
    fit_args = tiny_fit_args(tiny_csv, *([flag, "5"] if "=" not in flag else [flag]))
    with pytest.raises(ValueError, match=f"{flag.split('=')[0]} is set by tune in every trial; .*{use}"):
        tune(TuneArgs(space={"data.lookback": {"choice": [24]}}, n_trials=0, run_dir=str(tmp_path)), fit_args)


def test_a_study_whose_every_trial_failed_fails_quoting_the_first_error(tiny_csv, tmp_path):
    """A learning rate whose training loss overflows fails each trial; the run must not end as if it had tuned
    something."""
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e20, 1e30]}}, n_trials=1, run_dir=str(tmp_path),
                    study_name="none")  # fmt: skip
    fit_args = tiny_fit_args(tiny_csv, "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "1")
    with pytest.raises(
        ValueError, match=r"no trial of study 'none' completed \(1 failed\).* trial 0 failed with FloatingPointError: "
        r"training loss is (inf|nan) at epoch 0"
    ):  # fmt: skip
        tune(args, fit_args)
    assert list(pd.read_csv(tmp_path / "trials.csv")["state"]) == ["FAIL"]
    assert not (tmp_path / "best.yaml").exists()


@pytest.mark.parametrize(
    "states, match",
    [
        (["PRUNED", "PRUNED"], r"completed \(2 pruned\): nothing was tuned; the pruner stopped every trial that ran"),
        (["PRUNED", "FAIL"], r"completed \(1 pruned, 1 failed\): nothing was tuned; trial 1 failed with boom"),
        (["FAIL", "RUNNING"], None),  # another process's trial may yet complete: its process decides
        (["FAIL", "COMPLETE"], None),
    ],
)
def test_a_study_ends_in_an_error_only_without_a_complete_or_running_trial(states, match, tmp_path):
    study = optuna.create_study(study_name="s")
    for name in states:
        if name == "RUNNING":
            study.ask()  # another process's trial
        else:
            attrs = {"error": "boom"} if name == "FAIL" else {}
            state, value = optuna.trial.TrialState[name], 1.0 if name == "COMPLETE" else None
            study.add_trial(optuna.trial.create_trial(state=state, value=value, user_attrs=attrs))
    fits = TrialFits(SearchSpace({"model.x": {"float": [0, 1]}}), TuneArgs(), [], tmp_path, None)
    if match is None:
        fits.check_completed(study)
    else:
        with pytest.raises(ValueError, match=match):
            fits.check_completed(study)


def test_best_yaml_written_from_another_directory_takes_the_trials_relative_paths_from_its_own(tmp_path, monkeypatch):
    """A study resumed or joined from another working directory: the best trial's relative ``--config`` and
    ``data.source`` lead from the directory it ran in (a path in a config file does not lead from that file)."""
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    (project / "configs").mkdir(parents=True)
    elsewhere.mkdir()
    (project / "configs/tiny.yaml").write_text("data:\n  lookback: 12\n")
    attrs = {"fit_args": tiny_fit_args("tiny.csv", "--config", "configs/tiny.yaml"), "cwd": str(project)}
    study = optuna.create_study(study_name="moved")
    study.add_trial(optuna.trial.create_trial(value=0.5, user_attrs=attrs | {"overrides": {}, "seed": 0}))
    monkeypatch.chdir(elsewhere)
    space = SearchSpace({"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}})
    TrialFits(space, TuneArgs(), [], tmp_path, None).write_results(study)
    written = (tmp_path / "best.yaml").read_text()
    assert f"#   cd {project} && python -m forecast fit --config {tmp_path / 'best.yaml'}" in written
    best = yaml.safe_load(written)
    assert best["data"]["source"] == "tiny.csv" and best["data"]["lookback"] == 12


def test_a_tilde_run_dir_is_in_the_home_folder(tiny_csv, tmp_path, monkeypatch):
    """``--run_dir ~/...`` (and a ``trainer.default_root_dir`` of ``~/...``) made a folder named '~' here."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}}, n_trials=0, run_dir="~/study")
    with pytest.raises(ValueError, match="no trial of study"):  # none was asked for
        tune(args, tiny_fit_args(tiny_csv))
    assert (tmp_path / "home/study/study.db").is_file() and not (tmp_path / "~").exists()


@pytest.mark.slow
def test_a_study_seeded_at_the_top_of_lightnings_range_fails_none_of_its_trials(tiny_csv, tmp_path):
    """Trial N fits with seed + N: from N = 1 that passed Lightning's largest seed, and every trial failed with
    "is not in bounds". The seeds wrap around to 0."""
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}}, n_trials=2, run_dir=str(tmp_path))
    args.seed = max_seed_value
    study = tune(args, tiny_fit_args(tiny_csv, "--trainer.max_epochs", "1"))
    assert [trial.state.name for trial in study.trials] == ["COMPLETE", "COMPLETE"]
    assert [trial.user_attrs["seed"] for trial in study.trials] == [max_seed_value, 0]


def test_a_condition_on_the_choice_1_holds_for_1_and_not_for_true():
    """1 and true would be two choices, but Optuna records both as the first (``tests/test_tune37.py``): they are
    refused together; a condition on 1 is no condition on true."""
    with pytest.raises(ValueError, match=r"`choice` lists 1 and True, which Optuna records as one value"):
        SearchSpace({"a": {"choice": [1, True]}, "b": {"int": [1, 3], "when": {"a": 1}}})
    with pytest.raises(ValueError, match=r"`when` value\(s\) \[1\] are not choices of a"):
        SearchSpace({"a": {"choice": [True, False]}, "b": {"int": [1, 3], "when": {"a": 1}}})
