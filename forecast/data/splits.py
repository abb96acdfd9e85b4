"""Where the training, validation and test windows of each series lie.

A split gives every series three target borders: the first target row of validation, of test, and
the end of test. Training targets are the rows before validation's; validation and test windows may
look back ``lookback`` rows into the part before (the ETT protocol), but their targets never overlap
another part's. Long data is split per series: by its own fractions, rows, or the same dates.
"""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pandas as pd

from .. import datasets
from ..errors import ForecastDataError, check_count, warn_on_rank_zero, where, whole_number
from ..specs import from_spec
from .frames import SeriesTable

__all__ = [
    "Split",
    "RowSplit",
    "ETTSplit",
    "FractionSplit",
    "DateSplit",
    "Windows",
    "part_windows",
    "check_windows",
    "default_split",
]


class Split(ABC):
    """Chooses the target borders of the train, val and test parts of every series.

    ``evaluates`` says whether the parts hold windows with targets, so that every series needs
    ``lookback + horizon`` rows; a split of history to forecast from needs only ``lookback``.
    """

    evaluates: bool = True

    @abstractmethod
    def _borders(self, table: SeriesTable) -> np.ndarray:
        """Per series: first target row of val, of test, and the end of test, shape (N, 3)."""

    def target_borders(self, table: SeriesTable) -> np.ndarray:
        """Per series: first target row of val, of test, and the end of test, shape (N, 3).

        Raises:
            ForecastDataError: the borders of a series do not fit its rows.
        """
        borders = np.asarray(self._borders(table), dtype=np.int64)
        ordered = (borders[:, 0] >= 0) & (np.diff(borders, axis=1) >= 0).all(axis=1) & (borders[:, 2] <= table.observed)
        if not ordered.all():
            i = int(np.argmax(~ordered))
            val_start, test_start, test_end = borders[i].tolist()
            place = f" of {where(series=table.names[i])}" if table.named else ""
            raise ForecastDataError(
                f"{self!r} gives borders val_start={val_start}, test_start={test_start}, test_end={test_end} "
                f"that do not fit the {table.observed[i]} rows{place}; choose borders with "
                "0 <= val_start <= test_start <= test_end <= rows (FractionSplit or DateSplit fit any length)"
            )
        return borders

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class RowSplit(Split):
    """Split at fixed rows, counted from the start of each series.

    Args:
        val_start: first target row of the validation part (training rows are ``[0, val_start)``).
        test_start: first target row of the test part.
        test_end: end of the test part (exclusive); ``None`` means the end of each series.

    Raises:
        TypeError: a border is no whole number of rows (or ``val_start`` or ``test_start`` is ``None``),
            naming its key ``data.split.<field>``.
    """

    def __init__(self, val_start: int, test_start: int, test_end: int | None = None):
        for field, row in {"val_start": val_start, "test_start": test_start, "test_end": test_end}.items():
            _check_row(field, row)
        self.val_start = val_start
        self.test_start = test_start
        self.test_end = test_end

    def _borders(self, table: SeriesTable) -> np.ndarray:
        test_end = table.observed if self.test_end is None else np.full(len(table.names), self.test_end)
        return np.stack([np.full_like(test_end, self.val_start), np.full_like(test_end, self.test_start), test_end], 1)


def _check_row(field: str, row: object) -> None:
    """Refuse a border that is no whole number of rows (NumPy would cut ``100.5`` to row 100 silently); only
    ``test_end`` may be ``None`` (the end of each series).

    Raises:
        TypeError: naming the key ``data.split.<field>``.
    """
    if not (whole_number(row) or (row is None and field == "test_end")):
        raise TypeError(f"data.split.{field}={row!r} is not a whole number of rows; give one such as 100")


