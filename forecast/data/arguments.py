"""The checks of ``TimeSeriesDataModule``'s arguments before anything is read: counts that are whole numbers
of at least 1, loading options of their own types, and option groups of their own types (Python, unlike the CLI,
passes anything)."""

from collections.abc import Collection
from typing import Any

import numpy as np

from ..errors import whole_number
from .options import Calendar, Columns, Scaling
from .splits import Split

__all__ = ["check_groups", "check_loading", "whole_counts"]


def whole_counts(counts: dict[str, Any], optional: Collection[str] = ("batch_channels",)) -> dict[str, int | None]:
    """The ``counts`` (lookback, horizon, strides, seasonal period, batch sizes), in their order, as Python ints:
    torch's samplers refuse a NumPy integer (a grid from ``np.arange``) as a batch size. ``None`` (an
    ``optional`` count left unset) stays ``None``.

    Raises:
        TypeError: a count is no whole number (10.5 steps would be cut somewhere, silently), or ``None`` where
            it is not ``optional`` (a lookback of ``None`` failed later as Python's "unsupported operand").
        ValueError: a count is below 1, naming its key.
    """
    given = {name: count for name, count in counts.items() if not (count is None and name in optional)}
    fractional = [name for name, count in given.items() if not whole_number(count)]
    if fractional:
        name = fractional[0]
        raise TypeError(f"data.{name}={given[name]!r} must be a whole number; give an int")
    if below := [name for name, count in given.items() if count < 1]:
        name = below[0]
        raise ValueError(f"data.{name}={given[name]!r} must be at least 1; give a whole number of 1 or more")
    return {name: None if count is None else int(count) for name, count in counts.items()}


def check_groups(columns: Columns, calendar: Calendar, scaling: Scaling, split: Split | None) -> None:
    """Refuse an option group or split that is not an object of its class (a dict, say, which failed later as
    "'dict' object has no attribute ...").

    Raises:
        TypeError: naming the option, the type given and the class to give.
    """
    for key, value, group in (
        ("columns", columns, Columns),
        ("calendar", calendar, Calendar),
        ("scaling", scaling, Scaling),
    ):
        if not isinstance(value, group):
            raise TypeError(
                f"data.{key} is a {type(value).__name__}; give forecast.{group.__name__}(...) (a config file's "
                f"data.{key} mapping is read into one)"
            )
    if split is not None and not isinstance(split, Split):  # a config's {"class_path": ...} form, say
        raise TypeError(
            f"data.split is a {type(split).__name__}; give a split object, e.g. forecast.data.RowSplit(...) or "
            "forecast.data.FractionSplit() (a config file's data.split class_path is read into one)"
        )


def check_loading(num_workers: Any, pin_memory: Any, drop_short: Any) -> None:
    """Refuse a worker count that is no whole number of 0 or more, and flags that are no bools, before any work.

    Unchecked, ``num_workers="2"`` failed at the first batch as torch's "'>' not supported between instances of
    'str' and 'int'", ``1.5`` in the workers, and the text ``"false"`` for a flag was true.

    Raises:
        ValueError: ``num_workers`` is below 0 or no int.
        TypeError: ``pin_memory`` or ``drop_short`` is no bool.
    """
    if not (whole_number(num_workers) and num_workers >= 0):
        raise ValueError(
            f"data.num_workers={num_workers!r}: DataLoader worker processes, 0 or more (an int; 0 loads in the "
            "training process)"
        )
    for key, flag in (("pin_memory", pin_memory), ("drop_short", drop_short)):
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"data.{key}={flag!r} is not a bool; give true or false")
