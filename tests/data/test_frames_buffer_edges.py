"""Edges of reading users' files into series and of storing them in the float32 buffer: a file whose header
names a column twice, a file in another encoding than UTF-8, and values that only scaling takes beyond float32."""

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.data.buffer import encode_statics
from forecast.data.frames import Roles, to_table
from forecast.data.scaling import AffineScaling

TIMES = pd.date_range("2024-01-01", periods=12, freq="h")


def data(source, **options) -> TimeSeriesDataModule:
    return TimeSeriesDataModule(source, lookback=2, horizon=1, split=FractionSplit(val=0.2, test=0.2), **options)


def write_with_y_twice(path) -> None:
    values = np.arange(12.0)
    if path.suffix == ".parquet":
        pq.write_table(pa.table([pa.array(TIMES), pa.array(values), pa.array(-values)], names=["time", "y", "y"]), path)
    else:
        rows = "".join(f"{time},{value},{-value}\n" for time, value in zip(TIMES, values, strict=True))
        path.write_text("time,y,y\n" + rows)


@pytest.mark.parametrize("name", ["sales.csv", "sales.parquet"])
@pytest.mark.parametrize("targets", [None, ["y"]])
def test_a_file_naming_a_column_twice_is_refused_naming_it(tmp_path, name, targets):
    """pandas would read a CSV's second 'y' as 'y.1' and forecast both; pyarrow refuses to pick either."""
    path = tmp_path / name
    write_with_y_twice(path)
    with pytest.raises(ForecastDataError, match=r"column 'y' appears 2 times in the header of data source '.*sales"):
        data(path, columns=Columns(targets=targets))


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
def test_a_csv_in_another_encoding_than_utf8_is_refused_with_the_fix(tmp_path, encoding):
    path = tmp_path / "sales.csv"
    pd.DataFrame({"time": TIMES, "température": np.arange(12.0)}).to_csv(path, index=False, encoding=encoding)
    with pytest.raises(ForecastDataError, match=r"'.*sales\.csv' cannot be read as CSV \(UnicodeDecodeError.*UTF-8"):
        data(path)


def test_a_csv_with_a_byte_order_mark_reads_as_without_one(tmp_path):
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], 12), "time": np.tile(TIMES, 2), "y": np.arange(24.0)})
    path = tmp_path / "sales.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    table = data(path, columns=Columns(targets=["y"])).table
    assert table.names == ["a", "b"]
    np.testing.assert_array_equal(table.values["y"], frame["y"].to_numpy())


@pytest.mark.parametrize(
    ("training", "later"),
    [(np.arange(8) * 1e-20, 1e25), (np.full(8, 3e38), -3e38)],
    ids=["tiny spread", "far apart"],
)
def test_a_value_scaled_beyond_float32_is_refused_naming_it(training, later):
    """Stored as infinite, it would turn the loss and forecasts of every window reading it to inf or NaN."""
    frame = pd.DataFrame({"y": np.r_[training, np.full(4, later)]}, index=TIMES)
    module = data(frame)
    module.setup("fit")
    with pytest.raises(
        ForecastDataError, match=re.escape(f"value {later:g} at column 'y', row 8, time 2024-01-01 08:00:00 is beyond")
    ):
        module.dataset("train")


def test_a_static_number_scaled_beyond_float32_is_refused_naming_the_series():
    """A checkpoint's scaler, fitted on statics close together, meets a series with one far from them."""
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], 3), "time": np.tile(TIMES[:3], 2), "y": 0.0})
    frame["size"] = np.repeat([0.0, 1e10], 3)
    table = to_table(frame, Roles(["y"], [], [], ["size"]), "id", "time")
    with pytest.raises(ForecastDataError, match=r"static covariate 'size' of series 'b' is 1e\+10, beyond the float32"):
        encode_statics(table, {}, AffineScaling([[1e-30]], [[0.0]]))


@pytest.mark.parametrize(
    ("ids", "asked", "named"),
    [(np.repeat([1.0, 2.0], 12), [2], "'1.0', '2.0'"), (np.repeat(["007", "008"], 12), ["007"], "'7', '8'")],
    ids=["float ids", "leading zeros in a CSV"],
)
def test_series_not_in_the_data_are_refused_naming_the_ids_it_has(tmp_path, ids, asked, named):
    """A float id column names series '2.0', and a CSV's '007' reads as 7: the message shows how to spell them."""
    path = tmp_path / "sales.csv"
    pd.DataFrame({"id": ids, "time": np.tile(TIMES, 2), "y": np.arange(24.0)}).to_csv(path, index=False)
    with pytest.raises(
        ForecastDataError, match=rf"names series \['{asked[0]}'\] .* other series include \[{named}\]\); check their"
    ):
        data(path, series=asked)


def test_a_csv_with_a_separator_ending_every_line_reads_as_without_it(tmp_path):
    """The empty column it adds ("Unnamed: 3") would be forecast, and refused as all missing."""
    path = tmp_path / "sales.csv"
    path.write_text("id,time,y,\n" + "".join(f"a,{time},{i},\n" for i, time in enumerate(TIMES)))
    table = data(path).table
    assert list(table.values) == ["y"]
    np.testing.assert_array_equal(table.values["y"], np.arange(12.0))


def test_a_long_csv_without_the_time_column_names_the_columns_it_has(tmp_path):
    """Spaces after the commas make the header's names ' time' and ' y', which the message shows."""
    path = tmp_path / "sales.csv"
    path.write_text("id, time, y\n" + "".join(f"a, {time}, {i}\n" for i, time in enumerate(TIMES)))
    with pytest.raises(ForecastDataError, match=r"no 'time' column \(its columns are \['id', ' time', ' y'\]\); name"):
        data(path)
