"""Scaling a data module's series: the scalings fitted on their training rows, and the series scaled by them as
its windows read them (buffer, statics, MASE scales, the rows given before each origin), and the values that
those scalings cannot scale well (a missing-value code, a target constant on its training rows), warned of.

The scaled arrays are built once from one table, split and set of scalings; the data module builds a new
``ScaledSeries`` whenever any of those changes (a checkpoint loads, a backtest moves the split), so nothing stale
is read.
"""

from functools import cached_property
from typing import Any

import numpy as np
import torch

from ..errors import warn_on_rank_zero, where
from .buffer import SeriesBuffer, build_buffer, encode_statics, naive_scale, ranges
from .calendar import CalendarEncoding
from .frames import Roles, SeriesTable
from .options import Scaling
from .scaling import TRAINING_UNFITTED, AffineScaling, fit_scaling
from .sharding import alike, gather_objects, global_scaling
from .splits import Windows
from .validate import NanPolicy
from .windows import OriginRepair, WindowDataset, window_origins

__all__ = ["ScaledSeries", "fit_scalings", "warn_unscalable"]

# Values that data sets write for a missing one (weather stations: -9999), which a scaler would take for a value.
MISSING_CODES = (-99999.0, -9999.0, -999.0, 9999.0, 99999.0)


class ScaledSeries:
    """The scaled series of a table, and what a ``WindowDataset`` of them needs besides its windows and maps.

    Each array is built on first use, so that a module that only reads its sizes never scales its data.

    Args:
        table: the series, their values repaired (``nan_policy``) for the split of ``borders``.
        given: per column the values as read, before any repair: they mark the observed rows.
        roles: the columns' roles.
        scalings: the affine maps of targets, covariates and numeric statics.
        vocabularies: the sorted categories of each categorical static column.
        calendar: the calendar features and their encoding.
        freq: the pandas frequency of the times.
        borders: per series the first target row of validation, of test, and the end of test, shape (N, 3).
        pad: rows of future covariates kept after each series (the horizon, with future channels).
        seasonal_period: m of MASE.
        nan_policy: how the missing values were repaired.
    """

    def __init__(
        self,
        table: SeriesTable,
        given: dict[str, np.ndarray],
        roles: Roles,
        scalings: tuple[AffineScaling, AffineScaling, AffineScaling],
        vocabularies: dict[str, list[str]],
        calendar: tuple[list[str], CalendarEncoding],
        freq: str,
        borders: np.ndarray,
        pad: int,
        seasonal_period: int,
        nan_policy: NanPolicy,
    ):
        self.table, self.given, self.roles, self.scalings = table, given, roles, scalings
        self.vocabularies, self.calendar, self.freq, self.borders = vocabularies, calendar, freq, borders
        self.pad, self.seasonal_period, self.nan_policy = pad, seasonal_period, nan_policy

    @cached_property
    def buffer(self) -> SeriesBuffer:
        """All series, scaled, in one float32 array."""
        # The values as read mark the observed targets.
        return build_buffer(self.table, self.roles, self.scalings[:2], self.calendar, self.freq, self.pad, self.given)

    @cached_property
    def static(self) -> torch.Tensor:
        """Static features per series, categories as vocabulary indices, numbers scaled, shape (N, S)."""
        return encode_statics(self.table, self.vocabularies, self.scalings[2])

    @cached_property
    def naive_scale(self) -> torch.Tensor:
        """Each series' MASE scale per target on its scaled training rows (``buffer.naive_scale``), shape (N, C_out)."""
        return naive_scale(self.buffer, self.borders[:, 0], len(self.roles.targets), self.seasonal_period)

    def before_origins(self, arguments: dict[str, Any]) -> WindowDataset:
        """The ``WindowDataset`` of ``arguments`` whose windows read inputs from the values given before their
        origin alone: an ``OriginRepair`` where ``ffill`` or ``interpolate`` repaired an input value (a repair
        may draw on later rows: ``interpolate``'s towards a window's own targets, a gap's repair across a part's
        border, a channel's first value given at or after the origin).

        Args:
            arguments: ``WindowDataset``'s.
        """
        if self.nan_policy not in ("ffill", "interpolate") or self.given_inputs.all():
            return WindowDataset(**arguments)
        return OriginRepair(given=self.given_inputs, policy=self.nan_policy, **arguments)

    @cached_property
    def given_inputs(self) -> np.ndarray:
        """Per buffer row and input channel (targets, then past covariates), whether its value was given, not
        repaired; the future rows kept after each series (``pad``) hold none. Shape (rows, C_in)."""
        columns = [*self.roles.targets, *self.roles.past]
        source = ranges(self.table.offsets[:-1], self.table.observed)  # the rows with targets, series after series
        target = ranges(self.buffer.offsets, self.table.observed)
        given = np.zeros((len(self.buffer.values), len(columns)), dtype=bool)
        for channel, column in enumerate(columns):
            given[target, channel] = np.isfinite(self.given[column][source])
        return given

    def last_given(self, windows: Windows) -> np.ndarray:
        """Per window of ``windows`` and input channel (targets, then past covariates), the row within its
        series of the last value given (not repaired) before the window's first forecast row; -1 where the
        series has none. Shape (W, C_in); ``backtest_loader`` refuses a window with none."""
        series, origins = window_origins(windows)
        starts = self.table.offsets[series]
        columns = [*self.roles.targets, *self.roles.past]
        known = np.empty((len(series), len(columns)), dtype=np.int64)
        for channel, column in enumerate(columns):
            given = np.isfinite(self.given[column])  # the values as read, before any repair
            last = np.maximum.accumulate(np.where(given, np.arange(len(given)), -1))  # -> (rows,) across series
            known[:, channel] = np.maximum(last[starts + origins - 1] - starts, -1)  # -> (W,)
        return known


