import logging
import re
import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lightning.pytorch.utilities.rank_zero import rank_zero_only

from forecast import Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data.sharding import series_index
from forecast.data.validate import check_naive_scale

COLUMNS = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"], static_covariates=["region"])


def make(frame, **kwargs):
    return TimeSeriesDataModule(frame, lookback=10, horizon=5, **kwargs)


def make_long(frame, roles=None, **kwargs):
    """Long data with the roles of ``COLUMNS``, those of ``roles`` replaced."""
    return make(frame, columns=replace(COLUMNS, **(roles or {})), **kwargs)


def test_missing_target_column_is_named(wide_frame):
    with pytest.raises(ForecastDataError, match=r"targets column 'OT' is not in the data; its columns are \['a', 'b'"):
        make(wide_frame, columns=Columns(targets=["a", "OT"]))


@pytest.mark.parametrize("role", ["past_covariates", "future_covariates", "static_covariates"])
def test_missing_role_column_is_named_with_its_role(long_frame, role):
    with pytest.raises(ForecastDataError, match=rf"{role} column 'temp' is not in the data.*data\.columns\.{role}"):
        make_long(long_frame, {role: ["temp"]})


@pytest.mark.parametrize("key, column", [("id_column", "id"), ("time_column", "time")])
def test_the_id_or_time_column_cannot_take_a_role(long_frame, key, column):
    with pytest.raises(
        ForecastDataError, match=rf"static_covariates column '{column}' is the data's data.columns.{key}, which cannot"
    ):
        make_long(long_frame, {"static_covariates": [column]})
    with pytest.raises(
        ForecastDataError, match=rf"static_covariates column '{column}' is the data's data.columns.{key}, which cannot"
    ):
        make_long(long_frame.set_index(["id", "time"]), {"static_covariates": [column]})


def test_column_with_two_roles_is_refused(long_frame):
    with pytest.raises(
        ForecastDataError, match="column 'load' is in both data.columns.targets and data.columns.past_covariates"
    ):
        make_long(long_frame, {"targets": ["y", "load"]})


def test_nan_names_column_row_and_time(wide_frame):
    wide_frame.iloc[42, 1] = np.nan
    with pytest.raises(
        ForecastDataError, match=r"value nan at column 'b', row 42, time 2024-01-02 18:00:00; .*nan_policy"
    ):
        make(wide_frame)


def test_nan_in_long_data_names_the_series_and_the_given_row(long_frame):
    long_frame.loc[130, "load"] = np.inf  # row 130 of the frame is row 10 of series B
    with pytest.raises(
        ForecastDataError, match=r"value inf at column 'load', series 'B', row 130, time 2024-01-02 15:00"
    ):
        make_long(long_frame)


@pytest.mark.parametrize("source", ["frame", "csv", "parquet"])
def test_rows_of_the_series_picked_are_named_by_their_row_in_the_data_as_given(tmp_path, long_frame, source):
    long_frame.loc[290, "load"] = np.nan  # row 290 of the frame (and of the file) is row 80 of series C
    long_frame.to_csv(tmp_path / "long.csv", index=False)
    long_frame.to_parquet(tmp_path / "long.parquet", row_group_size=50)  # pyarrow skips the rows of A and B
    given = long_frame if source == "frame" else str(tmp_path / f"long.{source}")
    with pytest.raises(ForecastDataError, match=r"value nan at column 'load', series 'C', row 290, time"):
        make_long(given, series=["C"])


@pytest.mark.parametrize(
    "policy, expected",
    [
        ("ffill", lambda s: s.ffill().bfill()),
        ("interpolate", lambda s: s.interpolate(limit_direction="both")),
        ("zero", lambda s: s.fillna(0.0)),
    ],
)
def test_nan_policy_repairs_within_each_series_and_logs_the_count(long_frame, policy, expected, caplog):
    holes = [0, 1, 50, 51, 52, 121, 208]  # A's first rows, A's middle, B's second and second-last rows
    given = long_frame.copy()
    long_frame.loc[holes, "y"] = np.nan
    long_frame.loc[[125], "load"] = -np.inf
    with caplog.at_level(logging.INFO):
        data = make_long(long_frame, nan_policy=policy, scaling=Scaling(scaler=None))
    assert "repaired 8 NaN or infinite values {'y': 7, 'load': 1}" in caplog.text
    for column in ("y", "load"):
        series = long_frame[column].replace(-np.inf, np.nan).groupby(long_frame["id"])
        repaired = series.transform(lambda s: expected(s)).to_numpy()
        np.testing.assert_allclose(data.table.values[column], repaired)
    assert np.isnan(long_frame.loc[holes, "y"]).all() and not given.equals(long_frame)  # the user's frame is kept


