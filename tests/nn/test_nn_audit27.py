"""The network's parts against references written here: NumPy loops of the papers' equations, and torch.nn's own
recurrent layers with the encoders' weights copied in."""

import functools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from forecast import Forecaster
from forecast.batch import ModelDims
from forecast.losses import QuantileLoss
from forecast.nn import (
    AutoregressiveHead,
    GRUEncoder,
    InstanceNormalization,
    LastValueNormalization,
    LinearHead,
    LookbackLinearHead,
    LSTMEncoder,
    ResidualCycle,
    RNNEncoder,
    SegmentEmbedding,
    SegmentHead,
    SRUEncoder,
    SRULayer,
)
from forecast.nn.channels import merge_channels, split_channels
from forecast.nn.heads import Decoding


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def _sru_numpy(layer: SRULayer, x: np.ndarray, c0: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One SRU layer as Lei et al. write it, one step and one direction at a time, from the layer's own weights.

    Shapes: x (B, T, D_in), c0 (dirs, B, D) -> h (B, T, dirs * D), c (dirs, B, D)
    """
    weight = layer.weight.weight.detach().double().numpy()  # (dirs * k * D, D_in)
    v, b = layer.v.detach().double().numpy(), layer.b.detach().double().numpy()  # (2, dirs, D)
    batch, steps, _ = x.shape
    size, dirs, k = layer.hidden_size, layer.directions, layer.components
    h = np.zeros((batch, steps, dirs * size))
    finals = np.zeros((dirs, batch, size))
    for d in range(dirs):
        rows = weight.reshape(dirs, k, size, -1)[d]  # (k, D, D_in)
        c = np.zeros((batch, size)) if c0 is None else c0[d].copy()
        for t in range(steps) if d == 0 else reversed(range(steps)):
            x_tilde, f_pre, r_pre = (x[:, t] @ rows[j].T for j in range(3))
            highway = x[:, t] @ rows[3].T if k == 4 else x[:, t, d * size : (d + 1) * size]
            f = _sigmoid(f_pre + v[0, d] * c + b[0, d])
            r = _sigmoid(r_pre + v[1, d] * c + b[1, d])
            c = f * c + (1 - f) * x_tilde
            g = np.tanh(c) if layer.use_tanh else c
            h[:, t, d * size : (d + 1) * size] = r * g + (1 - r) * highway
        finals[d] = c
    return h, finals


@pytest.mark.parametrize("use_tanh", [False, True], ids=["identity", "tanh"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("input_size", [3, 4], ids=["projected-highway", "input-highway"])
def test_sru_layer_is_the_papers_recurrence_from_a_given_state(input_size, bidirectional, use_tanh):
    torch.manual_seed(0)
    hidden = 4 // (2 if bidirectional else 1)
    layer = SRULayer(input_size, hidden, bidirectional, highway_bias=-1.0, use_tanh=use_tanh).double()
    with torch.no_grad():
        layer.b.normal_()
    x, c0 = torch.randn(2, 5, input_size, dtype=torch.float64), torch.randn(layer.directions, 2, hidden).double()
    sequence, state = layer(x, c0)
    h, c = _sru_numpy(layer, x.numpy(), c0.numpy())
    np.testing.assert_allclose(sequence.detach().numpy(), h, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(state.detach().numpy(), c, rtol=1e-10, atol=1e-12)


def test_sru_encoder_stacks_layers_and_joins_both_directions_forward_first():
    """Two bidirectional layers: the second reads the first's [forward, backward] output; ``last`` is the forward
    direction's last step beside the backward direction's first."""
    torch.manual_seed(0)
    encoder = SRUEncoder(3, hidden_size=2, num_layers=2, bidirectional=True).double().eval()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    first, c_first = _sru_numpy(encoder.layers[0], x.numpy())
    second, c_second = _sru_numpy(encoder.layers[1], first)
    encoded = encoder(x)
    np.testing.assert_allclose(encoded.sequence.detach().numpy(), second, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(encoded.last.detach().numpy(), np.hstack([second[:, -1, :2], second[:, 0, 2:]]))
    np.testing.assert_allclose(encoded.state.detach().numpy(), np.concatenate([c_first, c_second]), rtol=1e-10)


def _copy_into(reference: nn.RNNBase, encoder) -> nn.RNNBase:
    """``reference``, a multi-layer torch.nn layer, with the weights of the encoder's single-layer stack."""
    for index, layer in enumerate(encoder.layers):
        for name, parameter in layer.layer.named_parameters():
            getattr(reference, name.replace("_l0", f"_l{index}")).data.copy_(parameter)
    return reference


def test_lstm_encoder_from_a_given_state_equals_torch_lstm():
    torch.manual_seed(0)
    encoder = LSTMEncoder(3, hidden_size=4, num_layers=2, bidirectional=True)
    reference = _copy_into(nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True), encoder)
    x, h0, c0 = torch.randn(2, 5, 3), torch.randn(4, 2, 4), torch.randn(4, 2, 4)
    encoded = encoder(x, (h0, c0))
    sequence, (h, c) = reference(x, (h0, c0))
    torch.testing.assert_close(encoded.sequence, sequence)
    torch.testing.assert_close(encoded.state[0], h)
    torch.testing.assert_close(encoded.state[1], c)
    torch.testing.assert_close(encoded.last, torch.cat([h[-2], h[-1]], dim=-1))  # the top layer's two directions


