"""Every forecasting metric of the project: the formulas once, as pure functions, and the Metric classes.

The layout is torchmetrics' own (``regression/mae.py``): pure functions give each value's error
(``_pinball_losses``, ``_covered``, ``_point_errors``) and a sum and a count of them (``_update``),
a pure ``_compute`` divides, and each ``Metric`` keeps its sums as states summed across processes,
so a metric over many batches (or ranks) equals the metric over their concatenation. The scalar
metrics (``MeanPinballLoss``...) serve any torchmetrics user; ``HorizonMetrics`` keeps every metric
per horizon step and target column, and is what the Forecaster logs and the evaluation report writes.

Shapes use the legend of ``forecast.batch``: predictions (B, H, C) for point forecasts and
(B, H, C, Q) for quantile forecasts, where Q counts quantile levels in increasing order.
"""

import itertools
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

__all__ = [
    "check_quantile_levels",
    "mean_pinball_loss",
    "continuous_ranked_probability_score",
    "interval_coverage",
    "MeanPinballLoss",
    "ContinuousRankedProbabilityScore",
    "IntervalCoverage",
    "HorizonMetrics",
    "overall",
    "POINT_METRICS",
    "QUANTILE_METRICS",
]

POINT_METRICS = ("mse", "mae", "rmse", "mape", "smape", "mase")
QUANTILE_METRICS = ("pinball", "crps", "coverage")

# torchmetrics' MAPE guards its denominator with the same constant (float32 machine epsilon * 10).
_EPSILON = 1.17e-06


def check_quantile_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """The quantile levels as a tuple, after checking that they can name quantile columns.

    Args:
        levels: quantile levels, strictly inside (0, 1) and strictly increasing.

    Raises:
        ValueError: if ``levels`` is empty, has a level outside (0, 1), or is not strictly increasing.
    """
    levels = tuple(float(level) for level in levels)
    if not levels:
        raise ValueError("quantile levels are empty; give at least one level in (0, 1), e.g. [0.1, 0.5, 0.9]")
    outside = [level for level in levels if not 0.0 < level < 1.0]
    if outside:
        raise ValueError(f"quantile levels must lie strictly between 0 and 1; got {outside} in {list(levels)}")
    if any(lower >= upper for lower, upper in itertools.pairwise(levels)):
        raise ValueError(f"quantile levels must be strictly increasing (sorted, no repeats); got {list(levels)}")
    return levels


def _check_quantile_shapes(preds: Tensor, target: Tensor, num_levels: int | None = None) -> None:
    if preds.shape[:-1] != target.shape or (num_levels is not None and preds.shape[-1] != num_levels):
        levels = "Q" if num_levels is None else num_levels
        raise ValueError(
            f"quantile predictions must have the target's shape plus a last dimension of {levels} levels; "
            f"got predictions {tuple(preds.shape)} for a target {tuple(target.shape)}"
        )


def _pinball_losses(preds: Tensor, target: Tensor, quantiles: Sequence[float]) -> Tensor:
    """The pinball loss of every value at every level.

    The pinball loss of the level-tau quantile q for a target y is ``max(tau * (y - q), (tau - 1) * (y - q))``
    (Koenker and Bassett, "Regression Quantiles", 1978): its expectation is lowest at the true quantile.

    Shapes:
        preds: (..., Q), target: (...) -> (..., Q)
    """
    _check_quantile_shapes(preds, target, len(quantiles))
    levels = preds.new_tensor(quantiles)  # -> (Q,)
    error = target.unsqueeze(-1) - preds  # -> (..., Q)
    return torch.maximum(levels * error, (levels - 1) * error)


def _pinball_loss_update(preds: Tensor, target: Tensor, quantiles: Sequence[float]) -> tuple[Tensor, int]:
    """Sum of the pinball losses over all values and levels, and the number of (value, level) pairs.

    Shapes:
        preds: (..., Q), target: (...)
    """
    loss = _pinball_losses(preds, target, quantiles)  # -> (..., Q)
    return loss.sum(), loss.numel()


def _mean_compute(total: Tensor, count: Tensor | int) -> Tensor:
    """A sum over observations divided by their number: the compute step of every metric here."""
    return total / count


