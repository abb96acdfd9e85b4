import numpy as np
import pandas as pd
import pytest

from forecast import Calendar, Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data.calendar import (
    CALENDAR_FEATURES,
    calendar_columns,
    calendar_features,
    season_positions,
    seasonal_period,
    step_times,
)

TIMES = pd.date_range("2023-12-30 22:45", periods=24 * 70, freq="h").append(pd.DatetimeIndex(["2024-02-29 07:15"]))
HOURS = Calendar(features=["hour"], encoding="integer")


def test_integer_features_are_pandas_fields_from_zero():
    features = calendar_features(TIMES, list(CALENDAR_FEATURES), "integer")
    expected = {
        "minute": TIMES.minute,
        "hour": TIMES.hour,
        "dayofweek": TIMES.day_of_week,
        "day": TIMES.day - 1,
        "dayofyear": TIMES.day_of_year - 1,
        "weekofyear": TIMES.isocalendar().week.to_numpy() - 1,
        "month": TIMES.month - 1,
        "quarter": TIMES.quarter - 1,
    }
    assert calendar_columns(list(CALENDAR_FEATURES), "integer") == list(expected)
    for channel, values in enumerate(expected.values()):
        np.testing.assert_array_equal(features[:, channel], np.asarray(values, dtype=np.float32))


@pytest.mark.parametrize(
    "time, feature, angle",
    [
        ("2024-02-29 07:15", "day", 2 * np.pi * 28 / 29),  # leap February has 29 days
        ("2023-02-28 00:00", "day", 2 * np.pi * 27 / 28),
        ("2024-12-31 00:00", "dayofyear", 2 * np.pi * 365 / 366),
        ("2024-01-07 23:00", "hour", 2 * np.pi * 23 / 24),
        ("2024-01-07 23:00", "dayofweek", 2 * np.pi * 6 / 7),  # a Sunday
        ("2024-11-30 00:00", "month", 2 * np.pi * 10 / 12),
    ],
)
def test_cyclical_features_are_points_on_the_circle(time, feature, angle):
    features = calendar_features(pd.DatetimeIndex([time]), [feature], "cyclical")
    assert calendar_columns([feature], "cyclical") == [f"{feature}_sin", f"{feature}_cos"]
    np.testing.assert_allclose(features[0], [np.sin(angle), np.cos(angle)], atol=1e-6)


def test_unknown_feature_is_named():
    with pytest.raises(ForecastDataError, match=r"\['weekday'\] unknown; choose from .* in data\.calendar\.features"):
        TimeSeriesDataModule("etth1", calendar=Calendar(features=["hour", "weekday"]))


def test_calendar_features_are_future_covariates_of_each_window(long_frame):
    calendar = Calendar(features=["hour", "dayofweek"])
    data = TimeSeriesDataModule(long_frame, 10, 5, columns=Columns(targets=["y"]), calendar=calendar)
    assert (data.input_size, data.future_size) == (1, 4)
    data.setup("fit")
    val = data.dataset("val")
    batch = val.__getitems__(list(range(len(val))))
    for i in range(0, len(batch), 7):
        times = data.forecast_times(int(batch.series[i]), int(batch.time[i]))
        expected = calendar_features(times, ["hour", "dayofweek"], "cyclical")
        np.testing.assert_allclose(batch.future[i].numpy(), expected, atol=1e-6)


def test_calendar_of_a_forecast_continues_past_the_data(long_frame):
    data = TimeSeriesDataModule(long_frame, 10, 5, columns=Columns(targets=["y"]), calendar=HOURS)
    data.setup("predict")
    batch = data.dataset("predict").__getitems__([0, 1, 2])
    for i, name in enumerate(data.series_names):
        last = long_frame.loc[long_frame["id"] == name, "time"].iloc[-1]
        expected = pd.date_range(last, periods=6, freq="h")[1:].hour
        np.testing.assert_array_equal(batch.future[i, :, 0].numpy(), expected)


