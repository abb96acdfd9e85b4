"""Training through the real CLI: same-seed reruns, the NaN stop, exact resume."""

import datetime
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping

import forecast
from forecast import TimeSeriesDataModule
from forecast.cli import main, resolve_checkpoint
from forecast.data import DateSplit
from forecast.datasets import load
from forecast.nn import GRUEncoder

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def fit(tiny_cli):
    """``fit(csv, root, *args)``: ``forecast fit`` of the quickstart config on a tiny frame, in this process."""

    def run(csv: str, root: Path, *args: str):
        tiny = [*tiny_cli(csv, root, batch_size=32), "--trainer.deterministic", "true"]
        return main(["fit", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny, *args])

    return run


def validation_metrics(root: Path) -> pd.DataFrame:
    metrics = pd.read_csv(root / "lightning_logs/version_0/metrics.csv")
    return metrics.filter(regex="^val/").dropna().reset_index(drop=True)


def test_fit_with_the_same_seed_repeats_its_validation_metrics(wide_csv, tmp_path, fit):
    for run, seed in [("first", "7"), ("again", "7"), ("other", "8")]:
        fit(wide_csv, tmp_path / run, "--seed_everything", seed)
    first = validation_metrics(tmp_path / "first")
    assert len(first) == 2
    pd.testing.assert_frame_equal(validation_metrics(tmp_path / "again"), first, check_exact=True)
    assert not validation_metrics(tmp_path / "other").equals(first)  # the seed does decide the run


def test_fit_stops_at_a_nan_loss_naming_step_and_batch(wide_csv, tmp_path, fit):
    exploding = ["--model.optimizer", "torch.optim.SGD", "--model.optimizer.lr", "1e30"]
    with pytest.raises(FloatingPointError, match=r"epoch 0, global step 1, batch index 1 of the epoch"):
        fit(wide_csv, tmp_path, *exploding)
    assert not list(tmp_path.glob("**/*.ckpt"))  # no checkpoint of NaN weights


@pytest.fixture(scope="module")
def three_epochs(tmp_path_factory, fit):
    """``three_epochs(csv, workers) -> Path``: the ``last.ckpt`` of a 3-epoch ``fit`` of ``csv`` with ``workers``
    data loader workers, run once for each content of ``csv`` and ``workers`` (the stop tests below share it)."""
    runs = {}

    def run(csv: str, workers: str) -> Path:
        key = (Path(csv).read_bytes(), workers)
        if key not in runs:
            root = tmp_path_factory.mktemp("whole")
            fit(csv, root, "--trainer.max_epochs", "3", "--data.num_workers", workers)
            runs[key] = resolve_checkpoint("last", root)
        return runs[key]

    return run


@pytest.mark.parametrize(
    ("stop", "stopped_at", "workers"),
    [
        (["--trainer.max_epochs", "2"], 8, "0"),  # at an epoch boundary (4 batches an epoch)
        (["--trainer.max_steps", "6", "--checkpoint.every_n_train_steps", "1"], 6, "0"),  # in the second epoch
        (["--trainer.max_epochs", "2"], 8, "1"),  # at an epoch boundary, the resumed run with new worker processes
    ],
    ids=["epoch-boundary", "mid-epoch", "epoch-boundary-workers"],
)
def test_fit_stopped_and_resumed_ends_with_the_weights_of_one_run(
    stop, stopped_at, workers, wide_csv, tmp_path, fit, three_epochs
):
    fit(wide_csv, tmp_path / "parts", *stop, "--data.num_workers", workers)
    stopped = torch.load(resolve_checkpoint("last", tmp_path / "parts"), weights_only=True)
    assert stopped["global_step"] == stopped_at
    fit(wide_csv, tmp_path / "parts", "--trainer.max_epochs", "3", "--ckpt_path", "last", "--data.num_workers", workers)
    whole = torch.load(three_epochs(wide_csv, workers), weights_only=True)
    parts = torch.load(resolve_checkpoint("last", tmp_path / "parts"), weights_only=True)
    assert (parts["epoch"], parts["global_step"]) == (whole["epoch"], whole["global_step"]) == (2, 12)
    for name, weight in whole["state_dict"].items():
        torch.testing.assert_close(parts["state_dict"][name], weight, rtol=0, atol=0, msg=name)


