"""Hand mutation testing, round 5: tests for the mutants of the parts no round had mutated (a pass's metrics,
``forecast.model_metrics``; the published figures' standing, ``forecast.datasets.published``; the parts' range
checks, ``forecast.nn.checks``; the CLI's refusal of linked keys, ``forecast.linked_keys``; its parser's hints,
``forecast.cli_parser``; and ``forecast tune``'s command line, storage, MLflow run and trials' ``fit`` flags) that
the suite let through.
Each fails under its mutant and passes on the real code."""

import argparse
import re
import socket
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
import sqlalchemy
import torch

from forecast import TimeSeriesDataModule
from forecast.batch import Batch
from forecast.cli_parser import ForecastArgumentParser
from forecast.datasets import published
from forecast.fit_config import override_args
from forecast.linked_keys import check_linked_flags, check_linked_keys
from forecast.model_metrics import PassMetrics
from forecast.nn import GRUEncoder
from forecast.nn.checks import check_finite
from forecast.study_storage import fail_orphaned_trials, rdb_storage
from forecast.study_tracking import StudyTracking
from forecast.tune_args import parse_args

BENCHMARKS_README = Path(__file__).resolve().parents[1] / "benchmarks/README.md"


def _batch(target: torch.Tensor, scale: float, offset: float) -> Batch:
    """A batch of ``target`` (B, H, 1) whose original units are ``scaled * scale + offset``."""
    rows = target.shape[0]
    ones = torch.ones(rows, 1, dtype=torch.float64)
    return Batch(
        past=torch.zeros(rows, 4, 1), future=torch.zeros(rows, target.shape[1], 0), static=torch.zeros(rows, 0),
        target=target, series=torch.zeros(rows, dtype=torch.long), time=torch.arange(rows),
        target_scale=scale * ones, target_offset=offset * ones, naive_scale=torch.ones(rows, 1),
    )  # fmt: skip


def test_a_second_validation_pass_reports_its_own_errors_in_original_units_too():
    """Two passes of the same metrics: the second's means, scaled and in original units, are of its batch alone."""
    metrics = PassMetrics(horizon=3, target_size=1, levels=())
    target = torch.zeros(2, 3, 1)
    for error in (5.0, 1.0):
        metrics.start("val")
        metrics.add(
            "val",
            _batch(target, scale=10.0, offset=3.0),
            torch.tensor(0.0),
            target + error,
            None,
        )
    means = metrics.overall_means("val")
    assert means["val/mae"].item() == pytest.approx(1.0)
    assert means["val/mae_orig"].item() == pytest.approx(10.0)  # |error| x scale of the second pass alone
    assert means["val/mse_orig"].item() == pytest.approx(100.0)


def test_a_bfloat16_models_metrics_are_float32_means_of_its_forecasts():
    """A bfloat16 model's forecasts: its logged means are float32, exact to float32 digits (not rounded to bfloat16's
    8 significant bits)."""
    metrics = PassMetrics(horizon=3, target_size=1, levels=())
    forecast = torch.tensor([[1.0, 1.0, 2.0]], dtype=torch.bfloat16)[..., None]
    target = torch.zeros_like(forecast)
    metrics.start("test")
    metrics.add(
        "test",
        _batch(target, scale=1.0, offset=0.0),
        torch.tensor(0.0, dtype=torch.bfloat16),
        forecast,
        None,
    )
    means = metrics.overall_means("test")
    values = np.array([1.0, 1.0, 2.0])  # a mean of 4/3, which bfloat16 holds as 1.336
    assert means["test/mae"].dtype == torch.float32
    assert means["test/mae"].item() == pytest.approx(values.mean(), rel=1e-6)
    assert means["test/mse"].item() == pytest.approx((values**2).mean(), rel=1e-6)


