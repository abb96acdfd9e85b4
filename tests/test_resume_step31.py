"""A fit under a per-step ``ReduceLROnPlateau`` on ``train/loss``, killed and resumed from a checkpoint written between
an optimizer step and the plateau step after it, ends as the fit that never stopped."""

import functools
from pathlib import Path

import lightning as L
import pytest
import torch
from test_resume_leftovers27 import _KillAtBatch, _Killed

from forecast import Forecaster
from forecast.batch import Batch
from forecast.callbacks import ResumableModelCheckpoint
from forecast.data.windows import ResumableDataLoader, collate_batch
from forecast.nn import IdentityEncoder

TARGETS = (0.1, 0.5, 2.0, 1.0, 3.0, 0.2)  # one batch each: 6 batches an epoch, a step after batch 2 and 5 under 3

pytestmark = [
    pytest.mark.filterwarnings("ignore:You're resuming from a checkpoint that ended before the epoch ended"),
    pytest.mark.filterwarnings("ignore:.*does not have many workers:UserWarning"),
    pytest.mark.filterwarnings("ignore:Checkpoint directory .* exists and is not empty"),
]


def _batch(target: float, generator: torch.Generator) -> Batch:
    """Two windows of one channel of small random pasts whose targets are all ``target``."""
    return Batch(
        past=torch.randn(2, 4, 1, generator=generator), future=torch.zeros(2, 2, 0), static=torch.zeros(2, 0),
        target=torch.full((2, 2, 1), target), series=torch.zeros(2, dtype=torch.long), time=torch.arange(2),
        target_scale=torch.ones(2, 1), target_offset=torch.zeros(2, 1), naive_scale=torch.ones(2, 1),
    )  # fmt: skip


def _fit(
    root: Path, accumulate: int, every_n_train_steps: int | None, kill_at: tuple[int, int] | None = None
) -> tuple[dict[str, torch.Tensor], dict]:
    """Two epochs of 6 batches, a plateau (patience 0) on ``train/loss`` stepped after every optimizer step,
    checkpoints every ``every_n_train_steps`` steps or, without, at a validation every 3 batches; killed as batch
    ``kill_at`` (epoch, index) starts, or resumed from ``root``'s ``last.ckpt`` where it exists. The final weights and
    plateau state."""
    last = root / "checkpoints" / "last.ckpt"
    checkpoint = ResumableModelCheckpoint(
        monitor=None if every_n_train_steps else "val/loss", save_last=True, every_n_train_steps=every_n_train_steps
    )
    trainer = L.Trainer(
        max_epochs=2, accumulate_grad_batches=accumulate, val_check_interval=None if every_n_train_steps else 3,
        default_root_dir=root, logger=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, callbacks=[checkpoint] + ([_KillAtBatch(*kill_at)] if kill_at is not None else []),
    )  # fmt: skip
    generator = torch.Generator().manual_seed(0)
    batches = [_batch(target, generator) for target in TARGETS]
    consumed = lambda: trainer.fit_loop.epoch_loop.batch_progress.current.ready  # noqa: E731
    loader = ResumableDataLoader(batches, batch_size=None, collate_fn=collate_batch, consumed=consumed)
    validation = torch.utils.data.DataLoader(batches[:1], batch_size=None, collate_fn=collate_batch)
    torch.manual_seed(0)
    model = Forecaster(
        4, 2, 1, 1, encoder=IdentityEncoder, optimizer=functools.partial(torch.optim.SGD, lr=0.05),
        lr_scheduler=functools.partial(torch.optim.lr_scheduler.ReduceLROnPlateau, patience=0, factor=0.5),
        lr_scheduler_interval="step", lr_scheduler_monitor="train/loss",
    )  # fmt: skip
    resume = kill_at is None and last.exists()
    trainer.fit(model, loader, validation, ckpt_path=str(last) if resume else None)
    (config,) = trainer.lr_scheduler_configs
    return model.state_dict(), config.scheduler.state_dict()


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """The end of the fit that never stopped, by ``accumulate`` (its validations and checkpoints change nothing it
    trains), each fitted once for the module's tests."""
    ends = {}

    def end(accumulate: int) -> tuple[dict[str, torch.Tensor], dict]:
        if accumulate not in ends:
            ends[accumulate] = _fit(tmp_path_factory.mktemp("whole"), accumulate, every_n_train_steps=None)
        return ends[accumulate]

    return end


def _resumed(root: Path, accumulate: int, every_n_train_steps: int | None, kill_at: tuple[int, int]) -> tuple:
    """The fit killed at ``kill_at`` and resumed from its ``last.ckpt``; the global step that file holds, and the
    end."""
    with pytest.raises(_Killed):
        _fit(root, accumulate, every_n_train_steps, kill_at)
    step = torch.load(root / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    return step, _fit(root, accumulate, every_n_train_steps)


def _assert_same_end(parts: tuple[dict, dict], whole: tuple[dict, dict]) -> None:
    """The same weights to the bit, and the same plateau state: learning rates, best score, bad steps, steps taken."""
    (weights, plateau), (whole_weights, whole_plateau) = parts, whole
    assert whole_plateau["_last_lr"] != [0.05]  # the whole fit cut its rate: the steps' scores matter
    for name, value in whole_weights.items():
        assert torch.equal(weights[name], value), name
    for key in ("_last_lr", "best", "num_bad_epochs", "last_epoch", "cooldown_counter"):
        assert plateau[key] == whole_plateau[key], key


@pytest.mark.parametrize("accumulate", [1, 3])
def test_a_fit_resumed_from_a_validation_right_after_an_optimizer_step_ends_as_one_never_stopped(
    tmp_path, whole, accumulate
):
    """The validation after batch 2 of epoch 0 follows the step of batch 2 and comes before Lightning's plateau step of
    it, which the resumed fit took again with no ``train/loss`` logged: "MisconfigurationException: ReduceLROnPlateau
    conditioned on metric train/loss which is not available"."""
    step, parts = _resumed(tmp_path, accumulate, None, kill_at=(0, 4))
    assert step == 3 // accumulate  # written at batch 2, whose optimizer step it follows
    _assert_same_end(parts, whole(accumulate))


@pytest.mark.parametrize("accumulate", [1, 3])
def test_a_fit_resumed_from_a_checkpoint_every_n_train_steps_takes_the_plateau_step_it_was_written_before(
    tmp_path, whole, accumulate
):
    """``every_n_train_steps`` writes at the end of batch 2, after its optimizer step and before Lightning's plateau
    step of it, which the resumed fit never took: its learning rates and plateau state, and so its weights, went
    apart."""
    step, parts = _resumed(tmp_path, accumulate, 3 // accumulate, kill_at=(0, 4))
    assert step == 3 // accumulate
    _assert_same_end(parts, whole(accumulate))


@pytest.mark.parametrize("accumulate", [1, 3])
def test_a_fit_resumed_from_the_end_of_an_epoch_takes_no_plateau_step_twice(tmp_path, whole, accumulate):
    """The checkpoint of the epoch's last step is written at the epoch's end, after its plateau step: the resumed fit
    owes none."""
    step, parts = _resumed(tmp_path, accumulate, 3 // accumulate, kill_at=(1, 0))
    assert step == 6 // accumulate
    _assert_same_end(parts, whole(accumulate))
