"""A user's journeys on daily data of a time zone with daylight saving: fit, then predict from history
given the way a pipeline hands it over.

The model is the naive forecast (``IdentityEncoder`` + ``LastValueHead``, no weights), so every forecast is
the series' last value, checked against a table made by hand.
"""

import numpy as np
import pandas as pd
import pytest

from forecast import Forecaster

LOOKBACK, HORIZON = 5, 3
ZONE = "Europe/Berlin"  # clocks go forward on 2024-03-31


def daily(ids=(7, 8), periods=30, end="2024-04-02") -> pd.DataFrame:
    """Daily series at local midnight ending at ``end``, across the change, with ``y = row + 100 * i``."""
    times = pd.date_range(end=pd.Timestamp(end, tz=ZONE), periods=periods, freq="D")
    frames = [
        pd.DataFrame({"id": name, "time": times, "y": np.arange(periods) + 100.0 * i}) for i, name in enumerate(ids)
    ]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def naive(tmp_path_factory, fit_last_value) -> Forecaster:
    return Forecaster.load(fit_last_value(daily(), tmp_path_factory.mktemp("daily"), LOOKBACK, HORIZON, batch_size=8))


@pytest.mark.parametrize("layout", ["column", "index"])
def test_daily_history_given_in_utc_is_forecast_at_the_checkpoints_local_midnights(naive, layout):
    # Its last step, from midnight of 2024-03-31 to that of 2024-04-01, is 23 hours.
    history = daily(end="2024-04-01").assign(time=lambda frame: frame["time"].dt.tz_convert("UTC"))
    if layout == "index":
        history = history.set_index(["id", "time"])
    table = naive.predict(history)
    times = pd.DatetimeIndex(["2024-04-02", "2024-04-03", "2024-04-04"]).tz_localize(ZONE)
    expected = pd.DataFrame(
        {"id": np.repeat([7, 8], HORIZON), "time": times.append(times), "y": np.repeat([29.0, 129.0], HORIZON)}
    )
    pd.testing.assert_frame_equal(table, expected.astype({"time": table["time"].dtype}), rtol=1e-6)


def test_a_wide_daily_history_given_in_utc_is_forecast_as_in_the_checkpoints_zone(naive):
    local = daily(ids=(7,), end="2024-04-01").set_index("time")[["y"]]
    pd.testing.assert_frame_equal(naive.predict(local.tz_convert("UTC")), naive.predict(local))


def test_daily_history_read_from_a_csv_with_two_utc_offsets_is_forecast_as_the_frame_it_was(naive, tmp_path):
    """``to_csv`` writes the times of a zone with daylight saving with two UTC offsets, which read only as UTC."""
    history = daily(end="2024-04-01")
    history.to_csv(tmp_path / "history.csv", index=False)
    pd.testing.assert_frame_equal(naive.predict(pd.read_csv(tmp_path / "history.csv")), naive.predict(history))