def test_a_resumed_epochs_mean_training_loss_starts_at_the_checkpoints_sums_alone():
    """The sums of a checkpoint written after one batch (loss 2, 6 targets) resume into metrics that hold a stale epoch
    (loss 5): the next batch (loss 1, 6 targets) makes the mean of the two batches of the resumed epoch alone."""
    target = torch.zeros(2, 3, 1)
    written = PassMetrics(horizon=3, target_size=1, levels=())
    written.add_loss("train", torch.tensor(2.0), _batch(target, 1.0, 0.0))
    resumed = PassMetrics(horizon=3, target_size=1, levels=())
    resumed.add_loss("train", torch.tensor(5.0), _batch(target, 1.0, 0.0))
    resumed.resume_train_loss(written.train_loss_sums())
    resumed.add_loss("train", torch.tensor(1.0), _batch(target, 1.0, 0.0))
    assert resumed.mean_loss("train").compute().item() == pytest.approx(np.average([2.0, 1.0], weights=[6, 6]))


def test_the_published_figures_are_those_of_the_benchmarks_readme_table():
    """Every cell of the README's ETTh1 table, MSE / MAE (FITS gives no MAE), in the order of its columns."""
    rows = re.findall(
        r"^\| (96|192|336|720) \| (0\.\d{3} .*) \|$",
        BENCHMARKS_README.read_text(),
        re.MULTILINE,
    )
    table = {
        int(horizon): [
            (float(mse), None if mae is None else float(mae))
            for mse, mae in (
                re.match(r"(0\.\d{3})(?: / (0\.\d{3}))?", cell.strip()).groups() for cell in cells.split("|")
            )
        ]
        for horizon, cells in rows
    }
    assert table == {horizon: list(models.values()) for horizon, models in published.PUBLISHED["etth1"].items()}


@pytest.fixture(scope="module")
def etth1_settings():
    return dict(TimeSeriesDataModule("etth1", 96, 96).hparams)


@pytest.mark.parametrize("role", ["targets", "past_covariates", "future_covariates", "static_covariates"])
def test_the_protocol_is_not_followed_where_a_column_has_a_role(role, etth1_settings):
    columns = etth1_settings["columns"] | {role: ["OT"]}
    assert published.standard_protocol("etth1", etth1_settings | {"columns": columns}) is False


@pytest.mark.parametrize(("batches", "every"), [([5], True), ([2], False), ([3, 2], False)])
def test_a_test_scored_every_window_only_where_it_ran_every_batch_of_its_loaders(batches, every):
    """A test loader of 5 batches (and one of 2 beside it): a limit of 2 batches ran some of them, not every one."""
    loaders = [range(5)] if len(batches) == 1 else [range(5), range(2)]
    trainer = SimpleNamespace(
        test_dataloaders=loaders,
        num_test_batches=batches if len(batches) == 1 else [2, 2],
    )
    assert published.tested_every_window(trainer) is every


def test_a_bfloat16_cast_of_the_metrics_keeps_their_sums_exact():
    """Metrics cast with their model to bfloat16: 256 windows off by 1 and one off by 3 make an MAE of 259 / 257; a
    bfloat16 sum holds 259 as 260."""
    metrics = PassMetrics(horizon=1, target_size=1, levels=()).to(torch.bfloat16)
    target = torch.zeros(257, 1, 1, dtype=torch.bfloat16)
    forecast = torch.ones_like(target)
    forecast[0] = 3.0
    metrics.start("test")
    metrics.add(
        "test",
        _batch(target, 1.0, 0.0),
        torch.tensor(0.0, dtype=torch.bfloat16),
        forecast,
        None,
    )
    assert metrics.overall_means("test")["test/mae"].item() == pytest.approx(259 / 257, rel=1e-6)


