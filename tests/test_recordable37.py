"""A part built in Python whose argument a checkpoint cannot rebuild (``LambdaLR``'s function, SegRNN's recipe) is
refused before a fit that writes checkpoints, naming the argument: it trained the whole fit and then its
``Forecaster.load`` refused the checkpoint with "not a subclass of typing.Any". A fit without checkpoints keeps it
(``tests/test_optim_audit26.py``, the ``segrnn`` schedule)."""

import functools
import typing

import pytest
import torch

import forecast
from forecast.nn import GRUEncoder
from forecast.specs import hint_bases


def segrnn_factor(epoch: int) -> float:
    """SegRNN's recipe: the rate constant for 3 epochs, then 0.8 times the last each epoch."""
    return 1.0 if epoch < 3 else 0.8 ** (epoch - 2)


def _fit(frame, root):
    model = {
        "encoder": functools.partial(GRUEncoder, hidden_size=4),
        "lr_scheduler": functools.partial(torch.optim.lr_scheduler.LambdaLR, lr_lambda=segrnn_factor),
    }
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    trainer = {"max_epochs": 2, "limit_train_batches": 2, "limit_val_batches": 1, "default_root_dir": root}
    return forecast.fit(frame, lookback=12, horizon=3, model=model, trainer=trainer | quiet)


def test_any_names_no_class_to_build():
    assert hint_bases(typing.Any) == ()
    assert hint_bases(typing.Any | None) == ()


def test_a_function_argument_is_refused_before_a_fit_that_writes_checkpoints(wide_frame, tmp_path):
    with pytest.raises(
        TypeError, match=r"'model.lr_scheduler.init_args.lr_lambda' names .*segrnn_factor.*would not load"
    ):
        _fit(wide_frame, tmp_path)
    assert not list(tmp_path.rglob("*.ckpt"))
