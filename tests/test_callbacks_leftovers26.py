"""A used checkpoint callback copies without the run it served."""

import copy

import lightning as L
import numpy as np
import pandas as pd
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.callbacks import ResumableModelCheckpoint


def reachable(root: object) -> list[object]:
    """The objects that ``root``'s attributes and containers lead to, recursively."""
    seen, stack, found = set(), [root], []
    while stack:
        item = stack.pop()
        if id(item) in seen or isinstance(item, (str, bytes, int, float, bool, type(None), torch.Tensor)):
            continue
        seen.add(id(item))
        found.append(item)
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set)):
            stack += list(item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack += list(vars(item).values())
    return found


def test_a_checkpoint_callback_after_its_fit_copies_without_the_trainer_model_and_data(tmp_path):
    """A backtest's refits each take a copy of the trainer's callbacks: a used ResumableModelCheckpoint copied the
    fit's trainer with it, and so the model and the data module (its whole buffer) once per refit."""
    index = pd.date_range("2024-01-01", periods=120, freq="h")
    data = TimeSeriesDataModule(pd.DataFrame({"y": np.sin(np.arange(120) / 4)}, index=index), 12, 4, batch_size=16)
    checkpoint = ResumableModelCheckpoint(dirpath=tmp_path, monitor="val/loss")
    trainer = L.Trainer(
        max_epochs=1, limit_train_batches=2, callbacks=[checkpoint], logger=False, enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(Forecaster(lookback=12, horizon=4, input_size=1, target_size=1), data)
    copied = reachable(copy.deepcopy(checkpoint))
    assert not [item for item in copied if isinstance(item, (L.Trainer, L.LightningModule, L.LightningDataModule))]
    assert checkpoint.best_model_path  # the copy keeps what the callback recorded
