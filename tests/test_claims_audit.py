"""Guards for README claims that this session's audit corrected."""

import numpy as np
import pandas as pd

from forecast.data.sources import read_source


def test_a_wide_file_reads_its_time_column_before_its_first(tmp_path):
    """README: a wide file's ``time_column`` is ``time``, else its first column."""
    times = pd.date_range("2024-01-01", periods=4, freq="h")
    path = tmp_path / "wide.csv"
    pd.DataFrame({"load": np.arange(4.0), "time": times, "price": np.arange(4.0) * 2}).to_csv(path, index=False)
    frame, _ = read_source(path, "id", "time")
    assert list(frame.columns) == ["load", "price"]
    assert pd.DatetimeIndex(frame.index).equals(times)


def test_a_wide_file_without_a_time_column_reads_its_first_column_as_times(tmp_path):
    times = pd.date_range("2024-01-01", periods=4, freq="h")
    path = tmp_path / "wide.csv"
    pd.DataFrame({"date": times, "load": np.arange(4.0)}).to_csv(path, index=False)
    frame, _ = read_source(path, "id", "time")
    assert list(frame.columns) == ["load"]
    assert pd.DatetimeIndex(pd.to_datetime(frame.index)).equals(times)
