import re

import numpy as np
import pandas as pd
import pytest
from pandas.tseries.frequencies import to_offset

from forecast import ForecastDataError, TimeSeriesDataModule

BERLIN = "Europe/Berlin"


def frame_at(times: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(float(len(times)))}, index=times)


@pytest.mark.parametrize(
    "start, freq, zone",
    [
        ("2024-01-01", "h", None), ("2024-01-01", "15min", None), ("2024-01-01", "D", None),
        ("2024-01-01", "B", None), ("2024-01-07", "W-SUN", None), ("2024-01-01", "W-MON", None),
        ("2020-01-01", "MS", None), ("2020-01-31", "ME", None), ("2010-01-01", "QS", None),
        ("2010-03-31", "QE", None), ("1990-01-01", "YS", None), ("1990-12-31", "YE", None),
        ("2024-01-01", "2h", None), ("2024-01-01", "3D", None),
        ("2024-03-30", "h", BERLIN), ("2024-10-26", "h", BERLIN), ("2024-03-20", "D", BERLIN),
    ],
)  # fmt: skip
def test_the_inferred_frequency_is_the_one_the_times_were_made_at_and_a_missing_row_is_named(start, freq, zone):
    """Hours in Berlin stay 'h' across its days of 23 (2024-03-31) and 25 hours (2024-10-27), days there 'D'
    across the first."""
    times = pd.date_range(start, periods=40, freq=freq, tz=zone)
    inferred = TimeSeriesDataModule(frame_at(times), 4, 2, split=None).freq
    assert to_offset(inferred) == to_offset(freq)  # QS-JAN is QS
    with pytest.raises(
        ForecastDataError,
        match=rf"row 20, time {re.escape(str(times[21]))} .*\(expected {re.escape(str(times[20]))}\); fill the gap",
    ):
        TimeSeriesDataModule(frame_at(times.delete(20)), 4, 2, split=None)


@pytest.mark.parametrize(
    "start, missing",
    [("2024-03-30", "2024-03-31 03:00+02:00"), ("2024-10-26", "2024-10-27 02:00+01:00")],
)
def test_a_missing_hour_at_a_daylight_saving_change_is_a_gap_without_the_wall_clock_hint(start, missing):
    """Hours in a time zone step elapsed time: the first hour after the clock jumps, or the second of the two
    02:00s, is a missing row, not a time read another way; storing them as naive local times, as the hint said,
    would skip or repeat an hour."""
    times, missing = pd.date_range(start, periods=72, freq="h", tz=BERLIN), pd.Timestamp(missing, tz=BERLIN)
    with pytest.raises(ForecastDataError, match=rf"\(expected {re.escape(str(missing))}\); fill the gap") as error:
        TimeSeriesDataModule(frame_at(times.drop(missing)), 4, 2, split=None)
    assert "daylight saving" not in str(error.value) and "naive local" not in str(error.value)


def test_days_given_as_24_hours_in_a_time_zone_are_told_to_give_calendar_days():
    """The hint said how skipped wall-clock times are read, which steps of 24 hours never do."""
    times = pd.date_range("2024-03-25", periods=20, freq="D", tz=BERLIN)
    with pytest.raises(
        ForecastDataError,
        match=r"row 7, time 2024-04-01 00:00:00\+02:00 does not follow frequency '24h' .*correct data.freq='24h' "
        r"\(in time zone Europe/Berlin a day at a daylight-saving change has 23 or 25 hours: .*data.freq: D\)$",
    ):
        TimeSeriesDataModule(frame_at(times), 4, 2, freq="24h", split=None)
    assert TimeSeriesDataModule(frame_at(times), 4, 2, freq="D", split=None).freq == "D"


def test_series_of_two_weekly_anchors_name_the_series_off_the_first_ones_weekday():
    sundays = pd.date_range("2024-01-07", periods=20, freq="W-SUN")
    mondays = pd.date_range("2024-01-01", periods=20, freq="W-MON")
    frame = pd.DataFrame({"id": ["a"] * 20 + ["b"] * 20, "time": sundays.append(mondays), "y": 1.0})
    with pytest.raises(
        ForecastDataError, match=r"series 'b', row 20, time 2024-01-01 .* frequency 'W-SUN' \(expected a"
    ):
        TimeSeriesDataModule(frame, 4, 2, split=None)