def test_calendar_uses_the_data_time_zone():
    index = pd.date_range("2024-03-30", periods=72, freq="h", tz="Europe/Berlin")  # over a DST change
    frame = pd.DataFrame({"x": np.arange(72.0)}, index=index)
    data = TimeSeriesDataModule(frame, 8, 4, calendar=HOURS, split=None)
    data.setup("fit")
    batch = data.dataset("train").__getitems__(list(range(len(data.dataset("train")))))
    np.testing.assert_array_equal(batch.future[:, 0, 0].numpy(), index[batch.time.numpy()].hour)


@pytest.mark.parametrize(
    "freq, start, expected",
    [
        ("h", "2024-01-07 21:00", lambda t: t.hour),
        ("15min", "2024-01-07 23:15", lambda t: t.hour * 4 + t.minute // 15),
        ("2h", "2024-01-07 20:00", lambda t: t.hour // 2),
        ("MS", "2023-10-01", lambda t: t.month - 1),
        ("QS", "2023-07-01", lambda t: t.quarter - 1),
        ("B", "2024-01-04", lambda t: t.day_of_week),
    ],
)
def test_season_is_each_steps_position_in_the_frequencys_season(freq, start, expected):
    times = pd.date_range(start, periods=30, freq=freq)
    positions = calendar_features(times, ["season"], "integer", freq)[:, 0]
    np.testing.assert_array_equal(positions, np.asarray(expected(times), dtype=np.float32))


@pytest.mark.parametrize("freq, period", [("D", 7), ("W", 52), ("h", 24), ("7D", 52), ("2MS", 6), ("3h", 8)])
def test_season_positions_run_on_by_one_and_repeat_at_any_date(freq, period):
    """Consecutive steps have consecutive positions, and a time one season later has the same position."""
    times = pd.date_range("1987-03-02", periods=3 * period, freq=freq)
    positions = season_positions(times, freq)
    assert seasonal_period(freq) == period
    np.testing.assert_array_equal(np.diff(positions) % period, 1)
    np.testing.assert_array_equal(positions[period:], positions[:-period])
    later = pd.date_range(times[0] + 40 * period * pd.tseries.frequencies.to_offset(freq), periods=period, freq=freq)
    np.testing.assert_array_equal(season_positions(later, freq), positions[:period])


@pytest.mark.parametrize(
    "fixed, weeks, period",
    [("14D", "2W-SUN", 26), ("336h", "2W-SUN", 26), ("28D", "4W", 13), ("91D", "13W", 4), ("21D", "3W", None)],
)
def test_a_step_of_whole_weeks_has_the_season_of_weeks_in_days_or_hours_too(fixed, weeks, period):
    """A year of 52 weeks in steps of n weeks, however the step is spelt, and the same positions in it."""
    assert seasonal_period(fixed) == seasonal_period(weeks) == period
    if period is not None:
        times = pd.date_range("1987-03-01", periods=2 * period, freq=weeks)  # Sundays
        np.testing.assert_array_equal(season_positions(times, fixed), season_positions(times, weeks))


@pytest.mark.parametrize("hours, days, period", [("24h", "D", 7), ("48h", "2D", None), ("168h", "7D", 52)])
def test_a_step_of_whole_days_in_hours_has_the_season_of_days(hours, days, period):
    assert seasonal_period(hours) == seasonal_period(days) == period


@pytest.mark.parametrize("freq", ["14D", "2W-SUN"])
def test_data_in_steps_of_two_weeks_have_a_season_however_the_frequency_is_stated(freq):
    frame = pd.DataFrame({"x": np.arange(60.0)}, index=pd.date_range("2020-01-05", periods=60, freq="2W-SUN"))
    data = TimeSeriesDataModule(frame, 8, 4, freq=freq, calendar=Calendar(features=["season"], encoding="integer"))
    assert data.season_length == 26


def test_season_counts_on_the_wall_clock_of_the_data():
    times = pd.date_range("2024-03-31 00:00", periods=6, freq="h", tz="Europe/Berlin")  # over a DST change
    np.testing.assert_array_equal(season_positions(times, "h"), times.hour)


def test_data_module_says_where_the_season_is_for_the_model(long_frame):
    calendar = Calendar(features=["hour", "season"], encoding="integer")
    data = TimeSeriesDataModule(long_frame, 10, 5, columns=Columns(targets=["y"], future_covariates=["price"]),
                                calendar=calendar)  # fmt: skip
    assert (data.future_size, data.season_channel, data.season_length) == (3, 2, 24)
    data.setup("fit")
    batch = data.dataset("val").__getitems__([0, 5])
    np.testing.assert_array_equal(batch.future[..., 2], batch.future[..., 1])  # hourly: the season is the hour
    cyclical = TimeSeriesDataModule(long_frame, 10, 5, columns=Columns(targets=["y"]), calendar=Calendar(["season"]))
    assert (cyclical.future_size, cyclical.season_channel) == (2, None)  # sine and cosine: no position to read


def test_season_of_data_without_one_is_refused_naming_the_key():
    frame = pd.DataFrame({"x": np.arange(60.0)}, index=pd.date_range("1900-01-01", periods=60, freq="YS"))
    with pytest.raises(ForecastDataError, match=r"frequency 'YS-JAN' has none: leave 'season' out of data\.calendar"):
        TimeSeriesDataModule(frame, 8, 4, calendar=Calendar(features=["season"], encoding="integer"))


@pytest.mark.skipif(int(pd.__version__.split(".")[0]) < 3, reason="pandas 2 still reads the old names (deprecated)")
@pytest.mark.parametrize(
    "freq, new", [("H", "h"), ("15T", "15min"), ("M", "ME"), ("Q-DEC", "QE-DEC"), ("A", "YE"), ("S", "s")]
)
def test_old_pandas_frequency_names_are_refused_naming_the_new_one(freq, new):
    frame = pd.DataFrame({"x": np.arange(60.0)}, index=pd.date_range("2024-01-01", periods=60, freq=new))
    with pytest.raises(ForecastDataError, match=rf"data\.freq='{freq}' is not .*old name of '{new}': use {new}$"):
        TimeSeriesDataModule(frame, 8, 4, freq=freq)
    assert TimeSeriesDataModule(frame, 8, 4, freq=new).freq == new


@pytest.mark.parametrize(
    "freq, start, period, expected",
    [
        ("BME", "2023-10-31", 12, lambda t: t.month - 1),
        ("BMS", "2023-10-02", 12, lambda t: t.month - 1),
        ("BQE", "2023-09-29", 4, lambda t: t.quarter - 1),
        ("BQS", "2023-10-02", 4, lambda t: t.quarter - 1),
    ],
)
def test_business_month_and_quarter_data_have_the_season_of_months_and_quarters(freq, start, period, expected):
    times = pd.date_range(start, periods=30, freq=freq)
    assert seasonal_period(freq) == period
    np.testing.assert_array_equal(season_positions(times, freq), expected(times))
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=times)
    data = TimeSeriesDataModule(frame, 8, 4, calendar=Calendar(features=["season"], encoding="integer"))
    assert data.season_length == period


def test_daily_data_in_a_time_zone_steps_calendar_days_across_daylight_saving():
    """A day in a time zone is 23 or 25 hours at a change; pandas 2's ``Day``, a 24-hour ``Tick``, is one too."""
    index = pd.date_range("2024-03-25", periods=30, freq="D", tz="Europe/Berlin")  # over the change of 2024-03-31
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=index)
    assert TimeSeriesDataModule(frame, 8, 4).freq == "D"
    assert step_times(index[:1], np.array([30]), "D").equals(index)  # forecast times stay at midnight


