"""Input frames and files whose layout is not the one documented are refused with the fix, never with pandas'
own error or a fix that does not apply."""

import numpy as np
import pandas as pd
import pytest

from forecast import Columns, ForecastDataError, TimeSeriesDataModule

TIMES = pd.date_range("2024-01-01", periods=30, freq="h")


def test_a_frame_indexed_by_levels_of_other_names_is_refused_naming_the_levels():
    """A long frame whose id and time are index levels named otherwise than ``data.columns`` says."""
    frame = pd.DataFrame({"store": np.repeat(["a", "b"], 30), "date": np.tile(TIMES, 2), "y": np.arange(60.0)})
    indexed = frame.set_index(["store", "date"])
    with pytest.raises(ForecastDataError, match=r"levels \['store', 'date'\], none named 'id'.*data.columns.id_column"):
        TimeSeriesDataModule(indexed, lookback=4, horizon=2)
    named = TimeSeriesDataModule(indexed, lookback=4, horizon=2, columns=Columns(id_column="store", time_column="date"))
    assert named.series_names == ["a", "b"]


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_wide_file_whose_times_are_not_its_first_column_is_told_to_name_them(tmp_path, suffix):
    """The first column is read as the times of a wide file: where it holds numbers, the fix is to name the column
    of times, not to convert numbers to times."""
    path = tmp_path / f"wide.{suffix}"
    frame = pd.DataFrame({"y": np.arange(30.0), "date": TIMES})
    if suffix == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    with pytest.raises(
        ForecastDataError, match=r"its index 'y' holds numbers .* data.columns.time_column .*\['date'\]"
    ):
        TimeSeriesDataModule(str(path), lookback=4, horizon=2)
    named = TimeSeriesDataModule(str(path), lookback=4, horizon=2, columns=Columns(time_column="date"))
    assert named.targets == ["y"] and named.freq == "h"


def test_a_long_frame_with_its_times_in_its_index_is_told_how_to_name_them():
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], 30), "y": np.arange(60.0)}, index=np.tile(TIMES, 2))
    with pytest.raises(ForecastDataError, match=r"its times are its index, which has no name: frame.rename_axis"):
        TimeSeriesDataModule(frame, lookback=4, horizon=2)
    with pytest.raises(ForecastDataError, match=r"its index 'date': data.columns.time_column='date'"):
        TimeSeriesDataModule(frame.rename_axis("date"), lookback=4, horizon=2)
