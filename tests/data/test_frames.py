import numpy as np
import pandas as pd
import pytest

from forecast import Columns, ForecastDataError, TimeSeriesDataModule


def with_column_named_twice(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis(["a", "b", "a"], axis=1)


def with_two_level_names(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_axis(pd.MultiIndex.from_tuples([("a", "x"), ("b", "x"), ("c", "x")]), axis=1)


def with_complex_values(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(a=frame["a"] + 1j)


def with_a_value_beyond_float32(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(a=np.where(np.arange(len(frame)) == 5, 1e39, frame["a"]))


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (with_column_named_twice, r"column 'a' appears 2 times in the data"),
        (with_two_level_names, r"the data's columns have 2 levels, e.g. column \('a', 'x'\)"),
        (with_complex_values, r"column 'a' has dtype complex128, not numbers \(int or float\)"),
        (with_a_value_beyond_float32, r"value 1e\+39 at column 'a', row 5 is beyond the float32 range"),
    ],
    ids=["column-named-twice", "two-level-names", "complex-values", "value-beyond-float32"],
)
def test_wide_frames_pandas_would_misread_are_refused_naming_the_column(wide_frame, spoil, message):
    with pytest.raises(ForecastDataError, match=message):
        TimeSeriesDataModule(spoil(wide_frame), lookback=8, horizon=4)


def test_series_ids_alike_as_text_are_refused_naming_the_series(long_frame):
    ids = long_frame["id"].map({"A": 3, "B": "3", "C": "C"})  # 3 and "3": both series '3' as text
    with pytest.raises(ForecastDataError, match=r"the ids \[3, '3'\] of column 'id' all read series '3' as text"):
        TimeSeriesDataModule(long_frame.assign(id=ids), lookback=8, horizon=4, columns=Columns(targets=["y"]))


def test_a_csv_of_times_across_a_daylight_saving_change_is_read_as_utc(tmp_path):
    index = pd.date_range("2024-03-29", periods=100, freq="h", tz="Europe/Berlin", name="date")
    pd.DataFrame({"x": np.arange(100.0)}, index=index).to_csv(tmp_path / "tz.csv")  # +01:00, then +02:00
    with pytest.warns(UserWarning, match=r"column 'date' holds times of several UTC offsets .*: read as UTC"):
        data = TimeSeriesDataModule(str(tmp_path / "tz.csv"), lookback=8, horizon=4)
    assert data.freq == "h" and data.table.times.equals(index.tz_convert("UTC"))


def test_a_value_that_is_not_a_time_among_several_utc_offsets_is_named(long_frame):
    times = long_frame["time"].dt.tz_localize("Europe/Berlin").dt.strftime("%Y-%m-%d %H:%M%z")
    times[[0, 7]] = ["2024-07-01 00:00+0200", "yesterday"]  # two offsets, and no time
    with pytest.raises(
        ForecastDataError, match=r"the time column holds 'yesterday', not a time, at column 'time', row 7"
    ):
        TimeSeriesDataModule(long_frame.assign(time=times), lookback=8, horizon=4, columns=Columns(targets=["y"]))


def test_a_wide_frame_with_its_times_in_the_first_column_reads_as_with_a_datetime_index(wide_frame):
    """``frame.reset_index()`` moves the times into the first column, where a wide file keeps them too."""
    indexed = TimeSeriesDataModule(wide_frame, lookback=24, horizon=6)
    moved = TimeSeriesDataModule(wide_frame.reset_index(), lookback=24, horizon=6)
    assert moved.freq == indexed.freq == "h" and moved.input_size == indexed.input_size == 3
    np.testing.assert_array_equal(moved.table.times, indexed.table.times)
    with pytest.raises(ForecastDataError, match="holds numbers"):  # a default index and no times: still refused
        TimeSeriesDataModule(wide_frame.reset_index(drop=True), lookback=24, horizon=6)


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_a_wide_frame_from_read_csv_reads_as_its_file(wide_csv, dtype):
    """``pandas.read_csv`` leaves a wide file's times as text in the first column, where the file has them."""
    frame = pd.read_csv(wide_csv)
    frame["date"] = frame["date"].astype(dtype)
    from_file = TimeSeriesDataModule(wide_csv, lookback=8, horizon=4)
    from_frame = TimeSeriesDataModule(frame, lookback=8, horizon=4)
    assert from_frame.freq == from_file.freq == "h" and from_frame.targets == from_file.targets == ["a", "b", "c"]
    np.testing.assert_array_equal(from_frame.table.times, from_file.table.times)
    for column, values in from_file.table.values.items():
        np.testing.assert_array_equal(from_frame.table.values[column], values)


def test_text_in_the_first_column_of_a_wide_frame_that_is_not_a_time_is_named(wide_csv):
    frame = pd.read_csv(wide_csv)
    frame.loc[7, "date"] = "yesterday"
    with pytest.raises(
        ForecastDataError, match="the time column holds 'yesterday', not a time, at column 'date', row 7"
    ):
        TimeSeriesDataModule(frame, lookback=8, horizon=4)


def test_dates_written_day_first_read_day_first_though_the_first_rows_read_both_ways(tmp_path):
    """pandas reads '02/01/2024' month first from the first rows, then refuses '13/01/2024': every value reads day
    first, and only so. Text that is no date whichever way is named as no time."""
    times = pd.date_range("2024-01-01", periods=40, freq="D")
    pd.DataFrame({"time": times.strftime("%d/%m/%Y"), "y": np.arange(40.0)}).to_csv(tmp_path / "days.csv", index=False)
    data = TimeSeriesDataModule(str(tmp_path / "days.csv"), lookback=8, horizon=4)
    np.testing.assert_array_equal(data.table.times, times)
    frame = pd.DataFrame({"time": times.strftime("%d/%m/%Y").str.replace("13/01/2024", "yesterday"), "y": 1.0})
    with pytest.raises(ForecastDataError, match=r"holds 'yesterday', not a time.*CSV\)$"):
        TimeSeriesDataModule(frame, lookback=8, horizon=4)


def test_dates_written_day_first_with_no_day_above_12_read_day_first(tmp_path):
    """'01/02/2024' to '12/02/2024' also read month first, as pandas does: a month a row, irregular (the 2nd of
    each month), where day first they are daily."""
    times = pd.date_range("2024-02-01", periods=12, freq="D")
    pd.DataFrame({"time": times.strftime("%d/%m/%Y"), "y": np.arange(12.0)}).to_csv(tmp_path / "days.csv", index=False)
    data = TimeSeriesDataModule(str(tmp_path / "days.csv"), lookback=2, horizon=1, split=None)
    assert data.freq == "D"
    np.testing.assert_array_equal(data.table.times, times)


def test_dates_day_first_read_day_first_in_each_series_of_long_data():
    times = pd.date_range("2024-03-01", periods=6, freq="D").strftime("%d/%m/%Y")
    frame = pd.DataFrame({"id": ["a", "b"] * 6, "time": np.repeat(times, 2), "y": np.arange(12.0)})  # interleaved
    data = TimeSeriesDataModule(frame, lookback=2, horizon=1, split=None)
    expected = pd.date_range("2024-03-01", periods=6, freq="D")
    np.testing.assert_array_equal(data.table.times, expected.append(expected))


@pytest.mark.parametrize(("year", "y"), [("2024", "Y"), ("24", "y")])  # pandas guesses no format for '24'
def test_dates_that_are_regular_read_either_way_are_refused_naming_both_formats(year, y):
    """'01/01/2024' to '12/01/2024': month starts month first, days of January day first."""
    frame = pd.DataFrame({"time": [f"{month:02d}/01/{year}" for month in range(1, 13)], "y": np.arange(12.0)})
    with pytest.raises(
        ForecastDataError,
        match=rf"time column 'time' .* \('02/01/{year}': 2024-02-01 or 2024-01-02\), and the series are regular "
        rf"either way; .*format='%d/%m/%{y}'\) for day first, or format='%m/%d/%{y}' for month first",
    ):
        TimeSeriesDataModule(frame, lookback=2, horizon=1, split=None)


@pytest.mark.parametrize(
    "text, start, periods",
    [
        ("%m/%d/%Y", "2024-01-01", 40),  # month first, days above 12: one way to read them
        ("%d/%m/%Y", "2024-01-13", 12),  # day first from the first row on
        ("%Y-%m-%d", "2024-01-01", 12),  # ISO: read year, day, month, these would be month starts
        ("%Y-%m-%dT%H:%M:%S", "2024-01-01", 12),
    ],
)
def test_dates_that_read_one_way_only_are_read_as_pandas_reads_them(text, start, periods):
    times = pd.date_range(start, periods=periods, freq="D")
    frame = pd.DataFrame({"time": times.strftime(text), "y": np.arange(float(periods))})
    np.testing.assert_array_equal(TimeSeriesDataModule(frame, 2, 1, split=None).table.times, times)


def test_dates_month_first_with_no_day_above_12_stay_month_first_where_regular_only_so():
    """'02/01/2024' to '02/12/2024': daily month first; day first the 2nd of each month, irregular."""
    times = pd.date_range("2024-02-01", periods=12, freq="D")
    frame = pd.DataFrame({"time": times.strftime("%m/%d/%Y"), "y": np.arange(12.0)})
    np.testing.assert_array_equal(TimeSeriesDataModule(frame, 2, 1, split=None).table.times, times)


@pytest.mark.parametrize(
    "text, start, periods",
    [
        ("%d/%m/%y", "2024-02-01", 12),  # '01/02/24' to '12/02/24': month first, the 2nd of each month
        ("%d.%m.%y", "2024-02-01", 12),
        ("%d/%m/%y", "2024-01-01", 31),  # pandas read '01/01/24' to '12/01/24' month first, '13/01/24' on day first
    ],
)
def test_dates_with_two_digit_years_written_day_first_read_day_first(text, start, periods):
    """pandas guesses no format for two-digit years, so these were read month first wherever they could be."""
    times = pd.date_range(start, periods=periods, freq="D")
    frame = pd.DataFrame({"time": times.strftime(text), "y": np.arange(float(periods))})
    data = TimeSeriesDataModule(frame, 2, 1, split=None)
    assert data.freq == "D"
    np.testing.assert_array_equal(data.table.times, times)


@pytest.mark.parametrize("start, periods", [("2024-01-01", 40), ("2024-02-01", 12)])
def test_dates_with_two_digit_years_written_month_first_stay_month_first(start, periods):
    """A day above 12 ('01/13/24'), or daily only month first ('02/01/24' to '02/12/24')."""
    times = pd.date_range(start, periods=periods, freq="D")
    frame = pd.DataFrame({"time": times.strftime("%m/%d/%y"), "y": np.arange(float(periods))})
    np.testing.assert_array_equal(TimeSeriesDataModule(frame, 2, 1, split=None).table.times, times)


@pytest.mark.parametrize("level", ["id", "time"])
def test_a_long_frame_with_an_index_level_kept_as_a_column_too_reads_as_without_it(long_frame, level):
    """``set_index(..., drop=False)`` leaves the id or time both as an index level and a column: the column is
    read, as from the frame without that index."""
    frame = long_frame[["id", "time", "y"]]
    data = TimeSeriesDataModule(frame.set_index(level, drop=False), 12, 4)
    data.setup("fit")
    reference = TimeSeriesDataModule(frame, 12, 4)
    reference.setup("fit")
    assert list(data.series_names) == list(reference.series_names)
    np.testing.assert_array_equal(data.table.times, reference.table.times)
    np.testing.assert_array_equal(data.table.values["y"], reference.table.values["y"])


def test_a_wide_frame_without_times_names_what_it_lacks():
    frame = pd.DataFrame({"a": np.arange(50.0), "b": np.arange(50.0)})  # a RangeIndex, no time column
    with pytest.raises(ForecastDataError, match="neither a DatetimeIndex nor a 'time' column"):
        TimeSeriesDataModule(frame, 12, 4).setup("fit")
