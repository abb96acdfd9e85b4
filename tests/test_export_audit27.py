"""An SRU's exported program: ops per time step, the dtype its recurrence runs in; every encoder's against its model."""

import functools
import warnings

import pytest
import torch

from forecast import Forecaster
from forecast.export import example_inputs, to_program
from forecast.nn import GRUEncoder, LSTMEncoder, RNNEncoder, SRUEncoder
from forecast.nn.sru import SRULayer


def program(layer: SRULayer, steps: int) -> torch.export.ExportedProgram:
    return torch.export.export(layer, (torch.randn(2, steps, 3),))


def test_a_bidirectional_sru_program_grows_by_a_few_ops_per_time_step_and_gives_the_layers_outputs():
    """torch.export unrolls the recurrence's time loop: it recorded the reference's 36 ops per step and direction, so
    that a bidirectional SRU forecaster of a lookback of 96 took 26 s to export (3 s with 6 ops per step)."""
    torch.manual_seed(0)
    layer = SRULayer(3, 4, bidirectional=True, use_tanh=True).eval()
    short, long = program(layer, 1), program(layer, 3)
    assert (len(long.graph.nodes) - len(short.graph.nodes)) / 2 <= 8  # 6 in torch 2.13; the reference records 72
    x = torch.randn(2, 3, 3)
    for got, want in zip(long.module()(x), layer(x), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


def test_a_bfloat16_sru_program_runs_its_recurrence_in_float32_as_the_layer_does():
    """The program ran the recurrence in bfloat16, whose cell state drifts: 18% of the outputs of a 24-step window
    were more than a bfloat16 unit in the last place off the layer's, by up to 0.016 or two thirds of the value."""
    torch.manual_seed(0)
    layer = SRULayer(3, 8, bidirectional=True).bfloat16().eval()
    x = torch.randn(4, 24, 3, dtype=torch.bfloat16)
    exported = torch.export.export(layer, (x,)).module()
    for got, want in zip(exported(x), layer(x), strict=True):
        assert got.dtype == torch.bfloat16
        torch.testing.assert_close(got, want, rtol=torch.finfo(torch.bfloat16).eps, atol=0)


ENCODERS = {
    "rnn": RNNEncoder,
    "lstm": LSTMEncoder,
    "gru": GRUEncoder,
    "bigru": functools.partial(GRUEncoder, bidirectional=True),
    "sru": functools.partial(SRUEncoder, num_layers=2),  # the 2nd layer's highway is its input
    "bisru_tanh": functools.partial(SRUEncoder, bidirectional=True, use_tanh=True),
}


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ENCODERS)
def test_a_program_of_each_encoder_forecasts_as_its_model_over_a_long_window(encoder):
    """A lookback of 48, a batch size other than the export's; an export takes one to three seconds."""
    torch.manual_seed(0)
    model = Forecaster(
        lookback=48, horizon=4, input_size=3, target_size=2, encoder=functools.partial(ENCODERS[encoder], hidden_size=8)
    ).eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*exporting its reference recurrence")
        exported = to_program(model).module()
    inputs = example_inputs(model, batch_size=5)
    torch.testing.assert_close(exported(*inputs), model(*inputs), rtol=1e-5, atol=1e-5)