class ETTSplit(RowSplit):
    """The borders of the ETT benchmark: 12 months train, 4 validation, 4 test (30-day months).

    Train rows [0, 8640), validation [8640 - L, 11520), test [11520 - L, 14400) for hourly data
    (Zhou et al., "Informer", AAAI 2021; the protocol of DLinear, PatchTST and SegRNN).

    Args:
        rows_per_hour: 1 for ETTh1/ETTh2, 4 for the 15-minute ETTm1/ETTm2.

    Raises:
        ValueError: ``rows_per_hour`` is not a whole number of 1 or more, naming ``data.split.rows_per_hour``.
    """

    def __init__(self, rows_per_hour: int = 1):
        # Checked here: the borders it gives would name data.split.val_start, which the user never set.
        check_count("data.split.rows_per_hour", rows_per_hour, "rows per hour of the data, 1 hourly or 4 every 15 min")
        month = 30 * 24 * rows_per_hour
        super().__init__(val_start=12 * month, test_start=16 * month, test_end=20 * month)
        self.rows_per_hour = rows_per_hour

    def _borders(self, table: SeriesTable) -> np.ndarray:
        """The protocol's borders, with a warning where the data's first step is not ``rows_per_hour``'s: the
        months would be counted in rows of another length (a 10-minute data set's 12 months of hourly rows are 60
        days), which is no ETT protocol; data sets without ETT borders take ``FractionSplit``."""
        hour = pd.Timedelta(hours=1)
        step = pd.Timedelta(table.times[1] - table.times[0]) if table.lengths[0] > 1 else hour / self.rows_per_hour
        if step * self.rows_per_hour != hour:
            per_hour = hour / step
            other = (
                f", or ETTSplit(rows_per_hour={per_hour:g}) for ETT-like borders" if per_hour == int(per_hour) else ""
            )
            warn_on_rank_zero(
                f"data.split is {self!r}, which counts the ETT protocol's 12, 4 and 4 months of 30 days at "
                f"{self.rows_per_hour} row(s) an hour, but the data have a row every {step}: training would end after "
                f"{self.val_start * step} and test after {self.test_end * step}; on data without ETT borders set "
                f"data.split to forecast.data.FractionSplit (the literature's 70/10/20 split){other}"
            )
        return super()._borders(table)

    def __repr__(self) -> str:
        return f"ETTSplit(rows_per_hour={self.rows_per_hour})"


class FractionSplit(Split):
    """Split each series by fractions of its rows: the last ``test`` for test, the ``val`` before it for validation.

    Rounded as in the long-horizon literature's custom data sets: ``int(rows * (1 - val - test))``
    training rows, ``int(rows * test)`` test rows, and the rest for validation; ``1 - val - test`` is
    reckoned on the fractions as written (0.8 for ``val=0.05, test=0.15``, where floats give 0.7999999999999999).

    Args:
        val: fraction of rows whose targets are for validation.
        test: fraction of rows whose targets are for testing.

    Raises:
        TypeError: ``val`` or ``test`` is no number (text, a bool), naming its key ``data.split.<field>``.
        ValueError: ``val`` or ``test`` is not above 0, or together they leave no training rows.
    """

    def __init__(self, val: float = 0.1, test: float = 0.2):
        for field, fraction in {"val": val, "test": test}.items():
            if isinstance(fraction, bool) or not isinstance(fraction, int | float | np.integer | np.floating):
                raise TypeError(f"data.split.{field}={fraction!r} is not a number; give a fraction such as 0.1")
        if not (0 < val and 0 < test and val + test < 1):
            raise ValueError(
                f"FractionSplit needs data.split.val > 0, data.split.test > 0 and val + test < 1; got val={val}, "
                f"test={test}: give fractions of each series' rows, such as val=0.1, test=0.2"
            )
        self.val = val
        self.test = test

    def _borders(self, table: SeriesTable) -> np.ndarray:
        rows = table.observed
        num_train = (rows * _difference(1.0, self.val, self.test)).astype(np.int64)
        num_test = (rows * self.test).astype(np.int64)
        return np.stack([num_train, rows - num_test, rows], axis=1)


def _difference(whole: float, *parts: float) -> float:
    """``whole - sum(parts)`` reckoned on the decimals as written, then as a float: 0.8 for 1 - 0.05 - 0.15
    (float subtraction gives 0.7999999999999999, one row too few of 1000), and 0.7 for 1 - 0.1 - 0.2, the
    float the literature's ``int(rows * 0.7)`` multiplies.

    Example:
        >>> _difference(1.0, 0.05, 0.15), 1 - 0.05 - 0.15
        (0.8, 0.7999999999999999)
    """
    return float(Decimal(str(whole)) - sum(Decimal(str(part)) for part in parts))


