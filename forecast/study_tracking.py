"""A study as an MLflow run whose children are its trials' runs.

When the config's ``trainer.logger`` is Lightning's ``MLFlowLogger``, every trial's fit logs its
own MLflow run (parameters, per-epoch metrics) through it; ``forecast tune`` makes the study one more
run in the same experiment, the parent of the trials' runs (MLflow's ``mlflow.parentRunId`` tag),
and gives it the study's results: best value and parameters, ``trials.csv``, ``best.yaml``, plots.
Every worker of a study finds the same parent run through the study's user attribute
``mlflow_run_id``. Each process marks the run RUNNING while it works on the study (a rerun's too)
and, as a context manager around that work, ends it FINISHED, or FAILED when the study stops on an
error, as MLflow's own ``start_run`` ends a run.
"""

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import optuna
from lightning.pytorch.loggers import MLFlowLogger

__all__ = ["StudyTracking"]

_RUN_ID = "mlflow_run_id"


class StudyTracking:
    """The study's MLflow run, made with the config's ``MLFlowLogger`` arguments (tracking URI, experiment);
    ``with`` it around a process's work on the study, which ends the run.

    Args:
        logger_args: the ``init_args`` of the config's ``trainer.logger``.
        study: the study; a run is made for it unless it names one already.
    """

    def __init__(self, logger_args: dict[str, Any], study: optuna.Study):
        self.logger_args, self.study_name = logger_args, study.study_name
        run_id = study.user_attrs.get(_RUN_ID)
        self.logger = MLFlowLogger(**(logger_args | {"run_name": study.study_name, "run_id": run_id, "tags": None}))
        if run_id is None:
            study.set_user_attr(_RUN_ID, self.logger.run_id)
        else:  # resumed or joined: an earlier process may have ended the run
            self.logger.experiment.update_run(run_id, status="RUNNING")

    def __enter__(self) -> "StudyTracking":
        return self

    def __exit__(
        self, error_type: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        """Ends the study's run: FINISHED, or FAILED when the study stopped on an error (Ctrl-C included)."""
        self.logger.experiment.set_terminated(self.logger.run_id, "FINISHED" if error_type is None else "FAILED")

    @classmethod
    def of(cls, config: dict[str, Any], study: optuna.Study) -> "StudyTracking | None":
        """The study's run when ``config`` (a ``--print_config`` dict) logs to MLflow, else ``None``."""
        logger = (config.get("trainer") or {}).get("logger")
        if not (isinstance(logger, dict) and logger.get("class_path", "").endswith(MLFlowLogger.__name__)):
            return None
        return cls(dict(logger.get("init_args") or {}), study)

    def trial_overrides(self, number: int) -> dict[str, Any]:
        """``fit`` overrides that make trial ``number``'s run a named child of the study's run."""
        tags = (self.logger_args.get("tags") or {}) | {"mlflow.parentRunId": self.logger.run_id, "optuna.trial": number}
        return {
            "trainer.logger.init_args.run_name": f"{self.study_name}-trial-{number}",
            "trainer.logger.init_args.tags": tags,
        }

    def log_results(self, study: optuna.Study, files: Sequence[Path]) -> None:
        """Logs the best value and parameters (when a trial completed) and ``files`` as artifacts on the study's run."""
        client, run_id = self.logger.experiment, self.logger.run_id
        states = (optuna.trial.TrialState.COMPLETE,)
        if study.get_trials(deepcopy=False, states=states):
            client.log_metric(run_id, "best_value", study.best_value, step=len(study.trials))
            client.set_tag(run_id, "best_trial", study.best_trial.number)
            client.set_tag(run_id, "best_params", str(study.best_params))
        for path in files:
            client.log_artifact(run_id, str(path))
