"""A fit bounded by ``trainer.max_steps`` and resumed from a checkpoint ends as the fit that never stopped: from the end
of an epoch (the README's ``max_steps`` then ``--ckpt_path last``) and from inside one. Under ``max_steps`` Lightning's
fit loop stays restarting: the first resumed with ``EarlyStopping``'s "Early stopping conditioned on metric `val/loss`
which is not available", the second trained its resumed epoch and then no batch of any later one."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--config", str(ROOT / "configs/etth1/gru.yaml"), "--data.lookback", "24", "--data.horizon", "12"]
ARGS += ["--model.encoder.init_args.hidden_size", "8", "--trainer.limit_train_batches", "5"]  # 5 steps an epoch
ARGS += ["--trainer.limit_val_batches", "2", "--trainer.enable_progress_bar", "false"]
ARGS += ["--trainer.enable_model_summary", "false", "--checkpoint.save_top_k", "-1"]
ARGS += ["--checkpoint.every_n_train_steps", "3"]

pytestmark = [
    pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended"),
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty"),
]


def _fit(root: Path, max_steps: int, *extra: str) -> Path:
    """A fit of ``ARGS`` to ``max_steps`` into ``root``; its run directory."""
    trainer = main(["fit", *ARGS, "--trainer.max_steps", str(max_steps), "--trainer.default_root_dir", str(root),
                    *extra]).trainer  # fmt: skip
    return Path(trainer.log_dir)


def _end(run: Path) -> tuple[int, dict[str, torch.Tensor], list[tuple[int, int, float]]]:
    """The global step and weights of the run's ``last.ckpt``, and its validations (epoch, step, val/loss)."""
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    metrics = pd.read_csv(run / "metrics.csv").dropna(subset=["val/loss"])
    validations = [(int(e), int(s), float(v)) for e, s, v in metrics[["epoch", "step", "val/loss"]].itertuples(False)]
    return last["global_step"], last["state_dict"], validations


@pytest.fixture(scope="module")
def whole(tmp_path_factory) -> Path:
    """The run of the fit to 20 steps (4 epochs) that never stopped."""
    return _fit(tmp_path_factory.mktemp("whole"), 20)


def _assert_same_end(run: Path, whole: Path, epochs: list[int]) -> None:
    step, weights, validations = _end(run)
    whole_step, whole_weights, whole_validations = _end(whole)
    assert step == whole_step == 20
    assert validations == [validation for validation in whole_validations if validation[0] in epochs]
    for name, value in whole_weights.items():
        assert torch.equal(weights[name], value), name


def test_a_fit_to_max_steps_resumed_from_last_trains_on_to_the_new_bound_as_one_never_stopped(tmp_path, whole):
    _fit(tmp_path, 10)  # 2 epochs
    _assert_same_end(_fit(tmp_path, 20, "--ckpt_path", "last"), whole, epochs=[2, 3])


def test_a_fit_to_max_steps_resumed_inside_an_epoch_trains_every_later_epoch(tmp_path, whole):
    killed = tmp_path / "killed.ckpt"  # as a kill after step 12, inside epoch 2, leaves the fit
    shutil.copy(whole / "checkpoints" / "epoch=2-step=12.ckpt", killed)
    _assert_same_end(_fit(tmp_path / "resumed", 20, "--ckpt_path", str(killed)), whole, epochs=[2, 3])
