"""Edge cases of ``backtest``: what a checkpoint was fitted on, against the rows its windows forecast."""

import datetime
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.backtest import backtest_windows, fitted_rows
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LookbackLinearHead
from forecast.trainer import ForecastTrainer


def _frame(rows: int = 200, zone: str | None = None) -> pd.DataFrame:
    """``rows`` hourly rows of one noisy curve."""
    steps = np.arange(rows)
    values = 10 + np.sin(steps / 4) + 0.1 * np.random.default_rng(0).standard_normal(rows)
    return pd.DataFrame({"a": values}, index=pd.date_range("2024-01-01", periods=rows, freq="h", tz=zone))


def _checkpoint(frame: pd.DataFrame, root: Path) -> tuple[Forecaster, str]:
    """A linear model fitted for one batch on ``frame`` under the default 70/10/20 split, and its checkpoint."""
    data = TimeSeriesDataModule(frame, 24, 6, split=FractionSplit(), batch_size=256)
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, encoder=IdentityEncoder,
                       head=LookbackLinearHead)  # fmt: skip
    trainer = L.Trainer(default_root_dir=root, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        max_epochs=1, limit_train_batches=1, limit_val_batches=1)  # fmt: skip
    trainer.fit(model, data)
    return model, trainer.checkpoint_callback.best_model_path


def _in_sample_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(warning.message) for warning in caught if "in-sample" in str(warning.message)]


def test_backtest_of_a_checkpoint_warns_of_its_training_rows_under_another_split(tmp_path):
    """The checkpoint trained, and fitted its scalers, on rows 0-139 (70% of 200). A backtest of it under a
    split with a longer test part (from row 100) forecasts rows 100-139 in-sample: the warning must say so,
    whatever training rows the backtest's own split would have; from row 140 on, nothing to warn of."""
    frame = _frame()
    model, checkpoint = _checkpoint(frame, tmp_path / "fit")
    data = TimeSeriesDataModule(frame, 24, 6, split=FractionSplit(val=0.1, test=0.5))  # trains on rows 0-79
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.backtest(model, data, ckpt_path=checkpoint, verbose=False)  # from the test part's row 100
    (message,) = _in_sample_warnings(caught)
    assert "from row 100 forecast rows of its training part (rows before 140)" in message
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.backtest(model, data, ckpt_path=checkpoint, start=140, verbose=False)
    assert not _in_sample_warnings(caught)


@pytest.mark.parametrize("zone", [None, "Europe/Berlin"])
def test_fitted_rows_of_a_checkpoint_are_found_by_time_in_data_that_start_elsewhere(zone):
    """A checkpoint trained on rows 20-199 of a frame (its first 125 rows its training part) was fitted on the
    first 145 rows of the whole frame, and on none of a series it never saw."""
    frame = _frame(zone=zone)
    trained = TimeSeriesDataModule(frame.iloc[20:], 24, 6, split=FractionSplit())
    trained.setup("fit")
    state = trained.state_dict()
    assert state["borders"][0][0] == 125  # the precondition
    data = TimeSeriesDataModule(frame, 24, 6, split=FractionSplit())
    data.load_state_dict(state)
    assert fitted_rows(data, state).tolist() == [145]
    assert fitted_rows(data, state | {"series": ["another"]}).tolist() == [0]


def test_backtest_with_refits_returns_and_logs_the_loss_over_all_windows(tmp_path):
    """A backtest returns the test metrics of all its windows, ``test/loss`` among them as ``test`` gives it,
    with refits too (it was missing there). Under the MSE loss, the loss over all refits' windows, each
    weighed by the targets it scored, is their MSE, scaled units (each refit's own)."""
    data = TimeSeriesDataModule(_frame(), 24, 6, split=FractionSplit(), batch_size=256)
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, encoder=IdentityEncoder,
                       head=LookbackLinearHead)  # fmt: skip
    trainer = ForecastTrainer(default_root_dir=tmp_path, enable_progress_bar=False, enable_model_summary=False,
                              max_epochs=1, limit_train_batches=1, limit_val_batches=1)  # fmt: skip
    (metrics,) = trainer.backtest(model, data, start=120, stride=7, num_windows=3, refit_every=2, verbose=False)
    assert metrics["test/loss"] == pytest.approx(metrics["test/mse"], rel=1e-5)
    (logged,) = tmp_path.glob("lightning_logs/version_0/metrics.csv")
    row = pd.read_csv(logged).dropna(subset=["test/mse"]).iloc[0]
    assert row["test/loss"] == pytest.approx(metrics["test/loss"], rel=1e-6)


def test_backtest_start_may_be_a_timestamp_as_well_as_text():
    """In Python a pandas Timestamp (or datetime) is the natural time to give; it failed with "'<' not supported
    between instances of 'Timestamp' and 'int'". It is read as its text is: in the data's time zone unless it
    has one, and refused with one where the data's times have none."""
    frame = _frame(100, zone="Europe/Berlin")
    data = TimeSeriesDataModule(frame, 6, 3)
    for start in (pd.Timestamp("2024-01-03 00:00"), pd.Timestamp("2024-01-02 23:00", tz="UTC")):
        assert backtest_windows(data, start, stride=3, num_windows=2).first.tolist() == [48]
    naive = TimeSeriesDataModule(_frame(100), 6, 3)
    assert backtest_windows(naive, pd.Timestamp("2024-01-03").to_pydatetime(), num_windows=1).first.tolist() == [48]
    with pytest.raises(ValueError, match="the data's times have none"):
        backtest_windows(naive, pd.Timestamp("2024-01-03", tz="UTC"))


def test_backtest_start_may_be_a_date_or_a_numpy_datetime():
    """A ``datetime.date`` failed with "'<' not supported between instances of 'datetime.date' and 'int'", a
    ``np.datetime64`` with a UFuncTypeError; both are the times their text names."""
    data = TimeSeriesDataModule(_frame(100, zone="Europe/Berlin"), 6, 3)
    for start in (datetime.date(2024, 1, 3), np.datetime64("2024-01-03")):
        assert backtest_windows(data, start, stride=3, num_windows=2).first.tolist() == [48]


@pytest.mark.parametrize("start", [48.5, True])
def test_backtest_start_of_no_whole_row_is_refused_naming_the_option(start):
    """48.5 was cut to row 48 and True read as row 1, in silence."""
    data = TimeSeriesDataModule(_frame(100), 6, 3)
    with pytest.raises(ValueError, match=rf"--start {start!r} is neither a row nor a time"):
        backtest_windows(data, start, num_windows=1)


def test_backtest_start_time_too_late_names_the_time_it_was_read_as():
    """Data read from a CSV of local times with two UTC offsets are in UTC: a local --start reads an hour or two
    later there, and the message named only a row."""
    frame = _frame(30).tz_localize("UTC")
    data = TimeSeriesDataModule(frame, 6, 3)
    message = r"first forecast step \(--start read as 2024-01-02 04:00:00\+00:00 in the time zone of the data, UTC\)"
    with pytest.raises(ForecastDataError, match=message):
        backtest_windows(data, "2024-01-02 04:00", num_windows=1)
