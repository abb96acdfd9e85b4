import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from forecast.fit_config import override_args, print_config
from forecast.search_space import SearchSpace
from forecast.study_tracking import StudyTracking
from forecast.study_trials import TrialFits
from forecast.tune_args import TuneArgs

mlflow = pytest.importorskip("mlflow")

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
CSV_LOGGER = {"class_path": "lightning.pytorch.loggers.CSVLogger", "init_args": {"save_dir": "csv_logs"}}


@pytest.fixture
def mlflow_uri(tmp_path, monkeypatch) -> str:
    """A folder as MLflow tracking URI (the fastest store; MLflow 3 refuses one without the variable)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return f"file:{tmp_path / 'mlruns'}"


def mlflow_logger(uri: str, **init_args: Any) -> dict[str, Any]:
    """A config's ``MLFlowLogger`` entry logging to ``uri`` in the experiment ``tiny``."""
    return {"class_path": "lightning.pytorch.loggers.MLFlowLogger",
            "init_args": {"tracking_uri": uri, "experiment_name": "tiny", **init_args}}  # fmt: skip


def test_study_tracking_makes_the_study_run_with_the_mlflow_logger_of_a_list(mlflow_uri):
    config = {"trainer": {"logger": [CSV_LOGGER, mlflow_logger(mlflow_uri)]}}
    study = optuna.create_study(study_name="listed")
    with StudyTracking.of(config, study):
        pass
    run = mlflow.MlflowClient(mlflow_uri).get_run(study.user_attrs["mlflow_run_id"])
    assert (run.info.run_name, run.info.status) == ("listed", "FINISHED")


def test_study_tracking_trial_overrides_reach_the_mlflow_logger_of_a_list(mlflow_uri):
    """Through the real CLI: the MLflow logger, first in the list (where a ``trainer.logger.init_args`` flag
    would miss it), gets the trial's name, the user's tags and the parent; the CSV logger keeps its folder."""
    loggers = [mlflow_logger(mlflow_uri, tags={"team": "forecast"}), CSV_LOGGER]
    study = optuna.create_study(study_name="listed")
    with StudyTracking.of({"trainer": {"logger": loggers}}, study) as tracking:
        overrides = override_args(tracking.trial_overrides(3))
    fit_args = ["fit", "--config", QUICKSTART, "--trainer.logger", json.dumps(loggers), *overrides]
    mlflow_args, csv_args = (
        logger["init_args"] for logger in yaml.safe_load(print_config(fit_args))["trainer"]["logger"]
    )
    assert mlflow_args["run_name"] == "listed-trial-3"
    assert mlflow_args["tags"] == {"team": "forecast", "mlflow.parentRunId": study.user_attrs["mlflow_run_id"],
                                   "optuna.trial": 3}  # fmt: skip
    assert csv_args["save_dir"] == "csv_logs"


def test_study_tracking_gives_the_study_run_the_logger_tags(mlflow_uri):
    """Filtering runs by the tags every trial run has finds the study's run too."""
    config = {"trainer": {"logger": mlflow_logger(mlflow_uri, tags={"team": "forecast"})}}
    study = optuna.create_study(study_name="tagged")
    with StudyTracking.of(config, study):
        pass
    client = mlflow.MlflowClient(mlflow_uri)
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id], "tags.team = 'forecast'")
    assert [run.info.run_id for run in runs] == [study.user_attrs["mlflow_run_id"]]


def test_study_tracking_names_the_best_trial_of_the_best_yaml_it_keeps(mlflow_uri, tmp_path, monkeypatch):
    """Another worker's trial may complete while the results are written (the plots take seconds): the study's
    run gives the value and number of the trial its best.yaml artifact trains, not those of the later trial."""
    study = optuna.create_study(study_name="raced")
    recorded = {"overrides": {}, "seed": 0, "fit_args": ["--config", QUICKSTART]}
    study.add_trial(optuna.trial.create_trial(value=2.0, user_attrs=recorded))
    read = study.trials_dataframe

    def read_as_another_completes(*args, **kwargs):
        study.add_trial(optuna.trial.create_trial(value=1.0, user_attrs=recorded))
        return read(*args, **kwargs)

    monkeypatch.setattr(study, "trials_dataframe", read_as_another_completes)
    space = SearchSpace({"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}})
    with StudyTracking.of({"trainer": {"logger": mlflow_logger(mlflow_uri)}}, study) as tracking:
        TrialFits(space, TuneArgs(), [], tmp_path, tracking).write_results(study)
    assert (tmp_path / "best.yaml").read_text().startswith("# Best trial 0 of study 'raced': 2.")
    run = mlflow.MlflowClient(mlflow_uri).get_run(study.user_attrs["mlflow_run_id"])
    assert (run.data.tags["best_trial"], run.data.metrics["best_value"]) == ("0", 2.0)
