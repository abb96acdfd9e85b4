"""A study as an MLflow run whose children are its trials' runs.

When the config's ``trainer.logger`` is Lightning's ``MLFlowLogger``, or a list of loggers that holds
one, every trial's fit logs its own MLflow run (parameters, per-epoch metrics) through it (the first one
of a list); ``forecast tune`` makes the study one more run in the same experiment with the same
``tags``, the parent of the trials' runs (MLflow's ``mlflow.parentRunId`` tag), and gives it the
study's results: best value and parameters, ``trials.csv``, ``best.yaml``, plots.
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
    """The study's MLflow run, made with the config's ``MLFlowLogger`` arguments (tracking URI, experiment,
    tags); ``with`` it around a process's work on the study, which ends the run.

    Args:
        logger: the config's ``trainer.logger``: an ``MLFlowLogger``'s ``class_path`` and ``init_args``, or a
            list of loggers that holds one (the first one is used).
        study: the study; a run is made for it unless it names one already.

    Raises:
        ValueError: ``logger`` holds no ``MLFlowLogger``.
    """

    def __init__(self, logger: dict[str, Any] | list[dict[str, Any]], study: optuna.Study):
        self.config_logger, self.study_name = logger, study.study_name
        self.position = next((i for i, entry in enumerate(_entries(logger)) if _is_mlflow(entry)), None)
        if self.position is None:
            raise ValueError(f"trainer.logger holds no {MLFlowLogger.__name__}: {logger!r}; add one to log the study")
        self.logger_args = dict(_entries(logger)[self.position].get("init_args") or {})
        run_id = study.user_attrs.get(_RUN_ID)
        # a copy: MLFlowLogger writes its run name into the tags it is given, and the trials' tags start from these
        tags = dict(self.logger_args.get("tags") or {})
        self.logger = MLFlowLogger(
            **(self.logger_args | {"run_name": study.study_name, "run_id": run_id, "tags": tags})
        )
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
        return cls(logger, study) if any(_is_mlflow(entry) for entry in _entries(logger)) else None

    def trial_overrides(self, number: int) -> dict[str, Any]:
        """``fit`` overrides that make trial ``number``'s run a named child of the study's run.

        They give the whole ``trainer.logger``, the other loggers of a list as they are, because a flag such
        as ``trainer.logger.init_args.tags`` sets the last logger of a list, which need not be the MLflow one.
        """
        tags = (self.logger_args.get("tags") or {}) | {"mlflow.parentRunId": self.logger.run_id, "optuna.trial": number}
        init_args = self.logger_args | {"run_name": f"{self.study_name}-trial-{number}", "tags": tags}
        entries = [
            entry | {"init_args": init_args} if i == self.position else entry
            for i, entry in enumerate(_entries(self.config_logger))
        ]
        return {"trainer.logger": entries if isinstance(self.config_logger, list) else entries[0]}

    def log_results(self, study: optuna.Study, best: optuna.trial.FrozenTrial | None, files: Sequence[Path]) -> None:
        """Logs ``best``'s value, number and parameters and ``files`` as artifacts on the study's run.

        Args:
            study: the study.
            best: the trial ``best.yaml`` (among ``files``) trains, read once as it was written, since other
                processes may complete a better one meanwhile; ``None`` before a trial completed.
            files: the results written (``study_results.write_results``).
        """
        client, run_id = self.logger.experiment, self.logger.run_id
        if best is not None:
            client.log_metric(run_id, "best_value", best.value, step=len(study.get_trials(deepcopy=False)))
            client.set_tag(run_id, "best_trial", best.number)
            client.set_tag(run_id, "best_params", str(best.params))
        for path in files:
            client.log_artifact(run_id, str(path))


def _entries(logger: Any) -> list[Any]:
    """The loggers of a config's ``trainer.logger``: one, a list of them, or a flag such as ``true``."""
    return logger if isinstance(logger, list) else [logger]


def _is_mlflow(entry: Any) -> bool:
    """Whether a config's logger entry (``class_path`` and ``init_args``) is an ``MLFlowLogger``."""
    return isinstance(entry, dict) and str(entry.get("class_path", "")).endswith(MLFlowLogger.__name__)
