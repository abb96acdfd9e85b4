"""What benchmarks/README.md and the benchmark scripts claim of the scripts' behaviour."""

import runpy
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

TINY_CONFIG = """\
trainer:
  limit_train_batches: 2
  accelerator: cpu
model:
  encoder:
    class_path: forecast.nn.GRUEncoder
    init_args:
      hidden_size: 4
data:
  source: {source}
  lookback: 8
  horizon: 2
  batch_size: 4
  split: forecast.data.FractionSplit
"""


@pytest.mark.slow  # a two-epoch fit through the CLI: about 3 s
def test_epoch_benchmark_configs_run_without_lightning_warning_of_both_argv_and_args(tmp_path, monkeypatch):
    """``epoch.py --configs`` builds the CLI from its own arguments; the script's flags in ``sys.argv`` made
    LightningCLI warn that both were given, and are back in ``sys.argv`` once the epoch is timed."""
    times = pd.date_range("2024-01-01", periods=60, freq="h")
    frame = pd.DataFrame({"time": times, "OT": np.sin(np.arange(60) / 3.0)})
    frame.to_csv(tmp_path / "tiny.csv", index=False)
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY_CONFIG.format(source=tmp_path / "tiny.csv"))
    epoch = runpy.run_path(str(BENCHMARKS / "epoch.py"), run_name="epoch")
    argv = ["epoch.py", "--configs", str(config), "--epochs", "2"]
    monkeypatch.setattr(sys, "argv", list(argv))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seconds, windows = epoch["config_epoch_seconds"](str(config), None, 2)
    messages = [str(warning.message) for warning in caught]
    assert not [message for message in messages if "not recommended to provide both" in message], messages
    assert sys.argv == argv
    assert seconds > 0 and windows > 0
