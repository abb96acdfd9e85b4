import io
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import ForecastDataError, TimeSeriesDataModule


@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
def test_daily_data_with_gaps_everywhere_is_inferred_as_days_and_the_gap_named(zone):
    """No stretch of three rows is gapless, so the most common step decides: days, not 24 hours (which the
    daylight-saving change of 2024-03-31 leaves)."""
    index = pd.date_range("2024-02-01", periods=90, freq="D", tz=zone)
    frame = pd.DataFrame({"x": np.arange(60.0)}, index=index[np.arange(90) % 3 != 2])
    with pytest.raises(
        ForecastDataError, match=r"time at row 2, time 2024-02-04 .*does not follow frequency 'D' .*gap"
    ):
        TimeSeriesDataModule(frame, 8, 4)


def test_series_of_two_daily_rows_are_inferred_as_days():
    times = pd.date_range("2024-01-01", periods=2, freq="D")
    frame = pd.DataFrame({"id": ["a", "a", "b", "b"], "time": times.append(times), "y": [1.0, 2.0, 3.0, 4.0]})
    assert TimeSeriesDataModule(frame, 1, 1, split=None).freq == "D"


def test_a_stated_frequency_the_times_do_not_follow_asks_to_correct_it():
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=pd.date_range("2024-01-01", periods=30, freq="D"))
    with pytest.raises(ForecastDataError, match=r"does not follow frequency 'h' .*, or correct data\.freq='h'$"):
        TimeSeriesDataModule(frame, 8, 4, freq="h")
    with pytest.raises(ForecastDataError, match=r"does not follow frequency 'D' .*, or state the frequency with data"):
        TimeSeriesDataModule(frame.drop(frame.index[5]), 8, 4)


def test_a_stated_frequency_that_is_not_text_is_refused_naming_the_key():
    """pandas raises its own TypeError (pandas 3) or AttributeError (pandas 2) at a number."""
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=pd.date_range("2024-01-01", periods=30, freq="D"))
    with pytest.raises(ForecastDataError, match=r"data.freq=2 is not a pandas frequency; .*e.g. h, 15min, D"):
        TimeSeriesDataModule(frame, 8, 4, freq=2)


def test_a_short_series_of_another_step_does_not_decide_the_frequency_of_a_long_one_with_a_gap():
    """pandas infers 2 days from the three rows of b; a's 99 daily rows, one gap, are daily all the same."""
    a = pd.date_range("2024-01-01", periods=100, freq="D").delete(50)
    b = pd.date_range("2024-01-01", periods=3, freq="2D")
    frame = pd.DataFrame({"id": ["a"] * 99 + ["b"] * 3, "time": a.append(b), "y": 1.0})
    with pytest.raises(ForecastDataError, match=r"series 'a', row 50, .* does not follow frequency 'D' .*fill the gap"):
        TimeSeriesDataModule(frame, 1, 1, split=None)


def test_a_stated_step_finer_than_the_unit_of_the_times_is_not_rounded_to_it():
    """Times in whole seconds (a datetime64[s] column): steps of 1 s do not follow 1500 ms."""
    index = pd.date_range("2024-01-01", periods=30, freq="s").as_unit("s")
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=index)
    with pytest.raises(ForecastDataError, match=r"row 1, time 2024-01-01 00:00:01 does not follow frequency '1500ms'"):
        TimeSeriesDataModule(frame, 8, 4, freq="1500ms")


@pytest.mark.parametrize(
    "times, freq, place",
    [
        (pd.date_range("2024-01-07", periods=20, freq="W-SUN").insert(0, pd.Timestamp("2024-01-01")), "W-SUN",
         r"row 0, time 2024-01-01 00:00:00 does not follow frequency 'W-SUN' \(expected a time on that frequency\)"),
        (pd.date_range("2020-01-01", periods=30, freq="MS").delete(10).insert(10, pd.Timestamp("2020-11-15")), "MS",
         r"row 10, time 2020-11-15 00:00:00 does not follow frequency 'MS' \(expected 2020-11-01 00:00:00\); move"),
    ],
)  # fmt: skip
def test_the_row_named_is_the_first_off_the_frequency_the_first_row_too(times, freq, place):
    """A Monday first in weekly data on Sundays; one mid-month time among month starts."""
    frame = pd.DataFrame({"x": np.arange(float(len(times)))}, index=times)
    with pytest.raises(ForecastDataError, match=place):
        TimeSeriesDataModule(frame, 4, 2, freq=freq)


@pytest.mark.parametrize("freq", [None, "MS"])
def test_the_row_named_in_a_long_frame_is_the_given_row_of_the_series_off_the_frequency(freq):
    """Rows of series a and b alternate; b's 13th time is mid-month, at row 2 * 12 + 1 of the frame as given."""
    months = pd.date_range("2020-01-01", periods=30, freq="MS")
    off = months.delete(12).insert(12, pd.Timestamp("2021-01-15"))
    frame = pd.DataFrame({"id": ["a", "b"] * 30, "time": np.ravel([months, off], order="F"), "y": 1.0})
    with pytest.raises(ForecastDataError, match=r"series 'b', row 25, time 2021-01-15 00:00:00 does not follow .*'MS'"):
        TimeSeriesDataModule(frame, 4, 2, freq=freq)


