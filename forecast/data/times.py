"""Reading users' time columns into a DatetimeIndex: times, text, zones, day-first dates, missing times.

Users hand in times in many shapes: a column of datetimes (used as it is, without a copy), text that pandas
reads (ISO 8601 of mixed precision too: a midnight as '2024-01-01' beside '2024-01-01 01:00:00'), text with
several UTC offsets (a time zone across a daylight-saving change, read as UTC with a warning), or text dates
such as '01/02/2024' that read both month first and day first (read the way that makes the series regular).
Everything else (periods, numbers, values that are no times, a mix of times with and without a zone, missing
times) is refused with a message that names the column, the row as given and the fix. This is one job apart
from grouping rows into series, which ``frames`` does.
"""

import re
import warnings
from typing import Any

import numpy as np
import pandas as pd
from pandas.tseries.api import guess_datetime_format

from ..errors import ForecastDataError, given_row, warn_on_rank_zero, where

__all__ = ["read_times"]

_TWO_DIGIT_YEAR = re.compile(r"\d{1,2}([/.-])\d{1,2}\1(?P<year>\d{2})(?!\d)")  # '01/02/24', then a time or not


def read_times(
    column: pd.Series, name: str, rows: np.ndarray | None, offsets: np.ndarray, order: np.ndarray | None
) -> pd.DatetimeIndex:
    """The column as times (in the column's own unit: no copy of a column of times). Text with several
    UTC offsets (a time zone's, across daylight-saving changes) is read as UTC, with a warning. Text dates
    that read both month first and day first are read the way that makes the series regular
    (``_month_or_day_first``), the series being rows ``offsets[i]:offsets[i + 1]`` in ``order``.

    Args:
        column: the time column (or a wide frame's index as a Series), in the rows' order as read.
        name: the column's name, for messages.
        rows: the row of the frame as given of each row of ``column``; ``None``: the same row.
        offsets: series ``i`` is rows ``[offsets[i], offsets[i + 1])`` once in ``order``, shape (N + 1,).
        order: the row order that makes each series contiguous; ``None``: already is.

    Raises:
        ForecastDataError: a value is missing or is not a time, or text dates read both month and day first
            and not only one way gives regular series.
    """
    if pd.api.types.is_datetime64_any_dtype(column):
        return _no_missing(pd.DatetimeIndex(column), name, rows)  # a view: no copy of a column of times
    first = where(column=name, row=given_row(0, rows))
    if isinstance(column.dtype, pd.PeriodDtype):
        raise ForecastDataError(
            f"the time column holds periods ({column.dtype}), not times, at {first}; convert them with "
            f".to_timestamp(): frame.index = frame.index.to_timestamp() (wide), or "
            f"frame[{name!r}] = frame[{name!r}].dt.to_timestamp() (long)"
        )
    if pd.api.types.is_numeric_dtype(column):
        raise ForecastDataError(
            f"the time column holds numbers ({column.dtype}), not times, at {first}; "
            "convert them with pandas.to_datetime (format='%Y%m%d' for 20240131, unit='s' for seconds since "
            "1970), or give a wide frame a DatetimeIndex"
        )
    try:
        times = pd.DatetimeIndex(_to_datetime(column))
    except (TypeError, ValueError):
        times = _utc_times(column, name, rows)  # not times, or times of several UTC offsets, which only UTC holds
        return _no_missing(times, name, rows)
    return _month_or_day_first(column, _no_missing(times, name, rows), name, offsets, order)


def _to_datetime(column: pd.Series, utc: bool = False) -> pd.Series:
    """pandas' reading of the column in the format of its first value, else in ISO 8601 of any precision: text
    times that write a day's midnight as its date alone ('2024-01-01' beside '2024-01-01 01:00:00', as
    spreadsheets export them), which pandas reads only when told that they are ISO 8601.

    Raises:
        TypeError, ValueError: pandas' own, of the reading in the first value's format, where neither reads.
    """
    try:
        return pd.to_datetime(column, utc=utc)
    except (TypeError, ValueError) as error:
        first_format = error
    try:
        return pd.to_datetime(column, utc=utc, format="ISO8601")
    except (TypeError, ValueError):
        raise first_format from None


