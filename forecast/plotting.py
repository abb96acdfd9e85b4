"""Plots of forecasts and their errors, for reports and notebooks (matplotlib, imported when used).

The functions read the tables that ``test`` and ``backtest`` write, so a notebook draws the same
figures from ``forecasts.csv`` and ``metrics_by_horizon.csv`` as the run directory holds:
- a forecasts table: ``id``, ``origin`` (the last observed time), ``time``, ``step`` (from 1),
  ``window`` (its index; optional), and per target column ``{target}``
  (the forecast), ``{target}_actual`` and quantiles ``{target}_q{level}``;
- a history table: ``id``, ``time`` and the target columns (e.g. long data as given; a wide frame's one
  series has id 0).
"""

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import whole_number

__all__ = ["plot_forecasts", "plot_error_by_horizon", "save_png"]

_PANEL_SIZE = (4.0, 2.5)  # inches per panel; at the default 100 dpi a panel is 400 x 250 pixels


def _figure(rows: int, columns: int) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # no pyplot: no display, no global state

    figure = Figure(figsize=(_PANEL_SIZE[0] * columns, _PANEL_SIZE[1] * rows))
    axes = figure.subplots(rows, columns, squeeze=False)
    return figure, axes


def _band(window: pd.DataFrame, target: str) -> tuple[str, str] | None:
    """The columns of the lowest and highest quantile level of ``target``, if the table has quantiles.

    A level lies strictly between 0 and 1, and a column with an ``_actual`` twin is another target's forecast (the
    targets ``sales``, ``sales_q1`` and ``sales_q0.5``), not a quantile of ``target``.
    """
    level = re.compile(re.escape(f"{target}_q") + r"(\d*\.?\d+(?:e-\d+)?)")  # 0.1, 0.975, 1e-05: ``:g`` levels
    found = ((level.fullmatch(column), column) for column in window if f"{column}_actual" not in window)
    levels = sorted((float(match[1]), column) for match, column in found if match and 0 < float(match[1]) < 1)
    return (levels[0][1], levels[-1][1]) if len(levels) > 1 else None


def _as_times(values: pd.Series) -> pd.Series:
    """``values`` as datetimes, to draw on a time axis in time order, not as text in the order of the text.

    ``pd.read_csv("forecasts.csv", parse_dates=["time"])`` leaves text where the times' UTC offsets differ (a
    time zone with daylight saving): those become the same instants in UTC. Datetimes (or numbers) stay.
    """
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return values
    try:
        parsed = pd.to_datetime(values)
    except ValueError:  # pandas 3: "Mixed timezones detected"; pandas 2 returns the Timestamps as objects
        parsed = values
    return parsed if pd.api.types.is_datetime64_any_dtype(parsed) else pd.to_datetime(parsed, utc=True)


# How to read each table the functions take, for the message that refuses another type.
_READ = {
    "forecasts": 'pd.read_csv("forecasts.csv", parse_dates=["origin", "time"])',
    "history": "a long frame with columns id, time and the targets",
    "table": 'pd.read_csv("metrics_by_horizon.csv")',
}


def _check_frame(name: str, table: Any) -> None:
    """Refuse a ``table`` that is no DataFrame (a path, a dict), naming the argument and how to read one.

    Raises:
        TypeError: naming ``name``, the type given and what to give.
    """
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{name} is a {type(table).__name__}; give a pandas DataFrame: {_READ[name]}")


def _check_steps(max_windows: Any, history_steps: Any) -> None:
    """Refuse a ``max_windows`` that is no whole number of 1 or more, and a ``history_steps`` that is no whole
    number of 0 or more (a negative count would draw all history but its first rows, as ``DataFrame.tail``).

    Raises:
        ValueError: naming the argument, what it counts and the value given.
    """
    if not (whole_number(max_windows) and max_windows >= 1):  # not matplotlib's "Number of rows must be ..."
        raise ValueError(f"max_windows must be >= 1 (windows drawn, an int); got {max_windows!r}")
    if not (whole_number(history_steps) and history_steps >= 0):
        raise ValueError(
            f"history_steps must be >= 0 (steps of history drawn per window, an int); got {history_steps!r}"
        )


