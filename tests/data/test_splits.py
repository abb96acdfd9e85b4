import pytest

from forecast import ForecastDataError
from forecast.data import ETTSplit, FractionSplit, RowSplit


def test_ett_split_gives_the_protocol_borders():
    borders = ETTSplit().borders(17420, lookback=96, horizon=96)
    assert borders == {"train": (0, 8640), "val": (8640 - 96, 11520), "test": (11520 - 96, 14400)}


def test_ett_split_scales_to_quarter_hours():
    assert ETTSplit(rows_per_hour=4).borders(69680, 96, 96)["test"] == (46080 - 96, 57600)


def test_fraction_split_rounds_like_the_literature():
    # Autoformer's custom data: int(0.7 n) train rows, int(0.2 n) test rows, the rest validation.
    borders = FractionSplit(val=0.1, test=0.2).borders(1001, lookback=10, horizon=5)
    assert borders == {"train": (0, 700), "val": (690, 801), "test": (791, 1001)}


def test_split_too_short_for_a_window_names_the_part():
    with pytest.raises(ForecastDataError, match="the val part .* too few for one window of lookback 50 \\+ horizon 20"):
        RowSplit(val_start=100, test_start=110).borders(200, lookback=50, horizon=20)


def test_split_beyond_the_data_is_refused():
    with pytest.raises(ForecastDataError, match="do not fit a series of 1000 rows"):
        ETTSplit().borders(1000, lookback=96, horizon=96)
