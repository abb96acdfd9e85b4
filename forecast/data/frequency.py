"""The frequency of the series' times: inferred (pandas' calendar frequencies too, around gaps) or given, and
checked on every series, naming the first row that leaves it and whether rows are missing there.
"""

import datetime
import functools
import re
import warnings
import zoneinfo
from collections import Counter

import numpy as np
import pandas as pd

from ..errors import ForecastDataError, user_stacklevel
from .calendar import fixed_step, series_steps, wall_clock
from .frames import SeriesTable

__all__ = ["check_times", "first_off_step"]


def check_times(table: SeriesTable, freq: str | pd.DateOffset | None) -> str:
    """Check that every series moves forward in regular steps, and return the frequency by its name.

    The frequency is ``freq`` when given, else the one ``_infer_frequency`` finds (or, in a time zone, where
    a series leaves the days or weeks inferred but keeps their elapsed length, that: ``24h``, ``168h``); every
    series must follow it without gaps. A pandas offset given as ``freq`` comes back as its name (``Hour(2)``:
    ``2h``), since a checkpoint records the frequency as text; a name that pandas deprecates comes back
    as pandas' name now (``d``: ``D``, ``_current_name``), so that a later pandas reads the checkpoint.

    Raises:
        ForecastDataError: a time repeats or goes backwards within a series, the frequency cannot be
            inferred, ``freq`` is not a pandas frequency or an offset that its name does not describe in
            full (opening hours, holidays), a series of long data steps by a fixed step of its own throughout
            (``_check_own_step``), or a step does not follow the frequency (the message says whether rows are
            missing there or the time is off the frequency's steps).
    """
    if isinstance(freq, pd.offsets.BaseOffset):
        freq = _offset_name(freq)
    stamps = table.times.asi8
    steps = np.diff(stamps)  # steps[k] leads from row k to row k + 1
    inside = np.ones(len(steps), dtype=bool)
    inside[table.offsets[1:-1] - 1] = False  # steps from one series to the next
    backwards = (steps <= 0) & inside
    if backwards.any():
        row = int(np.argmax(backwards)) + 1
        if steps[row - 1] == 0:
            raise ForecastDataError(
                f"duplicate time at {table.where(row)}: the row before has the same time; remove one of them"
                f"{_clock_back(table, row)}"
            )
        raise ForecastDataError(
            f"time goes backwards at {table.where(row)} (the row before is at {table.times[row - 1]}); "
            f"sort the frame by time{_clock_back(table, row)}"
        )
    other = f"correct data.freq={freq!r}" if freq else "state the frequency with data.freq"
    given, freq = freq, _current_name(freq) if freq else _infer_frequency(table)
    offset = _as_offset(freq)
    row = first_off_step(table, freq)
    elapsed = _elapsed(freq) if row is not None and not given and table.times.tz is not None else None
    if elapsed is not None and first_off_step(table, elapsed) is None:
        return elapsed  # UTC midnights in a local zone, of series that the longest, inferred as days, does not show
    if row is not None:
        _check_own_step(table, row, freq, offset)
        start = int(table.offsets[table.series_of(row)])
        expected = "a time on that frequency" if row == start else _next_step(table.times[start:row], offset)
        on_steps = row > start and _steps_from_start(table.times[start : row + 1], offset)[-1] >= 0
        gap = "fill the gap (reindex to the full range, then choose a nan_policy)"
        fix = gap if on_steps else "move the times onto its steps"
        raise ForecastDataError(
            f"time at {table.where(row)} does not follow frequency {freq!r} (expected {expected}); {fix}, or "
            f"{other}{_daylight_saving(table.times[start : row + 1], offset)}{_clock_forward(table, row, offset)}"
            f"{_fixed_offset(table.times[start : row + 1], offset)}"
        )
    return freq


