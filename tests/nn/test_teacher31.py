"""A teacher-forced autoregressive decoder never continues from a target the data module repaired (``nan_policy``):
where ``Batch.observed`` is False it reads its own point forecast of that value, as it does at prediction time."""

import functools

import pytest
import torch

from forecast import Forecaster
from forecast.batch import Batch
from forecast.nn import AutoregressiveHead, GRUEncoder, LSTMEncoder

LOOKBACK, HORIZON, TARGETS = 6, 4, 2

# training_step logs its loss; these tests run it without a Trainer
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")


def _model(step: int, channel_independent: bool = False, encoder=GRUEncoder) -> Forecaster:
    """A teacher-forced model (every training batch) of no normalization: the head's scale is the data's."""
    torch.manual_seed(0)
    return Forecaster(
        lookback=LOOKBACK,
        horizon=HORIZON,
        input_size=3,
        target_size=TARGETS,
        future_size=1,
        encoder=functools.partial(encoder, hidden_size=5),
        head=functools.partial(AutoregressiveHead, step=step, teacher_forcing=1.0),
        channel_independent=channel_independent,
    ).train()


def _batch(observed: torch.Tensor | None) -> Batch:
    """Three windows whose unobserved targets hold 0, the repair of ``nan_policy='zero'``."""
    generator = torch.Generator().manual_seed(1)
    target = torch.randn(3, HORIZON, TARGETS, generator=generator)
    if observed is not None:
        target = target.masked_fill(~observed, 0.0)
    return Batch(
        past=torch.randn(3, LOOKBACK, 3, generator=generator),
        future=torch.randn(3, HORIZON, 1, generator=generator),
        static=torch.zeros(3, 0),
        target=target,
        series=torch.zeros(3, dtype=torch.long),
        time=torch.arange(3),
        target_scale=torch.ones(3, TARGETS),
        target_offset=torch.zeros(3, TARGETS),
        naive_scale=torch.ones(3, TARGETS),
        observed=observed,
    )


def _mask() -> torch.Tensor:
    """Unobserved: a whole step of row 0, one channel of row 1 at two steps; row 2 all observed."""
    observed = torch.ones(3, HORIZON, TARGETS, dtype=torch.bool)
    observed[0, 1] = False
    observed[1, 0, 1] = observed[1, 2, 1] = False
    return observed


def _decoder_inputs(model: Forecaster, batch: Batch) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Every decoder step's input (rows, 1, features) and the training step's forecast (B, H, C_out)."""
    captured, forecasts = [], []
    hooks = [
        model.head.decoder.register_forward_hook(lambda module, args, output: captured.append(args[0].detach())),
        model.register_forward_hook(lambda module, args, output: forecasts.append(output[..., 0].detach())),
    ]
    try:
        model.training_step(batch, 0)
    finally:
        for hook in hooks:
            hook.remove()
    return captured, forecasts[0]


def _read_values(inputs: torch.Tensor, step: int, channel_independent: bool) -> torch.Tensor:
    """The previous values a decoder step read, as (B, step, C_out)."""
    values = inputs[:, 0, : step * (1 if channel_independent else TARGETS)]
    if channel_independent:  # row b * C_out + c holds channel c of window b
        return values.reshape(-1, TARGETS, step).transpose(1, 2)
    return values.reshape(-1, step, TARGETS)


@pytest.mark.parametrize("channel_independent", [False, True])
@pytest.mark.parametrize("step", [1, 2])
def test_a_teacher_forced_decoder_reads_its_own_forecast_where_the_target_was_repaired(step, channel_independent):
    """At an unobserved (row, step, channel) the decoder read the repair (0) instead of its forecast of that value."""
    model = _model(step, channel_independent)
    model.head.dropout.p = 0.0
    batch = _batch(_mask())
    captured, forecast = _decoder_inputs(model, batch)
    assert len(captured) == HORIZON // step
    expected = torch.where(batch.observed, batch.target, forecast)  # hand reference: truth, else own forecast
    for index, inputs in enumerate(captured[1:]):
        window = slice(index * step, (index + 1) * step)
        torch.testing.assert_close(_read_values(inputs, step, channel_independent), expected[:, window])


def test_an_unrepaired_batch_is_teacher_forced_with_the_exact_targets():
    """All observed (a mask of True, or None): every later decoder step reads the true previous values bitwise."""
    model = _model(1)
    target = _batch(None).target
    for observed in (None, torch.ones(3, HORIZON, TARGETS, dtype=torch.bool)):
        captured, _ = _decoder_inputs(model, _batch(observed))
        read = torch.stack([_read_values(inputs, 1, False)[:, 0] for inputs in captured[1:]], dim=1)
        assert torch.equal(read, target[:, :-1])


def test_an_all_observed_mask_trains_bitwise_as_no_mask():
    """The mask of True changes neither the loss nor a gradient of a teacher-forced fit step."""
    losses, grads = [], []
    for observed in (None, torch.ones(3, HORIZON, TARGETS, dtype=torch.bool)):
        model = _model(2, encoder=LSTMEncoder)
        loss = model.training_step(_batch(observed), 0)
        loss.backward()
        losses.append(loss.detach())
        grads.append([parameter.grad.clone() for parameter in model.parameters() if parameter.grad is not None])
    assert torch.equal(losses[0], losses[1])
    assert all(torch.equal(first, second) for first, second in zip(*grads, strict=True))


def test_the_head_takes_its_own_forecast_where_the_given_target_is_nan():
    """The head alone: a NaN target value is no input; the decoder reads its point forecast there."""
    model = _model(1)
    batch = _batch(None)
    target = batch.target.clone()
    target[0, 0, 1] = float("nan")
    captured = []
    model.head.decoder.register_forward_hook(lambda module, args, output: captured.append(args[0].detach()))
    params = model.head(model.encoder(batch.past), batch.past[..., :TARGETS], batch.future, batch.static, target)
    read = captured[1][:, 0, :TARGETS]
    assert torch.equal(read[0, 1], params[0, 0, 1, 0].detach())  # the MSE loss's point forecast: its one parameter
    assert torch.equal(read[0, 0], target[0, 0, 0]) and torch.equal(read[1:], target[1:, 0])
    assert torch.isfinite(params).all()


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_a_repaired_batch_teacher_forces_and_trains_in_the_weights_dtype(dtype):
    """In float64 or bfloat16 weights the decoder reads its forecast at a repair, and the NaN that marks the repair
    reaches neither the loss nor a gradient."""
    model = _model(1, channel_independent=True).to(dtype)
    batch = _batch(_mask())
    captured, forecast = _decoder_inputs(model, batch)
    expected = torch.where(batch.observed, batch.target.to(dtype), forecast)
    read = torch.stack([_read_values(inputs, 1, True)[:, 0] for inputs in captured[1:]], dim=1)
    assert read.dtype == dtype and torch.equal(read, expected[:, :-1])
    loss = model.training_step(batch, 0)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(parameter.grad).all() for parameter in model.parameters() if parameter.grad is not None)