class DateSplit(Split):
    """Split every series at the same times: targets from ``val_start`` on validate, from ``test_start`` on test.

    A series that ends before ``val_start`` only trains; one that starts after ``test_start`` only tests.

    Args:
        val_start: first time of the validation targets, e.g. ``"2017-06-26"`` (in the data's time zone).
        test_start: first time of the test targets.
        test_end: first time after the test targets; ``None`` means the end of each series.

    Raises:
        ValueError: ``val_start`` or ``test_start`` is ``None``, a time is no time, some times have a time zone
            and others none, or the times are out of order; each naming its key ``data.split.<field>``.
    """

    def __init__(self, val_start: str, test_start: str, test_end: str | None = None):
        self.val_start = val_start
        self.test_start = test_start
        self.test_end = test_end
        for field in ("val_start", "test_start"):
            if self._times()[field] is None:
                raise ValueError(f"DateSplit needs data.split.{field}, a time such as '2017-06-26'; got None")
        stamps = {field: _timestamp(field, time) for field, time in self._times().items() if time is not None}
        zoned = [field for field, stamp in stamps.items() if stamp.tz is not None]
        if zoned and len(zoned) < len(stamps):
            raise ValueError(
                f"DateSplit has times with a time zone ({', '.join(f'data.split.{field}' for field in zoned)}) "
                "and times without; give all of them with a time zone or all without"
            )
        _check_order(self._times(), stamps)

    def _times(self) -> dict[str, str | None]:
        return {"val_start": self.val_start, "test_start": self.test_start, "test_end": self.test_end}

    def _borders(self, table: SeriesTable) -> np.ndarray:
        return np.stack([self._rows_before(table, field, time) for field, time in self._times().items()], 1)

    def _rows_before(self, table: SeriesTable, field: str, time: str | None) -> np.ndarray:
        """Per series the rows before ``time`` (``None``: all observed rows).

        Raises:
            ForecastDataError: the time has a time zone and the data none, or it is ambiguous or does
                not exist in the data's time zone (a daylight-saving change).
        """
        if time is None:
            return table.observed
        stamp, zone = pd.Timestamp(time), table.times.tz
        if zone is None and stamp.tz is not None:
            raise ForecastDataError(
                f"data.split.{field}={time!r} has a time zone, but the data's times have none; give it "
                f"without one (e.g. {str(stamp.tz_localize(None))!r}), or the data's times with theirs"
            )
        if zone is not None and stamp.tz is None:
            # NaT where ambiguous or non-existent: pandas 3 raises ValueError there, pandas 2 pytz's own errors
            local = stamp.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
            if local is pd.NaT:
                example = stamp.tz_localize(zone, ambiguous=False, nonexistent="shift_forward").isoformat()
                raise ForecastDataError(
                    f"data.split.{field}={time!r} is ambiguous or does not exist in the data's time zone {zone} "
                    f"(a daylight-saving change); give it with its UTC offset, e.g. {example!r}"
                )
            stamp = local
        before = np.add.reduceat(table.times < stamp, table.offsets[:-1], dtype=np.int64)
        return np.minimum(before, table.observed)


def _check_order(times: dict[str, str | None], stamps: dict[str, pd.Timestamp]) -> None:
    """Refuse split times (as given, and as ``stamps``) out of order: ``val_start <= test_start <= test_end``
    (``test_end`` where given).

    Raises:
        ValueError: a time is before the one it follows, naming both keys.
    """
    fields = list(stamps)  # val_start, test_start[, test_end]
    for before, after in zip(fields, fields[1:], strict=False):
        if stamps[after] < stamps[before]:
            raise ValueError(
                f"DateSplit needs {before} <= {after}; got data.split.{before}={times[before]!r} and "
                f"data.split.{after}={times[after]!r}: give data.split.{after} at or after {before}"
            )


def _timestamp(field: str, time: str) -> pd.Timestamp:
    """``time`` as a timestamp.

    Raises:
        ValueError: ``time`` is not a time, naming its key ``data.split.<field>``: also a number (pandas
            reads it as nanoseconds since 1970), and text pandas reads as no time (``""``, ``"NaT"``).
    """
    problem = ValueError(f"data.split.{field}={time!r} is not a time; give one such as '2017-06-26 12:00'")
    if isinstance(time, int | float | np.number):
        raise problem
    try:
        stamp = pd.Timestamp(time)
    except (TypeError, ValueError) as error:  # TypeError: no kind of time at all (a list, say)
        raise problem from error
    if stamp is pd.NaT:
        raise problem
    return stamp


