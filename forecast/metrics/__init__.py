"""Every forecasting metric of the project, in torchmetrics' layout.

- ``functional``: the formulas once, as pure functions (a sum and a count per batch, then their ratio);
- ``quantile``: ``Metric`` classes of quantile forecasts for any torchmetrics user (pinball, CRPS, coverage);
- ``horizon``: ``HorizonMetrics``, every point and quantile metric per horizon step and target column,
  which the Forecaster logs and the evaluation report writes.
"""

from .functional import check_quantile_levels, continuous_ranked_probability_score, interval_coverage, mean_pinball_loss
from .horizon import HorizonMetrics
from .quantile import ContinuousRankedProbabilityScore, IntervalCoverage, MeanPinballLoss

__all__ = [
    "check_quantile_levels",
    "mean_pinball_loss",
    "continuous_ranked_probability_score",
    "interval_coverage",
    "MeanPinballLoss",
    "ContinuousRankedProbabilityScore",
    "IntervalCoverage",
    "HorizonMetrics",
]
