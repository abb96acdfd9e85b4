"""Daily and weekly times kept in UTC and shown in a local zone: steps of elapsed time, inferred as such."""

import numpy as np
import pandas as pd
import pytest

from forecast.data import TimeSeriesDataModule
from forecast.errors import ForecastDataError


@pytest.mark.parametrize(("freq", "expected"), [("D", "24h"), ("W-SUN", "168h")])
def test_utc_midnights_in_a_local_zone_are_inferred_as_elapsed_steps(freq, expected):
    times = pd.date_range("2020-03-01", periods=60, freq=freq, tz="UTC").tz_convert("Europe/Berlin")
    frame = pd.DataFrame({"y": np.sin(np.arange(60.0))}, index=times)  # 01:00 in winter, 02:00 in summer
    data = TimeSeriesDataModule(frame, lookback=7, horizon=3)
    assert data.freq == expected
    assert data.freq == TimeSeriesDataModule(frame, lookback=7, horizon=3, freq=expected).freq


def test_local_midnights_stay_calendar_days():
    times = pd.date_range("2020-03-01", periods=60, freq="D", tz="Europe/Berlin")  # a 23-hour day on 03-29
    frame = pd.DataFrame({"y": np.arange(60.0)}, index=times)
    assert TimeSeriesDataModule(frame, lookback=7, horizon=3).freq == "D"


def test_utc_midnights_with_a_gap_are_inferred_and_the_gap_named():
    times = pd.date_range("2020-03-01", periods=60, freq="D", tz="UTC").tz_convert("Europe/Berlin").delete(40)
    frame = pd.DataFrame({"y": np.arange(59.0)}, index=times)
    with pytest.raises(ForecastDataError, match=r"row 40, .* does not follow frequency '24h'.*fill the gap"):
        TimeSeriesDataModule(frame, lookback=7, horizon=3)
