import pytest
import torch

from forecast.kernels import sru_recurrence_reference
from forecast.kernels.sru_cpu import cpu_library
from forecast.nn import SRUEncoder, SRULayer


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("input_size", [3, 8], ids=["projected-highway", "identity-highway"])
def test_sru_layer_is_one_matrix_product_then_the_reference_recurrence(input_size, bidirectional):
    """Outputs and gradients: the layer lets the compiled recurrence keep its gates over the product's output."""
    torch.manual_seed(0)
    hidden = 8 // (2 if bidirectional else 1)
    layer = SRULayer(input_size, hidden, bidirectional=bidirectional)
    x = torch.randn(4, 6, input_size, requires_grad=True)
    directions, components = (2 if bidirectional else 1), layer.components
    u = (x @ layer.weight.weight.T).view(4, 6, directions, components, hidden)
    highway = None if components == 4 else x.view(4, 6, directions, hidden)
    h, c = sru_recurrence_reference(u, highway, layer.v, layer.b)
    sequence, state = layer(x)
    assert components == (3 if input_size == 8 else 4)
    torch.testing.assert_close(sequence, h.reshape(4, 6, 8))
    torch.testing.assert_close(state, c.transpose(0, 1))
    weight_h, weight_c = torch.randn(4, 6, 8), torch.randn(directions, 4, hidden)
    leaves = [x, layer.weight.weight, layer.v, layer.b]
    expected = torch.autograd.grad((h.reshape(4, 6, 8) * weight_h).sum() + (c.transpose(0, 1) * weight_c).sum(), leaves)
    actual = torch.autograd.grad((sequence * weight_h).sum() + (state * weight_c).sum(), leaves)
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.skipif(cpu_library() is None, reason="needs the compiled CPU recurrence (a C compiler)")
def test_sru_layer_on_cpu_refuses_a_second_backward_through_one_forward():
    """The compiled recurrence has written u's gradient over u: a retained graph cannot be walked back again."""
    layer = SRULayer(3, 4, bidirectional=True)
    sequence, _ = layer(torch.randn(2, 5, 3))
    sequence.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="retain_graph"):
        sequence.sum().backward()


def test_sru_low_rank_projection_has_fewer_weights_and_rank():
    full = SRULayer(64, 32)
    low_rank = SRULayer(64, 32, projection_size=4)
    assert sum(p.numel() for p in low_rank.weight.parameters()) < sum(p.numel() for p in full.weight.parameters())
    product = low_rank.weight[1].weight @ low_rank.weight[0].weight  # -> (4 * 32, 64)
    assert torch.linalg.matrix_rank(product) == 4


def test_sru_highway_bias_initialises_the_reset_gate_bias():
    layer = SRULayer(4, 4, highway_bias=-2.0)
    assert torch.all(layer.b[1] == -2.0) and torch.all(layer.b[0] == 0.0)


def test_sru_encoder_learns_to_copy_a_delayed_input():
    """Two SRU layers fit y_t = x_{t-2}: the recurrence carries information through time."""
    torch.manual_seed(0)
    encoder, readout = SRUEncoder(1, hidden_size=16, num_layers=2), torch.nn.Linear(16, 1)
    optimizer = torch.optim.Adam([*encoder.parameters(), *readout.parameters()], lr=1e-2)
    x = torch.randn(64, 20, 1)
    target = torch.nn.functional.pad(x, (0, 0, 2, 0))[:, :20]
    for _ in range(300):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(readout(encoder(x).sequence), target)
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.05  # predicting 0 (the mean) scores ~1.0


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_sru_layer_under_bf16_autocast_runs_the_reference_recurrence_in_float32(bidirectional):
    torch.manual_seed(0)
    directions = 2 if bidirectional else 1
    layer = SRULayer(3, 8 // directions, bidirectional=bidirectional)
    x = torch.randn(4, 6, 3)
    weights = torch.randn(4, 6, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sequence, _ = layer(x)
    (sequence.float() * weights).sum().backward()
    u = (x.bfloat16() @ layer.weight.weight.bfloat16().T).float().view(4, 6, directions, 4, -1)  # autocast's product
    v, b = layer.v.detach().requires_grad_(), layer.b.detach().requires_grad_()
    h, _ = sru_recurrence_reference(u, None, v, b)
    (h.reshape(4, 6, 8).bfloat16().float() * weights).sum().backward()
    assert sequence.dtype == torch.bfloat16
    torch.testing.assert_close(sequence, h.reshape(4, 6, 8).bfloat16())
    torch.testing.assert_close(layer.v.grad, v.grad)
    torch.testing.assert_close(layer.b.grad, b.grad)


@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_sru_layer_low_rank_with_tanh_from_a_given_state_is_the_reference_recurrence(bidirectional):
    """The projection's two factors, g = tanh and an initial cell state per direction, in float64."""
    torch.manual_seed(0)
    directions = 2 if bidirectional else 1
    layer = SRULayer(3, 5, bidirectional=bidirectional, projection_size=2, use_tanh=True).double()
    with torch.no_grad():
        layer.b.normal_()
    x, c0 = torch.randn(2, 19, 3, dtype=torch.float64), torch.randn(directions, 2, 5, dtype=torch.float64)
    u = (x @ layer.weight[0].weight.T @ layer.weight[1].weight.T).view(2, 19, directions, 4, 5)
    h, c = sru_recurrence_reference(u, None, layer.v, layer.b, c0.transpose(0, 1), use_tanh=True)
    sequence, state = layer(x, c0)
    assert sequence.dtype == state.dtype == torch.float64
    torch.testing.assert_close(sequence, h.reshape(2, 19, directions * 5))
    torch.testing.assert_close(state, c.transpose(0, 1))


def test_sru_reset_parameters_keeps_the_highway_bias_the_layer_was_built_with():
    """``reset_parameters()``, as torch's re-initialisation idiom calls it, set ``b_r`` to 0 whatever the config."""
    layer = SRULayer(4, 4, highway_bias=-2.0)
    with torch.no_grad():
        layer.b.fill_(0.5)
    layer.reset_parameters()
    assert torch.all(layer.b[1] == -2.0) and torch.all(layer.b[0] == 0.0)
