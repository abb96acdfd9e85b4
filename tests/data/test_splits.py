import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

from forecast import Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data import DateSplit, ETTSplit, FractionSplit, RowSplit

COLUMNS = Columns(targets=["y"], past_covariates=["load"])


def hourly(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(rows, dtype=float)}, index=pd.date_range("2020", periods=rows, freq="h"))


def test_ett_split_gives_the_protocol_borders():
    data = TimeSeriesDataModule("etth1", lookback=96, horizon=96, split=ETTSplit())
    assert data.borders.tolist() == [[8640, 11520, 14400]]
    data.setup("fit")
    test = data.dataset("test")
    assert len(test) == 2880 - 96 + 1  # the protocol's test windows, none dropped
    assert test.__getitems__([0, len(test) - 1]).time.tolist() == [11520, 14400 - 96]


def test_ett_split_scales_to_quarter_hours():
    data = TimeSeriesDataModule(hourly(69680), lookback=96, horizon=96, split=ETTSplit(rows_per_hour=4))
    assert data.borders.tolist() == [[46080 - 11520, 46080, 57600]]


def test_fraction_split_rounds_like_the_literature_per_series(long_frame):
    # Autoformer's custom data: int(0.7 n) train rows, int(0.2 n) test rows, the rest validation.
    data = TimeSeriesDataModule(
        long_frame, lookback=10, horizon=5, split=FractionSplit(val=0.1, test=0.2), columns=COLUMNS
    )
    assert data.borders.tolist() == [[84, 96, 120], [62, 72, 90], [105, 120, 150]]


def test_date_split_cuts_every_series_at_the_same_time(long_frame):
    split = DateSplit(val_start="2024-01-04 00:00", test_start="2024-01-05 00:00")
    data = TimeSeriesDataModule(long_frame, lookback=10, horizon=5, split=split, columns=COLUMNS)
    for (val_start, test_start, test_end), name in zip(data.borders, data.series_names, strict=True):
        times = long_frame.loc[long_frame["id"] == name, "time"]
        assert val_start == (times < "2024-01-04").sum() and test_start == (times < "2024-01-05").sum()
        assert test_end == len(times)
    assert data.borders[0].tolist() == [72, 96, 120]  # A starts 2024-01-01 00:00


def test_date_split_lets_a_series_end_before_validation(long_frame):
    split = DateSplit(val_start="2024-01-05 16:00", test_start="2024-01-05 20:00")
    data = TimeSeriesDataModule(long_frame, lookback=10, horizon=2, split=split, columns=COLUMNS)
    assert data.borders.tolist() == [[112, 116, 120], [83, 87, 90], [150, 150, 150]]  # C ends at 15:00: trains only
    data.setup("fit")
    assert (data.dataset("val").counts.tolist(), data.dataset("test").counts.tolist()) == ([3, 3, 0], [3, 2, 0])


def test_date_split_tests_a_series_that_starts_after_test_start_without_a_mase_scale(long_frame):
    """B starts after test_start, so it only tests: its windows are tested, and MASE has no scale for it."""
    split = DateSplit(val_start="2024-01-01 12:00", test_start="2024-01-02 00:00")
    data = TimeSeriesDataModule(long_frame, lookback=10, horizon=5, split=split, columns=COLUMNS)
    assert data.borders[1].tolist() == [0, 0, 90]
    only_tests = r"series \['B'\] have no training rows \(they only test\).*MASE leaves them out"
    with pytest.warns(UserWarning, match=only_tests):
        data.setup("test")
    test = data.dataset("test")
    assert test.counts.tolist() == [120 - 24 - 5 + 1, 90 - 10 - 5 + 1, 150 - 62 - 5 + 1]
    assert torch.isnan(test.naive_scale[1]).all() and torch.isfinite(test.naive_scale[[0, 2]]).all()


def test_a_series_that_trains_on_too_few_rows_for_the_mase_period_is_still_refused(long_frame):
    split = DateSplit(val_start="2024-01-01 12:00", test_start="2024-01-02 00:00")  # A trains on 12 rows, B on none
    data = TimeSeriesDataModule(long_frame, lookback=10, horizon=5, split=split, columns=COLUMNS, seasonal_period=24)
    with pytest.raises(ForecastDataError, match=r"series 'A' \(12 training rows\) have too few .*seasonal_period=24"):
        data.setup("test")


def test_part_without_a_window_is_named():
    data = TimeSeriesDataModule(hourly(200), lookback=50, horizon=20, split=RowSplit(val_start=100, test_start=110))
    with pytest.raises(
        ForecastDataError, match=r"the val part has no window: its targets span rows \[100, 110\) of 200, "
    ):
        data.setup("fit")
    data.setup("predict")  # forecasting needs no split part