def _elapsed(freq: str) -> str | None:
    """``freq`` of whole days or weeks as elapsed time (``D``: ``24h``, ``W-SUN``: ``168h``), else ``None``."""
    offset = _as_offset(freq)
    days = {pd.offsets.Day: 1, pd.offsets.Week: 7}.get(type(offset), 0) * offset.n
    return pd.tseries.frequencies.to_offset(pd.Timedelta(days=days)).freqstr if days > 0 else None


def _check_own_step(table: SeriesTable, row: int, freq: str, offset: pd.DateOffset) -> None:
    """Refuse a series of long data of three rows or more that steps by one fixed step from its first row to its last,
    other than that of ``freq``, a frequency of fixed steps (two hours among hourly series): it has a frequency of
    its own, not gaps to fill. A frequency of calendar steps (months, days in a time zone) is left to
    ``check_times``'s message.

    Raises:
        ForecastDataError: naming the series, its step, the data's frequency, and the fix.
    """
    series = table.series_of(row)
    diffs = np.diff(table.times.asi8[table.offsets[series] : table.offsets[series + 1]])
    steps = np.unique(diffs)
    fixed = fixed_step(offset, table.times)
    # One step of two rows is a gap as likely as a frequency: of a series that short (drop_short's), say a gap.
    if not table.named or fixed is None or len(diffs) < 2 or len(steps) != 1 or steps[0] == fixed:
        return
    step = _duration(pd.Timedelta(int(steps[0]), unit=table.times.unit))
    raise ForecastDataError(
        f"series {table.names[series]!r} steps {step} from its first row to its last, not by the data's frequency "
        f"{freq!r} (at {table.where(row)}): it has a frequency of its own, not gaps to fill; resample it to "
        f"{freq!r} (or the other series to its step), or leave it out"
    )


def _clock_back(table: SeriesTable, row: int) -> str:
    """For a message about the time at ``row`` repeating or going back on the one before: where local times
    without a time zone repeat an hour as daylight saving ends, neither removing nor sorting is the fix. Only
    for sub-daily times that go back an hour at most, after a step of their own series, to a time that some zone
    repeats on that date (``_at_clock_change``: the repeated hour starts at the time at ``row``)."""
    times = table.times
    if times.tz is not None or row - 1 <= table.offsets[table.series_of(row)]:
        return ""
    back, before = times[row - 1] - times[row], times[row - 1] - times[row - 2]
    if (
        back > pd.Timedelta(hours=1)
        or before >= pd.Timedelta(days=1)
        or not _at_clock_change(times[row], skipped=False)
    ):
        return ""
    return (
        "; or, if these are local times that repeat an hour where daylight saving ends, give them their time "
        "zone: tz_localize(zone, ambiguous='infer') on the time index or the time column's .dt"
    )


def _clock_forward(table: SeriesTable, row: int, offset: pd.DateOffset) -> str:
    """For a message about a gap before the time at ``row``: where local times without a time zone skip an hour
    as daylight saving starts, filling the gap would add an hour the clock never showed. Only for sub-daily
    steps of fixed length that come out one hour longer there, after a row of the time's own series, where the
    skipped hour (the one before the time at ``row``) is one that some zone skips on that date
    (``_at_clock_change``)."""
    times = table.times
    if times.tz is not None or row <= table.offsets[table.series_of(row)]:
        return ""
    step = pd.Timedelta(offset) if isinstance(offset, pd.offsets.Tick) else None  # hours, minutes: not days
    if step is None or step >= pd.Timedelta(days=1) or times[row] - times[row - 1] != step + pd.Timedelta(hours=1):
        return ""
    if not _at_clock_change(times[row] - pd.Timedelta(hours=1), skipped=True):
        return ""
    return (
        "; or, if these are local times that skip an hour where daylight saving starts, give them their time "
        "zone: tz_localize(zone, ambiguous='infer') on the time index or the time column's .dt"
    )