def test_nan_policy_needs_a_value_to_repair_from(long_frame):
    long_frame.loc[long_frame["id"] == "B", "load"] = np.nan
    with pytest.raises(ForecastDataError, match="no finite value to repair from at column 'load', series 'B', row 120"):
        make_long(long_frame, nan_policy="ffill")


def test_duplicate_time_is_named(wide_frame):
    frame = pd.concat([wide_frame.iloc[:11], wide_frame.iloc[10:]])
    with pytest.raises(ForecastDataError, match="duplicate time at row 11, time 2024-01-01 10:00:00"):
        make(frame)


def test_duplicate_time_in_long_data_names_the_series(long_frame):
    long_frame.loc[250, "time"] = long_frame.loc[249, "time"]
    with pytest.raises(ForecastDataError, match="duplicate time at series 'C', row 250, time 2024-01-01 01:00:00"):
        make_long(long_frame)


def test_unsorted_time_is_named(wide_frame):
    frame = wide_frame.iloc[[0, 1, 3, 2, *range(4, 200)]]
    with pytest.raises(ForecastDataError, match="time goes backwards at row 3, time 2024-01-01 02:00:00"):
        make(frame)


def test_unsorted_time_in_long_data_is_not_sorted_silently(long_frame):
    frame = long_frame.iloc[[*range(0, 200), 201, 200, *range(202, 360)]]
    with pytest.raises(ForecastDataError, match="time goes backwards at series 'B', row 201, time 2024-01-05 13:00:00"):
        make_long(frame)


def test_irregular_frequency_names_the_gap_and_asks_for_freq(wide_frame):
    with pytest.raises(
        ForecastDataError, match="row 50, time 2024-01-03 03:00:00 does not follow .*fill the gap.* with data.freq"
    ):
        make(wide_frame.drop(wide_frame.index[50]))


def test_unknown_frequency_asks_for_freq(wide_frame):
    with pytest.raises(ForecastDataError, match="cannot infer a frequency from series of one row each; state it"):
        TimeSeriesDataModule(wide_frame.iloc[:1], lookback=1, horizon=1)


def test_gap_in_one_series_is_named(long_frame):
    frame = long_frame.drop(index=300)  # a missing hour in series C: given row 300 is the hour after it
    with pytest.raises(
        ForecastDataError, match=r"series 'C', row 300, time 2024-01-03 05:00:00 does not follow .*04:00"
    ):
        make_long(frame)


def test_stated_frequency_is_checked(wide_frame):
    with pytest.raises(ForecastDataError, match="row 1, time 2024-01-01 01:00:00 does not follow frequency '2h'"):
        make(wide_frame, freq="2h")


def test_calendar_frequency_is_checked_per_series():
    index = pd.date_range("2000-01-31", periods=39, freq="ME").append(pd.DatetimeIndex(["2003-04-15"]))
    frame = pd.DataFrame({"y": np.arange(40.0)}, index=index)
    with pytest.raises(
        ForecastDataError, match=r"row 39, time 2003-04-15 00:00:00 does not follow .* \(expected 2003-04-30"
    ):
        make(frame, freq="ME", split=None)


