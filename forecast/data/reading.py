"""Reading a data module's source: the frame of the series asked for, checked into a table of series; under
``shard: series`` first the index of all series, from which each process takes its share to read. Where the
source is a file, every refusal of this reading names it, so that a user who reads several files can tell which
one is at fault; those of later checks (a missing value under ``nan_policy: error``) do not."""

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from .. import datasets
from ..errors import ForecastDataError
from .frames import Roles, SeriesTable, to_table
from .frequency import check_times
from .options import Columns
from .sharding import series_index
from .sources import named_series, read_source
from .validate import check_lengths, long_enough

__all__ = ["SeriesReader"]

T = TypeVar("T")  # what a read returns


class SeriesReader:
    """Reads the series of one source as a data module's options say, and checks them.

    Args:
        source: a built-in data set name, a CSV/Parquet path, or a DataFrame.
        columns: the columns' roles, and the id and time columns of long data.
        lookback: L, the rows with targets a window reads before its first forecast step.
        rows_after: the rows a series needs after a window's lookback: the horizon where the split
            evaluates, else none.
        drop_short: leave out the series too short for a window, with a warning naming them, instead of
            refusing the data.
    """

    def __init__(
        self, source: str | Path | pd.DataFrame, columns: Columns, lookback: int, rows_after: int, drop_short: bool
    ):
        self.source, self.columns = source, columns
        self.lookback, self.rows_after, self.drop_short = lookback, rows_after, drop_short

    def frame(self, series: list[str] | None) -> tuple[pd.DataFrame, np.ndarray | None]:
        """The id, time and role columns (all columns when no targets are named) of ``series`` (``None``: all),
        and their rows in the frame as given.

        Raises:
            ForecastDataError: the source cannot be read, or ``series`` names ids that the data lack (``read_source``).
        """
        columns = self.columns
        return self._naming_file(
            lambda: read_source(self.source, columns.id_column, columns.time_column, columns.to_read(), series)
        )

    def index(self, series: list[str] | None) -> pd.DataFrame:
        """The index of the series of long data (``sharding.series_index``) of the ids ``series`` (``None``: all),
        without the series of fewer rows than a window needs, which ``drop_short`` leaves out (with a warning)
        before the series are shared out; without it, they are refused.

        Raises:
            ForecastDataError: the data are wide, ``series`` names ids the data lack, or a series is too short
                and ``drop_short`` is false, or all are.
        """
        return self._naming_file(lambda: self._index(series))

    def _index(self, series: list[str] | None) -> pd.DataFrame:
        """``index``'s series, refused without naming the file."""
        index = named_series(series_index(self.source, self.columns), series, self.columns.id_column)
        rows = index["rows"].to_numpy()  # rows with targets are no more: a series short here is short
        return index[long_enough(list(index["id"]), rows, self.lookback, self.rows_after, self.drop_short)]

    def table(
        self,
        frame: pd.DataFrame,
        rows: np.ndarray | None,
        roles: Roles,
        freq: str | None,
        share: tuple[int, int] | None = None,
    ) -> tuple[SeriesTable, str]:
        """The series of ``frame`` (whose rows are ``rows`` of the frame as given) as a table, checked, and the
        frequency of their times by its name (``freq``, or the one inferred when ``None``).

        The times must follow the frequency; trailing rows without targets are future rows; the series too
        short for a window are refused, or left out with ``drop_short``. ``share``: the process and the number
        of processes, when the frame holds one process's share of the series (``shard: series``).

        Raises:
            ForecastDataError: an id or time is missing, a column is not of numbers or a static one changes
                within a series (``to_table``), the times do not follow the frequency (``check_times``), or a
                series is too short and ``drop_short`` is false, or all are (``check_lengths``).
        """

        def read() -> tuple[SeriesTable, str]:
            columns = self.columns
            table = to_table(frame, roles, columns.id_column, columns.time_column, rows, csv=_csv(self.source))
            checked = check_times(table, freq)
            return check_lengths(table, self.lookback, self.rows_after, self.drop_short, share), checked

        return self._naming_file(read)

    def _naming_file(self, read: Callable[[], T]) -> T:
        """``read()``, whose refusal names the file that the source is, unless it names it already (the checks
        of the file itself do) or the source is no file (a DataFrame, a built-in data set).

        Raises:
            ForecastDataError: ``read``'s, starting ``data source 'path':``.
        """
        try:
            return read()
        except ForecastDataError as error:
            path = _file(self.source)
            if path is None or repr(path) in str(error):
                raise
            raise ForecastDataError(f"data source {path!r}: {error}") from error


def _file(source: str | Path | pd.DataFrame) -> str | None:
    """The path of the file that ``source`` names as ``read_source`` reads it, or ``None`` where it names none."""
    if isinstance(source, str) and source.lower() in datasets.names():
        return None
    return str(Path(source).expanduser()) if isinstance(source, (str, Path)) else None


def _csv(source: str | Path | pd.DataFrame) -> bool:
    """Whether ``source`` names a CSV file (compressed or not): a file that ``read_source`` reads as no Parquet."""
    path = _file(source)
    return path is not None and Path(path).suffix.lower() != ".parquet"
