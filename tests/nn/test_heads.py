import functools
import math

import pytest
import torch

from forecast import Forecaster
from forecast.nn import (
    AutoregressiveHead,
    GRUEncoder,
    LinearHead,
    LSTMEncoder,
    RNNEncoder,
    SegmentEmbedding,
    SegmentHead,
    SRUEncoder,
)
from forecast.nn.sru import SRULayer

ENCODERS = {
    "rnn": functools.partial(RNNEncoder, hidden_size=8),
    "bisru": functools.partial(SRUEncoder, hidden_size=8, bidirectional=True),
    "lstm": functools.partial(LSTMEncoder, hidden_size=8, num_layers=2),
    "gru": functools.partial(GRUEncoder, hidden_size=8),
    "bigru": functools.partial(GRUEncoder, hidden_size=8, bidirectional=True),
    "sru": functools.partial(SRUEncoder, hidden_size=8, num_layers=2),
}
HEADS = {
    "linear-last": LinearHead,
    "linear-sequence": functools.partial(LinearHead, from_sequence=True),
    "segment": functools.partial(SegmentHead, seg_len=2),
    "autoregressive": functools.partial(AutoregressiveHead, teacher_forcing=0.5),
    "autoregressive-segments": functools.partial(AutoregressiveHead, step=2),
}


def build(encoder, head, **options):
    torch.manual_seed(0)
    sizes = dict(lookback=12, horizon=4, input_size=3, target_size=2, future_size=1, static_size=2)
    return Forecaster(**sizes, encoder=ENCODERS[encoder], head=HEADS[head], **options)


def inputs(batch=5):
    return torch.randn(batch, 12, 3), torch.randn(batch, 4, 1), torch.randn(batch, 2)


def _gate_blocks(name: str, parameter: torch.Tensor, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The gradient of each gate's own slice of a parameter: a gate that never learns shows as zeros.

    torch.nn stacks the gates' rows in ``weight_ih``/``weight_hh``/``bias_*`` (LSTM: 4, GRU: 3, RNN: 1);
    the SRU's ``W`` has a block of rows per direction and component (x~, f, r, and x' when projected),
    and ``v``, ``b`` a slice per gate (f, r) and direction.
    """
    grad = parameter.grad
    if isinstance(module, SRULayer):
        if name.startswith(("v", "b")):  # (2 gates, dirs, D)
            return {f"[gate {g}, dir {d}]": grad[g, d] for g in range(2) for d in range(module.directions)}
        if grad.shape[0] == module.directions * module.components * module.hidden_size:  # W's output rows
            blocks = grad.view(module.directions, module.components, module.hidden_size, -1)
            return {
                f"[dir {d}, component {k}]": blocks[d, k]
                for d in range(module.directions)
                for k in range(module.components)
            }
    if isinstance(module, torch.nn.RNNBase) and name.startswith(("weight_", "bias_")):
        gates = {torch.nn.LSTM: 4, torch.nn.GRU: 3}.get(type(module), 1)
        return {f"[gate {g}]": block for g, block in enumerate(grad.chunk(gates))}
    return {"": grad}


@pytest.mark.parametrize("head", sorted(HEADS))
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_head_shapes_and_gradients_of_every_gate_with_every_encoder(encoder, head):
    """Every gate of every layer learns: the SRU's reset gate and highway too, whichever head reads it."""
    model = build(encoder, head)
    params = model(*inputs())
    assert params.shape == (5, 4, 2, 1)
    params.square().sum().backward()
    for module_name, module in model.named_modules():
        for name, parameter in module.named_parameters(recurse=False):
            assert parameter.grad is not None, f"No gradient for {module_name}.{name}"
            for block, grad in _gate_blocks(name, parameter, module).items():
                assert grad.abs().sum() > 0, f"No gradient for {module_name}.{name}{block}"


