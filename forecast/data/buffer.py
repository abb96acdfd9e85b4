"""All series in one float32 array, scaled, series after series; and the static features per series.

Channels: targets, past covariates, future covariates, calendar features. With future channels, every
series is followed by ``horizon`` rows (its future-only rows where given, NaN past channels) so that a
forecast beyond the data finds its future covariates in the same array. Rows are copied in chunks of
series, so no more than a chunk of float64 exists beside the buffer.
"""

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from ..errors import ForecastDataError
from .calendar import CalendarEncoding, calendar_columns, calendar_features, fixed_step, series_steps, step_times
from .frames import Roles, SeriesTable
from .scaling import AffineScaling, series_chunks

__all__ = [
    "SeriesBuffer",
    "build_buffer",
    "naive_scale",
    "ranges",
    "season_means",
    "static_vocabularies",
    "encode_statics",
]

_CHUNK_CELLS = 1 << 20  # values copied at once (8 MiB of float64; the row indices take four times that)


@dataclass
class SeriesBuffer:
    """The scaled series of all series in one array.

    Args:
        values: channels ``[targets | past covariates | future covariates | calendar]``, shape (rows, C).
        offsets: first row of each series, shape (N,).
        future_rows: rows of future covariates each series has after its last observed row, shape (N,).
        observed: which target values were in the data, shape (rows, C_out) bool; ``None`` when no
            missing target was repaired (``nan_policy``), so that every target was.
    """

    values: torch.Tensor
    offsets: np.ndarray
    future_rows: np.ndarray
    observed: torch.Tensor | None = None


def build_buffer(
    table: SeriesTable,
    roles: Roles,
    scalings: tuple[AffineScaling, AffineScaling],
    calendar: tuple[list[str], CalendarEncoding],
    freq: str,
    pad: int,
    unrepaired: dict[str, np.ndarray] | None = None,
) -> SeriesBuffer:
    """Scale the table's columns into one float32 array.

    Args:
        table: the validated series.
        roles: the columns' roles; targets, past and future covariates fill the first channels in order.
        scalings: the target scaling and the covariate scaling (one group, or one per series).
        calendar: the calendar features and their encoding, computed from the times.
        freq: the series' frequency, to extend the times over the ``pad`` rows.
        pad: rows after each series' last observed row (``horizon`` when there are future channels).
        unrepaired: the table's columns before missing values were repaired: where a target is missing
            there, ``observed`` says so.

    Raises:
        ForecastDataError: a value that scaling takes beyond the float32 range, naming it.
    """
    features, encoding = calendar
    capacity = table.observed + pad
    offsets = np.concatenate([[0], np.cumsum(capacity)])
    given = np.minimum(table.lengths, capacity)  # future covariates exist on the future-only rows given
    past = len(roles.past)  # the covariate scaling maps past covariates first, then future ones
    groups = [
        (roles.targets, scalings[0], table.observed),
        (roles.past, scalings[1].channels(slice(0, past)), table.observed),
        (roles.future, scalings[1].channels(slice(past, None)), given),
    ]
    width = len(roles.dynamic) + len(calendar_columns(features, encoding))
    values = np.full((offsets[-1], width), np.nan, dtype=np.float32)
    for chunk in series_chunks(capacity * width, _CHUNK_CELLS):
        series = np.arange(chunk.start, chunk.stop)
        channel = 0
        for columns, scaling, rows in groups:
            source = ranges(table.offsets[series], rows[series])
            target = ranges(offsets[series], rows[series])
            group = np.repeat(series, rows[series]) if len(scaling.scale) > 1 else 0
            block = np.stack([table.values[column][source] for column in columns], axis=1) if columns else None
            if block is not None:
                with np.errstate(over="ignore"):  # a value cast to inf, which _check_scaled names
                    scaled = scaling.transform(block, group)
                _check_scaled(block, scaled, columns, source, table)
                values[target, channel : channel + len(columns)] = scaled
            channel += len(columns)
        if features:
            times = _calendar_times(table, series, capacity[series], freq)
            values[offsets[chunk.start] : offsets[chunk.stop], channel:] = calendar_features(
                times, features, encoding, freq
            )
    observed = None
    if unrepaired is not None:  # the targets as read, on each series' rows with targets
        source = ranges(table.offsets[:-1], table.observed)
        finite = np.stack([np.isfinite(unrepaired[column][source]) for column in roles.targets], axis=1)
        if not finite.all():
            observed = torch.zeros(offsets[-1], len(roles.targets), dtype=torch.bool)  # none past the targets
            observed[ranges(offsets[:-1], table.observed)] = torch.from_numpy(finite)
    return SeriesBuffer(torch.from_numpy(values), offsets[:-1], given - table.observed, observed)


