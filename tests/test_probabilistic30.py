"""Probabilistic forecasts end to end against SciPy and NumPy: each loss's value and gradient through the head's raw
output and a rescaling to original units, forecasts and metrics of a StandardScaler of mean 100 and scale 7, and the
metrics' torchmetrics life cycle (update, compute, reset) in the metric classes and across a fit's epochs."""

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import special, stats
from sklearn.metrics import mean_pinball_loss as sklearn_pinball
from sklearn.preprocessing import StandardScaler

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.data.options import Scaling
from forecast.losses import GaussianNLLLoss, QuantileLoss, StudentTNLLoss
from forecast.metrics import ContinuousRankedProbabilityScore, HorizonMetrics, IntervalCoverage, MeanPinballLoss
from forecast.nn import IdentityEncoder

B, H, C = 2, 3, 2
LOC, SCALE = 100.0, 7.0
LEVELS = (0.1, 0.5, 0.9)
QUIET = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}


def softplus(values: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, values)


def reference_loss(loss, raw: np.ndarray, target: np.ndarray) -> float:
    """The mean loss of the head's raw output ``raw`` (B, H, C, P) rescaled by ``LOC`` and ``SCALE``, from SciPy's
    log densities and the pinball formula, with the constraints the loss documents written out in NumPy."""
    location = LOC + SCALE * raw[..., 0]
    if isinstance(loss, QuantileLoss):  # levels (0.1, 0.5, 0.9): the median as it is, the others a softplus step away
        median = LOC + SCALE * raw[..., 1]
        quantiles = np.stack(
            [median - SCALE * softplus(raw[..., 0]), median, median + SCALE * softplus(raw[..., 2])], -1
        )
        levels = np.array(loss.levels)
        error = target[..., None] - quantiles
        return float(np.maximum(levels * error, (levels - 1) * error).mean())
    spread = SCALE * (softplus(raw[..., 1]) + loss.min_scale)
    if isinstance(loss, GaussianNLLLoss):
        return float(-stats.norm.logpdf(target, location, spread).mean())
    df = 2.0 + softplus(raw[..., 2]) if loss.df is None else loss.df
    return float(-stats.t.logpdf(target, df, location, spread).mean())


def numeric_gradient(loss, raw: np.ndarray, target: np.ndarray, step: float = 1e-6) -> np.ndarray:
    """Central differences of ``reference_loss`` in each raw output."""
    gradient = np.zeros_like(raw)
    for index in np.ndindex(raw.shape):
        up, down = raw.copy(), raw.copy()
        up[index] += step
        down[index] -= step
        gradient[index] = (reference_loss(loss, up, target) - reference_loss(loss, down, target)) / (2 * step)
    return gradient


