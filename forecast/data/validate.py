"""Checks on the series users hand in: refuse, naming the place and the fix, or repair on request and say so.

Every check runs over all series at once on the table's flat arrays; only series that need a repair
are visited one by one.
"""

import warnings
from typing import Literal

import numpy as np
import pandas as pd
from lightning.pytorch.utilities.rank_zero import rank_prefixed_message, rank_zero_info

from ..errors import ForecastDataError, user_stacklevel, warn_on_rank_zero, where
from .buffer import SeriesBuffer
from .frames import Roles, SeriesTable

__all__ = [
    "NanPolicy", "REPAIR_PARTS", "UnrepairablePart", "check_lengths", "long_enough", "repair_missing",
    "check_future_rows", "check_naive_scale", "check_history_end",
]  # fmt: skip

NanPolicy = Literal["error", "ffill", "interpolate", "zero"]


def check_lengths(
    table: SeriesTable, lookback: int, horizon: int, drop_short: bool, share: tuple[int, int] | None = None
) -> SeriesTable:
    """The table, without the series shorter than ``lookback + horizon`` if ``drop_short`` (with a warning).

    ``horizon`` 0 checks history to forecast from, which needs ``lookback`` rows with targets (the
    horizon's future covariates, where a model reads them, are checked when its window is read).
    ``share``, the process and the number of processes, says that the table holds one process's
    share of the series only (``data.shard: series``).

    Raises:
        ForecastDataError: a series is too short and ``drop_short`` is false, or all are; the message
            says how many rows are needed.
    """
    if not table.named:
        if table.observed[0] >= lookback + horizon:
            return table
        needed = f"lookback + horizon = {lookback + horizon}" if horizon else f"lookback = {lookback}"
        fix = "give more rows or shorten lookback or horizon" if horizon else f"give at least {lookback} rows"
        raise ForecastDataError(f"the data has {table.observed[0]} rows, fewer than {needed}; {fix}")
    keep = long_enough(table.names, table.observed, lookback, horizon, drop_short, share)
    return table if keep.all() else table.select(keep)


def long_enough(
    names: list[str],
    rows: np.ndarray,
    lookback: int,
    horizon: int,
    drop_short: bool,
    share: tuple[int, int] | None = None,
) -> np.ndarray:
    """Which series have at least ``lookback + horizon`` rows, shape (N,); with ``drop_short`` the others
    are to be left out, with a warning naming them (``check_lengths``, whose arguments these are).

    Raises:
        ForecastDataError: a series is too short and ``drop_short`` is false, or all are.
    """
    min_rows = lookback + horizon
    short = rows < min_rows
    if not short.any():
        return ~short
    needed = f"lookback + horizon = {min_rows}" if horizon else f"lookback = {lookback}"
    listed = [f"{names[i]!r} ({rows[i]} rows)" for i in np.flatnonzero(short)[:10]]
    more = f" and {short.sum() - 10} more" if short.sum() > 10 else ""
    listing = f"{short.sum()} series shorter than {needed} rows: {', '.join(listed)}{more}"
    if not drop_short:
        fix = "set data.drop_short: true to leave them out, or shorten lookback or horizon"
        fix = fix if horizon else f"give each at least {lookback} rows of history"
        raise ForecastDataError(f"{listing}; {fix}")
    if short.all():
        of = "" if share is None else f" of process {share[0]}'s share (data.shard: series, {share[1]} processes)"
        fewer = "" if share is None else ", or use fewer processes"
        raise ForecastDataError(
            f"data.drop_short leaves no series{of}: all {listing}; shorten lookback or horizon{fewer}"
        )
    _warn(f"data.drop_short: leaving out {listing}", share)
    return ~short


def _warn(message: str, share: tuple[int, int] | None) -> None:
    """Warn once for all processes, or, of ``share`` (a process and the number of processes: its own series
    under ``data.shard: series``, which no other process sees), from that process, naming it."""
    if share is None or share[1] == 1:
        warn_on_rank_zero(message)
    else:
        warnings.warn(rank_prefixed_message(message, share[0]), stacklevel=user_stacklevel())


