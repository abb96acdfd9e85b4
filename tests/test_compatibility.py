"""Compatibility: a checkpoint an earlier version wrote loads and forecasts as it did then.

The files in ``tests/data/frozen_v*`` were written once, by ``tests/make_frozen_checkpoint.py``
under the version in their name, and are never regenerated: when one of these tests fails, the
change broke old checkpoints, not the files.
"""

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from forecast import Forecaster
from forecast.cli import main
from forecast.data.options import grouped_config
from forecast.ensemble import combine

DATA = Path(__file__).parent / "data"
VERSIONS = ["0.1.0"]


def frozen(version: str) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """The checkpoint of ``version``, the history it forecasts from and the forecast it gave then."""
    history = pd.read_csv(DATA / f"frozen_v{version}_history.csv", parse_dates=["time"])
    expected = pd.read_csv(DATA / f"frozen_v{version}_forecast.csv", parse_dates=["time"])
    return DATA / f"frozen_v{version}.ckpt", history, expected


@pytest.mark.parametrize("version", VERSIONS)
def test_frozen_checkpoint_loads_and_predicts_its_recorded_forecast(version):
    checkpoint, history, expected = frozen(version)
    forecast = Forecaster.load(checkpoint).predict(history)
    assert list(forecast.columns) == ["id", "time", "y", "y_q0.1", "y_q0.5", "y_q0.9"]
    pd.testing.assert_frame_equal(forecast, expected, check_dtype=False, rtol=1e-5)


@pytest.mark.parametrize("version", VERSIONS)
def test_frozen_checkpoint_predicts_its_recorded_forecast_through_the_cli(version, tmp_path):
    """``python -m forecast predict --ckpt_path FROZEN``: the model comes from the checkpoint, the scalers
    from its data state, and the data options are those the checkpoint was trained with (given by the keys
    of today's CLI, grouped: ``data.columns.targets``...)."""
    checkpoint, history, expected = frozen(version)
    output = tmp_path / "forecast.csv"
    main(["predict", "--ckpt_path", str(checkpoint), "--data.source", str(DATA / f"frozen_v{version}_history.csv"),
          "--data.lookback", "24", "--data.horizon", "6", "--data.columns.targets", "[y]",
          "--data.columns.past_covariates", "[load]", "--data.columns.future_covariates", "[price]",
          "--data.calendar.features", "[hour]", "--data.scaling.per_series", "true",
          "--trainer.default_root_dir", str(tmp_path), "--trainer.accelerator", "cpu", "--trainer.logger", "false",
          "--trainer.enable_progress_bar", "false", "--prediction_writer.output", str(output)])  # fmt: skip
    forecast = pd.read_csv(output, parse_dates=["time"])
    pd.testing.assert_frame_equal(forecast, expected, check_dtype=False, rtol=1e-5)


def frozen_point_checkpoint() -> dict:
    """The 0.1.0 checkpoint as a point forecaster, its data options flat as 0.1.0 wrote them: an ``MAELoss``
    network of the quantile network's median rows, which forecasts the recorded 0.5 quantile."""
    checkpoint = torch.load(frozen("0.1.0")[0], weights_only=True)
    checkpoint["hyper_parameters"] |= {"loss": {"class_path": "forecast.losses.MAELoss"}}
    weights = checkpoint["state_dict"]
    weights["head.linear.weight"] = weights["head.linear.weight"].view(6, 3, -1)[:, 1].clone()  # rows by (H, P): 0.5s
    weights["head.linear.bias"] = weights["head.linear.bias"].view(6, 3)[:, 1].clone()
    return checkpoint


def with_todays_options(checkpoint: dict, **changed: Any) -> dict:
    """``checkpoint`` with its data options as today's CLI records the same settings (as a fit with the
    grouped keys records them): grouped, with the options added since at their defaults, without
    ``history_only``, since removed; and the ``changed`` data state entries."""
    options = grouped_config(checkpoint["datamodule_hyper_parameters"])
    del options["history_only"]
    options |= {"seasonal_period": 1, "shard": "none", "batch_channels": None}
    state = checkpoint["TimeSeriesDataModule"] | changed
    return checkpoint | {"datamodule_hyper_parameters": options, "TimeSeriesDataModule": state}


def test_a_frozen_checkpoint_combines_with_one_of_the_same_data_settings_recorded_grouped(tmp_path):
    """0.1.0 recorded the data options flat (``scale_per_series``), today's CLI grouped
    (``scaling.per_series``): the same settings in either form are the same data."""
    _, history, _ = frozen("0.1.0")
    old = frozen_point_checkpoint()
    torch.save(old, tmp_path / "old.ckpt")
    other = old | {"state_dict": {name: weight * 1.01 for name, weight in old["state_dict"].items()}}  # a network
    torch.save(with_todays_options(other), tmp_path / "grouped.ckpt")  # of its own: combine refuses a copy
    path = combine([tmp_path / "old.ckpt", tmp_path / "grouped.ckpt"], tmp_path / "ensemble.ckpt")
    forecast = Forecaster.load(path).predict(history)
    assert list(forecast.columns) == ["id", "time", "y"]
    members = [Forecaster.load(tmp_path / name).predict(history)["y"] for name in ("old.ckpt", "grouped.ckpt")]
    pd.testing.assert_series_equal(forecast["y"], (members[0] + members[1]) / 2, check_names=False, rtol=1e-5)


def test_combine_names_the_data_setting_a_frozen_checkpoint_differs_in(tmp_path):
    """Settings that differ are named by today's key, whichever form each checkpoint recorded them in; a data
    state that records a time zone (``None``: none), as today's do, is not that of 0.1.0, which took a
    history's times as given."""
    old = frozen_point_checkpoint()
    torch.save(old, tmp_path / "old.ckpt")
    other = old | {"datamodule_hyper_parameters": old["datamodule_hyper_parameters"] | {"scale_per_series": False}}
    torch.save(with_todays_options(other), tmp_path / "global_scaling.ckpt")
    message = r"global_scaling.ckpt differs from .*old.ckpt in datamodule_hyper_parameters\.scaling\.per_series:"
    with pytest.raises(ValueError, match=message):
        combine([tmp_path / "old.ckpt", tmp_path / "global_scaling.ckpt"], tmp_path / "ensemble.ckpt")
    torch.save(with_todays_options(old, time_zone=None), tmp_path / "today.ckpt")
    with pytest.raises(ValueError, match=r"old.ckpt differs from .*today.ckpt in TimeSeriesDataModule\.time_zone:"):
        combine([tmp_path / "today.ckpt", tmp_path / "old.ckpt"], tmp_path / "ensemble.ckpt")
    assert not (tmp_path / "ensemble.ckpt").exists()
