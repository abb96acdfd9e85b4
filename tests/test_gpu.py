"""The GPU paths against the CPU's: cuDNN's encoders and the Triton SRU inside every encoder, bf16
autocast, and a bf16-mixed fit through Lightning. Skipped without CUDA (marker ``gpu``); the Triton
kernels themselves are held to the reference on the CPU interpreter in tests/kernels."""

import copy
import functools

import lightning as L
import pytest
import torch

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import RowSplit
from forecast.nn import GRUEncoder, LSTMEncoder, RNNEncoder, SRUEncoder

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

ENCODERS = {
    "rnn": functools.partial(RNNEncoder, hidden_size=32, num_layers=2),
    "lstm": functools.partial(LSTMEncoder, hidden_size=32, num_layers=2),
    "gru": functools.partial(GRUEncoder, hidden_size=32, num_layers=2),
    "bigru": functools.partial(GRUEncoder, hidden_size=32, num_layers=2, bidirectional=True),
    "sru": functools.partial(SRUEncoder, hidden_size=32, num_layers=2),
    "bisru-tanh": functools.partial(SRUEncoder, hidden_size=32, num_layers=2, bidirectional=True, use_tanh=True),
    "sru-projected": functools.partial(SRUEncoder, hidden_size=32, num_layers=3, projection_size=8, layer_norm=True),
}


@pytest.fixture
def full_float32(monkeypatch):
    """No TF32 in cuBLAS or cuDNN, so that the GPU's float32 is the CPU's float32."""
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)


def outputs_and_gradients(encoder: torch.nn.Module, inputs: torch.Tensor) -> list[torch.Tensor]:
    inputs = inputs.detach().requires_grad_()
    encoded = encoder(inputs)
    loss = encoded.sequence.square().sum() + encoded.last.sum()
    return [encoded.sequence, encoded.last, *torch.autograd.grad(loss, [inputs, *encoder.parameters()])]


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_every_encoder_gives_on_the_gpu_the_outputs_and_gradients_it_gives_on_the_cpu(full_float32, name):
    torch.manual_seed(0)
    encoder = ENCODERS[name](5).train()  # dropout is 0: train mode changes nothing but the kernels' paths
    inputs = torch.randn(8, 40, 5)
    on_cpu = outputs_and_gradients(encoder, inputs)
    on_gpu = outputs_and_gradients(copy.deepcopy(encoder).cuda(), inputs.cuda())
    for gpu, cpu in zip(on_gpu, on_cpu, strict=True):
        torch.testing.assert_close(gpu.cpu(), cpu, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_sru_under_bf16_autocast_returns_bf16_close_to_float32_with_finite_gradients(bidirectional):
    """The products run in bf16, the recurrence in float32 (a bf16 cell state would drift over the steps)."""
    torch.manual_seed(0)
    encoder = SRUEncoder(16, hidden_size=64, num_layers=2, bidirectional=bidirectional).cuda()
    inputs = torch.randn(8, 336, 16, device="cuda")
    full = encoder(inputs).sequence
    with torch.autocast("cuda", dtype=torch.bfloat16):
        half = encoder(inputs).sequence
    assert half.dtype == torch.bfloat16
    error = (half.float() - full).abs().mean() / full.abs().mean()
    assert error < 0.02, f"bf16 differs from float32 by {error:.3f} of its mean magnitude"
    half.float().square().sum().backward()
    assert all(torch.isfinite(parameter.grad).all() for parameter in encoder.parameters())


@pytest.mark.parametrize("encoder", [GRUEncoder, SRUEncoder], ids=["gru", "sru"])
def test_a_bf16_mixed_fit_on_the_gpu_lowers_the_validation_loss(wide_frame, encoder):
    data = TimeSeriesDataModule(wide_frame, 24, 6, columns=Columns(targets=["a"]), split=RowSplit(140, 170))
    torch.manual_seed(0)
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1,
                       encoder=functools.partial(encoder, hidden_size=32))  # fmt: skip
    options = dict(accelerator="gpu", devices=1, precision="bf16-mixed", logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    (before,) = L.Trainer(**options).validate(model, data, verbose=False)
    trainer = L.Trainer(max_epochs=20, **options)
    trainer.fit(model, data)
    (after,) = trainer.validate(model, data, verbose=False)
    assert trainer.strategy.root_device.type == "cuda"  # Lightning moves the model back to the CPU after fit
    assert after["val/loss"] < 0.9 * before["val/loss"]  # on the CPU in float32: 0.80x (GRU), 0.52x (SRU)
