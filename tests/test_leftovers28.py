import re
import zoneinfo

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data.calendar import season_positions, seasonal_period
from forecast.metrics.functional import interval_coverage

SKIP_HINT = "local times that skip an hour where daylight saving starts"
REPEAT_HINT = "local times that repeat an hour where daylight saving ends"


def frame_at(times: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(float(len(times)))}, index=times)


def message(times: pd.DatetimeIndex, freq: str | None = None) -> str:
    with pytest.raises(ForecastDataError) as error:
        TimeSeriesDataModule(frame_at(times), 4, 2, split=None, freq=freq)
    return str(error.value)


def clock_changes() -> dict[tuple[int, bool], pd.Timestamp]:
    """For each wall-clock hour (of the day) at which some zone skips (True) or repeats (False) a whole hour for
    daylight saving, 1990-2030, the first naive wall time at which one does, from zoneinfo: the days on which a
    zone's UTC offset changes, then their quarter hours."""
    days = pd.date_range("1990-01-01", "2031-01-01", freq="D", tz="UTC", unit="s")
    found = {}
    for zone in sorted(zoneinfo.available_timezones()):
        changed = np.flatnonzero(np.diff(days.tz_convert(zone).tz_localize(None).asi8 - days.asi8))
        quarters = (days.asi8[changed, None] + np.arange(0, 86401, 900)).ravel()
        zoned = pd.DatetimeIndex(quarters.astype("M8[s]")).tz_localize("UTC").tz_convert(zone)
        wall = zoned.tz_localize(None).asi8
        offsets = wall - quarters
        for i in np.flatnonzero(np.abs(np.diff(offsets)) == 3600):
            start = wall[i + 1] - 3600 * (offsets[i + 1] > offsets[i])  # the skipped hour's, or the repeated one's
            hour = int(start // 3600 % 24)
            on_the_hour = start % 3600 == 0
            if on_the_hour and zoned[i].dst() != zoned[i + 1].dst():  # not a change of standard time
                key = (hour, bool(offsets[i + 1] > offsets[i]))  # the wall clock jumps forward: an hour skipped
                found[key] = min(found.get(key, pd.Timestamp.max), pd.Timestamp(start, unit="s"))
    return found


def test_naive_hours_get_the_daylight_saving_hint_exactly_where_zoneinfo_changes_clocks():
    """A missing hour of naive hourly data gets the skip hint, and a repeated one the repeat hint, at the wall
    times where some zone changes its clock for daylight saving on that date (Easter Island at 21:00 to Baku at
    05:00), and no hint on a date where none does (2 January: a gap at 02:00 then is a gap), nor by day."""
    changes = clock_changes()
    hours = {hour for hour, _ in changes}
    assert {21, 22, 23, 0, 1, 2, 3, 4, 5} <= hours and not hours & {7, 12, 15}  # the reference is sane
    times = pd.date_range("2024-01-01", periods=72, freq="h")
    for hour in range(24):
        gap = message(times.delete(24 + hour), freq="h")
        assert "fill the gap" in gap and SKIP_HINT not in gap, (hour, gap)
        repeat = message(times.insert(24 + hour, times[24 + hour]), freq="h")
        assert "duplicate time" in repeat and REPEAT_HINT not in repeat, (hour, repeat)
    for (_, skipped), start in changes.items():  # each hint where a zone skips or repeats that hour, not the other
        around = pd.date_range(start - pd.Timedelta(hours=24), periods=72, freq="h")
        gap = message(around.delete(24), freq="h")
        assert "fill the gap" in gap and (SKIP_HINT in gap) == skipped, (start, gap)
        repeat = message(around.insert(24, around[24]), freq="h")
        assert "duplicate time" in repeat and (REPEAT_HINT in repeat) != skipped, (start, repeat)


@pytest.mark.parametrize("freq, row", [("h", 26), ("15min", 104)])
def test_naive_local_times_of_berlin_keep_both_daylight_saving_hints(freq, row):
    """Berlin skips 02:00-03:00 on 2024-03-31 and repeats it on 2024-10-27."""
    spring = pd.date_range("2024-03-30", "2024-04-01", freq=freq, tz="Europe/Berlin", inclusive="left")
    assert SKIP_HINT in message(spring.tz_localize(None))
    autumn = pd.date_range("2024-10-26", "2024-10-28", freq=freq, tz="Europe/Berlin", inclusive="left")
    naive = autumn.tz_localize(None)
    assert REPEAT_HINT in message(naive, freq=freq) and naive[row] == pd.Timestamp("2024-10-27 02:00")


def test_a_15_minute_gap_of_an_hour_by_day_gets_no_daylight_saving_hint():
    times = pd.date_range("2024-01-01", periods=192, freq="15min")
    text = message(times.delete(slice(28 + 4, 32 + 4)))  # 08:00 to 08:45 missing
    assert "row 32, time 2024-01-01 09:00:00" in text and "daylight saving" not in text


@pytest.mark.parametrize(
    "times, likeliest",
    [
        (pd.date_range("2020-01-31", periods=30, freq="ME").delete(5).append(pd.DatetimeIndex(["2022-07-15"])), "ME"),
        (pd.date_range("2020-01-01", periods=30, freq="D").delete(5).insert(9, pd.Timestamp("2020-01-10 12:00")), "D"),
        (pd.date_range("2020-01-01", periods=30, freq="h").insert(10, pd.Timestamp("2020-01-01 09:30")), "h"),
        (pd.date_range("2020-01-01", periods=30, freq="MS") + pd.Timedelta(days=14), "31D"),  # monthly on the 15th
    ],
)
def test_a_frequency_that_cannot_be_inferred_is_exemplified_by_the_likeliest_one(times, likeliest):
    """The example is the likeliest frequency, which data.freq accepts; for monthly data on another day of
    the month (likeliest: 31 days), month starts, where the message asks to move them."""
    text = message(times)
    example = "MS" if likeliest == "31D" else likeliest
    assert f"the steps of {likeliest!r}, the likeliest frequency" in text
    assert re.search(rf"e\.g\. data\.freq: {example}$", text), text


@pytest.mark.parametrize(
    "offset, named",
    [
        (pd.DateOffset(months=1), "MS"), (pd.DateOffset(months=2), "2MS"), (pd.DateOffset(n=3, months=1), "3MS"),
        (pd.DateOffset(days=1), "D"), (pd.DateOffset(), "D"), (pd.DateOffset(weeks=1), "W"),
        (pd.DateOffset(hours=1), "h"), (pd.DateOffset(minutes=15), "15min"), (pd.DateOffset(months=5), "5MS"),
        (pd.DateOffset(years=1), "YS"),
    ],
)  # fmt: skip
def test_a_plain_date_offset_has_the_season_of_its_unit(offset, named):
    """DateOffset(months=1) steps a month from any day: monthly data, 12 a year, as MS; its positions count
    months as MS's do."""
    assert seasonal_period(offset) == seasonal_period(named)
    times = pd.date_range("2021-01-15", periods=30, freq=offset)
    if seasonal_period(named) is not None:
        np.testing.assert_array_equal(season_positions(times, offset), season_positions(times, named))


def test_a_date_offset_of_several_units_or_a_set_field_has_no_season():
    assert seasonal_period(pd.DateOffset(months=1, days=2)) is None
    assert seasonal_period(pd.DateOffset(month=1)) is None


@pytest.mark.parametrize("argument", ["lower_index", "upper_index"])
@pytest.mark.parametrize("index", [0.0, 1.0, True, "0"])
def test_interval_coverage_refuses_an_index_that_is_no_integer(argument, index):
    preds, target = torch.tensor([[0.0, 1.0, 2.0]]), torch.tensor([0.5])
    with pytest.raises(TypeError, match=rf"^{argument} must be an integer column .* got {re.escape(repr(index))}"):
        interval_coverage(preds, target, **{argument: index})


def test_interval_coverage_takes_numpy_integers():
    preds, target = torch.tensor([[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]), torch.tensor([0.5, 1.5])
    assert interval_coverage(preds, target, np.int64(0), np.int32(1)).item() == 0.5
