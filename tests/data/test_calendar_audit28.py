import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data.calendar import calendar_features, season_positions, seasonal_period

SUNDAY_TO_THURSDAY = pd.offsets.CustomBusinessDay(weekmask="Sun Mon Tue Wed Thu")
MONDAY_TO_SATURDAY = pd.offsets.CustomBusinessDay(weekmask="Mon Tue Wed Thu Fri Sat")


@pytest.mark.parametrize(("offset", "days"), [(SUNDAY_TO_THURSDAY, 5), (MONDAY_TO_SATURDAY, 6), ("B", 5), ("C", 5)])
def test_the_season_of_business_days_is_a_week_of_their_weekmask(offset, days):
    """Each weekday of the weekmask keeps one position, and consecutive business days have consecutive ones."""
    times = pd.date_range("2024-01-07", periods=4 * days, freq=offset)
    positions = season_positions(times, offset)
    assert seasonal_period(offset) == days
    by_weekday = pd.Series(positions).groupby(times.day_of_week).nunique()
    assert (by_weekday == 1).all() and len(by_weekday) == days
    assert np.array_equal(np.diff(positions) % days, np.ones(len(times) - 1))


def test_the_cyclical_season_of_six_business_days_puts_saturday_beside_monday():
    times = pd.date_range("2024-01-01", periods=12, freq=MONDAY_TO_SATURDAY)
    angles = np.arctan2(*calendar_features(times, ["season"], "cyclical", freq=MONDAY_TO_SATURDAY).T)
    assert np.allclose(np.diff(angles) % (2 * np.pi), 2 * np.pi / 6)


def _text_of_local_times(freq: str, periods: int) -> pd.DataFrame:
    """Europe/Berlin's times written with their UTC offsets, which change on 2024-03-31 and 2024-10-27."""
    local = pd.date_range("2024-03-01", periods=periods, freq=freq, tz="Europe/Berlin")
    return pd.DataFrame({"time": [str(time) for time in local], "y": np.arange(float(periods))})


@pytest.mark.parametrize(("freq", "stated"), [("D", None), ("D", "D"), ("W-SUN", None), ("MS", None)])
def test_local_midnights_read_as_utc_are_told_to_take_their_time_zone(freq, stated):
    """Text of several UTC offsets is read as UTC: local midnights move by an hour at a daylight-saving change."""
    frame = _text_of_local_times(freq, 40)
    with pytest.warns(UserWarning, match="several UTC offsets"):
        with pytest.raises(ForecastDataError, match=r"local times, which move by an hour against UTC .*tz_convert\("):
            TimeSeriesDataModule(frame, 1, 1, split=None, freq=stated)
    frame["time"] = pd.to_datetime(frame["time"], utc=True).dt.tz_convert("Europe/Berlin")
    assert TimeSeriesDataModule(frame, 1, 1, split=None, freq=stated).freq == freq


def test_a_gap_in_utc_days_is_not_said_to_be_a_time_zone_change():
    times = pd.date_range("2024-03-01", periods=40, freq="D", tz="UTC").delete(20)
    frame = pd.DataFrame({"x": np.arange(39.0)}, index=times)
    with pytest.raises(ForecastDataError, match=r"row 20, .*fill the gap") as error:
        TimeSeriesDataModule(frame, 1, 1, split=None)
    assert "tz_convert" not in str(error.value)