def fit_scalings(
    table: SeriesTable,
    given: dict[str, np.ndarray],
    borders: np.ndarray,
    roles: Roles,
    vocabularies: dict[str, list[str]],
    scaling: Scaling,
    sharded: bool,
    series: np.ndarray | None = None,
    unfitted: str = TRAINING_UNFITTED,
) -> tuple[AffineScaling, AffineScaling, AffineScaling]:
    """Scalings of targets and covariates fitted on each series' training rows, and of the numeric
    statics over the series that have training rows (one value per series).

    Args:
        table: the series.
        given: per column the values as read, whose missing ones (NaN, infinite) both fits leave out.
        borders: per series the first target row of validation, of test, and the end of test, shape (N, 3).
        roles: the columns' roles.
        vocabularies: the sorted categories of each categorical static column; the other static columns are numbers.
        scaling: the scalers, and whether each series gets its own.
        sharded: each process holds its own share of the series (``shard: series``).
        series: the positions of the series to fit, in order, all by default: predict fits only the
            series that its checkpoint does not know.
        unfitted: per series, the message for a column without a value there (``check_fitted``).

    Raises:
        ForecastDataError: there are no training rows (of some series, scaled per series), or a column
            has no finite value on them (``fit_scaling``); under ``shard: series`` with per-series scalers,
            on every process alike where one process refuses its series (``check_read_shares``).
        ValueError: the scaler is no per-channel affine map, or (``shard: series``, one scaler of all
            series) not a ``StandardScaler`` or ``MinMaxScaler``.
    """
    if series is None:
        series, names = np.arange(len(table.names)), table.names
    else:
        names = [table.names[i] for i in series]
    starts = table.offsets[series]
    ends = starts + borders[series, 0]
    trained = np.flatnonzero(borders[series, 0] > 0)
    numbers = [table.statics[c][series][trained].astype(np.float64) for c in roles.static if c not in vocabularies]

    def fit(field: str, columns: list[str]) -> AffineScaling:
        # The values as read, whose missing ones (NaN, infinite) both fits leave out: a repair is no observation.
        scaler, key, values = getattr(scaling, field), f"data.scaling.{field}", [given[c] for c in columns]
        if scaling.per_series:
            return fit_scaling(
                scaler, values, starts, ends, names=columns, key=key, per_series=names, unfitted=unfitted
            )
        if sharded:
            return global_scaling(scaler, values, starts, ends, names=columns, key=key)
        return fit_scaling(scaler, values, starts, ends, names=columns, key=key)

    def dynamic() -> tuple[AffineScaling, AffineScaling]:
        return fit("scaler", roles.targets), fit("covariate_scaler", roles.past + roles.future)

    # Each process fits its own series' scalers under shard: series and per_series; where one refuses its series,
    # all refuse alike, before the statics are gathered.
    targets, covariates = alike(dynamic) if sharded and scaling.per_series else dynamic()
    return targets, covariates, _static_scaling(scaling.covariate_scaler, numbers, sharded)


