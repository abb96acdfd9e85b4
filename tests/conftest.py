import functools
import os
import shutil
import sys
from pathlib import Path

# Before torch loads OpenMP: waiting threads sleep instead of spinning (forecast/__init__.py, the thread trap).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import pandas as pd
import pytest
import torch

# Triton reads TRITON_INTERPRET when it is first imported; without a GPU its kernels run on its CPU interpreter.
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def restore_default_dtype():
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)


@pytest.fixture
def wide_frame() -> pd.DataFrame:
    """200 hourly rows of three seeded channels with distinct levels, so scaling is visible."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    steps = np.arange(200)
    return pd.DataFrame(
        {
            "a": 10 + np.sin(steps / 4) + 0.1 * rng.standard_normal(200),
            "b": -5 + 2 * np.cos(steps / 6) + 0.1 * rng.standard_normal(200),
            "c": 100 + steps * 0.5 + rng.standard_normal(200),
        },
        index=index,
    )


@pytest.fixture
def wide_csv(tmp_path, wide_frame) -> str:
    path = tmp_path / "wide.csv"
    wide_frame.to_csv(path)
    return str(path)


def _tiny_cli(
    source: str | Path,
    root: str | Path | None = None,
    *,
    lookback: int = 24,
    horizon: int = 6,
    batch_size: int | None = None,
) -> list[str]:
    """The CLI arguments of a tiny run: the data (``FractionSplit``), the run directory, no progress output."""
    args = ["--data.source", str(source), "--data.lookback", str(lookback), "--data.horizon", str(horizon),
            "--data.split", "forecast.data.FractionSplit"]  # fmt: skip
    if batch_size is not None:
        args += ["--data.batch_size", str(batch_size)]
    if root is not None:
        args += ["--trainer.default_root_dir", str(root)]
    return args + ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


def _fit_last_value(frame: pd.DataFrame, root: Path, lookback: int, horizon: int, **data) -> Path:
    """The ``last.ckpt`` of ``forecast.fit`` of the naive forecast (no weights: every forecast is the series' last
    value) on ``frame``, one batch of each part, under ``root``; ``data``: further data module arguments."""
    import forecast
    from forecast.nn import IdentityEncoder, LastValueHead

    trainer = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(root),
               "enable_progress_bar": False, "enable_model_summary": False, "logger": False}  # fmt: skip
    model = {"encoder": IdentityEncoder, "head": LastValueHead}
    forecast.fit(frame, lookback=lookback, horizon=horizon, data=data, model=model, trainer=trainer)
    return next(root.rglob("last.ckpt"))


@pytest.fixture
def data_cache(tmp_path, monkeypatch) -> Path:
    """``FORECAST_DATA`` pointed at ``tmp_path / "cache"``, a folder not yet made: the data sets' cache of a test."""
    monkeypatch.setenv("FORECAST_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _fit_tiny_gru(frame: pd.DataFrame, root: Path, lookback: int, horizon: int):
    """A ``forecast.fit`` of a GRU of hidden size 4 on ``frame`` for one batch (batches of 16), repairing missing
    values by forward fill, under ``root``: the fitted ``Forecaster``."""
    import forecast
    from forecast.nn import GRUEncoder

    trainer = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(root),
               "enable_progress_bar": False, "enable_model_summary": False, "logger": False}  # fmt: skip
    return forecast.fit(
        frame, lookback=lookback, horizon=horizon, data={"batch_size": 16, "nan_policy": "ffill"},
        model={"encoder": functools.partial(GRUEncoder, hidden_size=4)}, trainer=trainer,
    )  # fmt: skip


@pytest.fixture(scope="session")
def fit_tiny_gru():
    """``fit_tiny_gru(frame, root, lookback, horizon) -> Forecaster``: a GRU fitted for one batch under ``ffill``
    (a function, so that module-scoped fixtures call it)."""
    return _fit_tiny_gru


@pytest.fixture(scope="session")
def fit_last_value():
    """``fit_last_value(frame, root, lookback, horizon, **data) -> Path``: the ``last.ckpt`` of the naive forecast
    fitted by ``forecast.fit`` (a function, so that module-scoped fixtures call it)."""
    return _fit_last_value


