import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.environments import LightningEnvironment
from lightning.pytorch.plugins.io import TorchCheckpointIO

import forecast
from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.checkpointing import AtomicCheckpointIO, read_checkpoint
from forecast.cli import ForecastCLI
from forecast.runs import resolve_checkpoint
from forecast.trainer import ForecastTrainer

ROOT = Path(__file__).resolve().parents[1]

WRITER = """
import sys, torch
from forecast.checkpointing import AtomicCheckpointIO
io, path = AtomicCheckpointIO(), sys.argv[1]
for version in range(1000):
    io.save_checkpoint({"version": version, "weights": torch.full((4_000_000,), float(version))}, path)
    print(version, flush=True)
"""


class Unpicklable:
    def __reduce__(self):
        raise RuntimeError("interrupted mid-save")


def test_a_failed_save_leaves_the_previous_checkpoint_and_no_temporary_file(tmp_path):
    io, path = AtomicCheckpointIO(), tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"version": 1, "weights": torch.ones(1000)}, path)
    with pytest.raises(RuntimeError, match="interrupted mid-save"):
        io.save_checkpoint({"version": 2, "weights": torch.zeros(1000), "bad": Unpicklable()}, path)
    assert io.load_checkpoint(path)["version"] == 1
    assert os.listdir(path.parent) == ["last.ckpt"]


def test_a_writer_killed_during_saves_leaves_a_whole_checkpoint(tmp_path):
    path = tmp_path / "last.ckpt"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "0"  # one 16 MB save done, the next under way
        time.sleep(0.05)
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait()
    checkpoint = torch.load(path, weights_only=True)
    assert torch.equal(checkpoint["weights"], torch.full((4_000_000,), float(checkpoint["version"])))
    assert [name for name in os.listdir(tmp_path) if not name.startswith(".")] == ["last.ckpt"]


def test_the_cli_writes_checkpoints_atomically_unless_given_plugins(tmp_path):
    config = ["--config", str(ROOT / "configs/quickstart.yaml"), "--trainer.default_root_dir", str(tmp_path)]
    cli = ForecastCLI(Forecaster, TimeSeriesDataModule, trainer_class=ForecastTrainer, args=config, run=False,
                      auto_configure_optimizers=False)  # fmt: skip
    assert isinstance(cli.trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    plugin = ["--trainer.plugins", "lightning.pytorch.plugins.io.TorchCheckpointIO"]
    cli = ForecastCLI(Forecaster, TimeSeriesDataModule, trainer_class=ForecastTrainer, args=config + plugin,
                      run=False, auto_configure_optimizers=False)  # fmt: skip
    assert type(cli.trainer.strategy.checkpoint_io) is TorchCheckpointIO


def test_a_local_url_is_written_to_the_file_it_names(tmp_path, monkeypatch):
    """``file:///runs/last.ckpt`` was taken for a relative path: written to ``./file:/runs/last.ckpt``."""
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "runs" / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"version": 1}, path.as_uri())
    assert torch.load(path, weights_only=True) == {"version": 1}
    assert sorted(name.name for name in tmp_path.iterdir()) == ["runs"]


def test_a_folder_given_as_the_checkpoint_is_named_as_a_folder_with_the_files_in_it(tmp_path):
    """A run's checkpoints folder was said not to exist."""
    AtomicCheckpointIO().save_checkpoint({"version": 1}, tmp_path / "last.ckpt")
    with pytest.raises(
        FileNotFoundError, match=r"is a folder; give the path of a .ckpt file such as .*\['last.ckpt'\]"
    ):
        Forecaster.load(tmp_path)


def test_a_checkpoint_holding_an_object_only_code_rebuilds_is_named_so_not_damaged(tmp_path):
    """A whole file whose state holds a NumPy number (a callback's, say) was said to be truncated or damaged."""
    import numpy as np

    path = tmp_path / "numpy.ckpt"
    torch.save({"callbacks": {"mine": {"best": np.float64(0.5)}}}, path)
    with pytest.raises(
        ValueError, match=r"it holds a numpy\S* object, which only running code could rebuild"
    ) as refused:
        read_checkpoint(path, Forecaster)
    assert "damaged" not in str(refused.value)


