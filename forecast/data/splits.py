"""Where the training, validation and test windows of a series lie, as row borders.

A split gives each part a half-open row range ``[start, end)``. Validation and test ranges start
``lookback`` rows before their first target row, so their first windows look back into the previous
part (the ETT protocol) while their targets never overlap the training targets.
"""

from abc import ABC, abstractmethod

from ..errors import ForecastDataError

__all__ = ["Split", "RowSplit", "ETTSplit", "FractionSplit"]

Borders = dict[str, tuple[int, int]]


class Split(ABC):
    """Chooses the row ranges of the train, val and test parts of a series of ``num_rows`` rows."""

    @abstractmethod
    def target_borders(self, num_rows: int) -> tuple[int, int, int]:
        """The first target row of val, of test, and the end of test."""

    def borders(self, num_rows: int, lookback: int, horizon: int) -> Borders:
        """Row ranges per part, each holding at least one window of ``lookback + horizon`` rows.

        Raises:
            ForecastDataError: a part is too short for one window, or the borders exceed the data.
        """
        val_start, test_start, test_end = self.target_borders(num_rows)
        if not 0 < val_start <= test_start <= test_end <= num_rows:
            raise ForecastDataError(
                f"{self!r} gives borders val_start={val_start}, test_start={test_start}, "
                f"test_end={test_end} that do not fit a series of {num_rows} rows; "
                "choose borders with 0 < val_start <= test_start <= test_end <= rows"
            )
        parts = {
            "train": (0, val_start),
            "val": (val_start - lookback, test_start),
            "test": (test_start - lookback, test_end),
        }
        for name, (start, end) in parts.items():
            if start < 0 or end - start < lookback + horizon:
                raise ForecastDataError(
                    f"the {name} part of {self!r} spans rows [{max(start, 0)}, {end}) of {num_rows}, "
                    f"too few for one window of lookback {lookback} + horizon {horizon}; "
                    "use a longer series, a shorter lookback/horizon, or other split borders"
                )
        return parts

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class RowSplit(Split):
    """Split at fixed rows: targets of val start at ``val_start``, of test at ``test_start``.

    Args:
        val_start: first target row of the validation part (training rows are ``[0, val_start)``).
        test_start: first target row of the test part.
        test_end: end of the test part (exclusive); ``None`` means the end of the series.
    """

    def __init__(self, val_start: int, test_start: int, test_end: int | None = None):
        self.val_start = val_start
        self.test_start = test_start
        self.test_end = test_end

    def target_borders(self, num_rows: int) -> tuple[int, int, int]:
        test_end = num_rows if self.test_end is None else self.test_end
        return self.val_start, self.test_start, test_end


class ETTSplit(RowSplit):
    """The borders of the ETT benchmark: 12 months train, 4 validation, 4 test (30-day months).

    Train rows [0, 8640), validation [8640 - L, 11520), test [11520 - L, 14400) for hourly data
    (Zhou et al., "Informer", AAAI 2021; the protocol of DLinear, PatchTST and SegRNN).

    Args:
        rows_per_hour: 1 for ETTh1/ETTh2, 4 for the 15-minute ETTm1/ETTm2.
    """

    def __init__(self, rows_per_hour: int = 1):
        month = 30 * 24 * rows_per_hour
        super().__init__(val_start=12 * month, test_start=16 * month, test_end=20 * month)
        self.rows_per_hour = rows_per_hour

    def __repr__(self) -> str:
        return f"ETTSplit(rows_per_hour={self.rows_per_hour})"


class FractionSplit(Split):
    """Split by fractions of the rows: the last ``test`` for test, the ``val`` before it for validation.

    Rounded as in the long-horizon literature's custom data sets: ``int(rows * (1 - val - test))``
    training rows, ``int(rows * test)`` test rows, and the rest for validation.

    Args:
        val: fraction of rows whose targets are for validation.
        test: fraction of rows whose targets are for testing.
    """

    def __init__(self, val: float = 0.1, test: float = 0.2):
        if not (0 < val and 0 < test and val + test < 1):
            raise ValueError(f"FractionSplit needs val > 0, test > 0, val + test < 1; got val={val}, test={test}")
        self.val = val
        self.test = test

    def target_borders(self, num_rows: int) -> tuple[int, int, int]:
        num_train = int(num_rows * (1 - self.val - self.test))
        num_test = int(num_rows * self.test)
        return num_train, num_rows - num_test, num_rows