def test_checkpoint_every_n_train_steps_reaches_the_model_checkpoint(wide_csv, tmp_path, fit):
    trainer = fit(wide_csv, tmp_path, "--checkpoint.every_n_train_steps", "3", "--trainer.max_epochs", "1").trainer
    assert trainer.checkpoint_callback._every_n_train_steps == 3  # Lightning keeps it under this name only
    assert trainer.checkpoint_callback.monitor == "val/loss"  # the CLI's other checkpoint defaults stay


# 4 batches an epoch and a checkpoint every 3 steps (the first at step 6, once val/loss exists), 4 epochs.
KILLABLE = ["--trainer.deterministic", "true", "--checkpoint.every_n_train_steps", "3", "--trainer.max_epochs", "4"]
# Every kill point after the first checkpoint (hook, how many calls of it the kill lands on): step
# boundaries, inside the optimizer step, during the saves (the best and last.ckpt at steps 6, 9 and 12,
# last.ckpt alone at 15, where val/loss did not improve, and the 8th at the fit's end), validations,
# epoch ends and starts.
KILL_POINTS = [
    *((hook, count) for hook in ("on_train_batch_start", "on_before_optimizer_step", "on_train_batch_end")
      for count in range(7, 17)),
    *(("on_save_checkpoint", count) for count in range(3, 9)),
    *((hook, count) for hook in ("on_validation_start", "on_validation_end", "on_train_epoch_end")
      for count in range(2, 5)),
    *(("on_train_epoch_start", count) for count in range(3, 5)),
]  # fmt: skip


def killable_args(csv: Path, root: Path, tiny_cli, *args: str) -> list[str]:
    """``forecast fit`` of the quickstart config on ``csv`` into ``root``, as ``KILLABLE`` sets it, then ``args``."""
    return ["fit", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(csv, root, batch_size=32), *KILLABLE,
            *args]  # fmt: skip


@pytest.fixture(scope="module")
def killed_fit(tiny_cli):
    """``killed_fit(csv, root, hook, count)``: the ``killable_args`` fit in a process of its own, with one thread,
    killed at the ``count``-th call of ``hook``; its return code."""

    def run(csv: Path, root: Path, hook: str, count: int) -> int:
        program = [str(ROOT / "tests/killed_fit.py"), hook, str(count)]
        command = [sys.executable, *program, *killable_args(csv, root, tiny_cli)]
        env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
        return subprocess.run(command, env=env, cwd=root.parent, capture_output=True, timeout=300).returncode

    return run


@pytest.fixture(scope="module")
def killable_fit(tiny_cli):
    """``killable_fit(csv, root, *args)``: the ``killable_args`` fit in this process, with one thread as
    ``killed_fit`` has, so that the two compute alike to the last bit."""

    def run(csv: Path, root: Path, *args: str) -> None:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            main(killable_args(csv, root, tiny_cli, *args))
        finally:
            torch.set_num_threads(threads)

    return run


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, killable_fit) -> dict[str, Path]:
    """200 hourly rows of 3 ETTh1 columns, and the run directory of a fit of them never killed."""
    root = tmp_path_factory.mktemp("killable")
    load("etth1").iloc[:200, :3].to_csv(root / "etth1.csv")
    killable_fit(root / "etth1.csv", root / "whole")
    return {"csv": root / "etth1.csv", "whole": root / "whole"}


def logged_validation(run: Path) -> dict[int, float]:
    logged = pd.read_csv(run / "metrics.csv")
    return dict(zip(logged["epoch"][logged["val/loss"].notna()].astype(int), logged["val/loss"].dropna(), strict=True))


