"""Reading users' time columns into a DatetimeIndex: times, text, zones, day-first dates, missing times.

Users hand in times in many shapes: a column of datetimes (used as it is, without a copy), text that pandas
reads (ISO 8601 of mixed precision too: a midnight as '2024-01-01' beside '2024-01-01 01:00:00'), text with
several UTC offsets (a time zone across a daylight-saving change, read as UTC with a warning), or text dates
written with the year last ('13/01/2024', '01/02/24 10:00'), read month first or day first, whichever reads
every value (where both do, the way that makes the series regular).
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
    written with the year last are read month first or day first (``_date_order``), the series being rows
    ``offsets[i]:offsets[i + 1]`` in ``order``.

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
    formats = _date_formats(column)
    form, times = (None, None) if formats is None else _date_order(column, formats, name, offsets, order)
    if times is not None and times.tz is None:  # read in its format already; text with offsets is read below
        return _no_missing(times, name, rows)
    try:
        times = pd.DatetimeIndex(_to_datetime(column, form=form))
    except (TypeError, ValueError):
        times = _utc_times(column, name, rows, form)  # not times, or times of several UTC offsets (only UTC holds)
    return _no_missing(times, name, rows)


def _to_datetime(column: pd.Series, utc: bool = False, form: str | None = None) -> pd.Series:
    """The column read in ``form``; without one, pandas' reading in the format of its first value, else in ISO
    8601 of any precision: text times that write a day's midnight as its date alone ('2024-01-01' beside
    '2024-01-01 01:00:00', as spreadsheets export them), which pandas reads only when told that they are ISO 8601.

    Raises:
        TypeError, ValueError: pandas' own, of the reading in ``form`` or the first value's format, where neither
            reads.
    """
    if form is not None:
        return pd.to_datetime(column, utc=utc, format=form)
    try:
        return pd.to_datetime(column, utc=utc)
    except (TypeError, ValueError) as error:
        first_format = error
    try:
        return pd.to_datetime(column, utc=utc, format="ISO8601")
    except (TypeError, ValueError):
        raise first_format from None


def _date_formats(column: pd.Series) -> tuple[str, str] | None:
    """The month-first and day-first formats of text dates written with the year last ('01/02/2024',
    '13.01.24 10:00': '%m/%d/%Y' and '%d/%m/%Y', '%m.%d.%y %H:%M' and '%d.%m.%y %H:%M'), guessed from the
    column's first value; ``None`` for other text (year first, as ISO 8601; month names; no dates)."""
    values = column.dropna()
    first = values.iloc[0] if len(values) else None
    if not isinstance(first, str):
        return None
    form = _guess_day_first(first) or _two_digit_year_format(first)
    if form is None:
        return None
    day, month, year = (form.find(field) for field in ("%d", "%m", "%Y" if "%Y" in form else "%y"))
    if not (0 <= day < year and 0 <= month < year):
        return None
    other = re.sub("%[dm]", lambda field: "%m" if field[0] == "%d" else "%d", form)
    return (form, other) if month < day else (other, form)


def _date_order(
    column: pd.Series, formats: tuple[str, str], name: str, offsets: np.ndarray, order: np.ndarray | None
) -> tuple[str | None, pd.DatetimeIndex | None]:
    """Which of ``formats``, month first and day first, reads the text dates of ``column``, and its reading
    (``_in_format``): the one that reads every value (a day above 12 reads one way only); where both do and
    read them apart ('01/02/2024': every day and month 12 or less), the one that gives regular series, as daily
    data written day first are only so. Where neither reads every value, the format of the first value (month
    first where it reads so, as pandas reads it) and no reading: ``_utc_times`` names the value in another
    format, or that is no time.

    Raises:
        ForecastDataError: both read every value, apart, and both or neither give regular series (naming the
            formats).
    """
    readings = [_in_format(column, form) for form in formats]
    read = [(form, reading) for form, reading in zip(formats, readings, strict=True) if reading is not None]
    if not read:
        first = column.dropna().iloc[:1]
        return (formats[0] if _in_format(first, formats[0]) is not None else formats[1]), None
    if len(read) < 2:
        return read[0]
    month, day = readings
    if month.equals(day):
        return read[0]
    regular = [_regular(reading if order is None else reading[order], offsets) for reading in readings]
    if regular[0] != regular[1]:
        return read[regular.index(True)]
    row = int(np.argmax(np.asarray(month != day)))  # the first whose readings differ
    kind = "regular" if all(regular) else "irregular (or gapped)"
    raise ForecastDataError(
        f"the time column {name!r} holds dates that read both month first and day first ({column.iloc[row]!r}: "
        f"{month[row]:%Y-%m-%d} or {day[row]:%Y-%m-%d}), and the series are {kind} either way; convert the column "
        f"with pandas.to_datetime(frame[{name!r}], format={formats[1]!r}) for day first, or format={formats[0]!r} "
        "for month first, and give the frame"
    )


