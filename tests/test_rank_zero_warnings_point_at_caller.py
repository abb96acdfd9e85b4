"""Each warning that one process gives for all (``forecast.errors.warn_on_rank_zero``) names the user's line
(here: this file), so that a user can find it and filter it by their own module.

Lightning's ``rank_zero_warn`` took a fixed ``stacklevel``: each of these warnings named the line of forecast
that gave it, whichever call led there.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.cli import main
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LastValueHead, LookbackLinearHead
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer

ROOT = Path(__file__).resolve().parents[1]


def filenames(caught, text: str) -> list[Path]:
    """The file each caught warning that says ``text`` names (Lightning warns of other things too)."""
    return [Path(warning.filename) for warning in caught if text in str(warning.message)]


def last_value(data: TimeSeriesDataModule) -> Forecaster:
    """A parameter-free forecaster of ``data``'s windows: nothing to train before a test or backtest."""
    return Forecaster(
        lookback=data.lookback,
        horizon=data.horizon,
        input_size=data.input_size,
        target_size=data.target_size,
        encoder=IdentityEncoder,
        head=LastValueHead,
    )


def trainer(root: Path, **settings) -> ForecastTrainer:
    return ForecastTrainer(default_root_dir=root, logger=False, enable_progress_bar=False, **settings)


def test_a_csv_of_several_utc_offsets_warns_at_the_callers_line(tmp_path):
    index = pd.date_range("2024-03-30", periods=48, freq="h", tz="Europe/Berlin", name="date")
    pd.DataFrame({"x": np.arange(48.0)}, index=index).to_csv(tmp_path / "tz.csv")  # +01:00, then +02:00
    with pytest.warns(UserWarning, match=r"column 'date' holds times of several UTC offsets") as caught:
        TimeSeriesDataModule(str(tmp_path / "tz.csv"), lookback=8, horizon=4)
    assert filenames(caught, "several UTC offsets") == [Path(__file__)]


def test_a_csv_with_the_index_to_csv_writes_warns_at_the_callers_line(tmp_path):
    times = pd.date_range("2024-01-01", periods=24, freq="h")
    pd.DataFrame({"time": times, "y": np.arange(24.0)}).to_csv(tmp_path / "sales.csv")  # and row numbers first
    with pytest.warns(UserWarning, match=r"sales.csv': leaving out its first column, whose header is empty") as caught:
        TimeSeriesDataModule(str(tmp_path / "sales.csv"), lookback=4, horizon=2)
    assert filenames(caught, "leaving out its first column") == [Path(__file__)]


def test_a_backtest_of_training_rows_warns_at_the_callers_line(wide_csv, tmp_path):
    """Rows 0-139 of 200 train (FractionSplit): windows from row 100 forecast rows the scalers were fitted on."""
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6, split=FractionSplit())
    with pytest.warns(UserWarning, match=r"from row 100 forecast rows of its training part") as caught:
        trainer(tmp_path).backtest(last_value(data), data, start=100, num_windows=1, verbose=False)
    assert filenames(caught, "training part") == [Path(__file__)]


def test_refitting_a_trained_model_warns_at_the_callers_line(wide_frame, tmp_path):
    """The warning comes before the refits; a start too early for the first refit then stops the backtest."""
    data = TimeSeriesDataModule(wide_frame[["a"]], lookback=24, horizon=6, split=FractionSplit(), batch_size=64)
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, encoder=IdentityEncoder,
                       head=LookbackLinearHead)  # fmt: skip
    fitted = trainer(tmp_path, enable_model_summary=False, enable_checkpointing=False, max_steps=1,
                     limit_val_batches=1, num_sanity_val_steps=0)  # fmt: skip
    fitted.fit(model, data)
    with pytest.warns(UserWarning, match=r"model as given, which has taken 1 training steps") as caught:
        with pytest.raises(ForecastDataError, match="choose a later --start"):
            fitted.backtest(model, data, start=40, num_windows=1, refit_every=1)
    assert filenames(caught, "training steps") == [Path(__file__)]


def test_a_report_without_matplotlib_warns_at_the_callers_line(wide_csv, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # importlib.util.find_spec finds no such module
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6, split=FractionSplit())
    tester = trainer(tmp_path, callbacks=[EvaluationReport(num_plots=1)], limit_test_batches=1)
    with pytest.warns(UserWarning, match="report: no plots without matplotlib") as caught:
        tester.test(last_value(data), datamodule=data, verbose=False)
    assert filenames(caught, "without matplotlib") == [Path(__file__)]


def test_a_fit_that_loses_to_a_naive_forecast_warns_at_the_line_that_ran_the_cli(tmp_path, tiny_cli):
    """A lookback mean lags a random walk, whose last value is its best forecast."""
    index = pd.date_range("2024-01-01", periods=400, freq="h", name="date")
    walk = np.random.default_rng(0).standard_normal(400).cumsum()
    pd.DataFrame({"walk": walk}, index=index).to_csv(tmp_path / "walk.csv")
    config = str(ROOT / "configs/etth1/lookback_mean.yaml")
    args = ["fit", "--config", config, *tiny_cli(tmp_path / "walk.csv", tmp_path), "--trainer.max_epochs", "1",
            "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1",
            "--trainer.logger", "false"]  # fmt: skip
    with pytest.warns(UserWarning, match="the model loses to a naive forecast on validation") as caught:
        main(args)
    assert filenames(caught, "naive forecast") == [Path(__file__)]


def test_validating_untrained_weights_warns_at_the_line_that_ran_the_cli(wide_csv, tmp_path, tiny_cli):
    args = ["validate", "--config", str(ROOT / "configs/etth1/linear.yaml"), *tiny_cli(wide_csv, tmp_path),
            "--trainer.logger", "false", "--trainer.limit_val_batches", "1"]  # fmt: skip
    with pytest.warns(UserWarning, match="validate without --ckpt_path evaluates untrained weights") as caught:
        main(args)
    assert filenames(caught, "untrained weights") == [Path(__file__)]