def mean_pinball_loss(preds: Tensor, target: Tensor, quantiles: Sequence[float]) -> Tensor:
    """Pinball loss of quantile forecasts, averaged over values and levels.

    Args:
        preds: the quantile forecasts, the levels in the last dimension in the order of ``quantiles``.
        target: the observed values.
        quantiles: the level of each column of ``preds``.

    Shapes:
        preds: (..., Q), target: (...) -> scalar

    Example:
        >>> import torch
        >>> mean_pinball_loss(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([2.5]), [0.1, 0.5, 0.9])
        tensor(0.1500)
    """
    return _mean_compute(*_pinball_loss_update(preds, target, quantiles))


def continuous_ranked_probability_score(preds: Tensor, target: Tensor, quantiles: Sequence[float]) -> Tensor:
    """CRPS of quantile forecasts: twice the pinball loss, averaged over values and levels.

    The CRPS is the integral over all levels tau of twice the pinball loss of the tau-quantile
    (Gneiting and Raftery, "Strictly Proper Scoring Rules", 2007, Section 4.2; Laio and Tamea,
    2007); the mean over the forecast's levels approximates it, closely for many evenly spaced levels.
    It is in the target's units, and equals the MAE for a point forecast read as one median.
    Arguments and shapes are those of ``mean_pinball_loss``.

    Example:
        >>> import torch
        >>> continuous_ranked_probability_score(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([2.5]), [0.1, 0.5, 0.9])
        tensor(0.3000)
    """
    return 2 * mean_pinball_loss(preds, target, quantiles)


def _covered(preds: Tensor, target: Tensor, lower_index: int = 0, upper_index: int = -1) -> Tensor:
    """Whether each target lies inside [lower, upper], bounds included.

    Shapes:
        preds: (..., Q), target: (...) -> (...) bool
    """
    _check_quantile_shapes(preds, target)
    num_levels = preds.shape[-1]
    if not -num_levels <= lower_index < num_levels or not -num_levels <= upper_index < num_levels:
        raise ValueError(f"interval indices {lower_index}, {upper_index} are out of range for {num_levels} levels")
    if lower_index % num_levels >= upper_index % num_levels:
        raise ValueError(
            f"the lower bound's column ({lower_index}) must come before the upper bound's ({upper_index}) "
            f"among the {num_levels} levels, which are in increasing order"
        )
    return (preds[..., lower_index] <= target) & (target <= preds[..., upper_index])


def _interval_coverage_update(preds: Tensor, target: Tensor, lower_index: int, upper_index: int) -> tuple[Tensor, int]:
    """Number of targets inside [lower, upper] (bounds included), and the number of targets.

    Shapes:
        preds: (..., Q), target: (...)
    """
    inside = _covered(preds, target, lower_index, upper_index)  # -> (...)
    return inside.sum(), inside.numel()


def interval_coverage(preds: Tensor, target: Tensor, lower_index: int = 0, upper_index: int = -1) -> Tensor:
    """Share of targets inside the interval between two quantile forecasts (bounds included).

    A well calibrated 10%-90% interval covers 0.8 of the targets.

    Args:
        preds: the quantile forecasts, levels in increasing order in the last dimension.
        target: the observed values.
        lower_index: the column of the interval's lower bound; the lowest level by default.
        upper_index: the column of the interval's upper bound; the highest level by default.

    Shapes:
        preds: (..., Q), target: (...) -> scalar

    Raises:
        ValueError: if the indices are out of range or the lower bound's column is not before the upper's.

    Example:
        >>> import torch
        >>> preds = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, 3.0], [2.0, 3.0]])
        >>> interval_coverage(preds, torch.tensor([0.5, 1.0, 1.0, 3.5]))
        tensor(0.5000)
    """
    inside, count = _interval_coverage_update(preds, target, lower_index, upper_index)
    return _mean_compute(inside.float(), count)


class _MeanOverObservations(Metric):
    """Keeps a sum and a count, summed across processes; computes their ratio."""

    full_state_update: bool = False

    total: Tensor
    count: Tensor

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def _accumulate(self, total: Tensor, count: int) -> None:
        self.total += total
        self.count += count

    def compute(self) -> Tensor:
        return _mean_compute(self.total, self.count)