def _at_clock_change(start: pd.Timestamp, skipped: bool) -> bool:
    """Whether some zone of the tz database (``zoneinfo``) skips (``skipped``) or else repeats the wall-clock time
    ``start`` (naive) for daylight saving: the skipped or repeated hour of such a zone holds it on its date. An hour
    missing or repeated at any other time (07:00, noon; 02:00 on 1 January) is a gap or a duplicate. Changes of a
    zone's standard time (Almaty's on 1 March 2024) are no daylight saving, which the hint names."""
    wall = start.to_pydatetime(warn=False)
    for zone in _zones():
        # PEP 495: of a skipped time, fold 0 takes the offset before the change and fold 1 the one after, a larger
        # one; of a repeated time, fold 0 takes the first (larger) offset and fold 1 the second.
        early, late = wall.replace(tzinfo=zone), wall.replace(tzinfo=zone, fold=1)
        moved = late.utcoffset() - early.utcoffset()
        if moved and early.dst() != late.dst() and (moved > datetime.timedelta(0)) == skipped:
            return True
    return False


@functools.cache
def _zones() -> tuple[zoneinfo.ZoneInfo, ...]:
    """Every zone of the tz database (about 600; loaded once, in about 0.1 s, where a hint is asked for)."""
    return tuple(zoneinfo.ZoneInfo(name) for name in sorted(zoneinfo.available_timezones()))


def _daylight_saving(times: pd.DatetimeIndex, offset: pd.DateOffset) -> str:
    """For a message about the last of ``times`` (a series' times up to it) being off the frequency, where the
    clock changes between the time before and it or its expected time: for steps on the wall clock (days,
    months), how times at a daylight-saving change are read (the data may hold a skipped or repeated time
    another way); for steps of fixed length, that whole days of them (``24h``) are no calendar days there. Other steps
    of fixed length (hours, ``36h``) count elapsed time, which skips or repeats no time: nothing."""
    if len(times) < 2 or times.tz is None:
        return ""
    expected = _next_step(times[:-1], offset)
    if len({times[-2].utcoffset(), times[-1].utcoffset(), expected.utcoffset()}) == 1:
        return ""
    step = fixed_step(offset, times)
    if step is None:
        return (
            f" (in time zone {times.tz} a time that daylight saving skips is read as the first time after the gap, "
            "as tz_localize(..., nonexistent='shift_forward') stores it, and a repeated one as either of its "
            "instants; or store the times in UTC or as naive local times)"
        )
    days = pd.Timedelta(step, unit=times.unit) / pd.Timedelta(days=1)
    if not days.is_integer():
        return ""
    calendar_days = pd.tseries.frequencies.to_offset(f"{int(days)}D").freqstr
    return (
        f" (in time zone {times.tz} a day at a daylight-saving change has 23 or 25 hours: for steps of calendar "
        f"days, data.freq: {calendar_days})"
    )


def _fixed_offset(times: pd.DatetimeIndex, offset: pd.DateOffset) -> str:
    """For a message about the last of ``times`` (a series' times up to it) being off a calendar frequency (days,
    weeks, months) by an hour, in UTC or another fixed UTC offset: those are likely a time zone's local times (its
    midnights, say), which move by an hour against UTC at each daylight-saving change, as text of several UTC
    offsets does once read as UTC (``times.read_times``). In their own zone they keep to the wall clock's steps."""
    if len(times) < 2 or not _is_fixed_offset(times.tz) or fixed_step(offset, times) is not None:
        return ""
    if abs(times[-1] - _next_step(times[:-1], offset)) != pd.Timedelta(hours=1):
        return ""
    return (
        f"; or, if these are a time zone's local times, which move by an hour against {times.tz} where daylight "
        "saving starts or ends, give them their zone: tz_convert(zone) on the time index or the time column's .dt"
    )


def _is_fixed_offset(zone: datetime.tzinfo | None) -> bool:
    """Whether ``zone`` is UTC or another fixed UTC offset (``+01:00``), a zone without daylight saving."""
    return isinstance(zone, datetime.timezone) or str(zone) in ("UTC", "Etc/UTC")