REPAIR_PARTS = ("train", "val", "test", "after test", "future rows")
"""The parts of a series that missing values are repaired in, in time order: the split's three, the
rows after the test part, and the future-only rows (future covariates of the horizon after the data)."""


class UnrepairablePart(ForecastDataError):
    """A column of a series without a finite value in a part of it or before it to repair the part from
    (``repair_missing``); ``in_history`` says it of history to forecast from (predict's, all of it one part).

    Args:
        place: the first row of the part, as ``SeriesTable.where`` names it.
        part: the part's index in ``REPAIR_PARTS``.
        end: the end of the part, in rows into the series.
    """

    def __init__(self, place: str, part: int, end: int) -> None:
        super().__init__(
            f"no finite value to repair from at {place} and before the end of the {REPAIR_PARTS[part]} part ({end} "
            "rows into the series): a part is repaired from its own rows and earlier ones only; give the series some "
            "values in this column there, set data.nan_policy: zero, or leave the series out"
        )
        self.place, self.part, self.end = place, part, end

    def __reduce__(self) -> tuple:
        """Pickle by the arguments (a worker process sends the refusal back whole)."""
        return type(self), (self.place, self.part, self.end)

    @property
    def in_history(self) -> str:
        """The refusal for history given to predict, which has no train, val or test part: its rows up to the
        last target, then the future rows that carry the future covariates of the horizon."""
        rows = "history" if self.part == 0 else "future rows"
        return (
            f"no finite value to repair from at {self.place} and before the end of the {rows} given to predict "
            f"({self.end} rows into the series); give the series some values in this column there, or leave the "
            "series out"
        )


def repair_missing(table: SeriesTable, roles: Roles, policy: NanPolicy, borders: np.ndarray) -> dict[str, np.ndarray]:
    """Refuse NaN or infinite values, or (by ``policy``) repair each part of each series from its own
    rows and the rows before it only; log how many values were repaired, per column and per part (of history to
    forecast from, borders of no val or test rows: in the history, and how many of them in its future rows).

    A part is repaired as a whole-series repair would repair it if the series ended where the part
    ends, so no training value is ever computed from a validation or test row, nor a validation value
    from a test row (a forward fill may carry training values into validation, never the reverse).
    ``ffill`` carries the last value forward (values before a series' first one take the first);
    ``interpolate`` draws a straight line between neighbours (a part's trailing values take the last
    one before them, a series' leading values the first); ``zero`` puts 0. Within a part,
    ``interpolate`` reads later rows of the same part, so a window's inputs in a gap before its origin
    would be drawn towards its own targets, and a gap across a part's border holds the earlier part's
    repair before the border and the later part's after it: a window's dataset (``OriginRepair``) repairs
    its missing inputs again from the values given before its origin. ``ffill`` reads a later row only for
    a series' leading values; a window whose origin comes at or before a channel's first value reads 0
    there instead (``OriginRepair``).
    Future-only rows are checked only in the future covariates they carry.

    Args:
        table: the series, values as given (never changed).
        roles: which columns are dynamic, and which of them are future covariates.
        policy: ``error``, ``ffill``, ``interpolate`` or ``zero``.
        borders: per series the first target row of val, of test, and the end of test, shape (N, 3).

    Returns:
        A repaired copy of every column that had a missing value.

    Raises:
        ForecastDataError: a value is NaN or infinite and the policy is ``error``, or (``UnrepairablePart``) a
            column of a series has no finite value in a part or before it to repair the part from.
    """
    zero = np.zeros((len(borders), 1), dtype=np.int64)
    cuts = np.hstack([zero, borders, table.observed[:, None], table.lengths[:, None]])  # -> (N, 6) part starts/ends
    repaired, columns, parts = {}, {}, np.zeros(len(REPAIR_PARTS), dtype=np.int64)
    for column in roles.dynamic:
        values = table.values[column]
        bad = ~np.isfinite(values)
        if column not in roles.future and (table.observed < table.lengths).any():
            rows = np.flatnonzero(bad)
            series = np.searchsorted(table.offsets, rows, side="right") - 1
            bad[rows[rows >= table.offsets[series] + table.observed[series]]] = False  # targets unknown there
        if not bad.any():
            continue
        if policy == "error":
            row = int(np.argmax(bad))
            raise ForecastDataError(
                f"value {values[row]} at {table.where(row, column)}; fill or drop it, or set data.nan_policy "
                "to ffill, interpolate or zero"
            )
        repaired[column], counts = _repair(table, column, bad, policy, cuts)
        columns[column], parts = int(bad.sum()), parts + counts
    if repaired:
        rank_zero_info(
            f"data.nan_policy={policy}: repaired {sum(columns.values())} NaN or infinite values {columns}, "
            f"{_where_repaired(parts, (borders == table.observed[:, None]).all())}"
        )
    return repaired