def test_a_frequency_given_as_a_pandas_offset_is_recorded_by_its_name_so_the_state_loads():
    """An offset object in the data state kept a fitted model's checkpoint from loading (weights_only)."""
    frame = pd.DataFrame({"x": np.arange(40.0)}, index=pd.date_range("2024-01-01", periods=40, freq="2h"))
    data = TimeSeriesDataModule(frame, 8, 4, freq=pd.offsets.Hour(2))
    data.setup("fit")
    saved = io.BytesIO()
    torch.save(data.state_dict(), saved)
    saved.seek(0)
    assert (data.freq, torch.load(saved, weights_only=True)["freq"]) == ("2h", "2h")


PANDAS_2 = int(pd.__version__.split(".")[0]) < 3
DEPRECATED_NAMES = [("d", "D"), ("2d", "2D"), ("w", "W-SUN"), ("W-sun", "W-SUN"), ("b", "B")]


@pytest.mark.skipif(PANDAS_2, reason="pandas 2 reads these names without a warning")
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("alias, name", DEPRECATED_NAMES)
def test_a_frequency_name_pandas_deprecates_is_recorded_by_its_name_now(alias, name):
    """pandas 3 reads ``d`` with a deprecation warning, and a later pandas not at all: the checkpoint records ``D``."""
    frame = pd.DataFrame({"x": np.arange(60.0)}, index=pd.date_range("2024-01-01", periods=60, freq=name))
    data = TimeSeriesDataModule(frame, 8, 4, freq=alias)
    data.setup("fit")
    state = data.state_dict()
    assert data.hparams["freq"] == state["freq"] == name
    given = pd.tseries.frequencies.to_offset(alias)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the recorded name reads without a deprecation warning
        assert pd.tseries.frequencies.to_offset(state["freq"]) == given


@pytest.mark.skipif(PANDAS_2, reason="pandas 2 reads this name without a warning")
def test_a_frequency_name_pandas_deprecates_warns_naming_its_name_now():
    frame = pd.DataFrame({"x": np.arange(60.0)}, index=pd.date_range("2024-01-01", periods=60, freq="D"))
    with pytest.warns(FutureWarning, match=r"data\.freq='d' is a name that pandas deprecates .*: write data\.freq: D$"):
        TimeSeriesDataModule(frame, 8, 4, freq="d")


@pytest.mark.filterwarnings("ignore:'d' is deprecated")
def test_a_checkpoint_that_recorded_a_deprecated_frequency_name_still_loads():
    """Checkpoints written before the names were recorded as pandas names them now hold ``d`` as it was given."""
    frame = pd.DataFrame({"x": np.arange(60.0)}, index=pd.date_range("2024-01-01", periods=60, freq="D"))
    trained = TimeSeriesDataModule(frame, 8, 4)
    trained.setup("fit")
    given = TimeSeriesDataModule(frame, 8, 4, freq="D")
    given.load_state_dict({**trained.state_dict(), "freq": "d"})
    np.testing.assert_allclose(given.scalings[0].scale, trained.scalings[0].scale)


def test_a_pandas_offset_that_its_name_does_not_describe_is_refused_naming_the_key():
    """``bh`` is 09:00-17:00: the checkpoint would read these 08:00-18:00 hours back as others."""
    hours = pd.offsets.BusinessHour(start="08:00", end="18:00")
    frame = pd.DataFrame({"x": np.arange(40.0)}, index=pd.date_range("2024-01-01 08:00", periods=40, freq=hours))
    with pytest.raises(
        ForecastDataError, match=r"data.freq=<BusinessHour: bh=08:00-18:00> .* whose name 'bh' leaves out"
    ):
        TimeSeriesDataModule(frame, 8, 4, freq=hours)


@pytest.mark.parametrize("freq", ["SMS", "SME", "LWOM-FRI"])
def test_calendar_frequencies_pandas_never_infers_are_inferred_and_a_gap_named(freq):
    """pandas infers no half months (the 1st and 15th; the 15th and the month's end), nor a month's last Friday."""
    frame = pd.DataFrame({"x": np.arange(40.0)}, index=pd.date_range("2024-01-01", periods=40, freq=freq))
    assert TimeSeriesDataModule(frame, 8, 4).freq == freq
    with pytest.raises(ForecastDataError, match=rf"row 20, .* does not follow frequency '{freq}' .*fill the gap"):
        TimeSeriesDataModule(frame.drop(frame.index[20]), 8, 4)


def test_times_no_frequency_fits_are_not_said_to_follow_the_likeliest_one_mostly():
    """Times at random seconds: their most common step, the likeliest frequency, is no step of most of them."""
    seconds = np.sort(np.random.default_rng(0).choice(10**6, size=50, replace=False))
    frame = pd.DataFrame({"x": np.arange(50.0)}, index=pd.Timestamp("2024-01-01") + pd.to_timedelta(seconds, "s"))
    with pytest.raises(ForecastDataError, match=r"pandas infers none .* steps of '\d+s', the likeliest frequency; put"):
        TimeSeriesDataModule(frame, 8, 4)


def test_local_times_that_repeat_an_hour_as_daylight_saving_ends_are_told_to_take_their_time_zone():
    """Removing one of the two 02:00 rows, as the message said, would drop an hour of data."""
    local = pd.date_range("2024-10-26 20:00", periods=12, freq="h", tz="Europe/Berlin").tz_localize(None)
    frame = pd.DataFrame({"x": np.arange(12.0)}, index=local)
    with pytest.raises(ForecastDataError, match=r"duplicate time at row 7, .*tz_localize\(zone, ambiguous='infer'\)"):
        TimeSeriesDataModule(frame, 2, 1, split=None)
    assert TimeSeriesDataModule(frame.tz_localize("Europe/Berlin", ambiguous="infer"), 2, 1, split=None).freq == "h"