@pytest.mark.parametrize("head", ["segment", "autoregressive"])
@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_recurrent_heads_decode_with_the_encoders_family(encoder, head):
    model = build(encoder, head)
    assert type(model.head.decoder) is type(model.encoder)
    assert model.head.decoder.output_size == model.encoder.output_size


def test_segment_head_reads_future_covariates_of_its_own_segment_only():
    model = build("gru", "segment").eval()
    past, future, static = inputs()
    changed = future.clone()
    changed[:, 2:] += 1.0  # the second segment's covariates
    before, after = model(past, future, static), model(past, changed, static)
    torch.testing.assert_close(before[:, :2], after[:, :2])
    assert not torch.allclose(before[:, 2:], after[:, 2:])


@pytest.mark.parametrize("encoder", ["gru", "sru"])
def test_segment_head_cuts_its_last_segment_to_a_horizon_seg_len_does_not_divide(encoder):
    """Horizon 5 with segments of 3: the first 5 steps of the horizon-6 forecast of the same weights,
    whose sixth step's future covariates are the zeros the shorter horizon pads with."""
    torch.manual_seed(0)
    head = functools.partial(SegmentHead, seg_len=3)
    sizes = dict(lookback=12, input_size=2, target_size=2, future_size=1, encoder=ENCODERS[encoder], head=head)
    six, five = Forecaster(horizon=6, **sizes).eval(), Forecaster(horizon=5, **sizes).eval()
    five.load_state_dict(six.state_dict())
    past, future = torch.randn(4, 12, 2), torch.randn(4, 6, 1)
    future[:, 5] = 0.0
    forecast = five(past, future[:, :5], torch.zeros(4, 0))
    assert forecast.shape == (4, 5, 2, 1)
    torch.testing.assert_close(forecast, six(past, future, torch.zeros(4, 0))[:, :5])


@pytest.mark.parametrize("head", sorted(HEADS))
def test_tiny_model_overfits_a_sine_with_every_head(head):
    """The wiring is right: a few hundred steps on 16 fixed windows drive the loss near zero."""
    torch.manual_seed(0)
    steps = torch.arange(16)[:, None] * 0.7 + torch.arange(16)[None, :] * (2 * math.pi / 12)
    series = torch.sin(steps)[..., None]  # -> (16 windows, 12 + 4 steps, 1 channel)
    model = Forecaster(
        lookback=12,
        horizon=4,
        input_size=1,
        target_size=1,
        embedding=functools.partial(SegmentEmbedding, seg_len=3, embedding_size=16),
        encoder=functools.partial(GRUEncoder, hidden_size=16),
        head=HEADS[head],
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    no_future, no_static = torch.zeros(16, 4, 0), torch.zeros(16, 0)
    for _ in range(300):
        optimizer.zero_grad()
        loss = model.loss(model(series[:, :12], no_future, no_static), series[:, 12:])
        loss.backward()
        optimizer.step()
    assert loss.item() < 1e-3  # the series' variance is 0.5


def test_autoregressive_head_is_causal_over_the_horizon():
    """Step k's forecast depends on future covariates up to step k only."""
    model = build("gru", "autoregressive").eval()
    past, future, static = inputs()
    changed = future.clone()
    changed[:, 3] += 1.0
    before, after = model(past, future, static), model(past, changed, static)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3], after[:, 3])


def test_autoregressive_head_teacher_forcing_feeds_the_true_previous_values():
    model = build("gru", "autoregressive", loss=None)
    model.head.teacher_forcing = 1.0
    model.train()
    past, future, static = inputs()
    model.head.dropout.p = 0.0
    target = torch.randn(5, 4, 2)
    changed = target.clone()
    changed[:, 2] += 1.0  # seen by step 3 only, as its previous value
    before, after = model(past, future, static, target), model(past, future, static, changed)
    torch.testing.assert_close(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3], after[:, 3])
    model.eval()  # at prediction time the target is never read
    torch.testing.assert_close(model(past, future, static, target), model(past, future, static, changed))