def test_bidirectional_gru_reads_the_reversed_window_in_its_second_half():
    """The backward direction is a forward GRU of the reversed window, its outputs reversed back in time."""
    torch.manual_seed(0)
    encoder = GRUEncoder(3, hidden_size=4, bidirectional=True)
    layer = encoder.layers[0].layer
    backward = nn.GRU(3, 4, batch_first=True)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(backward, f"{name}_l0").data.copy_(getattr(layer, f"{name}_l0_reverse"))
    x = torch.randn(2, 5, 3)
    reversed_sequence, _ = backward(x.flip(1))
    torch.testing.assert_close(encoder(x).sequence[..., 4:], reversed_sequence.flip(1))


@pytest.mark.parametrize("encoder_class", [GRUEncoder, SRUEncoder], ids=["gru", "sru"])
def test_dropout_between_layers_acts_in_training_only_and_never_after_the_top_layer(encoder_class):
    torch.manual_seed(0)
    encoder = encoder_class(3, hidden_size=4, num_layers=2, dropout=1.0)
    plain = encoder_class(3, hidden_size=4, num_layers=2)
    plain.load_state_dict(encoder.state_dict())
    x, state = torch.randn(2, 5, 3), torch.ones(2, 2, 4)  # a state that moves the top layer off zero
    torch.testing.assert_close(encoder.eval()(x, state).sequence, plain(x, state).sequence)
    dropped = encoder.train()(x, state).sequence
    top_on_zeros, _ = plain.layers[1](torch.zeros(2, 5, 4), state[1:])  # dropout 1 zeroes what the top layer reads
    torch.testing.assert_close(dropped, top_on_zeros)
    assert (dropped != 0).all()


def test_segment_embedding_is_segrnn_segment_projection():
    """SegRNN 3.2: segment n holds steps n * w ... (n + 1) * w - 1 of every channel, projected and ReLU'd."""
    torch.manual_seed(0)
    embedding = SegmentEmbedding(2, 6, seg_len=3, embedding_size=5)
    past = torch.randn(4, 6, 2)
    weight, bias = embedding.linear.weight.detach().numpy(), embedding.linear.bias.detach().numpy()
    window = past.numpy()
    expected = np.stack(
        [np.maximum(window[:, n * 3 : (n + 1) * 3].reshape(4, -1) @ weight.T + bias, 0) for n in range(2)], axis=1
    )
    np.testing.assert_allclose(embedding(past).detach().numpy(), expected, rtol=1e-5, atol=1e-6)


def _segment_head(encoder, horizon: int, seg_len: int) -> SegmentHead:
    """A head for 2 targets, 1 future covariate and 2 static features behind ``encoder(3)``."""
    dims = ModelDims(
        input_size=3, lookback=6, horizon=horizon, target_size=2, future_size=1, static_size=2,
        num_params=1, encoder_size=encoder(3).output_size, encoder_steps=6,
    )  # fmt: skip
    return SegmentHead(dims, Decoding(encoder, lambda params: params[..., 0]), seg_len=seg_len)


