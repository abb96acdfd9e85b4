"""Reading a CSV or Parquet file the data module is given: only the columns (and, of Parquet, the series) it
needs, with errors that name the file and the fix."""

import lzma
import re
import zipfile
from dataclasses import dataclass, field
from itertools import pairwise
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
_DECIMAL_COMMA = re.compile(r"-?\d+,\d+")  # '0,5': a number written with a decimal comma
_GROUPED_DECIMAL_COMMA = re.compile(r"-?\d{1,3}(?:([. ])\d{3})+,\d+")  # '1.000,5', '1 000,5': thousands too


@dataclass(frozen=True)
class _Header:
    """What a file says of its columns before its rows are read, read once and passed to each check.

    Attributes:
        written: the column names as the file writes them (a CSV's second 'y' stays 'y', an empty name empty).
        available: the names as written, but an empty CSV name as pandas names it, 'Unnamed: 3' (by its position).
        first_row: a CSV's first row of values, as text (more than the names where its rows end in a separator;
            empty where the file holds a header alone); empty for Parquet.
        schema: a Parquet file's schema; ``None`` for a CSV.
    """

    written: list[str]
    available: list[str]
    first_row: list[str] = field(default_factory=list)
    schema: pa.Schema | None = None


def _read_header(path: Path) -> _Header:
    """The column names of a CSV or Parquet file, from its header or schema, and a CSV's first row, not the rest
    of its rows. pandas would rename a CSV's second 'y' to 'y.1', which would read two columns of one name as
    two columns (pyarrow refuses to select either of them); the names as written keep them one name.
    The header and the first row are one read of the file, or three where the row holds more values than the
    header names (pandas refuses to read such rows as one table, so each is read on its own)."""
    if path.suffix.lower() == ".parquet":
        schema = pq.read_schema(path)
        return _Header(list(schema.names), list(schema.names), schema=schema)
    try:
        rows = _text_rows(pd.read_csv(path, header=None, nrows=2, dtype=str, keep_default_na=False))
    except pd.errors.ParserError:  # a first row longer than the header; else the file is no CSV, and says so again
        rows = [*_text_rows(pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False))]
        rows += _text_rows(pd.read_csv(path, header=None, skiprows=1, nrows=1, dtype=str, keep_default_na=False))
    written = rows[0]
    available = [name if name else f"Unnamed: {position}" for position, name in enumerate(written)]
    return _Header(written, available, rows[1] if len(rows) > 1 else [])


def _text_rows(cells: pd.DataFrame) -> list[list[str]]:
    """The rows of a frame read as text, a missing value (of a row shorter than the header) as empty text."""
    return [["" if pd.isna(value) else value for value in row] for row in cells.itertuples(index=False)]


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
    (``None``: the frame holds every row of the file, in order).

    Raises:
        ForecastDataError: the path is a folder or no file, of an unknown type, unreadable, without rows, or
            lacks a column of ``columns`` (naming the file, and the fix).
    """
    if path.is_dir():
        raise ForecastDataError(
            f"data source {str(path)!r} is a folder; give one CSV or Parquet file in it, or a DataFrame of its "
            "files (pandas.read_parquet(folder) reads a folder of Parquet files)"
        )
    if not path.is_file():
        raise ForecastDataError(
            f"data source {str(path)!r} is neither a built-in data set {datasets.names()} "
            "nor an existing file; give a CSV/Parquet path or a DataFrame"
        )
    suffix = path.suffix.lower()
    if not _known_type(path):
        raise ForecastDataError(
            f"data source {str(path)!r}: unknown file type {_file_type(path)!r}; use .csv (or a compressed one: "
            f"{', '.join('.csv' + kind for kind in sorted(_COMPRESSIONS))}) or .parquet"
        )
    try:
        return _read_rows(path, id_column, time_column, columns, series)
    except ForecastDataError:
        raise
    except ImportError as error:  # a .csv.zst without the zstandard package
        raise ForecastDataError(
            f"data source {str(path)!r} needs a package to be read ({error}); install it, or give the file uncompressed"
        ) from error
    except _READ_ERRORS as error:  # an empty, truncated or corrupt file, or one of another format
        long_line = _long_line(path, error)
        if long_line is not None:
            raise long_line from error
        kind, fix = ("Parquet", "a Parquet file") if suffix == ".parquet" else ("CSV", "a CSV file with a header row")
        if isinstance(error, UnicodeDecodeError):  # Excel's "Unicode text" (UTF-16), or Latin-1
            fix = "a CSV file encoded as UTF-8 (save it so, or give pandas.read_csv(path, encoding=...))"
        fix += ", compressed as its name says" if suffix in _COMPRESSIONS else ""
        raise ForecastDataError(
            f"data source {str(path)!r} cannot be read as {kind} ({type(error).__name__}: {error}); give {fix}"
        ) from error


def _long_line(path: Path, error: Exception) -> ForecastDataError | None:
    """The refusal of a CSV with a line of more values than its header names, which pandas cannot split into a
    table ("Expected 2 fields in line 7, saw 3"): the line, and the likely cause, a number written with a comma
    ('1,000') or another value holding one, unquoted; ``None`` for any other error."""
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(error))
    if not isinstance(error, pd.errors.ParserError) or found is None:
        return None
    names, line, values = found.groups()
    return ForecastDataError(
        f"data source {str(path)!r}: line {line} (as pandas counts them, the header line 1) holds {values} values, "
        f"and the header {names} names; quote each value that holds a comma (a number written with one, '1,000', "
        "and give pandas.read_csv(path, thousands=',') or decimal=','), or write its numbers without commas"
    )


def _read_rows(
    path: Path, id_column: str, time_column: str, columns: list[str] | None, series: list[str] | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``read_file``'s frame and rows, from a file known to exist and be named CSV or Parquet."""
    suffix = path.suffix.lower()
    header = _read_header(path)
    available = header.available
    check_unique([name for name in header.written if name], f"the header of data source {str(path)!r}")
    _check_separator(path, header)
    _check_spaced_names(path, available, id_column, time_column, columns)
    _check_named_columns(path, columns, available)
    wanted = None  # every column, also when a role names one by a number: its error tells the name to give
    if columns is not None and set(columns) <= set(available):
        keep = {id_column, time_column, *columns}
        if _time_may_lead(header, id_column, time_column):
            keep.add(available[0])
        wanted = [column for column in available if column in keep]
    if suffix == ".parquet":
        frame, positions = _read_parquet(path, header, id_column, wanted, series if id_column in available else None)
    else:
        frame, positions = _read_csv(path, header, wanted, id_column, time_column, columns), None
    if len(frame) == 0 and positions is None:  # no rows at all, not none of the series asked for
        raise ForecastDataError(
            f"data source {str(path)!r} has no rows, only its columns {available[:20]}; give a file with data"
        )
    if isinstance(frame.index, pd.DatetimeIndex) or is_long(frame, id_column):  # a Parquet file's own index
        return frame, positions
    return frame.set_index(time_column if time_column in frame.columns else frame.columns[0]), positions


