"""Losses, metrics and the logged pass metrics against independent references: numpy, SciPy, scikit-learn and
torchmetrics, in float64 and bfloat16, over batches of unequal size, missing targets and simulated processes."""

import dataclasses
import warnings

import lightning as L
import numpy as np
import pytest
import torch
import torchmetrics
from scipy import stats
from sklearn.metrics import mean_pinball_loss as sklearn_pinball

from forecast import Forecaster
from forecast.batch import Batch
from forecast.losses import GaussianNLLLoss, HuberLoss, MAELoss, MSELoss, QuantileLoss, StudentTNLLoss
from forecast.metrics import HorizonMetrics, IntervalCoverage, MeanPinballLoss
from forecast.model_metrics import _ExactMean

LEVELS = (0.1, 0.5, 0.9)


def _batch(windows: int, seed: int, lookback: int = 6, horizon: int = 3, targets: int = 2) -> Batch:
    """Random windows of one series with about a third of the targets unobserved (NaN), scaled by 2 about 5."""
    generator = torch.Generator().manual_seed(seed)
    target = torch.randn(windows, horizon, targets, generator=generator)
    observed = torch.rand(windows, horizon, targets, generator=generator) > 0.3
    return Batch(
        past=torch.randn(windows, lookback, targets, generator=generator),
        future=torch.zeros(windows, horizon, 0),
        static=torch.zeros(windows, 0),
        target=target.where(observed, torch.nan),
        series=torch.zeros(windows, dtype=torch.long),
        time=torch.arange(windows),
        target_scale=torch.full((windows, targets), 2.0, dtype=torch.float64),
        target_offset=torch.full((windows, targets), 5.0, dtype=torch.float64),
        naive_scale=torch.full((windows, targets), 0.5),
        observed=observed,
    )


def _huber(error: np.ndarray, delta: float) -> np.ndarray:
    return np.where(np.abs(error) < delta, 0.5 * error**2, delta * (np.abs(error) - 0.5 * delta))


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_huber_loss_of_a_float64_or_bfloat16_forecast_of_float32_targets_matches_numpy_in_value_and_gradient(dtype):
    """A model cast to float64 or bfloat16 (``model.double()``, ``model.bfloat16()``) forecasts in its dtype the
    data's float32 targets: HuberLoss's backward raised torch's "Found dtype Float but expected Double"."""
    forecast = torch.tensor([[[0.0], [2.0], [-1.5], [0.25]]], dtype=dtype).unsqueeze(-1).requires_grad_()
    target = torch.tensor([[[0.5], [-1.0], [-1.5], [4.0]]])
    loss = HuberLoss(delta=1.0)(forecast, target)
    loss.backward()
    error = forecast.detach().double().numpy()[..., 0] - target.double().numpy()
    assert loss.item() == pytest.approx(_huber(error, 1.0).mean(), rel=1e-6)
    expected_gradient = np.clip(error, -1.0, 1.0) / error.size
    np.testing.assert_allclose(forecast.grad.double().numpy()[..., 0], expected_gradient, rtol=1e-2)


