"""Daily and weekly times kept in UTC and shown in a local zone: steps of elapsed time, inferred as such."""

import numpy as np
import pandas as pd
import pytest

from forecast.data import Columns, TimeSeriesDataModule
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


def test_utc_midnights_of_series_the_longest_of_which_keeps_one_offset_are_inferred_as_elapsed_steps():
    """pandas infers days on the longest series (its summer keeps one UTC offset); the other crosses the autumn
    change, which days leave (the data were refused)."""
    utc_days = [pd.date_range(start, periods=n, freq="D", tz="UTC").tz_convert("Europe/Berlin")
                for start, n in [("2020-04-01", 100), ("2020-10-01", 80)]]  # fmt: skip
    frame = pd.concat(
        pd.DataFrame({"id": name, "time": times, "y": np.arange(len(times), dtype=float)})
        for name, times in zip(["summer", "autumn"], utc_days, strict=True)
    )
    columns = Columns(id_column="id", time_column="time", targets=["y"])
    assert TimeSeriesDataModule(frame, lookback=7, horizon=3, columns=columns).freq == "24h"
