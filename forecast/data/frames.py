"""From a frame as read (wide or long) to series in one table, and the roles of its columns.

Wide: a time index (or the ``time`` column, else the first column: a file's, or that of a frame with a default
index whose first column holds times or text), one column per channel of a single series.
Long: an ``id`` column naming the series, a ``time`` column, and value columns; the rows of a series
need not be adjacent (they are grouped by id, keeping their order), but each series must be in time
order. Either way the result is a :class:`SeriesTable`: every series one contiguous run of rows.
"""

import functools
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ForecastDataError, given_row, where
from .files import is_long
from .options import Columns
from .times import read_times

__all__ = [
    "Roles",
    "SeriesTable",
    "id_names",
    "resolve_roles",
    "series_ids",
    "to_table",
]


@dataclass(frozen=True)
class Roles:
    """Which columns play which part.

    Args:
        targets: columns to forecast; the first channels of ``past``.
        past: covariates known only up to the forecast start; the next channels of ``past``.
        future: covariates known over the horizon too; the channels of ``future``.
        static: one value per series (numbers as they are, anything else a category index; a column's
            dtype decides, so a ``category`` column of integers is categories too).
    """

    targets: list[str]
    past: list[str]
    future: list[str]
    static: list[str]

    @property
    def dynamic(self) -> list[str]:
        """The columns that change over time, in buffer order."""
        return [*self.targets, *self.past, *self.future]


