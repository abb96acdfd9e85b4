"""The configs split any data set by its own preset, so that on other data only ``--data.source`` changes."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.cli import main
from forecast.data import FractionSplit

ROOT = Path(__file__).resolve().parents[1]
LTSF = sorted((ROOT / "configs" / "ltsf").glob("*.yaml"))
ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A cache holding an ETTm1.csv of the ETT borders' 20 months of 15-minute rows, put there by hand."""
    folder = tmp_path_factory.mktemp("cache")
    rows = 20 * 30 * 24 * 4
    times = pd.date_range("2016-07-01", periods=rows, freq="15min", name="date")
    values = np.sin(np.arange(rows * 7, dtype=np.float64).reshape(rows, 7) / 96)
    pd.DataFrame(values, columns=ETT_COLUMNS, index=times).to_csv(folder / "ETTm1.csv", float_format="%.4f")
    return folder


@pytest.fixture(autouse=True)
def bare_argv(monkeypatch):
    """No pytest flags in ``sys.argv`` for LightningCLI to warn about beside the ``args`` given to it."""
    monkeypatch.setattr(sys, "argv", ["forecast"])


@pytest.mark.parametrize("config", LTSF, ids=[path.stem for path in LTSF])
def test_an_ltsf_config_on_ettm1_by_its_source_alone_takes_the_15_minute_ett_borders(config, cache, monkeypatch):
    monkeypatch.setenv("FORECAST_DATA", str(cache))
    cli = main(["--config", str(config), "--data.source", "ettm1", "--trainer.logger", "false"], run=False)
    month = 30 * 24 * 4
    assert cli.datamodule.borders.tolist() == [[12 * month, 16 * month, 20 * month]]


def test_an_ltsf_config_on_a_file_by_its_source_alone_splits_it_70_10_20(tmp_path):
    times = pd.date_range("1990-01-01", periods=1000, freq="D", name="date")
    frame = pd.DataFrame({"a": np.arange(1000.0), "b": np.cos(np.arange(1000.0))}, index=times)
    frame.to_csv(tmp_path / "rates.csv")
    args = ["--config", str(ROOT / "configs/ltsf/segrnn_l336.yaml"), "--data.source", str(tmp_path / "rates.csv")]
    cli = main([*args, "--trainer.logger", "false"], run=False)
    assert isinstance(cli.datamodule.split, FractionSplit)
    assert cli.datamodule.borders.tolist() == [[700, 800, 1000]]