def _month_or_day_first(
    column: pd.Series, times: pd.DatetimeIndex, name: str, offsets: np.ndarray, order: np.ndarray | None
) -> pd.DatetimeIndex:
    """``times``, pandas' reading of ``column`` (none missing), or the column read day first where its text
    reads both ways ('01/02/2024': every day and month 12 or less) and only day first gives regular series:
    pandas reads such text month first, which turns daily data written day first into a month a row.

    Raises:
        ForecastDataError: the text reads both ways, and both or neither give regular series (naming the formats).
    """
    day_first = _day_first_format(column)
    if day_first is None:
        return times
    other = pd.DatetimeIndex(pd.to_datetime(column, format=day_first, errors="coerce"))
    if other.hasnans or other.equals(times):
        return times  # a day above 12 in the second field, or every day equals its month
    regular = [_regular(reading if order is None else reading[order], offsets) for reading in (times, other)]
    if regular == [True, False]:
        return times
    if regular == [False, True]:
        return other
    row = int(np.argmax(np.asarray(times != other)))  # the first whose readings differ
    month_first = re.sub("%[dm]", lambda field: "%m" if field[0] == "%d" else "%d", day_first)  # '%m/%d/%y'
    kind = "regular" if all(regular) else "irregular (or gapped)"
    raise ForecastDataError(
        f"the time column {name!r} holds dates that read both month first and day first ({column.iloc[row]!r}: "
        f"{times[row]:%Y-%m-%d} or {other[row]:%Y-%m-%d}), and the series are {kind} either way; convert the column "
        f"with pandas.to_datetime(frame[{name!r}], format={day_first!r}) for day first, or format={month_first!r} "
        "for month first, and give the frame"
    )


def _regular(times: pd.DatetimeIndex, offsets: np.ndarray) -> bool:
    """Whether the series (rows ``offsets[i]:offsets[i + 1]`` of ``times``) of three rows or more all follow
    one frequency that pandas infers (no gaps), and there is such a series."""
    spans = zip(offsets[:-1], offsets[1:], strict=True)
    found = {pd.DatetimeIndex(times[start:end], freq="infer").freq for start, end in spans if end - start >= 3}
    return len(found) == 1 and None not in found


def _day_first_format(column: pd.Series) -> str | None:
    """The format of text dates written day, month, year ('%d/%m/%Y', '%d/%m/%y'), guessed from the first value
    read day first; ``None`` for other text: year first (ISO), month first ('01/13/2024'), or no dates. Whether
    every value reads in that format, and whether pandas read them so, is for the caller to find."""
    values = column.dropna()
    first = values.iloc[0] if len(values) else None
    if not isinstance(first, str):
        return None
    day_first = _guess_day_first(first) or _two_digit_year_format(first)
    if day_first is None:
        return None
    year = max(day_first.find("%Y"), day_first.find("%y"))
    return day_first if 0 <= day_first.find("%d") < day_first.find("%m") < year else None


