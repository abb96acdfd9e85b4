"""Files as ``data.source``: what is read of them, checked against pandas and pyarrow reading the same file, and
the errors for a folder, a file without rows, a column the file lacks and rows with a value more than the header."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.data.sources import read_source

TIMES = pd.date_range("2024-01-01", periods=12, freq="h")
LONG = pd.DataFrame(
    {"notes": "n", "id": np.repeat(["a", "b"], 12), "time": np.tile(TIMES, 2), "y": np.arange(24.0), "z": 0.5}
)
WIDE = pd.DataFrame({"time": TIMES, "y": np.arange(12.0), "z": np.arange(12.0) * 10, "w": -np.arange(12.0)})


def data(source, **options) -> TimeSeriesDataModule:
    module = TimeSeriesDataModule(source, lookback=2, horizon=1, split=FractionSplit(val=0.2, test=0.2), **options)
    module.setup("fit")
    return module


def write(frame: pd.DataFrame, path) -> None:
    frame.to_parquet(path) if path.suffix == ".parquet" else frame.to_csv(path, index=False)


@pytest.mark.parametrize("name", ["sales.csv", "sales.parquet"])
def test_a_long_file_is_read_without_its_columns_of_no_role(tmp_path, name):
    """Only the id, time and role columns are read: not the first column, which only a wide file's time may be."""
    path = tmp_path / name
    write(LONG, path)
    frame, rows = read_source(path, "id", "time", ["y"])
    assert list(frame.columns) == ["id", "time", "y"] and rows is None
    expected = pd.read_parquet(path) if name.endswith("parquet") else pd.read_csv(path)
    np.testing.assert_array_equal(frame["y"].to_numpy(), expected["y"].to_numpy())


def test_a_wide_parquet_file_with_its_times_as_index_is_read_without_its_other_columns(tmp_path):
    path = tmp_path / "wide.parquet"
    WIDE.set_index("time").rename_axis("date").to_parquet(path)
    frame, _ = read_source(path, "id", "time", ["w"])
    assert list(frame.columns) == ["w"]
    pd.testing.assert_frame_equal(frame, pd.read_parquet(path)[["w"]])


@pytest.mark.parametrize("name", ["sales.csv.gz", "sales.parquet"])
def test_a_role_column_the_file_lacks_is_named_with_the_file_and_its_columns(tmp_path, name):
    path = tmp_path / name
    write(LONG, path)
    message = rf"names column 'units', which data source '.*{name}' lacks; its columns are \['notes', 'id', 'time'"
    with pytest.raises(ForecastDataError, match=message):
        data(path, columns=Columns(targets=["y"], past_covariates=["units"]))


def test_a_folder_is_refused_as_a_folder(tmp_path):
    write(LONG, tmp_path / "part-0.parquet")
    with pytest.raises(ForecastDataError, match=r"'.*' is a folder; give one CSV or Parquet file in it"):
        data(tmp_path, columns=Columns(targets=["y"]))


@pytest.mark.parametrize("name", ["sales.csv", "sales.parquet"])
@pytest.mark.parametrize("targets", [None, ["y"]])
def test_a_file_without_rows_is_refused_naming_it(tmp_path, name, targets):
    path = tmp_path / name
    write(LONG.iloc[:0], path)
    with pytest.raises(ForecastDataError, match=rf"data source '.*{name}' has no rows, only its columns \['notes'"):
        data(path, columns=Columns(targets=targets))


@pytest.mark.parametrize(
    ("frame", "targets"), [(WIDE, None), (WIDE, ["z"]), (WIDE, ["y", "w"]), (LONG.drop(columns="notes"), ["z"])]
)
def test_rows_ending_in_a_separator_the_header_lacks_read_as_written(tmp_path, frame, targets):
    """A separator at the end of every row but the header's: each value stays under its own column's name."""
    path = tmp_path / "export.csv"
    header = ",".join(frame.columns) + "\n"
    path.write_text(header + "".join(",".join(map(str, row)) + ",\n" for row in frame.itertuples(index=False)))
    read = data(path, columns=Columns(targets=targets))
    for column in read.roles.targets:
        np.testing.assert_array_equal(read.table.values[column], frame[column].to_numpy())
    np.testing.assert_array_equal(read.table.times[:12], TIMES)


def test_rows_with_a_named_value_more_than_the_header_are_refused(tmp_path):
    """R's write.table writes row names without a header name: the rows hold a value more than the header."""
    path = tmp_path / "from_r.csv"
    path.write_text("time,y\n" + "".join(f'"{i + 1}",{time},{i}\n' for i, time in enumerate(TIMES)))
    with pytest.raises(ForecastDataError, match=r"'.*from_r\.csv': its first row holds 3 values, and its header 2"):
        data(path, columns=Columns(targets=["y"]))


@pytest.mark.skipif(importlib.util.find_spec("zstandard") is not None, reason="reads .zst where zstandard is")
def test_a_zstandard_csv_without_the_package_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "sales.csv.zst"
    path.write_bytes(b"(\xb5/\xfd")
    with pytest.raises(
        ForecastDataError, match=r"'.*sales\.csv\.zst' needs a package to be read \(.*zstandard.*uncompressed"
    ):
        data(path)


def test_a_static_column_that_a_parquet_file_sharded_by_series_lacks_is_named(tmp_path):
    """Counting the series of a Parquet file for ``shard: series`` asked pyarrow for the static columns, and a
    missing one raised pyarrow's ``ArrowInvalid: No match for FieldRef.Name(store)``."""
    times = pd.date_range("2024-01-01", periods=30, freq="h")
    frame = pd.concat([pd.DataFrame({"id": name, "time": times, "y": np.arange(30.0)}) for name in "ab"])
    frame.to_parquet(tmp_path / "sales.parquet", index=False)
    columns = Columns(targets=["y"], static_covariates=["store"])
    with pytest.raises(ForecastDataError, match=r"names column 'store', which data source .*sales.parquet' lacks"):
        TimeSeriesDataModule(str(tmp_path / "sales.parquet"), 2, 1, columns=columns, shard="series")
