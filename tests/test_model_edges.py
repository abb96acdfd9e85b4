"""Edge cases of the Forecaster as a Lightning user meets them: fitting a trained model further, schedules."""

import functools

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.data import RowSplit
from forecast.data.options import Calendar
from forecast.nn import ResidualCycle


@pytest.fixture
def hourly_season() -> TimeSeriesDataModule:
    """120 hourly rows of a daily sine, with each row's hour as the integer calendar feature ``season``."""
    index = pd.date_range("2024-01-01", periods=120, freq="h", name="date")
    frame = pd.DataFrame({"y": np.sin(np.arange(120) * 2 * np.pi / 24)}, index=index)
    season = Calendar(features=["season"], encoding="integer")
    return TimeSeriesDataModule(frame, 24, 6, calendar=season, split=RowSplit(80, 100), batch_size=8)


def quiet_trainer(**options) -> L.Trainer:
    return L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                     **options)  # fmt: skip


def test_a_further_fit_keeps_the_cycle_a_model_has_learned(hourly_season):
    """Fit starts a cycle at the data's seasonal profile only while it is still zero: fitting a trained (or loaded)
    model further overwrote its learned cycle with the profile, while its other weights were kept."""
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, future_size=1, season_channel=0,
                       season_length=24, cycle=ResidualCycle,
                       optimizer=functools.partial(torch.optim.SGD, lr=0.0))  # fmt: skip
    learned = torch.linspace(-1.0, 1.0, 24)[:, None]  # -> (period, C_out), as a first fit left it
    with torch.no_grad():
        model.cycle.values.copy_(learned)
    quiet_trainer(max_steps=1, limit_val_batches=0).fit(model, hourly_season)
    torch.testing.assert_close(model.cycle.values.detach(), learned, rtol=0, atol=0)


@pytest.mark.parametrize(
    ("interval", "trainer_options", "fit_length"),
    [("step", {"max_steps": 6}, "up to 6 optimizer steps"), ("epoch", {"max_epochs": 5}, "up to 5 epochs")],
)
def test_a_one_cycle_schedule_shorter_than_the_fit_is_refused_before_training(
    interval, trainer_options, fit_length, hourly_season
):
    """OneCycleLR stepped beyond its total_steps raises: the fit stopped midway with torch's "Tried to step 5 times.
    The specified number of total steps is 4", which names no config key; now it is refused before the first step."""
    schedule = functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.01, total_steps=4)
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, future_size=1, lr_scheduler=schedule,
                       lr_scheduler_interval=interval)  # fmt: skip
    trainer = quiet_trainer(limit_val_batches=0, **trainer_options)
    with pytest.raises(ValueError, match=rf"total_steps=4 ends before this fit of {fit_length}.*init_args.total_steps"):
        trainer.fit(model, hourly_season)
    assert trainer.global_step == 0


def test_a_one_cycle_schedule_as_long_as_the_fit_runs_to_its_end(hourly_season):
    schedule = functools.partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=0.01, total_steps=4)
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, future_size=1, lr_scheduler=schedule,
                       lr_scheduler_interval="step")  # fmt: skip
    trainer = quiet_trainer(max_steps=4, limit_val_batches=0)
    trainer.fit(model, hourly_season)
    assert trainer.global_step == 4


def test_a_plateau_scheduler_on_val_loss_steps_after_each_validation_when_fit_validates_every_other_epoch(
    hourly_season,
):
    """Lightning stepped it after the first epoch, which has no val/loss yet, and stopped the fit with
    "ReduceLROnPlateau conditioned on metric val/loss which is not available"; now it steps after each validation."""
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, future_size=1,
                       lr_scheduler=torch.optim.lr_scheduler.ReduceLROnPlateau)  # fmt: skip
    trainer = quiet_trainer(max_epochs=4, check_val_every_n_epoch=2, limit_train_batches=1, limit_val_batches=1)
    trainer.fit(model, hourly_season)
    assert trainer.current_epoch == 4
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == 2  # one step per validation
