"""Files as users bring them as ``data.source``: CSV dialects and compressions, Parquet types, and the refusals of
what is not read (a header with spaces around a name, ';' with decimal commas, a compressed file of another type),
checked against pandas and pyarrow reading the same file."""

import decimal
import gzip

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.data.sources import read_source

TIMES = pd.date_range("2024-01-01", periods=12, freq="h")
LONG = pd.DataFrame({"id": np.repeat(["a", "b"], 12), "time": np.tile(TIMES, 2), "y": np.arange(24.0) + 0.5})
WIDE = pd.DataFrame({"time": TIMES, "y": np.arange(12.0) + 0.5, "z": np.arange(12.0) * 10})


def data(source, **options) -> TimeSeriesDataModule:
    module = TimeSeriesDataModule(source, lookback=4, horizon=2, split=FractionSplit(val=0.2, test=0.2), **options)
    module.setup("fit")
    return module


@pytest.mark.parametrize(
    "header", ["id, time, y", " id,time,y"], ids=["spaces after commas", "space before the id column"]
)
def test_a_header_with_spaces_around_a_name_the_module_needs_is_refused_naming_it(tmp_path, header):
    """' time' (or ' id') is not 'time': the long file would be read without its times, or as one wide series."""
    path = tmp_path / "sales.csv"
    path.write_text(LONG.to_csv(index=False).replace("id,time,y", header))
    spaced = next(name for name in header.split(",") if name != name.strip())
    message = rf"sales.csv' has no '{spaced.strip()}' column .*; name its column '{spaced}', written with spaces"
    with pytest.raises(ForecastDataError, match=message):
        data(path, columns=Columns(targets=["y"]))


def test_a_role_column_written_with_spaces_around_its_name_is_named_so(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(WIDE.to_csv(index=False).replace("time,y,z", "time, y, z"))
    with pytest.raises(
        ForecastDataError,
        match=r"wide.csv' has no 'y' column .*; name its column ' y', written with spaces around 'y', in data.col",
    ):
        data(path, columns=Columns(targets=["y"]))


def test_a_wide_file_whose_spaced_names_no_role_asks_for_is_read_as_written(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text(WIDE.to_csv(index=False).replace("time,y,z", " time , y , z "))
    frame, _ = read_source(path, "id", "time")
    assert list(frame.columns) == [" y ", " z "]
    np.testing.assert_array_equal(pd.to_datetime(frame.index), WIDE["time"])


def test_semicolons_with_decimal_commas_are_refused_with_the_reading_that_reads_them(tmp_path):
    path = tmp_path / "export.csv"
    WIDE.to_csv(path, index=False, sep=";", decimal=",")
    message = r"export.csv' reads as one column 'time;y;z'.* pandas.read_csv\(path, sep=';', decimal=','\)$"
    with pytest.raises(ForecastDataError, match=message):
        data(path)
    given = pd.read_csv(path, sep=";", decimal=",", parse_dates=["time"])  # the fix the message gives reads it
    pd.testing.assert_frame_equal(given, WIDE)


def test_semicolons_with_integers_are_refused_naming_the_separator_alone(tmp_path):
    path = tmp_path / "export.csv"
    WIDE.astype({"y": int, "z": int}).to_csv(path, index=False, sep=";")
    with pytest.raises(ForecastDataError, match=r"give pandas.read_csv\(path, sep=';'\)$"):
        data(path)


@pytest.mark.parametrize("name", ["sales.parquet.gz", "sales.json.gz"])
def test_a_compressed_file_of_another_type_than_csv_is_refused_by_its_name(tmp_path, name):
    """Read as CSV, a gzipped Parquet file failed as text not UTF-8, and gzipped JSON read as a header alone."""
    path = tmp_path / name
    inner = LONG.to_parquet() if ".parquet" in name else LONG.to_json(date_format="iso").encode()
    path.write_bytes(gzip.compress(inner))
    kind = name.removeprefix("sales")
    with pytest.raises(ForecastDataError, match=rf"{name}': unknown file type '{kind}'; use .csv \(or a compressed"):
        data(path)


@pytest.mark.parametrize("name", ["w.csv.gz", "W.CSV.BZ2", "w.Csv.Zip", "w.csv.xz", "W.CSV"])
def test_csv_compressed_as_its_name_says_in_any_letter_case_is_read_as_pandas_reads_it(tmp_path, name):
    path = tmp_path / name
    WIDE.to_csv(path, index=False, compression={"gz": "gzip"}.get(path.suffix.lower()[1:], "infer"))
    frame, _ = read_source(path, "id", "time")
    expected = pd.read_csv(path, compression={"gz": "gzip"}.get(path.suffix.lower()[1:], "infer"), index_col=0)
    np.testing.assert_array_equal(frame.to_numpy(), expected.to_numpy())
    assert list(frame.columns) == ["y", "z"]


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff" + WIDE.to_csv(index=False),
        WIDE.to_csv(index=False).replace("\n", "\r\n"),
        WIDE.to_csv(index=False) + "\n",
        "time,y,z\n" + "".join(f'"{t}","{y}","{z}"\n' for t, y, z in WIDE.astype(str).itertuples(index=False)),
    ],
    ids=["utf-8 bom", "windows line ends", "trailing empty line", "quoted numbers"],
)
def test_csv_dialects_are_read_as_the_plain_file(tmp_path, text):
    path = tmp_path / "wide.csv"
    path.write_bytes(text.encode())
    module = data(path, columns=Columns(targets=["y"]))
    frame, _ = read_source(path, "id", "time", ["y"])
    assert list(frame.columns) == ["y"] and module.targets == ["y"]
    np.testing.assert_array_equal(frame["y"].to_numpy(), WIDE["y"].to_numpy())
    np.testing.assert_array_equal(pd.DatetimeIndex(pd.to_datetime(frame.index)), WIDE["time"])


def test_decimal_columns_of_a_parquet_file_are_read_as_doubles(tmp_path):
    """A database's NUMERIC column: pandas reads it as Decimal objects, refused before as no numbers."""
    path = tmp_path / "export.parquet"
    values = [decimal.Decimal(f"{value:.2f}") for value in LONG["y"]]
    table = pa.table({"id": LONG["id"], "time": LONG["time"], "y": pa.array(values, pa.decimal128(10, 2))})
    pq.write_table(table, path)
    frame, _ = read_source(path, "id", "time", ["y"])
    assert frame["y"].dtype == np.float64
    np.testing.assert_array_equal(frame["y"].to_numpy(), [float(value) for value in values])
    assert data(path, columns=Columns(targets=["y"])).targets == ["y"]


def test_parquet_of_arrow_types_dictionary_ids_row_groups_and_nullable_numbers_is_read_as_pyarrow_reads_it(tmp_path):
    path = tmp_path / "sales.parquet"
    frame = LONG.assign(z=pd.array(np.arange(24), "Int64"), y=LONG["y"].astype("Float64"))
    table = pa.Table.from_pandas(frame.astype({"time": pd.ArrowDtype(pa.timestamp("ns", tz="UTC"))}))
    table = table.set_column(0, "id", table.column("id").dictionary_encode())
    pq.write_table(table, path, row_group_size=12)  # a row group per series
    read, rows = read_source(path, "id", "time", ["y", "z"], series=["b"])
    expected = pq.read_table(path).to_pandas()
    np.testing.assert_array_equal(rows, np.arange(12, 24))
    np.testing.assert_array_equal(read["y"].to_numpy(dtype=float), expected["y"].to_numpy(dtype=float)[12:])
    assert data(path, columns=Columns(targets=["y"], past_covariates=["z"]), series=["b"]).targets == ["y"]
