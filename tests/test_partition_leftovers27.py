"""An empty partition's types against a full partition's for a zoned checkpoint and every form of history times, and
``combine`` of members whose ``data.source`` is a relative path, fitted from other folders."""

import functools
import re
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.ensemble import combine
from forecast.nn import GRUEncoder
from forecast.partition import predict_partition


@pytest.fixture(scope="module")
def zoned(tmp_path_factory, fit_last_value) -> tuple[pd.DataFrame, Path]:
    """Two hourly series in Europe/Berlin, and the checkpoint of the last value fitted on them."""
    times = pd.date_range("2024-03-30", periods=60, freq="h", tz="Europe/Berlin")  # over the change to summer time
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], 60), "time": times.append(times), "y": np.arange(120.0) % 7})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        checkpoint = fit_last_value(frame, tmp_path_factory.mktemp("zoned"), 12, 3, batch_size=64)
    return frame, checkpoint


def _utc(times: pd.Series) -> pd.Series:
    return times.dt.tz_convert("UTC")


HISTORY_TIMES = {
    "Berlin": lambda times: times,
    "UTC": _utc,
    "Tokyo": lambda times: times.dt.tz_convert("Asia/Tokyo"),
    "text with offsets": lambda times: times.astype(str),
    "UTC text": lambda times: _utc(times).dt.strftime("%Y-%m-%dT%H:%M:%SZ"),
    "Arrow UTC": lambda times: _utc(times).astype(pd.ArrowDtype(pa.timestamp("us", "UTC"))),
    "Arrow text": lambda times: times.astype(str).astype(pd.ArrowDtype(pa.string())),
}


@pytest.mark.parametrize("form", HISTORY_TIMES)
def test_an_empty_partition_has_the_types_of_a_full_one_whatever_form_its_times_take(zoned, form):
    """Spark declares the output schema once: a zoned checkpoint's forecasts are in its zone whether the history's
    times come in another zone, as text with offsets or as Arrow's, and an empty partition's must be too."""
    frame, checkpoint = zoned
    history = frame.assign(time=HISTORY_TIMES[form](frame["time"]))
    full = predict_partition(history, checkpoint)
    assert str(full["time"].dt.tz) == "Europe/Berlin"
    pd.testing.assert_series_equal(predict_partition(history.iloc[:0], checkpoint).dtypes, full.dtypes)


HORIZON = 3


def _member(path: Path, source: str, seed: int) -> Path:
    """An untrained GRU's checkpoint (weights drawn from ``seed``) on ``source``, read from the current folder, with
    the data's settings and state as ``fit`` records them."""
    data = TimeSeriesDataModule(source, 8, HORIZON, columns=Columns(targets=["a"]), split=FractionSplit())
    data.setup("fit")
    torch.manual_seed(seed)
    network = Forecaster(lookback=8, horizon=HORIZON, input_size=1, target_size=1,
                         encoder=functools.partial(GRUEncoder, hidden_size=4))  # fmt: skip
    checkpoint = {"state_dict": network.state_dict(), "hyper_parameters": dict(network.hparams)}
    network.on_save_checkpoint(checkpoint)
    checkpoint |= {"datamodule_hyper_parameters": dict(data.hparams), "TimeSeriesDataModule": data.state_dict()}
    torch.save(checkpoint | {"pytorch-lightning_version": L.__version__}, path)
    return path


def _csv(path: Path, level: float) -> Path:
    index = pd.date_range("2024-01-01", periods=80, freq="h", name="time")
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"a": level + np.sin(np.arange(80) / 3)}, index=index).to_csv(path)
    return path


def test_combine_of_one_file_named_relative_to_another_folder_says_where_it_read_it(tmp_path, monkeypatch):
    """A member fitted in ``fits`` on ``frame.csv`` and one on that file's absolute path, combined from another
    folder: the message named ``source`` as the difference of two names of one file, and not that the relative one
    was read from the current folder."""
    data = _csv(tmp_path / "fits" / "frame.csv", 5.0)
    monkeypatch.chdir(data.parent)
    relative = _member(tmp_path / "relative.ckpt", "frame.csv", seed=0)
    absolute = _member(tmp_path / "absolute.ckpt", str(data), seed=1)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(ValueError, match="in datamodule_hyper_parameters.source") as raised:
        combine([relative, absolute], tmp_path / "ensemble.ckpt")
    message = str(raised.value)
    assert re.search(r"'frame.csv' as '[^']*elsewhere/frame.csv'", message)
    assert "combine reads a relative one from the current folder" in message
    assert "run combine from the folder the members were fitted in" in message
    monkeypatch.chdir(data.parent)  # where the members were fitted: one file
    assert combine([relative, absolute], tmp_path / "ensemble.ckpt").is_file()


def test_combine_of_one_relative_name_of_two_files_refuses_them_by_their_data(tmp_path, monkeypatch):
    """The same relative ``data.source`` of fits in two folders compares equal, since a checkpoint records no folder;
    the files' other rows still tell the members apart, by the scalers fitted on them."""
    members = []
    for seed, level in enumerate([5.0, 50.0]):
        folder = _csv(tmp_path / f"fit{seed}" / "frame.csv", level).parent
        monkeypatch.chdir(folder)
        members.append(_member(tmp_path / f"{seed}.ckpt", "frame.csv", seed=seed))
    with pytest.raises(ValueError, match=r"1.ckpt differs from .*0.ckpt in TimeSeriesDataModule.scal") as raised:
        combine(members, tmp_path / "ensemble.ckpt")
    assert "current folder" not in str(raised.value)
