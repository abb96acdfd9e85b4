"""Times in a time zone at a wall-clock time that a daylight-saving change skips or repeats."""

import numpy as np
import pandas as pd
import pytest

from forecast import Calendar, ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.backtest import backtest_windows
from forecast.data.calendar import step_times
from forecast.nn import IdentityEncoder, LastValueHead
from forecast.predict import forecast_table
from forecast.trainer import ForecastTrainer

SAO_PAULO, NEW_YORK = "America/Sao_Paulo", "America/New_York"


def midnights(start: str, periods: int) -> pd.DatetimeIndex:
    """Daily at midnight in Sao Paulo, where the clock skipped midnight of 2018-11-04: pandas stores that row
    at 01:00, as ``tz_localize(..., nonexistent="shift_forward")`` gives it."""
    return pd.date_range(start, periods=periods, freq="D").tz_localize(SAO_PAULO, nonexistent="shift_forward")


def frame_at(index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(float(len(index)))}, index=index)


def test_daily_data_at_a_skipped_midnight_are_read_windowed_and_forecast_at_midnight():
    index = midnights("2018-10-20", 60)
    assert str(index[15]) == "2018-11-04 01:00:00-02:00"
    data = TimeSeriesDataModule(frame_at(index), 8, 4, split=None)
    data.setup("fit")
    assert data.freq == "D"
    assert len(data.dataset("train")) > 0
    np.testing.assert_array_equal(step_times(index[:1], np.array([60]), "D"), index)  # the calendar's times
    np.testing.assert_array_equal(data.forecast_times(0, 14), index[14:18])  # across the day
    after = data.forecast_times(0, 16)  # stepped on from the row at 01:00
    assert [str(time) for time in after[:2]] == ["2018-11-05 00:00:00-02:00", "2018-11-06 00:00:00-02:00"]


@pytest.mark.parametrize("first", [True, False], ids=["first 01:30", "second 01:30"])
def test_daily_data_at_a_repeated_time_are_read_either_way_and_forecast_at_the_first(first):
    """01:30 of 2024-11-03 occurs twice in New York; data may hold either, and forecasts step to the first."""
    naive = pd.date_range("2024-10-20 01:30", periods=30, freq="D")
    index = naive.tz_localize(NEW_YORK, ambiguous=np.full(30, first))
    data = TimeSeriesDataModule(frame_at(index), 8, 4, split=None)
    assert data.freq == "D"
    assert [str(time) for time in data.forecast_times(0, 13)[:2]] == [
        "2024-11-02 01:30:00-04:00",
        "2024-11-03 01:30:00-04:00",
    ]


@pytest.mark.parametrize("wall", ["00:00", "01:00"])
def test_a_series_from_the_row_after_the_gap_goes_on_at_its_own_time_of_day(wall):
    """01:00 of 2018-11-04 stands for midnight in data at midnight, and for itself in data at 01:00."""
    index = pd.date_range(f"2018-11-04 {wall}", periods=20, freq="D").tz_localize(
        SAO_PAULO, nonexistent="shift_forward"
    )
    assert str(index[0]) == "2018-11-04 01:00:00-02:00"
    data = TimeSeriesDataModule(frame_at(index), 8, 4, freq="D", split=None)
    assert data.forecast_times(0, 1)[0] == pd.Timestamp(f"2018-11-05 {wall}", tz=SAO_PAULO)
    assert data.forecast_times(0, 20)[0] == pd.Timestamp(f"2018-11-24 {wall}", tz=SAO_PAULO)


def test_forecast_times_of_a_history_ending_on_the_row_after_the_gap_are_midnights():
    data = TimeSeriesDataModule(frame_at(midnights("2018-10-20", 16)), 8, 2, split=None)
    data.setup("predict")
    table = forecast_table(data, np.zeros((1, 2, 1)), series=np.array([0]), time=data.table.observed)
    assert [str(time) for time in table["time"]] == ["2018-11-05 00:00:00-02:00", "2018-11-06 00:00:00-02:00"]


def test_a_skipped_midnight_stored_another_way_is_named_with_the_fix():
    """shift_backward stores 2018-11-04's midnight as the instant before the gap, on 2018-11-03."""
    naive = pd.date_range("2018-10-20", periods=30, freq="D")
    index = naive.tz_localize(SAO_PAULO, nonexistent="shift_backward")
    with pytest.raises(
        ForecastDataError,
        match=r"row 15, time 2018-11-03 23:59:59.999999-03:00 does not follow frequency 'D' \(expected 2018-11-04 "
        r"01:00:00-02:00\).*\(in time zone America/Sao_Paulo .*nonexistent='shift_forward'.* in UTC or as naive local",
    ):
        TimeSeriesDataModule(frame_at(index), 8, 4, freq="D", split=None)


def test_a_backtest_starting_after_a_skipped_midnight_counts_its_rows():
    data = TimeSeriesDataModule(frame_at(midnights("2018-10-20", 60)), 8, 4, split=None)
    assert backtest_windows(data, "2018-11-10", num_windows=1).first.tolist() == [21]


def test_a_backtest_report_over_a_skipped_midnight_gives_each_window_its_own_rows_times(tmp_path):
    """forecasts.csv's origins and the plots' histories are the rows' own times: stepped back from an origin
    with pandas, a lookback across the skipped midnight raised "... is a nonexistent time"."""
    index = midnights("2018-10-20", 40)
    data = TimeSeriesDataModule(frame_at(index), 8, 4, split=None, batch_size=64)
    model = Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    trainer.backtest(model, data, start="2018-11-06", stride=1, num_windows=3, verbose=False)
    table = pd.read_csv(tmp_path / "forecasts.csv")
    origins = table.drop_duplicates("window")["origin"].tolist()
    assert origins == [str(time) for time in index[16:19]]  # the days from 2018-11-05 on
    np.testing.assert_allclose(table["x"], np.repeat([16.0, 17.0, 18.0], 4), rtol=1e-6)  # each one's last value


@pytest.mark.parametrize("wall", ["00:00", "01:00"])
def test_calendar_hour_of_a_series_from_the_row_after_the_gap_is_its_own_time_of_day(wall):
    """A series from 2018-11-04 (stored at 01:00) reads its own hour on every later row and over the horizon:
    0 for data at midnight, 1 for data at 01:00; beside it, a series across the gap reads 1 on that row only."""
    times = {
        name: pd.date_range(f"{day} {wall}", periods=6, freq="D").tz_localize(SAO_PAULO, nonexistent="shift_forward")
        for name, day in [("after", "2018-11-04"), ("across", "2018-11-02")]
    }
    frame = pd.concat(
        [frame_at(index).rename_axis("time").reset_index().assign(id=name) for name, index in times.items()]
    )
    data = TimeSeriesDataModule(frame, 2, 2, split=None, calendar=Calendar(features=["hour"], encoding="integer"))
    data.setup("predict")
    hour = int(wall[:2])
    hours = data.buffer.values[:, 1].reshape(2, 8)  # 6 rows and a horizon of 2 per series
    np.testing.assert_array_equal(hours[0], [1] + [hour] * 7)
    np.testing.assert_array_equal(hours[1], [hour, hour, 1] + [hour] * 5)
