"""The range check of the parts' numeric options, so a bad config value names its key, not a torch internal."""

import numbers

__all__ = ["check_range"]


def check_range(key: str, value: float, low: float, high: float | None = None) -> None:
    """Refuse ``value`` outside ``[low, high]`` (no upper bound when ``high`` is ``None``), naming ``key``.

    Raises:
        TypeError: ``value`` is no number (text, a bool).
        ValueError: e.g. ``model.head.init_args.dropout=2.0 must lie in [0, 1]``; NaN is outside every range.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # "8" failed as Python's "'<=' not supported"
        raise TypeError(f"{key}={value!r} is not a number; give one")
    if not (low <= value and (high is None or value <= high)):
        allowed = f"be at least {low}" if high is None else f"lie in [{low}, {high}]"
        raise ValueError(f"{key}={value} must {allowed}")
