"""Evaluation figures against hand computations on tiny frames: reports, backtests and ensembles."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.metrics import HorizonMetrics
from forecast.nn import IdentityEncoder, LastValueHead
from forecast.reports import EvaluationReport, metric_tables
from forecast.trainer import ForecastTrainer


def test_metric_tables_of_one_step_and_one_target_hold_its_cell():
    """torchmetrics squeezes a one-element ``compute()`` to a scalar; the tables keep the (H, C) = (1, 1) cell."""
    metric = HorizonMetrics(horizon=1, target_size=1)
    metric.update(torch.tensor([[[1.0]], [[4.0]]]), torch.tensor([[[2.0]], [[2.0]]]))
    tables = metric_tables({"scaled": metric}, ["y"])
    assert tables["by_horizon"][["target", "step", "mae", "mse"]].values.tolist() == [["all", 1, 1.5, 2.5],
                                                                                       ["y", 1, 1.5, 2.5]]  # fmt: skip
    assert tables["overall"]["mae"] == pytest.approx(1.5)


def test_backtest_of_one_step_ahead_scores_every_window_of_every_series_as_numpy(tmp_path):
    """One target, horizon 1 (a one-step-ahead backtest), two series of different lengths: the report's
    metrics in original units are the means over all windows of the last-value errors."""
    rng = np.random.default_rng(0)
    frame = pd.concat(
        [
            pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"),
                          "y": rng.normal(level, spread, rows).round(2)})
            for name, rows, level, spread in [("A", 40, 10.0, 3.0), ("B", 30, 100.0, 20.0)]
        ],
        ignore_index=True,
    )  # fmt: skip
    data = TimeSeriesDataModule(frame, 4, 1, split=FractionSplit(val=0.2, test=0.3))
    model = Forecaster(lookback=4, horizon=1, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(
        default_root_dir=tmp_path, logger=False, enable_progress_bar=False, callbacks=[EvaluationReport(num_plots=0)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on few batches and workers
        trainer.backtest(model, data, start=-12, stride=3, verbose=False)
    errors = np.concatenate(
        [np.diff(series.to_numpy())[len(series) - 13 :: 3] for _, series in frame.groupby("id")["y"]]
    )  # each window's actual less the value before it, the last-value forecast
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert report["windows"] == len(errors) == 8
    assert report["metrics"]["mae_orig"] == pytest.approx(np.abs(errors).mean())
    assert report["metrics"]["mse_orig"] == pytest.approx(np.square(errors).mean())
