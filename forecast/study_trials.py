"""A study's trials: each one a ``fit`` of the config with the trial's values (:class:`TrialFits`, the
objective), scored by the validations that :class:`TrialPruning` reports; the settings tune gives every
trial's fit (``TUNE_SETS``), which neither a search space nor a fit flag may change, nor take away the
checkpoint a trial is scored by.
"""

import contextlib
import math
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import optuna
from lightning.fabric.utilities.seed import max_seed_value
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from .checkpointing import read_checkpoint
from .cli import main as cli_main
from .comparison import NaiveComparison
from .fit_config import override_args, print_config
from .losses import MSELoss
from .model import Forecaster
from .search_space import SearchSpace
from .study_results import write_results
from .study_tracking import StudyTracking
from .tune_args import TuneArgs

__all__ = [
    "TUNE_SETS", "Terminated", "TrialFits", "TrialPruning", "check_keeps_checkpoint", "check_tune_sets", "trial_seed",
]  # fmt: skip

# The trials that count towards n_trials: finished or still running, and (TrialFits.spent) those failed in this
# run of the study; a rerun runs others in place of an earlier run's failed ones.
COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
# How the error of a trial that lost the race for the last one begins: it never ran, and counts for nothing.
NOT_FITTED = "not fitted: "
# The keys tune sets in every trial's fit (TrialFits.fit_flags), which a search space may not: what to use instead.
TUNE_SETS = {
    "trainer.default_root_dir": "--run_dir (trial N fits in its trials/N)",
    "seed_everything": "--seed (trial N fits with seed_everything seed + N, trial_seed)",
    "checkpoint.monitor": "--metric",
    "checkpoint.mode": "--direction",
    "checkpoint.save_on_train_epoch_end": "nothing (tune checkpoints after every validation)",
    "checkpoint.every_n_epochs": "nothing (tune checkpoints after every validation)",
    "checkpoint.every_n_train_steps": "nothing (tune checkpoints after every validation)",
    "checkpoint.train_time_interval": "nothing (tune checkpoints after every validation)",
}
# How check_completed counts the trials of a study that has no complete or running one.
_STATE_WORDS = {
    optuna.trial.TrialState.FAIL: "failed",
    optuna.trial.TrialState.PRUNED: "pruned",
    optuna.trial.TrialState.WAITING: "enqueued",
}


def check_tune_sets(searched: set[str], fit_args: Sequence[str], source: str) -> None:
    """Refuses a key that tune sets in every trial (``TUNE_SETS``), searched or given as a fit flag: tune would
    override it.

    Raises:
        ValueError: naming the key (or flag) and the tune option to use instead.
    """
    if tune_set := sorted(searched & set(TUNE_SETS)):
        key = tune_set[0]
        raise ValueError(f"{source}: {key!r} is set by tune in every trial; drop it and use {TUNE_SETS[key]}")
    # trainer.default_root_dir on the command line is the root of tune's run directories, not a trial's
    if overridden := [arg for arg in fit_args if _flag_name(arg) in TUNE_SETS.keys() - {"trainer.default_root_dir"}]:
        flag = overridden[0].split("=")[0]
        raise ValueError(f"{flag} is set by tune in every trial; drop it and use {TUNE_SETS[_flag_name(flag)]}")


def check_keeps_checkpoint(space: SearchSpace, config: dict[str, Any], source: str) -> None:
    """Refuses ``checkpoint.save_top_k`` 0 in any trial, from the space or from the config (``--config`` or a
    flag) where the space leaves the key unset: such a trial keeps no checkpoint of its best validation, the
    one its score is, so the study's best trial could be neither tested nor loaded (``trials.csv``'s
    ``checkpoint`` stays empty), nor scored by the naive forecast its checkpoint would fall back to.

    Raises:
        ValueError: naming the key, where its 0 comes from, and the values to use instead.
    """
    key = "checkpoint.save_top_k"
    setters = [param for param in space.params if key in (param.key, *param.also)]
    for param in setters:
        if param.may_take(0):
            entry = repr(key) if param.key == key else f"{param.key!r} (its `also` key {key!r})"
            raise ValueError(
                f"{source}: {entry} may be 0 in a trial, which then keeps no checkpoint to test or load its score's "
                "weights from; search values of 1 or more (-1 keeps every checkpoint)"
            )
    every_trial_sets_it = any(not param.when for param in setters)
    if not every_trial_sets_it and (config.get("checkpoint") or {}).get("save_top_k") == 0:
        trials = "a trial where the space does not set it" if setters else "every trial"
        raise ValueError(
            f"{key} is 0 in the config (--config or --{key}), so {trials} keeps no checkpoint to test or load its "
            f"score's weights from; pass --{key} 1 or more (-1 keeps every checkpoint)"
        )


