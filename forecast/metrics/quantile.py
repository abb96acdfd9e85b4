"""Metric classes of quantile forecasts: pinball loss, CRPS and interval coverage over many batches.

Each keeps a sum and a count as states summed across processes (by torchmetrics), so a metric over
many batches (or ranks) equals the metric over their concatenation; the formulas are ``functional``'s.
The states keep their dtypes however the module holding them is cast (``ExactSums``).
"""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .exact import ExactSums
from .functional import (
    _check_column_index,
    _interval_coverage_update,
    _mean_compute,
    _pinball_loss_update,
    check_quantile_levels,
)

__all__ = ["MeanPinballLoss", "ContinuousRankedProbabilityScore", "IntervalCoverage"]


class _MeanOverObservations(ExactSums):
    """Keeps a sum and a count, summed across processes; computes their ratio in the metric's ``dtype``."""

    full_state_update: bool = False

    total: Tensor
    count: Tensor

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        # float64, as in HorizonMetrics: a float32 running sum rounds off each batch's term (a coverage above 1).
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0), dist_reduce_fx="sum")

    def _accumulate(self, total: Tensor, count: int) -> None:
        self.total += total
        self.count += count

    def compute(self) -> Tensor:
        return _mean_compute(self.total, self.count).to(self.dtype)


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
        TypeError: an index that is no integer (a float such as ``0.0``, or a bool).
        ValueError: in ``update``, for predictions of fewer than two levels, an index out of range or the lower column
            not before the upper.

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
        _check_column_index(lower_index, "lower_index")  # here, where it is given, not at the first update
        _check_column_index(upper_index, "upper_index")
        self.lower_index, self.upper_index = lower_index, upper_index

    def update(self, preds: Tensor, target: Tensor) -> None:
        self._accumulate(*_interval_coverage_update(preds, target, self.lower_index, self.upper_index))
