"""Files and frames that a user may hand in: compressed CSVs read as the plain ones do, and files or
columns that cannot be read are refused with a message naming the file, column or row and the fix,
never a raw pandas, pyarrow or codec error."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit

TIMES = pd.date_range("2024-01-01", periods=12, freq="h")
LONG = pd.DataFrame({"id": np.repeat(["a", "b"], 12), "time": np.tile(TIMES, 2), "y": np.arange(24.0)})


def data(source, **options) -> TimeSeriesDataModule:
    return TimeSeriesDataModule(source, lookback=2, horizon=1, split=FractionSplit(val=0.2, test=0.2), **options)


@settings(max_examples=8, deadline=None)
@given(
    suffix=st.sampled_from([".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".CSV.BZ2", ".parquet"]),
    values=st.lists(st.floats(-1e6, 1e6), min_size=24, max_size=24),
    series=st.sampled_from([None, ["b"]]),
)
def test_a_file_reads_as_the_frame_written_to_it(tmp_path_factory, suffix, values, series):
    """A long frame written to a CSV (compressed as pandas infers from the name) or Parquet file gives the
    series, times and values that the frame itself gives."""
    frame = LONG.assign(y=values)
    path = tmp_path_factory.mktemp("files") / f"sales{suffix}"
    frame.to_parquet(path) if suffix == ".parquet" else frame.to_csv(path, index=False)
    expected, read = data(frame, series=series).table, data(path, series=series, columns=Columns(targets=["y"])).table
    assert read.names == expected.names
    assert (read.times == expected.times).all()
    np.testing.assert_allclose(read.values["y"], expected.values["y"], rtol=1e-15)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", r"'.*empty\.csv' cannot be read as CSV \(EmptyDataError: .*\); give a CSV file"),
        ("sales.csv.gz", b"id,time,y\n", r"'.*sales\.csv\.gz' cannot be read as CSV \(BadGzipFile: .*compressed as"),
        ("sales.csv.xz", b"id,time,y\n", r"'.*sales\.csv\.xz' cannot be read as CSV \(LZMAError: .*compressed as"),
        ("sales.parquet", b"id,time,y\n", r"'.*sales\.parquet' cannot be read as Parquet \(ArrowInvalid: .*\)"),
        ("sales.csv", "id,tempé\n".encode("latin-1"), r"'.*sales\.csv' cannot be read as CSV \(UnicodeDecodeError"),
        ("semi.csv", b"id;time;y\na;2024-01-01;1\n", r"'.*semi\.csv' reads as one column 'id;time;y'.* sep=';'"),
    ],
)
def test_an_unreadable_file_is_refused_naming_it(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ForecastDataError, match=message):
        data(path)


def test_an_unknown_file_type_is_refused_listing_the_compressed_csvs(tmp_path):
    path = tmp_path / "sales.pq"
    LONG.to_parquet(path)
    with pytest.raises(
        ForecastDataError, match=r"unknown file type '\.pq'; use \.csv \(or .*\.csv\.bz2.*\) or \.parquet"
    ):
        data(path)


@pytest.mark.parametrize("frame", [pd.DataFrame(), pd.DataFrame({"y": []})], ids=["no columns", "no rows"])
def test_an_empty_frame_is_refused(frame):
    with pytest.raises(ForecastDataError):
        data(frame)


def test_text_times_with_and_without_a_zone_are_refused_naming_the_rows(tmp_path):
    """Text times of which some have a UTC offset and some none are times, not "not a time"."""
    zoned = [str(time) for time in TIMES.tz_localize("Europe/Berlin")]
    frame = LONG.assign(time=zoned + [str(time) for time in TIMES])
    message = r"mixes times without a time zone \('2024-01-01 00:00:00' at column 'time', row 12\) and times with one"
    with pytest.raises(ForecastDataError, match=message):
        data(frame)
    frame.to_csv(tmp_path / "sales.csv", index=False)
    with pytest.raises(ForecastDataError, match=message):
        data(tmp_path / "sales.csv")


def test_timestamps_with_and_without_a_zone_are_refused_not_read_as_utc():
    """A frame's time objects of which some have a zone and some none: the naive ones are not taken as UTC."""
    frame = LONG.assign(time=list(TIMES.tz_localize("UTC")) + list(TIMES))
    with pytest.raises(
        ForecastDataError, match=r"without a time zone \('2024-01-01 00:00:00' at column 'time', row 12"
    ):
        data(frame)
    wide = pd.DataFrame({"y": np.arange(12.0)}, index=pd.Index([*TIMES[:6].tz_localize("UTC"), *TIMES[6:]]))
    with pytest.raises(
        ForecastDataError, match=r"without a time zone \('2024-01-01 06:00:00' at column 'time', row 6\)"
    ):
        data(wide)


