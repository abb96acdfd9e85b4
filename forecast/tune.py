"""``python -m forecast tune``: an Optuna study whose every trial is a ``fit`` of the config.

    python -m forecast tune --config configs/etth1/segrnn_gru.yaml --search configs/tune/segrnn_gru_search.yaml \\
        --n_trials 40 --trainer.max_epochs 10

Flags named in :class:`TuneArgs` (and the ``--search`` YAML, which may set any of them) steer the study;
every other flag (``--config``, ``--trainer.max_epochs 5``, ``--data.horizon 192``) goes to each trial's
``fit``, followed by the trial's values. A trial is scored on the validation split only, by what its
checkpoint forecasts: the best validation's ``metric`` (one validation an epoch by default), which is its
checkpoint's score, as tune checkpoints after every validation (it sets ``checkpoint.every_n_epochs`` 1 and
no step or time schedule in every trial, over the config's); or, when that checkpoint forecasts a naive
forecast instead of its network (``naive_comparison.fallback``), that naive forecast's validation ``metric``.
Trials compare only under one horizon, validation windows and schedule, so a space may not search those
settings (``forecast.study_scoring.UNRANKED``), nor the targets' scaling unless ``metric`` is in original
units (``val/mse_orig``).
The study lives in an Optuna storage (SQLite in the run directory unless ``--storage`` names another
database), so a killed study resumes with the same ``--study_name`` (and the same metric and validation
settings, ``forecast.study_scoring.SCORED``: a rerun with another ``--data.horizon`` is refused, as its
values would not compare)
and several processes, on one machine or many, share one study.

The run directory (``<trainer.default_root_dir>/tune/<study_name>`` unless ``--run_dir``) holds
``study.db``, ``trials/N/`` (each trial's fit: logs, config, checkpoints) and what
:mod:`forecast.study_results` writes: ``trials.csv``, ``best.yaml`` and the plots.
"""

import contextlib
import io
import math
import os
import re
import socket
import subprocess
import sys
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import lightning as L
import optuna
import yaml
from jsonargparse import ActionConfigFile, ArgumentParser
from lightning.fabric.utilities.seed import max_seed_value
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.tuner import Tuner
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .checkpointing import read_checkpoint
from .cli import main as cli_main
from .comparison import NaiveComparison
from .losses import MSELoss
from .model import Forecaster
from .search_space import SearchSpace
from .study_results import write_results
from .study_scoring import check_ranked, check_scored_on, cli_value, scored_on
from .study_storage import fail_orphaned_trials, rdb_storage
from .study_tracking import StudyTracking

__all__ = ["TrialFits", "TrialPruning", "TuneArgs", "config_keys", "find_lr", "main", "print_config", "tune"]


