"""Hand mutation testing, round 4 (second part): tests for mutants of a loaded model's per-step plateau state and of
the check that a backtest's first refit has a training window with an observed target, which the suite let
through. Each fails under its mutant and passes on the real code."""

import functools
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.backtest import backtest_windows, check_refit_start, refit_groups
from forecast.batch import Batch
from forecast.data import RowSplit
from forecast.data.windows import collate_batch
from forecast.nn import IdentityEncoder

pytestmark = pytest.mark.filterwarnings("ignore")  # Lightning's notes on workers, validation and logging


def _plateau_model() -> Forecaster:
    """A model of no encoder under a per-step ``ReduceLROnPlateau`` (patience 0) on ``train/loss``."""
    torch.manual_seed(0)
    return Forecaster(
        4, 2, 1, 1, encoder=IdentityEncoder, optimizer=functools.partial(torch.optim.SGD, lr=0.05),
        lr_scheduler=functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, factor=0.5),
        lr_scheduler_interval="step", lr_scheduler_monitor="train/loss",
    )  # fmt: skip


def _one_step_trainer(root: Path) -> L.Trainer:
    """A quiet trainer that stops after one optimizer step."""
    return L.Trainer(
        max_steps=1, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=root,
    )  # fmt: skip


def _plateau_after_one_step(path: Path, root: Path) -> dict:
    """The plateau state of the model loaded from ``path`` after a fit from scratch of one step on one batch."""
    generator = torch.Generator().manual_seed(0)
    batch = Batch(
        past=torch.randn(2, 4, 1, generator=generator), future=torch.zeros(2, 2, 0), static=torch.zeros(2, 0),
        target=torch.ones(2, 2, 1), series=torch.zeros(2, dtype=torch.long), time=torch.arange(2),
        target_scale=torch.ones(2, 1), target_offset=torch.zeros(2, 1), naive_scale=torch.ones(2, 1),
    )  # fmt: skip
    model = Forecaster.load_from_checkpoint(path, weights_only=True)
    trainer = _one_step_trainer(root)
    trainer.fit(model, torch.utils.data.DataLoader([batch], batch_size=None, collate_fn=collate_batch))
    return trainer.lr_scheduler_configs[0].scheduler.state_dict()


def test_a_model_loaded_from_a_checkpoint_owing_a_plateau_step_and_fitted_anew_takes_no_step_on_the_stale_score(
    tmp_path,
):
    """The checkpoint was written before a per-step plateau step (it keeps the score that step reads). Loaded outside
    a fit and fitted from scratch, the model steps its new plateau once, on its own loss: as the same checkpoint
    without that score, not first on the stale score, which would become the best and cut the rate at once."""
    model = _plateau_model()
    trainer = _one_step_trainer(tmp_path)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "clean.ckpt")
    checkpoint = torch.load(tmp_path / "clean.ckpt", weights_only=True)
    checkpoint["step_metrics"] = {"train/loss": torch.tensor(-1e9)}
    torch.save(checkpoint, tmp_path / "owing.ckpt")
    clean = _plateau_after_one_step(tmp_path / "clean.ckpt", tmp_path)
    owing = _plateau_after_one_step(tmp_path / "owing.ckpt", tmp_path)
    assert clean["last_epoch"] == 1 and clean["_last_lr"] == [0.05] and clean["best"] > 0
    for key in ("last_epoch", "_last_lr", "best", "num_bad_epochs"):
        assert owing[key] == clean[key], key


LOOKBACK, HORIZON, STRIDE, START = 6, 2, 2, 31
VAL_START = START - 8  # the refit validates the 8 rows before --start, as long as the split's rows 24-31


def _refit_training_windows(observed: np.ndarray) -> tuple[int, int]:
    """By brute force, the first refit's training windows (targets in rows before its validation part, ``STRIDE``
    apart from row ``LOOKBACK``), and how many have an observed target."""
    starts = range(LOOKBACK, VAL_START - HORIZON + 1, STRIDE)
    return len(starts), sum(observed[start : start + HORIZON].any() for start in starts)


@pytest.mark.parametrize(
    "seen",
    [
        [22],  # after the last training window: a stride of 1, or 6 target rows from row 20, would reach it
        [23],  # the refit's first validation row, a training target of the split's (from row 24)
        [25],  # in the refit's and the split's validation part
        [20],  # the last training window's target
        [6],  # the first training window's target
        [21, 30],  # the last training window's last target
    ],
)
def test_the_first_refit_keeps_a_training_window_exactly_where_one_has_an_observed_target(seen):
    """One series of 40 rows, the target observed in rows 0-5 (lookbacks only), ``seen`` and from ``START`` on, the
    rest repaired (ffill): the first refit is refused exactly where the brute force finds none of its training
    windows with an observed target, naming how many it has."""
    observed = np.zeros(40, dtype=bool)
    observed[:LOOKBACK] = observed[START:] = True
    observed[seen] = True
    frame = pd.DataFrame(
        {"y": np.where(observed, np.arange(40.0), np.nan)},
        index=pd.date_range("2024-01-01", periods=40, freq="h", name="time"),
    )
    data = TimeSeriesDataModule(
        frame, LOOKBACK, HORIZON, split=RowSplit(24, 32), train_stride=STRIDE, nan_policy="ffill"
    )
    data.setup("backtest")
    groups = refit_groups(backtest_windows(data, start=START, num_windows=1), refit_every=1)
    windows, kept = _refit_training_windows(observed)
    if kept:
        check_refit_start(data, groups)
        return
    message = rf"first refit would train on {windows} windows .* none has an observed value"
    with pytest.raises(ForecastDataError, match=message):
        check_refit_start(data, groups)
