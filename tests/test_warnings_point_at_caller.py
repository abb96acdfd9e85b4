"""Each warning about a user's input or call names the user's line (here: this file), whichever public call
path led to it, so that a user can find it and filter it by their own module.

A fixed ``stacklevel`` named the right line from one path only, and from the others a line of forecast,
torch or IPython.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule, datasets
from forecast.data.validate import long_enough
from forecast.kernels import sru_cpu
from forecast.nn import LSTMEncoder, SRUEncoder, encoders
from forecast.predict import history_module

DATA = Path(__file__).parent / "data"


def filenames(caught) -> list[Path]:
    return [Path(warning.filename) for warning in caught]


@pytest.fixture(scope="module")
def frozen() -> Forecaster:
    """The frozen checkpoint: series 'A' and 'B', scaled per series."""
    return Forecaster.load(DATA / "frozen_v0.1.0.ckpt")


@pytest.fixture
def unknown_series() -> pd.DataFrame:
    """The frozen checkpoint's history with series 'B' renamed 'C', which the checkpoint does not know."""
    return pd.read_csv(DATA / "frozen_v0.1.0_history.csv", parse_dates=["time"]).replace({"id": {"B": "C"}})


def test_predict_of_an_unknown_series_warns_at_the_callers_line(frozen, unknown_series):
    with pytest.warns(UserWarning, match=r"1 series the checkpoint does not know \('C'\)") as caught:
        frozen.predict(unknown_series)
    assert filenames(caught) == [Path(__file__)]


def test_history_module_of_an_unknown_series_warns_at_the_callers_line(frozen, unknown_series):
    """Called directly (from a notebook, say), the warning named the frame two calls out: IPython's."""
    with pytest.warns(UserWarning, match=r"1 series the checkpoint does not know \('C'\)") as caught:
        history_module(frozen.data_config, frozen.data_state, unknown_series, batch_size=8)
    assert filenames(caught) == [Path(__file__)]


def test_encoder_under_cpu_autocast_warns_at_the_callers_line():
    """The warning named torch's ``Module.__call__``, which runs ``forward``."""
    encoder = LSTMEncoder(2, hidden_size=3)
    encoders._say_float32_under_cpu_autocast.cache_clear()  # it warns once per process
    with pytest.warns(UserWarning, match="Under CPU autocast") as caught, torch.autocast("cpu", dtype=torch.bfloat16):
        encoder(torch.randn(1, 4, 2))
    assert filenames(caught) == [Path(__file__)]


def test_sru_without_its_compiled_kernel_warns_at_the_callers_line(monkeypatch, tmp_path):
    """The warning named the SRU layer's ``forward`` in forecast/nn/sru.py."""
    monkeypatch.setenv("CC", "forecast-test-no-such-compiler")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached build to fall back on
    encoder = SRUEncoder(2, hidden_size=4)
    sru_cpu.cpu_library.cache_clear()
    try:
        with pytest.warns(UserWarning, match="compiled CPU kernel is not available") as caught:
            encoder(torch.randn(1, 3, 2))
    finally:
        sru_cpu.cpu_library.cache_clear()
    assert filenames(caught) == [Path(__file__)]


@pytest.fixture
def weather_with_a_repeated_time(tmp_path, monkeypatch) -> None:
    """A weather.csv in the data cache whose row 10 repeats row 9's time."""
    monkeypatch.setenv("FORECAST_DATA", str(tmp_path))
    times = pd.date_range("2020-01-01", periods=20, freq="10min")
    times = times[:10].append(times[9:]).rename("date")
    pd.DataFrame({"OT": np.arange(len(times), dtype=np.float64)}, index=times).to_csv(tmp_path / "weather.csv")


@pytest.mark.parametrize(
    "read",
    [lambda: datasets.load("weather"), lambda: TimeSeriesDataModule(source="weather", lookback=4, horizon=2)],
    ids=["datasets.load", "TimeSeriesDataModule"],
)
def test_a_data_set_off_its_step_warns_at_the_callers_line(weather_with_a_repeated_time, read):
    """The warning named ``datasets._read``, which calls the reader."""
    with pytest.warns(UserWarning, match=r"weather.csv: 1 step\(s\) are not 10min") as caught:
        read()
    assert filenames(caught) == [Path(__file__)]


def test_dropping_short_series_warns_at_the_callers_line():
    """Without shards the warning named lightning_utilities' wrapper, two frames below the check."""
    with pytest.warns(UserWarning, match=r"drop_short: leaving out 1 series") as caught:
        long_enough(["short", "long"], np.array([2, 10]), 4, 2, True, None)
    assert filenames(caught) == [Path(__file__)]


def test_one_process_dropping_series_of_its_share_warns_at_the_callers_line():
    """Under ``data.shard: series`` each process warns of its own share; the warning named validate.py."""
    with pytest.warns(UserWarning, match=r"\[rank: 1\] data.drop_short: leaving out 1 series") as caught:
        long_enough(["short", "long"], np.array([2, 10]), 4, 2, True, (1, 2))
    assert filenames(caught) == [Path(__file__)]


def test_import_after_torch_warns_at_the_import_line(monkeypatch):
    """Frames of the import system lie between ``import forecast`` and the package's code."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 10_000)  # a thread on every core
    monkeypatch.delitem(sys.modules, "forecast")  # put back after the test; its submodules stay loaded
    with pytest.warns(UserWarning, match="torch was imported before forecast without OMP_WAIT_POLICY") as caught:
        import forecast  # noqa: F401
    assert filenames(caught) == [Path(__file__)]