@settings(max_examples=80, deadline=None)
@given(
    freq=st.sampled_from(["h", "D", "B", "W-MON", "MS", "ME", "QS-JAN", "YS"]),
    zone=st.sampled_from([None, "Europe/Berlin"]),
    rows=st.integers(8, 80),
    data=st.data(),
)
def test_a_missing_row_at_any_frequency_is_named_as_a_gap(freq, zone, rows, data):
    """The frequency is inferred around the gap, calendar ones too (months of 28 to 31 days, business
    days over weekends), so the row after the missing one is named, not the first step of another length."""
    missing = data.draw(st.integers(1, rows - 2), "missing")
    times = pd.date_range("2001-01-01", periods=rows, freq=freq, tz=zone)  # a Monday, a year's first day
    frame = pd.DataFrame({"y": np.arange(rows - 1.0)}, index=times.delete(missing))
    place = re.escape(f"time at row {missing}, time {times[missing + 1]} does not follow")
    with pytest.raises(ForecastDataError, match=rf"{place} .*; fill the gap"):
        TimeSeriesDataModule(frame, lookback=2, horizon=1)


def test_monthly_times_on_a_day_no_frequency_names_ask_for_the_frequency():
    """Monthly on the 15th: no pandas frequency; neither the most common step (31 days) nor a gap to fill."""
    times = pd.date_range("2000-01-01", periods=60, freq="MS") + pd.Timedelta(days=14)
    frame = pd.DataFrame({"y": np.arange(60.0)}, index=times)
    with pytest.raises(
        ForecastDataError,
        match=r"cannot infer the frequency: pandas infers none that fits the times; at row 2, "
        r"time 2000-03-15 00:00:00 \(29 days after the row before\).*state it with data.freq",
    ):
        make(frame)
    with pytest.raises(
        ForecastDataError, match=r"row 0, .* \(expected a time on that frequency\); move the times onto"
    ):
        make(frame, freq="MS")


def test_a_time_off_the_steps_of_the_others_is_named(wide_frame):
    times = wide_frame.index.to_series()
    times.iloc[50] += pd.Timedelta(minutes=30)
    frame = wide_frame.set_axis(pd.DatetimeIndex(times), axis=0)
    with pytest.raises(
        ForecastDataError, match=r"pandas infers none that fits the times; at row 50, time 2024-01-03 02:30"
    ):
        make(frame)
    with pytest.raises(ForecastDataError, match=r"row 50, .* \(expected 2024-01-03 02:00:00\); move the times onto"):
        make(frame, freq="h")


def test_unknown_frequency_name_is_refused(wide_frame):
    with pytest.raises(ForecastDataError, match="freq='fortnight' is not a pandas frequency"):
        make(wide_frame, freq="fortnight")


def test_short_series_are_listed(long_frame):
    with pytest.raises(
        ForecastDataError, match=r"1 series shorter than lookback \+ horizon = 100 rows: 'B' \(90 rows\)"
    ):
        TimeSeriesDataModule(long_frame, lookback=80, horizon=20, columns=COLUMNS)


def test_drop_short_leaves_them_out_with_a_warning(long_frame):
    with pytest.warns(UserWarning, match=r"drop_short: leaving out 1 series .* 'B' \(90 rows\)"):
        data = TimeSeriesDataModule(long_frame, lookback=80, horizon=20, drop_short=True, columns=COLUMNS)
    assert data.series_names == ["A", "C"]
    np.testing.assert_array_equal(data.table.values["y"], long_frame.loc[long_frame["id"] != "B", "y"])


def series_of_lengths(lengths: dict[str, int]) -> pd.DataFrame:
    """Hourly long data, one series of each length, all starting at the same time."""
    parts = [
        pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"), "y": np.arange(rows)})
        for name, rows in lengths.items()
    ]
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("shard", ["none", "series"])
def test_drop_short_leaves_out_the_first_series_too_when_processes_read_their_own(shard):
    """``shard: series`` leaves short series out before sharing the series out, the first by id too."""
    frame = series_of_lengths({"a": 8, "b": 200, "c": 200})
    with pytest.warns(UserWarning, match=r"leaving out 1 series shorter than lookback \+ horizon = 15 rows: 'a' \(8"):
        data = TimeSeriesDataModule(frame, lookback=10, horizon=5, drop_short=True, shard=shard)
    data.setup("fit")
    assert data.series_names == ["b", "c"] and data.freq == "h"


