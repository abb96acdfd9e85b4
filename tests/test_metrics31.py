"""The precision of logged metrics: a float64 model's ``val``/``test`` metrics and mean loss keep their float64
digits in the log and in the report, against a numpy float64 mean over the observed values of its own forecasts;
a float32 or bfloat16 model logs float32 means."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LookbackLinearHead
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer

LOOKBACK, HORIZON = 12, 4
_QUIET = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)


@pytest.fixture(autouse=True)
def _no_lightning_notes():
    """Lightning's notes on dataloader workers and on the loaders' lengths."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.fixture
def data() -> TimeSeriesDataModule:
    """120 hourly rows of two seeded channels of unequal levels, with a missing value that the module repairs."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=120, freq="h", name="date")
    frame = pd.DataFrame({"a": 10 + rng.standard_normal(120), "b": 3 * rng.standard_normal(120)}, index=index)
    frame.iloc[100, 1] = np.nan
    return TimeSeriesDataModule(frame, LOOKBACK, HORIZON, split=FractionSplit(), nan_policy="ffill")


def _model(data: TimeSeriesDataModule) -> Forecaster:
    torch.manual_seed(0)
    return Forecaster(LOOKBACK, HORIZON, data.input_size, data.target_size, encoder=IdentityEncoder,
                      head=LookbackLinearHead)  # fmt: skip


def _hand_mse(model: Forecaster, loader) -> float:
    """The mean squared error over every observed scaled target of ``loader``'s windows, in numpy float64, of the
    model's own forecasts (computed in the model's dtype)."""
    errors = []
    with torch.no_grad():
        for batch in loader:
            past, future, static = (part.to(model.dtype) for part in (batch.past, batch.future, batch.static))
            forecast = model.loss.point(model(past, future, static)).double().numpy()
            observed = np.ones(forecast.shape, bool) if batch.observed is None else batch.observed.numpy()
            errors.append((forecast - batch.target.double().numpy())[observed])
    return float(np.mean(np.square(np.concatenate(errors))))


def test_a_float64_models_validation_metrics_and_loss_keep_float64_digits(data):
    """Under ``64-true`` the metrics' float64 sums were logged cast to float32: ``val/mse`` read 1.541620135307312
    where the float64 mean is 1.5416201704981103."""
    model = _model(data)
    trainer = ForecastTrainer(precision="64-true", **_QUIET)
    trainer.validate(model, data, verbose=False)
    expected = _hand_mse(model, data.val_dataloader())
    logged = trainer.callback_metrics
    assert logged["val/mse"].dtype == torch.float64
    assert logged["val/mse"].item() == pytest.approx(expected, rel=1e-13)
    assert logged["val/rmse"].item() == pytest.approx(np.sqrt(expected), rel=1e-13)
    assert logged["val/loss"].dtype == torch.float64  # the MSE loss: the same mean
    assert logged["val/loss"].item() == pytest.approx(expected, rel=1e-13)


def test_a_float64_models_test_metrics_and_report_keep_float64_digits(data, tmp_path):
    """``test/mse`` in the log and ``mse`` in ``metrics.json`` are the float64 mean of the observed test values."""
    model = _model(data).double()
    trainer = ForecastTrainer(default_root_dir=tmp_path, callbacks=[EvaluationReport(num_plots=0)], **_QUIET)
    trainer.test(model, data, verbose=False)
    expected = _hand_mse(model, data.test_dataloader())
    assert trainer.callback_metrics["test/mse"].dtype == torch.float64
    assert trainer.callback_metrics["test/mse"].item() == pytest.approx(expected, rel=1e-13)
    report = json.loads(next(tmp_path.rglob("metrics.json")).read_text())
    assert report["metrics"]["mse"] == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize(("precision", "cast"), [("32-true", None), ("bf16-mixed", None), ("32-true", "bfloat16")])
def test_a_float32_or_bfloat16_model_logs_float32_metrics(data, precision, cast):
    """Only a float64 model's means are wider: the others' stay float32, a float32 model's the float64 hand mean
    rounded to float32."""
    model = _model(data) if cast is None else getattr(_model(data), cast)()
    trainer = ForecastTrainer(precision=precision, **_QUIET)
    trainer.validate(model, data, verbose=False)
    logged = trainer.callback_metrics
    assert {logged[name].dtype for name in ("val/mse", "val/mae", "val/loss")} == {torch.float32}
    if precision == "32-true" and cast is None:
        assert logged["val/mse"].item() == np.float32(_hand_mse(model, data.val_dataloader()))