def _check_scaled(
    block: np.ndarray, scaled: np.ndarray, columns: list[str], source: np.ndarray, table: SeriesTable
) -> None:
    """Refuse values within the float32 range that scaling takes beyond it: stored as infinite, they would
    make the loss and the forecasts of every window that reads them infinite or NaN.

    Args:
        block: the table's values of ``columns``, shape (rows, C), from table rows ``source``.
        scaled: ``block`` scaled, float32.

    Raises:
        ForecastDataError: naming the value, its column, series, row and time, and the fix.
    """
    beyond = np.isinf(scaled) & np.isfinite(block)
    if beyond.any():
        row, channel = np.argwhere(beyond)[0]
        raise ForecastDataError(
            f"value {block[row, channel]:g} at {table.where(int(source[row]), columns[channel])} is beyond the "
            "float32 range (3.4e38) that series are stored in once scaled by the scaler fitted on the training "
            "rows, which lie much closer together than to it; rescale the column (or fix the value)"
        )


def _calendar_times(table: SeriesTable, series: np.ndarray, counts: np.ndarray, freq: str) -> pd.DatetimeIndex:
    """The times of the first ``counts[i]`` steps of each of the ``series``, series after series, on the
    series' own wall clock (rows past its end included).

    Stepped from each series' first time, they are its own times, except in calendar steps in a time zone
    for a series that starts on the row after a daylight-saving gap: that row is stored at the end of the
    gap (01:00 for a skipped midnight), and only the series' later times tell whether its days are at
    midnight or at 01:00, which ``series_steps`` reads for the series whose stepped times miss their own.
    """
    starts = table.times[table.offsets[series]]
    times = step_times(starts, counts, freq)
    if fixed_step(pd.tseries.frequencies.to_offset(freq), starts) is not None:
        return times
    rows = np.minimum(table.lengths[series], counts)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    own = table.times[ranges(table.offsets[series], rows)]
    missed = set(np.repeat(series, rows)[own != times[ranges(bounds[:-1], rows)]].tolist())
    if not missed:
        return times
    pieces = [
        series_steps(table.times[table.offsets[i] : table.offsets[i + 1]], freq, count=count)
        if i in missed
        else times[start:end]
        for i, count, start, end in zip(series.tolist(), counts.tolist(), bounds[:-1], bounds[1:], strict=True)
    ]
    return pieces[0].append(pieces[1:])


def naive_scale(buffer: SeriesBuffer, train_rows: np.ndarray, targets: int, seasonal_period: int) -> torch.Tensor:
    """Each series' in-sample seasonal-naive MAE per target on the scaled data: the scale of MASE.

    The mean of ``|y[t] - y[t - m]|`` over the training rows of each series (Hyndman and Koehler,
    "Another look at measures of forecast accuracy", 2006, Section 3.4), over the pairs whose two values
    were both in the data (``buffer.observed``): a repaired target (``nan_policy``) is no observation, and
    a forward fill or zeros would shrink or swell the scale. NaN, no scale, for a series with no such
    pair (no more training rows than ``m``), or whose training targets do not change over ``m`` steps (a
    scale of 0, which would make its MASE infinite); ``validate.check_naive_scale`` says which.

    Shapes:
        train_rows: (N,) -> (N, C_out)

    Example:
        >>> import numpy as np, torch
        >>> values = torch.tensor([[0.0], [1.0], [3.0], [10.0], [10.0], [14.0], [5.0]])
        >>> buffer = SeriesBuffer(values, offsets=np.array([0, 3, 6]), future_rows=np.zeros(3, dtype=int))
        >>> naive_scale(buffer, np.array([3, 2, 1]), targets=1, seasonal_period=1)
        tensor([[1.5000],
                [   nan],
                [   nan]])
    """
    scales = []
    for offset, end in zip(buffer.offsets.tolist(), train_rows.tolist(), strict=True):
        train = buffer.values[offset : offset + end, :targets].double()  # -> (T, C_out)
        given = _given_targets(buffer, offset, end, targets)  # -> (T, C_out)
        change = (train[seasonal_period:] - train[:-seasonal_period]).abs()  # -> (T - m, C_out)
        change = change.where(given[seasonal_period:] & given[:-seasonal_period], torch.nan)  # pairs of given values
        scales.append(change.nanmean(0))  # -> (C_out,), NaN if no pair
    scale = torch.stack(scales)  # -> (N, C_out)
    # A flat history has no scale: 0 would make every error of its series an infinite (clamped: huge) MASE.
    return scale.where(scale > 0, torch.nan).float()


def _given_targets(buffer: SeriesBuffer, offset: int, rows: int, targets: int) -> torch.Tensor:
    """Which of the ``rows`` target rows from ``offset`` were in the data (``buffer.observed``), not repaired:
    (rows, C_out) bool, all true where nothing was repaired."""
    if buffer.observed is None:
        return torch.ones(rows, targets, dtype=torch.bool)
    return buffer.observed[offset : offset + rows]


