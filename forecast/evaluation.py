"""Forecast metrics at every horizon step and target column, and their tables.

``HorizonMetrics`` keeps, for each (step, column) cell, the sums of every error the project
reports; torchmetrics sums them across processes. Its values equal torchmetrics' own metrics
(``MeanSquaredError``, ``MeanAbsolutePercentageError``, ...) computed cell by cell, and their
means over cells equal the overall metrics that the Forecaster logs, because every window has
every step and column. ``metric_tables`` turns them into the per-step and per-column tables
that the evaluation report writes.

Shapes use the legend of ``forecast.batch``; N counts series.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor
from torchmetrics import Metric

from .metrics import _EPSILON, check_quantile_levels

__all__ = ["HorizonMetrics", "seasonal_naive_scale", "metric_tables", "POINT_METRICS", "QUANTILE_METRICS"]

POINT_METRICS = ("mse", "mae", "rmse", "mape", "smape", "mase")
QUANTILE_METRICS = ("pinball", "crps", "coverage")

# The per-cell sums behind each metric; rmse and crps are derived from mse and pinball.
_SUMS = {"mse": "squared", "mae": "absolute", "mape": "percentage", "smape": "symmetric", "mase": "scaled"}
_QUANTILE_SUMS = {"pinball": "pinball", "coverage": "covered"}


class HorizonMetrics(Metric):
    """Every point and quantile metric at each horizon step and target column, synced by torchmetrics.

    MAPE divides by ``max(|target|, 1.17e-6)`` and sMAPE by ``max(|target| + |forecast|, 1.17e-6)``
    (times 1/2), as torchmetrics does: a zero target gives a huge MAPE, a forecast and target both
    zero give an sMAPE of 0, and sMAPE lies in [0, 2]. MASE divides each window's absolute errors by
    the ``scale`` given for it (see ``seasonal_naive_scale``); without one it is NaN. CRPS is twice the
    pinball loss averaged over levels, and coverage counts targets inside the interval between the
    lowest and highest level, bounds included.

    Args:
        horizon: H, steps per window.
        target_size: C_out, target columns.
        levels: the quantile levels of the ``quantiles`` given to ``update``; empty for point forecasts.
        kwargs: torchmetrics' ``Metric`` options.

    Shapes:
        update(forecast (B, H, C), target (B, H, C), scale (B, C) or None, quantiles (B, H, C, Q) or None);
        compute() -> {metric: (H, C)}.

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
        error = (forecast - target).abs()  # -> (B, H, C)
        self.squared += error.square().sum(0)
        self.absolute += error.sum(0)
        self.percentage += (error / target.abs().clamp(min=_EPSILON)).sum(0)
        self.symmetric += (2 * error / (target.abs() + forecast.abs()).clamp(min=_EPSILON)).sum(0)
        if scale is None:
            self.scaled += float("nan")
        else:
            self.scaled += (error / scale.double().unsqueeze(1).clamp(min=_EPSILON)).sum(0)  # scale (B, 1, C)
        if self.levels:
            if quantiles is None:
                raise ValueError(f"HorizonMetrics with levels {list(self.levels)} needs quantiles in update")
            quantiles = quantiles.double()
            levels = quantiles.new_tensor(self.levels)  # -> (Q,)
            below = target.unsqueeze(-1) - quantiles  # -> (B, H, C, Q)
            pinball = torch.maximum(levels * below, (levels - 1) * below).mean(-1)  # -> (B, H, C)
            self.pinball += pinball.sum(0)
            self.covered += ((quantiles[..., 0] <= target) & (target <= quantiles[..., -1])).sum(0)
        self.windows += forecast.shape[0]

    def compute(self) -> dict[str, Tensor]:
        cells = {metric: getattr(self, total) / self.windows for metric, total in _SUMS.items()}
        cells["rmse"] = cells["mse"].sqrt()
        if self.levels:
            cells |= {metric: getattr(self, total) / self.windows for metric, total in _QUANTILE_SUMS.items()}
            cells["crps"] = 2 * cells["pinball"]
        return cells