@dataclass
class SeriesTable:
    """Validated series, each a contiguous run of rows in time order, values still unscaled.

    Args:
        ids: the series' ids as given (integers stay integers, times stay times), in order of first
            appearance; ``["0"]`` for a wide frame. ``names`` are their texts (``id_names``).
        offsets: series ``i`` is rows ``[offsets[i], offsets[i + 1])``, shape (N + 1,).
        times: the time of every row, shape (rows,).
        values: every dynamic column as float64, shape (rows,) each.
        statics: every static column's value per series, shape (N,) each: a column of numbers in
            a numeric array, any other (text, ``category``, bool) as objects, each value a category.
        positions: the row of the given frame that each row comes from, or ``None`` when the rows
            are in the given order; only for naming rows in messages.
        observed: rows per series whose targets are known; rows after them carry only future
            covariates (the horizon of a forecast beyond the data), shape (N,).
        named: whether series have names worth stating in messages (long data).
    """

    ids: pd.Index
    offsets: np.ndarray
    times: pd.DatetimeIndex
    values: dict[str, np.ndarray]
    statics: dict[str, np.ndarray]
    positions: np.ndarray | None
    observed: np.ndarray
    named: bool

    @functools.cached_property
    def names(self) -> list[str]:
        """The series' ids as text, which names and matches series everywhere (``id_names``)."""
        return id_names(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """Rows per series, future-only rows included, shape (N,)."""
        return np.diff(self.offsets)

    def series_of(self, row: int) -> int:
        """The series that table row ``row`` belongs to."""
        return int(np.searchsorted(self.offsets, row, side="right") - 1)

    def where(self, row: int, column: str | None = None) -> str:
        """Name the place of table row ``row`` as the user knows it: column, series, given row, time."""
        given = int(self.positions[row]) if self.positions is not None else row
        series = self.names[self.series_of(row)] if self.named else None
        return where(column=column, series=series, row=given, time=self.times[row])

    def select(self, keep: np.ndarray) -> "SeriesTable":
        """The table of the series where ``keep`` is true (copies their rows)."""
        rows = np.concatenate([np.arange(self.offsets[i], self.offsets[i + 1]) for i in np.flatnonzero(keep)])
        return replace(
            self,
            ids=self.ids[keep],
            offsets=np.concatenate([[0], np.cumsum(self.lengths[keep])]),
            times=self.times[rows],
            values={column: values[rows] for column, values in self.values.items()},
            statics={column: values[keep] for column, values in self.statics.items()},
            positions=rows if self.positions is None else self.positions[rows],
            observed=self.observed[keep],
        )


def id_names(ids: Iterable) -> list[str]:
    """The name of the series of each id: its text, ``str(id)`` (a time id reads "2024-03-01 00:00:00", where
    pandas' ``astype(str)`` would write "2024-03-01"). Every place that names series or matches names uses it."""
    return [str(name) for name in ids]


def series_ids(frame: pd.DataFrame, id_column: str) -> pd.Series:
    """The series name (``id_names``) of every row of a long frame, from its ``id_column`` column or index level."""
    ids = frame[id_column] if id_column in frame.columns else frame.index.get_level_values(id_column)
    codes, uniques = pd.factorize(ids, use_na_sentinel=False)
    texts = np.array(id_names(uniques), dtype=object)
    return pd.Series(texts[codes], index=frame.index, name=id_column)


def resolve_roles(frame_columns: list, columns: Columns, index_names: list | None = None) -> Roles:
    """Check the role columns of ``columns`` against the frame's value columns (all but the id and
    time columns, which may also be levels of its index, ``index_names``); no targets take every
    value column left over.

    Raises:
        ForecastDataError: a role names a column that does not exist or the id or time column, a
            column has two roles, or no column is left to forecast.
    """
    keys = {columns.id_column: "id_column", columns.time_column: "time_column"}
    names = [str(column) for column in frame_columns if column not in keys]
    seen: dict[str, str] = {}
    for role, given in columns.roles().items():
        for column in given or []:
            if column in keys and (column in frame_columns or column in (index_names or [])):
                raise ForecastDataError(
                    f"{role} column {column!r} is the data's data.columns.{keys[column]}, which cannot take a role; "
                    f"leave it out of data.columns.{role} (or give a copy of it another name)"
                )
            if column not in names:
                raise ForecastDataError(
                    f"{role} column {column!r} is not in the data; its columns are {names}; "
                    f"correct the name in data.columns.{role}"
                    + (f" (names are read as text: give {str(column)!r})" if str(column) in names else "")
                )
            if column in seen:
                twice = seen[column] == role
                place = (
                    f"twice in data.columns.{role}"
                    if twice
                    else f"in both data.columns.{seen[column]} and data.columns.{role}"
                )
                fix = "name it once" if twice else "give each column one role"
                raise ForecastDataError(f"column {column!r} is {place}; {fix}")
            seen[column] = role
    targets = [column for column in names if column not in seen] if columns.targets is None else columns.targets
    if not targets:
        raise ForecastDataError(f"no column is left to forecast among {names}; name them in data.columns.targets")
    past, future, static = columns.past_covariates, columns.future_covariates, columns.static_covariates
    return Roles(list(targets), list(past or []), list(future or []), list(static or []))


def to_table(
    frame: pd.DataFrame,
    roles: Roles,
    id_column: str,
    time_column: str,
    rows: np.ndarray | None = None,
    csv: bool = False,
) -> SeriesTable:
    """Group a long frame by series (or take a wide one as one series) into a table of float64 columns.

    Args:
        frame: the frame read.
        roles: the columns' roles.
        id_column: the series id column (or index level) of long data.
        time_column: the time column (or index level) of long data, or of a wide frame without a DatetimeIndex.
        rows: the row of the frame as given that each row of ``frame`` is (``sources.read_source`` picked some
            series), for messages; ``None``: ``frame`` is the frame as given.
        csv: ``frame`` was read from a CSV file, so that a refusal of numbers written with commas offers the
            ``pandas.read_csv`` options that read them as well as the conversion of the frame's column; otherwise
            (a DataFrame, a Parquet file) it offers the conversion alone.

    With future covariates, each series' trailing rows without any target are future rows (``observed``): they
    carry the covariates of the horizon after the data, and may leave a static column empty.

    Raises:
        ForecastDataError: the frame is empty, an id or time is missing or not a time, a dynamic column
            is not numeric, or a static column is missing on a row other than a future row, or changes within a
            series.
    """
    if len(frame) == 0:
        raise ForecastDataError("the data has no rows; give a frame with at least lookback + horizon rows per series")
    if is_long(frame, id_column):
        levels = [name for name in frame.index.names if name in (id_column, time_column)]
        kept = [name for name in levels if name in frame.columns]  # set_index(..., drop=False): the column is read
        frame = frame.reset_index(kept, drop=True) if kept else frame
        moved = [name for name in levels if name not in kept]
        frame = frame.reset_index(moved) if moved else frame
        if time_column not in frame.columns:
            raise ForecastDataError(
                f"the long frame has an {id_column!r} column but no {time_column!r} column (its columns are "
                f"{[str(name) for name in frame.columns][:20]}); name its time column with data.columns.time_column"
                + _index_hint(frame.index, id_column, time_column)
            )
        ids, offsets, order = _group_by_series(frame[id_column], rows)
        times = read_times(frame[time_column], time_column, rows, offsets, order)
    else:
        frame = _time_indexed(frame, id_column, time_column)
        ids, offsets, order = pd.Index(["0"]), np.array([0, len(frame)]), None
        name = time_column if frame.index.name is None else frame.index.name
        times = read_times(pd.Series(frame.index), name, rows, offsets, order)
    if order is not None:
        times = times[order]
    values = {column: _numeric(frame[column], column, order, rows, csv) for column in roles.dynamic}
    table = SeriesTable(
        ids=ids,
        offsets=offsets,
        times=times,
        values=values,
        statics={},
        positions=order if rows is None else rows if order is None else rows[order],
        observed=_observed(values, offsets, roles),
        named=is_long(frame, id_column),
    )
    table.statics = {column: _static_values(frame[column], column, table, order) for column in roles.static}
    return table


def _index_hint(index: pd.Index, id_column: str, time_column: str) -> str:
    """Of a long frame without a time column whose times are its index: how to name them; else nothing."""
    if not isinstance(index, pd.DatetimeIndex):
        return ""
    if index.name is not None:
        return f" (its times are its index {str(index.name)!r}: data.columns.time_column={str(index.name)!r})"
    return (
        f" (its times are its index, which has no name: frame.rename_axis({time_column!r}); or, if the frame is "
        f"wide and its {id_column!r} column a channel, set data.columns.id_column to a name it lacks)"
    )


def _time_indexed(frame: pd.DataFrame, id_column: str, time_column: str) -> pd.DataFrame:
    """A wide frame with its times as its index: its own index, or its ``time_column`` column.

    Raises:
        ForecastDataError: the index has several levels (long data whose id and time levels have other
            names), or holds numbers (a default index, or a file's first column that is no time column).
    """
    if not isinstance(frame.index, pd.DatetimeIndex) and time_column in frame.columns:
        return frame.set_index(time_column)
    if isinstance(frame.index, pd.MultiIndex):
        raise ForecastDataError(
            f"the frame's index has the levels {list(frame.index.names)}, none named {id_column!r}; for long data "
            "name its id and time levels with data.columns.id_column and data.columns.time_column, for wide data "
            "give it a DatetimeIndex"
        )
    if pd.api.types.is_numeric_dtype(frame.index):
        name = "" if frame.index.name is None else f" {str(frame.index.name)!r}"
        raise ForecastDataError(
            f"the wide frame has neither a DatetimeIndex nor a {time_column!r} column: its index{name} holds numbers "
            f"({frame.index.dtype}, first {_plain(frame.index[0])!r}), not times (a wide file's times are its first "
            "column unless data.columns.time_column names another); name the column that holds the times with "
            f"data.columns.time_column (the columns are {[str(column) for column in frame.columns][:20]}), or give "
            "the frame a DatetimeIndex (pandas.to_datetime: format='%Y%m%d' for 20240131, unit='s' for seconds)"
        )
    return frame


def _group_by_series(ids: pd.Series, rows: np.ndarray | None) -> tuple[pd.Index, np.ndarray, np.ndarray | None]:
    """The series' ids (in order of first appearance), offsets, and the row order that makes each series
    contiguous (``None``: already is)."""
    try:
        codes, uniques = pd.factorize(ids, sort=False)
    except TypeError as error:  # pandas' "unhashable type: 'dict'", naming neither the column nor the row
        row = next(i for i, value in enumerate(ids) if not isinstance(value, Hashable))
        raise ForecastDataError(
            f"the series id {ids.iloc[row]!r} at {where(column=ids.name, row=given_row(row, rows))} is a "
            f"{type(ids.iloc[row]).__name__}, which names no series; give each series one id of text or a number (a "
            "key of several fields joined into one text, or as a tuple)"
        ) from error
    if (codes < 0).any():
        row = given_row(int(np.argmax(codes < 0)), rows)
        raise ForecastDataError(f"the series id is missing at {where(column=ids.name, row=row)}; fill or drop the row")
    names = pd.Index(id_names(uniques))
    if names.has_duplicates:  # ids such as 3 and "3": series are named by their ids as text
        name = names[names.duplicated()][0]
        alike = [value for value in uniques if str(value) == name]
        raise ForecastDataError(
            f"the ids {alike} of column {ids.name!r} all read {where(series=name)} as text; give each series "
            f"its own id, of one type (e.g. frame[{ids.name!r}] = frame[{ids.name!r}].astype(str))"
        )
    _check_joined_ids(ids, codes, rows)
    _check_spaced_ids(names, ids.name, codes, rows)
    offsets = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(uniques)))])
    runs = 1 + int(np.count_nonzero(codes[1:] != codes[:-1]))
    order = None if runs == len(uniques) else np.argsort(codes, kind="stable")
    return pd.Index(uniques), offsets, order