def first_off_step(table: SeriesTable, freq: str) -> int | None:
    """The first row that is not one step of ``freq`` after the row before it in its series (a series'
    first row: that is not a time of the frequency), or ``None`` when every series follows it.

    Raises:
        ForecastDataError: ``freq`` is not a pandas frequency.
    """
    offset = _as_offset(freq)
    fixed = fixed_step(offset, table.times)
    if fixed is None:
        return _first_off_calendar(table, offset)
    off_step = np.diff(table.times.asi8) != fixed
    off_step[table.offsets[1:-1] - 1] = False  # steps from one series to the next
    return int(np.argmax(off_step)) + 1 if off_step.any() else None


def _infer_frequency(table: SeriesTable) -> str:
    """The frequency of the times, to be checked on every series afterwards.

    pandas' frequency of one of the five longest series where it infers one (a series without gaps) and
    every time of the longest series lies on its steps (not 2 days of a short series beside daily data).
    Else, of the frequencies pandas infers on short stretches of the longest series, the most common
    step, and the calendar frequencies pandas never infers (``_never_inferred``), the one under which
    most steps of the longest series are a single step, so that the rows missing elsewhere (gaps) are
    named afterwards: month starts, not the 31 days of most months.
    Every time of the longest series must lie on that frequency's steps from its first time.

    Raises:
        ForecastDataError: the series have one row each, or no frequency holds the times of the
            longest series (naming where they leave the steps of the likeliest one).
    """
    longest = np.argsort(-table.lengths, kind="stable")[:5]
    start = int(table.offsets[longest[0]])
    times = table.times[start : table.offsets[longest[0] + 1]]
    for series in longest:
        own = table.times[table.offsets[series] : table.offsets[series + 1]]
        inferred = pd.DatetimeIndex(own, freq="infer").freq if len(own) >= 3 else None
        if inferred is not None and (_steps_from_start(times, inferred) >= 0).all():
            return inferred.freqstr
    candidates = [*_stretch_frequencies(times), *_most_common_steps(table), *_never_inferred(times)]
    positions = {freq: _steps_from_start(times, _as_offset(freq)) for freq in candidates}
    freq = max(candidates, key=lambda freq: _single_steps(positions[freq]))  # the first of equals
    off = positions[freq] < 0
    if not off.any():
        return freq
    row = start + int(np.argmax(off))
    step = table.times[row] - table.times[row - 1] if row > start else None
    after = f"{_duration(step)} after the row before" if step is not None else "the first time of its series"
    raise ForecastDataError(
        f"cannot infer the frequency: pandas infers none that fits the times; at {table.where(row)} ({after}) "
        f"they leave the steps of {freq!r}, the likeliest frequency; put the times on a frequency's steps (monthly "
        "data on month starts or ends: pandas has no frequency for another day of the month) and state it "
        f"with data.freq, e.g. data.freq: {_example(freq)}"
        f"{_daylight_saving(times[: row - start + 1], _as_offset(freq))}"
        f"{_fixed_offset(times[: row - start + 1], _as_offset(freq))}"
    )


def _example(freq: str) -> str:
    """What to suggest as ``data.freq`` for times that leave the steps of ``freq``, the likeliest frequency: ``freq``
    itself, except for steps of 28 to 31 days, the likeliest for monthly data on another day of the month, which
    the message asks to move to month starts: ``MS``."""
    offset = _as_offset(freq)
    return "MS" if isinstance(offset, pd.offsets.Day) and 28 <= offset.n <= 31 else freq


def _never_inferred(times: pd.DatetimeIndex) -> list[str]:
    """The calendar frequencies that pandas knows but never infers, to try on ``times``: half months (the 1st
    and the 15th, ``SMS``; the 15th and the month's end, ``SME``) and each month's last day of the first time's
    weekday (``LWOM-FRI`` where it is a Friday)."""
    return ["SMS", "SME", f"LWOM-{times[0].day_name()[:3].upper()}"]


def _duration(step: pd.Timedelta) -> str:
    """A step for messages: whole days in days ("29 days", "1 day"), else as a frequency ("90min")."""
    days = step / pd.Timedelta(days=1)
    if not days.is_integer():
        return pd.tseries.frequencies.to_offset(step).freqstr
    return f"{days:g} day" if days == 1 else f"{days:g} days"