def test_part_without_a_window_asks_for_the_horizon_of_target_rows_not_a_whole_window():
    """The message asked for "lookback 50 + horizon 20" rows of validation targets, where 20 are enough: a
    window's lookback reaches into the training rows, as ``RowSplit(100, 120)`` shows."""
    data = TimeSeriesDataModule(hourly(200), lookback=50, horizon=20, split=RowSplit(val_start=100, test_start=110))
    with pytest.raises(ForecastDataError, match=r"\[100, 110\) of 200, but a window needs 20 target rows there"):
        data.setup("fit")
    data = TimeSeriesDataModule(hourly(200), lookback=50, horizon=20, split=RowSplit(val_start=100, test_start=120))
    data.setup("fit")
    assert len(data.dataset("val")) == 1


def test_split_beyond_the_data_is_refused():
    with pytest.raises(ForecastDataError, match="do not fit the 1000 rows"):
        TimeSeriesDataModule(hourly(1000), lookback=96, horizon=96, split=ETTSplit())


def test_row_split_beyond_one_series_names_it(long_frame):
    with pytest.raises(ForecastDataError, match="test_end=100 that do not fit the 90 rows of series 'B'"):
        TimeSeriesDataModule(long_frame, lookback=10, horizon=5, split=RowSplit(60, 80, 100), columns=COLUMNS)


def test_date_split_with_a_time_zone_on_data_without_one_names_the_key():
    split = DateSplit(val_start="2020-01-03 00:00+00:00", test_start="2020-01-04 00:00+00:00")
    with pytest.raises(ForecastDataError, match=r"data.split.val_start='2020-01-03 00:00\+00:00' has a time zone, but"):
        TimeSeriesDataModule(hourly(200), lookback=10, horizon=5, split=split)
    with pytest.raises(ValueError, match=r"time zone \(data.split.val_start\) and times without"):
        DateSplit(val_start="2020-01-03 00:00+00:00", test_start="2020-01-04")


@pytest.mark.parametrize("time", ["2024-10-27 02:30", "2024-03-31 02:30"], ids=["ambiguous", "non-existent"])
def test_date_split_at_a_daylight_saving_change_asks_for_the_utc_offset(time):
    index = pd.date_range("2024-03-30", "2024-10-28", freq="h", tz="Europe/Berlin")  # both changes of 2024
    frame = pd.DataFrame({"x": np.arange(len(index), dtype=float)}, index=index)
    split = DateSplit(val_start=time, test_start="2024-10-28")
    with pytest.raises(ForecastDataError, match=rf"data.split.val_start='{time}' is ambiguous or does not exist in"):
        TimeSeriesDataModule(frame, lookback=10, horizon=5, split=split)


def test_fraction_split_counts_the_rows_of_the_fractions_as_written():
    """1 - 0.05 - 0.15 is 0.7999999999999999 in floats: 799 training rows of 1000 rather than 800."""
    data = TimeSeriesDataModule(hourly(1000), lookback=10, horizon=5, split=FractionSplit(val=0.05, test=0.15))
    assert data.borders.tolist() == [[800, 850, 1000]]


