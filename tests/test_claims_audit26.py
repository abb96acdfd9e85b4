"""Claims of the README and docstrings that this session's changes added, each held to what the code does."""

import re

import numpy as np
import optuna
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.search_space import SearchSpace

BERLIN = "Europe/Berlin"
HIDDEN = "model.encoder.init_args.hidden_size"


def frame_at(times: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(float(len(times)))}, index=times)


def test_a_resumed_study_whose_space_lists_its_choices_in_another_order_is_refused():
    """README: a rerun is refused for "other choices (or in another order)": Optuna compares choices in order."""
    study = optuna.create_study(study_name="resumed")
    SearchSpace({HIDDEN: {"choice": [4, 8]}}).suggest(study.ask())
    with pytest.raises(ValueError, match=rf"{HIDDEN}: .* sampled it as \{{choice: \[4, 8\]\}}"):
        SearchSpace({HIDDEN: {"choice": [8, 4]}}, "--space").check_study(study)


def test_steps_of_whole_days_of_hours_in_a_time_zone_are_told_the_calendar_days_they_mean():
    """``_daylight_saving``: whole days of a fixed step (48h) are named as calendar days (2D)."""
    times = pd.date_range("2024-03-21", periods=20, freq="2D", tz=BERLIN)
    with pytest.raises(ForecastDataError, match=r"has 23 or 25 hours: for steps of calendar days, data.freq: 2D\)$"):
        TimeSeriesDataModule(frame_at(times), 4, 2, freq="48h", split=None)


def test_a_missing_row_of_fixed_steps_of_no_whole_day_in_a_time_zone_gets_no_daylight_saving_hint():
    """``_daylight_saving``: other fixed steps than whole days (36h, not only steps under a day) count elapsed
    time, so a gap across the change is only a gap."""
    times = pd.date_range("2024-03-25", periods=30, freq="36h", tz=BERLIN)
    missing = times[times > pd.Timestamp("2024-03-31 03:00", tz=BERLIN)][0]
    with pytest.raises(ForecastDataError, match=rf"\(expected {re.escape(str(missing))}\); fill the gap") as error:
        TimeSeriesDataModule(frame_at(times.drop(missing)), 4, 2, freq="36h", split=None)
    assert "daylight" not in str(error.value)
