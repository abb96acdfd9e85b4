"""The network parts against the published designs they implement, each checked against a small reference of our
own written from the paper's equations (numpy or plain loops), on random inputs, to float32 precision."""

import functools

import numpy as np
import pytest
import torch

from forecast import Forecaster
from forecast.batch import ModelDims
from forecast.nn import (
    AutoregressiveHead,
    GRUEncoder,
    IdentityEncoder,
    InstanceNormalization,
    LastValueHead,
    LastValueNormalization,
    LinearHead,
    LookbackLinearHead,
    ResidualCycle,
    SeasonalNaiveHead,
    SegmentEmbedding,
    SegmentHead,
)
from forecast.nn.baselines import seasonal_naive
from forecast.nn.encoders import EncoderOutput
from forecast.nn.heads import Decoding

TOL = dict(atol=1e-6, rtol=1e-6)


def _dims(**sizes) -> ModelDims:
    """Sizes of a head that reads the window itself (an identity embedding and encoder), unless ``sizes`` say else."""
    base = dict(lookback=8, horizon=5, input_size=2, target_size=2, future_size=0, static_size=0, num_params=1) | sizes
    return ModelDims(**({"encoder_steps": base["lookback"], "encoder_size": base["input_size"]} | base))


# SegRNN (Lin et al. 2023): segment embedding, Section 3.2


def test_segment_embedding_is_relu_of_a_linear_map_of_each_segment_as_segrnn():
    """One channel (SegRNN's channel-independent series): segment k is x[k w : (k + 1) w], mapped to relu(W s + b)."""
    torch.manual_seed(0)
    embedding = SegmentEmbedding(1, 12, seg_len=4, embedding_size=5)
    past = torch.randn(3, 12, 1)
    weight, bias = embedding.linear.weight.detach().numpy(), embedding.linear.bias.detach().numpy()
    series = past[..., 0].numpy()
    expected = np.stack([[np.maximum(weight @ row[k * 4 : (k + 1) * 4] + bias, 0) for k in range(3)] for row in series])
    assert embedding.steps == 3 and embedding.output_size == 5
    np.testing.assert_allclose(embedding(past).detach().numpy(), expected, **TOL)


# SegRNN: parallel multi-step forecasting (PMF), Section 3.3


def _pmf_reference(head: SegmentHead, state: torch.Tensor, static: torch.Tensor, future: torch.Tensor) -> np.ndarray:
    """Each segment j of each row b: one GRU step (torch's equations, written out) from the row's encoder state,
    reading [position_j, static_b, future covariates of segment j (zeros past the horizon)], then the linear map."""
    gru = head.decoder.layers[0].layer
    w_ih, w_hh = gru.weight_ih_l0.detach().numpy(), gru.weight_hh_l0.detach().numpy()
    b_ih, b_hh = gru.bias_ih_l0.detach().numpy(), gru.bias_hh_l0.detach().numpy()
    linear_w, linear_b = head.linear.weight.detach().numpy(), head.linear.bias.detach().numpy()
    position = head.position.detach().numpy()
    seg_len, segments = head.seg_len, head.segments
    horizon, channels = future.shape[1], future.shape[2]
    padded = np.zeros((future.shape[0], segments * seg_len, channels), dtype=np.float32)
    padded[:, :horizon] = future.numpy()

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    rows = []
    for b in range(state.shape[1]):
        h = state[0, b].numpy()
        values = []
        for j in range(segments):
            x = np.concatenate([position[j], static[b].numpy(), padded[b, j * seg_len : (j + 1) * seg_len].ravel()])
            gx, gh = w_ih @ x + b_ih, w_hh @ h + b_hh
            r_x, z_x, n_x = np.split(gx, 3)
            r_h, z_h, n_h = np.split(gh, 3)
            r, z = sigmoid(r_x + r_h), sigmoid(z_x + z_h)
            n = np.tanh(n_x + r * n_h)
            decoded = (1 - z) * n + z * h
            values.append((linear_w @ decoded + linear_b).reshape(seg_len, *head.out_shape[1:]))
        rows.append(np.concatenate(values)[:horizon])
    return np.stack(rows)


