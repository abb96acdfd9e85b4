"""Reading a CSV or Parquet file the data module is given: only the columns (and, of Parquet, the series) it
needs, with errors that name the file and the fix."""

import lzma
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .. import datasets
from ..errors import ForecastDataError, warn_on_rank_zero

__all__ = ["check_unique", "is_long", "read_file"]


_COMPRESSIONS = {".gz", ".bz2", ".zip", ".xz", ".zst", ".tar"}  # that pandas reads a CSV from, by its name
_READ_ERRORS = (ValueError, OSError, EOFError, lzma.LZMAError, zipfile.BadZipFile)  # of pandas, pyarrow, codecs


def _columns(path: Path) -> tuple[list[str], list[str]]:
    """The column names of a CSV or Parquet file, read from its header or schema, not its rows: as written, and
    as pandas reads them. pandas renames a CSV's second 'y' to 'y.1' (and an empty name to 'Unnamed: 3'), which
    would read two columns of one name as two columns; pyarrow refuses to select either of them."""
    if path.suffix.lower() == ".parquet":
        names = list(pq.read_schema(path).names)
        return names, names
    written = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False).iloc[0].tolist()
    return written, list(pd.read_csv(path, nrows=0).columns)


def check_unique(names: list[str], place: str) -> None:
    """Refuse two columns of one name among ``names``, the columns of ``place`` (for the message).

    Raises:
        ForecastDataError: naming the column, how often it appears, and the fix.
    """
    index = pd.Index(names)
    if index.has_duplicates:
        name = index[index.duplicated()][0]
        raise ForecastDataError(
            f"column {name!r} appears {int((index == name).sum())} times in {place}; give each column its own name"
        )