def test_segment_head_decodes_each_segment_in_parallel_from_the_window_state_as_segrnn():
    """SegRNN 3.3 (PMF): segment m is one GRU step from the window's final state h_n whose input is the
    segment's position embedding (beside the static features and its covariates), mapped to its seg_len values;
    a horizon of 5 in segments of 2 keeps the first 5 of the 6 values decoded."""
    torch.manual_seed(0)
    encoder = functools.partial(GRUEncoder, hidden_size=4)
    head = _segment_head(encoder, horizon=5, seg_len=2).eval()
    window = encoder(3)(torch.randn(3, 6, 3))
    future, static = torch.randn(3, 5, 1), torch.randn(3, 2)
    cell = nn.GRUCell(head.position.shape[1] + 2 + 2, 4)
    layer = head.decoder.layers[0].layer
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(cell, name).data.copy_(getattr(layer, f"{name}_l0"))
    padded = torch.cat([future, torch.zeros(3, 1, 1)], dim=1)
    values = []
    for m in range(3):
        step_input = torch.cat([head.position[m].expand(3, -1), static, padded[:, 2 * m : 2 * m + 2, 0]], dim=-1)
        values.append(head.linear(cell(step_input, window.state[0])).view(3, 2, 2))
    expected = torch.cat(values, dim=1)[:, :5, :, None]
    params = head(window, torch.zeros(3, 6, 2), future, static)
    torch.testing.assert_close(params, expected)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_segment_model_of_batch_one_and_lookback_of_one_segment_runs_in_its_dtype(dtype):
    torch.manual_seed(0)
    model = Forecaster(
        lookback=4, horizon=5, input_size=1, target_size=1, future_size=0,
        embedding=functools.partial(SegmentEmbedding, seg_len=4, embedding_size=4),
        encoder=functools.partial(SRUEncoder, hidden_size=4), head=functools.partial(SegmentHead, seg_len=4),
    ).to(dtype).eval()  # fmt: skip
    assert model.encoder.layers[0].weight.weight.dtype == dtype and model.embedding.steps == 1
    params = model(torch.randn(1, 4, 1), torch.zeros(1, 5, 0), torch.zeros(1, 0))
    assert params.shape == (1, 5, 1, 1) and params.dtype == dtype and params.isfinite().all()


