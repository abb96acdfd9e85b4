"""The error users see when their data cannot be forecast as given, and the line their warnings name."""

import numbers
import sys
import warnings
from types import FrameType
from typing import Any

import numpy as np
from lightning.pytorch.utilities.rank_zero import rank_zero_only

__all__ = ["ForecastDataError", "given_row", "user_stacklevel", "warn_on_rank_zero", "where", "whole_number"]

# Packages whose frames stand between a user's line and a warning of ours: our own, torch's (``Module.__call__``
# runs our ``forward``) and Lightning's (the Trainer runs our hooks and data module).
_LIBRARIES = {"forecast", "torch", "lightning", "lightning_fabric", "lightning_utilities", "pytorch_lightning"}


class ForecastDataError(ValueError):
    """Input data that the framework refuses rather than repairs silently.

    The message names the column, series, row or time at fault, and the fix.
    """


def given_row(row: int, rows: np.ndarray | None) -> int:
    """Row ``row`` of a frame as read, counted in the frame as the user gave it: ``rows[row]`` where reading
    reordered or picked rows (``rows``: the given row of each row read), ``row`` itself where it did not."""
    return row if rows is None else int(rows[row])


def user_stacklevel() -> int:
    """The ``stacklevel`` at which ``warnings.warn``, called next to this, names the user's line.

    That is the first frame, going out from the caller, whose module is of none of ``_LIBRARIES``. A
    fixed ``stacklevel`` is right for one call path only: ``history_module`` warns below ``Forecaster.predict``
    and below a user's direct call, at other depths, and an encoder's ``forward`` runs under torch's
    ``Module.__call__``. The import system's frames are passed without being counted, as
    ``warnings.warn`` counts, so that a warning at import names the ``import`` line. Where every frame is a
    library's (``python -m forecast``), the outermost is named.
    """
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and (_importing(frame) or _module(frame) in _LIBRARIES):
        frame = frame.f_back
        if not _importing(frame):
            level += 1
    return level


def warn_on_rank_zero(message: str) -> None:
    """Warn once for all processes, from process zero, at the user's line (``user_stacklevel``).

    For a warning about the user's input or call that every process would give alike (each reads the same
    data). Lightning's ``rank_zero_warn`` takes a fixed ``stacklevel``, which names a line of forecast or of
    its own wrapper instead.
    """
    if rank_zero_only.rank == 0:
        warnings.warn(message, stacklevel=user_stacklevel())


def _module(frame: FrameType) -> str:
    """The top-level package of the module that ``frame`` runs in."""
    return frame.f_globals.get("__name__", "").partition(".")[0]


def _importing(frame: FrameType) -> bool:
    """Whether ``frame`` is the import system's, which ``warnings.warn`` skips (by the same test) when counting."""
    filename = frame.f_code.co_filename
    return "importlib" in filename and "_bootstrap" in filename


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
