import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import mean_pinball_loss as sklearn_mean_pinball_loss

from forecast.metrics import (
    ContinuousRankedProbabilityScore,
    IntervalCoverage,
    MeanAbsoluteScaledError,
    MeanPinballLoss,
    check_quantile_levels,
    continuous_ranked_probability_score,
    interval_coverage,
    mean_absolute_scaled_error,
)

B, H, C, L = 6, 5, 3, 12
LEVELS = [0.1, 0.5, 0.9]


@pytest.fixture
def data():
    """Seeded float64 windows: sorted quantile forecasts, point forecasts, targets and histories."""
    rng = np.random.default_rng(0)
    return {
        "quantiles": np.sort(rng.normal(size=(B, H, C, len(LEVELS))), axis=-1),
        "point": rng.normal(size=(B, H, C)),
        "target": rng.normal(size=(B, H, C)),
        "history": rng.normal(size=(B, L, C)).cumsum(axis=1),
    }


def tensors(*arrays):
    return [torch.from_numpy(array) for array in arrays]


def numpy_mase(point, target, history, period):
    scale = np.abs(history[:, period:] - history[:, :-period]).mean(axis=1, keepdims=True)  # -> (B, 1, C)
    return np.mean(np.abs(point - target) / scale)


def test_mean_pinball_loss_matches_sklearn_averaged_over_levels(data):
    quantiles, target = data["quantiles"], data["target"]
    expected = np.mean(
        [sklearn_mean_pinball_loss(target.ravel(), quantiles[..., i].ravel(), alpha=q) for i, q in enumerate(LEVELS)]
    )
    metric = MeanPinballLoss(LEVELS)
    metric.update(*tensors(quantiles, target))
    assert metric.compute().item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("lower_index", "upper_index"), [(0, -1), (0, 1), (1, 2)])
def test_interval_coverage_matches_numpy(data, lower_index, upper_index):
    quantiles, target = data["quantiles"], data["target"]
    expected = np.mean((quantiles[..., lower_index] <= target) & (target <= quantiles[..., upper_index]))
    metric = IntervalCoverage(lower_index, upper_index)
    metric.update(*tensors(quantiles, target))
    assert metric.compute().item() == pytest.approx(expected)
    assert 0 < expected < 1


def test_interval_coverage_counts_targets_on_the_bounds_as_inside():
    preds = torch.tensor([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    assert interval_coverage(preds, torch.tensor([0.0, 1.0, 1.0001])).item() == pytest.approx(2 / 3)


@pytest.mark.parametrize("period", [1, 3])
def test_mean_absolute_scaled_error_matches_numpy(data, period):
    expected = numpy_mase(data["point"], data["target"], data["history"], period)
    metric = MeanAbsoluteScaledError(seasonal_period=period)
    metric.update(*tensors(data["point"], data["target"], data["history"]))
    assert metric.compute().item() == pytest.approx(expected, rel=1e-6)


def test_mean_absolute_scaled_error_scales_each_window_and_channel_apart():
    history = torch.tensor([[[0.0, 0.0], [1.0, 4.0]], [[0.0, 0.0], [2.0, 8.0]]])  # scales 1, 4 / 2, 8
    errors = torch.ones(2, 1, 2)
    expected = np.mean([1 / 1, 1 / 4, 1 / 2, 1 / 8])
    assert mean_absolute_scaled_error(errors, torch.zeros(2, 1, 2), history).item() == pytest.approx(expected)


def test_mean_absolute_scaled_error_stays_finite_on_a_flat_history():
    value = mean_absolute_scaled_error(torch.ones(1, 2, 1), torch.zeros(1, 2, 1), torch.full((1, 4, 1), 3.0))
    assert torch.isfinite(value) and value.item() > 1e5


@pytest.mark.parametrize(
    ("build", "inputs"),
    [
        (lambda: MeanPinballLoss(LEVELS), ("quantiles", "target")),
        (lambda: ContinuousRankedProbabilityScore(LEVELS), ("quantiles", "target")),
        (lambda: IntervalCoverage(), ("quantiles", "target")),
        (lambda: MeanAbsoluteScaledError(seasonal_period=2), ("point", "target", "history")),
    ],
    ids=["pinball", "crps", "coverage", "mase"],
)
def test_metric_over_batches_equals_metric_over_their_concatenation(data, build, inputs):
    whole, parts = build(), build()
    whole.update(*tensors(*(data[name] for name in inputs)))
    for batch in (slice(0, 1), slice(1, 4), slice(4, B)):
        parts.update(*tensors(*(data[name][batch] for name in inputs)))
    torch.testing.assert_close(parts.compute(), whole.compute(), check_dtype=False)
    assert parts.count.item() == whole.count.item()


def test_pinball_loss_refuses_predictions_with_the_wrong_number_of_levels():
    with pytest.raises(ValueError, match="last dimension of 3 levels"):
        MeanPinballLoss(LEVELS).update(torch.zeros(2, 4, 2), torch.zeros(2, 4))


def test_interval_coverage_refuses_an_upper_bound_before_the_lower():
    with pytest.raises(ValueError, match="must come before"):
        IntervalCoverage(lower_index=2, upper_index=0).update(torch.zeros(2, 3), torch.zeros(2))


def test_mase_refuses_a_history_no_longer_than_the_period():
    forecast, history = torch.zeros(1, 2, 1), torch.ones(1, 4, 1)
    with pytest.raises(ValueError, match="too few for a seasonal period of 4"):
        MeanAbsoluteScaledError(seasonal_period=4).update(forecast, forecast, history)


@pytest.mark.parametrize("period", [0, 1.5])
def test_mase_refuses_a_period_that_is_not_a_positive_whole_number(period):
    with pytest.raises(ValueError, match="seasonal_period must be a positive whole number"):
        MeanAbsoluteScaledError(seasonal_period=period)


def test_check_quantile_levels_returns_floats_in_order():
    assert check_quantile_levels(np.array([0.1, 0.5])) == (0.1, 0.5)


def test_crps_is_twice_the_pinball_loss_averaged_over_levels(data):
    quantiles, target = data["quantiles"], data["target"]
    error = target[..., None] - quantiles
    levels = np.array(LEVELS)
    expected = 2 * np.mean(np.maximum(levels * error, (levels - 1) * error))
    metric = ContinuousRankedProbabilityScore(LEVELS)
    metric.update(*tensors(quantiles, target))
    assert metric.compute().item() == pytest.approx(expected, rel=1e-6)


def test_crps_from_many_quantiles_approaches_the_gaussian_closed_form():
    # CRPS of N(0, 1) at y (Gneiting and Raftery 2007, eq. 21): y (2 Phi(y) - 1) + 2 phi(y) - 1 / sqrt(pi).
    levels = np.arange(1, 1000) / 1000
    target = np.array([-1.5, 0.0, 0.3, 2.0])
    quantiles = np.broadcast_to(norm.ppf(levels), (len(target), len(levels)))
    expected = target * (2 * norm.cdf(target) - 1) + 2 * norm.pdf(target) - 1 / np.sqrt(np.pi)
    for i, y in enumerate(target):
        value = continuous_ranked_probability_score(*tensors(quantiles[i : i + 1].copy(), np.array([y])), levels)
        assert value.item() == pytest.approx(expected[i], rel=2e-3)