@pytest.mark.parametrize("head", ["segment", "autoregressive-segments"])
@pytest.mark.parametrize("encoder", ["gru", "sru"])
def test_decoder_heads_read_last_only_when_the_state_lacks_it(encoder, head):
    """A decoder started from a GRU's state already sees the window's end: reading ``last`` again
    cost accuracy on ETTh1 validation. From an SRU's cell state it must read ``last``."""
    model = build(encoder, head).eval()
    past, future, static = inputs()
    encoded = model.encoder(model.embedding(past))
    history = past[..., :2]
    params = model.head(encoded, history, future, static)
    moved = model.head(encoded._replace(last=encoded.last + 1.0), history, future, static)
    assert torch.equal(params, moved) == model.encoder.state_holds_last


def test_autoregressive_head_starts_from_the_last_observed_values():
    """Before its first forecast the decoder reads the window's last ``step`` targets, not zeros."""
    model = build("gru", "autoregressive-segments").eval()  # step 2
    past, future, static = inputs()
    changed = past.clone()
    changed[:, -2:, :2] += 1.0  # the targets' last two observed values, seen through the head only
    model.encoder.requires_grad_(False)
    with torch.no_grad():
        encoded = model.encoder(past)
        history = past[..., :2]
        before = model.head(encoded, history, future, static)
        after = model.head(encoded, changed[..., :2], future, static)
    assert not torch.allclose(before[:, 0], after[:, 0])


@pytest.mark.parametrize(
    ("head", "message"),
    [
        (functools.partial(LinearHead, dropout=2.0), r"dropout=2.0 must lie in \[0, 1\]"),
        (functools.partial(SegmentHead, seg_len=2, position_size=-3), r"position_size=-3 must be at least 1"),
        (functools.partial(SegmentHead, seg_len=2, position_size=0), r"position_size=0 must be at least 1"),
        (functools.partial(SegmentHead, seg_len=2, dropout=-0.5), r"dropout=-0.5 must lie in \[0, 1\]"),
        (functools.partial(AutoregressiveHead, teacher_forcing=1.5), r"teacher_forcing=1.5 must lie in \[0, 1\]"),
        (functools.partial(AutoregressiveHead, dropout=1.1), r"dropout=1.1 must lie in \[0, 1\]"),
    ],
)
def test_head_refuses_an_option_out_of_range_naming_the_key(head, message):
    with pytest.raises(ValueError, match="model.head.init_args." + message):
        Forecaster(lookback=12, horizon=4, input_size=3, target_size=2, head=head)


@pytest.mark.parametrize("encoder", ["bisru", "lstm"])
def test_segment_head_equals_one_decoder_step_per_segment_in_a_plain_loop(encoder):
    """Segment s: one step of the decoder from the encoder's state, reading position s, the statics and
    that segment's covariates (zeros past the horizon), mapped beside ``last`` when the state lacks it."""
    torch.manual_seed(0)
    head = functools.partial(SegmentHead, seg_len=3)
    model = Forecaster(lookback=12, horizon=5, input_size=3, target_size=2, future_size=1, static_size=2,
                       encoder=ENCODERS[encoder], head=head).double().eval()  # fmt: skip
    past, future, static = (part.double() for part in inputs(batch=3))
    future = torch.randn(3, 5, 1, dtype=torch.float64)
    encoded = model.encoder(past)
    padded = torch.cat([future, torch.zeros(3, 1, 1, dtype=torch.float64)], dim=1)  # 2 segments of 3 steps
    expected = []
    for s in range(2):
        step = torch.cat([model.head.position[s].expand(3, -1), static, padded[:, 3 * s : 3 * s + 3, 0]], dim=-1)
        features = model.head.decoder(step[:, None], encoded.state).sequence[:, 0]
        if model.head.reads_last:
            features = torch.cat([features, encoded.last], dim=-1)
        expected.append(model.head.linear(features).view(3, 3, 2, 1))
    params = model.head(encoded, past[..., :2], future, static)
    torch.testing.assert_close(params, torch.cat(expected, dim=1)[:, :5])
