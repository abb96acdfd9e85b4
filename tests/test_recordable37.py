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


def segrnn_factor(epoch: int, decay: float = 0.8) -> float:
    """SegRNN's recipe: the rate constant for 3 epochs, then ``decay`` times the last each epoch."""
    return 1.0 if epoch < 3 else decay ** (epoch - 2)


class SegRNNLR(torch.optim.lr_scheduler.LambdaLR):
    """The same schedule, built from plain arguments: what the refusal asks for."""

    def __init__(self, optimizer: torch.optim.Optimizer, decay: float = 0.8) -> None:
        super().__init__(optimizer, lr_lambda=functools.partial(segrnn_factor, decay=decay))


class WrappedGRU(torch.nn.Module):
    """An encoder of an encoder's interface that is no ``forecast.nn.Encoder``: it trains, but no checkpoint loads."""

    state_holds_last = True

    def __init__(self, input_size: int) -> None:
        super().__init__()
        self.inner = GRUEncoder(input_size, hidden_size=4)
        self.output_size = self.inner.output_size

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None):
        return self.inner(x, state)


def _fit(frame, root, schedule=functools.partial(torch.optim.lr_scheduler.LambdaLR, lr_lambda=segrnn_factor),
         encoder=functools.partial(GRUEncoder, hidden_size=4)):  # fmt: skip
    model = {"encoder": encoder, "lr_scheduler": schedule}
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


def test_an_encoder_that_is_no_encoder_is_refused_before_the_fit(wide_frame, tmp_path):
    with pytest.raises(TypeError, match=r"'model.encoder' names .*WrappedGRU, which is not a subclass of .*Encoder"):
        _fit(wide_frame, tmp_path, encoder=WrappedGRU)
    assert not list(tmp_path.rglob("*.ckpt"))


def test_the_schedule_as_a_class_of_plain_arguments_fits_and_loads(wide_frame, tmp_path):
    model = _fit(wide_frame, tmp_path, schedule=functools.partial(SegRNNLR, decay=0.5))  # fit loads its best checkpoint
    assert model.hparams["lr_scheduler"]["init_args"] == {"decay": 0.5}
