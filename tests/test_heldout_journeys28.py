"""Held-out data journeys: what the long-horizon configs meet on data sets shaped like weather (a -9999 code for a
missing value), solar (a channel all zero on its training rows) and the like."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

from forecast.cli import main
from forecast.data import ETTSplit, FractionSplit, TimeSeriesDataModule
from forecast.data.options import Columns, Scaling

SEGRNN = Path(__file__).parents[1] / "configs" / "ltsf" / "segrnn_l336.yaml"


def _frame(rows: int = 300) -> pd.DataFrame:
    """Hourly rows of two seeded channels around 10 and 400."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=rows, freq="h", name="date")
    return pd.DataFrame({"a": 10 + rng.standard_normal(rows), "b": 400 + 5 * rng.standard_normal(rows)}, index=index)


def _fit_warnings(source: pd.DataFrame, **options) -> list[str]:
    """The warnings of a data module's ``setup("fit")`` on ``source`` (lookback 24, horizon 12, FractionSplit)."""
    data = TimeSeriesDataModule(source, lookback=24, horizon=12, split=FractionSplit(), **options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data.setup("fit")
    return [str(warning.message) for warning in caught]


def test_missing_value_code_is_warned_of_naming_column_row_and_fix():
    frame = _frame()
    frame.iloc[30:33, 0] = -9999.0  # a weather station's code for a missing reading
    messages = [message for message in _fit_warnings(frame) if "-9999" in message]
    assert len(messages) == 1
    assert "column 'a', row 30, time 2024-01-02 06:00:00 holds -9999 (on 3 rows)" in messages[0]
    assert "na_values=[-9999]" in messages[0] and "data.nan_policy" in messages[0]


def test_code_within_reach_of_the_other_values_is_no_warning():
    frame = _frame()
    frame["b"] = np.linspace(5000, 12000, len(frame))
    frame.iloc[40, 1] = 9999.0  # a value like any other of this column
    assert not [message for message in _fit_warnings(frame) if "9999" in message]


def test_target_constant_on_training_rows_is_warned_of_with_its_scale():
    frame = _frame()
    frame["c"] = 0.0
    frame.iloc[250:, 2] = np.arange(50.0)  # solar-like: a panel that only starts producing in the test part
    data = TimeSeriesDataModule(frame, lookback=24, horizon=12, split=FractionSplit())
    with pytest.warns(UserWarning, match=r"column 'c' \(0, scale 1\): the target is constant on its training rows"):
        data.setup("fit")
    # scikit-learn's own scale of a constant channel, which the warning quotes.
    assert StandardScaler().fit(frame[["c"]].iloc[: data.borders[0, 0]]).scale_[0] == 1.0
    scaled = data.dataset("val")[0].target  # no NaN or infinity from the scale of a constant
    assert np.isfinite(np.asarray(scaled)).all()


def test_constant_target_of_one_series_is_named_with_its_own_scale():
    frames = []
    for name, level in (("x", 5.0), ("y", 2.0)):
        frame = _frame(120).reset_index().rename(columns={"date": "time"}).assign(id=name)
        frame["a"] = level if name == "x" else level + np.sin(np.arange(120))
        frames.append(frame[["id", "time", "a"]])
    columns = Columns(targets=["a"], id_column="id", time_column="time")
    scaling = Scaling(scaler=MaxAbsScaler, per_series=True)
    messages = [m for m in _fit_warnings(pd.concat(frames), columns=columns, scaling=scaling) if "constant" in m]
    expected = MaxAbsScaler().fit(np.full((84, 1), 5.0)).scale_[0]  # 5: MaxAbsScaler's scale of a constant 5
    assert messages == [messages[0]] and f"column 'a', series 'x' (5, scale {expected:g})" in messages[0]
    assert "series 'y'" not in messages[0]


def test_unscaled_data_are_not_warned_of_constant_targets():
    frame = _frame().assign(c=1.0)
    assert not [message for message in _fit_warnings(frame, scaling=Scaling(scaler=None)) if "constant" in message]


def _ten_minute(rows: int) -> pd.DataFrame:
    index = pd.date_range("2020-01-01", periods=rows, freq="10min", name="date")
    return pd.DataFrame({"a": np.sin(np.arange(rows) / 7.0)}, index=index)


def test_ett_split_on_ten_minute_data_warns_naming_the_key_and_the_fix():
    # configs/ltsf's split, left on a weather-like data set: 60 days of training rows, not 12 months.
    with pytest.warns(UserWarning, match=r"a row every 0 days 00:10:00: training would end after 60 days") as caught:
        data = TimeSeriesDataModule(_ten_minute(15000), lookback=48, horizon=24, split=ETTSplit())
    assert data.borders.tolist() == [[8640, 11520, 14400]]
    message = str(caught[0].message)
    assert "data.split to forecast.data.FractionSplit" in message and "ETTSplit(rows_per_hour=6)" in message


def test_ett_split_at_its_own_rows_per_hour_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        index = pd.date_range("2020-01-01", periods=57700, freq="15min", name="date")
        frame = pd.DataFrame({"a": np.sin(np.arange(57700) / 7.0)}, index=index)
        TimeSeriesDataModule(frame, lookback=48, horizon=24, split=ETTSplit(rows_per_hour=4))


@pytest.mark.slow
def test_segrnn_config_on_a_solar_like_csv_warns_and_tests_in_original_units(tmp_path, tiny_cli):
    # configs/ltsf/segrnn_l336.yaml, changing only the source and the split: a panel dark on the training rows.
    rows = 400
    index = pd.date_range("2006-01-01", periods=rows, freq="10min", name="date")
    sun = np.clip(np.sin(2 * np.pi * np.arange(rows) / 144), 0, None)
    frame = pd.DataFrame({"s0": 20 * sun, "s1": 30 * sun, "dark": np.where(np.arange(rows) < 300, 0.0, 25 * sun)})
    frame.index = index
    source = tmp_path / "solar.csv"
    frame.to_csv(source)
    tiny = [*tiny_cli(source, tmp_path, lookback=48, horizon=24), "--trainer.max_epochs", "1"]
    tiny += ["--trainer.limit_train_batches", "1", "--data.batch_channels", "64"]
    with pytest.warns(UserWarning, match=r"column 'dark' \(0, scale 1\): the target is constant"):
        fitted = main(["fit", "--config", str(SEGRNN), *tiny])
    checkpoint = fitted.trainer.checkpoint_callback.best_model_path
    tested = main(["test", "--config", str(SEGRNN), *tiny, "--ckpt_path", checkpoint])
    scores = {name: float(value) for name, value in tested.trainer.callback_metrics.items()}
    assert np.isfinite([scores["test/mse"], scores["test/mse_orig"], scores["test/mae_orig"]]).all()