def _where_repaired(parts: np.ndarray, history: bool) -> str:
    """Where the values of the repair log lie: per part of ``REPAIR_PARTS`` (``parts``, counts of each), or, of
    ``history`` (borders of no val, test or after-test rows in any series: predict's ``HistorySplit``), in the
    history, which has no train part: its rows up to each series' last target, then its future rows."""
    if not history:
        by_part = {name: int(count) for name, count in zip(REPAIR_PARTS, parts, strict=True) if count}
        return f"per part {by_part}"
    future = f" ({parts[-1]} of them in its future rows)" if parts[-1] else ""
    return f"in the history{future}"


def _repair(
    table: SeriesTable, column: str, bad: np.ndarray, policy: NanPolicy, cuts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A repaired copy of one column (the user's frame is never changed), and the count per part."""
    given = table.values[column].copy()
    given[bad] = np.nan
    values, counts = given.copy(), np.zeros(len(REPAIR_PARTS), dtype=np.int64)
    for series in np.unique(np.searchsorted(table.offsets, np.flatnonzero(bad), side="right") - 1):
        start = table.offsets[series]
        for part, (begin, end) in enumerate(zip(cuts[series, :-1], cuts[series, 1:], strict=True)):
            missing = bad[start + begin : start + end]
            if not missing.any():
                continue
            counts[part] += missing.sum()
            known = pd.Series(given[start : start + end])  # the part and the rows before it, nothing later
            if policy == "zero":
                known = known.fillna(0.0)
            elif policy == "ffill":
                known = known.ffill().bfill()
            else:
                known = known.interpolate(limit_direction="both")
            if known.isna().any():
                raise UnrepairablePart(table.where(int(start + begin), column), part, int(end))
            values[start + begin : start + end] = known.to_numpy()[begin:]
    return values, counts


def check_future_rows(buffer: SeriesBuffer, table: SeriesTable, future: list[str], horizon: int) -> None:
    """Refuse to forecast beyond the data where a series lacks the future covariates of the horizon.

    Raises:
        ForecastDataError: naming the first such series, how many steps it gives, and the fix.
    """
    short = buffer.future_rows < horizon
    if short.any():
        i = int(np.argmax(short))
        raise ForecastDataError(
            f"{where(series=table.names[i]) if table.named else 'the data'} gives future covariates {future} for "
            f"{buffer.future_rows[i]} of the {horizon} steps after its last target; to forecast, append "
            f"{horizon} rows with the future covariates and empty targets"
        )


def check_naive_scale(
    train_rows: np.ndarray,
    seasonal_period: int,
    names: list[str],
    scale: np.ndarray,
    share: tuple[int, int] | None = None,
    targets: list[str] | None = None,
) -> None:
    """Refuse series whose training part is too short for the scale of MASE; warn of those without one.

    A series without training rows (one that only tests, as ``DateSplit`` makes of a series that
    starts after ``test_start``) has no scale at any period: its scale is NaN, MASE leaves its windows
    out, and the warning names it. So does a series whose training targets do not change over the
    period (all zero, say: an item not yet sold), whose scale would be 0, or have no two values given
    (not repaired) the period apart, which the scale is the mean over; the warning names the target columns
    of each such series that have no scale. A series with training rows, but too few for the period, is
    refused: the period or the split is to change.

    Args:
        train_rows: the training rows of each series tested, shape (N,).
        seasonal_period: m of MASE (``data.seasonal_period``).
        names: the series' names.
        scale: the scale of MASE of each series (``buffer.naive_scale``), shape (N, C_out), NaN where it
            has none.
        share: the process and the number of processes, when the series are one process's share
            (``data.shard: series``): that process warns.
        targets: the target columns, one per channel of ``scale``, which the warning names with each series
            without a scale in some of them (``None``: named by their channel, "channel 0").

    Raises:
        ForecastDataError: a series has training rows, but no more than ``seasonal_period``.
    """
    untrained = np.flatnonzero(train_rows == 0)
    if untrained.size:
        more = f" and {untrained.size - 10} more" if untrained.size > 10 else ""
        _warn(
            f"series {[names[i] for i in untrained[:10]]}{more} have no training rows (they only test), so MASE "
            "has no scale for them: MASE leaves them out; the other metrics count them",
            share,
        )
    short = np.flatnonzero((train_rows > 0) & (train_rows <= seasonal_period))
    if short.size:
        listed = [f"{names[i]!r} ({train_rows[i]} training rows)" for i in short[:10]]
        more = f" and {short.size - 10} more" if short.size > 10 else ""
        raise ForecastDataError(
            f"series {', '.join(listed)}{more} have too few for MASE with data.seasonal_period={seasonal_period}, "
            f"which needs more than {seasonal_period}; lower the period or train on more rows"
        )
    flat = np.flatnonzero((train_rows > 0) & ~np.isfinite(scale).all(1))  # trained on enough rows, yet no scale
    if flat.size:
        more = f" and {flat.size - 10} more" if flat.size > 10 else ""
        columns = targets if targets is not None else [f"channel {channel}" for channel in range(scale.shape[1])]
        unscaled = "; ".join(
            f"series {names[i]!r}: {[columns[channel] for channel in np.flatnonzero(~np.isfinite(scale[i]))]}"
            for i in flat[:10]
        )
        _warn(
            f"series {[names[i] for i in flat[:10]]}{more} have training targets that do not change over the "
            f"seasonal period (data.seasonal_period={seasonal_period}), or no two values given (not repaired) that "
            f"far apart, so MASE has no scale for them in the target columns ({unscaled}): MASE leaves those "
            "columns of those series out; the other metrics count them",
            share,
        )


def check_history_end(table: SeriesTable, past: list[str]) -> None:
    """Refuse a series whose history seems to end after its last target: some rows after it hold a past covariate,
    and others do not.

    With future covariates, the rows after a series' last target are read as the horizon's future rows. A missing
    last target (a day without a sales count) would then move the forecast's start back into the history, silently:
    a past covariate on that row, known only up to the forecast start, but on none of the rows after it, tells that
    the row is history. Past covariates on every future row, or on none, are left as they are.

    Args:
        table: the series read for predict (its ``observed``: the rows up to each series' last target).
        past: the past covariates' columns.

    Raises:
        ForecastDataError: naming the series, the column and the time of the row, and the fix.
    """
    for i in np.flatnonzero((table.observed > 0) & (table.observed < table.lengths)):
        start, end = table.offsets[i] + table.observed[i], table.offsets[i + 1]
        for column in past:
            given = ~np.isnan(table.values[column][start:end])
            if given.any() and not given.all():
                row = int(start + np.flatnonzero(given)[-1])
                raise ForecastDataError(
                    f"series {table.names[i]!r} holds past covariate {column!r} at {table.times[row]} but its targets "
                    f"end at {table.times[start - 1]}: predict reads the rows after a series' last target as the "
                    f"horizon's future rows, so its forecast would start at {table.times[start]}, inside its history; "
                    f"fill its targets up to {table.times[row]} (with the last value, say), or leave the series out"
                )
