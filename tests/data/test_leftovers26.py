"""Leftovers in reading data and times: a file's header read once, text dates written day first or with two-digit
years read without pandas' warnings, and static values left empty on the future rows of a frame to forecast."""

import functools
import warnings
from unittest import mock

import lightning as L
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import forecast
from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.nn import GRUEncoder, LastValueNormalization

FUTURE = Columns(targets=["y"], future_covariates=["f"], static_covariates=["region", "size"])


def counted(function):
    """A stand-in for ``function`` that counts its calls, and calls it."""
    return mock.Mock(side_effect=function)


def long_frame(periods: int = 30) -> pd.DataFrame:
    times = pd.date_range("2024-01-01", periods=periods, freq="h")
    return pd.concat(
        [pd.DataFrame({"id": name, "time": times, "y": np.arange(periods) + 100.0 * i}) for i, name in enumerate("ab")],
        ignore_index=True,
    )


def test_a_csv_file_is_read_for_its_header_once_and_for_its_rows_once(tmp_path):
    """Its header was read three times (written names, pandas' names, the first row's width) before its rows."""
    long_frame().to_csv(tmp_path / "series.csv", index=False)
    reads = counted(pd.read_csv)
    with mock.patch("pandas.read_csv", reads):
        data = TimeSeriesDataModule(str(tmp_path / "series.csv"), lookback=4, horizon=2, columns=Columns(targets=["y"]))
    assert [call.kwargs.get("nrows") for call in reads.call_args_list] == [2, None]
    np.testing.assert_array_equal(data.table.values["y"], long_frame()["y"].to_numpy())


def test_a_parquet_file_is_read_for_its_schema_once(tmp_path):
    """A wide file keeping its times as its index, and a long one read for some series: the schema was read by
    the column check, by the check whether the time leads, and by the filter of series."""
    long_frame().to_parquet(tmp_path / "long.parquet")
    long_frame().query("id == 'a'").set_index("time")[["y"]].to_parquet(tmp_path / "wide.parquet")
    for name, options in [("long", {"series": ["b"]}), ("wide", {})]:
        schemas = counted(pq.read_schema)
        with mock.patch.object(pq, "read_schema", schemas):
            data = TimeSeriesDataModule(
                str(tmp_path / f"{name}.parquet"), lookback=4, horizon=2, columns=Columns(targets=["y"]), **options
            )
        assert schemas.call_count == 1, name
        assert len(data.table.times) == 30


def test_a_csv_whose_rows_end_in_a_separator_reads_as_a_frame_of_its_named_columns(tmp_path):
    times = pd.date_range("2024-01-01", periods=20, freq="D")
    lines = ["time,y", *(f"{time:%Y-%m-%d},{i}," for i, time in enumerate(times))]
    (tmp_path / "ends.csv").write_text("\n".join(lines) + "\n")
    data = TimeSeriesDataModule(str(tmp_path / "ends.csv"), lookback=4, horizon=2, split=None)
    np.testing.assert_array_equal(data.table.times, times)
    np.testing.assert_array_equal(data.table.values["y"], np.arange(20.0))
    rows = (f"r{i},{time:%Y-%m-%d},{i}" for i, time in enumerate(times))  # R's write.table: names, no header
    (tmp_path / "named.csv").write_text("time,y\n" + "\n".join(rows) + "\n")
    with pytest.raises(ForecastDataError, match=r"'.*named.csv': its first row holds 3 values, and its header 2"):
        TimeSeriesDataModule(str(tmp_path / "named.csv"), lookback=4, horizon=2, split=None)


@pytest.mark.parametrize(
    "text, start, periods",
    [
        ("%d/%m/%Y %H:%M", "2020-01-13", 20),  # a day above 12 in the first row
        ("%d/%m/%Y", "2024-01-01", 40),  # a day above 12 from the 13th row on
        ("%d.%m.%Y", "2024-03-20", 20),
        ("%d/%m/%y", "2024-01-20", 20),  # two-digit years
        ("%d/%m/%y", "2024-02-01", 12),  # two-digit years, day and month both 12 or less
        ("%m/%d/%y", "2024-01-01", 40),  # two-digit years, month first
        ("%d-%m-%y %H:%M", "2024-01-01", 40),
    ],
)
def test_text_dates_written_day_first_or_with_two_digit_years_read_without_a_warning(text, start, periods):
    """pandas warned "Parsing dates in %d/%m/%Y format when dayfirst=False" or "Could not infer format"; dates
    day first with a day above 12 only after the 12th row were refused. (Warnings are recorded, not raised:
    pandas takes a warning raised within its guess of the format for no guess.)"""
    written = pd.date_range(start, periods=periods, freq="D").strftime(text)
    frame = pd.DataFrame({"time": written, "y": np.arange(float(periods))})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = TimeSeriesDataModule(frame, lookback=2, horizon=1, split=None)
    assert [str(warning.message) for warning in caught] == []
    np.testing.assert_array_equal(data.table.times, pd.to_datetime(written, format=text))
    assert data.freq == "D"


def test_day_first_text_with_utc_offsets_across_a_clock_change_reads_day_first_in_utc():
    local = pd.date_range("2024-03-29", periods=72, freq="h", tz="Europe/Berlin")
    frame = pd.DataFrame({"time": local.strftime("%d/%m/%Y %H:%M%z"), "y": np.arange(72.0)})
    with pytest.warns(UserWarning, match="several UTC offsets") as caught:
        data = TimeSeriesDataModule(frame, lookback=2, horizon=1, split=None)
    assert [str(warning.message) for warning in caught if "dayfirst" in str(warning.message)] == []
    np.testing.assert_array_equal(data.table.times, local.tz_convert("UTC"))


