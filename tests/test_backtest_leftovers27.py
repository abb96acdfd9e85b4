"""Backtest starts outside the data, the naive comparison of a validation part without observed targets, and refits
after a fit, against hand-computed times, the data module's own repairs and a backtest without that fit."""

import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from forecast import ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.backtest import backtest_windows
from forecast.comparison import NaiveComparison
from forecast.data import FractionSplit
from forecast.losses import MSELoss
from forecast.nn import IdentityEncoder, LookbackLinearHead
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer

QUIET = {"enable_progress_bar": False, "enable_model_summary": False}


def _series(starts: dict[str, str], rows: dict[str, int], freq: str = "h") -> pd.DataFrame:
    """Long data: per series a smooth curve of ``rows[name]`` steps of ``freq`` from ``starts[name]``."""
    parts = [
        pd.DataFrame({"id": name, "time": pd.date_range(start, periods=rows[name], freq=freq),
                      "y": 10 + np.sin(np.arange(rows[name]) / 3)})
        for name, start in starts.items()
    ]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _named_time(pattern: str, message: str) -> pd.Timestamp:
    """The time the message gives after ``pattern``."""
    return pd.Timestamp(re.search(pattern + r" (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", message).group(1))


@pytest.mark.parametrize("start", ["2030-01-01", "2024-01-09 02:00"])
def test_a_start_after_the_data_names_its_last_time_and_the_latest_start_that_works(start):
    """A start years after the data built the range of every hour up to it before naming a row number in the
    millions; the message named neither the data's last time nor a start that works. Two series end at other times:
    the latest start that leaves both a window is the earlier end's, less the horizon."""
    frame = _series({"A": "2024-01-01", "B": "2024-01-01 05:00"}, {"A": 200, "B": 150})  # A ends 01-09 07:00
    data = TimeSeriesDataModule(frame, 24, 6)
    with pytest.raises(ForecastDataError, match="choose an earlier --start") as raised:
        backtest_windows(data, start)
    message = str(raised.value)
    ends = frame.groupby("id")["time"].max()  # B ends 2024-01-07 10:00
    assert all(int(row) < 200 for row in re.findall(r"row (\d+)", message))  # no row counted past the data
    assert _named_time("has targets until", message) in set(ends)
    latest = _named_time("choose an earlier --start:", message)
    assert latest == ends.min() - pd.Timedelta(hours=5)  # the first of the last 6 rows of B
    assert backtest_windows(data, str(latest), num_windows=1).counts.tolist() == [1, 1]
    with pytest.raises(ForecastDataError, match="choose an earlier --start"):
        backtest_windows(data, str(latest + pd.Timedelta(hours=1)), num_windows=1)


def test_the_latest_start_that_works_leaves_room_for_num_windows():
    frame = _series({"A": "2024-01-01"}, {"A": 100})  # ends 2024-01-05 03:00
    data = TimeSeriesDataModule(frame, 24, 6)
    with pytest.raises(ForecastDataError, match="3 windows 4 rows apart in every series") as raised:
        backtest_windows(data, "2024-02-01", stride=4, num_windows=3)
    latest = _named_time("choose an earlier --start:", str(raised.value))
    assert latest == pd.Timestamp("2024-01-05 03:00") - pd.Timedelta(hours=5 + 2 * 4)
    assert backtest_windows(data, str(latest), stride=4, num_windows=3).counts.tolist() == [3]


@pytest.mark.parametrize("start", ["2023-06-01", "2024-01-01 10:00"])
def test_a_start_before_the_lookback_names_the_first_time_and_the_earliest_start_that_works(start):
    """The message named rows (row 0, row 24 or later) for a start given as a time, and not the data's first time."""
    frame = _series({"A": "2024-01-01", "B": "2024-01-01 05:00"}, {"A": 200, "B": 150})
    data = TimeSeriesDataModule(frame, 24, 6)
    with pytest.raises(ForecastDataError, match="needs lookback 24 rows before it; choose a later --start") as raised:
        backtest_windows(data, start)
    message = str(raised.value)
    assert _named_time("begins at", message) == pd.Timestamp("2024-01-01")
    earliest = _named_time("choose a later --start:", message)
    assert earliest == pd.Timestamp("2024-01-02 05:00")  # row 24 of B, which begins last
    assert backtest_windows(data, str(earliest), num_windows=1).first.tolist() == [29, 24]