def season_means(buffer: SeriesBuffer, train_rows: np.ndarray, targets: int, channel: int, period: int) -> torch.Tensor:
    """Each target's mean at each position in the season over the training rows of all series, less its
    mean over the positions: the data's seasonal profile on the scaled data, 0 where a position never occurs.
    Only the values that were in the data count (``buffer.observed``): a repaired one is no observation.

    Args:
        buffer: the scaled series; ``channel`` holds each row's position in the season.
        train_rows: (N,) training rows at the start of each series.
        targets: C_out, the target channels (first in the buffer).
        channel: the buffer channel of the positions (the calendar feature ``season``, integer encoding).
        period: steps of the season.

    Shapes:
        -> (period, C_out)

    Example:
        >>> import numpy as np, torch
        >>> values = torch.tensor([[1.0, 0.0], [3.0, 1.0], [2.0, 0.0], [9.0, 1.0], [5.0, 0.0]])
        >>> buffer = SeriesBuffer(values, offsets=np.array([0, 3]), future_rows=np.zeros(2, dtype=int))
        >>> season_means(buffer, np.array([2, 2]), targets=1, channel=1, period=2)
        tensor([[-1.5000],
                [ 1.5000]])
    """
    sums, counts = (torch.zeros(period, targets, dtype=torch.float64) for _ in range(2))
    for offset, end in zip(buffer.offsets.tolist(), train_rows.tolist(), strict=True):
        rows = buffer.values[offset : offset + end]  # -> (T, C)
        positions = rows[:, channel].long()  # -> (T,)
        given = _given_targets(buffer, offset, end, targets)  # -> (T, C_out)
        sums.index_add_(0, positions, rows[:, :targets].double().where(given, 0.0))
        counts.index_add_(0, positions, given.double())
    seen = counts > 0  # -> (period, C_out)
    means = sums / counts.clamp(min=1)
    centre = means.where(seen, 0.0).sum(0) / seen.sum(0).clamp(min=1)  # -> (C_out,) the mean over positions seen
    return torch.where(seen, means - centre, 0.0).float()


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The rows ``starts[i] + k`` for ``k < counts[i]``, series after series."""
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(starts, counts) + np.arange(counts.sum()) - first


def static_vocabularies(categories: dict[str, Iterable]) -> dict[str, list[str]]:
    """The sorted categories, as text, of each categorical static column (its value per series)."""
    return {column: sorted({str(value) for value in values}) for column, values in categories.items()}


def encode_statics(table: SeriesTable, vocabularies: dict[str, list[str]], scaling: AffineScaling) -> torch.Tensor:
    """Static features per series: numbers scaled by ``scaling``, categories as their index in the vocabulary.

    Args:
        table: the series and their static values.
        vocabularies: the sorted categories of each categorical static column (a checkpoint's at predict).
        scaling: one affine map over the numeric static columns, in column order.

    Shapes:
        -> (N, S)

    Raises:
        ForecastDataError: a series has a category the vocabulary (of a checkpoint) does not know, or a number
            that scaling takes beyond the float32 range.
    """
    channels, numbers = [], []
    for channel, (column, values) in enumerate(table.statics.items()):
        if column not in vocabularies:
            channels.append(values.astype(np.float64))
            numbers.append(channel)
            continue
        index = {category: position for position, category in enumerate(vocabularies[column])}
        codes = [index.get(str(value), -1) for value in values]
        if -1 in codes:
            series = table.names[codes.index(-1)]
            raise ForecastDataError(
                f"static covariate {column!r} of series {series!r} is {str(values[codes.index(-1)])!r}, a category "
                f"the model was not trained on (it knows {vocabularies[column][:10]}); map it to a known one"
            )
        channels.append(np.asarray(codes, dtype=np.float64))
    stacked = np.stack(channels, axis=1) if channels else np.empty((len(table.names), 0))
    with np.errstate(over="ignore"):  # a value cast to inf, named below
        scaled = scaling.transform(stacked[:, numbers])
    beyond = np.isinf(scaled) & np.isfinite(stacked[:, numbers])  # values within float32, scaled beyond it
    if beyond.any():
        series, channel = np.argwhere(beyond)[0]
        raise ForecastDataError(
            f"static covariate {list(table.statics)[numbers[channel]]!r} of series {table.names[series]!r} is "
            f"{stacked[series, numbers[channel]]:g}, beyond the float32 range (3.4e38) of features once scaled by "
            "the scaler fitted on the series with training rows, whose values lie much closer together than to it; "
            "rescale the column (or fix the value)"
        )
    stacked[:, numbers] = scaled
    return torch.from_numpy(stacked.astype(np.float32))