@pytest.mark.parametrize(
    "loss",
    [GaussianNLLLoss(LEVELS), StudentTNLLoss(LEVELS), StudentTNLLoss(LEVELS, df=3.0), QuantileLoss(LEVELS)],
    ids=["gaussian", "student-learned-df", "student-df-3", "quantile"],
)
def test_each_probabilistic_loss_and_its_gradient_in_the_heads_outputs_match_scipy_in_original_units(loss):
    """The loss of the head's raw output, rescaled to a location of 100 and a scale of 7, is SciPy's negative log
    density (or the pinball loss) of the documented constrained parameters, and its gradient in every raw output
    (through the softplus of scale, degrees of freedom and quantile steps) is that reference's numeric gradient."""
    generator = torch.Generator().manual_seed(0)
    raw = torch.randn(B, H, C, loss.num_params, generator=generator, dtype=torch.float64, requires_grad=True)
    target = LOC + SCALE * torch.randn(B, H, C, generator=generator, dtype=torch.float64)
    loc, scale = torch.full((B, 1, C), LOC, dtype=torch.float64), torch.full((B, 1, C), SCALE, dtype=torch.float64)
    value = loss(loss.rescale(raw, loc, scale), target)
    value.backward()
    raw_values, targets = raw.detach().numpy(), target.numpy()
    assert value.item() == pytest.approx(reference_loss(loss, raw_values, targets), rel=1e-12)
    np.testing.assert_allclose(raw.grad.numpy(), numeric_gradient(loss, raw_values, targets), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("loss", [GaussianNLLLoss(LEVELS), StudentTNLLoss(LEVELS)], ids=["gaussian", "student"])
def test_distribution_quantiles_are_scipys_inverse_distribution_in_original_units(loss):
    """Quantiles of parameters rescaled to location 100 and scale 7 are SciPy's ``ppf`` of the distribution at
    ``100 + 7 * mean`` with deviation ``7 * sigma`` (not shifted by the location), at each value's own degrees of
    freedom; they carry a gradient to location and scale, and none to the degrees of freedom, as documented."""
    generator = torch.Generator().manual_seed(1)
    raw = torch.randn(B, H, C, loss.num_params, generator=generator, dtype=torch.float64, requires_grad=True)
    loc, scale = torch.full((B, 1, C), LOC, dtype=torch.float64), torch.full((B, 1, C), SCALE, dtype=torch.float64)
    quantiles = loss.quantiles(loss.rescale(raw, loc, scale), LEVELS)  # -> (B, H, C, Q)
    values = raw.detach().numpy()
    location = LOC + SCALE * values[..., :1]
    deviation = SCALE * (softplus(values[..., 1:2]) + loss.min_scale)
    if isinstance(loss, GaussianNLLLoss):
        expected = stats.norm.ppf(LEVELS, location, deviation)
    else:
        expected = stats.t.ppf(LEVELS, 2.0 + softplus(values[..., 2:3]), location, deviation)
    np.testing.assert_allclose(quantiles.detach().numpy(), expected, rtol=1e-10)
    quantiles[..., -1].sum().backward()
    assert (raw.grad[..., :2] != 0).all()
    assert (raw.grad[..., 2:] == 0).all()  # the Student-t's learned degrees of freedom, empty for the normal


def scaled_series(rows: int = 80) -> tuple[pd.DataFrame, TimeSeriesDataModule]:
    """One series whose training rows have a mean of exactly 100 and a (population) deviation of exactly 7, so a
    StandardScaler fitted on them maps ``z`` back to ``100 + 7 * z``; and its data module."""
    values = np.sin(np.arange(rows) / 3) + 0.3 * np.random.default_rng(0).standard_normal(rows)
    training = 40  # FractionSplit(val=0.2, test=0.3) of 80 rows: the first 40 train
    values = LOC + SCALE * (values - values[:training].mean()) / values[:training].std()
    frame = pd.DataFrame({"id": "a", "time": pd.date_range("2024-01-01", periods=rows, freq="h"), "y": values})
    data = TimeSeriesDataModule(frame, 8, H, columns=Columns(targets=["y"]), split=FractionSplit(val=0.2, test=0.3),
                                scaling=Scaling(scaler=StandardScaler), batch_size=16)  # fmt: skip
    return frame, data


def untrained(loss) -> Forecaster:
    torch.manual_seed(0)
    return Forecaster(lookback=8, horizon=H, input_size=1, target_size=1, loss=loss, encoder=IdentityEncoder)


def test_predicted_gaussian_quantiles_are_100_plus_7_times_the_scaled_ones_and_the_deviation_7_sigma():
    """``trainer.predict`` of a GaussianNLLLoss model on data a StandardScaler of mean 100 and scale 7 scales: the
    point is ``100 + 7 * mean``, the quantiles ``100 + 7 * (mean + sigma * ndtri(level))`` in increasing order, and
    the deviation the 10%-90% spread implies is ``7 * sigma``, the location not in it."""
    _, data = scaled_series()
    model = untrained(GaussianNLLLoss(LEVELS))
    (predicted,) = L.Trainer(**QUIET).predict(model, data)
    assert data.borders[0, 0] == 40  # the training rows scaled_series fixed the mean and deviation of
    params = []
    with torch.no_grad():
        for batch in data.predict_dataloader():
            params.append(model(batch.past, batch.future, batch.static).double().numpy()[:, :, 0])  # -> (B, H, 2)
    mean, sigma = np.concatenate(params)[..., 0], np.concatenate(params)[..., 1]
    point, quantiles = predicted["forecast"].numpy()[:, :, 0], predicted["quantiles"].numpy()[:, :, 0]  # (N, H, Q)
    np.testing.assert_allclose(point, LOC + SCALE * mean, rtol=1e-6)
    np.testing.assert_allclose(quantiles, LOC + SCALE * (mean[..., None] + sigma[..., None] * special.ndtri(LEVELS)),
                               rtol=1e-6)  # fmt: skip
    assert (np.diff(quantiles, axis=-1) > 0).all()
    implied = (quantiles[..., 2] - quantiles[..., 0]) / (2 * special.ndtri(0.9))
    np.testing.assert_allclose(implied, SCALE * sigma, rtol=1e-5)


@pytest.mark.parametrize("loss", [StudentTNLLoss(LEVELS, df=3.0), QuantileLoss(LEVELS)], ids=["student", "quantile"])
def test_test_metrics_in_original_units_are_the_scaled_ones_times_the_scale_of_7(loss):
    """Under one StandardScaler of scale 7 an error in original units is 7 times the scaled one: the logged
    pinball loss, CRPS and MAE are 7 times theirs, MSE 49 times, and the coverage of the 10%-90% interval is the
    same; the pinball loss is scikit-learn's and the coverage a hand count, over ``100 + 7 * q`` of the network's
    scaled quantiles ``q`` and the frame's own values."""
    frame, data = scaled_series()
    model = untrained(loss)
    (logged,) = L.Trainer(**QUIET).test(model, data, verbose=False)
    for name, factor in [("pinball", SCALE), ("crps", SCALE), ("mae", SCALE), ("mse", SCALE**2), ("coverage", 1.0)]:
        assert logged[f"test/{name}_orig"] == pytest.approx(factor * logged[f"test/{name}"], rel=1e-5), name
    quantiles, rows = [], []
    with torch.no_grad():
        for batch in data.test_dataloader():
            params = model(batch.past, batch.future, batch.static)
            quantiles.append(LOC + SCALE * loss.quantiles(params, LEVELS).double().numpy()[:, :, 0])  # -> (B, H, Q)
            rows.append(batch.time.numpy()[:, None] + np.arange(H))  # each forecast's row of the series
    quantiles = np.concatenate(quantiles).reshape(-1, len(LEVELS))  # -> (N * H, Q)
    actual = frame["y"].to_numpy()[np.concatenate(rows).reshape(-1)]
    pinball = np.mean([sklearn_pinball(actual, quantiles[:, q], alpha=level) for q, level in enumerate(LEVELS)])
    assert logged["test/pinball_orig"] == pytest.approx(pinball, rel=1e-5)
    inside = (quantiles[:, 0] <= actual) & (actual <= quantiles[:, -1])
    assert logged["test/coverage_orig"] == pytest.approx(inside.mean(), rel=1e-6)


def quantile_batches(seed: int = 2) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Two batches of sorted quantile forecasts (B, H, C, Q) and targets (B, H, C) of unequal sizes."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(4, H, C), (2, H, C)]
    return [
        (
            torch.randn(*shape, len(LEVELS), generator=generator).sort(-1).values,
            torch.randn(*shape, generator=generator),
        )
        for shape in shapes
    ]


def numpy_scores(batches: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, float]:
    """Pinball loss (scikit-learn's, averaged over levels), CRPS and the 10%-90% coverage over ``batches``."""
    preds = np.concatenate([preds.reshape(-1, len(LEVELS)).numpy() for preds, _ in batches])
    target = np.concatenate([target.reshape(-1).numpy() for _, target in batches])
    pinball = np.mean([sklearn_pinball(target, preds[:, q], alpha=level) for q, level in enumerate(LEVELS)])
    coverage = ((preds[:, 0] <= target) & (target <= preds[:, -1])).mean()
    return {"pinball": pinball, "crps": 2 * pinball, "coverage": coverage}


def metric_classes() -> dict[str, object]:
    return {
        "pinball": MeanPinballLoss(LEVELS),
        "crps": ContinuousRankedProbabilityScore(LEVELS),
        "coverage": IntervalCoverage(),
    }


def test_quantile_metric_classes_follow_torchmetrics_update_compute_reset():
    """``forward`` gives the batch's score and adds it to the state; ``compute`` scores all batches since the last
    ``reset``; after ``reset`` the next batch alone counts, as an epoch's metrics must (scikit-learn, NumPy)."""
    first, second = quantile_batches()
    for name, metric in metric_classes().items():
        assert metric(*first).item() == pytest.approx(numpy_scores([first])[name], rel=1e-6), name
        assert metric(*second).item() == pytest.approx(numpy_scores([second])[name], rel=1e-6), name
        assert metric.compute().item() == pytest.approx(numpy_scores([first, second])[name], rel=1e-6), name
        metric.reset()
        metric.update(*second)
        assert metric.compute().item() == pytest.approx(numpy_scores([second])[name], rel=1e-6), name


def test_horizon_metrics_quantile_scores_start_anew_after_reset():
    """``HorizonMetrics``'s pinball loss, CRPS and coverage over all cells after a reset are those of the batches
    added since, and each cell's are those of its own values."""
    first, second = quantile_batches()
    metric = HorizonMetrics(H, C, LEVELS)
    for preds, target in (first, second):
        metric.update(preds[..., 1], target, quantiles=preds)
    metric.reset()
    metric.update(second[0][..., 1], second[1], quantiles=second[0])
    overall, cells = metric.overall(), metric.compute()
    for name, value in numpy_scores([second]).items():
        assert overall[name].item() == pytest.approx(value, rel=1e-6), name
    cell = [(second[0][:, 1:2, 0:1], second[1][:, 1:2, 0:1])]  # step 2, column 1
    for name, value in numpy_scores(cell).items():
        assert cells[name][1, 0].item() == pytest.approx(value, rel=1e-6), name


@pytest.mark.slow
def test_each_epochs_validation_scores_are_those_of_that_epochs_model_alone():
    """Over a fit of three epochs, each logged validation pinball loss, CRPS, coverage and loss differs, and the
    last equal a fresh ``validate`` of the final model: the states start anew each epoch, not summed over them."""
    _, data = scaled_series()
    torch.manual_seed(0)
    model = Forecaster(lookback=8, horizon=H, input_size=1, target_size=1, loss=QuantileLoss(LEVELS))
    names = ["val/pinball", "val/crps_orig", "val/coverage", "val/loss"]
    logged = []

    class Record(L.Callback):
        def on_train_epoch_end(self, trainer: L.Trainer, module: L.LightningModule) -> None:
            logged.append({name: float(trainer.callback_metrics[name]) for name in names})

    trainer = L.Trainer(max_epochs=3, callbacks=[Record()], enable_checkpointing=False, **QUIET)
    trainer.fit(model, data)
    (fresh,) = L.Trainer(**QUIET).validate(model, data, verbose=False)
    assert len(logged) == 3 and logged[0]["val/pinball"] != logged[-1]["val/pinball"]
    for name in names:
        assert logged[-1][name] == pytest.approx(fresh[name], rel=1e-6), name
