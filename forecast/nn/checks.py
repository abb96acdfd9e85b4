"""The range checks of the parts' numeric options, so a bad config value names its key, not a torch internal."""

import math
import numbers

from ..errors import whole_number

__all__ = ["check_finite", "check_flag", "check_range", "check_size"]


def _check_number(key: str, value: float) -> None:
    """Refuse text and bools, naming ``key``: "8" failed as Python's "'<=' not supported", naming none."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{key}={value!r} is not a number; give one")


def check_finite(key: str, value: float) -> None:
    """Refuse ``value`` unless it is a finite number, naming ``key``.

    Raises:
        TypeError: ``value`` is no number, as ``check_range`` says it.
        ValueError: ``value`` is NaN or infinite.
    """
    _check_number(key, value)
    if not math.isfinite(value):
        raise ValueError(f"{key}={value} must be a finite number")


def check_range(key: str, value: float, low: float, high: float | None = None) -> None:
    """Refuse ``value`` outside ``[low, high]`` (no upper bound when ``high`` is ``None``), naming ``key``.

    Raises:
        TypeError: ``value`` is no number (text, a bool).
        ValueError: e.g. ``model.head.init_args.dropout=2.0 must lie in [0, 1]``; NaN is outside every range.
    """
    _check_number(key, value)
    if not (low <= value and (high is None or value <= high)):
        allowed = f"be at least {low}" if high is None else f"lie in [{low}, {high}]"
        raise ValueError(f"{key}={value} must {allowed}")


def check_size(key: str, value: int, low: int) -> None:
    """Refuse a size or count option (features, layers, steps) that is no whole number of at least ``low``.

    A float such as ``hidden_size=512 / 2`` would fail deep in torch ("must be tuple of ints"), naming no key.

    Raises:
        TypeError: ``value`` is no number, as ``check_range`` says it, or no int (a float); a NumPy integer is one.
        ValueError: ``value`` is below ``low``, as ``check_range`` says it.
    """
    check_range(key, value, low)
    if not whole_number(value):
        raise TypeError(f"{key}={value!r} is not a whole number; give an int")


def check_flag(key: str, value: bool) -> None:
    """Refuse an on/off option that is no bool, naming ``key``: the text ``"false"`` is true to Python (the SRU took
    it as on), and torch's recurrent layers failed on ``"yes"`` or ``1.0`` in their first step. As the CLI types
    it, ``1`` and ``0`` are no bools either.

    Raises:
        TypeError: ``value`` is not ``True`` or ``False``.
    """
    if not isinstance(value, bool):
        raise TypeError(f"{key}={value!r} is not a bool; give true or false")