def _check_joined_ids(ids: pd.Series, codes: np.ndarray, rows: np.ndarray | None) -> None:
    """Refuse ids that pandas groups as one series though they read differently as text: values of different
    types that Python takes as equal (``1``, ``1.0`` and ``True``; ``(1, 'a')`` and ``(1.0, 'a')``), whose rows
    would be joined into one series (where their times overlap, read as time going backwards). Only a column of
    objects holds them.

    Raises:
        ForecastDataError: naming both ids, their types, their first rows, and the fix.
    """
    if ids.dtype != object or pd.api.types.infer_dtype(ids, skipna=False) == "string":
        return
    texts = pd.factorize(np.array(id_names(ids), dtype=object))[0]
    width = int(texts.max()) + 1
    pairs = np.unique(codes.astype(np.int64) * width + texts)  # each group's texts
    joined = np.bincount(pairs // width) > 1
    if not joined.any():
        return
    members = codes == int(np.argmax(joined))
    first = int(np.argmax(members))
    other = int(np.argmax(members & (texts != texts[first])))
    first_id, other_id = (_describe_id(ids.iloc[row], given_row(row, rows)) for row in (first, other))
    name = ids.name
    raise ForecastDataError(
        f"the ids {first_id} and {other_id} of column {name!r} differ, yet pandas groups them as one series (Python "
        f"takes them as equal); give the column one type of id: frame[{name!r}] = frame[{name!r}].astype(str) keeps "
        "them apart, one type of number joins them"
    )


def _check_spaced_ids(names: pd.Index, column: Hashable, codes: np.ndarray, rows: np.ndarray | None) -> None:
    """Refuse ids that differ only in spaces around them ('a' and 'a '), as a file's hand-edited or padded ids
    are written: each would be a series of its own, and two series that take turns in the rows of one
    would each step twice its frequency, silently.

    Raises:
        ForecastDataError: naming both ids, their first rows, and the fix.
    """
    stripped = names.str.strip()
    if not stripped.has_duplicates:
        return
    alike = np.flatnonzero(stripped == stripped[stripped.duplicated()][0])[:2]
    first, other = (f"{names[i]!r} (row {given_row(int(np.argmax(codes == i)), rows)})" for i in alike)
    raise ForecastDataError(
        f"the ids {first} and {other} of column {column!r} differ only in spaces around them, which would make "
        f"them two series; write each id without spaces around it (frame[{column!r}] = frame[{column!r}].str.strip())"
    )


def _describe_id(value: Any, row: int) -> str:
    """An id for messages: its value, its type and its row (``1.0 (float, row 40)``)."""
    return f"{_plain(value)!r} ({type(value).__name__}, row {row})"


def _numeric(column: pd.Series, name: str, order: np.ndarray | None, rows: np.ndarray | None, csv: bool) -> np.ndarray:
    """A dynamic column as float64 in ``order`` (a view of the frame's own array where it is float64
    already and in order). ``csv``: the frame was read from a CSV file (``to_table``).

    Raises:
        ForecastDataError: the column holds something other than numbers.
    """
    real = not (pd.api.types.is_bool_dtype(column) or pd.api.types.is_complex_dtype(column))
    if not (pd.api.types.is_numeric_dtype(column) and real):
        hint = _text_hint(column, name, rows, csv)
        raise ForecastDataError(
            f"column {name!r} has dtype {column.dtype}, not numbers (int or float){hint}; "
            "convert it, or give it no role (or a static_covariates role, where text is a category)"
        )
    values = column.to_numpy(dtype=np.float64, na_value=np.nan)
    beyond = np.abs(values) > np.finfo(np.float32).max  # NaN and inf are for the nan_policy
    beyond &= np.isfinite(values)
    if beyond.any():
        row = int(np.argmax(beyond))
        raise ForecastDataError(
            f"value {values[row]:g} at {where(column=name, row=given_row(row, rows))} is beyond the float32 range "
            "(3.4e38) that series are stored in; rescale the column"
        )
    return values if order is None else values[order]


def _text_hint(column: pd.Series, name: str, rows: np.ndarray | None, csv: bool) -> str:
    """Of a column of text or objects (a CSV column with one value that is no number, say): where its first
    value that is not a number is, or how to read its values, which all are, as numbers; else nothing."""
    if not (column.dtype == object or pd.api.types.is_string_dtype(column)):
        return ""
    numbers = pd.to_numeric(column, errors="coerce")
    bad = (numbers.isna() & column.notna()).to_numpy(dtype=bool)
    if not bad.any():
        return f", though all its values read as numbers: frame[{name!r}] = pandas.to_numeric(frame[{name!r}])"
    row = int(np.argmax(bad))
    place = f": it holds {column.iloc[row]!r} at {where(column=name, row=given_row(row, rows))}"
    return place + _comma_hint(column[column.notna()].astype(str).str.strip(), name, csv)


def _comma_hint(texts: pd.Series, name: str, csv: bool) -> str:
    """Of a column's values as text where some hold a comma ('1,000', '0,5'): the reading under which all of them
    are numbers, of thousands separated by commas or of a decimal comma (both, each for its meaning, where either
    reads them all: '1,500'); else nothing. Each reading is the conversion of the frame's column, and where the
    frame was read from a CSV file (``csv``) the ``pandas.read_csv`` options before it. The conversion reads each
    value as text first, so that numbers among the text (a column of mixed values) are kept, not made NaN by
    ``.str``."""
    number = texts.str.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
    readings = [
        ("thousands=','", "separate thousands", "''", texts.str.fullmatch(r"[-+]?\d{1,3}(,\d{3})+(\.\d+)?")),
        ("decimal=','", "mark decimals", "'.'", texts.str.fullmatch(r"[-+]?\d+,\d+")),
    ]
    fits = [
        (reading, meaning, new) for reading, meaning, new, comma in readings if comma.any() and (number | comma).all()
    ]
    ways = [
        (f"pandas.read_csv(path, {reading}) or " if csv else "")
        + f"frame[{name!r}] = pandas.to_numeric(frame[{name!r}].astype(str).str.replace(',', {new}))"
        + (f" where the commas {meaning}" if len(fits) > 1 else "")
        for reading, meaning, new in fits
    ]
    verb = "read them" if csv else "convert them"
    return f"; its numbers are written with commas: {verb} with {'; or '.join(ways)}" if ways else ""


def _observed(values: dict[str, np.ndarray], offsets: np.ndarray, roles: Roles) -> np.ndarray:
    """The rows of each series up to its last target, shape (N,); the trailing rows without any target are
    future rows, which carry the covariates of the horizon after the data (only with future covariates: without
    them every row is observed). Only an empty (NaN) target is no target: an infinite one is a bad value,
    which ``validate.repair_missing`` refuses (or repairs) by its row, not a row of the future."""
    lengths = np.diff(offsets)
    if not roles.future:
        return lengths
    known = np.zeros(int(offsets[-1]), dtype=bool)
    for column in roles.targets:
        known |= ~np.isnan(values[column])
    last = np.maximum.reduceat(np.where(known, np.arange(1, len(known) + 1), 0), offsets[:-1])  # 0: no target
    return np.maximum(last - offsets[:-1], 0)


def _static_values(column: pd.Series, name: str, table: SeriesTable, order: np.ndarray | None) -> np.ndarray:
    """The value of a static column per series, shape (N,): numbers in a numeric array, the values of any
    other dtype (text, ``category``, bool) as objects, each a category. An empty value on a future row (after
    the series' last target) is the series' value, which the rows before give: a static is one value per
    series, which a frame of future covariates to forecast need not repeat.

    Raises:
        ForecastDataError: a value is missing on a row other than a future row, changes within a series, or is
            a number that is infinite or beyond the float32 range that features are stored in.
    """
    grouped = _filled_on_future_rows((column if order is None else column.iloc[order]).reset_index(drop=True), table)
    missing = grouped.isna().to_numpy()
    if missing.any():
        row = int(np.argmax(missing))
        raise ForecastDataError(
            f"static covariate missing at {table.where(row, name)}; give every series its value on every row (only "
            "the rows after its last target that carry future covariates may leave it empty)"
        )
    changed = grouped.ne(grouped.shift()).to_numpy(copy=True)
    changed[table.offsets[:-1]] = False
    if changed.any():
        row = int(np.argmax(changed))
        before, after = (_plain(grouped.iloc[i]) for i in (row - 1, row))
        raise ForecastDataError(
            f"static covariate changes within a series at {table.where(row, name)}: {before!r} then {after!r}; "
            "give each series one value (or make the column a past or future covariate)"
        )
    values = grouped.iloc[table.offsets[:-1]]
    number = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
    if not number:
        return values.to_numpy(dtype=object)
    numbers = values.to_numpy(dtype=np.float64)
    _check_static_number(numbers, name, table)
    own = values.to_numpy()  # integers stay integers, whose text a checkpoint's categories of integers read ("1")
    return numbers if own.dtype == object else own  # Arrow's decimals, whose own array holds objects


def _filled_on_future_rows(grouped: pd.Series, table: SeriesTable) -> pd.Series:
    """A static column in table order with its empty values on future rows taken from the row before in
    the series (its value); ``grouped`` itself where no future row is empty."""
    future = np.arange(len(grouped)) >= np.repeat(table.offsets[:-1] + table.observed, table.lengths)
    empty = future & grouped.isna().to_numpy()
    if not empty.any():
        return grouped
    series = np.repeat(np.arange(len(table.observed)), table.lengths)
    return grouped.where(~empty, grouped.groupby(series).ffill())


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value it holds, for messages (``4.6``, not ``np.float64(4.6)``)."""
    return value.item() if isinstance(value, np.generic) else value


def _check_static_number(values: np.ndarray, name: str, table: SeriesTable) -> None:
    """Refuse a numeric static value, per series (shape (N,)), that scaling or the model cannot take.

    Raises:
        ForecastDataError: a value is infinite or beyond the float32 range, naming the column and series.
    """
    problems = [
        (np.isinf(values), "is infinite; give every series a finite value (or leave the series out)"),
        (
            np.abs(values) > np.finfo(np.float32).max,
            "is beyond the float32 range (3.4e38) of features; rescale the column",
        ),
    ]
    for bad, problem in problems:
        if bad.any():
            i = int(np.argmax(bad))
            raise ForecastDataError(
                f"static covariate {values[i]:g} at {table.where(int(table.offsets[i]), name)} {problem}"
            )
