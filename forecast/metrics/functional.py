"""The metrics' formulas, once, as pure functions (torchmetrics' ``functional/`` layout).

Each value's error comes from one function (``_pinball_losses``, ``_covered``, ``_point_errors``);
an ``_update`` sums them and counts them, ``_mean_compute`` divides. The public functions give a
metric over a batch; the ``Metric`` classes in ``quantile`` and ``horizon`` keep the sums over many.
Shapes use the legend of ``forecast.batch``: point forecasts (B, H, C), quantile forecasts (B, H, C, Q)
with the Q levels in increasing order.
"""

import itertools
import numbers
from collections.abc import Iterable, Sequence

import torch
from torch import Tensor

__all__ = [
    "check_quantile_levels",
    "mean_pinball_loss",
    "continuous_ranked_probability_score",
    "interval_coverage",
]

# torchmetrics' MAPE guards its denominator with the same constant (float32 machine epsilon * 10).
_EPSILON = 1.17e-06


def check_quantile_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """The quantile levels as a tuple, after checking that they can name quantile columns.

    Args:
        levels: quantile levels, strictly inside (0, 1) and strictly increasing.

    Raises:
        TypeError: if ``levels`` is one number or a string rather than a sequence of numbers, or holds
            something that is no number (``None``, a word).
        ValueError: if ``levels`` is empty, has a level outside (0, 1), is not strictly increasing, or has two
            levels that name one column (``{level:g}``: the same in 6 significant digits).
    """
    wanted = f"quantile levels must be a list of numbers in (0, 1), e.g. [0.1, 0.5, 0.9]; got {levels!r}"
    if isinstance(levels, str) or not isinstance(levels, Iterable):  # a string would give one level per character
        raise TypeError(wanted)
    try:
        levels = tuple(float(level) for level in levels)
    except (TypeError, ValueError) as error:  # Python's own message names neither the levels nor the list
        raise TypeError(wanted) from error
    if not levels:
        raise ValueError("quantile levels are empty; give at least one level in (0, 1), e.g. [0.1, 0.5, 0.9]")
    outside = [level for level in levels if not 0.0 < level < 1.0]
    if outside:
        raise ValueError(f"quantile levels must lie strictly between 0 and 1; got {outside} in {list(levels)}")
    if any(lower >= upper for lower, upper in itertools.pairwise(levels)):
        raise ValueError(f"quantile levels must be strictly increasing (sorted, no repeats); got {list(levels)}")
    clash = next(((lower, upper) for lower, upper in itertools.pairwise(levels) if f"{lower:g}" == f"{upper:g}"), None)
    if clash:  # the columns {target}_q{level:g} of forecasts and reports would come twice under one name
        raise ValueError(
            f"quantile levels {clash[0]!r} and {clash[1]!r} both name the column _q{clash[0]:g}: give levels that "
            "differ within 6 significant digits"
        )
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
    # In float32 or wider: bfloat16 rounds 0.9 to 0.8984 and float16 to 0.8999, which moves the quantile a
    # QuantileLoss trains and scores, and integer forecasts would make integer levels, all 0.
    levels = torch.tensor(quantiles, dtype=torch.promote_types(preds.dtype, torch.float32), device=preds.device)  # (Q,)
    error = target.unsqueeze(-1) - preds  # -> (..., Q)
    return torch.maximum(levels * error, (levels - 1) * error)


