"""Every metric at each horizon step and target column: what validation and test log, and the report writes."""

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torchmetrics import Metric

from .functional import _covered, _pinball_losses, _point_errors, check_quantile_levels

__all__ = ["HorizonMetrics", "overall"]


# The per-cell sums behind each metric; rmse and crps are derived from mse and pinball.
_SUMS = {"mse": "squared", "mae": "absolute", "mape": "percentage", "smape": "symmetric", "mase": "scaled"}


class HorizonMetrics(Metric):
    """Every point and quantile metric at each horizon step and target column, synced by torchmetrics.

    The point metrics are those of ``_point_errors``; MASE is the mean over the windows that have a
    scale (a series with no training rows has none; no window with one gives NaN). CRPS is twice the
    pinball loss averaged over levels, and coverage counts the targets inside the interval between the
    lowest and the highest level, bounds included (one level has no interval, so no coverage). Each cell's values equal
    torchmetrics' own metrics (``MeanSquaredError``, ``MeanAbsolutePercentageError``, ...) computed cell
    by cell, and the means over cells equal the metrics over all values, because every window has every
    step and column.

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
        self.quantile_sums = {"pinball": "pinball"} if self.levels else {}
        if len(self.levels) > 1:  # coverage needs an interval between two levels
            self.quantile_sums["coverage"] = "covered"
        for name in [*_SUMS.values(), *self.quantile_sums.values()]:
            # float64: sums over thousands of windows keep their digits; the metrics are ratios of them.
            self.add_state(name, default=torch.zeros(horizon, target_size, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("windows", default=torch.tensor(0), dist_reduce_fx="sum")
        self.add_state(
            "scaled_windows", default=torch.zeros(horizon, target_size, dtype=torch.int64), dist_reduce_fx="sum"
        )

    def update(
        self, forecast: Tensor, target: Tensor, scale: Tensor | None = None, quantiles: Tensor | None = None
    ) -> None:
        if forecast.shape != target.shape or forecast.shape[1:] != self.squared.shape:
            raise ValueError(
                f"forecast {tuple(forecast.shape)} and target {tuple(target.shape)} must both be "
                f"(B, {', '.join(map(str, self.squared.shape))})"
            )
        forecast, target = forecast.double(), target.double()
        errors = _point_errors(forecast, target, None if scale is None else scale.double())
        scaled = ~errors["scaled"].isnan()  # windows whose series has a MASE scale
        errors["scaled"] = errors["scaled"].where(scaled, 0.0)
        for name, values in errors.items():
            getattr(self, name).add_(values.sum(0))
        self.scaled_windows += scaled.sum(0)
        if self.levels:
            if quantiles is None:
                raise ValueError(f"HorizonMetrics with levels {list(self.levels)} needs quantiles in update")
            quantiles = quantiles.double()
            self.pinball += _pinball_losses(quantiles, target, self.levels).mean(-1).sum(0)
            if "coverage" in self.quantile_sums:
                self.covered += _covered(quantiles, target).sum(0)
        self.windows += forecast.shape[0]

    def compute(self) -> dict[str, Tensor]:
        cells = {metric: getattr(self, total) / self.windows for metric, total in _SUMS.items()}
        cells["mase"] = self.scaled / self.scaled_windows  # 0 / 0: NaN where no window has a scale
        cells["rmse"] = cells["mse"].sqrt()
        cells |= {metric: getattr(self, total) / self.windows for metric, total in self.quantile_sums.items()}
        if self.levels:
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