def test_huber_loss_trains_a_float64_model_on_float32_windows():
    """``Forecaster(loss=HuberLoss()).double()`` stopped at its first training step's backward on windows with
    every target observed (``observed`` None)."""
    torch.manual_seed(0)
    model = Forecaster(6, 3, 2, 2, loss=HuberLoss()).double()
    batch = _batch(4, seed=0)
    batch = dataclasses.replace(batch, target=batch.target.nan_to_num(), observed=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's note that no trainer is attached to log to
        loss = model.training_step(batch, 0)
    loss.backward()
    assert all(parameter.grad is not None and parameter.grad.isfinite().all() for parameter in model.parameters())


def test_quantile_loss_of_bfloat16_forecasts_weighs_by_the_exact_levels():
    """The levels were rounded to the forecasts' bfloat16 (0.9 to 0.8984): a bfloat16 model's loss, its
    ``val/loss``, differed from ``val/pinball`` and from scikit-learn's, and it trained the 0.8984 quantile."""
    quantiles = torch.tensor([[[[-1.0, 0.0, 1.0]], [[0.5, 1.0, 2.0]]]], dtype=torch.bfloat16)  # (1, 2, 1, 3)
    target = torch.tensor([[[3.0], [-2.0]]])
    loss = QuantileLoss(LEVELS)(quantiles, target)
    preds, values = quantiles.double().numpy().reshape(-1, 3), target.double().numpy().reshape(-1)
    expected = np.mean([sklearn_pinball(values, preds[:, i], alpha=level) for i, level in enumerate(LEVELS)])
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def _location_scale_reference(loss, params: np.ndarray, target: np.ndarray) -> np.ndarray:
    if isinstance(loss, GaussianNLLLoss):
        return -stats.norm.logpdf(target, params[..., 0], params[..., 1])
    df = params[..., 2] if loss.df is None else loss.df
    return -stats.t.logpdf(target, df, params[..., 0], params[..., 1])


POINT_REFERENCES = {
    MSELoss: lambda forecast, target: (forecast - target) ** 2,
    MAELoss: lambda forecast, target: np.abs(forecast - target),
    HuberLoss: lambda forecast, target: _huber(forecast - target, 1.0),
}


@pytest.mark.parametrize(
    "loss",
    [MSELoss(), MAELoss(), HuberLoss(), GaussianNLLLoss(), StudentTNLLoss(), StudentTNLLoss(df=3.0), QuantileLoss()],
    ids=["mse", "mae", "huber", "gaussian", "student-t", "student-t-fixed", "quantile"],
)
def test_every_loss_is_the_mean_of_its_reference_over_the_observed_nan_free_targets_only(loss):
    """Over batch, horizon and channel, in float64: the unobserved targets (NaN here) are out of the numerator and
    the denominator alike, and their forecasts get no gradient."""
    generator = torch.Generator().manual_seed(1)
    raw = torch.randn(5, 4, 3, loss.num_params, generator=generator, dtype=torch.float64)
    loc, scale = torch.randn(5, 1, 3, dtype=torch.float64), torch.rand(5, 1, 3, dtype=torch.float64) + 0.5
    params = loss.rescale(raw, loc, scale).detach().requires_grad_()
    target = torch.randn(5, 4, 3, generator=generator, dtype=torch.float64)
    observed = torch.rand(5, 4, 3, generator=generator) > 0.4
    value = loss(params, target.where(observed, torch.nan), observed)
    value.backward()
    values, kept = params.detach().numpy(), observed.numpy()
    if isinstance(loss, QuantileLoss):
        error = target.numpy()[..., None] - values  # -> (B, H, C, Q)
        each = np.maximum(np.array(loss.levels) * error, (np.array(loss.levels) - 1) * error).mean(-1)
    elif type(loss) in POINT_REFERENCES:
        each = POINT_REFERENCES[type(loss)](values[..., 0], target.numpy())
    else:
        each = _location_scale_reference(loss, values, target.numpy())
    assert value.item() == pytest.approx(each[kept].mean(), rel=1e-9)
    assert params.grad[~observed].abs().max() == 0 and params.grad.isfinite().all()


@pytest.mark.parametrize(
    "loss", [GaussianNLLLoss(), StudentTNLLoss(), StudentTNLLoss(df=0.5)], ids=["gaussian", "student-t", "df-0.5"]
)
@pytest.mark.parametrize("raw_value", [-100.0, 100.0])
def test_distribution_losses_have_finite_gradients_at_the_scale_and_df_bounds(loss, raw_value):
    """A raw scale of -100 puts the scale at its floor (min_scale) and a raw df of -100 the degrees of freedom at
    2; +100 puts both far out: the loss of a target 50 scales away and its gradient stay finite, in float32."""
    raw = torch.zeros(1, 1, 1, loss.num_params)
    raw[..., 1:] = raw_value
    raw.requires_grad_()
    value = loss(loss.rescale(raw, torch.zeros(1, 1, 1), torch.ones(1, 1, 1)), torch.full((1, 1, 1), 50.0))
    value.backward()
    assert value.isfinite() and raw.grad.isfinite().all()


def test_horizon_metrics_cells_equal_torchmetrics_per_cell():
    """The docstring's claim: each cell's mse, mae, mape and smape are torchmetrics' over that cell's values, a zero
    target and a zero forecast included."""
    generator = torch.Generator().manual_seed(2)
    forecast, target = torch.randn(2, 7, 3, 2, generator=generator).unbind(0)
    forecast[0, 0, 0] = target[0, 0, 0] = 0.0
    target[1, 0, 0] = 0.0
    metric = HorizonMetrics(3, 2)
    metric.update(forecast[:4], target[:4])
    metric.update(forecast[4:], target[4:])
    computed = metric.compute()
    references = {
        "mse": torchmetrics.MeanSquaredError,
        "mae": torchmetrics.MeanAbsoluteError,
        "mape": torchmetrics.MeanAbsolutePercentageError,
        "smape": torchmetrics.SymmetricMeanAbsolutePercentageError,
    }
    for name, reference in references.items():
        expected = [[reference()(forecast[:, h, c], target[:, h, c]) for c in range(2)] for h in range(3)]
        torch.testing.assert_close(computed[name].float(), torch.tensor(expected), rtol=1e-5, atol=0, msg=name)


def _simulated_processes(build, updates):
    """The metric of the first process of two, simulated by ``dist_sync_fn``, each updated with its own batches."""
    other = build()
    for args in updates[1]:
        other.update(*args)

    def gather(state, group=None):  # what torch.distributed's all-gather returns: every process's state
        (name,) = (name for name, value in metric.metric_state.items() if value is state)
        return [state, getattr(other, name)]

    metric = build(dist_sync_fn=gather, distributed_available_fn=lambda: True)
    for args in updates[0]:
        metric.update(*args)
    return metric


def test_quantile_metrics_over_simulated_processes_of_unequal_batches_equal_sklearn_and_numpy_over_all():
    """Batches of 5, 1 and 3 windows on two processes: the synced metric is the metric over their concatenation,
    not a mean of batch or process means."""
    generator = torch.Generator().manual_seed(3)
    quantiles = torch.randn(9, 4, 3, generator=generator).sort(-1).values.double()
    target = torch.randn(9, 4, generator=generator).double()
    parts = [[(quantiles[:5], target[:5]), (quantiles[5:6], target[5:6])], [(quantiles[6:], target[6:])]]
    pinball = _simulated_processes(lambda **options: MeanPinballLoss(LEVELS, **options), parts).compute()
    preds, values = quantiles.reshape(-1, 3).numpy(), target.reshape(-1).numpy()
    expected = np.mean([sklearn_pinball(values, preds[:, i], alpha=level) for i, level in enumerate(LEVELS)])
    assert pinball.item() == pytest.approx(expected, rel=1e-6)
    coverage = _simulated_processes(lambda **options: IntervalCoverage(**options), parts).compute()
    assert coverage.item() == pytest.approx(((preds[:, 0] <= values) & (values <= preds[:, 2])).mean(), rel=1e-6)


def test_mean_loss_over_simulated_processes_is_the_mean_weighed_by_scored_targets():
    """``val/loss`` over two processes holding 1 and 3 batches of unequal scored targets: the mean of every scored
    target's loss, as if one process had them all."""
    losses, weights = [0.5, 2.0, 1.0, 4.0], [7, 1, 3, 12]
    parts = [[(torch.tensor(losses[0]), torch.tensor(weights[0]))], [(torch.tensor(value), torch.tensor(weight))
             for value, weight in zip(losses[1:], weights[1:], strict=True)]]  # fmt: skip
    mean = _simulated_processes(lambda **options: _ExactMean(nan_strategy=float("nan"), **options), parts)
    assert mean.compute().item() == pytest.approx(np.average(losses, weights=weights), rel=1e-7)


def test_logged_validation_metrics_are_those_over_all_observed_targets_of_unequal_batches(tmp_path):
    """Batches of 5, 5 and 1 windows with missing targets: ``val/loss``, ``val/pinball``, ``val/mse``,
    ``val/coverage`` and ``val/mse_orig`` are the metrics over all observed targets, computed here by hand from the
    model's own forecasts; a mean of batch means would weigh the last window as five."""
    torch.manual_seed(0)
    model = Forecaster(6, 3, 2, 2, loss=QuantileLoss(LEVELS))
    batches = [_batch(5, seed=0), _batch(5, seed=1), _batch(1, seed=2)]
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and on the loader's length
        (logged,) = trainer.validate(model, torch.utils.data.DataLoader(batches, batch_size=None), verbose=False)
    with torch.no_grad():
        quantiles = torch.cat([model(batch.past, batch.future, batch.static) for batch in batches]).double().numpy()
    target = torch.cat([batch.target for batch in batches]).double().numpy()
    observed = torch.cat([batch.observed for batch in batches]).numpy()
    error = target[..., None] - quantiles
    levels = np.array(LEVELS)
    pinball = np.maximum(levels * error, (levels - 1) * error).mean(-1)[observed].mean()
    median_error = (quantiles[..., 1] - target)[observed]
    inside = ((quantiles[..., 0] <= target) & (target <= quantiles[..., 2]))[observed]
    expected = {
        "val/loss": pinball,
        "val/pinball": pinball,
        "val/crps": 2 * pinball,
        "val/mse": np.mean(median_error**2),
        "val/mae": np.mean(np.abs(median_error)),
        "val/mase": np.mean(np.abs(median_error)) / 0.5,
        "val/coverage": inside.mean(),
        "val/mse_orig": np.mean((2 * median_error) ** 2),
        "val/pinball_orig": 2 * pinball,
    }
    assert {name: logged[name] for name in expected} == pytest.approx(expected, rel=1e-6)


def test_mean_loss_past_2_to_the_24_scored_targets_keeps_every_later_batch():
    """``val/loss`` summed its weights in float32: after a batch of 2**24 scored targets of loss 1, 100 batches of one
    scored target of loss 0 each were dropped and the mean read 1."""
    mean = Forecaster(lookback=2, horizon=1, input_size=1, target_size=1).mean_losses["val"]
    mean.update(torch.tensor(1.0), weight=2**24)
    for _ in range(100):
        mean.update(torch.tensor(0.0), weight=1)
    value = mean.compute()
    assert value.dtype == torch.float32
    assert value.item() == pytest.approx(2**24 / (2**24 + 100), rel=1e-7)