def test_a_text_column_is_refused_naming_its_first_value_that_is_no_number(tmp_path):
    (tmp_path / "sales.csv").write_text("time,y\n" + "".join(f"{time},{i}\n" for i, time in enumerate(TIMES[:-1])))
    with open(tmp_path / "sales.csv", "a") as file:
        file.write(f"{TIMES[-1]},n/a ")
    with pytest.raises(ForecastDataError, match=r"column 'y' has dtype .*: it holds 'n/a ' at column 'y', row 11"):
        data(tmp_path / "sales.csv")
    with pytest.raises(ForecastDataError, match=r"though all its values read as numbers: .*pandas\.to_numeric"):
        data(LONG.assign(y=LONG["y"].astype(str)))


@pytest.mark.parametrize("series", ["ab", 1])
def test_series_given_as_one_id_is_refused_not_read_letter_by_letter(series):
    """``series="ab"`` names one series, not the series "a" and "b"."""
    with pytest.raises(TypeError, match=rf"data\.series={series!r} is not a list of series ids; give \[{series!r}\]"):
        data(LONG.assign(id=np.repeat(["ab", "1"], 12)), series=series)


@pytest.mark.parametrize("frame", [LONG, LONG.drop(columns="id").iloc[:12]], ids=["long", "wide with a time column"])
def test_the_index_that_to_csv_writes_is_no_target(tmp_path, frame):
    """``frame.to_csv(path)`` writes the row numbers as a first column of empty header: not a series to forecast."""
    frame.to_csv(tmp_path / "sales.csv")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = data(tmp_path / "sales.csv")
    assert read.roles.targets == ["y"]
    np.testing.assert_array_equal(read.table.values["y"], frame["y"].to_numpy())
    assert any("sales.csv': leaving out its first column, whose header is empty" in str(w.message) for w in caught)


def test_a_column_named_twice_in_one_role_is_refused_as_such():
    with pytest.raises(ForecastDataError, match=r"column 'y' is twice in data.columns.targets; name it once"):
        data(LONG, columns=Columns(targets=["y", "y"]))


@pytest.mark.parametrize("key", ["id_column", "time_column"])
def test_an_id_or_time_column_that_is_no_name_is_refused(key):
    """``None`` or a number is no column name (a frame's column names are read as text): a TypeError, not a
    KeyError from inside pandas."""
    with pytest.raises(TypeError, match=rf"data\.columns\.{key}=None is not a column name; give the name as text"):
        data(LONG, columns=Columns(**{key: None}))


def test_a_role_naming_a_column_by_a_number_is_told_to_give_its_text():
    """A frame's column 5 is read as '5', which the roles are to spell."""
    frame = LONG.rename(columns={"y": 5})
    with pytest.raises(ForecastDataError, match=r"targets column 5 is not in the data; .* give '5'\)"):
        data(frame, columns=Columns(targets=[5]))
    assert data(frame, columns=Columns(targets=["5"])).roles.targets == ["5"]
