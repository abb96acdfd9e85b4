import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import Calendar, Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data.calendar import series_steps


def frame_at(times: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(float(len(times)))}, index=times)


@pytest.mark.parametrize("freq, row", [("h", 26), ("15min", 104)])
def test_check_times_hints_the_time_zone_where_naive_local_times_skip_an_hour(freq, row):
    """Berlin's clock skips 02:00-03:00 on 2024-03-31: naive local times jump from 01:00 (01:45) to 03:00.
    Filling that gap would add an hour the clock never showed; localizing them, as the message says, fits."""
    local = pd.date_range("2024-03-30", "2024-04-01", freq=freq, tz="Europe/Berlin", inclusive="left")
    naive = local.tz_localize(None)
    with pytest.raises(
        ForecastDataError,
        match=rf"row {row}, time 2024-03-31 03:00:00 does not follow frequency '{freq}' .*local times that skip an "
        r"hour where daylight saving starts, give them their time zone: tz_localize\(zone, ambiguous='infer'\)",
    ):
        TimeSeriesDataModule(frame_at(naive), 4, 2, split=None)
    localized = naive.tz_localize("Europe/Berlin", ambiguous="infer")
    assert TimeSeriesDataModule(frame_at(localized), 4, 2, split=None).freq == freq


def test_check_times_does_not_hint_daylight_saving_at_a_gap_of_more_than_an_hour():
    times = pd.date_range("2024-01-01", periods=48, freq="h").delete([10, 11])
    with pytest.raises(ForecastDataError, match=r"row 10, .*fill the gap") as error:
        TimeSeriesDataModule(frame_at(times), 4, 2, split=None)
    assert "daylight saving" not in str(error.value)


def iso_text(times: pd.DatetimeIndex) -> list[str]:
    """Times as spreadsheets export them: a midnight as its date alone."""
    return [f"{time:%Y-%m-%d}" if time.hour == 0 else f"{time:%Y-%m-%d %H:%M:%S}" for time in times]


def test_read_times_reads_iso_text_that_writes_midnight_as_the_date_alone():
    times = pd.date_range("2024-01-01", periods=48, freq="h")
    frame = pd.DataFrame({"id": "a", "time": iso_text(times), "y": np.arange(48.0)})
    module = TimeSeriesDataModule(frame, 4, 2, split=None)
    assert module.freq == "h" and module.table.times.equals(times)


def test_read_times_names_the_value_that_is_no_time_among_iso_text_of_two_precisions():
    text = iso_text(pd.date_range("2024-01-01", periods=48, freq="h"))
    text[5] = "n/a"
    frame = pd.DataFrame({"id": "a", "time": text, "y": np.arange(48.0)})
    with pytest.raises(ForecastDataError, match=r"holds 'n/a', not a time, at column 'time', row 5"):
        TimeSeriesDataModule(frame, 4, 2, split=None)


def test_read_times_says_a_time_pandas_reads_alone_is_in_another_format_than_the_first():
    """Day-first text that writes midnight as the date alone is no ISO 8601: refused, but not as 'not a time'."""
    times = pd.date_range("2024-01-01", periods=48, freq="h")
    text = [f"{time:%d/%m/%Y}" if time.hour == 0 else f"{time:%d/%m/%Y %H:%M}" for time in times]
    frame = pd.DataFrame({"id": "a", "time": text, "y": np.arange(48.0)})
    with pytest.raises(
        ForecastDataError,
        match=r"holds '01/01/2024 01:00' at column 'time', row 1, a time in another format than the first, "
        r"'01/01/2024'.*pandas\.to_datetime\(\.\.\., format='mixed'\) \(dayfirst=True",
    ):
        TimeSeriesDataModule(frame, 4, 2, split=None)


def test_a_past_covariate_is_not_read_at_the_forecast_rows():
    """The horizon rows hold the future covariate ``f`` and, wrongly, values of the past covariate ``p``:
    the forecast window reads ``p`` up to the forecast start only, and ``f`` and the hour at the forecast rows."""
    times = pd.date_range("2024-01-01", periods=30, freq="h")
    frame = pd.DataFrame(
        {"y": np.r_[np.arange(26.0), [np.nan] * 4], "p": np.r_[np.zeros(26), [1e6] * 4], "f": np.arange(30.0)},
        index=times,
    )
    module = TimeSeriesDataModule(
        frame, 6, 4, columns=Columns(targets=["y"], past_covariates=["p"], future_covariates=["f"]),
        calendar=Calendar(features=["hour"], encoding="integer"), split=None,
        scaling=Scaling(scaler=None, covariate_scaler=None),
    )  # fmt: skip
    module.setup("predict")
    (batch,) = list(module.predict_dataloader())
    np.testing.assert_array_equal(batch.past[0].numpy(), np.stack([np.arange(20.0, 26.0), np.zeros(6)], axis=1))
    np.testing.assert_array_equal(batch.future[0].numpy(), [[26, 2], [27, 3], [28, 4], [29, 5]])


FREQS = ["h", "15min", "D", "B", "W-SUN", "W-MON", "MS", "ME", "QS-FEB", "QE-DEC", "YS-JAN", "SMS", "BME", "2W-MON"]


@settings(max_examples=40, deadline=None)
@given(
    freq=st.sampled_from(FREQS),
    zone=st.sampled_from([None, "Europe/Berlin", "America/Sao_Paulo"]),
    day=st.integers(0, 3000),
    known=st.integers(1, 12),
)
def test_forecast_times_continue_pandas_date_range(freq, zone, day, known):
    """The times after a series (anchored offsets, calendar days across daylight saving) are pandas' own."""
    start = pd.Timestamp("2016-01-01") + pd.Timedelta(days=day)
    try:
        times = pd.date_range(start, periods=known + 8, freq=freq, tz=zone)
    except ValueError:  # pandas itself cannot step through a skipped midnight there
        return
    assert series_steps(times[:known], freq, first=known, count=8).equals(times[known:])


def test_integer_dates_are_told_their_format():
    """Long data with dates as integers (20240131): the fix names the format of such dates, not only seconds."""
    frame = pd.DataFrame({"id": ["a"] * 3, "time": [20240101, 20240102, 20240103], "y": [1.0, 2.0, 3.0]})
    with pytest.raises(ForecastDataError, match=r"format='%Y%m%d' for 20240131"):
        TimeSeriesDataModule(source=frame, lookback=1, horizon=1)