# In the default run, the point one CI run hit: in epoch 2's validation, after its last step (once checkpointed
# before the validation, which a resumed run then skipped, ending its last.ckpt a step beyond the whole run's).
# The other points run under `-m slow`.
DEFAULT_KILLS = [("on_validation_start", 3)]


@pytest.mark.parametrize(
    ("hook", "count"),
    [*DEFAULT_KILLS, *(pytest.param(*p, marks=pytest.mark.slow) for p in KILL_POINTS if p not in DEFAULT_KILLS)],
)
def test_fit_killed_and_resumed_ends_with_the_weights_of_one_run(
    hook, count, uninterrupted, tmp_path, killed_fit, killable_fit
):
    csv, run = uninterrupted["csv"], tmp_path / "run"
    assert killed_fit(csv, run, hook, count) == -signal.SIGKILL
    killed = torch.load(resolve_checkpoint("last", run), weights_only=True)  # whole, despite the kill
    progress = killed["loops"]["fit_loop"]["epoch_loop.batch_progress"]["current"]
    killable_fit(csv, run, "--ckpt_path", "last")
    resumed = torch.load(resolve_checkpoint("last", run), weights_only=True)
    whole = torch.load(resolve_checkpoint("last", uninterrupted["whole"]), weights_only=True)
    assert resumed["global_step"] == whole["global_step"] == 16, f"killed at {progress}"
    for name, weight in whole["state_dict"].items():
        torch.testing.assert_close(resumed["state_dict"][name], weight, rtol=0, atol=0, msg=name)
    # The resumed run validated every epoch that the killed checkpoint had not, as the whole run did.
    validated = logged_validation(run / "lightning_logs/version_1")
    first = killed["epoch"] + (progress["completed"] == 4)  # a checkpoint at an epoch's end holds its validation
    expected = {
        epoch: loss
        for epoch, loss in logged_validation(uninterrupted["whole"] / "lightning_logs/version_0").items()
        if epoch >= first
    }
    assert validated == expected, f"killed at {progress}"


@pytest.mark.parametrize(
    "encoder",
    [["RNNEncoder"], ["LSTMEncoder"], ["GRUEncoder"], ["GRUEncoder", "--model.encoder.bidirectional", "true"],
     ["SRUEncoder", "--model.encoder.num_layers", "2"]],
    ids=["rnn", "lstm", "gru", "bigru", "sru"],
)  # fmt: skip
def test_fit_in_bf16_mixed_precision_trains_every_encoder(encoder, wide_csv, tmp_path, fit):
    # The GPU preset's precision, here on the CPU, where autocast also runs the matrix products in bfloat16.
    name, *options = encoder
    model = ["--model.encoder", f"forecast.nn.{name}", *options, "--trainer.precision", "bf16-mixed"]
    trainer = fit(wide_csv, tmp_path, *model, "--trainer.max_epochs", "1").trainer
    assert trainer.precision == "bf16-mixed" and type(trainer.model.encoder).__name__ == name
    losses = pd.read_csv(tmp_path / "lightning_logs/version_0/metrics.csv")["val/loss"].dropna()
    assert len(losses) == 1 and np.isfinite(losses).all()


def forecast_fit_in_python(frame: pd.DataFrame, root: Path, **options) -> "forecast.Forecaster":
    """``forecast.fit`` of one quick epoch of a tiny GRU on ``frame``, logging nothing, into ``root``."""
    trainer = {"max_epochs": 1, "limit_train_batches": 2, "enable_progress_bar": False, "logger": False,
               "enable_model_summary": False, "default_root_dir": str(root)} | options.pop("trainer", {})  # fmt: skip
    model = {"encoder": functools.partial(GRUEncoder, hidden_size=8)} | options.pop("model", {})
    return forecast.fit(frame, lookback=24, horizon=6, trainer=trainer, model=model, **options)


@pytest.mark.parametrize("callbacks", [None, EarlyStopping("val/loss")], ids=["none", "one"])
def test_forecast_fit_takes_the_callbacks_a_trainer_takes(callbacks, wide_frame, tmp_path):
    # lightning.Trainer takes a list of callbacks, one callback or None.
    model = forecast_fit_in_python(wide_frame, tmp_path, trainer={"callbacks": callbacks})
    assert isinstance(model, forecast.Forecaster)


