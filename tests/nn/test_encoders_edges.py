"""Edge cases of the encoders: models of other dtypes than float32 under CPU autocast."""

import pytest
import torch

from forecast.nn import GRUEncoder, LSTMEncoder, RNNEncoder

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
