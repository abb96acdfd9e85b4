"""Checks on the frames users hand in: refuse, with the place and the fix, rather than repair silently."""

from pathlib import Path

import numpy as np
import pandas as pd

from .. import datasets
from ..errors import ForecastDataError

__all__ = ["read_source", "check_wide_frame", "infer_frequency"]


def read_source(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """A wide frame from a built-in name, a CSV or Parquet path, or a DataFrame.

    A CSV's first column is the time index; a Parquet file keeps its own DatetimeIndex or, failing
    that, uses its first column.

    Raises:
        ForecastDataError: the name is neither a built-in data set nor an existing CSV/Parquet file.
    """
    if isinstance(source, pd.DataFrame):
        return source
    if isinstance(source, str) and source.lower() in datasets.names():
        return datasets.load(source)
    path = Path(source)
    if not path.is_file():
        raise ForecastDataError(
            f"data source {str(source)!r} is neither a built-in data set {datasets.names()} "
            "nor an existing file; give a CSV/Parquet path or a DataFrame"
        )
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
        return frame if isinstance(frame.index, pd.DatetimeIndex) else frame.set_index(frame.columns[0])
    if path.suffix.lower() in {".csv", ".gz"}:
        return pd.read_csv(path, index_col=0)
    raise ForecastDataError(f"data source {str(path)!r}: unknown file type {path.suffix!r}; use .csv or .parquet")


def check_wide_frame(frame: pd.DataFrame, targets: list[str]) -> pd.DataFrame:
    """Check a wide frame and return it with a DatetimeIndex.

    Raises:
        ForecastDataError: a target column is missing or not numeric, the index is not times, or
            a time is duplicated, out of order, or a value is NaN or infinite.
    """
    missing = [column for column in targets if column not in frame.columns]
    if missing:
        raise ForecastDataError(f"target column(s) {missing} not in the data; its columns are {list(frame.columns)}")
    for column in targets:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise ForecastDataError(
                f"column {column!r} has dtype {frame[column].dtype}, not numbers; convert it or leave it out of targets"
            )
    try:
        index = pd.DatetimeIndex(frame.index)
    except (TypeError, ValueError) as error:
        raise ForecastDataError(
            f"the index (first column of a CSV) must hold times; row 0 holds {frame.index[0]!r}"
        ) from error
    duplicated = index.duplicated()
    if duplicated.any():
        row = int(np.argmax(duplicated))
        raise ForecastDataError(f"time {index[row]} appears twice (row {row}); remove the duplicate rows")
    if not index.is_monotonic_increasing:
        row = int(np.argmax(index[1:] < index[:-1])) + 1
        raise ForecastDataError(
            f"time goes backwards at row {row} ({index[row - 1]} then {index[row]}); sort the frame by time"
        )
    values = frame[targets].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row, channel = np.argwhere(bad)[0]
        raise ForecastDataError(
            f"column {targets[channel]!r} holds {values[row, channel]} at row {row} (time {index[row]}); "
            "fill or drop the missing values before forecasting"
        )
    return frame.set_axis(index, axis=0)


def infer_frequency(index: pd.DatetimeIndex, freq: str | None) -> str:
    """The frequency of a regular time index, or the ``freq`` given, checked against the index.

    Raises:
        ForecastDataError: the steps are irregular, or do not match ``freq``.
    """
    if freq is None:
        inferred = pd.DatetimeIndex(index, freq="infer").freq if len(index) >= 3 else None
        if inferred is None:
            steps = pd.Series(index[1:] - index[:-1]).value_counts()
            raise ForecastDataError(
                f"cannot infer a regular frequency from the time index (its steps: {dict(steps.head(3))}); "
                "state it with freq=, e.g. freq: h"
            )
        return inferred.freqstr
    expected = pd.date_range(index[0], periods=len(index), freq=freq)
    if not expected.equals(index):
        row = int(np.argmax(expected != index))
        raise ForecastDataError(
            f"time {index[row]} at row {row} does not follow frequency {freq!r} (expected {expected[row]})"
        )
    return freq
