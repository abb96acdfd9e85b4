"""The two file layouts of the benchmark, read into wide frames with a DatetimeIndex."""

import contextlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from ..errors import user_stacklevel

__all__ = ["read_dated_csv", "read_headerless"]


def _with_freq(frame: pd.DataFrame, freq: str, path: Path) -> pd.DataFrame:
    """The frame with ``freq`` set on its index when every step follows it; otherwise its rows stamped every
    ``freq`` from its first time, with a warning that names the first step that does not follow it.

    The literature reads these files by row, and the benchmark's splits count rows: the weather CSV of
    the Autoformer bundle repeats 2020-05-12 06:00 and skips steps, and dropping or filling rows would
    move every split border away from the published ones.

    Raises:
        ValueError: the first time is not a time of ``freq`` (weekly times on another weekday than the data
            set's), from which no stamps every ``freq`` start: pandas would start them at the next one.
    """
    with contextlib.suppress(ValueError):  # pandas refuses a freq that some step does not follow
        frame.index = pd.DatetimeIndex(frame.index, freq=freq)
        return frame
    times = frame.index
    if not to_offset(freq).is_on_offset(times[0]):
        raise ValueError(
            f"its first time {times[0]} ({times[0].day_name()}) is not a time of the data set's frequency {freq}"
        )
    off = np.flatnonzero(times[1:] != times[:-1] + to_offset(freq)) + 1
    warnings.warn(
        f"{path.name}: {len(off)} step(s) are not {freq} after the row before (the first at row {off[0]}, "
        f"{times[off[0] - 1]} then {times[off[0]]}); as the literature reads this file, by row, its rows are "
        f"stamped every {freq} from {times[0]}",
        stacklevel=user_stacklevel(),
    )
    frame.index = pd.date_range(times[0], periods=len(frame), freq=freq, name=times.name)
    return frame


def read_dated_csv(path: Path, freq: str) -> pd.DataFrame:
    """A CSV whose first column is the time (ETT, the literature's weather and illness files).

    Raises:
        ValueError: the first column is not times, or no column follows it (an error page, say), or the first
            time is not a time of ``freq`` (``_with_freq``).
    """
    frame = pd.read_csv(path, index_col=0, parse_dates=[0])
    if not isinstance(frame.index, pd.DatetimeIndex) or frame.shape[1] == 0:
        first = frame.index[0] if len(frame) else None
        raise ValueError(
            f"not a CSV of times and values (first column's first value {first!r}, {frame.shape[1]} columns after it)"
        )
    frame.index.name = "date"
    return _with_freq(frame, freq, path)


def read_headerless(path: Path, start: str, freq: str) -> pd.DataFrame:
    """A comma-separated file of numbers only (Lai et al.), its rows stamped from ``start`` every ``freq``.

    Columns are named as in the literature's CSVs: ``0``, ``1``, ... and ``OT`` for the last, the
    target of univariate runs. The files are gzip, said rather than guessed from the name, which is a
    temporary one while a download is checked.

    Raises:
        ValueError: a value is not a number (an error page, say).
        OSError, EOFError, zlib.error: the file is not gzip, or is cut short.
    """
    frame = pd.read_csv(path, header=None, dtype="float64", compression="gzip")
    frame.columns = [*map(str, range(frame.shape[1] - 1)), "OT"]
    frame.index = pd.date_range(start, periods=len(frame), freq=freq, name="date")
    return frame
