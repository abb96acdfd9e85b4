"""Forecasting metrics that torchmetrics lacks: pinball loss, CRPS from quantiles, interval coverage and MASE.

Each follows torchmetrics' own layout (``regression/mae.py``): a pure ``_update`` function returns
a sum and a count, a pure ``_compute`` function divides them, and the ``Metric`` keeps both as
states summed across processes, so a metric over many batches (or ranks) equals the metric over
their concatenation.

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
    "mean_absolute_scaled_error",
    "MeanPinballLoss",
    "ContinuousRankedProbabilityScore",
    "IntervalCoverage",
    "MeanAbsoluteScaledError",
]

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


def _pinball_loss_update(preds: Tensor, target: Tensor, quantiles: Sequence[float]) -> tuple[Tensor, int]:
    """Sum of the pinball losses over all values and levels, and the number of (value, level) pairs.

    The pinball loss of the level-tau quantile q for a target y is ``max(tau * (y - q), (tau - 1) * (y - q))``
    (Koenker and Bassett, "Regression Quantiles", 1978): its expectation is lowest at the true quantile.

    Shapes:
        preds: (..., Q), target: (...)
    """
    _check_quantile_shapes(preds, target, len(quantiles))
    levels = preds.new_tensor(quantiles)  # -> (Q,)
    error = target.unsqueeze(-1) - preds  # -> (..., Q)
    loss = torch.maximum(levels * error, (levels - 1) * error)  # -> (..., Q)
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


def _interval_coverage_update(preds: Tensor, target: Tensor, lower_index: int, upper_index: int) -> tuple[Tensor, int]:
    """Number of targets inside [lower, upper] (bounds included), and the number of targets.

    Shapes:
        preds: (..., Q), target: (...)
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
    inside = (preds[..., lower_index] <= target) & (target <= preds[..., upper_index])  # -> (...)
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


def _mean_absolute_scaled_error_update(
    preds: Tensor, target: Tensor, history: Tensor, seasonal_period: int
) -> tuple[Tensor, int]:
    """Sum of the scaled absolute errors, and their number.

    Each window and channel has its own scale: the mean absolute error of the seasonal-naive forecast
    ``y[t] = y[t - seasonal_period]`` over its history (Hyndman and Koehler, "Another look at
    measures of forecast accuracy", 2006, Section 3.4), at least a small epsilon so that a flat
    history gives a large but finite error.

    Shapes:
        preds: (B, H, C), target: (B, H, C), history: (B, T, C) with T > seasonal_period
    """
    if preds.shape != target.shape:
        raise ValueError(f"predictions {tuple(preds.shape)} and target {tuple(target.shape)} differ in shape")
    if history.ndim != 3 or history.shape[0] != target.shape[0] or history.shape[2] != target.shape[2]:
        raise ValueError(
            f"history must be (B, T, C) with the target's B and C; got {tuple(history.shape)} "
            f"for a target {tuple(target.shape)}"
        )
    if history.shape[1] <= seasonal_period:
        raise ValueError(
            f"history has {history.shape[1]} steps, too few for a seasonal period of {seasonal_period}; "
            "it needs at least one more step than the period"
        )
    naive_error = (history[:, seasonal_period:] - history[:, :-seasonal_period]).abs()  # -> (B, T - m, C)
    scale = naive_error.mean(dim=1, keepdim=True).clamp(min=_EPSILON)  # -> (B, 1, C)
    scaled_error = (preds - target).abs() / scale  # -> (B, H, C)
    return scaled_error.sum(), scaled_error.numel()


def _check_seasonal_period(seasonal_period: int) -> None:
    if not isinstance(seasonal_period, int) or seasonal_period < 1:
        raise ValueError(f"seasonal_period must be a positive whole number of steps; got {seasonal_period!r}")


def mean_absolute_scaled_error(preds: Tensor, target: Tensor, history: Tensor, seasonal_period: int = 1) -> Tensor:
    """MASE: the forecast's absolute error in units of each window's in-sample seasonal-naive error.

    Below 1, the forecast beats the seasonal-naive forecast's in-sample error.

    Args:
        preds: the point forecasts.
        target: the observed values.
        history: the values the scale is measured on: each window's lookback, or the training part
            of its series.
        seasonal_period: m, the steps between a value and the one the seasonal-naive forecast
            repeats (1: the last value; 24: the same hour yesterday for hourly data).

    Shapes:
        preds: (B, H, C), target: (B, H, C), history: (B, T, C) -> scalar

    Raises:
        ValueError: on mismatched shapes, or a history no longer than ``seasonal_period``.

    Example:
        >>> import torch
        >>> history = torch.tensor([[[0.0], [1.0], [3.0]]])  # naive errors 1 and 2: scale 1.5
        >>> mean_absolute_scaled_error(torch.tensor([[[4.0]]]), torch.tensor([[[1.0]]]), history)
        tensor(2.)
    """
    _check_seasonal_period(seasonal_period)
    return _mean_compute(*_mean_absolute_scaled_error_update(preds, target, history, seasonal_period))


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


class MeanAbsoluteScaledError(_MeanOverObservations):
    """MASE: absolute error in units of each window's in-sample seasonal-naive error; lower is better.

    Each window and channel is scaled by the mean absolute error that the seasonal-naive forecast
    ``y[t] = y[t - seasonal_period]`` makes over that window's ``history`` (at least 1.17e-6, so that a
    flat history stays finite), and the scaled errors are averaged over all windows, steps and channels.

    Args:
        seasonal_period: m, in steps (1: last value; 24: same hour yesterday for hourly data).
        kwargs: torchmetrics' ``Metric`` options.

    Shapes:
        update(preds (B, H, C), target (B, H, C), history (B, T, C)), T > seasonal_period; history is
        each window's lookback (``Batch.past`` restricted to the target channels) or its series'
        training part.

    Raises:
        ValueError: on a period below 1 here; on mismatched shapes or too short a history in ``update``.

    Example:
        >>> import torch
        >>> metric = MeanAbsoluteScaledError(seasonal_period=2)
        >>> history = torch.tensor([[[1.0], [5.0], [2.0], [7.0]]])  # naive errors 1 and 2: scale 1.5
        >>> metric.update(torch.tensor([[[2.0], [8.0]]]), torch.tensor([[[2.0], [5.0]]]), history)
        >>> metric.compute()
        tensor(1.)
    """

    is_differentiable: bool = True
    higher_is_better: bool = False

    def __init__(self, seasonal_period: int = 1, **kwargs: Any):
        super().__init__(**kwargs)
        _check_seasonal_period(seasonal_period)
        self.seasonal_period = seasonal_period

    def update(self, preds: Tensor, target: Tensor, history: Tensor) -> None:
        self._accumulate(*_mean_absolute_scaled_error_update(preds, target, history, self.seasonal_period))