def _pinball_loss_update(preds: Tensor, target: Tensor, quantiles: Sequence[float]) -> tuple[Tensor, int]:
    """Sum of the pinball losses over all values and levels, and the number of (value, level) pairs.

    In float64, whatever the forecasts' dtype: a float16 sum overflows past 65504 (to inf), and a float32 sum
    of many values rounds off the small terms that come after large ones.

    Shapes:
        preds: (..., Q), target: (...)
    """
    loss = _pinball_losses(preds.double(), target.double(), quantiles)  # -> (..., Q)
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

    Raises:
        ValueError: levels outside (0, 1) or not strictly increasing (``check_quantile_levels``), or
            ``preds`` without one column per level.
    """
    loss = _mean_compute(*_pinball_loss_update(preds, target, check_quantile_levels(quantiles)))
    dtype = torch.result_type(preds, target)  # the result in the inputs' dtype; only the sum is in float64
    return loss.to(dtype if dtype.is_floating_point else torch.float32)


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


def _check_column_index(index: object, name: str) -> None:
    """Refuse an interval bound's column that is no integer: a float (``0.0``) or a bool would pass the range
    check and then fail in torch's indexing, whose message names neither the argument nor the fix.

    Raises:
        TypeError: ``index`` is a bool or not an integer (Python's or numpy's).
    """
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer column of the quantile levels (0 for the lowest, -1 for the highest); got "
            f"{index!r} of type {type(index).__name__}: give it as an int, as the defaults lower_index=0 and "
            "upper_index=-1 are"
        )


def _covered(preds: Tensor, target: Tensor, lower_index: int = 0, upper_index: int = -1) -> Tensor:
    """Whether each target lies inside [lower, upper], bounds included: 1 or 0, and NaN where the target or
    a bound is NaN, so that a NaN forecast gives a NaN coverage as it gives a NaN pinball loss, not a miss.
    In float64, whose sums of ones stay exact past 2**24.

    Shapes:
        preds: (..., Q), target: (...) -> (...) float64
    """
    _check_quantile_shapes(preds, target)
    _check_column_index(lower_index, "lower_index")
    _check_column_index(upper_index, "upper_index")
    num_levels = preds.shape[-1]
    if num_levels < 2:
        raise ValueError(
            f"an interval lies between two quantile levels, and the predictions have {num_levels}; give the quantiles "
            "of two or more levels (e.g. 0.1 and 0.9, for an 80% interval)"
        )
    if not -num_levels <= lower_index < num_levels or not -num_levels <= upper_index < num_levels:
        raise ValueError(
            f"interval indices {lower_index}, {upper_index} are out of range for {num_levels} levels; give columns "
            f"from {-num_levels} to {num_levels - 1}"
        )
    if lower_index % num_levels >= upper_index % num_levels:
        raise ValueError(
            f"the lower bound's column ({lower_index}) must come before the upper bound's ({upper_index}) "
            f"among the {num_levels} levels, which are in increasing order"
        )
    lower, upper = preds[..., lower_index], preds[..., upper_index]  # -> (...)
    inside = (lower <= target) & (target <= upper)
    return inside.double().masked_fill(lower.isnan() | upper.isnan() | target.isnan(), torch.nan)


def _interval_coverage_update(preds: Tensor, target: Tensor, lower_index: int, upper_index: int) -> tuple[Tensor, int]:
    """Number of targets inside [lower, upper] (bounds included; NaN if a value is NaN), and the number of targets.

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
        TypeError: if an index is no integer (a float such as ``0.0``, or a bool).
        ValueError: if the predictions have fewer than two levels, the indices are out of range or the lower bound's
            column is not before the upper's.

    Example:
        >>> import torch
        >>> preds = torch.tensor([[0.0, 1.0], [0.0, 1.0], [2.0, 3.0], [2.0, 3.0]])
        >>> interval_coverage(preds, torch.tensor([0.5, 1.0, 1.0, 3.5]))
        tensor(0.5000)
    """
    inside, count = _interval_coverage_update(preds, target, lower_index, upper_index)
    return _mean_compute(inside, count).to(preds.dtype if preds.is_floating_point() else torch.float32)


def _point_errors(forecast: Tensor, target: Tensor, scale: Tensor | None) -> dict[str, Tensor]:
    """Each value's error under every point metric, before the mean over values.

    MAPE divides by ``max(|target|, 1.17e-6)`` and sMAPE by ``max(|target| + |forecast|, 1.17e-6)``
    (times 1/2), as torchmetrics does: a zero target gives a huge MAPE, a forecast and target both
    zero give an sMAPE of 0, and sMAPE lies in [0, 2]. MASE divides by each window's ``scale``, the
    in-sample seasonal-naive error of its series (Hyndman and Koehler, 2006, Section 3.4); NaN without one.
    A scale of 0 is clamped to 1.17e-6 too, a huge MASE; the data module gives none (``naive_scale``: NaN
    for a series flat in training), so only a scale handed in can be 0.

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