def _check_forecasts(forecasts: pd.DataFrame) -> None:
    """Refuse a forecasts table without the columns that tell its windows apart: ``id``, ``origin`` and ``time``.

    Raises:
        ValueError: naming the missing columns, e.g. ``origin`` of a ``predict`` table with the actual values
            joined on (it forecasts from one origin per series: the time before its first forecast step).
    """
    missing = [column for column in ("id", "origin", "time") if column not in forecasts]
    if missing:
        raise ValueError(
            f"forecasts lacks the columns {missing}: plot_forecasts reads a table as test and backtest write to "
            "forecasts.csv, a window per id and origin (the last observed time); to a predict table add each "
            "series' last time of the history it forecast from: "
            "table.merge(history.groupby('id')['time'].max().rename('origin'), on='id'); "
            f"it has {list(forecasts.columns)}"
        )


def _check_history(history: pd.DataFrame, targets: Sequence[str]) -> None:
    """Refuse a history table without the columns ``plot_forecasts`` reads: ``id``, ``time`` and ``targets``.

    Raises:
        ValueError: naming the missing columns, e.g. those of a wide frame as given (a date column, no ``id``).
    """
    missing = [column for column in ("id", "time", *targets) if column not in history]
    if missing:
        raise ValueError(
            f"history lacks the columns {missing}: plot_forecasts reads a long table with columns id, time and the "
            "targets, its ids those of the forecasts table (a wide frame's one series has id 0: "
            "frame.rename_axis('time').reset_index().assign(id=0)); it has "
            f"{list(history.columns)}"
        )


def plot_forecasts(
    forecasts: pd.DataFrame,
    targets: str | Sequence[str] | None = None,
    max_windows: int = 3,
    history: pd.DataFrame | None = None,
    history_steps: int = 96,
) -> Any:
    """Forecast against actual values for a few windows (rows) and target columns (columns).

    Each panel draws the actual values, the point forecast, and the band between the lowest and
    highest quantile level when the table has quantile columns; with ``history``, the
    ``history_steps`` values before the window's first forecast step too.

    Args:
        forecasts: a forecasts table (see the module docstring).
        targets: the target columns to draw (a name alone is one column); ``None`` means every column with
            an ``_actual`` twin.
        max_windows: windows drawn (at least 1), evenly spaced over the table's (id, origin) pairs.
        history: the series' earlier values, for context.
        history_steps: steps of history drawn before each window.

    Returns:
        a matplotlib ``Figure``: a row per window, a column per target, each panel 4 x 2.5 inches.

    Raises:
        TypeError: ``forecasts`` or ``history`` is no DataFrame.
        ValueError: ``max_windows`` is no whole number of 1 or more, or ``history_steps`` of 0 or more; the table
            has no window, lacks ``id``, ``origin`` or ``time``, or has no ``_actual`` column or a target without
            its own; ``history`` lacks ``id``, ``time`` or a target column.
    """
    _check_frame("forecasts", forecasts)
    _check_steps(max_windows, history_steps)
    if isinstance(targets, str):  # "OT" is one column, not the columns "O" and "T"
        targets = [targets]
    targets = list(targets or [c.removesuffix("_actual") for c in forecasts if c.endswith("_actual")])
    if not targets:
        raise ValueError(
            "forecasts has no '{target}_actual' column to draw the forecasts against; to a predict table join the "
            "actual values: table.merge(actuals.rename(columns={'y': 'y_actual'}), on=['id', 'time']); "
            f"it has {list(forecasts.columns)}"
        )
    missing = [target for target in targets if f"{target}_actual" not in forecasts]
    if missing or forecasts.empty:
        raise ValueError(f"a forecasts table needs rows and '{{target}}_actual' columns; none for {missing or targets}")
    _check_forecasts(forecasts)
    forecasts = forecasts.assign(time=_as_times(forecasts["time"]))
    if history is not None:
        _check_frame("history", history)
        _check_history(history, targets)
        history = history.assign(time=_as_times(history["time"]))
    windows = list(forecasts.groupby(["id", "origin"], sort=False))
    count = min(max_windows, len(windows))
    picks = [windows[round(i * (len(windows) - 1) / max(count - 1, 1))] for i in range(count)]
    figure, axes = _figure(count, len(targets))
    for row, ((series, origin), window) in enumerate(picks):
        window = window.sort_values("time")
        marker = "o" if len(window) == 1 else None  # a line through one step (horizon 1) draws nothing
        for column, target in enumerate(targets):
            ax = axes[row, column]
            if history is not None:
                past = history[(history["id"] == series) & (history["time"] < window["time"].iloc[0])]
                # Overlapping windows repeat the same history rows: each time once.
                past = past.drop_duplicates("time").sort_values("time").tail(history_steps)
                ax.plot(past["time"], past[target], color="0.5", linewidth=0.8, label="history")
            ax.plot(window["time"], window[f"{target}_actual"], color="black", linewidth=1.0, marker=marker,
                    label="actual")  # fmt: skip
            ax.plot(window["time"], window[target], color="tab:blue", linewidth=1.2, marker=marker, label="forecast")
            band = _band(window, target)
            if band:
                interval = f"{band[0].removeprefix(target + '_q')}-{band[1].removeprefix(target + '_q')}"
                ax.fill_between(window["time"], window[band[0]], window[band[1]], color="tab:blue", alpha=0.25,
                                label=f"q{interval}")  # fmt: skip
            ax.set_title(f"{target}, {series}, origin {origin}", fontsize=9)
            ax.tick_params(labelsize=8)
    axes[0, 0].legend(fontsize=8)
    for ax in axes.flat:  # each row is another window, so each keeps its dates (autofmt_xdate keeps the bottom row's)
        for label in ax.get_xticklabels():
            label.set(rotation=30, horizontalalignment="right")
    figure.tight_layout()
    return figure