class TrialPruning(Callback):
    """Reports each validation's ``monitor`` (one an epoch by default) to an Optuna trial, and stops the fit when the
    pruner says so.

    The decision is the study's pruner's (``trial.should_prune``); the ``optuna.TrialPruned`` raised
    here leaves Lightning's fit as any exception does, and Optuna records the trial as pruned.
    ``scores`` keeps every validation's value: the network's score is the best of them, the one its
    checkpoint keeps (``TrialFits.fit_flags`` checkpoints after every validation). Only the fit's
    validations count, not the ``validate`` that scores a checkpoint's naive fallback.

    ``epochs`` counts the epochs trained, whatever the validation schedule (``trials.csv``'s column).
    ``checkpoint`` is, once the pruner stopped the fit, the file its checkpoint held as best then (the best of
    the validations before the pruned one, which saved none), as a complete trial records its own; empty where
    none was saved.

    Args:
        trial: the running trial.
        monitor: the logged metric, e.g. ``val/loss``.

    Raises:
        ValueError: ``monitor`` was not logged at the end of validation.
    """

    def __init__(self, trial: optuna.Trial, monitor: str):
        self.trial, self.monitor, self.scores = trial, monitor, []
        self.epochs = 0.0  # trained so far: a fraction within an epoch, where a validation may prune the trial
        self.checkpoint = ""

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self.epochs = round(trainer.current_epoch + (batch_idx + 1) / trainer.num_training_batches, 3)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        if self.monitor not in trainer.callback_metrics:
            raise ValueError(f"metric={self.monitor!r} was not logged; logged: {sorted(trainer.callback_metrics)}")
        score = float(trainer.callback_metrics[self.monitor])
        # Each validation its own step: the epoch when it validates once an epoch (the default), and no step
        # reported twice when it validates more often (trainer.val_check_interval below an epoch).
        step = len(self.scores)
        self.scores.append(score)
        self.trial.report(score, step=step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after validation {step} at {self.monitor}={score:.6g}")

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, optuna.TrialPruned):
            self.checkpoint = _scored_checkpoint(trainer, self.monitor).best_model_path


def _scored_checkpoint(trainer: L.Trainer, monitor: str) -> ModelCheckpoint:
    """The checkpoint callback of a trial's fit that keeps its best validation's ``monitor``: the ``checkpoint``
    key's (``TrialFits.fit_flags`` sets its monitor), not one of the user's ``trainer.callbacks``."""
    return next(callback for callback in trainer.checkpoint_callbacks if callback.monitor == monitor)


def trial_seed(seed: int, number: int) -> int:
    """The ``seed_everything`` seed of trial ``number`` of a study of ``seed``: seed + number, wrapped around into the
    seeds Lightning takes (0 to ``max_seed_value``), so that a study seeded near the top fails none of its trials."""
    return (seed + number) % (max_seed_value + 1)


