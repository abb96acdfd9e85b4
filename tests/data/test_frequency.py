import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule


@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
def test_daily_data_with_gaps_everywhere_is_inferred_as_days_and_the_gap_named(zone):
    """No stretch of three rows is gapless, so the most common step decides: days, not 24 hours (which the
    daylight-saving change of 2024-03-31 leaves)."""
    index = pd.date_range("2024-02-01", periods=90, freq="D", tz=zone)
    frame = pd.DataFrame({"x": np.arange(60.0)}, index=index[np.arange(90) % 3 != 2])
    with pytest.raises(
        ForecastDataError, match=r"time at row 2, time 2024-02-04 .*does not follow frequency 'D' .*gap"
    ):
        TimeSeriesDataModule(frame, 8, 4)


def test_series_of_two_daily_rows_are_inferred_as_days():
    times = pd.date_range("2024-01-01", periods=2, freq="D")
    frame = pd.DataFrame({"id": ["a", "a", "b", "b"], "time": times.append(times), "y": [1.0, 2.0, 3.0, 4.0]})
    assert TimeSeriesDataModule(frame, 1, 1, split=None).freq == "D"


def test_a_stated_frequency_the_times_do_not_follow_asks_to_correct_it():
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=pd.date_range("2024-01-01", periods=30, freq="D"))
    with pytest.raises(ForecastDataError, match=r"does not follow frequency 'h' .*, or correct data\.freq='h'$"):
        TimeSeriesDataModule(frame, 8, 4, freq="h")
    with pytest.raises(ForecastDataError, match=r"does not follow frequency 'D' .*, or state the frequency with data"):
        TimeSeriesDataModule(frame.drop(frame.index[5]), 8, 4)


def test_a_stated_frequency_that_is_not_text_is_refused_naming_the_key():
    """pandas raises its own TypeError (pandas 3) or AttributeError (pandas 2) at a number."""
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=pd.date_range("2024-01-01", periods=30, freq="D"))
    with pytest.raises(ForecastDataError, match=r"data.freq=2 is not a pandas frequency; .*e.g. h, 15min, D"):
        TimeSeriesDataModule(frame, 8, 4, freq=2)


def test_a_short_series_of_another_step_does_not_decide_the_frequency_of_a_long_one_with_a_gap():
    """pandas infers 2 days from the three rows of b; a's 99 daily rows, one gap, are daily all the same."""
    a = pd.date_range("2024-01-01", periods=100, freq="D").delete(50)
    b = pd.date_range("2024-01-01", periods=3, freq="2D")
    frame = pd.DataFrame({"id": ["a"] * 99 + ["b"] * 3, "time": a.append(b), "y": 1.0})
    with pytest.raises(ForecastDataError, match=r"series 'a', row 50, .* does not follow frequency 'D' .*fill the gap"):
        TimeSeriesDataModule(frame, 1, 1, split=None)
