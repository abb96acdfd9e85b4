"""An interval coverage metric refuses a column index that is no integer where it is made; a step of one day
reads "1 day"."""

import numpy as np
import pandas as pd
import pytest

from forecast import TimeSeriesDataModule
from forecast.errors import ForecastDataError
from forecast.metrics import IntervalCoverage


@pytest.mark.parametrize("keys", [{"lower_index": 0.0}, {"upper_index": True}, {"lower_index": "0"}])
def test_interval_coverage_refuses_an_index_that_is_no_integer_where_it_is_made(keys):
    with pytest.raises(TypeError, match=f"{next(iter(keys))} must be an integer column"):
        IntervalCoverage(**keys)


def test_a_time_one_day_after_the_row_before_reads_one_day():
    times = pd.bdate_range("2024-01-01", periods=30)  # business days, the last a Friday
    times = times.append(pd.DatetimeIndex([times[-1] + pd.Timedelta(days=1)]))  # then a Saturday
    frame = pd.DataFrame({"y": np.arange(31.0)}, index=times)
    with pytest.raises(ForecastDataError, match=r"\(1 day after the row before\)"):
        TimeSeriesDataModule(frame, lookback=4, horizon=2).setup("fit")
