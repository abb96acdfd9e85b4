"""``python tests/make_frozen_checkpoint.py``: the frozen checkpoint of forecast 0.1.0 and its forecast.

Writes three files into ``tests/data/``, which ``tests/test_compatibility.py`` reads:

- ``frozen_v0.1.0.ckpt``: a ``last.ckpt`` written by ``python -m forecast fit`` (in-process) for a
  tiny quantile GRU over two hourly series in long format, with a past covariate (``load``), a
  future covariate (``price``), a cyclical ``hour`` calendar feature and per-series scalers;
- ``frozen_v0.1.0_history.csv``: the frame it forecasts from, 30 rows of each series and the 6 rows
  of the horizon that hold only ``price``;
- ``frozen_v0.1.0_forecast.csv``: ``Forecaster.load(checkpoint).predict(history)`` as computed by
  forecast 0.1.0: ``y`` and its 0.1, 0.5 and 0.9 quantiles.

DO NOT REGENERATE THESE FILES WHEN THE CHECKPOINT FORMAT, THE CLI OR THE DATA MODULE'S ARGUMENTS
CHANGE. They are the record of what 0.1.0 wrote and forecast; every later version must load this
checkpoint and forecast the same numbers from this history, and the test is what proves it. A new
format gets files of its own, named by its version, next to these. The script stays to show how
they were made; it is seeded and deterministic, so running it under 0.1.0 into another directory
(``--out DIR``) reproduces the two tables.
"""

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from forecast import Forecaster
from forecast.cli import main

VERSION = "0.1.0"
LOOKBACK, HORIZON = 24, 6
FIT = [
    "fit", "--seed_everything", "0", "--data.source", "train.csv", "--data.lookback", str(LOOKBACK),
    "--data.horizon", str(HORIZON), "--data.targets", "[y]", "--data.past_covariates", "[load]",
    "--data.future_covariates", "[price]", "--data.calendar", "[hour]", "--data.scale_per_series", "true",
    "--data.split", "forecast.data.FractionSplit", "--data.batch_size", "16",
    "--model.normalization", "forecast.nn.LastValueNormalization",
    "--model.encoder", "forecast.nn.GRUEncoder", "--model.encoder.hidden_size", "8",
    "--model.head", "forecast.nn.LinearHead", "--model.head.from_sequence", "true",
    "--model.loss", "forecast.losses.QuantileLoss", "--model.loss.levels", "[0.1, 0.5, 0.9]",
    "--trainer.default_root_dir", "run", "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu",
    "--trainer.deterministic", "true", "--trainer.logger", "false", "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]  # fmt: skip


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training frame (two series of 120 hourly rows) and the history to forecast from.

    The history is each series' last 30 rows, with ``price`` continued over the horizon and
    ``y``/``load`` left empty there, as ``Forecaster.predict`` asks of a future covariate.
    """
    rng = np.random.default_rng(15)
    rows = 120 + HORIZON
    parts = []
    for name, level, period in [("A", 10.0, 4.0), ("B", -3.0, 7.0)]:
        steps = np.arange(rows)
        price = 50 + 5 * np.cos(steps / 5) + rng.standard_normal(rows)
        parts.append(
            pd.DataFrame(
                {
                    "id": name,
                    "time": pd.date_range("2024-03-01", periods=rows, freq="h"),
                    "y": level + np.sin(steps / period) + 0.05 * price + 0.1 * rng.standard_normal(rows),
                    "load": rng.normal(3.0, 1.0, rows),
                    "price": price,
                }
            )
        )
    whole = pd.concat(parts, ignore_index=True).round({"y": 6, "load": 6, "price": 6})
    train = whole.groupby("id").head(120).reset_index(drop=True)
    history = whole.groupby("id").tail(30 + HORIZON).reset_index(drop=True)
    future = history.groupby("id").cumcount() >= 30
    history.loc[future, ["y", "load"]] = np.nan
    return train, history


def make(out: Path) -> None:
    """Fit in a scratch directory (so the checkpoint records only relative paths) and write the files."""
    out.mkdir(parents=True, exist_ok=True)
    train, history = frames()
    cwd = Path.cwd()
    with tempfile.TemporaryDirectory() as scratch:
        os.chdir(scratch)
        try:
            train.to_csv("train.csv", index=False)
            main(FIT)
            checkpoint = out / f"frozen_v{VERSION}.ckpt"
            checkpoint.write_bytes(Path("run/checkpoints/last.ckpt").read_bytes())
        finally:
            os.chdir(cwd)
    history_path = out / f"frozen_v{VERSION}_history.csv"
    history.to_csv(history_path, index=False)
    saved = pd.read_csv(history_path, parse_dates=["time"])  # forecast from the file, as the test does
    forecast = Forecaster.load(checkpoint).predict(saved)
    forecast.to_csv(out / f"frozen_v{VERSION}_forecast.csv", index=False, float_format="%.9g")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    make(parser.parse_args().out.resolve())