def test_a_process_whose_share_of_the_series_is_all_short_is_told_so(monkeypatch):
    frame = series_of_lengths({"a": 200, "b": 30}).assign(promo=1.0)
    frame.loc[frame.index[-18:], "y"] = np.nan  # b: 12 rows with targets, then 18 with the future covariate only
    columns = Columns(targets=["y"], future_covariates=["promo"])
    data = TimeSeriesDataModule(frame, lookback=10, horizon=5, drop_short=True, shard="series", columns=columns)
    monkeypatch.setattr("forecast.data.shares.world", lambda: (1, 2))  # the second of two processes: b
    with pytest.raises(
        ForecastDataError,
        match=r"drop_short leaves no series of process 1's share \(data.shard: series, 2 processes\): all 1 series "
        r"shorter than lookback \+ horizon = 15 rows: 'b' \(12 rows\); .* or use fewer processes",
    ):
        data.setup("fit")


def test_a_process_other_than_0_warns_of_the_series_of_its_own_share_that_drop_short_leaves_out(monkeypatch):
    """What every process drops alike (d, short in all rows) only process 0 says; b, short in rows with
    targets, only process 1 reads, so process 1 says it, naming itself."""
    frame = series_of_lengths({"a": 200, "b": 30, "c": 100, "d": 8}).astype({"y": float}).assign(promo=1.0)
    frame.loc[(frame["id"] == "b") & (frame["y"] >= 12), "y"] = np.nan  # b: 12 rows with targets, 18 future only
    columns = Columns(targets=["y"], future_covariates=["promo"])
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    monkeypatch.setattr("forecast.data.shares.world", lambda: (1, 2))  # the second of two processes: b and c
    with warnings.catch_warnings(record=True) as given:
        warnings.simplefilter("always")
        data = TimeSeriesDataModule(frame, lookback=10, horizon=5, drop_short=True, shard="series", columns=columns)
        data.setup("fit")
    assert data.series_names == ["c"]
    assert [str(warning.message) for warning in given] == [
        "[rank: 1] data.drop_short: leaving out 1 series shorter than lookback + horizon = 15 rows: 'b' (12 rows)"
    ]


def test_short_wide_data_is_refused(wide_frame):
    with pytest.raises(ForecastDataError, match="the data has 200 rows, fewer than lookback \\+ horizon = 250"):
        TimeSeriesDataModule(wide_frame, lookback=200, horizon=50)


def test_non_numeric_column_is_named(wide_frame):
    wide_frame["b"] = "x"
    with pytest.raises(ForecastDataError, match="column 'b' has dtype .*, not numbers"):
        make(wide_frame)


def test_non_numeric_covariate_is_named(long_frame):
    with pytest.raises(ForecastDataError, match="column 'region' has dtype .*, not numbers"):
        make_long(long_frame, {"past_covariates": ["region"], "static_covariates": None})


def test_static_covariate_that_changes_is_named(long_frame):
    long_frame.loc[300, "region"] = "south"
    with pytest.raises(
        ForecastDataError, match="static covariate changes within a series at column 'region', series 'C', row 300"
    ):
        make_long(long_frame)


def test_a_numeric_static_covariate_that_changes_is_named_by_its_values(long_frame):
    long_frame["size"] = 2.5
    long_frame.loc[300, "size"] = 4.0
    with pytest.raises(ForecastDataError, match=r"series 'C', row 300.*: 2\.5 then 4\.0; give each series one value"):
        make_long(long_frame, {"static_covariates": ["size"]})


@pytest.mark.parametrize("value", [np.inf, -np.inf, 1e39], ids=["inf", "-inf", "beyond-float32"])
def test_a_numeric_static_covariate_that_is_infinite_or_beyond_float32_is_named(long_frame, value):
    long_frame.loc[long_frame["id"] == "B", "size"] = value
    place = re.escape(f"static covariate {value:g} at column 'size', series 'B', row 120")
    with pytest.raises(ForecastDataError, match=rf"{place}, .* is (infinite|beyond the float32 range)"):
        make_long(long_frame, {"static_covariates": ["size"]})