def plot_error_by_horizon(table: pd.DataFrame, metric: str = "mae", units: str = "scaled") -> Any:
    """A metric against the horizon step: one line per target column, a thick one over all columns, in step order.

    Args:
        table: a per-step table as ``metrics_by_horizon.csv`` holds (units, target, step, metrics).
        metric: the column to draw, e.g. ``mae``, ``mse`` or ``crps``.
        units: ``scaled`` (columns comparable with each other) or ``original``.

    Returns:
        a matplotlib ``Figure`` of one 8 x 5 inch panel.

    Raises:
        TypeError: ``table`` is no DataFrame.
        ValueError: the table lacks the columns units, target or step, or has no such metric or units (naming the
            units it has).
    """
    _check_frame("table", table)
    missing = [column for column in ("units", "target", "step") if column not in table]
    if missing:
        raise ValueError(
            f"the table lacks the columns {missing}: plot_error_by_horizon reads a per-step table with columns "
            f"units, target, step and the metrics, as test and backtest write to metrics_by_horizon.csv; it has "
            f"{list(table.columns)}"
        )
    rows = table[table["units"] == units]
    if metric not in table or rows.empty:
        raise ValueError(
            f"the table has no metric {metric!r} in {units!r} units; it has the units "
            f"{list(table['units'].unique())} and the columns {list(table.columns)}"
        )
    figure, axes = _figure(1, 1)
    figure.set_size_inches(2 * _PANEL_SIZE[0], 2 * _PANEL_SIZE[1])
    ax = axes[0, 0]
    for target, part in rows.groupby("target", sort=False):
        part = part.sort_values("step")  # a table sorted by its errors, or concatenated, draws each line in step order
        overall = target == "all"
        marker = "o" if len(part) == 1 else None  # a line through one step (horizon 1) draws nothing
        ax.plot(part["step"], part[metric], linewidth=2.5 if overall else 0.9, color="black" if overall else None,
                marker=marker, label=target)  # fmt: skip
    ax.set_xlabel("horizon step")
    ax.set_ylabel(f"{metric} ({units})")
    ax.legend(fontsize=7, ncol=2)
    return figure


def save_png(figure: Any, path: str | Path, dpi: int = 100) -> Path:
    """Write ``figure`` as a PNG of its size in inches times ``dpi`` pixels; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=dpi)
    return path