class MeanPinballLoss(_MeanOverObservations):
    """Pinball loss of quantile forecasts, averaged over values and levels; lower is better.

    Args:
        quantiles: the level of each column of the predictions, strictly increasing in (0, 1).
        kwargs: torchmetrics' ``Metric`` options (e.g. ``sync_on_compute``).

    Shapes:
        update(preds (B, H, C, Q), target (B, H, C)); any leading shape works alike.

    Raises:
        ValueError: on bad levels here, or predictions whose last dimension is not Q in ``update``.

    Example:
        >>> import torch
        >>> metric = MeanPinballLoss([0.1, 0.5, 0.9])
        >>> metric.update(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([2.5]))
        >>> metric.compute()
        tensor(0.1500)
    """

    is_differentiable: bool = True
    higher_is_better: bool = False

    def __init__(self, quantiles: Sequence[float], **kwargs: Any):
        super().__init__(**kwargs)
        self.quantiles = check_quantile_levels(quantiles)

    def update(self, preds: Tensor, target: Tensor) -> None:
        self._accumulate(*_pinball_loss_update(preds, target, self.quantiles))


class ContinuousRankedProbabilityScore(MeanPinballLoss):
    """CRPS of quantile forecasts (twice the mean pinball loss over levels); lower is better.

    torchmetrics' metric of the same name scores an ensemble of samples; this one scores the
    quantiles a ``QuantileLoss`` or a distribution gives (see ``continuous_ranked_probability_score``).

    Args:
        quantiles: the level of each column of the predictions, strictly increasing in (0, 1).
        kwargs: torchmetrics' ``Metric`` options.

    Shapes:
        update(preds (B, H, C, Q), target (B, H, C)); any leading shape works alike.

    Example:
        >>> import torch
        >>> metric = ContinuousRankedProbabilityScore([0.1, 0.5, 0.9])
        >>> metric.update(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([2.5]))
        >>> metric.compute()
        tensor(0.3000)
    """

    def compute(self) -> Tensor:
        return 2 * super().compute()