def _read_parquet(
    path: Path, header: _Header, id_column: str, wanted: list[str] | None, series: list[str] | None
) -> tuple[pd.DataFrame, np.ndarray | None]:
    """The ``wanted`` columns (``None``: all) of a Parquet file of schema ``header.schema``, of the rows whose
    ``id_column`` is among ``series`` (``None``: all), and those rows' numbers in the file (``None`` where every
    row is read)."""
    filters = None if series is None else _id_filter(header.schema, id_column, series)
    frame = _decimals_as_floats(pd.read_parquet(path, columns=wanted, filters=filters), header.schema, id_column)
    if filters is None:
        return frame, None
    ids = pq.read_table(path, columns=[id_column]).column(id_column)  # counted in the file, filtered the same way
    if pa.types.is_dictionary(ids.type):
        ids = ids.cast(ids.type.value_type)
    return frame, np.flatnonzero(pc.is_in(ids, value_set=pa.array(filters[0][2], ids.type)).to_numpy())


def _decimals_as_floats(frame: pd.DataFrame, schema: pa.Schema, id_column: str) -> pd.DataFrame:
    """The frame with its decimal columns (a database's ``NUMERIC``, which pandas reads as Python ``Decimal``
    objects) as doubles, as numbers to forecast or condition on; an id column stays as read."""
    decimals = [
        field.name
        for field in schema
        if pa.types.is_decimal(field.type) and field.name in frame.columns and field.name != id_column
    ]
    return frame.astype(dict.fromkeys(decimals, "float64")) if decimals else frame


def _read_csv(
    path: Path,
    header: _Header,
    wanted: list[str] | None,
    id_column: str,
    time_column: str,
    columns: list[str] | None,
) -> pd.DataFrame:
    """The ``wanted`` columns (``None``: all) of a CSV file of ``header``, without columns of neither name nor
    value, nor the index that ``DataFrame.to_csv`` writes."""
    index_col = False if _rows_end_in_separator(path, header) else None
    frame = _without_empty_columns(pd.read_csv(path, usecols=wanted, index_col=index_col), columns)
    return _without_written_index(frame, path, id_column, time_column, columns)


def _known_type(path: Path) -> bool:
    """Whether the file's name says Parquet, CSV, or CSV compressed as pandas reads it by its name ('.csv.gz'):
    a '.parquet.gz' or '.json.gz' read as CSV would fail on its bytes or read its text as column names."""
    suffixes = [suffix.lower() for suffix in path.suffixes]
    if suffixes[-1:] in ([".parquet"], [".csv"]):
        return True
    return len(suffixes) >= 2 and suffixes[-1] in _COMPRESSIONS and suffixes[-2] == ".csv"


def _file_type(path: Path) -> str:
    """The file's type as its name says: its last suffix, and the one before where the last is a compression."""
    return "".join(path.suffixes[-2:]) if path.suffix.lower() in _COMPRESSIONS else path.suffix


