"""Leftovers of the audits: the repair log of a history, the times of a wide frame after ``reset_index()`` at
predict, the daylight-saving hint only where a zone changes its clock, windows of no steps, and scaler refusals
that name their config key.

References: the same forecast of the same frame given with its DatetimeIndex; pandas' own ``tz_localize``, which
refuses a wall-clock time that a zone skips or repeats; scikit-learn's ``MinMaxScaler`` refusing a reversed range.
"""

import functools
import logging
import re
import zoneinfo

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import MinMaxScaler, QuantileTransformer

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data import Columns, Scaling
from forecast.nn import GRUEncoder, LSTMEncoder
from forecast.nn.sru import SRUEncoder
from forecast.predict import HistorySplit

LOOKBACK, HORIZON, ROWS = 8, 3, 48
TIMES = pd.date_range("2024-01-01", periods=ROWS, freq="h", name="date")


def wide() -> pd.DataFrame:
    """One hourly series ``y`` with its times as the index, as a wide frame keeps them."""
    return pd.DataFrame({"y": np.sin(np.arange(ROWS) / 3)}, index=TIMES)


@pytest.fixture(scope="module")
def model(tmp_path_factory, fit_tiny_gru):
    """A tiny GRU fitted for one batch on the wide frame, repairing missing values by forward fill."""
    return fit_tiny_gru(wide(), tmp_path_factory.mktemp("fit"), LOOKBACK, HORIZON)


# 1. The repair log of history given to predict, which has no train part.


def test_the_repair_log_of_a_history_at_predict_names_the_history_not_a_train_part(model, caplog):
    history = wide()
    history.iloc[[-3, -2], 0] = np.nan  # in the lookback
    with caplog.at_level(logging.INFO):
        model.predict(history)
    assert "data.nan_policy=ffill: repaired 2 NaN or infinite values {'y': 2}, in the history" in caplog.text
    assert "per part" not in caplog.text and "'train'" not in caplog.text


def test_the_repair_log_of_a_history_counts_its_future_rows_apart(caplog):
    frame = pd.DataFrame({"y": np.arange(20.0), "x": np.arange(20.0)}, index=TIMES[:20])
    frame.iloc[-HORIZON:, 0] = np.nan  # the horizon's future rows: targets unknown, the future covariate given
    frame.iloc[[5, -1], 1] = np.nan  # one missing in the history, one in its future rows
    with caplog.at_level(logging.INFO):
        TimeSeriesDataModule(
            frame, LOOKBACK, HORIZON, columns=Columns(targets=["y"], future_covariates=["x"]), split=HistorySplit(),
            nan_policy="ffill",
        )  # fmt: skip
    assert "repaired 2 NaN or infinite values {'x': 2}, in the history (1 of them in its future rows)" in caplog.text


def test_a_training_split_still_logs_its_parts(caplog):
    frame = wide()
    frame.iloc[3, 0] = np.nan
    with caplog.at_level(logging.INFO):
        TimeSeriesDataModule(frame, LOOKBACK, HORIZON, nan_policy="ffill")
    assert "repaired 1 NaN or infinite values {'y': 1}, per part {'train': 1}" in caplog.text


# 2. A wide frame whose times are its first column, under row labels that are no RangeIndex.


def reset_variants() -> dict[str, pd.DataFrame]:
    """The wide frame after ``reset_index()``, its row labels other than 0, 1, 2, ...: shuffled and sorted back, two
    parts stacked (labels repeat), and a row filter as pandas before 3.0 labelled it (an Index of int64)."""
    reset = wide().reset_index()
    filtered = reset[lambda frame: frame.date >= TIMES[5]]
    return {
        "sorted": reset.sample(frac=1.0, random_state=0).sort_values("date"),
        "stacked": pd.concat([reset.iloc[:20], reset.iloc[20:].reset_index(drop=True)]),
        "filtered": filtered.set_axis(pd.Index(filtered.index.to_numpy(), dtype="int64")),
    }


@pytest.mark.parametrize("variant", ["sorted", "stacked", "filtered"])
def test_predict_reads_the_times_of_a_reset_wide_frame_under_any_row_labels(model, variant):
    frame = reset_variants()[variant]
    assert not isinstance(frame.index, pd.RangeIndex)
    expected = model.predict(frame.set_index("date"))  # the same rows with their DatetimeIndex
    pd.testing.assert_frame_equal(model.predict(frame), expected)


@pytest.mark.parametrize("variant", ["sorted", "stacked", "filtered"])
def test_a_data_module_reads_the_times_of_a_reset_wide_frame_under_any_row_labels(variant):
    frame = reset_variants()[variant]
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON)
    np.testing.assert_array_equal(data.table.times, pd.DatetimeIndex(frame["date"]))
    assert data.targets == ["y"] and data.freq == "h"


def test_row_labels_of_a_reset_wide_frame_may_have_a_name():
    frame = reset_variants()["sorted"].rename_axis("row")
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON)
    np.testing.assert_array_equal(data.table.times, TIMES)


# 3. The daylight-saving hint, only where some zone skips or repeats the hour on that date.

SKIP_HINT = "local times that skip an hour where daylight saving starts"
REPEAT_HINT = "local times that repeat an hour where daylight saving ends"


def refusal(times: pd.DatetimeIndex) -> str:
    with pytest.raises(ForecastDataError) as error:
        TimeSeriesDataModule(pd.DataFrame({"x": np.arange(float(len(times)))}, index=times), 4, 2, split=None, freq="h")
    return str(error.value)


