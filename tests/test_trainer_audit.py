"""A model and a data module built apart in Python: the trainer refuses windows the model was not built for."""

import functools

import pytest

from forecast import Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LastValueHead
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer


def _trainer() -> ForecastTrainer:
    return ForecastTrainer(
        logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False, max_epochs=1
    )


@pytest.fixture
def data(wide_frame) -> TimeSeriesDataModule:
    """Windows of lookback 12 and horizon 4 over three channels."""
    return TimeSeriesDataModule(wide_frame, lookback=12, horizon=4, split=FractionSplit(), batch_size=16)


@pytest.mark.parametrize("entry", ["fit", "validate", "test"])
def test_trainer_refuses_a_model_of_another_lookback(data, entry):
    model = Forecaster(lookback=24, horizon=4, input_size=3, target_size=3)
    with pytest.raises(
        ValueError, match=r"lookback=24, but the data module gives lookback=12.*lookback=data\.lookback"
    ):
        getattr(_trainer(), entry)(model, datamodule=data)


@pytest.mark.parametrize("entry", ["fit", "validate", "test"])
def test_trainer_refuses_a_model_of_another_horizon(data, entry):
    model = Forecaster(lookback=12, horizon=6, input_size=3, target_size=3)
    with pytest.raises(ValueError, match=r"horizon=6, but the data module gives horizon=4.*horizon=data\.horizon"):
        getattr(_trainer(), entry)(model, datamodule=data)


def test_trainer_refuses_a_model_of_other_channel_sizes(data):
    model = Forecaster(lookback=12, horizon=4, input_size=2, target_size=2)
    with pytest.raises(ValueError, match=r"input_size=2, target_size=2, but the data module gives input_size=3, "):
        _trainer().test(model, datamodule=data)


@pytest.mark.parametrize("refit_every", [None, 1])
def test_backtest_refuses_a_model_of_another_lookback(data, refit_every):
    model = Forecaster(lookback=24, horizon=4, input_size=3, target_size=3)
    with pytest.raises(ValueError, match=r"lookback=24, but the data module gives lookback=12"):
        _trainer().backtest(model, data, refit_every=refit_every, verbose=False)


def test_backtest_refuses_a_model_of_another_horizon(data):
    model = Forecaster(lookback=12, horizon=6, input_size=3, target_size=3)
    with pytest.raises(ValueError, match=r"horizon=6, but the data module gives horizon=4"):
        _trainer().backtest(model, data, verbose=False)


def test_trainer_tests_a_model_of_the_data_modules_windows(data):
    model = Forecaster(lookback=data.lookback, horizon=data.horizon, input_size=3, target_size=3)
    (metrics,) = _trainer().test(model, datamodule=data, verbose=False)
    assert metrics["test/mse"] > 0


def test_backtest_takes_one_callback_as_lightning_does(data, tmp_path):
    """``callbacks`` may be one callback, not a list (``lightning.Trainer`` takes both): its settings apply."""
    model = Forecaster(lookback=12, horizon=4, input_size=3, target_size=3)
    trainer = ForecastTrainer(
        logger=False, enable_progress_bar=False, default_root_dir=tmp_path, callbacks=EvaluationReport(num_plots=0)
    )
    (metrics,) = trainer.backtest(model, data, verbose=False)
    assert metrics["test/mse"] > 0
    assert (tmp_path / "forecasts.csv").is_file() and not (tmp_path / "forecast.png").exists()


def test_a_baseline_reads_windows_of_any_lookback(data):
    """A model without parameters reads whatever window it is given: the last value of lookback 24 on the
    data's 12-step windows forecasts as one of lookback 12."""
    baseline = functools.partial(Forecaster, horizon=4, input_size=3, target_size=3, encoder=IdentityEncoder)
    longer = _trainer().test(baseline(lookback=24, head=LastValueHead), datamodule=data, verbose=False)
    own = _trainer().test(baseline(lookback=12, head=LastValueHead), datamodule=data, verbose=False)
    assert longer == own


def test_trainer_refuses_a_baseline_of_another_horizon(data):
    model = Forecaster(lookback=12, horizon=6, input_size=3, target_size=3, encoder=IdentityEncoder, head=LastValueHead)
    with pytest.raises(ValueError, match=r"horizon=6, but the data module gives horizon=4"):
        _trainer().test(model, datamodule=data)