@dataclass
class TrialFits:
    """The objective: each trial is a ``fit`` of the config with the trial's values, seed and run directory.

    Args:
        space: the study's search space.
        args: the study's options.
        fit_args: every trial's ``fit`` flags before its own.
        run_dir: the study's run directory; trial N runs in ``trials/N``.
        tracking: the study's MLflow run when the config logs to MLflow, else ``None``.
        run_start: the number of this run's first trial: failed trials from it on count towards
            ``n_trials``, earlier ones (an earlier run's) do not.
    """

    space: SearchSpace
    args: TuneArgs
    fit_args: Sequence[str]
    run_dir: Path
    tracking: StudyTracking | None
    run_start: int = 0

    def spent(self, trials: Sequence[optuna.trial.FrozenTrial]) -> int:
        """How many of ``trials`` (of every process of the study) count towards ``n_trials``: the complete,
        pruned and running ones, and those failed in this run (but not those failed unfitted)."""
        return sum(trial.state in COUNTED or self._failed_in_run(trial) for trial in trials)

    def _failed_in_run(self, trial: optuna.trial.FrozenTrial) -> bool:
        return (
            trial.state == optuna.trial.TrialState.FAIL
            and trial.number >= self.run_start
            and not trial.user_attrs.get("error", "").startswith(NOT_FITTED)
        )

    def stop_when_spent(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Optuna's callback after each trial: stops this process once the study has spent its ``n_trials``."""
        if self.spent(study.get_trials(deepcopy=False)) >= self.args.n_trials:
            study.stop()

    def __call__(self, trial: optuna.Trial) -> float:
        """Fits the trial and returns its score (``best_score``, or ``naive_score`` when its checkpoint fell back to
        a naive forecast, named in its ``naive_fallback``); an error is recorded on the trial, then raised.

        Ctrl-C fails the trial and raises ``KeyboardInterrupt``, which stops the study.

        A trial asked for once the study already had ``n_trials`` counted trials before it (processes
        racing for the last one: ``stop_when_spent`` counts after each trial) stops this process and
        fails at once, unfitted, with that said in its ``error``.
        """
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        before = self.spent([other for other in trial.study.get_trials(deepcopy=False) if other.number < trial.number])
        if before >= self.args.n_trials:
            trial.study.stop()
            message = f"{NOT_FITTED}the study had its n_trials={self.args.n_trials} trials when this one began"
            trial.set_user_attr("error", message)
            raise RuntimeError(message)
        try:
            return self._fit(trial)
        except optuna.TrialPruned:
            raise
        except SystemExit as exit_:
            stopped_by = _stopped_by(exit_)
            if stopped_by is None:
                raise
            # Lightning answers Ctrl-C with exit status 1, and SIGTERM (``timeout``, ``kill``, a scheduler ending the
            # job) with its SIGTERMException: in a fit each was taken for a failed fit and the study went on to its
            # next trial; in the naive fallback's validate Ctrl-C left the trial running in the storage.
            trial.set_user_attr("error", f"KeyboardInterrupt: stopped by {stopped_by}")
            stop = Terminated if stopped_by == "SIGTERM" else KeyboardInterrupt
            raise stop(f"stopped by {stopped_by}") from exit_  # Optuna fails the trial and stops the study
        except KeyboardInterrupt as stop:  # outside a fit (its parsing, sampling): Optuna fails the trial
            trial.set_user_attr("error", f"KeyboardInterrupt: stopped by {_stop_name(stop)}")
            raise
        except Exception as error:
            trial.set_user_attr("error", f"{type(error).__name__}: {error}"[:2000])
            raise

    def _fit(self, trial: optuna.Trial) -> float:
        """Samples the trial's values, records what ``best.yaml`` needs to train it again, fits it and scores it."""
        overrides = self.space.overrides(self.space.suggest(trial))
        # best.yaml's values and seed, even if the space changes later or another process writes it
        trial.set_user_attr("overrides", overrides)
        trial.set_user_attr("seed", trial_seed(self.args.seed, trial.number))
        trial.set_user_attr("fit_args", list(self.fit_args))  # and its own fit flags, whoever ran it
        trial.set_user_attr("cwd", os.getcwd())  # where their relative paths (--config, data.source) lead
        trial_args = self.fit_flags(trial_seed(self.args.seed, trial.number), overrides, self._fixed(trial.number))
        pruning = TrialPruning(trial, self.args.metric)
        try:
            cli = cli_main(trial_args, trainer_defaults={"callbacks": [pruning]})
        except optuna.TrialPruned:
            if pruning.checkpoint:
                trial.set_user_attr("checkpoint", pruning.checkpoint)
            raise
        except SystemExit as exit_:
            if _stopped_by(exit_):
                raise
            print_config(trial_args)  # raises the CLI's message as a ValueError
            raise ValueError(f"fit exited with status {exit_.code}") from exit_
        finally:
            trial.set_user_attr("epochs", pruning.epochs)  # a pruned or failed trial's too
        checkpoint = _scored_checkpoint(cli.trainer, self.args.metric)
        trial.set_user_attr("checkpoint", checkpoint.best_model_path)
        # before the network's score, which fails a trial whose every validation was NaN: its checkpoint
        # (the first NaN epoch's, which lost to the naive forecasts) may still forecast a finite naive forecast
        fallback = self.naive_score(cli.trainer, cli.model, checkpoint.best_model_path)
        if fallback is None:
            return self.best_score(pruning.scores)  # raises when no validation gave a number
        trial.set_user_attr("naive_fallback", fallback[0])
        return fallback[1]

    def _fixed(self, number: int) -> dict[str, Any]:
        """The fit settings of trial ``number`` that are not the user's: its run directory, no epoch progress bar
        unless the user asks for one (the trials' bar replaces it), its MLflow run as a child of the study's."""
        fixed = {"trainer.default_root_dir": str(self.run_dir / "trials" / str(number))}
        if not any(arg.startswith("--trainer.enable_progress_bar") for arg in self.fit_args):
            fixed["trainer.enable_progress_bar"] = False
        if self.tracking is not None:
            fixed |= self.tracking.trial_overrides(number)
        return fixed

    def check_completed(self, study: optuna.Study) -> None:
        """Raises when ``study`` has no complete trial and none still running in another process: nothing was
        tuned and no ``best.yaml`` written, which a script or CI job learns only from the exit status.

        Raises:
            ValueError: no trial completed, quoting the first failed trial's error (this run's, when it had one).
        """
        trials = study.get_trials(deepcopy=False)
        states = [trial.state for trial in trials]
        if optuna.trial.TrialState.COMPLETE in states or optuna.trial.TrialState.RUNNING in states:
            return
        counts = ", ".join(f"{states.count(state)} {_STATE_WORDS[state]}" for state in dict.fromkeys(states))
        message = f"no trial of study {study.study_name!r} completed ({counts or 'it has none'}): nothing was tuned"
        failed = [trial for trial in trials if self._failed_in_run(trial)]
        failed = failed or [trial for trial in trials if trial.state == optuna.trial.TrialState.FAIL]
        if failed:
            error = failed[0].user_attrs.get("error", "no error recorded")
            message += f"; trial {failed[0].number} failed with {error}"
        elif optuna.trial.TrialState.PRUNED in states:
            message += "; the pruner stopped every trial that ran: check --pruner"
        raise ValueError(f"{message} (all trials: {self.run_dir / 'trials.csv'})")

    def best_score(self, scores: Sequence[float]) -> float:
        """The network's score: the best of its validations' ``metric`` (NaN ones aside).

        Raises:
            ValueError: no validation ran, or every one gave NaN.
        """
        numbers = [score for score in scores if not math.isnan(score)]
        if not numbers:
            reason = f"every validation's {self.args.metric} was NaN" if scores else "no validation ran"
            raise ValueError(f"{reason}; check trainer.limit_val_batches and the data's validation part")
        return min(numbers) if self.args.direction == "minimize" else max(numbers)

    def naive_score(self, trainer: L.Trainer, model: Forecaster, path: str) -> tuple[str, float] | None:
        """The naive forecast that the trial's checkpoint ``path`` forecasts instead of its network, and its
        validation ``metric``; ``None`` when the checkpoint forecasts with its network (or there is none).

        Under ``naive_comparison.fallback`` a checkpoint whose network fell short of the better naive forecast
        on validation forecasts that one (``NaiveComparison``): the trial is scored by that forecast, not by
        its network. The score is the comparison's own validation MSE when ``metric`` is that MSE
        (``val/mse``, or ``val/loss`` of an ``MSELoss``), else a ``validate`` of the checkpoint (on the
        trial's own logger).
        """
        comparison = next((callback for callback in trainer.callbacks if isinstance(callback, NaiveComparison)), None)
        if comparison is None or not comparison.fallback or not path:
            return None
        period = read_checkpoint(path, Forecaster).get("naive_fallback")
        if period is None:
            return None
        name = next(name for name, steps in comparison.periods.items() if steps == period)
        if self.args.metric == "val/mse" or (self.args.metric == "val/loss" and isinstance(model.loss, MSELoss)):
            return name, comparison.naive[name]
        trainer.validate(model, datamodule=trainer.datamodule, ckpt_path=path, verbose=False)
        return name, float(trainer.callback_metrics[self.args.metric])

    def fit_flags(
        self, seed: int, overrides: dict[str, Any], fixed: dict[str, Any], fit_args: Sequence[str] | None = None
    ) -> list[str]:
        """``fit``'s flags for a trial: the user's (``fit_args``, by default this process's), then ``fixed``,
        its ``seed`` (``seed_everything``) and score, then its ``overrides`` (CLI key -> value,
        ``SearchSpace.overrides``)."""
        fixed = fixed | {
            "seed_everything": seed,
            "checkpoint.monitor": self.args.metric,
            "checkpoint.mode": "min" if self.args.direction == "minimize" else "max",
            # after every validation, as the score is its best one: at a train epoch's end it misses those within
            # the epoch, every_n_epochs > 1 those of the epochs between, and a step or time schedule may save
            # none (or save the weights of later steps with an earlier validation's score)
            "checkpoint.save_on_train_epoch_end": False,
            "checkpoint.every_n_epochs": 1,
            "checkpoint.every_n_train_steps": 0,
            "checkpoint.train_time_interval": None,
        }
        fit_args = self.fit_args if fit_args is None else fit_args
        return ["fit", *fit_args, *override_args(fixed), *override_args(overrides)]

    def write_results(self, study: optuna.Study) -> None:
        """Writes the study's results (``best.yaml`` from the best trial's flags) and hands them to MLflow.

        The best trial's values, seed and fit flags are those it recorded when it ran (its ``overrides``,
        ``seed`` and ``fit_args`` attributes: a rerun or another worker may have another ``--seed`` or other
        flags); a trial of an older study without them is given its parameters and the space's ``also`` keys,
        and this process's seed and flags. Its flags are read in its working directory (``cwd``), where it
        read them, since their relative paths (``--config``, ``data.source``) lead from there; in this
        process's when that directory is not on this machine.
        """
        best = best_config = None
        if study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            best = study.best_trial  # read once: best.yaml's header and body are this trial's
            overrides = best.user_attrs.get("overrides") or self.space.overrides(best.params)
            seed = best.user_attrs.get("seed", trial_seed(self.args.seed, best.number))
            flags = self.fit_flags(seed, overrides, {}, best.user_attrs.get("fit_args"))
            with _working_directory(best.user_attrs.get("cwd")):
                best_config = print_config(flags)
        files = write_results(study, self.run_dir, best, best_config)
        if self.tracking is not None:
            self.tracking.log_results(study, best, files)


@contextlib.contextmanager
def _working_directory(path: str | None) -> Iterator[None]:
    """Runs the block in directory ``path``, then returns to this one; stays here when ``path`` is ``None``
    or not a directory of this machine (a trial of another machine's worker)."""
    if path is None or not Path(path).is_dir():
        yield
        return
    previous = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


class Terminated(KeyboardInterrupt):
    """A stop by SIGTERM (``timeout``, ``kill``, a scheduler ending the job), taken as Ctrl-C is: the running trial
    fails and the study stops; ``tune`` also stops the processes that ``--n_jobs`` started, which a SIGTERM to it
    alone does not reach (Ctrl-C in a terminal reaches them all)."""


def _stopped_by(exit_: SystemExit) -> str | None:
    """What stopped a run that Lightning exited from: "SIGTERM" (its ``SIGTERMException``), "Ctrl-C" (its exit after a
    ``KeyboardInterrupt``), or ``None``: no stop, a failed fit or a refusal."""
    if isinstance(exit_, SIGTERMException):
        return "SIGTERM"
    return "Ctrl-C" if isinstance(exit_.__context__, KeyboardInterrupt) else None


def _stop_name(stop: KeyboardInterrupt) -> str:
    """What raised ``stop``: "SIGTERM" (``Terminated``) or "Ctrl-C"."""
    return "SIGTERM" if isinstance(stop, Terminated) else "Ctrl-C"


def _flag_name(arg: str) -> str:
    """The dotted key of a command-line flag (``--a.b=1`` -> ``a.b``); empty for a value."""
    return arg.lstrip("-").split("=")[0] if arg.startswith("--") else ""