BUSINESS_HOURS = [
    ("bh", 8),  # 09:00-17:00
    ("2bh", 4),
    ("3bh", None),  # 3 hours do not divide the day's 8
    ("cbh", 8),
    (pd.offsets.BusinessHour(start="08:00", end="18:00"), 10),
    (pd.offsets.CustomBusinessHour(start="08:00", end="18:00", weekmask="Mon Wed Fri"), 10),
    (pd.offsets.BusinessHour(start=["13:00", "09:00"], end=["17:00", "12:00"]), 7),  # a lunch break
    (pd.offsets.BusinessHour(start="22:00", end="06:00"), 8),  # a night shift, past midnight
    (pd.offsets.BusinessHour(start="09:30", end="17:00"), None),  # the half hour carries over to the next day
]


@pytest.mark.parametrize("freq, period", BUSINESS_HOURS, ids=str)
def test_business_hours_have_the_season_of_their_business_day(freq, period):
    assert seasonal_period(freq) == period
    if period is not None:
        times = pd.date_range("2024-01-05 22:00", periods=3 * period, freq=freq)  # from an opening, Friday 22:00 on
        np.testing.assert_array_equal(season_positions(times, freq), np.arange(3 * period) % period)


def test_business_hour_season_is_the_hour_of_the_business_day():
    times = pd.date_range("2024-03-29 09:00", periods=24, freq="bh", tz="Europe/Berlin")  # over a DST change
    np.testing.assert_array_equal(season_positions(times, "bh"), times.hour - 9)