def _in_format(column: pd.Series, form: str) -> pd.DatetimeIndex | None:
    """The column read in ``form`` (as UTC where the format has a UTC offset, which may differ between values),
    or ``None`` where a value does not read so; a missing value is no time, to be named by the caller."""
    try:
        return pd.DatetimeIndex(pd.to_datetime(column, format=form, utc="%z" in form))
    except (TypeError, ValueError):
        return None


def _regular(times: pd.DatetimeIndex, offsets: np.ndarray) -> bool:
    """Whether the series (rows ``offsets[i]:offsets[i + 1]`` of ``times``) of three rows or more all follow
    one frequency that pandas infers (no gaps), and there is such a series."""
    spans = zip(offsets[:-1], offsets[1:], strict=True)
    found = {pd.DatetimeIndex(times[start:end], freq="infer").freq for start, end in spans if end - start >= 3}
    return len(found) == 1 and None not in found


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


def _utc_times(column: pd.Series, name: str, rows: np.ndarray | None, form: str | None) -> pd.DatetimeIndex:
    """Text of times with several UTC offsets as UTC times (read in ``form``, or as ``_to_datetime`` reads them
    without one), with a warning.

    Raises:
        ForecastDataError: a value is not a time, or is one in another format than the first value's.
    """
    try:
        times = pd.DatetimeIndex(_to_datetime(column, utc=True, form=form))
    except (TypeError, ValueError) as error:
        _check_zones_given(column, name, rows)  # all times, but text of both kinds fails the format of the first
        row = _first_no_time(column, form)
        place = where(column=name, row=given_row(row, rows))
        if _in_other_format(column, row):
            raise ForecastDataError(
                f"the time column holds {column.iloc[row]!r} at {place}, a time in another format than the first, "
                f"{column.dropna().iloc[0]!r}, in whose format pandas reads them all; write every time in one "
                "format, or convert them with pandas.to_datetime(..., format='mixed') (dayfirst=True for dates "
                "written day first) and give the frame"
            ) from error
        if column.iloc[row] == name:
            raise ForecastDataError(
                f"the time column holds its own name {name!r} at {place}: the header repeated among the rows, as "
                f"files joined with their headers hold it; write the header once, or drop such rows (frame = "
                f"frame[frame[{name!r}] != {name!r}]) and convert the value columns with pandas.to_numeric"
            ) from error
        raise ForecastDataError(
            f"the time column holds {column.iloc[row]!r}, not a time, at {place}; "
            "give times (the index or first column of a wide frame, the first column of a wide CSV)"
        ) from error
    _check_zones_given(column, name, rows)
    warn_on_rank_zero(
        f"the time column {name!r} holds times of several UTC offsets (the first {column.iloc[0]!r}; a time zone's "
        "across a daylight-saving change): read as UTC, so calendar features and forecasts are in UTC; for local "
        "time give a frame of times in their zone (pandas.to_datetime(..., utc=True).tz_convert(zone))"
    )
    return times


def _first_no_time(column: pd.Series, form: str | None) -> int:
    """The first row of text that is no time in either of ``_to_datetime``'s readings (in ``form``, else that of
    the first value; and in ISO 8601), else the first that the former does not read (a time in another format)."""
    readings = [pd.to_datetime(column, errors="coerce", utc=True, format=each) for each in (form, "ISO8601")]
    given = column.notna()
    for bad in (readings[0].isna() & readings[1].isna() & given, readings[0].isna() & given):
        if bad.any():
            return int(np.argmax(bad.to_numpy()))
    return 0


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


def _no_missing(times: pd.DatetimeIndex, name: str, rows: np.ndarray | None) -> pd.DatetimeIndex:
    """``times``, refused where one is missing (NaT), naming the row as given."""
    if times.hasnans:
        row = given_row(int(np.argmax(times.isna())), rows)
        raise ForecastDataError(f"the time is missing at {where(column=name, row=row)}; fill or drop the row")
    return times
