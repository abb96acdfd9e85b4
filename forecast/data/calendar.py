"""Calendar features of the time index, known for any future step, so they serve as future covariates.

pandas derives every field (hour, day of week, days in the month, leap years, ISO weeks); nothing
here counts days by hand. A feature is either a zero-based integer index (for an embedding) or a
point on the unit circle, ``sin`` and ``cos`` of ``2 pi index / period``, so that the last hour of
a day sits next to the first.
"""

import datetime
from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from ..errors import ForecastDataError

__all__ = [
    "CALENDAR_FEATURES",
    "SEASON",
    "CalendarEncoding",
    "calendar_columns",
    "calendar_features",
    "fixed_step",
    "season_positions",
    "season_steps",
    "seasonal_period",
    "series_steps",
    "step_times",
    "wall_clock",
    "wall_clock_range",
]

CalendarEncoding = Literal["cyclical", "integer"]

Field = Callable[[pd.DatetimeIndex], np.ndarray]


class CalendarField(NamedTuple):
    """One calendar feature: its zero-based index at each time, and its period there (an array where
    the period varies, as the days of a month do)."""

    index: Field
    period: Field


def _week_of_year(times: pd.DatetimeIndex) -> np.ndarray:
    return times.isocalendar().week.to_numpy(dtype=np.int64) - 1  # ISO weeks 1-53 -> 0-52


CALENDAR_FEATURES: dict[str, CalendarField] = {
    "minute": CalendarField(index=lambda t: t.minute, period=lambda t: 60),
    "hour": CalendarField(index=lambda t: t.hour, period=lambda t: 24),
    "dayofweek": CalendarField(index=lambda t: t.day_of_week, period=lambda t: 7),
    "day": CalendarField(index=lambda t: t.day - 1, period=lambda t: t.days_in_month),
    "dayofyear": CalendarField(index=lambda t: t.day_of_year - 1, period=lambda t: 365 + t.is_leap_year),
    # 53 weeks in every year: a week is at the same point in any year (a 52-week year leaves a step unused).
    "weekofyear": CalendarField(index=_week_of_year, period=lambda t: 53),
    "month": CalendarField(index=lambda t: t.month - 1, period=lambda t: 12),
    "quarter": CalendarField(index=lambda t: t.quarter - 1, period=lambda t: 4),
}


# The offsets of one step a month or a quarter (business ones too: BME's steps are months, as ME's are; so are
# those of a weekday of the month, WOM-1MON and LWOM-FRI), and of two steps a month (SMS: the 1st and the 15th).
_MONTHS = (pd.offsets.MonthBegin, pd.offsets.MonthEnd, pd.offsets.BusinessMonthBegin, pd.offsets.BusinessMonthEnd)
_MONTHS += (pd.offsets.CustomBusinessMonthBegin, pd.offsets.CustomBusinessMonthEnd)
_MONTHS += (pd.offsets.WeekOfMonth, pd.offsets.LastWeekOfMonth)
_HALF_MONTHS = (pd.offsets.SemiMonthBegin, pd.offsets.SemiMonthEnd)
_QUARTERS = (pd.offsets.QuarterBegin, pd.offsets.QuarterEnd, pd.offsets.BQuarterBegin, pd.offsets.BQuarterEnd)


# The one feature that depends on the data's frequency as well as on the times: each step's position in the
# data's season (``seasonal_period``), e.g. the hour of hourly data, the quarter-hour of the day of 15-minute data.
SEASON = "season"


