"""Tests that fail under small, realistic mutations of the core that the rest of the suite let pass."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.backtest import backtest_windows
from forecast.comparison import NaiveComparison
from forecast.data import FractionSplit
from forecast.nn import InstanceNormalization


def hourly(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"y": values}, index=pd.date_range("2024-01-01", periods=len(values), freq="h"))


def test_interpolated_inputs_after_a_series_only_value_in_row_zero_take_that_value():
    """Row 0 is the only value given before a window's origin and the gap after it ends after the origin:
    the window's inputs all take row 0's value (the series as if it ended at the origin), not values drawn
    towards the later rows that ``interpolate`` would fill the gap from."""
    y = 10 + np.arange(200, dtype=float) ** 2 / 10
    y[1:16] = np.nan  # row 0 given; rows 1..15 missing; the next value given is row 16, after the origin 12
    data = TimeSeriesDataModule(hourly(y), 12, 4, nan_policy="interpolate")
    data.setup("fit")
    dataset = data.dataset("train")
    batch = dataset.__getitems__([int(dataset.index_of(np.array([0]), np.array([12]))[0])])
    inputs = batch.to_original(batch.past[:, :, :1])[0, :, 0].numpy()
    np.testing.assert_allclose(inputs, np.full(12, y[0]), rtol=1e-5)


def test_the_model_mse_reported_for_a_tied_best_score_is_the_first_such_epochs(tmp_path):
    """Two epochs tie on the checkpoint's monitored value: ModelCheckpoint replaces its best only on a strictly
    better value (``torch.lt`` under ``mode="min"``), so it keeps the first epoch's network, and the report gives
    that epoch's validation MSE."""
    comparison = NaiveComparison()
    comparison.epochs = [(0.25, 0.35), (0.25, 0.5)]  # (monitored, val/mse) per epoch
    comparison.naive, comparison.periods = {"last value": 0.4}, {"last value": 1}
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val/loss", mode="min")
    checkpoint.best_model_score = torch.tensor(0.25)
    trainer = SimpleNamespace(checkpoint_callback=checkpoint, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq="h", lookback=24))  # fmt: skip
    comparison.on_fit_end(trainer, None)
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert (report["val_mse"]["model"], report["winner"]) == (0.35, "model")


def test_a_default_backtest_start_where_no_series_has_a_test_window_is_refused():
    """With no ``--start`` the backtest starts at each series' test part; where no series' test part holds a
    horizon of rows, there is no window at all, and the user reads why and the fix instead of an empty backtest."""
    frame = hourly(np.sin(np.arange(200) / 3))
    data = TimeSeriesDataModule(frame, 12, 6, split=FractionSplit(0.1, 0.02))  # a test part of 4 rows
    with pytest.raises(ForecastDataError, match="row 196 .* leaves fewer than horizon 6 rows .* choose an earlier"):
        backtest_windows(data)


def test_revin_with_a_tiny_negative_weight_maps_forecasts_back_in_the_windows_orientation():
    """A RevIN weight trained to a tiny negative value (within ``eps**2`` of zero) is taken as ``-eps**2`` when
    inverting: mapping the normalized window back gives ``(x - mean) * w / -eps**2 + mean``, a positive factor,
    so a forecast above the window's level stays above it (``+eps**2`` would mirror it about the mean)."""
    past = torch.tensor([[[1.0], [4.0], [2.0], [7.0]]])  # (B=1, L=4, C=1)
    norm = InstanceNormalization(1, eps=1e-5)
    with torch.no_grad():
        norm.weight.fill_(-1e-12)
    normalized, (loc, scale) = norm(past, 1)
    back = (normalized * scale + loc)[0, :, 0].detach().numpy()
    window = past[0, :, 0].numpy()
    expected = (window - window.mean()) * (-1e-12 / -1e-10) + window.mean()
    np.testing.assert_allclose(back, expected, rtol=1e-4)
