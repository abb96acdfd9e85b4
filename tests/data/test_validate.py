import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule


def make(frame, **kwargs):
    return TimeSeriesDataModule(frame, lookback=10, horizon=5, **kwargs)


def test_missing_target_column_is_named(wide_frame):
    with pytest.raises(ForecastDataError, match=r"target column\(s\) \['OT'\] not in the data"):
        make(wide_frame, targets=["a", "OT"])


def test_nan_names_column_row_and_time(wide_frame):
    wide_frame.iloc[42, 1] = np.nan
    with pytest.raises(ForecastDataError, match=r"column 'b' holds nan at row 42 \(time 2024-01-02 18:00:00\)"):
        make(wide_frame)


def test_duplicate_time_is_named(wide_frame):
    frame = pd.concat([wide_frame.iloc[:11], wide_frame.iloc[10:]])
    with pytest.raises(ForecastDataError, match="time 2024-01-01 10:00:00 appears twice \\(row 11\\)"):
        make(frame)


def test_unsorted_time_is_named(wide_frame):
    frame = wide_frame.iloc[[0, 1, 3, 2, *range(4, 200)]]
    with pytest.raises(ForecastDataError, match="time goes backwards at row 3"):
        make(frame)


def test_irregular_frequency_asks_for_freq(wide_frame):
    with pytest.raises(ForecastDataError, match="cannot infer a regular frequency .* state it with freq="):
        make(wide_frame.drop(wide_frame.index[50]))


def test_stated_frequency_is_checked(wide_frame):
    with pytest.raises(ForecastDataError, match="does not follow frequency '2h'"):
        make(wide_frame, freq="2h")


def test_non_numeric_column_is_named(wide_frame):
    wide_frame["b"] = "x"
    with pytest.raises(ForecastDataError, match="column 'b' has dtype .*, not numbers"):
        make(wide_frame)


def test_unknown_source_is_explained():
    with pytest.raises(ForecastDataError, match="neither a built-in data set"):
        make("no/such/file.csv")


def test_csv_and_parquet_sources_read_like_the_frame(tmp_path, wide_frame, wide_csv):
    wide_frame.to_parquet(tmp_path / "wide.parquet")
    expected = make(wide_frame)
    for source in (wide_csv, str(tmp_path / "wide.parquet")):
        data = make(source)
        np.testing.assert_allclose(data.raw, expected.raw)
        assert (data.freq, data.start_times) == ("h", expected.start_times)