def seasonal_naive_scale(values: Tensor, offsets: np.ndarray, ends: np.ndarray, seasonal_period: int) -> Tensor:
    """Each series' in-sample seasonal-naive MAE per column: the scale of MASE.

    The mean of ``|y[t] - y[t - m]|`` over the rows ``[offset, offset + end)`` of each series: its
    training part (Hyndman and Koehler, "Another look at measures of forecast accuracy", 2006, Section 3.4).

    Args:
        values: all series, one after the other, the target columns first, shape (rows, C).
        offsets: first row of each series in ``values``, shape (N,).
        ends: rows of each series' training part, shape (N,).
        seasonal_period: m, in steps.

    Raises:
        ValueError: a series' training part has no more rows than ``seasonal_period``.

    Shapes:
        values: (rows, C) -> (N, C)

    Example:
        >>> import numpy as np, torch
        >>> values = torch.tensor([[0.0], [1.0], [3.0], [10.0], [10.0], [14.0]])
        >>> seasonal_naive_scale(values, np.array([0, 3]), np.array([3, 3]), 1)
        tensor([[1.5000],
                [2.0000]])
    """
    short = np.flatnonzero(ends <= seasonal_period)
    if short.size:
        raise ValueError(
            f"series {short[:10].tolist()} have {ends[short[0]]} training rows, too few for MASE with "
            f"report.seasonal_period={seasonal_period}; lower the period or train on more rows"
        )
    scales = []
    for offset, end in zip(offsets.tolist(), ends.tolist(), strict=True):
        train = values[offset : offset + end]  # -> (T, C)
        scales.append((train[seasonal_period:] - train[:-seasonal_period]).abs().mean(0))  # -> (C,)
    return torch.stack(scales)  # -> (N, C)


def _overall(cells: dict[str, Tensor], dim: int | tuple[int, ...]) -> dict[str, Tensor]:
    """The metrics over several cells: each cell holds as many values, so means of cells; rmse from mse."""
    reduced = {metric: values.mean(dim) for metric, values in cells.items()}
    reduced["rmse"] = reduced["mse"].sqrt()
    return reduced


def metric_tables(tables: dict[str, dict[str, Tensor]], targets: Sequence[str]) -> dict[str, Any]:
    """The per-step and per-column tables, and the overall metrics, of ``HorizonMetrics.compute`` results.

    Args:
        tables: the cells of each unit: ``{"scaled": cells, "original": cells}``.
        targets: the names of the C target columns.

    Returns:
        ``by_horizon``: a frame with columns units, target (a name, or ``all``), step (from 1), metrics;
        ``by_target``: units, target, metrics over all steps; ``overall``: ``{metric[_orig]: value}``.
    """
    by_horizon, by_target, overall = [], [], {}
    for units, cells in tables.items():
        horizon = next(iter(cells.values())).shape[0]
        names = list(cells)
        per_step = _overall(cells, 1)  # -> {metric: (H,)}
        rows = {"units": units, "target": "all", "step": np.arange(1, horizon + 1)}
        by_horizon.append(pd.DataFrame(rows | {name: per_step[name].cpu().numpy() for name in names}))
        for column, target in enumerate(targets):
            rows = {"units": units, "target": target, "step": np.arange(1, horizon + 1)}
            by_horizon.append(pd.DataFrame(rows | {name: cells[name][:, column].cpu().numpy() for name in names}))
        per_column = _overall(cells, 0)  # -> {metric: (C,)}
        by_target.append(
            pd.DataFrame({"units": units, "target": list(targets)} | {n: per_column[n].cpu().numpy() for n in names})
        )
        suffix = "_orig" if units == "original" else ""
        overall |= {f"{name}{suffix}": float(value) for name, value in _overall(cells, (0, 1)).items()}
    return {
        "by_horizon": pd.concat(by_horizon, ignore_index=True),
        "by_target": pd.concat(by_target, ignore_index=True),
        "overall": overall,
    }