def _unobserved_validation() -> TimeSeriesDataModule:
    """Hourly data whose validation part (rows 140 to 160 under FractionSplit) is missing, repaired by ffill."""
    values = 10 + np.sin(np.arange(200) / 3)
    values[125:175] = np.nan
    frame = pd.DataFrame({"y": values}, index=pd.date_range("2024-01-01", periods=200, freq="h"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the repairs' count
        data = TimeSeriesDataModule(frame, 24, 6, split=FractionSplit(), nan_policy="ffill", batch_size=256)
        data.setup("validate")
    return data


@pytest.mark.parametrize("fallback", [True, False])
def test_a_validation_part_without_observed_targets_compares_nothing_and_says_so(tmp_path, fallback):
    """Every validation target missing: the naive MSEs were 0 / 0, the log read "model nan; last value nan ...: the
    last value wins", fallback made the checkpoints forecast the last value on that NaN, and naive_comparison.json
    held NaN, which is no JSON."""
    data = _unobserved_validation()
    (batch,) = data.val_dataloader()
    assert not batch.observed.any()  # the precondition: the repairs score nothing
    comparison = NaiveComparison(fallback=fallback)
    comparison.setup(SimpleNamespace(checkpoint_callbacks=[]), SimpleNamespace(loss=MSELoss()), "fit")
    nan = torch.tensor(float("nan"))  # the model's val/mse (and val/loss) over no observed target
    trainer = SimpleNamespace(sanity_checking=False, state=SimpleNamespace(fn="fit"), datamodule=data,
                              callback_metrics={"val/mse": nan, "val/loss": nan}, checkpoint_callback=None,
                              strategy=SimpleNamespace(reduce=lambda sums, reduce_op: sums),
                              log_dir=str(tmp_path), is_global_zero=True)  # fmt: skip
    comparison.on_validation_epoch_start(trainer, None)
    comparison.on_validation_batch_end(trainer, None, None, batch, 0)
    comparison.on_validation_end(trainer, None)
    checkpoint = {}
    comparison.on_save_checkpoint(trainer, None, checkpoint)
    assert checkpoint.get("naive_fallback") is None
    with pytest.warns(UserWarning, match="no naive comparison: the validation windows hold no observed target") as said:
        comparison.on_fit_end(trainer, None)
    assert not [warning for warning in said if re.search(r"\bnan\b", str(warning.message), re.IGNORECASE)]
    report = json.loads((tmp_path / "naive_comparison.json").read_text(), parse_constant=pytest.fail)
    assert report == {"val_mse": {}, "winner": None, "fallback": None, "margin": 0.0}


def _sine(rows: int = 200) -> pd.DataFrame:
    return pd.DataFrame({"y": 10 + np.sin(np.arange(rows) / 3)}, index=pd.date_range("2024-01-01", periods=rows,
                                                                                     freq="h"))  # fmt: skip


def _linear() -> Forecaster:
    return Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, encoder=IdentityEncoder,
                      head=LookbackLinearHead)  # fmt: skip


def _checkpoints(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.glob("*.ckpt"))


def _refit_checkpoints(root: Path) -> tuple[list[str], list[str]]:
    """The files the trainer's fit keeps, and those a backtest's one refit (before row 150) after it keeps; every fit
    one epoch of one batch, so that the refit's epoch ends at the step the fit's checkpoint was saved at."""
    data = TimeSeriesDataModule(_sine(), 24, 6, split=FractionSplit(), batch_size=256)
    callbacks = [ModelCheckpoint(monitor="val/loss", save_last=True), EvaluationReport(num_plots=0)]
    trainer = ForecastTrainer(default_root_dir=root, logger=False, max_epochs=1, callbacks=callbacks, **QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        trainer.fit(_linear(), data)
        trainer.backtest(_linear(), data, start=150, num_windows=1, refit_every=1, verbose=False)
    return _checkpoints(root / "checkpoints"), _checkpoints(root / "refits" / "origin_0" / "checkpoints")


def test_a_refit_after_the_trainers_own_fit_keeps_the_checkpoints_of_a_fresh_model_checkpoint(tmp_path):
    """What a ModelCheckpoint records of a fit (its best files and scores, the step it last saved at) must not reach a
    refit's copy: a copy that kept the step skipped saving the refit's epoch that ended there, and so its best file;
    one that kept the fit's ``last.ckpt`` as its last file would delete it. A fresh ModelCheckpoint of one epoch keeps
    that epoch's file and ``last.ckpt``, the fit's as the refit's."""
    fitted, refitted = _refit_checkpoints(tmp_path)
    assert fitted == refitted == ["epoch=0-step=1.ckpt", "last.ckpt"]
