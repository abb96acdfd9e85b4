"""Small input checks: an encoder's on/off options and a residual cycle's sizes are refused by their key, not by a
torch internal, and ``combine`` explains a relative ``data.source`` whichever data setting it names first."""

import functools
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.ensemble import combine
from forecast.nn import GRUEncoder, LSTMEncoder, RNNEncoder, SRUEncoder
from forecast.nn.cycle import ResidualCycle

ENCODERS = [RNNEncoder, LSTMEncoder, GRUEncoder, SRUEncoder]


@pytest.mark.parametrize("encoder", ENCODERS, ids=lambda encoder: encoder.__name__)
@pytest.mark.parametrize("value", ["yes", "false", 1.0, 1, 0, None])
def test_a_bidirectional_that_is_no_bool_is_refused_by_its_key(encoder, value):
    """torch's layers failed in the first step ("gru() received an invalid combination of arguments"); the SRU took
    ``"false"`` as on. The CLI's bool type refuses 1 and 0, and so do the encoders."""
    with pytest.raises(TypeError, match=rf"model.encoder.init_args.bidirectional={value!r} is not a bool; give true"):
        encoder(3, hidden_size=4, bidirectional=value)


@pytest.mark.parametrize("encoder", ENCODERS, ids=lambda encoder: encoder.__name__)
def test_a_layer_norm_that_is_no_bool_is_refused_by_its_key(encoder):
    """The text "false" is true: it would add layer normalization between layers, silently."""
    with pytest.raises(TypeError, match=r"model.encoder.init_args.layer_norm='false' is not a bool"):
        encoder(3, hidden_size=4, num_layers=2, layer_norm="false")


@pytest.mark.parametrize("encoder", ENCODERS, ids=lambda encoder: encoder.__name__)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_a_bool_bidirectional_builds_and_runs(encoder, bidirectional):
    built = encoder(3, hidden_size=4, bidirectional=bidirectional)
    output = built(torch.zeros(2, 5, 3))
    assert output.sequence.shape == (2, 5, 8 if bidirectional else 4)


@pytest.mark.parametrize(
    ("period", "error", "message"),
    [
        (3.0, TypeError, r"ResidualCycle period=3.0 is not a whole number; give an int"),
        (True, TypeError, r"ResidualCycle period=True is not a number"),
        ("24", TypeError, r"ResidualCycle period='24' is not a number"),
        (0, ValueError, r"ResidualCycle period=0 must be at least 1"),
        (-2, ValueError, r"ResidualCycle period=-2 must be at least 1"),
    ],
)
def test_a_cycle_period_that_is_no_count_is_refused_by_name(period, error, message):
    """A float or a bool failed as torch's "zeros() takes 1 positional argument but 2 were given"."""
    with pytest.raises(error, match=message):
        ResidualCycle(2, period)


def test_a_cycle_of_float_channels_is_refused_by_name():
    with pytest.raises(TypeError, match=r"ResidualCycle channels=2.0 is not a whole number; give an int"):
        ResidualCycle(2.0, 24)


def test_a_cycle_takes_numpy_integers():
    """A grid from ``np.arange`` gives NumPy integers: the cycle is one value per position and channel."""
    cycle = ResidualCycle(np.int64(2), np.int64(5))
    assert cycle.values.shape == (5, 2)
    past, future = cycle(torch.tensor([3]), 4, 2)
    assert past.shape == (1, 4, 2) and future.shape == (1, 2, 2)


def _member(path: Path, source: str, seed: int, **data: object) -> Path:
    """An untrained GRU's checkpoint, as ``fit`` records it, on the CSV ``source`` with the other ``data`` settings."""
    module = TimeSeriesDataModule(source, 8, 3, columns=Columns(), split=FractionSplit(), **data)
    module.setup("fit")
    torch.manual_seed(seed)
    sizes = {"input_size": module.input_size, "target_size": module.target_size}
    network = Forecaster(lookback=8, horizon=3, encoder=functools.partial(GRUEncoder, hidden_size=4), **sizes)
    checkpoint = {"state_dict": network.state_dict(), "hyper_parameters": dict(network.hparams)}
    network.on_save_checkpoint(checkpoint)
    checkpoint |= {"datamodule_hyper_parameters": dict(module.hparams), "TimeSeriesDataModule": module.state_dict()}
    torch.save(checkpoint | {"pytorch-lightning_version": L.__version__}, path)
    return path


@pytest.fixture
def fitted_in_two_folders(tmp_path, monkeypatch):
    """Two members, each fitted in its own folder on its ``frame.csv`` given as a relative path, the second with
    ``nan_policy`` ffill (a key that sorts before ``source``); the current folder is the first's."""
    index = pd.date_range("2024-01-01", periods=60, freq="h", name="time")
    frame = pd.DataFrame({"a": 5 + np.sin(np.arange(60) / 3)}, index=index)
    members = []
    for seed, (folder, data) in enumerate([("one", {}), ("two", {"nan_policy": "ffill"})]):
        (tmp_path / folder).mkdir()
        frame.to_csv(tmp_path / folder / "frame.csv")
        monkeypatch.chdir(tmp_path / folder)
        members.append(_member(tmp_path / f"{folder}.ckpt", "frame.csv", seed, **data))
    monkeypatch.chdir(tmp_path / "one")
    return tmp_path, members


def test_combine_explains_a_relative_source_where_another_key_differs_first(fitted_in_two_folders):
    """Both record ``frame.csv``: read from the current folder they are one file, though fitted on two."""
    folder, members = fitted_in_two_folders
    with pytest.raises(ValueError) as refused:
        combine(members, folder / "ensemble.ckpt")
    message = str(refused.value)
    assert "two.ckpt differs from" in message and "in datamodule_hyper_parameters.nan_policy" in message
    assert "data.source" not in message  # one file as read: no note about the folder


def test_combine_explains_relative_sources_that_read_other_files_after_another_key(fitted_in_two_folders, tmp_path):
    """The second member's source names its folder's file by a relative path from the first's folder: the sources
    differ, and the message that names ``nan_policy`` says how combine read each source."""
    folder, (first, _) = fitted_in_two_folders
    folder = folder.resolve()  # as combine reads a path: /tmp may be a link
    second = _member(tmp_path / "other.ckpt", "../two/frame.csv", 1, nan_policy="ffill")
    with pytest.raises(ValueError) as refused:
        combine([first, second], folder / "ensemble.ckpt")
    message = str(refused.value)
    assert "in datamodule_hyper_parameters.nan_policy" in message
    assert f"from the current folder, {str(folder / 'one')!r}; run combine from the folder" in message
    read = f"'../two/frame.csv' as {str(folder / 'two' / 'frame.csv')!r} and 'frame.csv' as "
    assert f"their data.source differs: combine reads {read}{str(folder / 'one' / 'frame.csv')!r}" in message
