"""An epoch cut short by ``max_steps`` is closed (a resume starts the next one), and so it takes its per-epoch
learning-rate step: a resumed fit trains each epoch at the rate of the schedule's formula, as one never stopped.
Lightning takes that step only after an epoch's last batch, so the schedule ran one epoch behind the epochs."""

import functools

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster
from forecast.callbacks import RandomStateCheckpoint, ResumableModelCheckpoint
from forecast.data import TimeSeriesDataModule
from forecast.nn import GRUEncoder

LR, GAMMA = 0.01, 0.5
pytestmark = pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended")


class EpochRates(L.Callback):
    """The learning rate each epoch trains with."""

    def __init__(self) -> None:
        self.rates: dict[int, float] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.rates.setdefault(trainer.current_epoch, trainer.optimizers[0].param_groups[0]["lr"])


def _fit(root, ckpt_path=None, **bounds) -> tuple[dict[int, float], L.Trainer]:
    frame = pd.DataFrame({"a": np.sin(np.arange(200) / 4)}, index=pd.date_range("2024-01-01", periods=200, freq="h"))
    data = TimeSeriesDataModule(frame, lookback=12, horizon=3, batch_size=16)  # 8 batches an epoch
    schedule = functools.partial(torch.optim.lr_scheduler.StepLR, step_size=1, gamma=GAMMA)
    model = Forecaster(lookback=12, horizon=3, input_size=1, target_size=1, future_size=data.future_size,
                       encoder=functools.partial(GRUEncoder, hidden_size=4),
                       optimizer=functools.partial(torch.optim.SGD, lr=LR), lr_scheduler=schedule)  # fmt: skip
    rates = EpochRates()
    checkpoint = ResumableModelCheckpoint(monitor="val/loss", save_last=True)
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    callbacks = [rates, RandomStateCheckpoint(), checkpoint]
    trainer = L.Trainer(default_root_dir=root, limit_val_batches=1, callbacks=callbacks, **quiet, **bounds)
    trainer.fit(model, data, ckpt_path=ckpt_path)
    return rates.rates, trainer


@pytest.mark.parametrize("bound", [{"max_steps": 40}, {"max_epochs": 5}])
def test_a_fit_resumed_after_an_epoch_cut_by_max_steps_keeps_the_schedule_of_its_epochs(tmp_path, bound):
    _fit(tmp_path, max_steps=12)  # epoch 0 and half of epoch 1
    rates, trainer = _fit(tmp_path, ckpt_path=str(tmp_path / "checkpoints" / "last.ckpt"), **bound)
    assert min(rates) == 2  # the resume started the next epoch
    assert rates == pytest.approx({epoch: LR * GAMMA**epoch for epoch in rates}, rel=1e-12)
    assert trainer.lr_scheduler_configs[0].scheduler.last_epoch == trainer.current_epoch