def test_a_checkpoint_under_the_home_folder_loads_from_a_tilde_path(tmp_path, monkeypatch):
    """``~/x.ckpt`` (from a config file or a notebook: no shell expands it) was said not to exist."""
    monkeypatch.setenv("HOME", str(tmp_path))
    frozen = ROOT / "tests" / "data" / "frozen_v0.1.0.ckpt"
    shutil.copy(frozen, tmp_path / "x.ckpt")
    loaded, expected = Forecaster.load("~/x.ckpt"), Forecaster.load(frozen)
    assert loaded.state_dict().keys() == expected.state_dict().keys()
    for name, weight in expected.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], weight, msg=name)


def test_a_missing_tilde_path_is_named_by_the_file_it_looked_for(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"checkpoint {str(tmp_path / 'missing.ckpt')!r} does not exist")
    ):
        read_checkpoint("~/missing.ckpt", Forecaster)


def test_a_tilde_ckpt_path_given_to_the_cli_names_the_file_in_the_home_folder(tmp_path, monkeypatch):
    """``ckpt_path: ~/x.ckpt`` in a config (or ``--ckpt_path=~/x.ckpt``, which bash leaves as it is) was said to
    name no checkpoint file."""
    monkeypatch.setenv("HOME", str(tmp_path))
    shutil.copy(ROOT / "tests" / "data" / "frozen_v0.1.0.ckpt", tmp_path / "x.ckpt")
    assert resolve_checkpoint("~/x.ckpt", tmp_path / "runs") == str(tmp_path / "x.ckpt")


def test_last_is_found_under_a_tilde_default_root_dir(tmp_path, monkeypatch):
    """``trainer.default_root_dir: ~/runs``, where Lightning writes to the home folder: ``--ckpt_path last`` looked
    for ``./~/runs`` and found no run."""
    monkeypatch.setenv("HOME", str(tmp_path))
    last = tmp_path / "runs" / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "data" / "frozen_v0.1.0.ckpt", last)
    assert resolve_checkpoint("last", "~/runs") == str(last)


def test_a_whole_checkpoint_loaded_onto_a_gpu_the_machine_lacks_is_not_called_damaged(monkeypatch):
    """A checkpoint moved to a machine without a GPU and loaded with ``map_location="cuda"`` (as on the machine
    it came from) was said to be "truncated, damaged or of another format"."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # a machine without a GPU, wherever this runs
    frozen = ROOT / "tests" / "data" / "frozen_v0.1.0.ckpt"
    with pytest.raises(
        ValueError,
        match=r"frozen_v0.1.0.ckpt cannot load onto map_location='cuda' on this machine .*map_location='cpu'",
    ) as refused:
        Forecaster.load(frozen, map_location="cuda")
    assert "damaged" not in str(refused.value)


class _Writer(Exception):
    """Raised with the trainer's checkpoint writer as soon as the fit sets up: what fit chose, without a fit."""


class _StopAtSetup(Callback):
    def setup(self, trainer, pl_module, stage) -> None:
        raise _Writer(trainer.strategy.checkpoint_io)


@pytest.mark.parametrize(
    "plugins", [None, LightningEnvironment(), [LightningEnvironment()]], ids=["none", "one", "list"]
)
def test_fit_writes_checkpoints_atomically_beside_plugins_that_do_not_write_them(plugins, long_frame, tmp_path):
    """An environment plugin (SLURMEnvironment, say) dropped fit's atomic writer: a kill during a save could
    leave a truncated last.ckpt."""
    trainer = {
        "default_root_dir": tmp_path,
        "max_epochs": 1,
        "logger": False,
        "callbacks": [_StopAtSetup()],
        "plugins": plugins,
    }
    with pytest.raises(_Writer) as chosen:
        forecast.fit(long_frame, lookback=8, horizon=2, data={"columns": Columns(targets=["y"])}, trainer=trainer)
    assert isinstance(chosen.value.args[0], AtomicCheckpointIO)


def test_fit_writes_checkpoints_with_a_checkpoint_writer_of_ones_own(long_frame, tmp_path):
    trainer = {"default_root_dir": tmp_path, "max_epochs": 1, "logger": False, "callbacks": [_StopAtSetup()],
               "plugins": [TorchCheckpointIO()]}  # fmt: skip
    with pytest.raises(_Writer) as chosen:
        forecast.fit(long_frame, lookback=8, horizon=2, data={"columns": Columns(targets=["y"])}, trainer=trainer)
    assert type(chosen.value.args[0]) is TorchCheckpointIO
