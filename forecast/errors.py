"""The error users see when their data cannot be forecast as given."""

import numbers
from typing import Any

import numpy as np

__all__ = ["ForecastDataError", "given_row", "where", "whole_number"]


class ForecastDataError(ValueError):
    """Input data that the framework refuses rather than repairs silently.

    The message names the column, series, row or time at fault, and the fix.
    """


def given_row(row: int, rows: np.ndarray | None) -> int:
    """Row ``row`` of a frame as read, counted in the frame as the user gave it: ``rows[row]`` where reading
    reordered or picked rows (``rows``: the given row of each row read), ``row`` itself where it did not."""
    return row if rows is None else int(rows[row])


def where(*, column: str | None = None, series: str | None = None, row: int | None = None, time: Any = None) -> str:
    """The place of a problem, for messages: ``column 'b', series 'A', row 42, time 2024-01-02 18:00:00``.

    Rows count from 0 in the frame or file as it was given (before any grouping by series or picking of
    some series). Parts that are
    ``None`` are left out, so the same helper serves wide frames (one series, no name) and long ones.
    """
    parts = [
        f"column {column!r}" if column is not None else None,
        f"series {series!r}" if series is not None else None,
        f"row {row}" if row is not None else None,
        f"time {time}" if time is not None else None,
    ]
    return ", ".join(part for part in parts if part)


def whole_number(value: Any) -> bool:
    """Whether ``value`` is a whole number as a count or size option takes it: an int or a NumPy integer (a grid
    from ``np.arange``), not ``True`` nor ``10.5``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_count(name: str, value: Any, counts: str) -> None:
    """Refuse a count option that is not a whole number of 1 or more (``whole_number``), before any work.

    Raises:
        ValueError: ``name=value: counts (an int)``, where ``counts`` says what the option counts.
    """
    if not (whole_number(value) and value >= 1):
        raise ValueError(f"{name}={value!r}: {counts} (an int)")
