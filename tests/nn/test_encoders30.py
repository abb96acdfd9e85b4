"""The torch.nn encoders and the autoregressive head against hand loops of the cell equations (the torch docs'
formulas for RNN, GRU and LSTM, written out here), with the modules' own weights, in float64: forward values and
the gradients of a random scalar of every output to 1e-10."""

import functools

import pytest
import torch
from torch import nn

from forecast.batch import ModelDims
from forecast.nn import AutoregressiveHead, GRUEncoder, LSTMEncoder, RNNEncoder
from forecast.nn.encoders import EncoderOutput
from forecast.nn.heads import Decoding

EXACT = dict(atol=1e-10, rtol=1e-10)
CELLS = {"rnn": RNNEncoder, "lstm": LSTMEncoder, "gru": GRUEncoder}


def _cell(kind: str, w_ih, w_hh, b_ih, b_hh, x, h, c):
    """One step of one direction, as the torch docs write it: (B, D_in), (B, H), (B, H) -> h', c'."""
    gx, gh = x @ w_ih.T + b_ih, h @ w_hh.T + b_hh
    if kind == "rnn":
        return torch.tanh(gx + gh), None
    if kind == "gru":
        r_x, z_x, n_x = gx.chunk(3, dim=-1)
        r_h, z_h, n_h = gh.chunk(3, dim=-1)
        r, z = torch.sigmoid(r_x + r_h), torch.sigmoid(z_x + z_h)
        n = torch.tanh(n_x + r * n_h)
        return (1 - z) * n + z * h, None
    i, f, g, o = (gx + gh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _direction(kind: str, layer: nn.RNNBase, suffix: str, x, h, c, backward: bool):
    """One direction of one layer over the window, step by step: (B, T, D_in) -> (B, T, H), h_T, c_T."""
    weights = [getattr(layer, f"{name}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    steps = range(x.shape[1] - 1, -1, -1) if backward else range(x.shape[1])
    outputs = {}
    for t in steps:
        h, c = _cell(kind, *weights, x[:, t], h, c)
        outputs[t] = h
    return torch.stack([outputs[t] for t in range(x.shape[1])], dim=1), h, c


def _layer_norm(x, norm: nn.LayerNorm):
    mean = x.mean(-1, keepdim=True)
    variance = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(variance + norm.eps) * norm.weight + norm.bias


def _reference(kind: str, encoder, x, state=None, masks=None):
    """The stack by hand: each layer reads the one below through layer norm (where the encoder has it) and the
    dropout ``masks`` (kept elements scaled by 1 / (1 - p)), and returns (sequence, last, h, c) as torch.nn does."""
    dirs, hidden = encoder.directions, encoder.output_size // encoder.directions
    zeros = x.new_zeros(len(encoder.layers) * dirs, x.shape[0], hidden)
    h0, c0 = (state if kind == "lstm" else (state, zeros)) if state is not None else (zeros, zeros)
    sequence, hs, cs = x, [], []
    for index, wrapped in enumerate(encoder.layers):
        if index:
            norm = encoder.between[index - 1][0]
            sequence = _layer_norm(sequence, norm) if isinstance(norm, nn.LayerNorm) else sequence
            if masks is not None:
                sequence = sequence * masks[index - 1] / (1 - encoder.between[index - 1][1].p)
        outputs = []
        for direction in range(dirs):
            row = index * dirs + direction
            suffix = "_l0_reverse" if direction else "_l0"
            out, h, c = _direction(kind, wrapped.layer, suffix, sequence, h0[row], c0[row], backward=bool(direction))
            outputs.append(out)
            hs.append(h)
            cs.append(c)
        sequence = torch.cat(outputs, dim=-1)
    ends = [sequence[:, -1, :hidden]] + ([sequence[:, 0, hidden:]] if dirs == 2 else [])
    return sequence, torch.cat(ends, dim=-1), torch.stack(hs), torch.stack(cs) if kind == "lstm" else None


def _outputs(kind: str, encoded: EncoderOutput) -> list[torch.Tensor]:
    state = list(encoded.state) if kind == "lstm" else [encoded.state]
    return [encoded.sequence, encoded.last, *state]


def _grads(outputs, weights, wrt):
    scalar = sum((output * weight).sum() for output, weight in zip(outputs, weights, strict=True))
    return torch.autograd.grad(scalar, wrt)


def _encoder(kind: str, **options):
    torch.manual_seed(0)
    encoder = CELLS[kind](3, hidden_size=4, **options).double()
    with torch.no_grad():  # layer norm's affine weights off their initial ones and zeros, so that they count
        for name, parameter in encoder.named_parameters():
            if "between" in name:
                parameter.add_(0.3 * torch.randn_like(parameter))
    return encoder


def _initial(kind: str, encoder, batch: int):
    shape = (len(encoder.layers) * encoder.directions, batch, encoder.output_size // encoder.directions)
    parts = [torch.randn(*shape, dtype=torch.float64, requires_grad=True) for _ in range(2 if kind == "lstm" else 1)]
    return tuple(parts) if kind == "lstm" else parts[0]


STACKS = {
    "one-layer": dict(),
    "three-layers": dict(num_layers=3),
    "bidirectional": dict(bidirectional=True),
    "bidirectional-two-layers-layer-norm": dict(num_layers=2, bidirectional=True, layer_norm=True),
    "two-layers-layer-norm-dropout": dict(num_layers=2, layer_norm=True, dropout=0.4),
}


@pytest.mark.parametrize("given_state", [False, True], ids=["zeros", "given-state"])
@pytest.mark.parametrize("stack", sorted(STACKS))
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_encoder_in_eval_equals_the_hand_loop_forward_and_backward(kind, stack, given_state):
    """Every layer, both directions (the backward one's last state is the one at step 0), layer norm between
    layers, no dropout in eval; sequence (B, T, D), last (B, D) and state (layers * dirs, B, H) as documented."""
    encoder = _encoder(kind, **STACKS[stack]).eval()
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    state = _initial(kind, encoder, 2) if given_state else None
    encoded = encoder(x, state)
    sequence, last, h, c = _reference(kind, encoder, x, state)
    expected = [sequence, last, h] + ([c] if kind == "lstm" else [])
    actual = _outputs(kind, encoded)
    dirs = encoder.directions
    assert encoded.sequence.shape == (2, 5, 4 * dirs) and encoded.last.shape == (2, 4 * dirs)
    assert all(part.shape == (len(encoder.layers) * dirs, 2, 4) for part in actual[2:])
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, **EXACT)
    weights = [torch.randn_like(part) for part in expected]
    wrt = [x, *encoder.parameters()] + ([] if state is None else list(state if kind == "lstm" else [state]))
    for got, want in zip(_grads(actual, weights, wrt), _grads(expected, weights, wrt), strict=True):
        torch.testing.assert_close(got, want, **EXACT)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_encoder_in_training_drops_between_layers_only_and_equals_the_hand_loop(kind):
    """Dropout p between layers: each element the layer above reads is 0 or the normalized output / (1 - p); the
    top layer's output is never dropped. The masks are read off what the layers above read."""
    encoder = _encoder(kind, num_layers=3, bidirectional=True, layer_norm=True, dropout=0.5).train()
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    read = []
    hooks = [between.register_forward_hook(lambda m, i, o: read.append(o)) for between in encoder.between]
    encoded = encoder(x)
    for hook in hooks:
        hook.remove()
    masks = [(part != 0).double() for part in read]
    sequence, last, h, c = _reference(kind, encoder, x, masks=masks)
    assert all(0.2 < mask.mean() < 0.8 for mask in masks)  # dropout acted on both joins
    expected = [sequence, last, h] + ([c] if kind == "lstm" else [])
    actual = _outputs(kind, encoded)
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, **EXACT)
    weights = [torch.randn_like(part) for part in expected]
    wrt = [x, *encoder.parameters()]
    for got, want in zip(_grads(actual, weights, wrt), _grads(expected, weights, wrt), strict=True):
        torch.testing.assert_close(got, want, **EXACT)


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_broadcast_step_of_a_bidirectional_stack_equals_one_hand_step_per_pair(kind):
    """Each (row, position) pair: one hand step of every layer from the row's state, reading the concatenation."""
    encoder = _encoder(kind, num_layers=2, bidirectional=True, layer_norm=True).eval()
    state = _initial(kind, encoder, 3)
    position, static = torch.randn(1, 4, 2, dtype=torch.float64), torch.randn(3, 1, 1, dtype=torch.float64)
    output = encoder.broadcast_step([position, static], state)
    assert output.shape == (3, 4, 8)
    for b in range(3):
        for s in range(4):
            x = torch.cat([position[0, s], static[b, 0]])[None, None]  # -> (1, 1, 3)
            row = tuple(part[:, b : b + 1] for part in state) if kind == "lstm" else state[:, b : b + 1]
            torch.testing.assert_close(output[b, s], _reference(kind, encoder, x, row)[0][0, 0], **EXACT)


def _mean_point(params: torch.Tensor) -> torch.Tensor:
    """A point forecast that differs from every single parameter, so that the test sees which one is fed back."""
    return params.mean(-1)


def _head(kind: str, step: int, teacher_forcing: float, dropout: float = 0.0, num_params: int = 2):
    torch.manual_seed(3)
    dims = ModelDims(
        lookback=4, horizon=4, input_size=2, target_size=2, future_size=1, static_size=2,
        encoder_steps=4, encoder_size=8, num_params=num_params,
    )  # fmt: skip
    encoder = functools.partial(CELLS[kind], hidden_size=4, num_layers=2, bidirectional=True)
    head = AutoregressiveHead(dims, Decoding(encoder, _mean_point), step=step, teacher_forcing=teacher_forcing)
    head.dropout.p = dropout
    return head.double()


def _head_inputs(kind: str, head, batch: int = 3):
    state = _initial(kind, head.decoder, batch)
    h = state[0] if kind == "lstm" else state
    last = torch.cat([h[-2], h[-1]], dim=-1)
    encoded = EncoderOutput(torch.randn(batch, 4, 8, dtype=torch.float64), last, state)
    history = torch.randn(batch, 4, 2, dtype=torch.float64, requires_grad=True)
    future = torch.randn(batch, 4, 1, dtype=torch.float64, requires_grad=True)
    static = torch.randn(batch, 2, dtype=torch.float64, requires_grad=True)
    target = torch.randn(batch, 4, 2, dtype=torch.float64, requires_grad=True)
    return encoded, history, future, static, target


def _decode_by_hand(kind: str, head, encoded, history, future, static, target=None, masks=None):
    """The documented loop: from the encoder's state, each decoder step reads the previous ``step`` values (first
    the last observed ones; then the point forecast, or the target when teacher-forced), the covariates of the
    steps it forecasts and the statics; the linear map reads its (dropped-out) output."""
    step, batch = head.step, history.shape[0]
    previous, state, outputs = history[:, -step:], encoded.state, []
    for index, start in enumerate(range(0, future.shape[1], step)):
        x = torch.cat([previous.flatten(1), future[:, start : start + step].flatten(1), static], dim=-1)
        sequence, _, h, c = _reference(kind, head.decoder, x[:, None], state)
        state = (h, c) if kind == "lstm" else h
        features = sequence[:, 0] if masks is None else sequence[:, 0] * masks[index] / (1 - head.dropout.p)
        params = (features @ head.linear.weight.T + head.linear.bias).view(batch, step, 2, -1)
        outputs.append(params)
        previous = target[:, start : start + step] if target is not None else params.mean(-1)
    return torch.cat(outputs, dim=1)


def _assert_same_with_gradients(actual, expected, wrt):
    torch.testing.assert_close(actual, expected, **EXACT)
    weights = [torch.randn_like(expected)]
    for got, want in zip(_grads([actual], weights, wrt), _grads([expected], weights, wrt), strict=True):
        torch.testing.assert_close(got, want, **EXACT)


def _wrt(kind, head, encoded, history, future, static, target):
    state = list(encoded.state) if kind == "lstm" else [encoded.state]
    return [*head.parameters(), *state, history, future, static, target]


@pytest.mark.parametrize("step", [1, 2])
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_autoregressive_head_feeds_back_its_point_forecast_as_the_hand_loop(kind, step):
    """In eval, even given a target and teacher_forcing 1, it reads back its own point forecast."""
    head = _head(kind, step, teacher_forcing=1.0, dropout=0.5).eval()
    encoded, history, future, static, target = _head_inputs(kind, head)
    params = head(encoded, history, future, static, target)
    assert params.shape == (3, 4, 2, 2)
    expected = _decode_by_hand(kind, head, encoded, history, future, static)
    _assert_same_with_gradients(params, expected, _wrt(kind, head, encoded, history, future, static, target)[:-1])


@pytest.mark.parametrize("step", [1, 2])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_autoregressive_head_teacher_forced_in_training_reads_the_target_as_the_hand_loop(kind, step):
    """In training with teacher_forcing 1, each step reads the true previous ``step`` values; dropout acts on the
    decoder's output before the linear map (masks read off what the linear map reads)."""
    head = _head(kind, step, teacher_forcing=1.0, dropout=0.5).train()
    encoded, history, future, static, target = _head_inputs(kind, head)
    read = []
    hook = head.linear.register_forward_hook(lambda m, i, o: read.append(i[0]))
    params = head(encoded, history, future, static, target)
    hook.remove()
    masks = [(features != 0).double() for features in read]
    assert 0.2 < torch.stack(masks).mean() < 0.8
    expected = _decode_by_hand(kind, head, encoded, history, future, static, target, masks)
    _assert_same_with_gradients(params, expected, _wrt(kind, head, encoded, history, future, static, target))


def test_autoregressive_head_in_training_without_teacher_forcing_feeds_back_its_forecast():
    head = _head("gru", 2, teacher_forcing=0.0).train()
    encoded, history, future, static, target = _head_inputs("gru", head)
    params = head(encoded, history, future, static, target)
    torch.testing.assert_close(params, _decode_by_hand("gru", head, encoded, history, future, static), **EXACT)


def test_autoregressive_head_teacher_forces_whole_batches_at_the_given_rate():
    """teacher_forcing 0.3: about 30% of training batches read the target, every row of such a batch does."""
    head = _head("rnn", 2, teacher_forcing=0.3).train()
    encoded, history, future, static, target = _head_inputs("rnn", head)
    with torch.no_grad():
        forced = _decode_by_hand("rnn", head, encoded, history, future, static, target)
        free = _decode_by_hand("rnn", head, encoded, history, future, static)
        torch.manual_seed(11)
        outcomes = []
        for _ in range(300):
            params = head(encoded, history, future, static, target)
            is_forced, is_free = torch.allclose(params, forced), torch.allclose(params, free)
            assert is_forced != is_free  # all rows one way or the other
            outcomes.append(is_forced)
    assert 0.21 < sum(outcomes) / len(outcomes) < 0.39  # 0.3 +- 3.4 standard errors


@pytest.mark.parametrize(
    "kind, state, given",
    [
        ("lstm", "h", r"got a Tensor"),
        ("lstm", "list", r"got a list"),
        ("lstm", "h,c,c", r"got a tuple \(Tensor, Tensor, Tensor\)"),
        ("gru", "h,c", r"got a tuple \(Tensor, Tensor\)"),
        ("rnn", "h,", r"got a tuple \(Tensor\)"),
    ],
)
def test_encoder_refuses_a_state_of_another_kind_naming_what_it_returns(kind, state, given):
    """An LSTM's (h, c) given to a GRU stopped in "'tuple' object has no attribute 'dim'", a GRU's tensor given
    to an LSTM in "index 1 is out of bounds", from inside torch; the shapes themselves are right here."""
    encoder = CELLS[kind](3, hidden_size=4, num_layers=2)
    h = torch.zeros(2, 2, 4)
    parts = {"h": h, "list": [h, h], "h,c,c": (h, h, h), "h,c": (h, h), "h,": (h,)}[state]
    expected = "a tuple of 2 tensors" if kind == "lstm" else "a tensor"
    message = rf"state must be {expected}, as {CELLS[kind].__name__} returns it, {given}: pass the state of an"
    with pytest.raises(TypeError, match=message):
        encoder(torch.randn(2, 5, 3), parts)
    with pytest.raises(TypeError, match=message):
        encoder.broadcast_step([torch.randn(2, 1, 3)], parts)
