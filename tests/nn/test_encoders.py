import pytest
import torch
from torch import nn

from forecast.nn import GRUEncoder, LSTMEncoder, RNNEncoder, SRUEncoder
from forecast.nn.encoders import Encoder

ENCODERS = {
    "rnn": lambda: RNNEncoder(3, hidden_size=8, num_layers=2),
    "lstm": lambda: LSTMEncoder(3, hidden_size=8, num_layers=2),
    "gru": lambda: GRUEncoder(3, hidden_size=8, num_layers=2),
    "bigru": lambda: GRUEncoder(3, hidden_size=8, num_layers=2, bidirectional=True),
    "gru-layer-norm": lambda: GRUEncoder(3, hidden_size=8, num_layers=2, layer_norm=True, dropout=0.1),
    "sru": lambda: SRUEncoder(3, hidden_size=8, num_layers=2),
    "bisru": lambda: SRUEncoder(3, hidden_size=8, num_layers=2, bidirectional=True, use_tanh=True),
    "sru-projected": lambda: SRUEncoder(3, hidden_size=8, num_layers=3, projection_size=2, layer_norm=True),
}
BIDIRECTIONAL = {"bigru", "bisru"}


@pytest.fixture(params=sorted(ENCODERS))
def encoder(request):
    torch.manual_seed(0)
    encoder = ENCODERS[request.param]().eval()
    encoder.bidirectional = request.param in BIDIRECTIONAL
    return encoder


def test_encoder_output_shape_matches_output_size(encoder):
    encoded = encoder(torch.randn(4, 11, 3))
    assert encoded.sequence.shape == (4, 11, encoder.output_size)
    assert encoded.last.shape == (4, encoder.output_size)
    assert encoder.output_size == (16 if encoder.bidirectional else 8)


def test_encoder_last_is_each_directions_output_after_the_whole_window(encoder):
    """Forward direction: the last step's output; backward direction: the first step's."""
    x = torch.randn(4, 11, 3)
    encoded = encoder(x)
    torch.testing.assert_close(encoded.last[:, :8], encoded.sequence[:, -1, :8])
    if encoder.bidirectional:
        torch.testing.assert_close(encoded.last[:, 8:], encoded.sequence[:, 0, 8:])
        longer = encoder(torch.cat([x, torch.randn(4, 5, 3)], dim=1))  # more steps after the window's end
        assert not torch.allclose(longer.last[:, 8:], encoded.last[:, 8:])  # the backward side read them


def test_encoder_state_holds_last_exactly_when_it_says_so(encoder):
    """``state_holds_last``: the top layer's hidden state, per direction, is ``last``; the SRU's cell state is not."""
    encoded = encoder(torch.randn(4, 11, 3))
    hidden = encoded.state[0] if isinstance(encoded.state, tuple) else encoded.state  # LSTM: (h, c)
    directions = 2 if encoder.bidirectional else 1
    top = hidden[-directions:].transpose(0, 1).reshape(4, -1)  # -> (B, dirs * D), forward direction first
    assert torch.allclose(top, encoded.last) == encoder.state_holds_last
    assert encoder.state_holds_last == (not isinstance(encoder, SRUEncoder))


def test_encoder_runs_in_float32_under_cpu_bf16_autocast(encoder):
    """Under ``precision: bf16-mixed`` on CPU the recurrence runs in float32 (oneDNN has no bf16 LSTM
    kernel on CPUs without bf16 instructions): the same numbers as without autocast, up to the
    projections that autocast runs in bf16."""
    x = torch.randn(4, 11, 3)
    expected = encoder(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        encoded = encoder(x)
    if isinstance(encoder, SRUEncoder):  # its input projection runs in bf16 under autocast, by design
        torch.testing.assert_close(encoded.sequence.float(), expected.sequence, atol=0.05, rtol=0.05)
    else:
        assert encoded.sequence.dtype == torch.float32
        torch.testing.assert_close(encoded.sequence, expected.sequence)


def test_encoder_state_is_stacked_as_torch_nn_stacks_it(encoder):
    state = encoder(torch.randn(4, 11, 3)).state
    layers_and_directions = len(encoder.layers) * (2 if encoder.bidirectional else 1)
    for part in state if isinstance(state, tuple) else (state,):
        assert part.shape == (layers_and_directions, 4, 8)


def test_encoder_every_parameter_gets_a_gradient(encoder):
    encoder.train()
    encoder(torch.randn(4, 11, 3)).sequence.sum().backward()
    for name, parameter in encoder.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, f"No gradient for {name}"


def test_encoder_batched_equals_per_sample(encoder):
    x = torch.randn(5, 7, 3)
    batched = encoder(x).sequence
    single = torch.cat([encoder(x[i : i + 1]).sequence for i in range(5)])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-6)


def test_encoder_is_causal_unless_bidirectional(encoder):
    x = torch.randn(2, 9, 3)
    changed = x.clone()
    changed[:, 5:] += 1.0
    before, after = encoder(x).sequence[:, :5], encoder(changed).sequence[:, :5]
    if encoder.bidirectional:  # the backward direction reads the window's later steps, by design
        assert not torch.allclose(before, after)
    else:
        torch.testing.assert_close(before, after)