@pytest.mark.parametrize(
    "second, place",
    [
        ("01/02/24 10:00", "row 1"),  # two-digit years: pandas read each value on its own, month first
        ("2024-01-14 00:00", "row 1"),  # a time in ISO 8601 after one day first: 'not a time at row 0'
    ],
)
def test_text_times_in_two_formats_are_refused_naming_the_one_in_another_format(second, place):
    first = "01/02/24" if second.startswith("01/02/24") else "13/01/2024 00:00"
    frame = pd.DataFrame({"time": [first, second, first], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(
        ForecastDataError, match=rf"holds '{second}' at column 'time', {place}, a time in another format than the first"
    ):
        TimeSeriesDataModule(frame, lookback=1, horizon=1, split=None)


def test_text_dates_that_read_both_ways_and_are_irregular_either_way_are_refused():
    """The docstring: both orders read every value; where neither gives regular series, both formats are named."""
    written = ["01/02/2024", "03/02/2024", "04/02/2024", "08/02/2024"]
    frame = pd.DataFrame({"time": written, "y": np.arange(4.0)})
    with pytest.raises(
        ForecastDataError,
        match=r"\('01/02/2024': 2024-01-02 or 2024-02-01\), and the series are irregular .*format='%d/%m/%Y'\) for "
        r"day first, or format='%m/%d/%Y' for month first",
    ):
        TimeSeriesDataModule(frame, lookback=1, horizon=1, split=None)


def future_frame(empty, periods: int = 30) -> pd.DataFrame:
    """Two series of ``periods`` hours, the last 4 future rows holding only the future covariate ``f``, whose
    static values (text and numbers) are ``empty``."""
    frames = []
    for name, region, size in [("a", "north", 1.5), ("b", "south", 2.0)]:
        frame = pd.DataFrame(
            {
                "id": name,
                "time": pd.date_range("2024-01-01", periods=periods, freq="h"),
                "y": np.r_[np.sin(np.arange(periods - 4.0)), [np.nan] * 4],
                "f": np.arange(float(periods)),
                "region": region,
                "size": size,
            }
        )
        frame.loc[periods - 4 :, ["region", "size"]] = empty
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("empty", [np.nan, None])
def test_static_values_left_empty_on_future_rows_are_the_series_values(empty):
    """They were refused: "static covariate missing at column 'region', series 'a', row 26"."""
    data = TimeSeriesDataModule(future_frame(empty), lookback=6, horizon=4, columns=FUTURE, split=None)
    assert list(data.table.statics["region"]) == ["north", "south"]
    np.testing.assert_array_equal(data.table.statics["size"], [1.5, 2.0])
    np.testing.assert_array_equal(data.table.observed, [26, 26])


def test_static_values_on_future_rows_that_differ_or_are_empty_before_the_last_target_are_refused():
    frame = future_frame(np.nan)
    frame.loc[28, "region"] = "south"
    with pytest.raises(
        ForecastDataError, match=r"static covariate changes within a series at column 'region', series 'a', row 28"
    ):
        TimeSeriesDataModule(frame, lookback=6, horizon=4, columns=FUTURE, split=None)
    frame = future_frame(np.nan)
    frame.loc[40, "size"] = np.nan  # series 'b', a row with a target
    with pytest.raises(ForecastDataError, match=r"static covariate missing at column 'size', series 'b', row 40"):
        TimeSeriesDataModule(frame, lookback=6, horizon=4, columns=FUTURE, split=None)


@pytest.mark.slow
def test_predict_forecasts_a_frame_whose_future_rows_leave_the_statics_empty(tmp_path):
    L.seed_everything(0)
    trainer = {"max_epochs": 1, "default_root_dir": str(tmp_path), "enable_progress_bar": False, "logger": False}
    model_options = {"encoder": functools.partial(GRUEncoder, hidden_size=8), "normalization": LastValueNormalization}
    full = future_frame(np.nan, periods=120)
    full[["region", "size"]] = full.groupby("id")[["region", "size"]].ffill()
    model = forecast.fit(
        full.dropna(subset=["y"]),
        lookback=6,
        horizon=4,
        data={"columns": FUTURE, "batch_size": 8},
        model=model_options,
        trainer=trainer,
    )
    pd.testing.assert_frame_equal(model.predict(future_frame(np.nan, periods=120)), model.predict(full))


@pytest.mark.parametrize("bad", [{"store": 1}, [1, 2]], ids=["dict", "list"])
def test_an_id_that_names_no_series_is_refused_naming_the_column_and_row(bad):
    """pandas refused it with "unhashable type: 'dict'", naming neither the column nor the row."""
    ids = ["a"] * 20 + [bad] * 20
    frame = pd.DataFrame({"id": ids, "time": list(pd.date_range("2024", periods=20, freq="h")) * 2, "y": 1.0})
    with pytest.raises(ForecastDataError, match=rf"the series id .* at column 'id', row 20 is a {type(bad).__name__}"):
        TimeSeriesDataModule(frame, 8, 4)


@pytest.mark.parametrize("source", [pd.Series(np.arange(40.0), name="y"), np.arange(40.0)], ids=["series", "array"])
def test_a_source_that_is_no_frame_nor_path_is_refused_naming_data_source(source):
    """A Series or an array failed in Lightning's save_hyperparameters ("The truth value of a Series is ambiguous")."""
    with pytest.raises(TypeError, match=rf"data.source is a {type(source).__name__}; give a built-in data set name"):
        TimeSeriesDataModule(source, 8, 4)
