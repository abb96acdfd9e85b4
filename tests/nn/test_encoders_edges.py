"""Edge cases of the encoders: models of other dtypes than float32 under CPU autocast, and states of another shape."""

import pytest
import torch

from forecast.nn import GRUEncoder, LSTMEncoder, RNNEncoder, SRUEncoder

TORCH_ENCODERS = {
    "rnn": lambda: RNNEncoder(3, hidden_size=4, num_layers=2),
    "lstm": lambda: LSTMEncoder(3, hidden_size=4, num_layers=2),
    "bigru": lambda: GRUEncoder(3, hidden_size=4, num_layers=2, bidirectional=True),
}


@pytest.mark.filterwarnings("ignore:Under CPU autocast")
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16], ids=["float64", "bfloat16"])
@pytest.mark.parametrize("name", sorted(TORCH_ENCODERS))
def test_torch_encoder_of_another_dtype_runs_in_it_under_cpu_autocast(name, dtype):
    """A model moved to float64 or bfloat16 stopped under CPU autocast: its layers were handed float32 inputs."""
    torch.manual_seed(0)
    encoder = TORCH_ENCODERS[name]().eval().to(dtype)
    x, inputs = torch.randn(2, 5, 3, dtype=dtype), [torch.randn(2, 4, 3, dtype=dtype)]
    expected = encoder(x)
    expected_step = encoder.broadcast_step(inputs, expected.state)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        encoded = encoder(x)
        stepped = encoder.broadcast_step(inputs, expected.state)
    assert encoded.sequence.dtype == stepped.dtype == dtype
    torch.testing.assert_close(encoded.sequence, expected.sequence)
    torch.testing.assert_close(stepped, expected_step)


STACKS = {
    "gru": lambda: GRUEncoder(3, hidden_size=5, num_layers=2),
    "lstm": lambda: LSTMEncoder(3, hidden_size=5, num_layers=2),
    "sru": lambda: SRUEncoder(3, hidden_size=5, num_layers=2),
    "bisru": lambda: SRUEncoder(3, hidden_size=5, num_layers=2, bidirectional=True),
}


@pytest.mark.parametrize("wrong", ["layers", "rows", "hidden"])
@pytest.mark.parametrize("name", sorted(STACKS))
def test_stacked_encoder_refuses_a_state_of_another_shape_naming_the_expected_one(name, wrong):
    """A state of one layer for two stopped in ``zip() argument 3 is shorter``, and other shapes in errors
    naming a single layer's shape ("Expected hidden size (1, 4, 5)", "c0 must be (4, 1, 5)")."""
    encoder = STACKS[name]()
    layers_and_directions = 2 * (2 if name == "bisru" else 1)
    shape = {"layers": (1, 4, 5), "rows": (layers_and_directions, 3, 5), "hidden": (layers_and_directions, 4, 6)}
    state = torch.zeros(shape[wrong])
    state = (state, state) if name == "lstm" else state
    expected = rf"state must be \(num_layers \* directions, B, hidden\) = \({layers_and_directions}, 4, 5\)"
    with pytest.raises(ValueError, match=expected + rf".*got \({', '.join(map(str, shape[wrong]))}\)"):
        encoder(torch.randn(4, 6, 3), state)


def test_stacked_encoder_broadcast_step_refuses_a_state_of_another_shape():
    encoder = SRUEncoder(3, hidden_size=5, num_layers=2)
    with pytest.raises(ValueError, match=r"= \(2, 4, 5\), as this encoder returns it for 4 rows, got \(1, 4, 5\)"):
        encoder.broadcast_step([torch.randn(4, 1, 3)], torch.zeros(1, 4, 5))