# The trials that count towards n_trials: finished or still running, and (TrialFits.spent) those failed in this
# run of the study; a rerun runs others in place of an earlier run's failed ones.
COUNTED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.RUNNING)
# How the error of a trial that lost the race for the last one begins: it never ran, and counts for nothing.
NOT_FITTED = "not fitted: "
# The keys tune sets in every trial's fit (TrialFits.fit_flags), which a search space may not: what to use instead.
TUNE_SETS = {
    "trainer.default_root_dir": "--run_dir (trial N fits in its trials/N)",
    "seed_everything": "--seed (trial N fits with seed_everything seed + N)",
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
# A value, not a flag, though it begins with "-": argparse's own rule (its _negative_number_matcher), which tune's
# parser and fit's both follow, so that `--seed -1` splits as they read it.
NEGATIVE_NUMBER = re.compile(r"-\d+|-\d*\.\d+")
# The environment variable that gives a process started by --n_jobs its parent's first trial number, so that
# the processes of one run count the same failed trials.
RUN_START = "FORECAST_TUNE_RUN_START"


@dataclass
class TuneArgs:
    """The options of ``forecast tune``; any other flag goes to every trial's ``fit``.

    Args:
        space: CLI key -> range or choice (see ``forecast.search_space``); usually from ``--search``.
        metric: the logged validation metric (``val/...``) to optimize, of the best validation (epoch), or of the naive
            forecast that the trial's checkpoint forecasts when it fell back to one.
        direction: whether a lower or a higher ``metric`` is better.
        sampler: an ``optuna.samplers`` class; default TPESampler seeded with ``seed``.
        pruner: an ``optuna.pruners`` class (MedianPruner, HyperbandPruner...) that stops trials on
            each validation's ``metric``; default Optuna's MedianPruner.
        n_trials: trials the study runs over all its processes, failed ones included; a rerun runs
            ``n_trials`` less the complete, pruned and running trials the study has. The processes
            ``n_jobs`` starts count the failed trials of their parent's run; a process started on its
            own counts those that failed since it began.
        timeout: seconds after which this process starts no new trial.
        storage: an Optuna RDB URL (``postgresql://user:pass@host/db``) shared by the processes of
            a study; default a SQLite file ``study.db`` in the run directory.
        study_name: the study's name in the storage; the same name resumes it, with the same ``metric``,
            ``direction`` and ``forecast.study_scoring.SCORED`` settings (``data.horizon``...). Default: the
            last ``--config`` file's stem.
        run_dir: where trials and results go; default ``<trainer.default_root_dir>/tune/<study_name>``.
        n_jobs: worker processes on this machine, all on the study's storage.
        seed: the study's seed, 0 or more: the default sampler's, and trial N fits with ``seed_everything`` seed + N.
        heartbeat_interval: seconds between a running trial's heartbeats; a trial silent for twice
            as long is marked failed, as when its process was killed.
        lr_find: run Lightning's learning-rate finder on the config instead of a study; writes
            ``lr_find.png`` and ``lr_find.yaml`` (the suggested LR) in ``run_dir``, by default
            ``<trainer.default_root_dir>/lr_find``.
        lr_find_steps: training steps the learning-rate finder tries.
    """

    space: dict[str, dict[str, Any]] = field(default_factory=dict)
    metric: str = "val/loss"
    direction: Literal["minimize", "maximize"] = "minimize"
    sampler: optuna.samplers.BaseSampler | None = None
    pruner: optuna.pruners.BasePruner | None = None
    n_trials: int = 20
    timeout: float | None = None
    storage: str | None = None
    study_name: str | None = None
    run_dir: str | None = None
    n_jobs: int = 1
    seed: int = 0
    heartbeat_interval: int = 60
    lr_find: bool = False
    lr_find_steps: int = 100


class TrialPruning(Callback):
    """Reports each validation's ``monitor`` (one an epoch by default) to an Optuna trial, and stops the fit when the
    pruner says so.

    The decision is the study's pruner's (``trial.should_prune``); the ``optuna.TrialPruned`` raised
    here leaves Lightning's fit as any exception does, and Optuna records the trial as pruned.
    ``scores`` keeps every validation's value: the network's score is the best of them, the one its
    checkpoint keeps (``TrialFits.fit_flags`` checkpoints after every validation). Only the fit's
    validations count, not the ``validate`` that scores a checkpoint's naive fallback.

    ``epochs`` counts the epochs trained, whatever the validation schedule (``trials.csv``'s column).

    Args:
        trial: the running trial.
        monitor: the logged metric, e.g. ``val/loss``.

    Raises:
        ValueError: ``monitor`` was not logged at the end of validation.
    """

    def __init__(self, trial: optuna.Trial, monitor: str):
        self.trial, self.monitor, self.scores = trial, monitor, []
        self.epochs = 0.0  # trained so far: a fraction within an epoch, where a validation may prune the trial

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


def override_args(overrides: dict[str, Any]) -> list[str]:
    """CLI key -> value as ``fit`` flags; a class choice sorts before its own ``init_args`` keys."""
    return [arg for key in sorted(overrides) for arg in (f"--{key}", cli_value(overrides[key]))]


def print_config(args: Sequence[str]) -> str:
    """The ``--print_config`` YAML of ``python -m forecast <args>``, without running anything.

    Raises:
        ValueError: the CLI refuses ``args``, with its message.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
        cli_main([*args, "--print_config"])
    if not out.getvalue():
        raise ValueError(f"the config does not parse: {err.getvalue().strip()[-2000:]}")
    return out.getvalue()


def config_keys(fit_args: Sequence[str], overrides: dict[str, Any]) -> set[str]:
    """Every dotted key of the config that ``fit_args`` plus ``overrides`` give (a class key, its
    ``class_path`` and ``init_args.*`` alike); the keys a search space may name.

    Raises:
        ValueError: the config does not parse with ``overrides``, naming them.
    """
    try:
        config = yaml.safe_load(print_config(["fit", *fit_args, *override_args(overrides)]))
    except ValueError as error:
        raise ValueError(f"with {overrides}: {error}" if overrides else str(error)) from None
    return set(_dotted_keys(config))


def find_lr(fit_args: Sequence[str], run_dir: Path, num_training: int) -> float:
    """Lightning's learning-rate finder on the config: ``lr_find.png`` and ``lr_find.yaml`` in ``run_dir``.

    ``lr_find.yaml`` sets ``model.optimizer.init_args.lr`` to the suggestion: add it as a last
    ``--config`` to ``fit`` or ``tune``. Returns the suggested learning rate.

    Raises:
        ValueError: too few steps ran for a suggestion (the plot is still written).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    cli = cli_main([*fit_args, "--trainer.default_root_dir", str(run_dir)], run=False)
    tuner = Tuner(cli.trainer)
    finder = tuner.lr_find(cli.model, datamodule=cli.datamodule, num_training=num_training, update_attr=False)
    lr = finder.suggestion()
    figure = finder.plot(suggest=lr is not None)
    figure.savefig(run_dir / "lr_find.png", dpi=120)
    if lr is None:
        raise ValueError(
            f"the learning-rate finder ran {len(finder.results['lr'])} steps, too few to suggest a rate; "
            "raise --lr_find_steps, or trainer.max_epochs / trainer.limit_train_batches if they stop it sooner"
        )
    (run_dir / "lr_find.yaml").write_text(
        f"# Lightning's learning-rate finder over {num_training} steps; plot: lr_find.png\n"
        + yaml.safe_dump({"model": {"optimizer": {"init_args": {"lr": lr}}}})
    )
    rank_zero_info(f"suggested learning rate: {lr:.3g} (written to {run_dir / 'lr_find.yaml'})")
    return lr


def tune(
    args: TuneArgs, fit_args: Sequence[str], space_source: str = "--space", worker_argv: Sequence[str] = ()
) -> optuna.Study:
    """Runs (or resumes, or joins) the study until it has ``args.n_trials`` trials, then writes its results.

    Args:
        args: the study's options.
        fit_args: every trial's ``fit`` flags before the trial's values (``--config X.yaml`` ...).
        space_source: where ``args.space`` came from, named in its errors.
        worker_argv: the ``tune`` command line that the ``args.n_jobs - 1`` extra processes run.

    Raises:
        ValueError: a ``metric`` that is not a validation one; a negative ``seed``; a resumed study of another
            direction, metric or ``forecast.study_scoring.SCORED`` setting; a bad search space, one that searches
            a setting under which trials do not rank (``check_ranked``), a key the config does not have (naming
            the nearest one), or one
            that tune sets itself (``TUNE_SETS``), in the space or as a fit flag, which tune would override;
            or, once the results are written, the study has no complete trial (``TrialFits.check_completed``).
    """
    if args.n_jobs > 1 and not worker_argv:
        raise ValueError("n_jobs > 1 needs worker_argv, the `tune` command line the other processes run")
    if not args.metric.startswith("val/"):
        raise ValueError(
            f"--metric {args.metric!r} is not a validation metric, and tune scores trials on the validation split "
            "only (a training metric rewards overfitting); use a val/ metric, e.g. val/loss or val/mae"
        )
    if not 0 <= args.seed <= max_seed_value:
        raise ValueError(
            f"--seed {args.seed} is out of range: trial N fits with seed_everything seed + N, and Lightning takes "
            f"seeds from 0 to {max_seed_value}; pass --seed 0 or more"
        )
    space = SearchSpace(args.space, space_source)
    searched = {key for param in space.params for key in (param.key, *param.also)}
    if tune_set := sorted(searched & set(TUNE_SETS)):
        key = tune_set[0]
        raise ValueError(f"{space_source}: {key!r} is set by tune in every trial; drop it and use {TUNE_SETS[key]}")
    check_ranked(searched, args.metric, space_source)
    # trainer.default_root_dir on the command line is the root of tune's run directories, not a trial's
    if overridden := [arg for arg in fit_args if _flag_name(arg) in TUNE_SETS.keys() - {"trainer.default_root_dir"}]:
        flag = overridden[0].split("=")[0]
        raise ValueError(f"{flag} is set by tune in every trial; drop it and use {TUNE_SETS[_flag_name(flag)]}")
    config = yaml.safe_load(print_config(["fit", *fit_args]))
    space.check_keys(lambda overrides: config_keys(fit_args, overrides) if overrides else set(_dotted_keys(config)))
    study, run_dir = _study(args, fit_args, config, searched)
    tracking = StudyTracking.of(config, study)
    with contextlib.nullcontext() if tracking is None else tracking:  # ends the study's MLflow run, error or not
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a killed worker's trial is no longer counted as running
        fail_orphaned_trials(study)  # nor one of a process of this machine that has ended, heartbeat or not
        run_start = int(os.environ.get(RUN_START, len(study.get_trials(deepcopy=False))))
        trials = TrialFits(space, args, fit_args, run_dir, tracking, run_start)
        workers = [_spawn_worker(worker_argv, run_start) for _ in range(args.n_jobs - 1)]
        remaining = args.n_trials - trials.spent(study.get_trials(deepcopy=False))
        if remaining > 0:
            study.optimize(
                trials,
                n_trials=remaining,
                timeout=args.timeout,
                catch=(Exception,),
                callbacks=[trials.stop_when_spent],
                show_progress_bar=True,
            )
        for worker in workers:
            worker.wait()
        trials.write_results(study)
        if RUN_START not in os.environ:  # a process --n_jobs started leaves this to the one that started it
            trials.check_completed(study)
    return study


def main(argv: Sequence[str] | None = None) -> optuna.Study | float:
    """``python -m forecast tune ...``: splits the flags, then a study (or the LR finder).

    ``argv`` replaces ``sys.argv[1:]`` (so this is also a console script's entry point). Returns the
    study, or the suggested learning rate with ``--lr_find true``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = _parser()
    own = {option.name for option in fields(TuneArgs)} | {"search", "help", "print_config"}
    tune_argv, fit_args = _split_flags(argv, own)
    config = parser.parse_args(tune_argv)
    space_source = str(config.search[-1]) if config.get("search") else "--space"
    args = TuneArgs(**{key: value for key, value in vars(parser.instantiate(config)).items() if key != "search"})
    if args.lr_find:
        config = yaml.safe_load(print_config(["fit", *fit_args]))
        return find_lr(fit_args, Path(args.run_dir or _root_dir(config) / "lr_find").expanduser(), args.lr_find_steps)
    return tune(args, fit_args, space_source, worker_argv=argv)


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
        fixed = {"trainer.default_root_dir": str(self.run_dir / "trials" / str(trial.number))}
        if not any(arg.startswith("--trainer.enable_progress_bar") for arg in self.fit_args):
            fixed["trainer.enable_progress_bar"] = False  # the trials' bar replaces the epochs'
        if self.tracking is not None:
            fixed |= self.tracking.trial_overrides(trial.number)
        try:
            overrides = self.space.overrides(self.space.suggest(trial))
            # best.yaml's values and seed, even if the space changes later or another process writes it
            trial.set_user_attr("overrides", overrides)
            trial.set_user_attr("seed", self.args.seed + trial.number)
            trial.set_user_attr("fit_args", list(self.fit_args))  # and its own fit flags, whoever ran it
            trial.set_user_attr("cwd", os.getcwd())  # where their relative paths (--config, data.source) lead
            trial_args = self.fit_flags(self.args.seed + trial.number, overrides, fixed)
            pruning = TrialPruning(trial, self.args.metric)
            try:
                cli = cli_main(trial_args, trainer_defaults={"callbacks": [pruning]})
            except SystemExit as exit_:
                print_config(trial_args)  # raises the CLI's message as a ValueError
                raise ValueError(f"fit exited with status {exit_.code}") from exit_
            finally:
                trial.set_user_attr("epochs", pruning.epochs)  # a pruned or failed trial's too
            # the checkpoint key's callback, which monitors the metric; not one of the user's trainer.callbacks
            checkpoint = next(c for c in cli.trainer.checkpoint_callbacks if c.monitor == self.args.metric)
            trial.set_user_attr("checkpoint", checkpoint.best_model_path)
            # before the network's score, which fails a trial whose every validation was NaN: its checkpoint
            # (the first NaN epoch's, which lost to the naive forecasts) may still forecast a finite naive forecast
            fallback = self.naive_score(cli.trainer, cli.model, checkpoint.best_model_path)
            if fallback is None:
                return self.best_score(pruning.scores)  # raises when no validation gave a number
            trial.set_user_attr("naive_fallback", fallback[0])
            return fallback[1]
        except optuna.TrialPruned:
            raise
        except Exception as error:
            trial.set_user_attr("error", f"{type(error).__name__}: {error}"[:2000])
            raise

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
            seed = best.user_attrs.get("seed", self.args.seed + best.number)
            flags = self.fit_flags(seed, overrides, {}, best.user_attrs.get("fit_args"))
            with _working_directory(best.user_attrs.get("cwd")):
                best_config = print_config(flags)
        files = write_results(study, self.run_dir, best, best_config)
        if self.tracking is not None:
            self.tracking.log_results(study, best, files)


def _parser() -> ArgumentParser:
    parser = ArgumentParser(prog="python -m forecast tune", description=__doc__.split("\n\n")[0])
    parser.add_argument("--search", action=ActionConfigFile, help="A YAML file of these options (space, pruner...).")
    parser.add_class_arguments(TuneArgs)
    return parser


def _split_flags(argv: Sequence[str], own: set[str]) -> tuple[list[str], list[str]]:
    """``argv`` as (tune's flags, fit's flags): a flag is tune's when its first dotted part is one of ``own``;
    a value (``-1`` too) goes with the flag before it."""
    tune_argv: list[str] = []
    fit_argv: list[str] = []
    target = fit_argv
    for arg in argv:
        if arg.startswith("-") and not NEGATIVE_NUMBER.fullmatch(arg):
            name = arg.lstrip("-").split("=")[0].split(".")[0]
            target = tune_argv if name in own or arg == "-h" else fit_argv
        target.append(arg)
    return tune_argv, fit_argv


def _flag_name(arg: str) -> str:
    """The dotted key of a command-line flag (``--a.b=1`` -> ``a.b``); empty for a value."""
    return arg.lstrip("-").split("=")[0] if arg.startswith("--") else ""


def _study(
    args: TuneArgs, fit_args: Sequence[str], config: dict[str, Any], searched: set[str]
) -> tuple[optuna.Study, Path]:
    """The study, created or loaded when another process (or an earlier run) made it, and this process's run directory.

    The process that creates a study samples with its seed; one that joins reseeds its sampler,
    since two workers with one seed would propose the same parameters. One that joins with another
    direction, metric or ``forecast.study_scoring.SCORED`` setting (those the space does not search) is refused.
    """
    configs = [arg.split("=", 1)[1] for arg in fit_args if arg.startswith("--config=")]
    configs += [value for flag, value in zip(fit_args[:-1], fit_args[1:], strict=True) if flag == "--config"]
    name = args.study_name or (Path(configs[-1]).stem if configs else "study")
    run_dir = Path(args.run_dir or _root_dir(config) / "tune" / name).expanduser().resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    url = args.storage or f"sqlite:///{run_dir / 'study.db'}"
    storage = rdb_storage(url, args.heartbeat_interval)
    sampler = args.sampler or optuna.samplers.TPESampler(seed=args.seed)
    kwargs = {"storage": storage, "sampler": sampler, "pruner": args.pruner, "study_name": name}
    try:
        study = optuna.create_study(**kwargs, direction=args.direction)
    except optuna.exceptions.DuplicatedStudyError:
        study = optuna.load_study(**kwargs)
        sampler.reseed_rng()
        if (direction := study.direction.name.lower()) != args.direction:
            message = (
                f"study {name!r} in {url} is a {direction} study, not {args.direction}; pass --direction "
                f"{direction} to resume it, or a new --study_name for a {args.direction} study"
            )
            raise ValueError(message) from None
    check_scored_on(study, scored_on(args.metric, config, searched), url)
    rank_zero_info(f"study {name!r} in {url}; run directory {run_dir}")
    return study, run_dir


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


def _root_dir(config: dict[str, Any]) -> Path:
    """The config's ``trainer.default_root_dir`` (``runs`` when it names none): the home of tune's run directories."""
    return Path((config.get("trainer") or {}).get("default_root_dir") or "runs")


def _spawn_worker(argv: Sequence[str], run_start: int) -> subprocess.Popen:
    """Another ``tune`` process on this study (``--n_jobs``): it joins the storage as any worker does, and
    counts the failed trials of this run from ``run_start``, as this process does."""
    env = os.environ | {RUN_START: str(run_start)}
    return subprocess.Popen([sys.executable, "-m", "forecast", "tune", *argv, "--n_jobs", "1"], env=env)


def _dotted_keys(node: Any, prefix: str = "") -> list[str]:
    """The dotted paths of every mapping key under ``node`` (lists are values, not addressed)."""
    if not isinstance(node, dict):
        return []
    keys = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        keys += [path, *_dotted_keys(value, f"{path}.")]
    return keys