@pytest.mark.parametrize("horizon, seg_len", [(6, 3), (7, 3), (2, 4)])
def test_segment_head_decodes_each_segment_in_one_step_from_the_encoders_state(horizon, seg_len):
    """PMF: every segment starts from the same final state, so no segment reads another's forecast; with a horizon
    that seg_len does not divide, the last segment is cut (its covariates past the horizon are zeros)."""
    torch.manual_seed(1)
    encoder = functools.partial(GRUEncoder, hidden_size=6)
    dims = _dims(horizon=horizon, target_size=2, future_size=2, static_size=3, encoder_size=6, num_params=2)
    head = SegmentHead(dims, Decoding(encoder, lambda params: params[..., 0]), seg_len=seg_len)
    state, static, future = torch.randn(1, 4, 6), torch.randn(4, 3), torch.randn(4, horizon, 2)
    encoded = EncoderOutput(sequence=torch.randn(4, 8, 6), last=state[0], state=state)
    with torch.no_grad():
        params = head(encoded, torch.randn(4, 8, 2), future, static)
    assert head.position.shape == (-(-horizon // seg_len), 3)  # position_size defaults to half the encoder's 6
    assert params.shape == (4, horizon, 2, 2)
    np.testing.assert_allclose(params.numpy(), _pmf_reference(head, state, static, future), **TOL)


def test_segment_head_position_embedding_starts_at_the_scale_its_docstring_gives():
    """N(0, 1 / position_size), learned: each segment's position vector starts at about unit norm (SegRNN's N(0, 1))."""
    torch.manual_seed(8)
    decoding = Decoding(functools.partial(GRUEncoder, hidden_size=6), lambda params: params[..., 0])
    head = SegmentHead(_dims(horizon=200, encoder_size=6), decoding, seg_len=1, position_size=16)
    assert head.position.requires_grad and head.position.shape == (200, 16)
    assert abs(head.position.detach().var().item() * 16 - 1) < 0.1


def test_autoregressive_head_feeds_back_its_own_forecast_step_by_step():
    """Recurrent multi-step decoding, written as a loop over torch.nn.GRU steps: each decoder step reads the previous
    ``step`` values (first the last observed ones), the covariates of the steps it forecasts and the static features."""
    torch.manual_seed(7)
    encoder = functools.partial(GRUEncoder, hidden_size=5)
    dims = _dims(lookback=6, horizon=6, target_size=2, future_size=1, static_size=2, encoder_size=5, num_params=1)
    head = AutoregressiveHead(dims, Decoding(encoder, lambda params: params[..., 0]), step=2).eval()
    state, history = torch.randn(1, 3, 5), torch.randn(3, 6, 2)
    future, static = torch.randn(3, 6, 1), torch.randn(3, 2)
    encoded = EncoderOutput(sequence=torch.randn(3, 6, 5), last=state[0], state=state)
    gru, linear = head.decoder.layers[0].layer, head.linear
    with torch.no_grad():
        params = head(encoded, history, future, static)
        previous, hidden, expected = history[:, -2:], state, []
        for start in range(0, 6, 2):
            x = torch.cat([previous.flatten(1), future[:, start : start + 2].flatten(1), static], dim=-1)
            output, hidden = gru(x[:, None], hidden)
            previous = linear(output[:, 0]).view(3, 2, 2)  # -> (B, step, C_out)
            expected.append(previous)
    torch.testing.assert_close(params[..., 0], torch.cat(expected, dim=1), **TOL)


# CycleNet (Lin et al. 2024): the residual cycle


def _cycle_reference(values: np.ndarray, position: np.ndarray, lookback: int, horizon: int):
    """CycleNet's queue: step t of a window whose first forecast step is at position p takes Q[(p + t) mod W], with
    t = -L .. -1 over the lookback and 0 .. H - 1 over the horizon."""
    period = values.shape[0]
    past = np.stack([[values[(p + t) % period] for t in range(-lookback, 0)] for p in position])
    future = np.stack([[values[(p + t) % period] for t in range(horizon)] for p in position])
    return past, future


@pytest.mark.parametrize("period, lookback, horizon", [(24, 30, 20), (5, 3, 17), (1, 4, 3), (7, 7, 7)])
def test_residual_cycle_indexes_the_queue_by_each_steps_position(period, lookback, horizon):
    """Horizons and lookbacks longer than the period wrap round the queue as often as they need."""
    torch.manual_seed(2)
    cycle = ResidualCycle(3, period)
    assert cycle.values.shape == (period, 3) and not cycle.values.any()  # CycleNet's zero start
    with torch.no_grad():
        cycle.values.normal_()
    position = torch.tensor([0, period - 1, 3 % period, 2 * period + 1])
    past, future = cycle(position, lookback, horizon)
    expected_past, expected_future = _cycle_reference(
        cycle.values.detach().numpy(), position.numpy(), lookback, horizon
    )
    np.testing.assert_array_equal(past.detach().numpy(), expected_past)
    np.testing.assert_array_equal(future.detach().numpy(), expected_future)


def test_residual_cycle_forecast_is_the_published_cyclenet_forward():
    """CycleNet with RevIN (no affine): x_n = (x - mean) / std; the backbone reads x_n - C_past; the forecast is
    (backbone + C_future) * std + mean. With the last value head as backbone it is written out in numpy."""
    torch.manual_seed(3)
    lookback, horizon, period = 10, 13, 6
    forecaster = Forecaster(
        lookback=lookback, horizon=horizon, input_size=3, target_size=2, future_size=2, season_channel=1,
        season_length=period, cycle=ResidualCycle, normalization=functools.partial(InstanceNormalization, affine=False),
        encoder=IdentityEncoder, head=LastValueHead,
    )  # fmt: skip
    with torch.no_grad():
        forecaster.cycle.values.normal_()
    past = torch.randn(4, lookback, 3) * 3 + 2
    first = torch.tensor([0, 5, 2, 11])  # the first forecast step's position (11 lies in the next season)
    future = torch.stack([torch.randn(4, horizon), (first[:, None] + torch.arange(horizon)).float()], dim=-1)
    forecast = forecaster(past, future, torch.zeros(4, 0))[..., 0].detach().numpy()

    x, values = past.numpy().astype(np.float64), forecaster.cycle.values.detach().numpy()
    mean, std = x.mean(1, keepdims=True), np.sqrt(x.var(1, keepdims=True) + 1e-5)
    c_past, c_future = _cycle_reference(values, first.numpy(), lookback, horizon)
    residual = (x - mean) / std
    residual[..., :2] -= c_past
    expected = (residual[:, -1:, :2] + c_future) * std[..., :2] + mean[..., :2]
    np.testing.assert_allclose(forecast, expected, atol=1e-5, rtol=1e-5)


# RevIN (Kim et al. 2022)


def test_instance_normalization_is_revin_with_learned_affine_weights():
    """RevIN: x_n = (x - mean) / s * gamma + beta with s = sqrt(var + eps), inverted as (y - beta) / gamma * s + mean.
    The parameters start at gamma = 1, beta = 0; mean and (biased) variance are the window's, per channel."""
    torch.manual_seed(4)
    norm = InstanceNormalization(4)
    assert torch.equal(norm.weight, torch.ones(4)) and torch.equal(norm.bias, torch.zeros(4))
    assert norm.weight.requires_grad and norm.bias.requires_grad
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.normal_()
    past = torch.randn(3, 16, 4) * 5 + 1
    normalized, (loc, scale) = norm(past, 2)
    x, gamma, beta = past.numpy().astype(np.float64), norm.weight.detach().numpy(), norm.bias.detach().numpy()
    mean, std = x.mean(1, keepdims=True), np.sqrt(x.var(1, keepdims=True) + 1e-5)
    np.testing.assert_allclose(normalized.detach().numpy(), (x - mean) / std * gamma + beta, atol=1e-5, rtol=1e-6)
    y = np.random.default_rng(0).standard_normal((3, 5, 2))
    expected = (y - beta[:2]) / gamma[:2] * std[..., :2] + mean[..., :2]
    np.testing.assert_allclose(y * scale.detach().numpy() + loc.detach().numpy(), expected, atol=1e-5, rtol=1e-6)


def test_instance_normalization_without_affine_learns_nothing():
    norm = InstanceNormalization(3, affine=False)
    assert not any(parameter.requires_grad for parameter in norm.parameters())


def test_last_value_normalization_subtracts_each_channels_last_value_as_segrnn():
    past = torch.randn(2, 6, 3)
    normalized, (loc, scale) = LastValueNormalization(3)(past, 2)
    x = past.numpy()
    np.testing.assert_array_equal(normalized.numpy(), x - x[:, -1:])
    np.testing.assert_array_equal(loc.numpy(), x[:, -1:, :2])
    np.testing.assert_array_equal(scale.numpy(), np.ones((2, 1, 2)))


# DLinear (Zeng et al. 2023): the moving-average decomposition


def _moving_average(x: np.ndarray, kernel: int) -> np.ndarray:
    """DLinear's trend: the series padded by (kernel - 1) / 2 copies of its first and last values, averaged over
    ``kernel`` steps at every step. x: (B, L, C) -> (B, L, C)."""
    pad = (kernel - 1) // 2
    padded = np.concatenate([np.repeat(x[:, :1], pad, 1), x, np.repeat(x[:, -1:], pad, 1)], axis=1)
    return np.stack([padded[:, t : t + kernel].mean(1) for t in range(x.shape[1])], axis=1)


@pytest.mark.parametrize("kernel", [1, 3, 5, 25])
def test_lookback_linear_head_decomposes_the_window_into_dlinears_trend_and_remainder(kernel):
    """With identity maps (L = H) on one part and zeros on the other, the forecast is that part itself; a kernel
    longer than the window (25 over 9 steps) is padded with as many end values as DLinear's."""
    torch.manual_seed(5)
    head = LookbackLinearHead(_dims(lookback=9, horizon=9), moving_average=kernel)
    history = torch.randn(3, 9, 2)
    trend = _moving_average(history.numpy().astype(np.float64), kernel)
    for part, expected in [(1, trend), (0, history.numpy() - trend)]:
        with torch.no_grad():
            head.weight.zero_()
            head.bias.zero_()
            head.weight[part] = torch.eye(9)
        forecast = head(None, history, torch.zeros(3, 9, 0), torch.zeros(3, 0))[..., 0]
        np.testing.assert_allclose(forecast.detach().numpy(), expected, atol=1e-6, rtol=1e-6)


def test_lookback_linear_head_refuses_an_even_kernel_naming_the_key():
    with pytest.raises(ValueError, match=r"moving_average=4 must be 0 \(no decomposition\) or odd"):
        LookbackLinearHead(_dims(), moving_average=4)


def test_lookback_linear_head_individual_maps_each_channel_by_its_own_weights():
    torch.manual_seed(6)
    head = LookbackLinearHead(_dims(lookback=6, horizon=3, num_params=2), individual=True)
    history = torch.randn(4, 6, 2)
    forecast = head(None, history, torch.zeros(4, 3, 0), torch.zeros(4, 0)).detach().numpy()
    weight, bias = head.weight.detach().numpy()[0], head.bias.detach().numpy()[0]  # (C, H * P, L), (C, H * P)
    expected = np.einsum("blc,col->bco", history.numpy(), weight) + bias  # -> (B, C, H * P)
    np.testing.assert_allclose(forecast, expected.reshape(4, 2, 3, 2).transpose(0, 2, 1, 3), **TOL)
    assert not np.allclose(weight[0], weight[1])


# The naive baselines


def _seasonal_naive_reference(history: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Hyndman and Athanasopoulos, FPP 5.2: y[T + h] = y[T + h - m (k + 1)], k = floor((h - 1) / m), h = 1 .. H."""
    last = history.shape[1] - 1  # T
    return np.stack([history[:, last + h - period * ((h - 1) // period + 1)] for h in range(1, horizon + 1)], 1)


@pytest.mark.parametrize("horizon, period", [(5, 1), (30, 7), (3, 10), (10, 10)])
def test_seasonal_naive_repeats_the_last_observed_season(horizon, period):
    history = torch.randn(2, 10, 3)
    expected = _seasonal_naive_reference(history.numpy(), horizon, period)
    np.testing.assert_array_equal(seasonal_naive(history, horizon, period).numpy(), expected)
    head = SeasonalNaiveHead(_dims(lookback=10, horizon=horizon, input_size=3, target_size=3), period=period)
    forecast = head(None, history, torch.zeros(2, horizon, 0), torch.zeros(2, 0))
    np.testing.assert_array_equal(forecast[..., 0].numpy(), expected)


# On/off options and eps given as values Python misreads


@pytest.mark.parametrize(
    "build, key",
    [
        (lambda: InstanceNormalization(3, affine="false"), "model.normalization.init_args.affine"),
        (lambda: LinearHead(_dims(), from_sequence="false"), "model.head.init_args.from_sequence"),
        (lambda: LookbackLinearHead(_dims(), individual="no"), "model.head.init_args.individual"),
    ],
)
def test_an_on_off_option_given_as_text_is_refused_naming_its_key(build, key):
    """The text "false" is true to Python: the head took it as on (another model, silently); RevIN failed in
    torch's "_make_subclass(): argument 'require_grad'", naming no key."""
    with pytest.raises(TypeError, match=rf"{key}='(false|no)' is not a bool"):
        build()


def test_instance_normalization_refuses_an_infinite_eps():
    """An infinite eps normalized every window to zeros and made every forecast NaN, silently."""
    with pytest.raises(ValueError, match=r"model\.normalization\.init_args\.eps=inf must be positive and finite"):
        InstanceNormalization(2, eps=float("inf"))