def test_instance_normalization_is_the_identity_affine_at_init_and_round_trips_the_targets():
    torch.manual_seed(0)
    past = torch.randn(3, 8, 4, dtype=torch.float64) * 5 + 2
    normalization = InstanceNormalization(4).double()
    normalized, (loc, scale) = normalization(past, 2)
    window = past.numpy()
    standard = (window - window.mean(1, keepdims=True)) / np.sqrt(window.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(normalized.detach().numpy(), standard, rtol=1e-12)
    with torch.no_grad():
        normalization.weight.uniform_(0.5, 2.0)
        normalization.bias.normal_()
    normalized, (loc, scale) = normalization(past, 2)
    torch.testing.assert_close(normalized[..., :2] * scale + loc, past[..., :2], rtol=1e-12, atol=1e-12)


def test_last_value_normalization_round_trips_the_targets_and_leaves_the_covariates_relative():
    past = torch.randn(3, 8, 4, dtype=torch.float64)
    normalized, (loc, scale) = LastValueNormalization(4)(past, 2)
    torch.testing.assert_close(normalized[..., :2] * scale + loc, past[..., :2], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(normalized, past - past[:, -1:], rtol=0, atol=0)


@pytest.mark.parametrize("normalization", [InstanceNormalization, LastValueNormalization])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_normalizations_of_a_model_moved_to_a_dtype_rescale_in_it(normalization, dtype):
    """loc and scale come in the dtype of the window and the weights, as the normalized window does: a forecast's
    dtype does not depend on which normalization the model uses."""
    module = normalization(3).to(dtype)
    normalized, (loc, scale) = module(torch.randn(2, 6, 3, dtype=dtype), 2)
    assert normalized.dtype == loc.dtype == scale.dtype == dtype


def test_a_bfloat16_model_with_instance_normalization_forecasts_in_bfloat16():
    """README: predict runs in the model's dtype; RevIN's loc and scale made a bfloat16 model's forecasts float32."""
    torch.manual_seed(0)
    model = Forecaster(
        lookback=6, horizon=2, input_size=2, target_size=2, normalization=InstanceNormalization,
        encoder=functools.partial(GRUEncoder, hidden_size=4),
    ).eval()  # fmt: skip
    past = torch.randn(2, 6, 2)
    with torch.no_grad():
        wide = model(past, torch.zeros(2, 2, 0), torch.zeros(2, 0))
        narrow = model.bfloat16()(past, torch.zeros(2, 2, 0), torch.zeros(2, 0))
    assert narrow.dtype == torch.bfloat16
    torch.testing.assert_close(narrow.float(), wide, atol=0.05, rtol=0.05)


def test_residual_cycle_indexes_each_step_by_its_position_and_remove_then_rescale_restores():
    """Step t of a window whose first forecast step is at position p reads values[(p + t) % period], t from -L."""
    torch.manual_seed(0)
    cycle = ResidualCycle(channels=2, period=5)
    with torch.no_grad():
        cycle.values.normal_()
    position = torch.tensor([0, 3, 4, 12])
    past_cycle, future_cycle = cycle(position, lookback=7, horizon=3)
    values = cycle.values.detach().numpy()
    for row, p in enumerate(position.tolist()):
        np.testing.assert_array_equal(past_cycle[row].detach().numpy(), [values[(p + t) % 5] for t in range(-7, 0)])
        np.testing.assert_array_equal(future_cycle[row].detach().numpy(), [values[(p + t) % 5] for t in range(3)])
    normalized = torch.randn(4, 7, 3)
    future = torch.cat([torch.randn(4, 3, 1), (position[:, None] + torch.arange(3)).float()[..., None]], dim=-1)
    loc, scale = torch.randn(4, 1, 2), torch.rand(4, 1, 2) + 0.5
    residual, rest, shifted = cycle.remove(normalized, future, loc, scale, channel=1)
    torch.testing.assert_close(residual[..., :2] + past_cycle, normalized[..., :2])
    torch.testing.assert_close(residual[..., 2:], normalized[..., 2:])
    torch.testing.assert_close(rest, future[..., :1])
    forecast = torch.randn(4, 3, 2)  # a residual forecast: the rescaled one holds the cycle again
    torch.testing.assert_close(forecast * scale + shifted, (forecast + future_cycle) * scale + loc)


@pytest.mark.parametrize("encoder", [RNNEncoder, LSTMEncoder, SRUEncoder], ids=["rnn", "lstm", "sru"])
def test_linear_head_of_an_empty_batch_forecasts_no_rows(encoder):
    model = Forecaster(
        lookback=6, horizon=5, input_size=3, target_size=2, future_size=1, static_size=2,
        encoder=functools.partial(encoder, hidden_size=4), head=LinearHead,
    ).eval()  # fmt: skip
    assert model(torch.zeros(0, 6, 3), torch.zeros(0, 5, 1), torch.zeros(0, 2)).shape == (0, 5, 2, 1)


@pytest.mark.parametrize("encoder_class", [LSTMEncoder, RNNEncoder], ids=["lstm", "rnn"])
def test_bidirectional_broadcast_step_equals_one_step_sequences_from_each_rows_state(encoder_class):
    """Each (row, position) pair is a one-step sequence through torch.nn's layers, both directions, from the row's
    state: what a SegmentHead decodes."""
    torch.manual_seed(0)
    encoder = encoder_class(3, hidden_size=4, num_layers=2, bidirectional=True).double()
    reference = _copy_into(encoder_class.cell(3, 4, num_layers=2, bidirectional=True, batch_first=True), encoder)
    state = encoder(torch.randn(2, 5, 3, dtype=torch.float64)).state
    position, row = torch.randn(1, 3, 2, dtype=torch.float64), torch.randn(2, 1, 1, dtype=torch.float64)
    stepped = encoder.broadcast_step([position, row], state)
    for b in range(2):
        for s in range(3):
            start = tuple(part[:, b : b + 1] for part in state) if isinstance(state, tuple) else state[:, b : b + 1]
            step_input = torch.cat([position[0, s], row[b, 0]])[None, None]  # -> (1, 1, 3)
            torch.testing.assert_close(stepped[b, s], reference.double()(step_input, start)[0][0, 0])


def test_autoregressive_head_refuses_a_step_that_does_not_divide_the_horizon_naming_the_key():
    with pytest.raises(ValueError, match=r"model.head.init_args.step=3 must divide the horizon 4; choose a divisor"):
        Forecaster(
            lookback=6, horizon=4, input_size=1, target_size=1, head=functools.partial(AutoregressiveHead, step=3)
        )


@pytest.mark.parametrize(
    "head",
    [LinearHead, functools.partial(SegmentHead, seg_len=3), functools.partial(AutoregressiveHead, step=2)],
    ids=["linear", "segment", "autoregressive"],
)
def test_quantile_forecasts_come_in_the_order_of_the_losss_levels(head):
    """The P parameters of each value are the levels 0.1, 0.5, 0.9 in order, never crossing, under channel
    independence too (one series per channel, merged back)."""
    torch.manual_seed(0)
    model = Forecaster(
        lookback=6, horizon=4, input_size=2, target_size=2, channel_independent=True, head=head,
        encoder=functools.partial(GRUEncoder, hidden_size=4), loss=QuantileLoss((0.1, 0.5, 0.9)),
    ).eval()  # fmt: skip
    params = model(torch.randn(3, 6, 2) * 10, torch.zeros(3, 4, 0), torch.zeros(3, 0))
    assert params.shape == (3, 4, 2, 3)
    assert (params.diff(dim=-1) > 0).all()
    torch.testing.assert_close(model.loss.point(params), params[..., 1])


@pytest.mark.parametrize(
    ("highway_bias", "error"), [(float("nan"), ValueError), (float("-inf"), ValueError), ("-1", TypeError)]
)
def test_sru_encoder_refuses_a_highway_bias_that_is_no_finite_number_naming_the_key(highway_bias, error):
    """A NaN bias made every output NaN, and text failed in torch's ``fill_`` naming no key."""
    with pytest.raises(error, match=r"model.encoder.init_args.highway_bias="):
        SRUEncoder(3, hidden_size=4, highway_bias=highway_bias)


_WITHOUT_BF16_INSTRUCTIONS = """
import functools, torch, forecast
from forecast import Forecaster
from forecast.nn import AutoregressiveHead, GRUEncoder, LSTMEncoder, RNNEncoder, SegmentHead, SRUEncoder
try:
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.nn.LSTM(1, 2)(torch.randn(3, 1, 1))
except RuntimeError:
    print("a bare torch.nn.LSTM fails here")
for encoder in (LSTMEncoder, GRUEncoder, RNNEncoder, SRUEncoder):
    for head in (functools.partial(SegmentHead, seg_len=2), AutoregressiveHead):
        model = Forecaster(lookback=6, horizon=3, input_size=2, target_size=1, head=head,
                           encoder=functools.partial(encoder, hidden_size=4, num_layers=2, bidirectional=True))
        with torch.autocast("cpu", dtype=torch.bfloat16):
            params = model(torch.randn(2, 6, 2), torch.zeros(2, 3, 0), torch.zeros(2, 0))
        params.float().sum().backward()
        narrow = model.bfloat16()(torch.randn(2, 6, 2), torch.zeros(2, 3, 0), torch.zeros(2, 0))
        assert params.isfinite().all() and narrow.dtype == torch.bfloat16, encoder
print("done")
"""


@pytest.mark.slow
def test_every_encoder_runs_bf16_on_a_cpu_without_bfloat16_instructions():
    """oneDNN limited to AVX2 (no AVX512_BF16), where it has no bfloat16 LSTM kernel: each encoder, as encoder and
    decoder, under bf16 autocast (forward and backward) and moved to bfloat16."""
    root = Path(__file__).parents[2]
    env = os.environ | {"ONEDNN_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(root)}
    command = [sys.executable, "-c", _WITHOUT_BF16_INSTRUCTIONS]
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert result.returncode == 0 and "done" in result.stdout, result.stderr[-3000:]
    if "a bare torch.nn.LSTM fails here" not in result.stdout:
        pytest.skip("ONEDNN_MAX_CPU_ISA did not take bfloat16 away from this torch build: nothing was emulated")


def test_split_channels_gives_each_target_channel_its_own_row_with_its_channel_embedding_and_merge_inverts():
    """SegRNN's channel independence: row b * C_out + c is window b's channel c beside the window's covariates,
    statics and channel c's embedding; merging puts series c back as channel c."""
    torch.manual_seed(0)
    past, future, static = torch.randn(2, 5, 4), torch.randn(2, 3, 1), torch.randn(2, 2)
    target, embedding = torch.randn(2, 3, 3), nn.Embedding(3, 2)
    rows, futures, statics, targets = split_channels(past, future, static, target, 3, embedding)
    for b in range(2):
        for c in range(3):
            row = b * 3 + c
            torch.testing.assert_close(rows[row], torch.cat([past[b, :, c : c + 1], past[b, :, 3:]], dim=-1))
            torch.testing.assert_close(futures[row], future[b])
            torch.testing.assert_close(statics[row], torch.cat([static[b], embedding.weight[c]]))
            torch.testing.assert_close(targets[row, :, 0], target[b, :, c])
    torch.testing.assert_close(merge_channels(targets[..., None], 3)[..., 0], target)


def test_dlinear_trend_is_the_moving_average_of_the_window_padded_by_repetition_even_past_its_length():
    """Zeng et al.'s series_decomp: (k - 1) / 2 copies of the first and last values each side, then a mean over k."""
    dims = ModelDims(
        input_size=1, lookback=6, horizon=2, target_size=1, future_size=0, static_size=0, num_params=1,
        encoder_size=1, encoder_steps=6,
    )  # fmt: skip
    head = LookbackLinearHead(dims, moving_average=25)
    window = torch.randn(2, 1, 6)
    remainder, trend = head._parts(window)
    values = window[:, 0].numpy()
    padded = np.concatenate([np.repeat(values[:, :1], 12, 1), values, np.repeat(values[:, -1:], 12, 1)], axis=1)
    expected = np.stack([padded[:, t : t + 25].mean(1) for t in range(6)], axis=1)
    np.testing.assert_allclose(trend[:, 0].numpy(), expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(remainder + trend, window)