@pytest.fixture(scope="session")
def tiny_cli():
    """``tiny_cli(source, root=None, *, lookback=24, horizon=6, batch_size=None) -> list[str]``.

    The arguments every CLI test of a small frame shares, to follow ``--config`` and precede its own:
    ``--data.source``, ``--data.lookback``, ``--data.horizon``, ``--data.split forecast.data.FractionSplit``,
    ``--data.batch_size`` when given, ``--trainer.default_root_dir`` when ``root`` is given, and the
    progress bar and model summary off. A function rather than a list, so module-scoped fixtures and
    subprocess runs build it for their own frame and directory.
    """
    return _tiny_cli


@pytest.fixture
def long_frame() -> pd.DataFrame:
    """Three hourly series of different lengths and starts in long format, with a column of every role.

    ``y`` is the target, ``load`` a past covariate, ``price`` a future covariate, ``region`` a
    categorical and ``size`` a numeric static covariate.
    """
    rng = np.random.default_rng(1)
    parts = []
    for name, start, rows, region, size in [
        ("A", "2024-01-01 00:00", 120, "north", 1.5),
        ("B", "2024-01-02 05:00", 90, "south", 2.0),
        ("C", "2023-12-30 10:00", 150, "north", 0.5),
    ]:
        steps = np.arange(rows)
        parts.append(
            pd.DataFrame(
                {
                    "id": name,
                    "time": pd.date_range(start, periods=rows, freq="h"),
                    "y": 10 * size + np.sin(steps / 5) + 0.1 * rng.standard_normal(rows),
                    "load": rng.normal(3 * size, 1, rows),
                    "price": 50 + 5 * np.cos(steps / 7),
                    "region": region,
                    "size": size,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _random_batch(
    windows: int, lookback: int, horizon: int, inputs: int, targets: int, scale: float = 1.0, offset: float = 0.0
):
    from forecast.batch import Batch

    return Batch(
        past=torch.randn(windows, lookback, inputs),
        future=torch.zeros(windows, horizon, 0),
        static=torch.zeros(windows, 0),
        target=torch.randn(windows, horizon, targets),
        series=torch.zeros(windows, dtype=torch.long),
        time=torch.arange(windows),
        target_scale=torch.full((windows, targets), scale),
        target_offset=torch.full((windows, targets), offset),
        naive_scale=torch.ones(windows, targets),
    )


@pytest.fixture(scope="session")
def random_batch():
    """``random_batch(windows, lookback, horizon, inputs, targets, scale=1.0, offset=0.0) -> Batch``.

    Windows of standard normal past values and targets, of one series, with no future or static
    features, scaled by ``scale`` about ``offset``: the input of a Forecaster's steps without a data module.
    """
    return _random_batch


@pytest.fixture(scope="session")
def session():
    """One local Spark for the Spark tests of a process: 2 cores, 2 shuffle partitions, no UI, times in UTC
    (skipped without pyspark or Java)."""
    pytest.importorskip("pyspark", reason="forecast.spark needs the spark extra: pip install -e '.[spark]'")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java 17 on the PATH")
    from pyspark.sql import SparkSession

    spark_session = (
        SparkSession.builder.master("local[2]")
        .appName("forecast-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.pyspark.python", sys.executable)
        .config("spark.log.level", "ERROR")
        .config("spark.ui.showConsoleProgress", "false")
        # The JVM's first JIT tier only: a test session compiles more than it runs (startup 13 s -> 9 s here).
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1")
        .getOrCreate()
    )
    yield spark_session
    spark_session.stop()


@pytest.fixture(scope="module")
def tune_fit_args(tmp_path_factory, tiny_cli) -> list[str]:
    """The quickstart GRU shrunk to one epoch of two batches of 200 hourly rows, horizon 6."""
    root = tmp_path_factory.mktemp("data")
    steps = np.arange(200)
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    pd.DataFrame({"a": 10 + np.sin(steps / 4), "b": -5 + 2 * np.cos(steps / 6)}, index=index).to_csv(root / "wide.csv")
    quickstart = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
    return ["--config", quickstart, *tiny_cli(root / "wide.csv"), "--trainer.max_epochs", "1",
            "--trainer.limit_train_batches", "2", "--model.encoder.init_args.hidden_size", "4"]  # fmt: skip
