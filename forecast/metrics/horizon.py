"""Every metric at each horizon step and target column: what validation and test log, and the report writes."""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .exact import ExactSums
from .functional import _covered, _pinball_losses, _point_errors, check_quantile_levels

__all__ = ["HorizonMetrics"]


# The per-cell sums behind each metric; rmse and crps are derived from mse and pinball.
_SUMS = {"mse": "squared", "mae": "absolute", "mape": "percentage", "smape": "symmetric", "mase": "scaled"}


class HorizonMetrics(ExactSums):
    """Every point and quantile metric at each horizon step and target column, synced by torchmetrics.

    The point metrics are those of ``_point_errors``, each the mean over the observed target values of a
    cell: a target the data module repaired (``nan_policy`` ffill, interpolate or zero) is no
    observation, so no forecast is scored against it (a cell with none gives NaN). MASE is the mean over
    the values whose series has a scale (a series with no training rows, or flat ones, has none). CRPS is
    twice the pinball loss averaged over levels, and coverage counts the targets inside the interval
    between the lowest and the highest level, bounds included (one level has no interval, so no
    coverage). Each cell's values equal torchmetrics' own metrics (``MeanSquaredError``,
    ``MeanAbsolutePercentageError``, ...) computed cell by cell, and ``overall`` divides the sums of cells
    by their counts, so that its metrics equal the metrics over all the values of those cells.

    Args:
        horizon: H, steps per window.
        target_size: C_out, target columns.
        levels: the quantile levels of the ``quantiles`` given to ``update``; empty for point forecasts.
        kwargs: torchmetrics' ``Metric`` options.

    Shapes:
        update(forecast (B, H, C), target (B, H, C), scale (B, C) or None, quantiles (B, H, C, Q) or None,
        observed (B, H, C) bool or None: all observed); compute() -> {metric: (H, C)}, but a scalar for
        H = C = 1 (torchmetrics squeezes a one-element result); overall(dim) -> {metric: (H, C) reduced
        over ``dim``}, and overall(()) -> {metric: (H, C)} always.

    Example:
        >>> import torch
        >>> metric = HorizonMetrics(horizon=2, target_size=1)
        >>> metric.update(torch.tensor([[[1.0], [2.0]]]), torch.tensor([[[2.0], [2.0]]]))
        >>> metric.compute()["mae"]
        tensor([[1.],
                [0.]], dtype=torch.float64)
        >>> metric.overall()["mae"]
        tensor(0.5000, dtype=torch.float64)
    """

    full_state_update: bool = False
    is_differentiable: bool = False
    higher_is_better: bool = False

    windows: Tensor
    counts: Tensor
    scaled_counts: Tensor

    def __init__(self, horizon: int, target_size: int, levels: Sequence[float] = (), **kwargs: Any):
        super().__init__(**kwargs)
        self.levels = check_quantile_levels(levels) if len(levels) else ()
        self.quantile_sums = {"pinball": "pinball"} if self.levels else {}
        if len(self.levels) > 1:  # coverage needs an interval between two levels
            self.quantile_sums["coverage"] = "covered"
        for name in [*_SUMS.values(), *self.quantile_sums.values()]:
            # float64: sums over thousands of windows keep their digits; the metrics are ratios of them.
            self.add_state(name, default=torch.zeros(horizon, target_size, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("windows", default=torch.tensor(0), dist_reduce_fx="sum")
        for name in ("counts", "scaled_counts"):  # per cell: the observed values, and those with a MASE scale
            self.add_state(name, default=torch.zeros(horizon, target_size, dtype=torch.int64), dist_reduce_fx="sum")

    def update(
        self,
        forecast: Tensor,
        target: Tensor,
        scale: Tensor | None = None,
        quantiles: Tensor | None = None,
        observed: Tensor | None = None,
    ) -> None:
        if forecast.shape != target.shape or forecast.shape[1:] != self.squared.shape:
            raise ValueError(
                f"forecast {tuple(forecast.shape)} and target {tuple(target.shape)} must both be "
                f"(B, {', '.join(map(str, self.squared.shape))})"
            )
        observed = torch.ones_like(target, dtype=torch.bool) if observed is None else observed
        forecast, target = forecast.double(), target.double()
        errors = _point_errors(forecast, target, None if scale is None else scale.double())
        # Values whose series has a MASE scale: from the scale itself, so a NaN forecast still gives a NaN MASE.
        scaled = torch.zeros_like(observed) if scale is None else observed & ~scale.isnan().unsqueeze(1)
        for name, values in errors.items():
            getattr(self, name).add_(values.where(scaled if name == "scaled" else observed, 0.0).sum(0))
        self.counts += observed.sum(0)
        self.scaled_counts += scaled.sum(0)
        if self.levels:
            if quantiles is None:
                raise ValueError(f"HorizonMetrics with levels {list(self.levels)} needs quantiles in update")
            quantiles = quantiles.double()
            self.pinball += _pinball_losses(quantiles, target, self.levels).mean(-1).where(observed, 0.0).sum(0)
            if "coverage" in self.quantile_sums:
                self.covered += _covered(quantiles, target).where(observed, 0.0).sum(0)
        self.windows += forecast.shape[0]

    def compute(self) -> dict[str, Tensor]:
        return self._ratios(())

    def overall(self, dim: int | tuple[int, ...] = (0, 1)) -> dict[str, Tensor]:
        """The metrics over the values of all cells along ``dim`` (0: the steps, 1: the columns; ``()``: each
        cell on its own), over all processes: the cells' sums over their counts, so a cell with fewer observed
        values weighs less.

        Shapes:
            -> {metric: (H, C) reduced over ``dim``}
        """
        with self.sync_context(dist_sync_fn=self.dist_sync_fn, should_sync=self._to_sync):
            return self._ratios(dim)

    def _ratios(self, dim: int | tuple[int, ...]) -> dict[str, Tensor]:
        """Each metric as its sum over its count, the cells along ``dim`` taken together (0 / 0: NaN)."""

        def total(name: str) -> Tensor:
            return getattr(self, name).sum(dim) if dim != () else getattr(self, name)  # sum(()) would sum all

        metrics = {metric: total(state) / total("counts") for metric, state in _SUMS.items()}
        metrics["mase"] = total("scaled") / total("scaled_counts")
        metrics["rmse"] = metrics["mse"].sqrt()
        metrics |= {metric: total(state) / total("counts") for metric, state in self.quantile_sums.items()}
        if self.levels:
            metrics["crps"] = 2 * metrics["pinball"]
        return metrics