def test_business_hour_data_have_a_season():
    frame = pd.DataFrame({"x": np.arange(200.0)}, index=pd.date_range("2024-01-01 09:00", periods=200, freq="bh"))
    data = TimeSeriesDataModule(frame, 8, 4, calendar=Calendar(features=["season"], encoding="integer"))
    assert (data.freq, data.season_length) == ("bh", 8)


@pytest.mark.parametrize(
    "freq, start, period, expected",
    [
        ("SMS", "2023-10-15", 24, lambda t: 2 * (t.month - 1) + (t.day >= 15)),  # the 1st and the 15th
        ("SME", "2023-10-15", 24, lambda t: 2 * (t.month - 1) + (t.day > 15)),  # the 15th and the month's end
        ("WOM-1MON", "2023-10-02", 12, lambda t: t.month - 1),  # each month's first Monday
        ("LWOM-FRI", "2023-10-27", 12, lambda t: t.month - 1),  # each month's last Friday
    ],
)
def test_semi_monthly_and_weekday_of_the_month_data_have_the_season_of_a_year(freq, start, period, expected):
    times = pd.date_range(start, periods=30, freq=freq)
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=times)
    data = TimeSeriesDataModule(frame, 8, 4, freq=freq, calendar=Calendar(features=["season"], encoding="integer"))
    assert data.season_length == period
    np.testing.assert_array_equal(season_positions(times, freq), expected(times))


@pytest.mark.parametrize("freq", ["12MS", "4QS"])
def test_yearly_data_in_steps_of_months_or_quarters_have_no_season_as_yearly_data_do(freq):
    """A season of one step (a constant position) was taken for a season."""
    frame = pd.DataFrame({"x": np.arange(30.0)}, index=pd.date_range("1990-01-01", periods=30, freq=freq))
    with pytest.raises(ForecastDataError, match=rf"frequency '{freq}' has none: leave 'season' out of data\.calendar"):
        TimeSeriesDataModule(frame, 8, 4, freq=freq, calendar=Calendar(features=["season"], encoding="integer"))


def test_a_column_named_as_a_calendar_feature_keeps_its_own_channel():
    """Channels are read by position ([future covariates | calendar features]) and the data state records the
    columns and the features under their own keys, so a column ``hour`` and the feature ``hour`` never mix."""
    times = pd.date_range("2024-01-01", periods=40, freq="h")
    frame = pd.DataFrame({"y": np.arange(40.0), "hour": -np.arange(40.0)}, index=times)  # minus the row
    columns = Columns(targets=["y"], future_covariates=["hour"])
    data = TimeSeriesDataModule(frame, 8, 4, columns=columns, calendar=HOURS, scaling=Scaling(covariate_scaler=None))
    data.setup("fit")
    future = next(iter(data.train_dataloader())).future  # -> (B, H, 2): the column, then the feature
    np.testing.assert_array_equal(future[..., 1], (-future[..., 0]) % 24)  # the hour of each row from midnight
    assert (future[..., 0] <= -8).all()  # the column's values, of rows after the lookback
    state = data.state_dict()
    assert (state["future_covariates"], state["calendar"]) == (["hour"], ["hour"])