class IntervalCoverage(_MeanOverObservations):
    """Share of targets inside the interval between two quantile forecasts (bounds included).

    Neither higher nor lower is better: compare it with the interval's nominal coverage, 0.8 for a
    10%-90% interval.

    Args:
        lower_index: the column of the predictions that holds the lower bound; the lowest level by default.
        upper_index: the column that holds the upper bound; the highest level by default.
        kwargs: torchmetrics' ``Metric`` options.

    Shapes:
        update(preds (B, H, C, Q), target (B, H, C)); any leading shape works alike.

    Raises:
        ValueError: in ``update``, if an index is out of range or the lower column is not before the upper.

    Example:
        >>> import torch
        >>> metric = IntervalCoverage()
        >>> metric.update(torch.tensor([[0.0, 0.5, 1.0], [0.0, 0.5, 1.0]]), torch.tensor([0.2, 1.5]))
        >>> metric.compute()
        tensor(0.5000)
    """

    is_differentiable: bool = False
    higher_is_better: bool | None = None

    def __init__(self, lower_index: int = 0, upper_index: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        self.lower_index, self.upper_index = lower_index, upper_index

    def update(self, preds: Tensor, target: Tensor) -> None:
        self._accumulate(*_interval_coverage_update(preds, target, self.lower_index, self.upper_index))


def _point_errors(forecast: Tensor, target: Tensor, scale: Tensor | None) -> dict[str, Tensor]:
    """Each value's error under every point metric, before the mean over values.

    MAPE divides by ``max(|target|, 1.17e-6)`` and sMAPE by ``max(|target| + |forecast|, 1.17e-6)``
    (times 1/2), as torchmetrics does: a zero target gives a huge MAPE, a forecast and target both
    zero give an sMAPE of 0, and sMAPE lies in [0, 2]. MASE divides by each window's ``scale``, the
    in-sample seasonal-naive error of its series (Hyndman and Koehler, 2006, Section 3.4); NaN without one.

    Shapes:
        forecast: (B, H, C), target: (B, H, C), scale: (B, C) -> {name: (B, H, C)}
    """
    error = (forecast - target).abs()  # -> (B, H, C)
    scaled = error / scale.unsqueeze(1).clamp(min=_EPSILON) if scale is not None else torch.full_like(error, torch.nan)
    return {
        "squared": error.square(),
        "absolute": error,
        "percentage": error / target.abs().clamp(min=_EPSILON),
        "symmetric": 2 * error / (target.abs() + forecast.abs()).clamp(min=_EPSILON),
        "scaled": scaled,
    }


# The per-cell sums behind each metric; rmse and crps are derived from mse and pinball.
_SUMS = {"mse": "squared", "mae": "absolute", "mape": "percentage", "smape": "symmetric", "mase": "scaled"}
_QUANTILE_SUMS = {"pinball": "pinball", "coverage": "covered"}


class HorizonMetrics(Metric):
    """Every point and quantile metric at each horizon step and target column, synced by torchmetrics.

    The point metrics are those of ``_point_errors``; CRPS is twice the pinball loss averaged over
    levels, and coverage counts the targets inside the interval between the lowest and the highest
    level, bounds included. Each cell's values equal torchmetrics' own metrics
    (``MeanSquaredError``, ``MeanAbsolutePercentageError``, ...) computed cell by cell, and the means
    over cells equal the metrics over all values, because every window has every step and column.

    Args:
        horizon: H, steps per window.
        target_size: C_out, target columns.
        levels: the quantile levels of the ``quantiles`` given to ``update``; empty for point forecasts.
        kwargs: torchmetrics' ``Metric`` options.

    Shapes:
        update(forecast (B, H, C), target (B, H, C), scale (B, C) or None, quantiles (B, H, C, Q) or None);
        compute() -> {metric: (H, C)}; overall() -> {metric: scalar}.

    Example:
        >>> import torch
        >>> metric = HorizonMetrics(horizon=2, target_size=1)
        >>> metric.update(torch.tensor([[[1.0], [2.0]]]), torch.tensor([[[2.0], [2.0]]]))
        >>> metric.compute()["mae"]
        tensor([[1.],
                [0.]], dtype=torch.float64)
    """

    full_state_update: bool = False
    is_differentiable: bool = False
    higher_is_better: bool = False

    windows: Tensor

    def __init__(self, horizon: int, target_size: int, levels: Sequence[float] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.levels = check_quantile_levels(levels) if levels else ()
        sums = list(_SUMS.values()) + (list(_QUANTILE_SUMS.values()) if self.levels else [])
        for name in sums:
            # float64: sums over thousands of windows keep their digits; the metrics are ratios of them.
            self.add_state(name, default=torch.zeros(horizon, target_size, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("windows", default=torch.tensor(0), dist_reduce_fx="sum")

    def update(
        self, forecast: Tensor, target: Tensor, scale: Tensor | None = None, quantiles: Tensor | None = None
    ) -> None:
        if forecast.shape != target.shape or forecast.shape[1:] != self.squared.shape:
            raise ValueError(
                f"forecast {tuple(forecast.shape)} and target {tuple(target.shape)} must both be "
                f"(B, {', '.join(map(str, self.squared.shape))})"
            )
        forecast, target = forecast.double(), target.double()
        for name, errors in _point_errors(forecast, target, None if scale is None else scale.double()).items():
            getattr(self, name).add_(errors.sum(0))
        if self.levels:
            if quantiles is None:
                raise ValueError(f"HorizonMetrics with levels {list(self.levels)} needs quantiles in update")
            quantiles = quantiles.double()
            self.pinball += _pinball_losses(quantiles, target, self.levels).mean(-1).sum(0)
            self.covered += _covered(quantiles, target).sum(0)
        self.windows += forecast.shape[0]

    def compute(self) -> dict[str, Tensor]:
        cells = {metric: getattr(self, total) / self.windows for metric, total in _SUMS.items()}
        cells["rmse"] = cells["mse"].sqrt()
        if self.levels:
            cells |= {metric: getattr(self, total) / self.windows for metric, total in _QUANTILE_SUMS.items()}
            cells["crps"] = 2 * cells["pinball"]
        return cells


def overall(cells: dict[str, Tensor], dim: int | tuple[int, ...] = (0, 1)) -> dict[str, Tensor]:
    """The metrics over several cells of ``HorizonMetrics.compute``: each cell holds as many values, so
    means of cells, and rmse from the mean mse.

    Shapes:
        cells: {metric: (H, C)} -> {metric: (H, C) reduced over ``dim``}
    """
    reduced = {metric: values.mean(dim) for metric, values in cells.items()}
    reduced["rmse"] = reduced["mse"].sqrt()
    return reduced