def test_set_dtype_casts_the_sums_of_the_metrics_as_asked():
    """torchmetrics' ``set_dtype`` is the one cast the sums follow: to float32, a mean loss sums in float32."""
    mean_loss = PassMetrics(horizon=1, target_size=1, levels=()).mean_loss("val")
    mean_loss.set_dtype(torch.float32)
    assert {value.dtype for value in mean_loss.metric_state.values()} == {torch.float32}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"hidden_size": True},
            "model.encoder.init_args.hidden_size=True is not a number; give one",
        ),
        (
            {"hidden_size": 4, "dropout": False},
            "model.encoder.init_args.dropout=False is not a number; give one",
        ),
        (
            {"hidden_size": 4, "bidirectional": 1},
            "model.encoder.init_args.bidirectional=1 is not a bool; give true or false",
        ),
        (
            {"hidden_size": 4, "layer_norm": 0},
            "model.encoder.init_args.layer_norm=0 is not a bool; give true or false",
        ),
    ],
)
def test_an_encoder_refuses_a_bool_for_a_number_and_a_number_for_a_flag_naming_the_key(options, message):
    """A YAML ``true`` is no size (it would build a hidden size of 1), and the CLI's ``1`` is no flag."""
    with pytest.raises(TypeError, match=re.escape(message)):
        GRUEncoder(input_size=2, **options)


