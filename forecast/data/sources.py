"""From what users hand in (a built-in name, a CSV/Parquet path, a DataFrame) to the frame read, and the
series of it that ``data.series`` picks.

``frames.to_table`` then makes the frame read a table of series.
"""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import datasets
from ..errors import ForecastDataError
from .files import check_unique, is_long, read_file
from .frames import series_ids
from .options import Columns

__all__ = ["named_series", "read_source"]


def read_source(
    source: str | Path | pd.DataFrame,
    id_column: str,
    time_column: str,
    columns: list[str] | None = None,
    series: list[str] | None = None,
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """A frame from a built-in name, a CSV or Parquet path, or a DataFrame, as given, and with
    ``series`` the row of the frame as given that each of its rows is (``None``: every row, in order).

    A file with an ``id_column`` is long; otherwise its ``time_column`` (or, failing that, its first
    column) becomes the index of a wide frame, unless a Parquet file kept its own DatetimeIndex.
    From a file, only the ``id_column``, the ``time_column`` and ``columns`` (all when ``None``) are
    read, and of long data only the rows of the ``series`` named (all when ``None``); Parquet skips
    the rest without reading it (pyarrow's column selection and row-group filters), and reads the id
    column alone to tell the rows in the file of those it keeps.

    Raises:
        ForecastDataError: the name is neither a built-in data set nor an existing CSV/Parquet file (a folder,
            say), the file has no rows or lacks a column of ``columns``, the data name a column twice, or
            ``series`` is empty, asked of wide data or names ids that the data lack.
        TypeError: ``source`` is none of these, or ``series`` is one id (text or a number), not a list of ids.
    """
    if series is not None:
        _check_series(series)
    positions = None  # the row in the source of each row read, where some were skipped in reading
    if isinstance(source, pd.DataFrame):
        frame = source.rename(columns=str)  # column names as the roles spell them; no copy of the data
        if times_in_first_column(frame, id_column, time_column):  # as in a file: a wide frame's time may lead
            frame = frame.set_index(frame.columns[0])
    elif isinstance(source, str) and source.lower() in datasets.names():
        frame = datasets.load(source)
    elif isinstance(source, (str, Path)):
        frame, positions = read_file(Path(source).expanduser(), id_column, time_column, columns, series)
    else:
        raise TypeError(
            f"data.source is a {type(source).__name__}; give a built-in data set name, a CSV or Parquet path, or a "
            "pandas DataFrame" + (" (series.to_frame() of a Series)" if isinstance(source, pd.Series) else "")
        )
    _check_id_column(frame, id_column)
    _check_column_names(frame)
    if series is None:
        return frame, None
    frame, rows = _only_series(frame, id_column, series)
    return frame, rows if positions is None else positions[rows]


def _check_id_column(frame: pd.DataFrame, id_column: str) -> None:
    """Refuse an ``id_column`` set to a name the data lack: their series would be read as one wide series, and
    refused for times that go backwards at the second series' start, naming no id column."""
    if id_column == Columns.id_column or id_column in frame.columns or id_column in frame.index.names:
        return
    raise ForecastDataError(
        f"data.columns.id_column={id_column!r} is not a column of the data (its columns are "
        f"{[str(column) for column in frame.columns][:20]}); correct the name, or leave it unset for wide data"
    )


def times_in_first_column(frame: pd.DataFrame, id_column: str, time_column: str) -> bool:
    """A wide frame with a default index, no ``time_column`` and times in its first column: of times
    (``reset_index()``'s), or of text or objects, read as times as a wide file's first column is (a frame
    from ``pandas.read_csv``); ``to_table`` names the first value that is not a time.

    A default index is one of row labels, whole numbers: ``reset_index()``'s, also where a row filter
    (``frame.reset_index()[lambda d: d.date >= start]``), a sort or ``pd.concat`` left them other than 0, 1, 2, ...
    """
    if is_long(frame, id_column) or time_column in frame.columns or not _row_labels(frame.index):
        return False
    if len(frame.columns) < 2:  # no column to read times from and one left to forecast (an empty frame, say)
        return False
    first = frame.iloc[:, 0]
    times = pd.api.types.is_datetime64_any_dtype(first)
    text = first.dtype == object or pd.api.types.is_string_dtype(first)
    return times or text


def _row_labels(index: pd.Index) -> bool:
    """Whether ``index`` is one of row labels: of one level and of whole numbers, not times."""
    return index.nlevels == 1 and pd.api.types.is_integer_dtype(index)


def _check_column_names(frame: pd.DataFrame) -> None:
    """Refuse column names that do not each name one column: pandas would hand a frame where a
    column is expected.

    Raises:
        ForecastDataError: the columns have several levels, or two have one name (naming it).
    """
    if isinstance(frame.columns, pd.MultiIndex):
        raise ForecastDataError(
            f"the data's columns have {frame.columns.nlevels} levels, e.g. column {frame.columns[0]!r}; "
            "give one name per column, e.g. frame.columns = ['_'.join(map(str, c)) for c in frame.columns]"
        )
    check_unique([str(column) for column in frame.columns], "the data (names compared as text)")


def _only_series(frame: pd.DataFrame, id_column: str, series: list[str]) -> tuple[pd.DataFrame, np.ndarray]:
    """The rows of the ``series`` named, each id as it is spelt in the data or as text, and their rows in ``frame``."""
    if not is_long(frame, id_column):
        raise ForecastDataError(
            f"data.series={list(series)[:10]} picks series of long data, but the data have no {id_column!r} "
            "column; drop data.series, or set data.columns.id_column"
        )
    ids = series_ids(frame, id_column)
    _check_series_found(series, set(ids.unique()), id_column)
    keep = ids.isin(set(map(str, series))).to_numpy()
    return frame[keep], np.flatnonzero(keep)


def _check_series(series: Any) -> None:
    """Refuse a ``data.series`` that is no list of ids, or an empty one.

    Raises:
        TypeError: ``series`` is one id (text or a number): a text would name one series per letter.
        ForecastDataError: ``series`` is empty.
    """
    if isinstance(series, str) or not isinstance(series, Iterable):
        raise TypeError(f"data.series={series!r} is not a list of series ids; give [{series!r}]")
    if len(series) == 0:
        raise ForecastDataError("data.series is empty; name at least one series, or drop data.series to read them all")


def _check_series_found(series: Iterable, ids: set[str], id_column: str) -> None:
    """Refuse a ``data.series`` naming ids that are not among the data's ``ids`` (as text).

    Raises:
        ForecastDataError: naming the missing ids and a few of the data's own: ids as read may be spelt unlike
            the file's (7 for '007', 2.0 for 2). None where a Parquet filter read only the ids asked for.
    """
    asked = set(map(str, series))
    missing = sorted(asked - ids)
    if missing:
        others = sorted(ids - asked)[:5]
        raise ForecastDataError(
            f"data.series names series {missing[:10]} that column {id_column!r} of the data lacks"
            + (f" (its other series include {others})" if others else "")
            + "; check their spelling"
        )


def named_series(index: pd.DataFrame, series: list[str] | None, id_column: str) -> pd.DataFrame:
    """The rows of the series index (``shard: series``) of the ids ``series`` (``None``: all), checked as
    ``read_source`` checks them without a shard, so that both refuse the same ``data.series``.

    Raises:
        TypeError: ``series`` is one id (text or a number), not a list of ids.
        ForecastDataError: ``series`` is empty, or names ids that the data lack.
    """
    if series is None:
        return index
    _check_series(series)
    _check_series_found(series, set(index["id"]), id_column)
    return index[index["id"].isin({str(name) for name in series})]