@dataclass(frozen=True)
class Windows:
    """The windows of one part: per series, the first window's first target row, and how many follow.

    Window ``k`` of series ``i`` forecasts rows ``first[i] + k * stride`` onwards of that series.

    Args:
        first: row (within its series) of the first target step of each series' first window, shape (N,).
        counts: windows per series, shape (N,).
        stride: rows between consecutive windows of a series.
    """

    first: np.ndarray
    counts: np.ndarray
    stride: int


def part_windows(
    borders: np.ndarray, observed: np.ndarray, part: str, lookback: int, horizon: int, stride: int
) -> Windows:
    """The windows of ``part`` (``train``, ``val``, ``test``, or ``predict``) from the target borders.

    A window fits when its lookback starts at row 0 or later and its targets lie in the part;
    ``predict`` is one window per series whose lookback ends at the last observed row. A part that starts
    before row ``lookback`` of a series so loses its first windows there: two lookbacks give a series the
    same validation and test windows wherever the longer one has a training window in it (so always in wide
    data: one series, and a fit without training windows is refused); they may differ only in the series of
    long data too short for the longer one to train on.

    Args:
        borders: per series first target row of val, of test, and end of test, shape (N, 3).
        observed: rows with known targets per series, shape (N,).
        part: which windows.
        lookback: L.
        horizon: H.
        stride: rows between windows (``predict`` ignores it).
    """
    if part == "predict":
        return Windows(first=observed.copy(), counts=np.ones_like(observed), stride=1)
    target_start, target_end = {
        "train": (np.zeros_like(observed), borders[:, 0]),
        "val": (borders[:, 0], borders[:, 1]),
        "test": (borders[:, 1], borders[:, 2]),
    }[part]
    first = np.maximum(target_start, lookback)
    room = target_end - horizon - first
    counts = np.where(room >= 0, room // stride + 1, 0)
    return Windows(first=first, counts=counts, stride=stride)


def check_windows(
    windows: Windows, part: str, borders: np.ndarray, table: SeriesTable, lookback: int, horizon: int
) -> None:
    """Refuse a split part without a window in any series, naming the rows of it of the series nearest to one:
    the one with the most target rows of the part after a lookback (then the longest), among those with rows of the
    part; a series that ends before the part (``DateSplit``), however long, only where none has any.

    Raises:
        ForecastDataError: ``windows`` (of ``part``) holds none.
    """
    if windows.counts.sum():
        return
    column = {"train": 0, "val": 1, "test": 2}[part]
    starts = borders[:, column - 1] if column else np.zeros(len(borders), dtype=np.int64)
    usable = borders[:, column] - np.maximum(starts, lookback)  # -> (N,) target rows after a lookback
    usable = np.where(borders[:, column] > starts, usable, np.iinfo(np.int64).min)  # no rows of the part: last
    i = int(np.lexsort((-np.arange(len(usable)), table.observed, usable))[-1])  # the first of the nearest
    start, end = int(starts[i]), int(borders[i, column])
    series = f" ({where(series=table.names[i])}, the nearest to a window)" if table.named else ""
    # A window's lookback may reach into the part before: the part itself needs only its targets.
    raise ForecastDataError(
        f"the {part} part has no window: its targets span rows [{start}, {end}) of {table.observed[i]}"
        f"{series}, but a window needs {horizon} target rows there (the horizon), from row {lookback} on (after "
        "its lookback); use longer series, a shorter lookback/horizon, or other split borders"
    )


def default_split(source: object) -> Split:
    """The split when none is given: a built-in data set's own preset (``forecast.datasets.info``, e.g. the
    ETT borders), else ``FractionSplit()``.

    Example:
        >>> default_split("ettm1"), default_split("data.csv")
        (ETTSplit(rows_per_hour=4), FractionSplit(val=0.1, test=0.2))
    """
    if isinstance(source, str) and source.lower() in datasets.names():
        return from_spec(datasets.info(source).split, Split)
    return FractionSplit()