def test_a_short_config_flag_and_its_value_apart_are_checked_for_linked_keys(tmp_path, monkeypatch):
    """``-c config.yaml`` (the value as the next argument, not joined as ``-cconfig.yaml``) is read as argparse reads
    it: its model's lookback is refused, naming the file and the data key to set, and nothing else."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text("model:\n  lookback: 48\n")
    message = (
        "config.yaml sets model.lookback, which the CLI takes from the data: "
        "set data.lookback instead (--data.lookback 48)"
    )
    with pytest.raises(ValueError, match=re.escape(message) + "$"):  # no word of sizes it does not set
        check_linked_keys(["fit", "-c", "config.yaml"], ["fit"])


def test_a_negative_fraction_after_a_tune_flag_is_its_value():
    """``--timeout -.5`` (argparse's negative number, a fraction too) is tune's value, not a flag for ``fit``."""
    options, fit_args, _ = parse_args(["--timeout", "-.5", "--trainer.max_epochs", "2"])
    assert (options.timeout, fit_args) == (-0.5, ["--trainer.max_epochs", "2"])


def test_tune_dash_h_prints_tunes_own_help(capsys):
    """``-h``, as ``--help``, is tune's: it prints tune's options, not a flag left for every trial's ``fit``."""
    with pytest.raises(SystemExit):
        parse_args(["-h"])
    assert "--n_trials" in capsys.readouterr().out


def test_the_space_of_several_search_files_is_named_by_the_last(tmp_path):
    """Two ``--search`` files: the space's errors name the last one, whose settings win."""
    first, last = tmp_path / "first.yaml", tmp_path / "last.yaml"
    first.write_text("n_trials: 3\n")
    last.write_text("space:\n  model.learning_rate: [0.001, 0.1]\n")
    assert parse_args(["--search", str(first), "--search", str(last)])[2] == str(last)


def test_a_storage_that_fails_on_its_last_attempt_raises_the_database_error(tmp_path):
    """A SQLite "file" that is a folder: the database's own error, at once with one attempt (no storage of None)."""
    with pytest.raises(sqlalchemy.exc.DBAPIError):
        rdb_storage(f"sqlite:///{tmp_path}", heartbeat_interval=60, attempts=1)


def test_a_running_trial_of_another_machine_is_not_failed():
    """A worker ``host:pid`` of another machine, whose pid is no process here, is left running."""
    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr("worker", f"{socket.gethostname()}-other:999999999")
    fail_orphaned_trials(study)
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING


@pytest.fixture
def mlflow_config(tmp_path, monkeypatch) -> tuple[str, dict]:
    """A tracking URI in a folder and a config whose ``MLFlowLogger`` logs there."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = f"file:{tmp_path / 'mlruns'}"
    logger = {"class_path": "lightning.pytorch.loggers.MLFlowLogger",
              "init_args": {"tracking_uri": uri, "experiment_name": "tiny"}}  # fmt: skip
    return uri, {"trainer": {"logger": logger}}


def test_the_best_value_is_logged_at_the_step_of_the_trials_the_study_has(mlflow_config):
    """Two trials: the best value is logged at step 2, so that its history follows the study's growth."""
    mlflow = pytest.importorskip("mlflow")
    uri, config = mlflow_config
    study = optuna.create_study(study_name="stepped")
    for value in (3.0, 1.0):
        study.add_trial(optuna.trial.create_trial(value=value))
    with StudyTracking.of(config, study) as tracking:
        tracking.log_results(study, study.best_trial, [])
    history = mlflow.MlflowClient(uri).get_metric_history(study.user_attrs["mlflow_run_id"], "best_value")
    assert [(metric.step, metric.value) for metric in history] == [(2, 1.0)]


def test_a_single_mlflow_logger_stays_one_logger_in_a_trials_settings(mlflow_config):
    """The config's one ``MLFlowLogger`` (no list): trial 2's ``trainer.logger`` is that logger, named and made a
    child of the study's run, not a list of it (the trial's saved config keeps the user's shape)."""
    pytest.importorskip("mlflow")
    _, config = mlflow_config
    study = optuna.create_study(study_name="single")
    with StudyTracking.of(config, study) as tracking:
        logger = tracking.trial_overrides(2)["trainer.logger"]
    assert logger["class_path"] == "lightning.pytorch.loggers.MLFlowLogger"
    assert logger["init_args"]["run_name"] == "single-trial-2"
    assert logger["init_args"]["tags"] == {"mlflow.parentRunId": study.user_attrs["mlflow_run_id"], "optuna.trial": 2}


def test_the_training_loss_sums_taken_are_not_moved_by_later_batches():
    """The sums a checkpoint takes in the middle of an epoch stay those of its batches so far (loss 2, 6 targets)."""
    metrics = PassMetrics(horizon=3, target_size=1, levels=())
    target = torch.zeros(2, 3, 1)
    metrics.add_loss("train", torch.tensor(2.0), _batch(target, 1.0, 0.0))
    sums = metrics.train_loss_sums()
    metrics.add_loss("train", torch.tensor(5.0), _batch(target, 1.0, 0.0))
    assert sorted(value.item() for value in sums.values()) == [6.0, 12.0]


def test_fit_flags_of_overrides_sort_a_class_before_its_init_args():
    """A trial's ``fit`` flags: the encoder class, then its ``init_args``, whatever order the space gave them."""
    overrides = {"model.encoder.init_args.hidden_size": 8, "model.encoder": "GRUEncoder"}
    assert override_args(overrides) == [
        "--model.encoder", "GRUEncoder", "--model.encoder.init_args.hidden_size", "8",
    ]  # fmt: skip


@pytest.mark.parametrize("value", [float("inf"), -float("inf"), float("nan")])
def test_an_infinite_or_nan_value_is_refused_as_no_finite_number(value):
    with pytest.raises(ValueError, match=re.escape(f"model.clip={value} must be a finite number")):
        check_finite("model.clip", value)


@pytest.mark.parametrize("key", ["season_length", "season_channel", "input_size"])
def test_a_model_size_flag_the_data_gives_is_refused_naming_it(key):
    with pytest.raises(ValueError, match=re.escape(f"--model.{key}: the CLI sets it from the data")):
        check_linked_flags(["fit", f"--model.{key}", "24"])


def test_a_command_line_holding_no_string_is_left_to_jsonargparse():
    """A ``Path`` among the arguments: jsonargparse refuses it by name, so the linked keys check nothing."""
    assert check_linked_keys(["fit", "--config", Path("config.yaml")], ["fit"]) is None


class _Model:
    def __init__(self, horizons: int = 1):
        """A model whose option is ``horizons``."""


class _Data:
    def __init__(self, horizon: int = 1):
        """Data whose option is ``horizon``."""


def test_a_misspelt_key_of_a_group_names_the_nearest_key_of_that_group():
    """``model: {horizon: 3}``: the model's ``horizons`` is meant, not the data's ``horizon`` of another group."""
    parser = ForecastArgumentParser(exit_on_error=False)
    parser.add_class_arguments(_Model, "model")
    parser.add_class_arguments(_Data, "data")
    message = "Group 'model' does not accept option 'horizon' (did you mean 'model.horizons'?)"
    with pytest.raises(argparse.ArgumentError, match=re.escape(message)):
        parser.parse_object({"model": {"horizon": 3}})