def seasonal_period(freq: str | pd.DateOffset) -> int | None:
    """The steps of one season at ``freq``: a day of sub-daily data, a week of daily data (5 steps of business
    days, or as many as a custom weekmask has: 6 of ``Mon Tue Wed Thu Fri Sat``), a year of weekly, semi-monthly,
    monthly or quarterly data; ``None`` when no such cycle is common (yearly data), or when one step spans the whole
    season (``12MS``: yearly data; ``8bh``: a business day a step).

    Business hours are sub-daily data too: their season is the business day, its opening hours as the
    offset states them (8 of ``bh``'s 09:00-17:00, 10 of ``BusinessHour(start="08:00", end="18:00")``),
    as hourly data's is the day's 24 hours and not the week's 168. Opening hours that are not whole
    steps (09:30-17:00 in hours) carry the rest over into the next day, so they have no season.

    A plain ``pd.DateOffset`` of one unit has the season of that unit's named offset (``_named_offset``):
    ``DateOffset(months=1)`` is monthly, ``DateOffset(days=1)`` daily.

    Example:
        >>> seasonal_period("h"), seasonal_period("15min"), seasonal_period("D"), seasonal_period("B")
        (24, 96, 7, 5)
        >>> seasonal_period("W-MON"), seasonal_period("MS"), seasonal_period("QE"), seasonal_period("YS")
        (52, 12, 4, None)
        >>> seasonal_period("7D"), seasonal_period("2MS"), seasonal_period("2D"), seasonal_period("5MS")
        (52, 6, None, None)
        >>> seasonal_period("14D"), seasonal_period("2W-SUN"), seasonal_period("24h"), seasonal_period("3W")
        (26, 26, 7, None)
        >>> seasonal_period("BME"), seasonal_period("BQS"), seasonal_period("bh"), seasonal_period("2bh")
        (12, 4, 8, 4)
        >>> seasonal_period("12MS"), seasonal_period("4QS"), seasonal_period("52W"), seasonal_period("8bh")
        (None, None, None, None)
        >>> seasonal_period("SMS"), seasonal_period("SME"), seasonal_period("WOM-1MON"), seasonal_period("LWOM-FRI")
        (24, 24, 12, 12)
        >>> seasonal_period(pd.DateOffset(months=1)), seasonal_period(pd.DateOffset(months=2))
        (12, 6)
    """
    offset = _named_offset(freq)
    if isinstance(offset, pd.offsets.BusinessHour):  # custom business hours too
        hours, rest = divmod(_opening_time(offset), pd.Timedelta(hours=1))
        return _steps_of(hours, offset.n) if rest == pd.Timedelta(0) else None
    if isinstance(offset, pd.offsets.Day | pd.offsets.Tick):  # Day: a calendar day since pandas 3, no longer a Tick
        day, week = pd.Timedelta(days=1), pd.Timedelta(weeks=1)
        step = offset.n * day if isinstance(offset, pd.offsets.Day) else pd.Timedelta(offset)
        if step < day:
            return day // step if day % step == pd.Timedelta(0) else None
        if step == day:
            return 7  # a week of days
        if step % week != pd.Timedelta(0):
            return None
        offset = pd.offsets.Week(step // week)  # whole weeks (7D, 14D, 336h) have the season of W-SUN's weeks
    if isinstance(offset, pd.offsets.BusinessDay):  # custom business days too, a week of their weekmask's days
        return _steps_of(int(_business_weekdays(offset).sum()), offset.n)
    # A season counted in these steps, when n of them divide it (2 months: 6 a year; 5 months: none).
    seasons = {pd.offsets.Week: 52, _HALF_MONTHS: 24, _MONTHS: 12, _QUARTERS: 4}
    steps = next((steps for kind, steps in seasons.items() if isinstance(offset, kind)), None)
    return _steps_of(steps, offset.n) if steps is not None else None


# The named offset of each unit that a plain pd.DateOffset steps by; a month's season counts months on any day of
# the month, as MonthBegin's does, and a week's counts weeks from any weekday, as Week's does.
_UNITS = {"years": pd.offsets.YearBegin, "months": pd.offsets.MonthBegin, "weeks": pd.offsets.Week}
_UNITS |= {"days": pd.offsets.Day, "hours": pd.offsets.Hour, "minutes": pd.offsets.Minute}
_UNITS |= {"seconds": pd.offsets.Second, "milliseconds": pd.offsets.Milli, "microseconds": pd.offsets.Micro}
_UNITS |= {"nanoseconds": pd.offsets.Nano}


def _named_offset(freq: str | pd.DateOffset) -> pd.DateOffset:
    """The offset of ``freq``; a plain ``pd.DateOffset`` that steps by one unit (``DateOffset(months=2)``, which no
    frequency name describes) as the named offset of as many of that unit (``MonthBegin(2)``), which has the same
    season and positions. ``DateOffset()`` steps a day, as pandas adds it; one of several units or of a set field
    (``DateOffset(month=1)``) stays as it is, without a season."""
    offset = pd.tseries.frequencies.to_offset(freq)
    if type(offset) is not pd.DateOffset:  # isinstance holds for every pandas offset
        return offset
    units = offset.kwds or {"days": 1}
    if len(units) != 1 or next(iter(units)) not in _UNITS:
        return offset
    count = offset.n * next(iter(units.values()))
    return _UNITS[next(iter(units))](count) if count > 0 else offset


def _business_weekdays(offset: pd.offsets.BusinessDay) -> np.ndarray:
    """Which days of the week, Monday first, are business days: a custom weekmask's (``Sun Mon Tue Wed Thu``), else
    Monday to Friday."""
    calendar = getattr(offset, "calendar", None)  # CustomBusinessDay's; BusinessDay has none
    return np.asarray(calendar.weekmask if calendar is not None else [True] * 5 + [False] * 2)


def _steps_of(season: int, n: int) -> int | None:
    """The steps of ``n`` units in a season of ``season`` units, where they divide it in more than one step."""
    return season // n if season % n == 0 and season > n else None


def _business_time(offset: pd.offsets.BusinessHour, wall: pd.DatetimeIndex) -> np.ndarray:
    """The business time from the opening of each time's business day to it, wall-clock times in, timedelta64 out.

    The day's intervals (``offset.start``/``offset.end``, which pandas keeps in order from the first
    opening) are counted from the first opening, so an interval past midnight (22:00-06:00) belongs to
    the day it opened on and a break between two intervals (12:00-13:00) counts no time.
    """
    day = pd.Timedelta(days=1)
    first = _clock(offset.start[0])
    since = ((wall - wall.normalize() - first) % day).to_numpy()  # clock time since the first opening
    elapsed = np.zeros(len(wall), dtype=since.dtype)
    for start, end in zip(offset.start, offset.end, strict=True):
        opens, length = (_clock(start) - first) % day, (_clock(end) - _clock(start)) % day
        elapsed += np.clip(since - opens.to_timedelta64(), np.timedelta64(0), length.to_timedelta64())
    return elapsed


def _opening_time(offset: pd.offsets.BusinessHour) -> pd.Timedelta:
    """The business time of one business day: the lengths of its intervals (past midnight too), summed."""
    day = pd.Timedelta(days=1)
    lengths = [(_clock(end) - _clock(start)) % day for start, end in zip(offset.start, offset.end, strict=True)]
    return sum(lengths, pd.Timedelta(0))


def _clock(time: datetime.time) -> pd.Timedelta:
    """A time of day as the time since midnight."""
    return pd.Timedelta(hours=time.hour, minutes=time.minute, seconds=time.second, microseconds=time.microsecond)


def season_steps(freq: str | pd.DateOffset) -> int:
    """``seasonal_period(freq)`` for the feature ``season``, which needs one.

    Raises:
        ForecastDataError: ``freq`` has no season (yearly data).
    """
    period = seasonal_period(freq)
    if period is None:
        raise ForecastDataError(
            f"calendar feature {SEASON!r} needs a frequency with a season (sub-daily, daily, weekly, semi-monthly, "
            f"monthly or quarterly); the data's frequency {freq!r} has none: leave {SEASON!r} out of "
            "data.calendar.features"
        )
    return period


def season_positions(times: pd.DatetimeIndex, freq: str | pd.DateOffset) -> np.ndarray:
    """Each time's zero-based position in the season of ``seasonal_period(freq)`` steps.

    Positions count steps of ``freq`` on the times' wall clock, so consecutive steps have consecutive
    positions (modulo the season) and the same time of the season always has the same position, in
    any series and at any date: the hour for hourly data, the quarter-hour of the day for 15-minute
    data, the business hour of the business day for business-hour data, a fixed numbering of the weekdays
    for daily data, the month for monthly data, the month and its half for semi-monthly data. Weekly data are
    the exception: a year is 52 weeks and a day or two, so their positions (weeks since 1970, modulo 52) slide
    about a day a year against the calendar, keeping consecutive steps consecutive. On times with a time zone
    the wall clock skips or repeats an hour at daylight-saving changes, and so do the positions.

    Example:
        >>> season_positions(pd.date_range("2016-07-01 22:00", periods=4, freq="h"), "h")
        array([22, 23,  0,  1])

    Raises:
        ForecastDataError: ``freq`` has no season (yearly data).
    """
    period = season_steps(freq)
    offset = _named_offset(freq)
    wall = wall_clock(times)
    fixed = isinstance(offset, pd.offsets.Tick | pd.offsets.Day)
    if fixed:
        steps = (wall - pd.Timestamp(0)) // pd.Timedelta(offset)  # steps since 1970-01-01 00:00
    elif isinstance(offset, pd.offsets.BusinessHour):
        steps = _business_time(offset, wall) // np.timedelta64(1, "h")
    elif isinstance(offset, pd.offsets.BusinessDay):  # the business days of the week, counted from Monday
        steps = (np.cumsum(_business_weekdays(offset)) - 1)[wall.day_of_week]
    elif isinstance(offset, pd.offsets.Week):
        steps = (wall - pd.Timestamp(0)).days // 7
    elif isinstance(offset, _HALF_MONTHS):  # half months since 1970: the second opens on SMS's 15th, after SME's
        later = wall.day >= offset.day_of_month + isinstance(offset, pd.offsets.SemiMonthEnd)
        steps = (wall.year * 12 + wall.month - 1) * 2 + later
    else:  # months or quarters since 1970
        months = wall.year * 12 + wall.month - 1
        steps = months // (3 if isinstance(offset, _QUARTERS) else 1)
    return np.asarray(steps, dtype=np.int64) // (1 if fixed else offset.n) % period


def _field(name: str, freq: str | None) -> CalendarField:
    if name != SEASON:
        return CALENDAR_FEATURES[name]
    if freq is None:
        raise ValueError(f"calendar feature {SEASON!r} needs the data's frequency: pass freq")
    return CalendarField(index=lambda t: season_positions(t, freq), period=lambda t: seasonal_period(freq))


def _check(features: list[str]) -> None:
    known = [*CALENDAR_FEATURES, SEASON]
    unknown = [name for name in features if name not in known]
    if unknown:
        raise ForecastDataError(f"calendar feature(s) {unknown} unknown; choose from {known} in data.calendar.features")


def calendar_columns(features: list[str], encoding: CalendarEncoding) -> list[str]:
    """The names of the channels :func:`calendar_features` makes, e.g. ``hour_sin, hour_cos``.

    Raises:
        ForecastDataError: a feature is neither one of ``CALENDAR_FEATURES`` nor ``season``.
    """
    _check(features)
    if encoding == "integer":
        return list(features)
    return [f"{name}_{part}" for name in features for part in ("sin", "cos")]


def calendar_features(
    times: pd.DatetimeIndex, features: list[str], encoding: CalendarEncoding, freq: str | None = None
) -> np.ndarray:
    """The calendar features of ``times``, one channel per name of :func:`calendar_columns`.

    Args:
        times: any times; their own time zone (if any) decides the hour and the day.
        features: names from ``CALENDAR_FEATURES``.
        encoding: ``integer`` for the zero-based index, ``cyclical`` for its sine and cosine.
        freq: the data's frequency, which the feature ``season`` needs (``season_positions``).

    Shapes:
        (T,) -> (T, len(calendar_columns(features, encoding)))

    Raises:
        ForecastDataError: a feature is neither one of ``CALENDAR_FEATURES`` nor ``season``, or ``season`` is
            among them and ``freq`` has no season (yearly data).
        ValueError: ``season`` is among the features and ``freq`` is ``None``.
    """
    _check(features)
    channels = []
    for name in features:
        field = _field(name, freq)
        index = np.asarray(field.index(times), dtype=np.float64)  # -> (T,)
        if encoding == "integer":
            channels.append(index)
        else:
            angle = 2 * np.pi * index / np.asarray(field.period(times), dtype=np.float64)  # -> (T,)
            channels += [np.sin(angle), np.cos(angle)]
    return np.stack(channels, axis=1).astype(np.float32) if channels else np.empty((len(times), 0), np.float32)


def fixed_step(offset: pd.DateOffset, times: pd.DatetimeIndex) -> int | None:
    """The step of a frequency in ticks of ``times``' unit, when it never varies (hours; days without time zones).

    In a time zone a day is a calendar day (23 or 25 hours at a daylight-saving change), also under
    pandas 2, where ``Day`` is still a fixed 24-hour ``Tick`` but ``date_range`` steps calendar days.
    A step that is not a whole number of ticks (1500 ms on times in seconds) has none either: rounded,
    it would be another step (1 s).
    """
    calendar_day = isinstance(offset, pd.offsets.Day)
    if times.tz is not None and (calendar_day or not isinstance(offset, pd.offsets.Tick)):
        return None
    try:
        step = pd.Timedelta(offset)
    except ValueError:
        return None
    tick = pd.Timedelta(1, unit=times.unit)
    return step // tick if step % tick == pd.Timedelta(0) else None


def step_times(starts: pd.DatetimeIndex, counts: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """``counts[i]`` times from ``starts[i]`` on at frequency ``freq``, series after series.

    Shapes:
        starts: (N,), counts: (N,) -> (sum(counts),)
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    step = fixed_step(offset, starts)
    if step is None:
        ranges = [
            wall_clock_range(start, periods=count, freq=offset) for start, count in zip(starts, counts, strict=True)
        ]
        return ranges[0].append(ranges[1:]) if ranges else starts[:0]
    first = np.repeat(np.cumsum(counts) - counts, counts)
    stamps = np.repeat(starts.asi8, counts) + (np.arange(counts.sum()) - first) * step
    times = pd.DatetimeIndex(stamps.view(f"datetime64[{starts.unit}]"))
    return times if starts.tz is None else times.tz_localize("UTC").tz_convert(starts.tz)


def wall_clock(times: pd.DatetimeIndex | pd.Timestamp) -> pd.DatetimeIndex | pd.Timestamp:
    """The local times of ``times`` without their time zone (times without one as they are)."""
    return times.tz_localize(None) if times.tz is not None else times


def wall_clock_range(
    start: pd.Timestamp | None = None,
    end: pd.Timestamp | None = None,
    periods: int | None = None,
    *,
    freq: str | pd.DateOffset,
    inclusive: Literal["both", "neither", "left", "right"] = "both",
) -> pd.DatetimeIndex:
    """``pd.date_range(start, end, periods, freq)``, defined on every day of a time zone.

    pandas steps a calendar offset (days, weeks, months) in a time zone on its wall clock, and fixed steps
    (hours) in elapsed time; so does this. But where a step's wall-clock time does not exist that day or
    occurs twice (a daylight-saving change at that time), pandas raises ("... is a nonexistent time",
    "Cannot infer dst time"), so this takes the time as pandas stores such data: a time the clock skips
    is the first after the gap (``tz_localize(..., nonexistent="shift_forward")``: midnight of
    2018-11-04 in America/Sao_Paulo is 01:00), a time it repeats is its first occurrence; the earliest
    instant at or after the wall-clock time, in both cases.

    Example:
        >>> days = wall_clock_range(pd.Timestamp("2018-11-03", tz="America/Sao_Paulo"), periods=3, freq="D")
        >>> [str(day) for day in days]
        ['2018-11-03 00:00:00-03:00', '2018-11-04 01:00:00-02:00', '2018-11-05 00:00:00-02:00']
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    zone = (start if start is not None else end).tz
    if zone is None or _elapsed(offset):
        return pd.date_range(start, end, periods, offset, inclusive=inclusive)
    start, end = (None if time is None else wall_clock(time.tz_convert(zone)) for time in (start, end))
    naive = pd.date_range(start, end, periods, offset, inclusive=inclusive)
    times = naive.tz_localize(zone, ambiguous="NaT", nonexistent="shift_forward")
    if times.hasnans:  # a repeated time: its earlier instant
        first, second = (
            naive.tz_localize(zone, ambiguous=np.full(len(naive), dst), nonexistent="shift_forward")
            for dst in (True, False)
        )
        times = times.where(times.notna(), first.where(first <= second, second))
    return times


def _elapsed(offset: pd.DateOffset) -> bool:
    """Whether ``offset``'s steps are elapsed time in a time zone (hours), not wall-clock steps (days, months)."""
    return isinstance(offset, pd.offsets.Tick) and not isinstance(offset, pd.offsets.Day)  # Day: pandas 2's Tick


def _after_gap(times: pd.DatetimeIndex) -> np.ndarray:
    """Where a time is the first after a daylight-saving gap: its wall-clock time may stand for itself or
    for a time the clock skipped (01:00 for midnight, ``wall_clock_range``), so no step counts from it."""
    if times.tz is None:
        return np.zeros(len(times), dtype=bool)
    tick = pd.Timedelta(1, unit=times.unit)
    return np.asarray(wall_clock(times) - wall_clock(times - tick) > tick)


def series_steps(
    times: pd.DatetimeIndex, freq: str | pd.DateOffset, first: int = 0, count: int | None = None
) -> pd.DatetimeIndex:
    """Steps ``first`` to ``first + count - 1`` (``None``: up to the last of ``times``) of ``freq`` of a series whose
    k-th time is step k, on their wall clock (``wall_clock_range``).

    Counted from the series' last time before step ``first`` that does not follow a daylight-saving gap
    (``_after_gap``), else its first such time, stepping back where needed: a time at 01:00 on the day the
    clock skipped midnight stands for that midnight in data at midnight and for itself in data at 01:00,
    and the series' other times tell which. The times up to the one counted from must be one step apart.

    Example:
        >>> days = wall_clock_range(pd.Timestamp("2018-11-03", tz="America/Sao_Paulo"), periods=2, freq="D")
        >>> [str(day) for day in days.append(series_steps(days, "D", first=2, count=1))]
        ['2018-11-03 00:00:00-03:00', '2018-11-04 01:00:00-02:00', '2018-11-05 00:00:00-02:00']
    """
    anchor = _anchor(times, first, pd.tseries.frequencies.to_offset(freq))
    back = max(anchor - first, 0)  # steps from ``first`` up to the anchor, stepped back from it
    earlier = wall_clock_range(end=times[anchor], periods=back + 1, freq=freq)[:-1] if back else times[:0]
    if count is None:
        later = wall_clock_range(times[anchor], times[-1], freq=freq)
    else:
        later = wall_clock_range(times[anchor], periods=max(first + count - anchor, 0), freq=freq)
    return earlier.append(later[max(first - anchor, 0) :])[:count]


def _anchor(times: pd.DatetimeIndex, first: int, offset: pd.DateOffset) -> int:
    """The row of ``series_steps``' time to count from: the last before ``first`` not after a daylight-saving gap,
    else the first from ``first`` on (0 where there is none), found one row at a time (there is rarely
    more than one to look at); without a time zone, or in elapsed steps, the row before ``first``."""
    if times.tz is None or _elapsed(offset):
        return min(max(first - 1, 0), len(times) - 1)
    rows = [*range(min(first, len(times)) - 1, -1, -1), *range(first, len(times))]
    return next((row for row in rows if not _after_gap(times[row : row + 1])[0]), 0)