def _guess_day_first(text: str) -> str | None:
    """pandas' guess of the format of ``text`` read day first. pandas warns where it guesses another order
    ('2024-03-29' reads year first); its callers only ask whether text is written day first, so the user
    never asked for day first and gets no warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Parsing dates in .* format when dayfirst=True", UserWarning)
        return guess_datetime_format(text, dayfirst=True)


def _two_digit_year_format(text: str) -> str | None:
    """The day-first format of a date with a two-digit year ('01/02/24', '01.02.24 10:00': '%d/%m/%y',
    '%d.%m.%y %H:%M'), for which pandas guesses no format (and reads the text month first, value by value);
    ``None`` for other text. The date is guessed with its year written in four digits, then put back in two."""
    date = _TWO_DIGIT_YEAR.match(text)
    if date is None:
        return None
    day_first = _guess_day_first(f"{text[: date.start('year')]}20{text[date.start('year') :]}")
    return day_first.replace("%Y", "%y", 1) if day_first is not None else None


def _utc_times(column: pd.Series, name: str, rows: np.ndarray | None) -> pd.DatetimeIndex:
    """Text of times with several UTC offsets as UTC times, with a warning.

    Raises:
        ForecastDataError: a value is not a time, or is one in another format than the first value's.
    """
    try:
        times = pd.DatetimeIndex(_to_datetime(column, utc=True))
    except (TypeError, ValueError) as error:
        _check_zones_given(column, name, rows)  # all times, but text of both kinds fails the format of the first
        readings = [pd.to_datetime(column, errors="coerce", utc=True, format=form) for form in (None, "ISO8601")]
        bad = readings[0].isna() & readings[1].isna() & column.notna()  # no time in either reading of _to_datetime
        row = int(np.argmax(bad.to_numpy())) if bad.any() else 0
        place, hint = where(column=name, row=given_row(row, rows)), _day_first_hint(column)
        if not hint and _in_other_format(column, row):
            raise ForecastDataError(
                f"the time column holds {column.iloc[row]!r} at {place}, a time in another format than the first, "
                f"{column.dropna().iloc[0]!r}, in whose format pandas reads them all; write every time in one "
                "format, or convert them with pandas.to_datetime(..., format='mixed') (dayfirst=True for dates "
                "written day first) and give the frame"
            ) from error
        raise ForecastDataError(
            f"the time column holds {column.iloc[row]!r}, not a time, at {place}; "
            "give times (the index or first column of a wide frame, the first column of a wide CSV)" + hint
        ) from error
    _check_zones_given(column, name, rows)
    warn_on_rank_zero(
        f"the time column {name!r} holds times of several UTC offsets (the first {column.iloc[0]!r}; a time zone's "
        "across a daylight-saving change): read as UTC, so calendar features and forecasts are in UTC; for local "
        "time give a frame of times in their zone (pandas.to_datetime(..., utc=True).tz_convert(zone))"
    )
    return times


def _in_other_format(column: pd.Series, row: int) -> bool:
    """Whether the text at ``row``, which pandas does not read in the format of the column's first value, is a
    time all the same, in another format ('01/01/2024 01:00' after '01/01/2024')."""
    value = column.iloc[row]
    if not isinstance(value, str) or value == column.dropna().iloc[0]:
        return False
    try:
        return pd.Timestamp(value) is not pd.NaT  # 'nan' reads as no time
    except (TypeError, ValueError):
        return False


def _check_zones_given(column: pd.Series, name: str, rows: np.ndarray | None) -> None:
    """Refuse a column of times (text or objects) of which some have a UTC offset and some none: pandas would
    read the latter as UTC, which they need not be, or as no times. Each distinct value is looked at once.

    Raises:
        ForecastDataError: naming the first time without an offset and the first with one.
    """
    try:
        zoned = {value: _has_zone(value) for value in column.dropna().unique()}
    except TypeError:  # unhashable values (lists, say): no times, which the caller names
        return
    if None in zoned.values() or True not in zoned.values() or False not in zoned.values():
        return  # some value is no time (the caller names it), or all have a zone, or none has
    flags = column.map(zoned)  # None where missing
    naive, aware = (int(np.argmax(flags.eq(kind).to_numpy(dtype=bool))) for kind in (False, True))
    raise ForecastDataError(
        f"the time column mixes times without a time zone ('{column.iloc[naive]}' at "
        f"{where(column=name, row=given_row(naive, rows))}) and times with one ('{column.iloc[aware]}' at row "
        f"{given_row(aware, rows)}); give all times a zone (e.g. pandas.to_datetime(...).tz_localize(zone) for those "
        "without one) or none"
    )


def _has_zone(value: Any) -> bool | None:
    """Whether a time (text or object) has a UTC offset; ``None`` if it is no time."""
    try:
        return pd.Timestamp(value).tzinfo is not None
    except (TypeError, ValueError):
        return None


def _day_first_hint(column: pd.Series) -> str:
    """A hint for dates written day first ('13/01/2024'), which pandas reads month first from the first ones,
    and then refuses from the 13th day on; empty where reading them day first would not help."""
    day_first = _day_first_format(column)
    if day_first is None:
        return ""
    try:
        pd.to_datetime(column, format=day_first)
    except (TypeError, ValueError):
        return ""
    return (
        "; they read as dates written day first: convert them with pandas.to_datetime(..., dayfirst=True) "
        f"(format={day_first!r}) and give the frame"
    )


def _no_missing(times: pd.DatetimeIndex, name: str, rows: np.ndarray | None) -> pd.DatetimeIndex:
    """``times``, refused where one is missing (NaT), naming the row as given."""
    if times.hasnans:
        row = given_row(int(np.argmax(times.isna())), rows)
        raise ForecastDataError(f"the time is missing at {where(column=name, row=row)}; fill or drop the row")
    return times