def _stretch_frequencies(times: pd.DatetimeIndex) -> list[str]:
    """The frequencies pandas infers on up to 64 stretches of three rows spread over ``times``, the
    most common first (five at most): a stretch without a gap shows a calendar frequency (month
    starts, business days) that the whole series, with a gap, hides."""
    if len(times) < 3:
        return []
    firsts = np.unique(np.linspace(0, len(times) - 3, min(64, len(times) - 2)).astype(np.int64))
    found = Counter()
    for first in firsts.tolist():
        inferred = pd.DatetimeIndex(times[first : first + 3], freq="infer").freq
        if inferred is not None:
            found[inferred.freqstr] += 1
    return [freq for freq, _ in found.most_common(5)]


def _most_common_steps(table: SeriesTable) -> list[str]:
    """The most common step within series, as a frequency: whole days in days (``D``, a calendar day in a time
    zone, where pandas 3 would name 24 hours ``24h``, which a daylight-saving change leaves), else as a ``Tick``;
    in a time zone, whole days also as elapsed time (``24h``): UTC midnights shown in a local zone keep those.

    Raises:
        ForecastDataError: the series have one row each, so no step.
    """
    steps = np.diff(table.times.asi8)
    steps = np.delete(steps, table.offsets[1:-1] - 1)  # only steps within a series
    if len(steps) == 0:
        raise ForecastDataError(
            "cannot infer a frequency from series of one row each; state it with data.freq, e.g. data.freq: h"
        )
    values, counts = np.unique(steps, return_counts=True)
    step = pd.Timedelta(int(values[np.argmax(counts)]), unit=table.times.unit)
    days = step / pd.Timedelta(days=1)
    elapsed = pd.tseries.frequencies.to_offset(step).freqstr
    if not days.is_integer():
        return [elapsed]
    calendar = pd.tseries.frequencies.to_offset(f"{int(days)}D").freqstr
    return [calendar, elapsed] if table.times.tz is not None else [calendar]