def _check_separator(path: Path, header: _Header) -> None:
    """Refuse a CSV whose header reads as one column holding a ';', tab or '|': its values are separated by that
    mark, not commas. Where its first row writes numbers with a decimal comma ('0,5'), the fix says so too, and
    where it groups their thousands with a point or a space ('1.000,5'), that as well.

    Raises:
        ForecastDataError: naming the file, the separator and the pandas reading that reads the file.
    """
    available = header.available
    separator = next((mark for mark in ";\t|" if len(available) == 1 and mark in available[0]), None)
    if separator is None:
        return
    values = [value.strip() for value in ",".join(header.first_row).split(separator)]  # the row as written
    grouped = next((match[1] for match in map(_GROUPED_DECIMAL_COMMA.fullmatch, values) if match), None)
    decimal = grouped is not None or any(_DECIMAL_COMMA.fullmatch(value) for value in values)
    reading = (
        f"sep={separator!r}" + (", decimal=','" if decimal else "") + (f", thousands={grouped!r}" if grouped else "")
    )
    numbers = " and its numbers with a decimal point" if decimal else ""
    numbers += ", without thousands separators" if grouped else ""
    raise ForecastDataError(
        f"data source {str(path)!r} reads as one column {available[0]!r}: its values are separated by "
        f"{separator!r}, not commas; write it with commas{numbers}, or give pandas.read_csv(path, {reading})"
    )


def _check_spaced_names(
    path: Path, available: list[str], id_column: str, time_column: str, columns: list[str] | None
) -> None:
    """Refuse a header that writes a column the data module asks for by name with spaces around it ('id, time,
    units' names ' time'): the id column of long data (else the file would be read as one wide series), the
    time column of long data, and the role columns.

    Raises:
        ForecastDataError: naming the file, the column as written, and the fix.
    """
    spaced = {name.strip(): name for name in available if name != name.strip()}
    long = id_column in available or id_column in spaced
    asked = [id_column, *([time_column] if long else []), *(str(column) for column in columns or [])]
    name = next((name for name in asked if name not in available and name in spaced), None)
    if name is not None:
        raise ForecastDataError(
            f"data source {str(path)!r} has no {name!r} column (its columns are {available[:20]}); name its "
            f"column {spaced[name]!r}, written with spaces around {name!r}, in data.columns, or write the file's "
            "header without spaces around the names"
        )


def _check_named_columns(path: Path, columns: list[str] | None, available: list[str]) -> None:
    """Refuse role ``columns`` that the file lacks, from its header, before its rows are read. A name that the
    file has as text (a number given for '5') is left to the roles' check, which tells the name to give.

    Raises:
        ForecastDataError: naming the file, the column, and the file's columns.
    """
    missing = [column for column in columns or [] if str(column) not in available]
    if missing:
        raise ForecastDataError(
            f"data.columns names column {missing[0]!r}, which data source {str(path)!r} lacks; its columns are "
            f"{available}; correct the name in data.columns"
        )


def _time_may_lead(header: _Header, id_column: str, time_column: str) -> bool:
    """Whether the file's first column may be its time, to be read whatever the roles: that of a wide file
    without a ``time_column``, unless it is a Parquet file that keeps its times as its (pandas) index."""
    if id_column in header.available or time_column in header.available:
        return False
    schema = header.schema
    if schema is None:
        return True
    index = [name for name in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(name, str)]
    return not any(pa.types.is_timestamp(schema.field(name).type) for name in index)


def _rows_end_in_separator(path: Path, header: _Header) -> bool:
    """Whether a CSV's rows end in a separator that its header lacks, as some exports write them: pandas would
    read the first column as the index, and every other column's values under the next column's name.

    Raises:
        ForecastDataError: the first row holds more values than the header names, and its last is not empty
            (the row names that R's ``write.table`` writes without a header, say).
    """
    values, names = len(header.first_row), len(header.written)
    if values <= names:
        return False
    if header.first_row[-1] == "":
        return True
    raise ForecastDataError(
        f"data source {str(path)!r}: its first row holds {values} values, and its header {names} names; give "
        f"every column a name in the header{_split_number(header.first_row)}"
    )


def _split_number(values: list[str]) -> str:
    """Of a CSV row that holds more values than its header names: where two values in turn read as one number
    written with a comma ('1,000', '0,5'; thousands first), which the comma splits in two, how to write it;
    else nothing."""
    pairs = [f"{first.strip()},{second.strip()}" for first, second in pairwise(values)]
    for pattern in (r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", _DECIMAL_COMMA.pattern):
        number = next((pair for pair in pairs if re.fullmatch(pattern, pair)), None)
        if number is not None:
            return (
                f"; or, if {number!r} is one number, the comma splits it: write the file's numbers without commas, "
                "or quote them and give pandas.read_csv(path, thousands=',') (or decimal=',')"
            )
    return ""


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


def _id_filter(schema: pa.Schema, id_column: str, series: list[str]) -> list[tuple] | None:
    """A pyarrow filter keeping the rows of ``series``, their ids in the type of the id column in the file's
    ``schema``, if that is text or integers; ``None`` otherwise (e.g. times: every row is read and the ids
    matched as text). Integer ids outside the column type's range are left out of the filter: the file cannot
    hold them, and the check that follows names them."""
    kind = schema.field(id_column).type
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
