"""fit against the naive forecasts on validation: the last value and the seasonal naive."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast.cli import main
from forecast.comparison import naive_forecasts
from forecast.data import FractionSplit
from forecast.data.datamodule import TimeSeriesDataModule

ROOT = Path(__file__).resolve().parents[1]


def test_naive_forecasts_repeat_the_last_value_and_the_last_season(wide_frame):
    data = TimeSeriesDataModule(wide_frame, lookback=24, horizon=6, split=FractionSplit())
    data.setup("validate")
    batch = next(iter(data.val_dataloader()))
    forecasts = naive_forecasts(batch, period=4)
    past = batch.past[..., :3].numpy()
    np.testing.assert_array_equal(forecasts["last value"].numpy(), np.repeat(past[:, -1:], 6, axis=1))
    season = past[:, [20, 21, 22, 23, 20, 21]]  # the last 4 steps, then again from their start
    np.testing.assert_array_equal(forecasts["seasonal naive (4 steps)"].numpy(), season)
    assert list(naive_forecasts(batch, period=25)) == ["last value"]  # a season longer than the lookback


def test_fit_on_a_random_walk_says_the_last_value_beats_the_mean(tmp_path, tiny_cli):
    """A lookback mean lags a random walk; the last value is its best forecast, and fit says so."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=2000, freq="h", name="date")
    pd.DataFrame({"walk": rng.standard_normal(2000).cumsum()}, index=index).to_csv(tmp_path / "walk.csv")
    config = ROOT / "configs/etth1/lookback_mean.yaml"
    with pytest.warns(UserWarning, match="the last value wins; the model loses to a naive forecast"):
        cli = main(["fit", "--config", str(config), *tiny_cli(str(tmp_path / "walk.csv"), tmp_path),
                    "--trainer.max_epochs", "1", "--trainer.logger", "false"])  # fmt: skip
    scores = json.loads((tmp_path / "naive_comparison.json").read_text())["val_mse"]
    data = cli.datamodule
    windows = data.dataset("val").__getitems__(list(range(len(data.dataset("val")))))
    last = windows.past[:, -1:, :1].expand_as(windows.target)
    assert scores["last value"] == pytest.approx(float((last - windows.target).square().mean()), rel=1e-6)
    assert scores["model"] > scores["last value"] and "seasonal naive (24 steps)" in scores
    assert scores["model"] == pytest.approx(float(cli.trainer.callback_metrics["val/mse"]), rel=1e-6)
    assert torch.isfinite(torch.tensor(list(scores.values()))).all()
