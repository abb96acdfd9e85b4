"""Rolling-origin backtests: one model (or baseline) evaluated at forecast origins spaced through time.

``python -m forecast backtest --config ... --ckpt_path best --start 2018-02-01 --stride 24 --num_windows 30``
(``ForecastTrainer.backtest``, which these functions serve) forecasts from each origin with the
lookback before it, and hands the windows to ``Trainer.test`` as its dataloader: the same metrics,
the evaluation report, plus ``forecasts.csv`` with every window's forecasts and actuals. With
``--refit_every k`` the model is trained anew, on the rows before them, for every k origins.
"""

import copy
from collections.abc import Callable
from datetime import date, tzinfo
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, Logger
from torch.utils.data import DataLoader

from .callbacks import run_directory
from .data.calendar import wall_clock_range
from .data.datamodule import TimeSeriesDataModule
from .data.loaders import evaluation_loader
from .data.parts import has_observed_target
from .data.splits import Windows, part_windows
from .data.windows import window_origins
from .errors import ForecastDataError, warn_on_rank_zero, where, whole_number
from .reports import EvaluationReport

__all__ = [
    "backtest_windows", "fitted_rows", "backtest_loader", "backtest_report", "refit_groups", "refit_borders",
    "check_refit_start", "refit_and_test",
    "REFITS_DIRECTORY",
]  # fmt: skip

REFITS_DIRECTORY = "refits"  # in the run directory, a subdirectory origin_G per refit


def _start_rows(data: TimeSeriesDataModule, start: int | pd.Timestamp | None) -> np.ndarray:
    """Per series, the row of the first origin's first forecast step: for a time ``start`` (``_start_stamp``), the
    series' first row at or after it (its length where it has none, 0 where it begins later).

    Raises:
        ValueError: ``start`` is neither a whole number nor a time.
    """
    observed = data.table.observed
    if start is None:  # the test part's first target row, or row lookback where it starts earlier, as in test
        return np.maximum(data.borders[:, 1], data.lookback)
    if isinstance(start, pd.Timestamp):  # the times follow the frequency: the rows before it are the times before it
        times, offsets = data.table.times, data.table.offsets
        return np.array([times[a:b].searchsorted(start) for a, b in zip(offsets[:-1], offsets[1:], strict=True)])
    if not whole_number(start):  # 14.5 would be cut to row 14, True read as row 1
        raise ValueError(
            f"--start {start!r} is neither a row nor a time; give a row number (an int; negative: from the end of "
            "each series) or a time such as '2018-02-01 00:00'"
        )
    return observed + start if start < 0 else np.full_like(observed, start)


def _start_stamp(start: str | date | np.datetime64, zone: tzinfo | None) -> pd.Timestamp:
    """``--start`` as a time in the data's time zone ``zone`` (``None``: naive times); one without a UTC offset is
    read on the data's wall clock (``_localize``).

    Raises:
        ValueError: ``start`` reads as no time, names a time zone where the data's times have none, or is a
            wall-clock time that daylight saving repeats.
    """
    try:
        stamp = pd.Timestamp(start)
        if stamp is pd.NaT:
            raise ValueError("it reads as no time")
        if zone is None and stamp.tz is not None:
            raise ValueError(f"it has the time zone {stamp.tz}, and the data's times have none")
    except ValueError as error:  # unparsable
        zoned = f" (read in the data's time zone, {zone}, unless it names its own)" if zone is not None else ""
        raise ValueError(
            f"--start {start!r} is no time of the data ({error}); give a row number, or a time such as "
            f"'2018-02-01 00:00'{zoned}"
        ) from None
    if zone is None:
        return stamp
    return stamp.tz_convert(zone) if stamp.tz is not None else _localize(start, stamp, zone)


def _localize(start: str | date | np.datetime64, stamp: pd.Timestamp, zone: tzinfo) -> pd.Timestamp:
    """The wall-clock time ``stamp`` of ``--start`` in ``zone``: one that daylight saving skips is the first time
    after the gap, where the data's times hold it (``wall_clock_range``: daily data keep the day of a skipped
    midnight at 01:00), so that the date of such a day starts at that day's row.

    Raises:
        ValueError: daylight saving repeats ``stamp``, so it stands for two times: naming the UTC offset of each.
    """
    try:
        return stamp.tz_localize(zone, nonexistent="shift_forward")
    except ValueError:  # pandas' "Cannot infer dst time": a time the clock repeats
        first, second = (stamp.tz_localize(zone, ambiguous=dst) for dst in (True, False))
        raise ValueError(
            f"--start {start!r} occurs twice in the data's time zone, {zone}, where daylight saving repeats it; "
            f"give it with its UTC offset: '{first}' (the first) or '{second}' (the second)"
        ) from None