def read_file(
    path: Path, id_column: str, time_column: str, columns: list[str] | None, series: list[str] | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The file's frame, and for a Parquet file filtered by ``series`` the row in the file of each row read
    (``None``: the frame holds every row of the file, in order)."""
    if not path.is_file():
        raise ForecastDataError(
            f"data source {str(path)!r} is neither a built-in data set {datasets.names()} "
            "nor an existing file; give a CSV/Parquet path or a DataFrame"
        )
    suffix = path.suffix.lower()
    if suffix not in {".parquet", ".csv", *_COMPRESSIONS}:
        raise ForecastDataError(
            f"data source {str(path)!r}: unknown file type {path.suffix!r}; use .csv (or a compressed one: "
            f"{', '.join('.csv' + kind for kind in sorted(_COMPRESSIONS))}) or .parquet"
        )
    try:
        return _read_rows(path, id_column, time_column, columns, series)
    except ForecastDataError:
        raise
    except _READ_ERRORS as error:  # an empty, truncated or corrupt file, or one of another format
        kind, fix = ("Parquet", "a Parquet file") if suffix == ".parquet" else ("CSV", "a CSV file with a header row")
        if isinstance(error, UnicodeDecodeError):  # Excel's "Unicode text" (UTF-16), or Latin-1
            fix = "a CSV file encoded as UTF-8 (save it so, or give pandas.read_csv(path, encoding=...))"
        fix += ", compressed as its name says" if suffix in _COMPRESSIONS else ""
        raise ForecastDataError(
            f"data source {str(path)!r} cannot be read as {kind} ({type(error).__name__}: {error}); give {fix}"
        ) from error


def _read_rows(
    path: Path, id_column: str, time_column: str, columns: list[str] | None, series: list[str] | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``read_file``'s frame and rows, from a file known to exist and be named CSV or Parquet."""
    suffix = path.suffix.lower()
    written, available = _columns(path)
    check_unique([name for name in written if name], f"the header of data source {str(path)!r}")
    separator = next((mark for mark in ";\t|" if len(available) == 1 and mark in available[0]), None)
    if separator is not None:
        raise ForecastDataError(
            f"data source {str(path)!r} reads as one column {available[0]!r}: its values are separated by "
            f"{separator!r}, not commas; write it with commas, or give pandas.read_csv(path, sep={separator!r})"
        )
    wanted = None  # every column, also when a role names a missing one: its error then lists them all
    if columns is not None and set(columns) <= set(available):
        keep = {id_column, time_column, available[0], *columns}  # a wide file's time may be its first column
        wanted = [column for column in available if column in keep]
    positions = None
    if suffix == ".parquet":
        filters = None if series is None or id_column not in available else _id_filter(path, id_column, series)
        frame = pd.read_parquet(path, columns=wanted, filters=filters)
        if filters is not None:  # the rows kept, counted in the file: its id column alone, filtered the same way
            ids = pq.read_table(path, columns=[id_column]).column(id_column)
            if pa.types.is_dictionary(ids.type):
                ids = ids.cast(ids.type.value_type)
            positions = np.flatnonzero(pc.is_in(ids, value_set=pa.array(filters[0][2], ids.type)).to_numpy())
        if isinstance(frame.index, pd.DatetimeIndex):
            return frame, positions
    else:
        frame = _without_empty_columns(pd.read_csv(path, usecols=wanted), columns)
        frame = _without_written_index(frame, path, id_column, time_column, columns)
    if is_long(frame, id_column):  # a Parquet file may keep the id as an index level
        return frame, positions
    return frame.set_index(time_column if time_column in frame.columns else frame.columns[0]), positions


def _without_empty_columns(frame: pd.DataFrame, columns: list[str] | None) -> pd.DataFrame:
    """A CSV's frame without the columns that have neither a header ("Unnamed: 3") nor a value, which a
    separator at the end of every line (as some spreadsheets export) reads as: with no targets named, such a
    column would be forecast, and refused as all missing. A column a role names stays, to be refused so."""
    empty = [
        name
        for name in frame.columns
        if name.startswith("Unnamed: ") and name not in (columns or []) and frame[name].isna().all()
    ]
    return frame.drop(columns=empty) if empty else frame


def _without_written_index(
    frame: pd.DataFrame, path: Path, id_column: str, time_column: str, columns: list[str] | None
) -> pd.DataFrame:
    """A CSV's frame without a first column of empty header ("Unnamed: 0"), the index that ``DataFrame.to_csv``
    writes unless told ``index=False``, where the file has its own id or time column and no role names it:
    as a value column it would be forecast (or read as a covariate), row numbers and all. Said with a warning."""
    first = frame.columns[0]
    if first != "Unnamed: 0" or first in (columns or []):
        return frame
    if not (is_long(frame, id_column) or time_column in frame.columns):
        return frame  # the time of a wide file, whose first column it is
    warn_on_rank_zero(
        f"data source {str(path)!r}: leaving out its first column, whose header is empty (a frame's index, as "
        "DataFrame.to_csv writes it by default); give the column a header to read it, or write the file with "
        "index=False"
    )
    return frame.drop(columns=first)


def _id_filter(path: Path, id_column: str, series: list[str]) -> list[tuple] | None:
    """A pyarrow filter keeping the rows of ``series``, their ids in the type of the file's id column, if
    that is text or integers; ``None`` otherwise (e.g. times: every row is read and the ids matched as text).
    Integer ids outside the column type's range are left out of the filter: the file cannot hold them, and
    the check that follows names them."""
    kind = pq.read_schema(path).field(id_column).type
    kind = kind.value_type if pa.types.is_dictionary(kind) else kind
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return [(id_column, "in", [str(name) for name in series])]
    if not pa.types.is_integer(kind) or kind == pa.uint64():  # pyarrow filters compare as int64
        return None
    try:
        numbers = [int(name) for name in series]
    except ValueError:
        return None  # an id that is no integer: read them all, and let the check name it
    bounds = np.iinfo(kind.to_pandas_dtype())
    held = [number for number in numbers if bounds.min <= number <= bounds.max]
    return [(id_column, "in", held)] if held else None


def is_long(frame: pd.DataFrame, id_column: str) -> bool:
    """Whether ``frame`` is in long format: it has an ``id_column`` (as a column or index level)."""
    return id_column in frame.columns or id_column in (frame.index.names or [])
