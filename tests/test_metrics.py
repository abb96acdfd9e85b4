import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import mean_pinball_loss as sklearn_mean_pinball_loss

from forecast import Forecaster
from forecast.losses import QuantileLoss
from forecast.metrics import (
    ContinuousRankedProbabilityScore,
    HorizonMetrics,
    IntervalCoverage,
    MeanPinballLoss,
    check_quantile_levels,
    continuous_ranked_probability_score,
    interval_coverage,
    mean_pinball_loss,
)

B, H, C = 6, 5, 3
LEVELS = [0.1, 0.5, 0.9]


@pytest.fixture
def data():
    """Seeded float64 windows: sorted quantile forecasts, point forecasts and targets."""
    rng = np.random.default_rng(0)
    return {
        "quantiles": np.sort(rng.normal(size=(B, H, C, len(LEVELS))), axis=-1),
        "point": rng.normal(size=(B, H, C)),
        "target": rng.normal(size=(B, H, C)),
    }


def tensors(*arrays):
    return [torch.from_numpy(array) for array in arrays]


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


@pytest.mark.parametrize(
    ("build", "inputs"),
    [
        (lambda: MeanPinballLoss(LEVELS), ("quantiles", "target")),
        (lambda: ContinuousRankedProbabilityScore(LEVELS), ("quantiles", "target")),
        (lambda: IntervalCoverage(), ("quantiles", "target")),
    ],
    ids=["pinball", "crps", "coverage"],
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


@pytest.mark.parametrize("score", [mean_pinball_loss, continuous_ranked_probability_score])
@pytest.mark.parametrize(("levels", "problem"), [([0.9, 0.1], "strictly increasing"), ([0.5, 1.5], "between 0 and 1")])
def test_functional_quantile_scores_refuse_levels_that_name_no_quantiles(score, levels, problem):
    """Unsorted levels gave a number (the pinball loss of each column at another column's level); now an error."""
    with pytest.raises(ValueError, match=problem):
        score(torch.zeros(4, 2), torch.zeros(4), levels)


def test_interval_coverage_refuses_an_upper_bound_before_the_lower():
    with pytest.raises(ValueError, match="must come before"):
        IntervalCoverage(lower_index=2, upper_index=0).update(torch.zeros(2, 3), torch.zeros(2))


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


def test_crps_of_an_ensembles_sorted_members_matches_torchmetrics():
    """An ensemble of M members is the forecast whose level-(i + 1/2)/M quantile is its i-th smallest member; the
    CRPS of those quantiles is the ensemble's CRPS, as torchmetrics scores it, over batches of unequal sizes."""
    from torchmetrics.regression import ContinuousRankedProbabilityScore as EnsembleCRPS

    generator = torch.Generator().manual_seed(0)
    members, target = torch.randn(7, 5, generator=generator, dtype=torch.float64), torch.randn(7, dtype=torch.float64)
    levels = (torch.arange(5) + 0.5).div(5).tolist()
    metric, reference = ContinuousRankedProbabilityScore(levels), EnsembleCRPS()
    for batch in (slice(0, 1), slice(1, 7)):
        metric.update(members[batch].sort(-1).values, target[batch])
        reference.update(members[batch], target[batch])
    torch.testing.assert_close(metric.compute(), reference.compute(), check_dtype=False)


@pytest.mark.parametrize(
    ("build", "preds", "exact"),
    [(lambda: IntervalCoverage(), [-1.0, 1.0], 1.0), (lambda: MeanPinballLoss([0.5]), [1.0], 0.5)],
    ids=["coverage", "pinball"],
)
def test_metric_over_many_float32_values_keeps_the_small_batches_after_a_large_one(build, preds, exact):
    # Past 2**24 values a float32 running sum drops each one-value batch's term: coverage 16777216 / 16777316.
    metric, large, preds = build(), 2**24, torch.tensor(preds)
    metric.update(preds.expand(large, len(preds)), torch.zeros(()).expand(large))
    for _ in range(100):
        metric.update(preds.expand(1, len(preds)), torch.zeros(1))
    assert metric.compute().item() == exact
    assert metric.compute().dtype == torch.float32


@pytest.mark.parametrize("levels", [0.9, "0.1,0.9"])
def test_quantile_levels_given_as_one_number_or_a_string_are_refused_by_name(levels):
    """One number failed with "'float' object is not iterable"; a string was read character by character."""
    with pytest.raises(TypeError, match=r"quantile levels must be a list of numbers in \(0, 1\), e\.g\. \[0\.1"):
        check_quantile_levels(levels)


def test_pinball_loss_of_integer_forecasts_matches_sklearn():
    """Integer forecasts (of counts) made integer levels, all 0: the loss of [[1, 2, 3], [4, 4, 6]] was 1/6."""
    preds, target = np.array([[1, 2, 3], [4, 4, 6]]), np.array([2, 7])
    expected = np.mean([sklearn_mean_pinball_loss(target, preds[:, i], alpha=q) for i, q in enumerate(LEVELS)])
    assert mean_pinball_loss(*tensors(preds, target), LEVELS).item() == pytest.approx(expected)
    metric = MeanPinballLoss(LEVELS)
    metric.update(*tensors(preds, target))
    assert metric.compute().item() == pytest.approx(expected)


@pytest.mark.parametrize(
    "coverage",
    [
        lambda preds, target: interval_coverage(preds, target),
        lambda preds, target: IntervalCoverage()(preds, target),
        lambda preds, target: HorizonMetrics(1, 1, LEVELS)(preds[..., 1], target, quantiles=preds)["coverage"],
    ],
    ids=["functional", "class", "horizon"],
)
@pytest.mark.parametrize("missing", ["forecast", "target"])
def test_interval_coverage_of_a_nan_value_is_nan_as_the_pinball_loss(coverage, missing):
    """A NaN forecast (a diverged model) counted as a miss: a coverage of 0.5 here, where pinball gives NaN."""
    preds = torch.tensor([[[[0.0, 1.0, 2.0]]], [[[0.0, 1.0, 2.0]]]])  # (B=2, H=1, C=1, Q=3)
    target = torch.tensor([[[1.5]], [[0.5]]])
    if missing == "forecast":
        preds[1, ..., -1] = torch.nan
    else:
        target[1] = torch.nan
    assert mean_pinball_loss(preds, target, LEVELS).isnan()
    assert coverage(preds, target).isnan().all()


def test_interval_coverage_of_float64_values_is_float64(data):
    """It was float32 whatever the input (36/75 as 0.47999998927116394), unlike the pinball loss."""
    quantiles, target = data["quantiles"], data["target"]
    expected = np.mean((quantiles[1:, ..., 0] <= target[1:]) & (target[1:] <= quantiles[1:, ..., -1]))
    value = interval_coverage(*tensors(quantiles[1:], target[1:]))
    assert value.dtype == torch.float64
    assert value.item() == expected


def test_horizon_metrics_take_quantile_levels_as_a_numpy_array(data):
    """``check_quantile_levels`` takes an array; HorizonMetrics failed with "truth value of an array ... ambiguous"."""
    quantiles, target = data["quantiles"], data["target"]
    metric = HorizonMetrics(H, C, np.array(LEVELS))
    metric.update(*tensors(data["point"], target), quantiles=torch.from_numpy(quantiles))
    error = target[..., None] - quantiles
    expected = np.maximum(np.array(LEVELS) * error, (np.array(LEVELS) - 1) * error).mean(axis=(0, 3))
    np.testing.assert_allclose(metric.compute()["pinball"].numpy(), expected, rtol=1e-12)


def test_horizon_metrics_overall_syncs_through_the_metrics_own_dist_sync_fn(data):
    """Two processes, simulated by the ``dist_sync_fn`` option, with 1 and 5 windows: ``overall`` is the metric of
    all their values. It synced through torch.distributed instead ("Default process group has not been
    initialized") while ``compute`` used the option."""
    quantiles, point, target = (torch.from_numpy(data[name]) for name in ("quantiles", "point", "target"))
    other = HorizonMetrics(H, C, LEVELS)
    other.update(point[1:], target[1:], quantiles=quantiles[1:])

    def gather(state, group=None):  # what torch.distributed's all-gather returns: every process's state
        (name,) = (name for name, value in metric.metric_state.items() if value is state)
        return [state, getattr(other, name)]

    metric = HorizonMetrics(H, C, LEVELS, dist_sync_fn=gather, distributed_available_fn=lambda: True)
    metric.update(point[:1], target[:1], quantiles=quantiles[:1])
    error = np.abs(data["point"] - data["target"])
    np.testing.assert_allclose(metric.compute()["mae"].numpy(), error.mean(0), rtol=1e-12)
    overall = metric.overall()
    assert overall["mae"].item() == pytest.approx(error.mean(), rel=1e-12)
    inside = (data["quantiles"][..., 0] <= data["target"]) & (data["target"] <= data["quantiles"][..., -1])
    assert overall["coverage"].item() == pytest.approx(inside.mean(), rel=1e-12)


@pytest.mark.parametrize(
    "score",
    [
        lambda preds, target: mean_pinball_loss(preds, target, LEVELS),
        lambda preds, target: MeanPinballLoss(LEVELS)(preds, target),
    ],
    ids=["functional", "class"],
)
def test_mean_pinball_loss_of_many_float16_values_is_finite(score):
    """The float16 sum of 20000 losses of 10 passed float16's largest number, 65504: the mean was inf."""
    preds, target = torch.zeros(20000, len(LEVELS), dtype=torch.float16), torch.full((20000,), 20.0).half()
    assert score(preds, target).item() == 10.0  # the mean over levels of tau * 20


def test_mean_pinball_loss_metric_of_bfloat16_forecasts_weighs_by_the_exact_levels():
    """The levels were rounded to bfloat16 with the forecasts (0.1 to 0.10009765625): a loss of 0.10009765625 for
    an error of 1 at the level 0.1, not sklearn's 0.1."""
    preds, target = torch.zeros(1, 1, dtype=torch.bfloat16), torch.ones(1, dtype=torch.bfloat16)
    metric = MeanPinballLoss([0.1])
    metric.update(preds, target)
    expected = sklearn_mean_pinball_loss([1.0], [0.0], alpha=0.1)
    assert metric.compute().item() == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize(
    "cast", [lambda model: model.bfloat16(), lambda model: model.to(torch.bfloat16)], ids=["bfloat16", "to"]
)
def test_metrics_of_a_model_cast_to_bfloat16_keep_their_float64_sums(cast):
    """``Forecaster.bfloat16()`` (Lightning's, which torchmetrics does not recognise) and ``.to(torch.bfloat16)``
    cast the metrics' float64 sums to bfloat16, which drops every later term of 1 past 2**15: errors all 1 gave
    an MSE of 0.996 here, and a model's test MSE of 1.0 read 0.57."""
    model = cast(Forecaster(lookback=2, horizon=1, input_size=1, target_size=1, loss=QuantileLoss(LEVELS)))
    metric, target = model.metrics["test"], torch.ones(2**15, 1, 1)
    metric.update(target - 1, target, None, torch.zeros(2**15, 1, 1, len(LEVELS)))
    for _ in range(100):  # one window of error 1 per batch
        metric.update(target[:1] - 1, target[:1], None, torch.zeros(1, 1, 1, len(LEVELS)))
    overall = metric.overall()
    assert (overall["mse"].item(), overall["pinball"].item()) == (1.0, 0.5)  # the pinball loss: the mean level


def test_quantile_metric_moved_to_bfloat16_keeps_its_float64_sum():
    """``.to(torch.bfloat16)`` made the sum bfloat16: 2**15 losses of 0.5, then 100 more, gave a mean of 0.498."""
    metric = MeanPinballLoss([0.5]).to(torch.bfloat16)
    metric.update(torch.zeros(2**15, 1), torch.ones(2**15))
    for _ in range(100):
        metric.update(torch.zeros(1, 1), torch.ones(1))
    assert metric.compute().item() == 0.5


def test_mean_loss_of_a_model_cast_to_bfloat16_keeps_its_sums():
    """The mean loss (val/loss, test/loss: what checkpoints and early stopping read) summed in bfloat16 after
    ``Forecaster.bfloat16()``: 2**15 losses of 1, then 100 of 0, read 1."""
    model = Forecaster(lookback=2, horizon=1, input_size=1, target_size=1).bfloat16()
    mean = model.mean_losses["test"]
    mean.update(torch.tensor(1.0), weight=2**15)
    for _ in range(100):
        mean.update(torch.tensor(0.0), weight=1)
    assert mean.compute().item() == pytest.approx(2**15 / (2**15 + 100), rel=1e-6)


def test_quantile_levels_that_name_one_column_are_refused():
    """Levels equal in 6 significant digits gave forecasts and reports two ``y_q0.123456`` columns."""
    with pytest.raises(ValueError, match=r"0\.1234561 and 0\.1234562 both name the column _q0\.123456"):
        check_quantile_levels([0.1234561, 0.1234562])