def test_forecast_fit_with_a_checkpoint_callback_of_ones_own_returns_its_best(wide_frame, tmp_path):
    """A ModelCheckpoint like fit's own (monitor val/loss, min) among the trainer's callbacks failed with Lightning's
    "Found more than one stateful callback of type ModelCheckpoint"; it takes the place of fit's own."""
    from lightning.pytorch.callbacks import ModelCheckpoint

    mine = ModelCheckpoint(dirpath=tmp_path / "mine", monitor="val/loss", mode="min", filename="best")
    model = forecast_fit_in_python(wide_frame, tmp_path, trainer={"callbacks": [mine], "max_epochs": 2})
    assert Path(mine.best_model_path) == tmp_path / "mine" / "best.ckpt"
    loaded = forecast.Forecaster.load(mine.best_model_path)
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, loaded.state_dict()[name])


def test_forecast_fit_records_numpy_values_as_plain_numbers(wide_frame, tmp_path):
    # A sweep over np.linspace gives NumPy floats; torch.load(weights_only=True) refuses NumPy objects.
    (dropout,) = np.linspace(0.2, 0.2, 1)
    encoder = functools.partial(GRUEncoder, hidden_size=8, num_layers=2, dropout=dropout)
    model = forecast_fit_in_python(wide_frame, tmp_path, model={"encoder": encoder})
    recorded = torch.load(tmp_path / "checkpoints/last.ckpt", weights_only=True)["hyper_parameters"]["encoder"]
    assert recorded["init_args"]["dropout"] == 0.2 and type(recorded["init_args"]["dropout"]) is float
    assert isinstance(model, forecast.Forecaster)  # loaded from that file


def test_a_data_module_records_a_split_of_datetimes(wide_frame):
    # What cannot be a spec is recorded by its repr (forecast.specs.to_record), built-in types too.
    split = DateSplit(val_start=datetime.datetime(2024, 1, 6), test_start=datetime.datetime(2024, 1, 8))
    data = TimeSeriesDataModule(wide_frame, lookback=24, horizon=6, split=split)
    assert data.hparams["split"] == repr(split)


def test_forecast_fit_with_numpy_optimizer_settings_writes_checkpoints_that_load(wide_frame, tmp_path):
    """A learning rate from a NumPy grid (np.float64, a float) stayed NumPy in the optimizer's state, which a
    checkpoint load with weights_only refuses: fit failed to load its own best checkpoint, called damaged."""
    learning_rates = np.linspace(1e-3, 1e-2, 3)
    optimizer = functools.partial(torch.optim.Adam, lr=learning_rates[0], betas=(np.float64(0.9), 0.999))
    scheduler = functools.partial(torch.optim.lr_scheduler.ExponentialLR, gamma=np.float64(0.9))
    model = forecast_fit_in_python(wide_frame, tmp_path, model={"optimizer": optimizer, "lr_scheduler": scheduler})
    assert isinstance(model, forecast.Forecaster)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"enable_checkpointing": False}, r"returns the model of its best checkpoint.*drop enable_checkpointing=False"),
        ({"fast_dev_run": True}, r"wrote no checkpoint.*fast_dev_run.*max_epochs=1, limit_train_batches=1"),
        ({"max_steps": 0}, r"wrote no checkpoint.*max_steps=0"),
    ],
    ids=["checkpointing-off", "fast-dev-run", "no-step"],
)
def test_forecast_fit_that_can_write_no_checkpoint_says_which_trainer_option_stops_it(
    options, message, wide_frame, tmp_path
):
    """A fit that wrote no checkpoint failed to load one from the path '' (the working directory, "a folder"),
    and ``enable_checkpointing=False`` failed with Lightning's complaint about a ModelCheckpoint the user never gave."""
    with pytest.raises(ValueError, match=message):
        forecast_fit_in_python(wide_frame, tmp_path, trainer=options)
