"""Calendar features of the time index, known for any future step, so they serve as future covariates.

pandas derives every field (hour, day of week, days in the month, leap years, ISO weeks); nothing
here counts days by hand. A feature is either a zero-based integer index (for an embedding) or a
point on the unit circle, ``sin`` and ``cos`` of ``2 pi index / period``, so that the last hour of
a day sits next to the first.
"""

from collections.abc import Callable
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd

from ..errors import ForecastDataError

__all__ = ["CALENDAR_FEATURES", "CalendarEncoding", "calendar_columns", "calendar_features", "fixed_step", "step_times"]

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
    "weekofyear": CalendarField(index=_week_of_year, period=lambda t: 53),
    "month": CalendarField(index=lambda t: t.month - 1, period=lambda t: 12),
    "quarter": CalendarField(index=lambda t: t.quarter - 1, period=lambda t: 4),
}


def _check(features: list[str]) -> None:
    unknown = [name for name in features if name not in CALENDAR_FEATURES]
    if unknown:
        raise ForecastDataError(
            f"calendar feature(s) {unknown} unknown; choose from {list(CALENDAR_FEATURES)} in data.calendar.features"
        )


def calendar_columns(features: list[str], encoding: CalendarEncoding) -> list[str]:
    """The names of the channels :func:`calendar_features` makes, e.g. ``hour_sin, hour_cos``.

    Raises:
        ForecastDataError: a feature is not one of ``CALENDAR_FEATURES``.
    """
    _check(features)
    if encoding == "integer":
        return list(features)
    return [f"{name}_{part}" for name in features for part in ("sin", "cos")]


def calendar_features(times: pd.DatetimeIndex, features: list[str], encoding: CalendarEncoding) -> np.ndarray:
    """The calendar features of ``times``, one channel per name of :func:`calendar_columns`.

    Args:
        times: any times; their own time zone (if any) decides the hour and the day.
        features: names from ``CALENDAR_FEATURES``.
        encoding: ``integer`` for the zero-based index, ``cyclical`` for its sine and cosine.

    Shapes:
        (T,) -> (T, len(calendar_columns(features, encoding)))

    Raises:
        ForecastDataError: a feature is not one of ``CALENDAR_FEATURES``.
    """
    _check(features)
    channels = []
    for name in features:
        field = CALENDAR_FEATURES[name]
        index = np.asarray(field.index(times), dtype=np.float64)  # -> (T,)
        if encoding == "integer":
            channels.append(index)
        else:
            angle = 2 * np.pi * index / np.asarray(field.period(times), dtype=np.float64)  # -> (T,)
            channels += [np.sin(angle), np.cos(angle)]
    return np.stack(channels, axis=1).astype(np.float32) if channels else np.empty((len(times), 0), np.float32)


def fixed_step(offset: pd.DateOffset, times: pd.DatetimeIndex) -> int | None:
    """The step of a frequency in ticks of ``times``' unit, when it never varies (hours; days without time zones)."""
    if times.tz is not None and not isinstance(offset, pd.offsets.Tick):
        return None
    try:
        return pd.Timedelta(offset) // pd.Timedelta(1, unit=times.unit)
    except ValueError:
        return None


def step_times(starts: pd.DatetimeIndex, counts: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """``counts[i]`` times from ``starts[i]`` on at frequency ``freq``, series after series.

    Shapes:
        starts: (N,), counts: (N,) -> (sum(counts),)
    """
    offset = pd.tseries.frequencies.to_offset(freq)
    step = fixed_step(offset, starts)
    if step is None:
        ranges = [pd.date_range(start, periods=count, freq=offset) for start, count in zip(starts, counts, strict=True)]
        return ranges[0].append(ranges[1:]) if ranges else starts[:0]
    first = np.repeat(np.cumsum(counts) - counts, counts)
    stamps = np.repeat(starts.asi8, counts) + (np.arange(counts.sum()) - first) * step
    times = pd.DatetimeIndex(stamps.view(f"datetime64[{starts.unit}]"))
    return times if starts.tz is None else times.tz_localize("UTC").tz_convert(starts.tz)