def test_time_that_is_not_a_time_is_named(long_frame):
    long_frame["time"] = long_frame["time"].astype(str)
    long_frame.loc[7, "time"] = "yesterday"
    with pytest.raises(
        ForecastDataError, match="the time column holds 'yesterday', not a time, at column 'time', row 7"
    ):
        make_long(long_frame)


def test_periods_for_times_are_refused_suggesting_to_timestamp(wide_frame):
    with pytest.raises(ForecastDataError, match=r"holds periods \(period\[h\]\), not times.*\.to_timestamp\(\)"):
        make(wide_frame.to_period("h"))


def test_unknown_source_is_explained():
    with pytest.raises(ForecastDataError, match="neither a built-in data set"):
        make("no/such/file.csv")


def test_csv_and_parquet_sources_read_like_the_frame(tmp_path, wide_frame, wide_csv, long_frame):
    wide_frame.to_parquet(tmp_path / "wide.parquet")
    long_frame.to_csv(tmp_path / "long.csv", index=False)
    long_frame.to_parquet(tmp_path / "long.parquet")
    for frame, sources, kwargs in [
        (wide_frame, [wide_csv, str(tmp_path / "wide.parquet")], {}),
        (long_frame, [str(tmp_path / "long.csv"), str(tmp_path / "long.parquet")], {"columns": COLUMNS}),
    ]:
        expected = make(frame, **kwargs)
        for source in sources:
            data = make(source, **kwargs)
            for column, values in expected.table.values.items():
                np.testing.assert_allclose(data.table.values[column], values)
            assert (data.freq, data.start_times, data.series_names) == (
                "h",
                expected.start_times,
                expected.series_names,
            )


def test_a_file_is_read_only_for_the_series_and_role_columns_asked(tmp_path, long_frame, monkeypatch):
    wide = long_frame.assign(notes="unused text", extra=1.0)
    wide.to_parquet(tmp_path / "long.parquet", row_group_size=50)
    wide.to_csv(tmp_path / "long.csv", index=False)
    reads = []
    read_parquet = pd.read_parquet
    monkeypatch.setattr(
        pd, "read_parquet", lambda *args, **kwargs: reads.append(kwargs) or read_parquet(*args, **kwargs)
    )
    expected = make_long(long_frame[long_frame["id"].isin(["A", "C"])])
    for source in ("long.parquet", "long.csv"):
        data = make_long(str(tmp_path / source), series=["C", "A"])
        assert data.series_names == ["A", "C"] and data.start_times == expected.start_times
        for column, values in expected.table.values.items():
            np.testing.assert_allclose(data.table.values[column], values)
    assert reads == [{"columns": ["id", "time", "y", "load", "price", "region"], "filters": [("id", "in", ["C", "A"])]}]


def test_series_asked_of_wide_data_or_missing_from_it_are_refused(wide_frame, long_frame):
    with pytest.raises(ForecastDataError, match=r"data.series=\['a'\] picks series of long data.*no 'id' column"):
        make(wide_frame, series=["a"])
    with pytest.raises(ForecastDataError, match=r"data.series names series \['D'\] that column 'id' of the data lacks"):
        make_long(long_frame, series=["A", "D"])


def test_series_are_picked_from_long_data_whose_id_is_an_index_level(tmp_path, long_frame):
    indexed = long_frame.set_index(["id", "time"])
    indexed.to_parquet(tmp_path / "indexed.parquet")
    expected = make_long(long_frame[long_frame["id"] == "C"])
    for source in (indexed, str(tmp_path / "indexed.parquet")):
        data = make_long(source, series=["C"])
        assert data.series_names == ["C"] and data.start_times == expected.start_times
        np.testing.assert_array_equal(data.table.values["y"], expected.table.values["y"])


def test_series_of_a_parquet_file_with_time_ids_are_picked_by_their_text(tmp_path, long_frame):
    days = {"A": "2024-01-01", "B": "2024-02-01", "C": "2024-03-01"}
    long_frame.assign(id=pd.to_datetime(long_frame["id"].map(days))).to_parquet(tmp_path / "long.parquet")
    data = make_long(str(tmp_path / "long.parquet"), series=["2024-03-01 00:00:00"])  # as series_names spell it
    assert data.series_names == ["2024-03-01 00:00:00"]
    np.testing.assert_array_equal(data.table.values["y"], long_frame.loc[long_frame["id"] == "C", "y"])