def test_gru_encoder_equals_torch_gru_step_by_step():
    torch.manual_seed(0)
    encoder = GRUEncoder(3, hidden_size=5)
    cell = nn.GRUCell(3, 5)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data.copy_(getattr(encoder.layers[0].layer, f"{name}_l0"))
    x, h = torch.randn(2, 6, 3), torch.zeros(2, 5)
    steps = []
    for t in range(6):
        h = cell(x[:, t], h)
        steps.append(h)
    torch.testing.assert_close(encoder(x).sequence, torch.stack(steps, 1))


def test_stacked_gru_equals_torch_multilayer_gru():
    torch.manual_seed(0)
    encoder = GRUEncoder(3, hidden_size=5, num_layers=2, bidirectional=True)
    reference = nn.GRU(3, 5, num_layers=2, bidirectional=True, batch_first=True)
    for layer_index, layer in enumerate(encoder.layers):
        for name, parameter in layer.layer.named_parameters():  # e.g. weight_ih_l0_reverse -> weight_ih_l1_reverse
            getattr(reference, name.replace("_l0", f"_l{layer_index}")).data.copy_(parameter)
    x = torch.randn(2, 6, 3)
    encoded = encoder(x)
    expected_sequence, expected_state = reference(x)
    torch.testing.assert_close(encoded.sequence, expected_sequence)
    torch.testing.assert_close(encoded.state, expected_state)


def test_encoder_continues_from_its_own_state(encoder):
    """Encoding a window in two halves, the second from the first's state, equals encoding it at once."""
    if encoder.bidirectional:
        pytest.skip("a bidirectional encoder reads the whole window; halves cannot equal the whole")
    x = torch.randn(3, 10, 3)
    whole = encoder(x)
    first = encoder(x[:, :6])
    second = encoder(x[:, 6:], first.state)
    torch.testing.assert_close(torch.cat([first.sequence, second.sequence], 1), whole.sequence, rtol=1e-5, atol=1e-5)


def _step_inputs(rows: int, positions: int, dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
    """Parts of a parallel decoder's input, 3 features in all: per position, per row, per pair, and empty."""
    shapes = [(1, positions, 1), (rows, 1, 1), (rows, positions, 1), (rows, positions, 0)]
    return [torch.randn(shape, dtype=dtype, requires_grad=True) for shape in shapes]


def test_broadcast_step_equals_the_grid_of_one_step_sequences(encoder):
    """The products on each part's own shape give the reference's numbers and gradients: every row's
    state, every position's input, every parameter."""
    encoder = encoder.double()
    state = encoder(torch.randn(4, 7, 3, dtype=torch.float64)).state
    state = tuple(part.detach().requires_grad_() for part in state) if isinstance(state, tuple) else state.detach()
    inputs = _step_inputs(4, 5, torch.float64)
    leaves = [*inputs, *(state if isinstance(state, tuple) else [state.requires_grad_()]), *encoder.parameters()]
    grad_out = torch.randn(4, 5, encoder.output_size, dtype=torch.float64)

    fast = encoder.broadcast_step(inputs, state)
    reference = Encoder.broadcast_step(encoder, inputs, state)
    assert fast.shape == (4, 5, encoder.output_size)
    torch.testing.assert_close(fast, reference)
    for leaf, got, expected in zip(
        leaves,
        torch.autograd.grad(fast, leaves, grad_out, allow_unused=True, materialize_grads=True),
        torch.autograd.grad(reference, leaves, grad_out, allow_unused=True, materialize_grads=True),
        strict=True,
    ):
        assert got.shape == leaf.shape
        torch.testing.assert_close(got, expected)


def test_broadcast_step_runs_in_float32_under_cpu_bf16_autocast(encoder):
    """As ``forward``: the torch.nn layers' step is exact float32 under CPU autocast; the SRU's product is bf16."""
    state = encoder(torch.randn(4, 7, 3)).state
    inputs = _step_inputs(4, 5)
    expected = encoder.broadcast_step(inputs, state)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        stepped = encoder.broadcast_step(inputs, state)
    if isinstance(encoder, SRUEncoder):
        torch.testing.assert_close(stepped.float(), expected, atol=0.05, rtol=0.05)
    else:
        assert stepped.dtype == torch.float32
        torch.testing.assert_close(stepped, expected)


@pytest.mark.parametrize("encoder_class", [GRUEncoder, LSTMEncoder, SRUEncoder])
@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"num_layers": 0}, r"num_layers=0 must be at least 1"),
        ({"num_layers": -2}, r"num_layers=-2 must be at least 1"),
        ({"hidden_size": 0}, r"hidden_size=0 must be at least 1"),
        ({"dropout": 1.5}, r"dropout=1.5 must lie in \[0, 1\]"),  # refused also with one layer, which has none
        ({"dropout": -0.1, "num_layers": 2}, r"dropout=-0.1 must lie in \[0, 1\]"),
    ],
)
def test_encoder_refuses_options_that_build_no_stack_naming_the_key(encoder_class, option, message):
    with pytest.raises(ValueError, match="model.encoder.init_args." + message):
        encoder_class(3, **option)


def test_sru_encoder_refuses_a_negative_projection_size():
    with pytest.raises(ValueError, match=r"model.encoder.init_args.projection_size=-1 must be at least 0"):
        SRUEncoder(3, projection_size=-1)