def _static_scaling(scaler: Any, numbers: list[np.ndarray], sharded: bool) -> AffineScaling:
    """The scaling of the numeric statics by ``data.scaling.covariate_scaler``, fitted on their values (one per
    series with training rows, shape (N,) per column); under ``shard: series`` on those of every process, gathered:
    a value per series is little to send, and so any scaler fits them as one process reading all series would, also
    one that ``global_scaling`` cannot rebuild from sums (``RobustScaler``)."""
    if sharded:
        numbers = [np.concatenate(values) for values in zip(*gather_objects(numbers), strict=True)]
    count = len(numbers[0]) if numbers else 0
    return fit_scaling(scaler, numbers, np.arange(count), np.arange(count) + 1, key="data.scaling.covariate_scaler")


def warn_unscalable(
    table: SeriesTable,
    given: dict[str, np.ndarray],
    borders: np.ndarray,
    roles: Roles,
    targets: AffineScaling | None,
) -> None:
    """Warn of values as read that the scalers fitted on the training rows cannot scale well: a missing-value code
    among a column's values (``missing_codes``), and targets constant on a series' training rows
    (``constant_targets``), whose fitted scale (of ``targets``, the targets' scaling; ``None``: the data are not
    scaled, and then nothing is said of them) is no measure of their changes. Under ``shard: series``, of process
    zero's own series."""
    for column, code, rows, others in missing_codes(given, [*roles.targets, *roles.past, *roles.future]):
        warn_on_rank_zero(
            f"{table.where(int(rows[0]), column)} holds {code:g} (on {rows.size} rows), far outside the column's "
            f"other values ({others[0]:.4g} to {others[1]:.4g}): a code for a missing value? The scaler takes it for a "
            f"value; read it as missing (pandas.read_csv(..., na_values=[{code:g}]), or replace it with NaN) and "
            "choose data.nan_policy"
        )
    constant = constant_targets(table, given, borders, roles.targets) if targets is not None else []
    if not constant:
        return
    groups = len(targets.scale)  # one map of all series, or one per series
    listed = [
        f"{where(column=column, series=table.names[i] if table.named else None)} ({value:g}, scale "
        f"{targets.scale[i if groups > 1 else 0, roles.targets.index(column)]:g})"
        for i, column, value in constant[:10]
    ]
    more = f" and {len(constant) - 10} more" if len(constant) > 10 else ""
    warn_on_rank_zero(
        f"{'; '.join(listed)}{more}: the target is constant on its training rows, so its scaler learns no spread "
        "from them and its scale is no measure of its changes: its loss and scaled metrics on validation and test "
        "may outweigh the other targets'; move data.split so that training sees it change, or give it no target role"
    )


def missing_codes(
    given: dict[str, np.ndarray], columns: list[str]
) -> list[tuple[str, float, np.ndarray, tuple[float, float]]]:
    """Per column of ``columns`` and value of ``MISSING_CODES`` that it holds far outside its other finite values
    (further from their range than three times its width; any distance where they are constant): the column, the
    code, the rows of the table that hold it, and the range of the other values."""
    found = []
    for column in columns:
        values = given[column]
        coded = np.isin(values, MISSING_CODES)
        others = values[~coded & np.isfinite(values)]
        if not coded.any() or others.size == 0:
            continue
        low, high = float(others.min()), float(others.max())
        for code in np.unique(values[coded]).tolist():
            if code < low - 3 * (high - low) or code > high + 3 * (high - low):
                found.append((column, code, np.flatnonzero(values == code), (low, high)))
    return found


def constant_targets(
    table: SeriesTable, given: dict[str, np.ndarray], borders: np.ndarray, targets: list[str]
) -> list[tuple[int, str, float]]:
    """The series (index), target and value of every target whose finite values on a series' training rows are one
    value, given on at least two rows (one value alone is no sign of a constant)."""
    starts = table.offsets[:-1]
    training = np.arange(len(table.times)) - np.repeat(starts, table.lengths) < np.repeat(borders[:, 0], table.lengths)
    constant = []
    for column in targets:
        values = given[column]
        counted = training & np.isfinite(values)
        counts = np.add.reduceat(counted.astype(np.int64), starts)  # every series has rows: reduceat reads no empty run
        low = np.minimum.reduceat(np.where(counted, values, np.inf), starts)
        high = np.maximum.reduceat(np.where(counted, values, -np.inf), starts)
        for i in np.flatnonzero((counts >= 2) & (low == high)).tolist():
            constant.append((i, column, float(low[i])))
    return sorted(constant, key=lambda found: found[0])  # by series, each in the order of its targets
