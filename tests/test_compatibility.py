"""Compatibility: a checkpoint an earlier version wrote loads and forecasts as it did then.

The files in ``tests/data/frozen_v*`` were written once, by ``tests/make_frozen_checkpoint.py``
under the version in their name, and are never regenerated: when one of these tests fails, the
change broke old checkpoints, not the files.
"""

from pathlib import Path

import pandas as pd
import pytest

from forecast import Forecaster
from forecast.cli import main

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