def _steps_from_start(times: pd.DatetimeIndex, offset: pd.DateOffset) -> np.ndarray:
    """The steps of ``offset`` from the first of ``times`` to each, -1 where a time is off those steps.

    Example:
        >>> times = pd.DatetimeIndex(["2000-01-01", "2000-02-01", "2000-04-01", "2000-04-15"])
        >>> _steps_from_start(times, pd.offsets.MonthBegin()).tolist()
        [0, 1, 3, -1]
    """
    fixed = fixed_step(offset, times)
    if fixed is not None:
        elapsed = times.asi8 - times.asi8[0]
        return np.where(elapsed % fixed == 0, elapsed // fixed, -1)
    steps, wall = wall_clock(series_steps(times, offset)), wall_clock(times)  # a repeated time: either instant
    position = steps.searchsorted(wall)
    found = position < len(steps)
    found[found] = steps[position[found]] == wall[found]
    return np.where(found, position, -1)  # -1 also for a first time off them


def _next_step(times: pd.DatetimeIndex, offset: pd.DateOffset) -> pd.Timestamp:
    """The time one step of ``offset`` after the last of ``times`` (a series' times up to there, one step apart)."""
    return series_steps(times, offset, first=len(times), count=1)[0]


def _single_steps(positions: np.ndarray) -> int:
    """How many steps from one time to the next are one step of the frequency (``_steps_from_start``'s)."""
    return int(((np.diff(positions) == 1) & (positions[:-1] >= 0)).sum())


# pandas' old spellings of frequencies, which pandas 3 no longer reads, and their names now.
_RENAMED = {"H": "h", "T": "min", "S": "s", "L": "ms", "U": "us", "N": "ns", "BH": "bh", "CBH": "cbh"}
_RENAMED |= {"M": "ME", "BM": "BME", "CBM": "CBME", "SM": "SME", "Q": "QE", "BQ": "BQE", "A": "YE", "Y": "YE"}
_RENAMED |= {"BA": "BYE", "BY": "BYE", "AS": "YS", "BAS": "BYS"}

# What to write as data.freq, for messages.
_EXAMPLES = "use e.g. h, 15min, D, W-SUN, MS"


def _as_offset(freq: str) -> pd.DateOffset:
    """The offset of ``freq``.

    Raises:
        ForecastDataError: ``freq`` is not a pandas frequency (naming the new name of an old one, e.g. ``H``), or
            not text at all (a number, which pandas refuses with a TypeError or AttributeError of its own).
    """
    if not isinstance(freq, str | pd.offsets.BaseOffset):
        raise ForecastDataError(f"data.freq={freq!r} is not a pandas frequency; give it as text: {_EXAMPLES}")
    try:
        return pd.tseries.frequencies.to_offset(freq)
    except ValueError as error:
        raise ForecastDataError(
            f"data.freq={freq!r} is not a pandas frequency; {_renamed(freq) or _EXAMPLES}"
        ) from error


def _current_name(freq: str) -> str:
    """``freq`` itself, or where pandas reads it with a deprecation warning (``d``, ``w``, ``W-sun`` under pandas 3;
    ``H`` under pandas 2.2) its name for the same frequency now (``offset.freqstr``: ``D``, ``W-SUN``, ``h``), with a
    warning: a checkpoint records the frequency by its name, and a later pandas will not read the deprecated one.

    Raises:
        ForecastDataError: ``freq`` is not a pandas frequency (``_as_offset``).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        offset = _as_offset(freq)
    if not any(issubclass(warning.category, FutureWarning | DeprecationWarning) for warning in caught):
        return freq
    name = offset.freqstr
    warnings.warn(
        f"data.freq={freq!r} is a name that pandas deprecates and a later pandas will not read; it is read as "
        f"{name!r}, the name that checkpoints record: write data.freq: {name}",
        FutureWarning,
        stacklevel=user_stacklevel(),
    )
    return name


def _offset_name(offset: pd.DateOffset) -> str:
    """The name of a pandas offset given as ``data.freq``, which a checkpoint records in its place (an
    offset object would keep it from loading with ``torch.load(weights_only=True)``).

    Raises:
        ForecastDataError: the name leaves out some of the offset's settings, so the frequency read back
            from it would be another (``BusinessHour(start="08:00", end="18:00")`` is named ``bh``, 09:00-17:00).
    """
    name = offset.freqstr
    try:
        same = pd.tseries.frequencies.to_offset(name) == offset
    except ValueError:  # no name pandas reads back (DateOffset(months=1))
        same = False
    if not same:
        raise ForecastDataError(
            f"data.freq={offset!r} is a pandas offset whose name {name!r} leaves out some of its settings (opening "
            "hours, holidays, a weekday); a checkpoint records the frequency by its name, which would read back as "
            f"another: give a frequency that its name describes in full; {_EXAMPLES}"
        )
    return name


def _renamed(freq: str) -> str | None:
    """What to write instead of an old pandas spelling of a frequency (``2H``: ``2h``); ``None`` for other text."""
    match = re.fullmatch(r"(\d*)([A-Za-z]+)(-\w+)?", freq.strip())
    if match is None or match[2] not in _RENAMED:
        return None
    new = f"{match[1]}{_RENAMED[match[2]]}{match[3] or ''}"
    try:
        pd.tseries.frequencies.to_offset(new)
    except ValueError:
        return None
    return f"that is pandas' old name of {new!r}: use {new}"


def _first_off_calendar(table: SeriesTable, offset: pd.DateOffset) -> int | None:
    """The first row off a calendar frequency (months, business days), checked one series at a time."""
    for start, end in zip(table.offsets[:-1], table.offsets[1:], strict=True):
        times = table.times[start:end]
        expected, wall = wall_clock(series_steps(times, offset, count=len(times))), wall_clock(times)
        if not expected.equals(wall):  # on the wall clock: a repeated time may be either instant
            return int(start + np.argmax(expected != wall))
    return None
