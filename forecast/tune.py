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
values would not compare; and with a space that samples each key as the study's trials did, a range aside)
and several processes, on one machine or many, share one study.

The run directory (``<trainer.default_root_dir>/tune/<study_name>`` unless ``--run_dir``) holds
``study.db``, ``trials/N/`` (each trial's fit: logs, config, checkpoints) and what
:mod:`forecast.study_results` writes: ``trials.csv``, ``best.yaml`` and the plots.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import optuna
import yaml
from lightning.fabric.utilities.seed import max_seed_value
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .fit_config import config_keys, dotted_keys, print_config
from .linked_keys import flag_values
from .lr_finder import find_lr
from .search_space import SearchSpace
from .study_checks import check_fits
from .study_scoring import check_ranked, check_scored_on, scored_on
from .study_storage import fail_orphaned_trials, rdb_storage
from .study_tracking import StudyTracking
from .study_trials import Terminated, TrialFits, check_keeps_checkpoint, check_tune_sets
from .tune_args import TuneArgs, parse_args

__all__ = ["main", "tune"]

# The environment variable that gives a process started by --n_jobs its parent's first trial number, so that
# the processes of one run count the same failed trials.
RUN_START = "FORECAST_TUNE_RUN_START"


def main(argv: Sequence[str] | None = None) -> optuna.Study | float:
    """``python -m forecast tune ...``: splits the flags, then a study (or the LR finder).

    ``argv`` replaces ``sys.argv[1:]`` (so this is also a console script's entry point). Returns the
    study, or the suggested learning rate with ``--lr_find true`` (which searches no space: a warning says so where
    one is given).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    args, fit_args, space_source = parse_args(argv)
    if args.lr_find:
        if args.space:
            warnings.warn(
                f"--lr_find true runs the learning-rate finder on the config as given: the space of {space_source} "
                f"({', '.join(args.space)}) is not searched; run tune without --lr_find to search it",
                stacklevel=2,
            )
        config = yaml.safe_load(print_config(["fit", *fit_args]))
        return find_lr(fit_args, Path(args.run_dir or _root_dir(config) / "lr_find").expanduser(), args.lr_find_steps)
    return tune(args, fit_args, space_source, worker_argv=argv)


def tune(
    args: TuneArgs, fit_args: Sequence[str], space_source: str = "--space", worker_argv: Sequence[str] = ()
) -> optuna.Study:
    """Runs (or resumes, or joins) the study until it has ``args.n_trials`` trials, then writes its results.

    Ctrl-C or SIGTERM stops the study: the running trial fails, the results of those before it are written, and a rerun
    resumes the study, with a new trial in place of the interrupted one.

    Args:
        args: the study's options.
        fit_args: every trial's ``fit`` flags before the trial's values (``--config X.yaml`` ...).
        space_source: where ``args.space`` came from, named in its errors.
        worker_argv: the ``tune`` command line that the ``args.n_jobs - 1`` extra processes run.

    Raises:
        ValueError: a negative ``n_trials``, an ``n_jobs`` or ``heartbeat_interval`` below 1, a ``timeout`` of 0 or
            less; ``n_jobs`` above 1 without ``worker_argv``; a ``metric`` that is not a validation one; a
            ``seed`` outside Lightning's range (0 to ``max_seed_value``); a resumed study of another direction,
            metric or ``forecast.study_scoring.SCORED`` setting, or whose earlier trials sampled a key of the
            space as another kind, with other choices or another log scale (``SearchSpace.check_study``); a bad
            search space, one that searches a setting under which trials do not rank (``check_ranked``), a key the
            config does not have (naming the nearest one), or one that tune sets itself
            (``forecast.study_trials.TUNE_SETS``), in the space or as a fit flag, which tune would override; a
            ``checkpoint.save_top_k`` of 0, in the space or the config, which keeps no checkpoint of a trial's best
            validation (``check_keeps_checkpoint``); before any trial trains (``check_fits``), a fit that runs no
            validation, a ``metric`` that no model of the space logs (naming the nearest one), or a ``data.lookback``
            that leaves a trial no training or validation window, or a series too short for a window (naming the
            longest one the data allows); or, once the results are written, the study has no complete trial
            (``TrialFits.check_completed``).
    """
    _check_args(args, worker_argv)
    space = SearchSpace(args.space, space_source)
    searched = {key for param in space.params for key in (param.key, *param.also)}
    check_tune_sets(searched, fit_args, space_source)
    config = yaml.safe_load(print_config(["fit", *fit_args]))
    check_ranked(searched, args.metric, space_source, config)
    check_keeps_checkpoint(space, config, space_source)
    space.check_keys(lambda overrides: config_keys(fit_args, overrides) if overrides else set(dotted_keys(config)))
    check_fits(space, fit_args, config, args.metric)
    study, run_dir = _study(args, fit_args, config, searched)
    space.check_study(study)
    tracking = StudyTracking.of(config, study)
    with contextlib.nullcontext() if tracking is None else tracking:  # ends the study's MLflow run, error or not
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # a killed worker's trial is no longer counted as running
        fail_orphaned_trials(study)  # nor one of a process of this machine that has ended, heartbeat or not
        run_start = int(os.environ.get(RUN_START, len(study.get_trials(deepcopy=False))))
        trials = TrialFits(space, args, fit_args, run_dir, tracking, run_start)
        with _sigterm_stops():
            workers = [_spawn_worker(worker_argv, run_start) for _ in range(args.n_jobs - 1)]
            remaining = args.n_trials - trials.spent(study.get_trials(deepcopy=False))
            try:
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
            except KeyboardInterrupt as stop:  # Ctrl-C or SIGTERM: the results of the trials so far, then the stop
                for worker in workers if isinstance(stop, Terminated) else ():  # Ctrl-C in a terminal reached them
                    worker.terminate()
                for worker in workers:
                    worker.wait()
                trials.write_results(study)
                raise
        trials.write_results(study)
        if RUN_START not in os.environ:  # a process --n_jobs started leaves this to the one that started it
            trials.check_completed(study)
    return study


def _check_args(args: TuneArgs, worker_argv: Sequence[str]) -> None:
    """Refuses options that no study could run with: a count or interval out of its range, extra processes without
    their command line, a metric that is not a validation one, a seed Lightning does not take.

    Raises:
        ValueError: naming the option and the values it takes.
    """
    _check_counts(args)
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


def _check_counts(args: TuneArgs) -> None:
    """Refuses a negative ``--n_trials`` and a ``--timeout`` of 0 or less, under which the study would create its
    storage, run no trial, then fail as if none had completed; an ``--n_jobs`` below 1, which would run one process
    as if it said 1; and a ``--heartbeat_interval`` below 1, which Optuna's storage refuses with its own traceback.

    Raises:
        ValueError: naming the option and the values it takes.
    """
    if args.n_trials < 0:
        raise ValueError(
            f"--n_trials {args.n_trials} is negative; pass the number of trials the study runs over all its processes "
            "(0 runs none and writes the results of the trials it has)"
        )
    for flag, value, what in [
        ("--n_jobs", args.n_jobs, "the number of processes on this machine"),
        ("--heartbeat_interval", args.heartbeat_interval, "the seconds between a running trial's heartbeats"),
    ]:
        if value < 1:
            raise ValueError(f"{flag} {value} is below 1; pass {what}, 1 or more")
    if args.timeout is not None and args.timeout <= 0:
        raise ValueError(
            f"--timeout {args.timeout} would start no trial; pass the seconds after which this process starts no new "
            "trial (more than 0), or leave it out for no limit"
        )


def _study(
    args: TuneArgs, fit_args: Sequence[str], config: dict[str, Any], searched: set[str]
) -> tuple[optuna.Study, Path]:
    """The study, created or loaded when another process (or an earlier run) made it, and this process's run directory.

    The process that creates a study samples with its seed; one that joins reseeds its sampler,
    since two workers with one seed would propose the same parameters. One that joins with another
    direction, metric or ``forecast.study_scoring.SCORED`` setting (those the space does not search) is refused.
    """
    config_file = _last_config(fit_args)
    name = args.study_name or (Path(config_file).stem if config_file else "study")
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


def _last_config(fit_args: Sequence[str]) -> str | None:
    """The last config file of the fit flags, in their order (``--config X``, ``--config=X``, ``-c X``, as ``fit``
    reads them): the one the study is named after by default."""
    return next(reversed([value for _, value in flag_values(fit_args, ("--config", "-c"))]), None)


def _root_dir(config: dict[str, Any]) -> Path:
    """The config's ``trainer.default_root_dir`` (``runs`` when it names none): the home of tune's run directories."""
    return Path((config.get("trainer") or {}).get("default_root_dir") or "runs")


@contextlib.contextmanager
def _sigterm_stops():
    """SIGTERM raises ``Terminated`` (a ``KeyboardInterrupt``) while the study runs, wherever it lands: Lightning
    handles it only inside a fit (its ``SIGTERMException``), and elsewhere (a trial's parsing, the sampler, between
    trials) it killed tune at once, its trial left running in the storage and no results written. Inside a fit
    Lightning's handler runs first and calls this one, which then leaves the stop to it (at the batch's end)."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        if signal.getsignal(signal.SIGTERM) is stop:  # not called by a fit's own handler
            raise Terminated("stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _spawn_worker(argv: Sequence[str], run_start: int) -> subprocess.Popen:
    """Another ``tune`` process on this study (``--n_jobs``): it joins the storage as any worker does, and
    counts the failed trials of this run from ``run_start``, as this process does."""
    env = os.environ | {RUN_START: str(run_start)}
    return subprocess.Popen([sys.executable, "-m", "forecast", "tune", *argv, "--n_jobs", "1"], env=env)
