import functools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import forecast
from forecast import ForecastDataError, Forecaster
from forecast.losses import QuantileLoss
from forecast.nn import GRUEncoder, LastValueNormalization

TINY = {"encoder": functools.partial(GRUEncoder, hidden_size=8), "normalization": LastValueNormalization}


def quiet_trainer(root) -> dict:
    return {"max_epochs": 2, "default_root_dir": str(root), "enable_progress_bar": False, "logger": False}


def long_series(periods: int = 200, freq: str = "h", names=("s0", "s1", "s2")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for i, name in enumerate(names):
        values = 10 * (i + 1) + np.sin(np.arange(periods) / 3) + 0.1 * rng.standard_normal(periods)
        frames.append(
            pd.DataFrame({"id": name, "time": pd.date_range("2024-01-31", periods=periods, freq=freq), "y": values})
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny global GRU over three hourly series, scaled per series, with calendar features."""
    root = tmp_path_factory.mktemp("fit")
    data = {"scale_per_series": True, "calendar": ["hour"], "batch_size": 32}
    model = forecast.fit(long_series(), lookback=24, horizon=6, data=data, model=TINY, trainer=quiet_trainer(root))
    return model, root


def test_fit_returns_a_loaded_model_that_predicts_after_each_series(trained):
    model, _ = trained
    history = long_series()
    table = model.predict(history)
    assert list(table.columns) == ["id", "time", "y"] and len(table) == 3 * 6
    last = history["time"].max()
    for _, rows in table.groupby("id"):
        assert list(rows["time"]) == list(pd.date_range(last + pd.Timedelta(hours=1), periods=6, freq="h"))


def test_predict_in_a_fresh_process_equals_predict_in_this_one(trained, tmp_path):
    model, root = trained
    checkpoint = next(root.rglob("last.ckpt"))
    history = long_series().groupby("id").tail(30)
    history.to_parquet(tmp_path / "history.parquet")
    history_path, output = str(tmp_path / "history.parquet"), str(tmp_path / "out.parquet")
    code = (
        "import pandas as pd; from forecast import Forecaster; "
        f"model = Forecaster.load({str(checkpoint)!r}); "
        f"model.predict(pd.read_parquet({history_path!r})).to_parquet({output!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    expected = Forecaster.load(checkpoint).predict(history)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), expected)


def test_predict_does_not_depend_on_the_batch_size(trained):
    model, _ = trained
    history = long_series()
    pd.testing.assert_frame_equal(model.predict(history, batch_size=1), model.predict(history, batch_size=256))


def test_unseen_series_are_scaled_by_their_own_history(trained):
    """Per-series standard scaling is affine-equivariant: u2 = 3 u1 + 7 gives forecasts 3 f(u1) + 7."""
    model, _ = trained
    base = long_series(names=("u1",)).tail(40)
    shifted = base.assign(id="u2", y=3 * base["y"] + 7)
    table = model.predict(pd.concat([base, shifted]))
    u1, u2 = (table.loc[table["id"] == name, "y"].to_numpy() for name in ("u1", "u2"))
    np.testing.assert_allclose(u2, 3 * u1 + 7, rtol=1e-4)


def test_predict_a_shorter_horizon_keeps_the_first_steps(trained):
    model, _ = trained
    history = long_series()
    full, short = model.predict(history), model.predict(history, horizon=2)
    pd.testing.assert_frame_equal(short.reset_index(drop=True), full.groupby("id").head(2).reset_index(drop=True))
    with pytest.raises(ValueError, match="forecasts 1 to 6 steps"):
        model.predict(history, horizon=7)


@pytest.mark.parametrize(
    ("freq", "expected"),
    [("D", ["2024-08-18", "2024-08-19"]), ("ME", ["2040-09-30", "2040-10-31"])],
    ids=["daily", "month-end"],
)
def test_forecast_times_continue_at_the_data_frequency(freq, expected, tmp_path):
    history = long_series(periods=200, freq=freq, names=("s0",))
    model = forecast.fit(history, lookback=12, horizon=2, model=TINY, trainer=quiet_trainer(tmp_path))
    table = model.predict(history)
    assert list(table["time"]) == list(pd.to_datetime(expected))


def test_probabilistic_model_predicts_quantile_columns(tmp_path):
    history = long_series(names=("s0",))
    model = forecast.fit(
        history,
        lookback=24,
        horizon=4,
        model={**TINY, "loss": QuantileLoss([0.1, 0.5, 0.9])},
        trainer=quiet_trainer(tmp_path),
    )
    table = model.predict(history)
    assert list(table.columns) == ["id", "time", "y", "y_q0.1", "y_q0.5", "y_q0.9"]
    assert (table["y_q0.1"] <= table["y_q0.9"]).all()


def test_missing_future_covariates_are_named(tmp_path):
    history = long_series(names=("s0",)).assign(temp=lambda frame: np.cos(np.arange(len(frame))))
    model = forecast.fit(
        history,
        lookback=24,
        horizon=4,
        data={"future_covariates": ["temp"]},
        model=TINY,
        trainer=quiet_trainer(tmp_path),
    )
    with pytest.raises(ForecastDataError, match="temp"):
        model.predict(history)  # no rows with the horizon's temperatures after the data
    future = pd.DataFrame(
        {"id": "s0", "time": pd.date_range(history["time"].max(), periods=5, freq="h")[1:], "temp": 0.5}
    )
    assert len(model.predict(pd.concat([history, future]))) == 4


def test_predict_needs_a_loaded_model():
    with pytest.raises(ValueError, match="Forecaster.load"):
        Forecaster(lookback=4, horizon=2, input_size=1, target_size=1).predict(long_series())


def test_load_refuses_what_is_not_a_forecast_checkpoint(tmp_path, trained):
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a forecast checkpoint"):
        Forecaster.load(text)
    torch.save({"state_dict": {}}, tmp_path / "weights.ckpt")
    with pytest.raises(ValueError, match=r"it has no \['hyper_parameters', 'forecast_version'\]"):
        Forecaster.load(tmp_path / "weights.ckpt")
    checkpoint = torch.load(next(trained[1].rglob("last.ckpt")), weights_only=True)
    checkpoint["forecast_version"] = "99.0.0"
    torch.save(checkpoint, tmp_path / "future.ckpt")
    with pytest.raises(ValueError, match="written by forecast 99.0.0"):
        Forecaster.load(tmp_path / "future.ckpt")