@pytest.mark.parametrize("ids", [pd.to_datetime(["2024-01-01", "2024-02-01"]), [10, 20]], ids=["times", "integers"])
def test_the_series_index_of_a_parquet_file_spells_ids_as_the_data_does(tmp_path, ids):
    """data.shard: series counts a Parquet file's series in pyarrow; each process then reads its own by name."""
    hours = pd.date_range("2024-01-01", periods=50, freq="h")
    frame = pd.DataFrame({"id": np.repeat(ids, 50), "time": np.tile(hours, 2), "y": np.arange(100.0)})
    frame.to_parquet(tmp_path / "long.parquet")
    index = series_index(str(tmp_path / "long.parquet"), Columns())
    assert list(index["id"]) == list(series_index(frame, Columns())["id"]) == make(frame).series_names
    assert list(index["rows"]) == [50, 50]
    assert make(str(tmp_path / "long.parquet"), series=[index["id"][1]]).series_names == [index["id"][1]]


@pytest.mark.parametrize("kind, asked", [("int8", "300"), ("uint8", "-1")])
def test_series_a_narrow_integer_id_column_cannot_hold_are_named_as_missing(tmp_path, long_frame, kind, asked):
    numbered = long_frame.assign(id=long_frame["id"].map({"A": 1, "B": 2, "C": 3}).astype(kind))
    numbered.to_parquet(tmp_path / "long.parquet")
    with pytest.raises(ForecastDataError, match=rf"data.series names series \['{asked}'\] that column 'id'"):
        make_long(str(tmp_path / "long.parquet"), series=["2", asked])


def test_series_of_a_parquet_file_with_ids_beyond_int64_are_picked(tmp_path, long_frame):
    large = 2**63 + 1
    ids = long_frame["id"].map({"A": 5, "B": 6, "C": large}).astype("uint64")
    long_frame.assign(id=ids).to_parquet(tmp_path / "long.parquet")
    assert make_long(str(tmp_path / "long.parquet"), series=[str(large)]).series_names == [str(large)]


def test_an_empty_list_of_series_is_refused_by_name(tmp_path, long_frame):
    long_frame.to_parquet(tmp_path / "long.parquet")
    for source in (long_frame, str(tmp_path / "long.parquet")):
        with pytest.raises(ForecastDataError, match="data.series is empty"):
            make_long(source, series=[])


def test_series_of_a_parquet_file_with_integer_ids_are_picked_by_their_text(tmp_path, long_frame):
    numbered = long_frame.assign(id=long_frame["id"].map({"A": 10, "B": 20, "C": 30}))
    numbered.to_parquet(tmp_path / "long.parquet")
    data = make_long(str(tmp_path / "long.parquet"), series=["30", "10"])
    assert data.series_names == ["10", "30"]
    assert len(data.table.values["y"]) == (long_frame["id"] != "B").sum()


def test_an_infinite_last_target_beside_future_covariates_is_refused_by_its_row():
    """Only an empty target makes a trailing row one of the future covariates after the data; an infinite
    one is a bad value (it was taken for a future row and left out unsaid)."""
    times = pd.date_range("2024-01-01", periods=40, freq="h")
    frame = pd.concat(
        [pd.DataFrame({"id": name, "time": times, "y": np.arange(40.0), "price": np.arange(40.0)}) for name in "ab"],
        ignore_index=True,
    )
    frame.loc[39, "y"] = np.inf
    with pytest.raises(ForecastDataError, match=r"value inf at column 'y', series 'a', row 39"):
        make(frame, columns=Columns(targets=["y"], future_covariates=["price"])).setup("fit")


def test_series_too_short_for_the_mase_period_are_each_named_with_their_training_rows():
    """The first short series' count was given for all of them."""
    with pytest.raises(
        ForecastDataError, match=r"series 'a' \(3 training rows\), 'c' \(5 training rows\) have too few"
    ):
        check_naive_scale(np.array([3, 20, 5]), seasonal_period=7, names=["a", "b", "c"], scale=np.ones((3, 1)))