def hours_around(hour: str) -> tuple[pd.DatetimeIndex, int]:
    """Naive hours from a day before ``hour`` to a day after it, and its position."""
    times = pd.date_range(pd.Timestamp(hour) - pd.Timedelta(days=1), periods=48, freq="h")
    return times, int(times.get_loc(pd.Timestamp(hour)))


def zone_changes_at(hour: str, zone: str) -> bool:
    """pandas' reference: whether ``zone`` skips or repeats the naive wall-clock ``hour``."""
    try:
        pd.DatetimeIndex([hour]).tz_localize(zone, ambiguous="raise", nonexistent="raise")
    except (ValueError, OverflowError):  # pytz's NonExistentTimeError and AmbiguousTimeError are ValueErrors
        return True
    return False


@pytest.mark.parametrize(
    "hour, zone", [("2024-03-31 02:00", "Europe/Berlin"), ("2024-03-10 02:00", "America/New_York")]
)
def test_a_missing_hour_that_a_zone_skips_on_that_date_keeps_the_hint(hour, zone):
    assert zone_changes_at(hour, zone)
    times, at = hours_around(hour)
    text = refusal(times.delete(at))
    assert "fill the gap" in text and SKIP_HINT in text


@pytest.mark.parametrize(
    "hour, zone", [("2024-10-27 02:00", "Europe/Berlin"), ("2024-11-03 01:00", "America/New_York")]
)
def test_a_repeated_hour_that_a_zone_repeats_on_that_date_keeps_the_hint(hour, zone):
    assert zone_changes_at(hour, zone)
    times, at = hours_around(hour)
    text = refusal(times.insert(at, times[at]))
    assert "duplicate time" in text and REPEAT_HINT in text


def test_a_night_hour_of_1_january_missing_or_repeated_gets_no_hint():
    hour = "2024-01-01 02:00"
    assert not any(zone_changes_at(hour, zone) for zone in sorted(zoneinfo.available_timezones()))
    times, at = hours_around(hour)
    gap, repeat = refusal(times.delete(at)), refusal(times.insert(at, times[at]))
    assert "fill the gap" in gap and "daylight saving" not in gap
    assert "duplicate time" in repeat and "daylight saving" not in repeat


# 4. A window of no steps, or without its batch dimension.


@pytest.mark.parametrize("encoder", [GRUEncoder, LSTMEncoder, SRUEncoder])
@pytest.mark.parametrize("shape", [(2, 0, 3), (5, 3)], ids=["no-steps", "no-batch"])
def test_an_encoder_refuses_a_window_of_no_steps_naming_its_shape(encoder, shape):
    with pytest.raises(ValueError, match=rf"\(B, T, D_in\) with T >= 1 steps, got shape {re.escape(str(shape))}"):
        encoder(3, hidden_size=4)(torch.zeros(shape))


def test_an_encoder_still_reads_a_window_of_one_step():
    out = GRUEncoder(3, hidden_size=4)(torch.zeros(2, 1, 3))
    assert out.sequence.shape == (2, 1, 4) and out.last.shape == (2, 4)


# 5. Scaler refusals name the config key the scaler was given under.


def frame_with_covariates() -> pd.DataFrame:
    """Two daily series with a target, a past covariate and a numeric static."""
    times = pd.date_range("2021-01-01", periods=30, freq="D")
    rng = np.random.default_rng(3)
    pieces = [
        pd.DataFrame({"id": name, "time": times, "y": rng.normal(size=30), "x": rng.normal(size=30), "size": k + 1.0})
        for k, name in enumerate(["a", "b"])
    ]
    return pd.concat(pieces, ignore_index=True)


def setup_with(columns: Columns, **scaling) -> None:
    TimeSeriesDataModule(frame_with_covariates(), 4, 2, columns=columns, scaling=Scaling(**scaling)).setup("fit")


REVERSED = functools.partial(MinMaxScaler, feature_range=(1, 0))
COVARIATES = Columns(targets=["y"], past_covariates=["x"])


@pytest.mark.parametrize("per_series", [False, True], ids=["one-scaler", "per-series"])
@pytest.mark.parametrize(
    "key, columns",
    [
        ("scaler", COVARIATES),
        ("covariate_scaler", COVARIATES),
        ("covariate_scaler", Columns(targets=["y"], static_covariates=["size"])),
    ],
    ids=["targets", "covariates", "statics"],
)
def test_a_reversed_feature_range_is_refused_before_fitting_naming_its_key(key, columns, per_series):
    with pytest.raises(ValueError, match="feature range"):  # scikit-learn's own refusal, naming no key
        MinMaxScaler(feature_range=(1, 0)).fit(np.arange(4.0)[:, None])
    expected = rf"data\.scaling\.{key}: MinMaxScaler's feature_range \(1, 0\) must run from a smaller to a larger"
    with pytest.raises(ValueError, match=expected):
        setup_with(columns, per_series=per_series, **{key: REVERSED})


@pytest.mark.parametrize("key", ["scaler", "covariate_scaler"])
@pytest.mark.parametrize(
    "scaler, said",
    [(LinearRegression, "LinearRegression has no transform or inverse_transform"),
     (functools.partial(QuantileTransformer, n_quantiles=10), "QuantileTransformer is not a per-channel affine map")],
    ids=["no-transformer", "not-affine"],
)  # fmt: skip
def test_a_scaler_refusal_names_its_key(key, scaler, said):
    with pytest.raises(ValueError, match=rf"data\.scaling\.{key}: {said}"):
        setup_with(COVARIATES, **{key: scaler})
