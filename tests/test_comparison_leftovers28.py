"""naive_comparison.json stays standard JSON when the network's validation MSE is NaN."""

import json
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import TimeSeriesDataModule
from forecast.comparison import NaiveComparison
from forecast.data import FractionSplit
from forecast.losses import MSELoss


def _refuse_constant(name: str) -> None:
    pytest.fail(f"naive_comparison.json holds {name}, which only Python's json reads")


def test_a_nan_validation_mse_is_written_as_null_in_standard_json(tmp_path):
    times = pd.date_range("2024-01-01", periods=200, freq="h")
    frame = pd.DataFrame({"y": np.sin(np.arange(200) * 2 * np.pi / 24)}, index=times)
    data = TimeSeriesDataModule(frame, lookback=24, horizon=6, split=FractionSplit())
    data.setup("fit")
    comparison = NaiveComparison()
    comparison.setup(SimpleNamespace(checkpoint_callbacks=[]), SimpleNamespace(loss=MSELoss()), "fit")
    nan = torch.tensor(float("nan"))
    trainer = SimpleNamespace(
        sanity_checking=False,
        state=SimpleNamespace(fn="fit"),
        datamodule=data,
        callback_metrics={"val/mse": nan, "val/loss": nan},
        checkpoint_callback=None,
        strategy=SimpleNamespace(reduce=lambda sums, reduce_op: sums),
        log_dir=str(tmp_path),
        is_global_zero=True,
    )
    comparison.on_validation_epoch_start(trainer, None)
    for index, batch in enumerate(data.val_dataloader()):
        comparison.on_validation_batch_end(trainer, None, None, batch, index)
    comparison.on_validation_end(trainer, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        comparison.on_fit_end(trainer, None)
    report = json.loads((tmp_path / "naive_comparison.json").read_text(), parse_constant=_refuse_constant)
    assert report["val_mse"]["model"] is None
    naive = {name: mse for name, mse in report["val_mse"].items() if name != "model"}
    assert report["winner"] == min(naive, key=naive.get) and all(isinstance(mse, float) for mse in naive.values())