def backtest_windows(
    data: TimeSeriesDataModule,
    start: int | str | date | np.datetime64 | None = None,
    stride: int | None = None,
    num_windows: int | None = None,
) -> Windows:
    """The backtest's windows: per series, ``num_windows`` origins from ``start``, ``stride`` rows apart.

    Args:
        data: the data module (its series, lookback, horizon and test borders).
        start: the first forecast step of the first window: a row of each series (negative: from its
            end), a time such as ``"2018-02-01 00:00"``, ``pd.Timestamp("2018-02-01")``, a ``datetime.date`` or
            a ``np.datetime64`` (in the data's time zone unless it names one; a wall-clock time that daylight
            saving skips is the first time after the gap, as the data's times take it), or ``None`` for the start of the
            test part (of each series that has a test window, as ``test`` evaluates them; from row ``lookback``
            where the test part starts earlier).
        stride: rows between origins; ``None`` means the horizon (windows side by side).
        num_windows: origins per series; ``None`` means as many as fit before the end of each series (with the
            default ``start``, of its test part: none past a ``DateSplit``'s ``test_end``).

    Raises:
        ValueError: ``start`` is text that reads as no time, names a time zone where the data's times
            have none, is a wall-clock time that daylight saving repeats (naming its two UTC offsets), or is a
            number but no whole one.
        ForecastDataError: a series has no room for its lookback before ``start`` (a later start is the
            fix), for one window after it or for ``num_windows`` (an earlier start, fewer windows).
        ValueError: ``stride`` or ``num_windows`` below 1 or no whole number.
    """
    horizon = data.horizon
    stride = horizon if stride is None else stride  # 0 is refused, not taken for the default
    counts = [stride] if num_windows is None else [stride, num_windows]
    if not all(whole_number(count) and count >= 1 for count in counts):  # 2.5 would make fractional rows
        raise ValueError(
            f"backtest needs stride >= 1 and num_windows >= 1, whole numbers (ints); got stride={stride!r}, "
            f"num_windows={num_windows!r}"
        )
    zone = data.start_times[0].tz
    stamp = _start_stamp(start, zone) if isinstance(start, (str, date, np.datetime64)) else None
    first = _start_rows(data, start if stamp is None else stamp)
    observed = data.table.observed
    # By default the test part's windows, as test evaluates them: none past its end (a DateSplit's test_end).
    end = np.minimum(data.borders[:, 2], observed) if start is None else observed
    fits = np.where(end - horizon >= first, (end - horizon - first) // stride + 1, 0)
    wanted = fits if num_windows is None else np.full_like(fits, num_windows)
    # By default, as in test, a series whose test part holds no window (it ends before it) is left out.
    untested = (fits == 0) & (start is None) & fits.any()
    wanted = np.where(untested, 0, wanted)
    last = end - horizon  # the last row a window's first forecast step can take
    if stamp is None:  # the fixes of a start too early and too late, for series i
        ended = start is None  # the windows end with the test part, which a start of one's own runs past
        later, earlier = (
            (lambda i: f" (row {data.lookback} or later)"),
            (lambda i: f" (by default the windows end with the test part, row {end[i]})" * ended),
        )
    else:
        windows = "a window" if num_windows is None else f"{num_windows} windows {stride} rows apart"
        later, earlier = _start_times(data, last - (0 if num_windows is None else num_windows - 1) * stride, windows)
    problems = [
        (first < data.lookback, lambda i: f"needs lookback {data.lookback} rows before it; choose a later --start"
         f"{later(i)}"),
        (first > last, lambda i: f"leaves fewer than horizon {horizon} rows for a window (its last first step "
         f"is row {last[i]}); choose an earlier --start{earlier(i)}"),
        (fits < wanted, lambda i: f"leaves room for {fits[i]} windows of horizon {horizon} every {stride} rows, "
         f"fewer than --num_windows {num_windows}; choose a smaller --num_windows or --stride, or an earlier --start"
         f"{earlier(i)}"),
    ]  # fmt: skip
    read = f" (--start {_read_as(stamp)})" if stamp is not None else ""
    for bad, problem in problems:
        bad = bad & ~untested
        if bad.any():
            i = int(np.argmax(bad))
            raise ForecastDataError(
                f"the backtest's first forecast step{read}, {_start_row(data, stamp, first, i)} of "
                f"{where(series=data.series_names[i])} ({observed[i]} rows), {problem(i)}"
            )
    return Windows(first=first, counts=wanted, stride=stride)


def _read_as(stamp: pd.Timestamp) -> str:
    """How ``--start`` was read: in the data's time zone, which need not be the one meant (a CSV's offsets read as
    UTC)."""
    return f"read as {stamp}" + (f" in the time zone of the data, {stamp.tz}" if stamp.tz is not None else "")


def _start_row(data: TimeSeriesDataModule, stamp: pd.Timestamp | None, first: np.ndarray, i: int) -> str:
    """Where the first forecast step of series ``i`` falls, for messages: its row, or before the series' first row or
    after its last one, for a time ``stamp`` outside its times."""
    if stamp is not None and first[i] == data.table.lengths[i]:
        return "after the last row"
    if stamp is not None and stamp < data.start_times[i]:
        return "before the first row"
    return f"row {first[i]}"


def _start_times(
    data: TimeSeriesDataModule, latest: np.ndarray, windows: str
) -> tuple[Callable[[int], str], Callable[[int], str]]:
    """For a time ``--start`` too early, and one too late, what to add to the fix for series ``i``: the series' first
    time, or the time its targets end, and the earliest, or latest, time that leaves every series its lookback before
    it and ``windows`` from it (``latest``: per series, the last row the first forecast step may take for them); the
    series' time alone where no time leaves every series both (one ends before another has its lookback)."""
    lookback, times, offsets = data.lookback, data.table.times, data.table.offsets[:-1]
    works = bool((latest >= lookback).all())  # then every series has rows lookback and latest
    if works:
        earliest_time, latest_time = max(times[offsets + lookback]), min(times[offsets + latest])
        works = earliest_time <= latest_time

    def later(i: int) -> str:
        start = f": {earliest_time} or later for every series" if works else ""
        return f"{start} ({where(series=data.series_names[i])} begins at {times[offsets[i]]})"

    def earlier(i: int) -> str:
        start = f": {latest_time} or earlier for {windows} in every series" if works else ""
        end = times[offsets[i] + data.table.observed[i] - 1]
        return f"{start} ({where(series=data.series_names[i])} has targets until {end})"

    return later, earlier


def fitted_rows(data: TimeSeriesDataModule, state: dict[str, Any]) -> np.ndarray:
    """Per series of ``data``, its leading rows that a checkpoint's model and scalers were fitted on: those
    before the training border of the checkpoint's data ``state``, found by time, since the backtest's data
    may be split otherwise (``--data.split``) or start elsewhere; 0 for a series the checkpoint never saw,
    and the data module's own training rows for a checkpoint that records no borders.
    """
    if "borders" not in state or "start_times" not in state:
        return data.borders[:, 0].copy()
    zone = data.start_times[0].tz
    ends = {}  # per series of the checkpoint, the time of its first row after training
    for name, first, borders in zip(state["series"], state["start_times"], state["borders"], strict=True):
        stamp = pd.Timestamp(first)
        stamp = stamp.tz_convert(zone) if zone is not None else stamp
        ends[name] = wall_clock_range(stamp, periods=borders[0] + 1, freq=data.freq)[-1]
    return np.array(
        [
            len(wall_clock_range(first, ends[name], freq=data.freq, inclusive="left")) if name in ends else 0
            for name, first in zip(data.series_names, data.start_times, strict=True)
        ]
    )


def backtest_loader(data: TimeSeriesDataModule, windows: Windows, fitted: np.ndarray | None = None) -> DataLoader:
    """The backtest windows, gathered from the data module's scaled series (built after any checkpoint loads), in
    batches of ``data.batch_size`` with the data module's loader settings (``loader_options``: workers, pinned memory).

    Their inputs are repaired (``nan_policy``) from the rows before their origin only
    (``ScaledSeries.before_origins``).

    Args:
        data: the data module.
        windows: the backtest's windows (``backtest_windows``), or a refit's share of them.
        fitted: per series, the leading rows the model and scalers were fitted on (a checkpoint's:
            ``fitted_rows``); ``None``: the data module's training rows. Windows that forecast them warn.

    Raises:
        ForecastDataError: with ``nan_policy`` ``ffill`` or ``interpolate``, a window has no value of an
            input column before its origin, so that its inputs could only be repaired from later rows.
    """
    trained = np.flatnonzero(windows.counts > 0)
    data.check_mase_scale(trained)  # the report gives MASE
    fitted = data.borders[:, 0] if fitted is None else fitted
    early = trained[windows.first[trained] < fitted[trained]]
    if early.size:  # the scalers (and a checkpoint) were fitted on rows these windows forecast
        i = int(early[0])
        warn_on_rank_zero(
            f"the backtest windows of {where(series=data.series_names[i])} from row {windows.first[i]} forecast rows "
            f"of its training part (rows before {fitted[i]}), which the scalers, and a checkpoint's model, "
            "were fitted on: an in-sample evaluation; choose a --start in the validation or test part, or refit "
            "before every few origins with --refit_every"
        )
    arguments = dict(
        buffer=data.buffer,
        windows=windows,
        lookback=data.lookback,
        horizon=data.horizon,
        sizes=(data.target_size, data.input_size, data.future_size),
        static=data.static,
        **data.target_maps(),
    )
    if data.nan_policy in ("ffill", "interpolate"):
        known = data.scaled.last_given(windows)
        if (known < 0).any():
            series, origins = window_origins(windows)  # only to name the window
            w, channel = (int(i) for i in np.argwhere(known < 0)[0])
            raise ForecastDataError(
                f"the backtest window from row {origins[w]} of {where(series=data.series_names[series[w]])} has no "
                f"value of column {[*data.roles.targets, *data.roles.past][channel]!r} before it, so "
                f"nan_policy={data.nan_policy} would fill its inputs from the rows it forecasts or later; choose a "
                "later --start"
            )
    dataset = data.scaled.before_origins(arguments)
    # Under DDP each process reads its share of the windows, none repeated, as the data module's test part.
    return evaluation_loader(dataset, data.batch_size, sharded=False, **data.loader_options())


def refit_groups(windows: Windows, refit_every: int) -> list[Windows]:
    """The backtest's windows in groups of ``refit_every`` consecutive origins per series, in time order.

    Group ``g`` holds origins ``g * refit_every`` to ``(g + 1) * refit_every - 1`` of each series;
    a series with fewer origins has none in the last groups.

    Raises:
        ValueError: ``refit_every`` below 1 or no whole number.
    """
    if not (whole_number(refit_every) and refit_every >= 1):  # True would refit before every origin, 1.5 fail in range
        raise ValueError(f"refit_every must be >= 1 (origins per refit), a whole number (an int); got {refit_every!r}")
    groups = []
    for start in range(0, int(windows.counts.max()), refit_every):
        counts = np.clip(windows.counts - start, 0, refit_every)
        groups.append(Windows(first=windows.first + start * windows.stride, counts=counts, stride=windows.stride))
    return groups


def refit_borders(data: TimeSeriesDataModule, origins: np.ndarray) -> np.ndarray:
    """Split borders for training on the rows before ``origins`` (per series, the first forecast row).

    Validation keeps the length it has in the data module's split and moves to just before the origin;
    training takes every row before that; the "test" part runs from the origin to the end of the series.
    """
    observed = data.table.observed
    origins = np.minimum(origins, observed)
    val_length = data.borders[:, 1] - data.borders[:, 0]
    return np.stack([np.maximum(origins - val_length, 0), origins, observed], axis=1)


def check_refit_start(data: TimeSeriesDataModule, groups: list[Windows]) -> None:
    """The first refit must have a training window in every series it tests: its rows before the validation part;
    and one at least with an observed target (``_check_refit_targets``). A later refit trains on more rows.

    Raises:
        ForecastDataError: naming the series and the rows it has, or the targets, and ``--start`` as the fix.
    """
    borders = refit_borders(data, groups[0].first)
    rows = borders[:, 0]
    needed = data.lookback + data.horizon
    short = (rows < needed) & (groups[0].counts > 0)  # a series without windows may train on fewer
    if short.any():
        i = int(np.argmax(short))
        raise ForecastDataError(
            f"the first refit would train on the {rows[i]} rows of {where(series=data.series_names[i])} before its "
            f"validation part (as long as the data module's, before row {groups[0].first[i]}), fewer than lookback + "
            f"horizon = {needed}: no training window; choose a later --start"
        )
    _check_refit_targets(data, borders)


def _check_refit_targets(data: TimeSeriesDataModule, borders: np.ndarray) -> None:
    """Training leaves out the windows whose targets were all repaired (``nan_policy``): the first refit, split at
    ``borders``, must have one whose targets were not, or its fit would refuse, naming the data module's split
    (``parts.observed_windows``), where the refit's validation part starts before ``--start``.

    Raises:
        ForecastDataError: naming the targets, and ``--start`` as the fix.
    """
    observed = data.buffer.observed
    if observed is None:
        return
    windows = part_windows(borders, data.table.observed, "train", data.lookback, data.horizon, data.strides["train"])
    if has_observed_target(data.buffer.offsets, observed, windows, data.horizon).any():
        return
    raise ForecastDataError(
        f"the first refit would train on {int(windows.counts.sum())} windows before its validation part (as long as "
        f"the data module's, before each series' first origin), and none has an observed value of the targets "
        f"{data.roles.targets}: every one was repaired (data.nan_policy); choose a later --start, or a shorter "
        "validation part (data.split)"
    )


def backtest_report(
    callbacks: list[Callback], data: TimeSeriesDataModule, passes: int = 1
) -> tuple[EvaluationReport, list[Callback]]:
    """The backtest's evaluation report (every window's forecasts written, ``passes`` test passes), with
    the plot settings of the report among ``callbacks``; and the other callbacks."""
    configured = [callback for callback in callbacks if isinstance(callback, EvaluationReport)]
    plots = {"num_plots": configured[0].num_plots, "plot_targets": configured[0].plot_targets} if configured else {}
    report = EvaluationReport(**plots, write_forecasts=True, split="backtest", passes=passes, data=data)
    return report, [callback for callback in callbacks if not isinstance(callback, EvaluationReport)]


def refit_and_test(
    settings: Callable[[], dict[str, Any]],
    callbacks: list[Callback],
    model: LightningModule,
    datamodule: TimeSeriesDataModule,
    groups: list[Windows],
    report: EvaluationReport,
) -> dict[str, float]:
    """Per group of origins, a refit and a test pass over its windows, into one report; returns the test
    metrics over every refit's windows, ``test/loss`` among them, as ``test`` returns those of its windows.
    ``settings`` gives each trainer its arguments (``ForecastTrainer.trainer_settings``: a strategy of its own).

    Refit G logs its training and its test metrics to ``refits/origin_G`` in the report's run directory
    and keeps its checkpoints in ``refits/origin_G/checkpoints``, whatever ``dirpath`` a ModelCheckpoint
    names: that is where the config's own fit keeps its files, which refits sharing it would mix with
    theirs and each other's. The run's loggers get one test row, the metrics over every refit's windows
    (those of the report and of ``backtest``'s return), as a backtest without refits logs: a row of one
    refit there would pass for the result. The loss over all windows is each refit's, weighed by the
    targets it scored, as ``test`` weighs its batches'.
    """
    fitting = [callback for callback in callbacks if not isinstance(callback, BasePredictionWriter)]
    state = datamodule.borders, datamodule.scalings
    run = Trainer(**settings() | {"callbacks": []})  # the run's loggers, and its directory: the report's
    tester = Trainer(**settings() | {"callbacks": [report], "logger": False, "default_root_dir": run_directory(run)})
    directory = run_directory(run) / REFITS_DIRECTORY  # not the calling trainer's: that may be an earlier run's
    losses, scored = [], []  # per refit, its test loss and the targets it scored
    try:
        for g, group in enumerate(groups):
            logger = CSVLogger(directory.parent, name=directory.name, version=f"origin_{g}")
            trainer = Trainer(**settings() | {"logger": logger, "callbacks": _own_checkpoints(fitting)})
            refitted = _refit(trainer, model, datamodule, group)
            (metrics,) = tester.test(refitted, dataloaders=backtest_loader(datamodule, group), verbose=False)
            _log_test(logger, metrics, trainer.global_step)
            losses.append(metrics["test/loss"])
            scored.append(int(refitted.metrics["test"].counts.sum()))
    finally:
        datamodule.resplit(*state)
    counted = np.array(scored) > 0  # a refit whose targets were all repairs scored none, and logs a NaN loss
    loss = np.average(np.array(losses)[counted], weights=np.array(scored)[counted]) if counted.any() else np.nan
    pooled = {"test/loss": float(loss)}
    pooled |= {f"test/{name}": value for name, value in report.metrics.items()}
    for logger in run.loggers:
        logger.log_hyperparams(model.hparams_initial)
        _log_test(logger, pooled, 0)
    return pooled


def _own_checkpoints(callbacks: list[Callback]) -> list[Callback]:
    """Copies of ``callbacks`` for one refit, as if unused, its ModelCheckpoints writing where Lightning puts a
    run's checkpoints when no ``dirpath`` is given: the refit's log directory.

    A trainer that fit before its backtest holds that fit's callbacks: a ModelCheckpoint's copy would keep the
    fit's best file and score, so that a refit which never beat that score forecast with the fit's weights,
    trained on rows after its origins; an EarlyStopping's copy would stop on the fit's score and patience count.

    Raises:
        ValueError: a callback does not copy (it holds a lock or an open file), naming it.
    """
    try:
        copies = copy.deepcopy(callbacks)
    except TypeError as error:  # Python's "cannot pickle '_thread.lock' object", naming no callback
        culprit = next(type(callback).__name__ for callback in callbacks if not _copies(callback))
        raise ValueError(
            f"backtest --refit_every trains each refit with its own copy of the trainer's callbacks, and {culprit} "
            f"does not copy ({error}); leave it out of trainer.callbacks for the backtest, or let it copy "
            "(__deepcopy__)"
        ) from error
    for callback in copies:
        _forget_earlier_fits(callback)
        if isinstance(callback, ModelCheckpoint):
            callback.dirpath = None  # resolved at setup, from the trainer's logger
    return copies


def _copies(callback: Callback) -> bool:
    """Whether ``callback`` deep-copies."""
    try:
        copy.deepcopy(callback)
    except TypeError:
        return False
    return True


# What a ModelCheckpoint and an EarlyStopping record of the fits they ran in, as their ``__init__`` sets it.
_CHECKPOINT_RECORDS = {
    "current_score", "best_k_models", "kth_best_model_path", "kth_value", "best_model_score", "best_model_path",
    "last_model_path", "_last_global_step_saved", "_last_checkpoint_saved", "_last_time_checked",
}  # fmt: skip
_STOPPING_RECORDS = {"wait_count", "stopped_epoch", "best_score", "stopping_reason", "stopping_reason_message"}


def _forget_earlier_fits(callback: Callback) -> None:
    """Give ``callback`` the records of a new one of its mode: a ModelCheckpoint no best files or scores, an
    EarlyStopping no best score or wait; other callbacks stay as they are."""
    if isinstance(callback, ModelCheckpoint):
        _take_records(callback, ModelCheckpoint(mode=callback.mode), _CHECKPOINT_RECORDS)
    elif isinstance(callback, EarlyStopping):
        _take_records(callback, EarlyStopping(callback.monitor, mode=callback.mode), _STOPPING_RECORDS)


def _take_records(callback: Callback, new: Callback, records: set[str]) -> None:
    """Set the attributes ``records`` of ``callback`` to those of ``new`` (those this Lightning version has)."""
    for name, value in vars(new).items():
        if name in records:
            setattr(callback, name, value)


def _log_test(logger: Logger, metrics: dict[str, float], step: int) -> None:
    """``metrics`` of a test pass as one row of ``logger``, at ``step``, as Lightning logs those of ``test``."""
    logger.log_metrics(metrics, step=step)
    logger.save()


def _refit(
    trainer: Trainer,
    model: LightningModule,
    datamodule: TimeSeriesDataModule,
    group: Windows,
) -> LightningModule:
    """A copy of ``model`` trained by ``trainer`` on each series' rows before the group's first origin;
    the best checkpoint on the monitored metric when there is one."""
    datamodule.resplit(refit_borders(datamodule, group.first))  # scalers fitted again at setup
    refitted = copy.deepcopy(model)
    trainer.fit(refitted, datamodule=datamodule)
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best:  # its weights, and the naive forecast it falls back to when it lost to one on validation
        checkpoint = torch.load(best, map_location="cpu", weights_only=True)
        refitted.load_state_dict(checkpoint["state_dict"])
        refitted.naive_fallback = checkpoint.get("naive_fallback")
    datamodule.setup("test")  # the refit's scalers scale its test windows
    return refitted