def test_date_split_times_out_of_order_are_refused_naming_the_keys():
    with pytest.raises(ValueError, match=r"needs test_start <= test_end; got data.split.test_start='2020-01-05' and "):
        DateSplit(val_start="2020-01-03", test_start="2020-01-05", test_end="2020-01-04")
    with pytest.raises(ValueError, match=r"needs val_start <= test_start; got data.split.val_start='2020-01-05'"):
        DateSplit(val_start="2020-01-05", test_start="2020-01-03")
    with pytest.raises(ValueError, match=r"DateSplit needs data.split.val_start, a time such as"):
        DateSplit(val_start=None, test_start="2020-01-03")


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_date_split_windows_stay_in_their_series_and_part_and_scalers_see_only_training_rows(data):
    """Over series of different lengths and starts, some ending before validation or starting after the test
    start, in rows of any order of series: every window's inputs and targets are rows of its own series, its
    targets at times of its own part (its inputs before them), and the scalers (one for all series, or one per
    series) are scikit-learn's fits on the rows before ``val_start`` alone."""
    lookback, horizon = data.draw(st.integers(1, 5), "lookback"), data.draw(st.integers(1, 4), "horizon")
    lengths = data.draw(st.lists(st.integers(lookback + horizon, 60), min_size=1, max_size=4), "lengths")
    shifts = data.draw(st.lists(st.integers(0, 50), min_size=len(lengths), max_size=len(lengths)), "shifts")
    per_series, stride = data.draw(st.booleans(), "per_series"), data.draw(st.integers(1, 3), "eval_stride")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    parts = [
        pd.DataFrame(
            {
                "id": f"s{i}",
                "time": pd.date_range("2020-01-01", periods=rows, freq="D") + pd.Timedelta(days=shift),
                "y": rng.normal(10 * i, i + 1, rows),
                "load": rng.normal(-5 * i, 2, rows),
            }
        )
        for i, (rows, shift) in enumerate(zip(lengths, shifts, strict=True))
    ]
    frame = pd.concat(parts, ignore_index=True).sample(frac=1, random_state=0).sort_values("time", kind="stable")
    val_start, test_start = pd.Timestamp("2020-01-31"), pd.Timestamp("2020-02-20")
    trains = [part[part["time"] < val_start] for part in parts]
    assume(all(len(train) for train in trains) if per_series else any(len(train) for train in trains))
    module = TimeSeriesDataModule(
        frame, lookback, horizon, columns=COLUMNS, split=DateSplit(str(val_start), str(test_start)),
        eval_stride=stride, scaling=Scaling(per_series=per_series),
    )  # fmt: skip
    module.setup("predict")
    names = module.series_names  # in order of first appearance: the frame's rows are in order of time
    groups = {names.index(f"s{i}"): [train] for i, train in enumerate(trains)} if per_series else {0: trains}
    for group, trained in groups.items():
        rows = pd.concat(trained)
        for scaling, column in ((module.scalings[0], "y"), (module.scalings[1], "load")):
            expected = StandardScaler().fit(rows[[column]])
            np.testing.assert_allclose(scaling.offset[group], expected.mean_, rtol=1e-9)
            np.testing.assert_allclose(scaling.scale[group], expected.scale_, rtol=1e-9)
    spans = {"train": (None, val_start), "val": (val_start, test_start), "test": (test_start, None)}
    for part, (start, end) in spans.items():
        windows = module._windows(part, check=False)
        if not windows.counts.sum():
            continue
        batch = module.dataset(part).__getitems__(list(range(int(windows.counts.sum()))))
        for k, (series, time) in enumerate(zip(batch.series.tolist(), batch.time.tolist(), strict=True)):
            rows = parts[int(names[series][1:])]
            targets = rows["time"].iloc[time : time + horizon]
            assert len(targets) == horizon and time >= lookback  # rows of its own series only
            assert (start is None or (targets >= start).all()) and (end is None or (targets < end).all())
            group = series if per_series else 0
            y = (rows["y"].to_numpy() - module.scalings[0].offset[group, 0]) / module.scalings[0].scale[group, 0]
            np.testing.assert_allclose(batch.past[k, :, 0].numpy(), y[time - lookback : time], rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(batch.target[k, :, 0].numpy(), y[time : time + horizon], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("time", ["", "NaT", 20200103], ids=["empty", "nat", "number"])
def test_date_split_time_that_is_no_date_is_refused_naming_the_key(time):
    """pandas reads "" and "NaT" as NaT and a number as nanoseconds since 1970: no training rows, silently."""
    with pytest.raises(ValueError, match=rf"data.split.val_start={time!r} is not a time; give one such as"):
        DateSplit(val_start=time, test_start="2020-01-04")
    with pytest.raises(ValueError, match=rf"data.split.test_end={time!r} is not a time"):
        DateSplit(val_start="2020-01-03", test_start="2020-01-04", test_end=time)


def test_row_split_of_rows_that_are_not_whole_numbers_is_refused_naming_the_key():
    """NumPy would cut 100.5 to row 100 silently."""
    with pytest.raises(
        TypeError, match=r"data.split.test_start=100.5 is not a whole number of rows; give one such as 100"
    ):
        RowSplit(val_start=50, test_start=100.5)
    assert RowSplit(val_start=np.int64(50), test_start=100, test_end=150).val_start == 50


def test_fraction_split_of_fractions_that_are_not_numbers_is_refused_naming_the_key():
    with pytest.raises(TypeError, match=r"data.split.val='0.1' is not a number; give a fraction such as 0.1"):
        FractionSplit(val="0.1")


@pytest.mark.parametrize("rows_per_hour", [0, -1, 1.5, True, "4", None])
def test_ett_split_of_rows_per_hour_that_are_no_count_is_refused_naming_the_key(rows_per_hour):
    """They gave borders refused as ``data.split.val_start`` (a key never set; for "4", 8640 characters of it),
    "no series has training rows" for 0, or a bare TypeError for None; True took the hourly borders."""
    with pytest.raises(ValueError, match=r"data.split.rows_per_hour=.*rows per hour of the data"):
        ETTSplit(rows_per_hour=rows_per_hour)
