"""Per-channel scaling fitted on training rows only, for all series at once or each series alone.

scikit-learn does the fitting; what it learned is kept as an affine map per group (one group for all
series, or one per series) and channel, as plain lists, so the state loads with
``torch.load(weights_only=True)`` and the inverse runs on tensors inside the model.
"""

import warnings
from collections.abc import Callable, Iterator

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.preprocessing import MinMaxScaler

from ..errors import ForecastDataError, where

__all__ = [
    "TRAINING_UNFITTED", "AffineScaling", "check_fitted", "check_scaler", "fit_scaling", "named_scaler",
    "series_chunks",
]  # fmt: skip

Scaler = Callable[[], TransformerMixin]

_CHUNK_CELLS = 1 << 22  # values handed to scikit-learn at once (32 MiB of float64)
_FAR = 2.0**30  # scaled values at which ``_affine`` reads the scale

# The message for a series whose channel has no value to fit its own scaler, where its rows are training rows.
TRAINING_UNFITTED = (
    "{column}, {series} has no value on its training rows to fit its own scaler; "
    "set data.scaling.per_series: false, or leave the series out"
)


class AffineScaling:
    """A fitted affine map per group and channel: ``scaled = (x - offset) / scale``.

    Args:
        scale: per group (one, or one per series) a factor per channel (original = scaled * scale + offset).
        offset: per group an offset per channel.
    """

    def __init__(self, scale: list[list[float]], offset: list[list[float]]):
        self.scale = np.asarray(scale, dtype=np.float64).reshape(len(scale), -1)
        self.offset = np.asarray(offset, dtype=np.float64).reshape(len(offset), -1)

    def transform(self, values: np.ndarray, group: int | np.ndarray = 0) -> np.ndarray:
        """Scale ``values`` of shape (rows, C) to float32, with the map of ``group`` (or one group per row)."""
        return ((values - self.offset[group]) / self.scale[group]).astype(np.float32)

    def channels(self, selection: slice) -> "AffineScaling":
        """The maps of some channels (the past covariates among all covariates)."""
        return AffineScaling(self.scale[:, selection].tolist(), self.offset[:, selection].tolist())

    def take(self, groups: np.ndarray) -> "AffineScaling":
        """The maps of ``groups``, in that order (a checkpoint's series in the data's order)."""
        return AffineScaling(self.scale[groups].tolist(), self.offset[groups].tolist())

    def state_dict(self) -> dict[str, list[list[float]]]:
        """Plain lists, for checkpoints."""
        return {"scale": self.scale.tolist(), "offset": self.offset.tolist()}


def fit_scaling(
    scaler: Scaler | None,
    columns: list[np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    per_series: list[str] | None = None,
    names: list[str] | None = None,
    unfitted: str = TRAINING_UNFITTED,
    key: str | None = None,
) -> AffineScaling:
    """Fit a scikit-learn scaler on the training rows of every series and keep its affine map.

    Args:
        scaler: a factory of a scikit-learn scaler (``StandardScaler``, ``MinMaxScaler``,
            ``RobustScaler``, ``MaxAbsScaler``), or ``None`` for no scaling.
        columns: the channels, each of shape (rows,), all series one after the other.
        starts: first training row of each series in ``columns``, shape (N,).
        ends: end (exclusive) of each series' training rows, shape (N,).
        per_series: the series' names to fit one map per series; ``None`` fits one map for all.
            Series are fitted side by side as the columns of one NaN-padded block, which
            scikit-learn's scalers ignore in ``fit``.
        names: the channels' names, for messages (``channel 0``, ... without them).
        unfitted: per series, the message for a channel without a finite value (``check_fitted``).
        key: the config key the scaler was given under (``data.scaling.scaler`` or
            ``data.scaling.covariate_scaler``), which a refusal of the scaler names; ``None``: "scaler".

    Missing values (NaN, and infinite ones, which are missing too) are left out of the fit, as
    scikit-learn's scalers leave out NaN: values a ``nan_policy`` would repair are no observations.

    Raises:
        ForecastDataError: there are no training rows (for some series, when per series), or a channel
            has no finite value on them.
        ValueError: the scaler makes no transformer with a way back (``LinearRegression``, ``Normalizer``), is not a
            per-channel affine map (``QuantileTransformer``, ``OneHotEncoder``), its transform does not undo its
            inverse (``MinMaxScaler(clip=True)``, a ``FunctionTransformer`` without ``inverse_func``), it maps values
            in reverse, or it is a ``MinMaxScaler`` whose ``feature_range`` does not rise; each names ``key``.
    """
    groups, num_channels = (1 if per_series is None else len(starts)), len(columns)
    if scaler is None or num_channels == 0:
        return AffineScaling(np.ones((groups, num_channels)).tolist(), np.zeros((groups, num_channels)).tolist())
    check_scaler(scaler(), key)
    rows = ends - starts
    if per_series is None:
        if rows.sum() == 0:
            raise ForecastDataError("no series has training rows; move the validation start later")
        scale, offset = _fit_all(scaler, columns, starts, ends, key)
        check_fitted(scale[None], names, None)
        return AffineScaling([scale.tolist()], [offset.tolist()])
    if (rows == 0).any():
        name = per_series[int(np.argmax(rows == 0))]
        raise ForecastDataError(
            f"{where(series=name)} has no training rows to fit its own scaler; "
            "set data.scaling.per_series: false, or leave the series out"
        )
    scale, offset = np.empty((groups, num_channels)), np.empty((groups, num_channels))
    order, shifted = np.argsort(rows, kind="stable"), hasattr(scaler(), "partial_fit") and _follows_shifts(scaler, key)
    for chunk in series_chunks(rows[order] * num_channels, _CHUNK_CELLS, ascending=True):
        series = order[chunk]
        block = np.full((rows[series].max(), len(series) * num_channels), np.nan)  # -> (T, N_chunk * C)
        for j, i in enumerate(series):
            for c, column in enumerate(columns):
                block[: rows[i], j * num_channels + c] = _finite(column[starts[i] : ends[i]])
        # Shifted as in ``_fit_channel``: scikit-learn's means come from sums, and a block's columns are summed row
        # after row, which kept fewer digits than the sum of one column (a mean off by 1.6e-3 of a spread 1 at 1e12).
        shift = _first_values(block) if shifted else np.zeros(block.shape[1])  # -> (N_chunk * C,)
        chunk_scale, chunk_offset = _affine(scaler().fit(block - shift), block.shape[1], key)
        chunk_offset = chunk_offset + shift
        scale[series], offset[series] = chunk_scale.reshape(-1, num_channels), chunk_offset.reshape(-1, num_channels)
    check_fitted(scale, names, per_series, unfitted)
    return AffineScaling(scale.tolist(), offset.tolist())


def _first_values(block: np.ndarray) -> np.ndarray:
    """The first value of each column of ``block`` that is not NaN; 0 for a column without one."""
    first = block[np.argmax(~np.isnan(block), axis=0), np.arange(block.shape[1])]
    return np.nan_to_num(first, nan=0.0)


def _finite(values: np.ndarray) -> np.ndarray:
    """``values`` as float64, NaN where not finite (scikit-learn leaves NaN out of a fit, and refuses infinity)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isfinite(values), values, np.nan)


def check_fitted(
    scale: np.ndarray, names: list[str] | None, series: list[str] | None, unfitted: str = TRAINING_UNFITTED
) -> None:
    """Refuse a map that could not be fitted: a channel without one finite training value (of a series).

    Args:
        scale: per group a factor per channel, NaN where unfitted, shape (groups, C).
        names: the channels' names (``channel 0``, ... without them).
        series: the groups' series, when fitted per series; ``None`` for one group of all series.
        unfitted: per series, the message, whose ``{column}`` and ``{series}`` name the place: the rows and
            the fix differ where the caller fits a series on other rows than training rows (predict, on the
            history of a series its checkpoint does not know).

    Raises:
        ForecastDataError: naming the channel, and the series when fitted per series.
    """
    missing = ~np.isfinite(scale)  # -> (groups, C)
    if not missing.any():
        return
    group, channel = (int(i) for i in np.argwhere(missing)[0])
    place = where(column=names[channel]) if names else f"channel {channel}"
    if series is None:
        raise ForecastDataError(
            f"{place} has no value on the training rows of any series to fit its scaler; give values there, or "
            "move the validation start later"
        )
    raise ForecastDataError(unfitted.format(column=place, series=where(series=series[group])))


def _fit_all(
    scaler: Scaler, columns: list[np.ndarray], starts: np.ndarray, ends: np.ndarray, key: str | None
) -> tuple[np.ndarray, np.ndarray]:
    """The scale and offset per channel of one scaler over the training rows of all series, NaN for a
    channel without a finite value there (``check_fitted`` names it).

    Where the training rows of one channel fit in one chunk, channels are fitted side by side as the columns of
    blocks of at most ``_CHUNK_CELLS`` values (scikit-learn's scalers leave a column's NaN out of ``fit``): one fit
    per block, not per channel, which a data set of thousands of channels waits on. Longer ones are fitted one
    channel at a time in chunks of rows, so that a chunk without a value of one channel can be left out of that
    channel's fit: scikit-learn's ``partial_fit`` takes a batch whose column is all NaN as NaN statistics.
    """
    shifted = hasattr(scaler(), "partial_fit") and _follows_shifts(scaler, key)
    rows = int((ends - starts).sum())
    if rows <= _CHUNK_CELLS:
        return _fit_blocks(scaler, columns, starts, ends, shifted, max(1, _CHUNK_CELLS // max(rows, 1)), key)
    scale, offset = np.full(len(columns), np.nan), np.full(len(columns), np.nan)
    for channel, column in enumerate(columns):
        fitted, shift = _fit_channel(scaler, column, starts, ends, shifted)
        if fitted is not None:
            (scale[channel],), (offset[channel],) = _affine(fitted, 1, key)
            offset[channel] += shift
    return scale, offset


def _fit_blocks(
    scaler: Scaler,
    columns: list[np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    shifted: bool,
    width: int,
    key: str | None,
) -> tuple[np.ndarray, np.ndarray]:
    """The scale and offset per channel, fitted on blocks of ``width`` channels side by side, each column less its
    first finite value where the scaler follows shifts (as in ``_fit_channel``)."""
    scale, offset = np.empty(len(columns)), np.empty(len(columns))
    for first in range(0, len(columns), width):
        block = _gather(columns[first : first + width], starts, ends)  # -> (rows, width)
        shift = _first_values(block) if shifted else np.zeros(block.shape[1])
        with warnings.catch_warnings():  # a channel without a finite value: NaN statistics, which check_fitted names
            warnings.simplefilter("ignore", RuntimeWarning)
            block_scale, block_offset = _affine(scaler().fit(block - shift), block.shape[1], key)
        scale[first : first + width], offset[first : first + width] = block_scale, block_offset + shift
    return scale, offset


def _fit_channel(
    scaler: Scaler, column: np.ndarray, starts: np.ndarray, ends: np.ndarray, shifted: bool
) -> tuple[TransformerMixin | None, float]:
    """One scaler over the rows ``[starts[i], ends[i])`` of one channel, in chunks (those with a finite value)
    when it can ``partial_fit``, and the shift its offset takes; ``None`` where the channel has no finite value.

    scikit-learn's mean, and its merge of the chunks' variances, come from sums, which keep only the digits
    of the spread that the level leaves (9 million rows at a level of 1e9 with a spread of 1 moved the scale
    by 5e-4): a scaler whose map follows a shift of the data is fitted on the values less the first one, and
    its offset is that value more (``shifted``: whether ``scaler`` follows shifts, ``_follows_shifts``).
    """
    fitted = scaler()
    if not hasattr(fitted, "partial_fit"):
        values = _gather([column], starts, ends)
        return (fitted.fit(values) if np.isfinite(values).any() else None), 0.0
    starts, ends = _split_ranges(starts, ends, _CHUNK_CELLS)
    shift = None
    for chunk in series_chunks(ends - starts, _CHUNK_CELLS):
        values = _gather([column], starts[chunk], ends[chunk])  # -> (rows, 1)
        finite = values[np.isfinite(values)]
        if not len(finite):
            continue
        if shift is None:
            shift = float(finite[0]) if shifted else 0.0
        fitted.partial_fit(values - shift)
    return (None, 0.0) if shift is None else (fitted, shift)


def _follows_shifts(scaler: Scaler, key: str | None) -> bool:
    """Whether ``scaler`` fitted on values 8 higher has the same scale and an offset 8 higher
    (``StandardScaler``, ``MinMaxScaler``; not ``MaxAbsScaler`` or ``StandardScaler(with_mean=False)``)."""
    probe = np.array([[0.0], [1.0], [2.0], [4.0]])
    (scale, offset), (shifted_scale, shifted_offset) = (
        _affine(scaler().fit(probe + level), 1, key) for level in (0, 8)
    )
    return bool(np.allclose(shifted_scale, scale) and np.allclose(shifted_offset - offset, 8.0))


def _split_ranges(starts: np.ndarray, ends: np.ndarray, max_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """The same rows as ranges of at most ``max_rows`` rows, so that one long series comes in pieces too."""
    pieces = np.maximum(1, -(-(ends - starts) // max_rows))
    owner = np.repeat(np.arange(len(starts)), pieces)
    step = np.arange(len(owner)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    piece_starts = starts[owner] + step * max_rows
    return piece_starts, np.minimum(piece_starts + max_rows, ends[owner])


def _gather(columns: list[np.ndarray], starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The rows ``[starts[i], ends[i])`` of every series, stacked, shape (rows, C)."""
    pieces = [np.concatenate([column[s:e] for s, e in zip(starts, ends, strict=True)]) for column in columns]
    return _finite(np.stack(pieces, axis=1))


def series_chunks(cells: np.ndarray, limit: int, ascending: bool = False) -> Iterator[slice]:
    """Consecutive runs of series of at most ``limit`` values in all (a larger series is a run alone).

    With ``ascending`` sizes, a run counts as padded to the size of its last series.
    """
    start, total = 0, 0
    for i, size in enumerate(cells.tolist()):
        grown = (i - start + 1) * size if ascending else total + size
        if i > start and grown > limit:
            yield slice(start, i)
            start, grown = i, size
        total = grown
    yield slice(start, len(cells))


def check_scaler(made: object, key: str | None) -> None:
    """Refuse a scaler factory that makes no scikit-learn transformer with a way back (a model such as
    ``LinearRegression``, whose ``fit`` needs targets; ``Normalizer``, which scales rows, not channels, and has no
    ``inverse_transform``), or a ``MinMaxScaler`` whose ``feature_range`` does not rise (scikit-learn's own ``fit``
    would refuse it naming neither the scaler nor ``key``), before it is fitted.

    Raises:
        ValueError: naming ``key``, what it made, and the fix.
    """
    missing = [
        method for method in ("fit", "transform", "inverse_transform") if not callable(getattr(made, method, None))
    ]
    if missing:
        raise ValueError(
            f"{named_scaler(made, key)} has no {' or '.join(missing)}, which a scaler needs to scale the data and the "
            "model to report original units; use StandardScaler, MinMaxScaler, RobustScaler or MaxAbsScaler"
        )
    if isinstance(made, MinMaxScaler) and not made.feature_range[0] < made.feature_range[1]:
        raise ValueError(
            f"{named_scaler(made, key)}'s feature_range {made.feature_range} must run from a smaller to a larger "
            "value; give one such as (0, 1)"
        )


def named_scaler(made: object, key: str | None) -> str:
    """A scaler in a message: its class, after the config key it was given under (``scaler`` without one)."""
    return f"{key}: {type(made).__name__}" if key else f"scaler {type(made).__name__}"


def _affine(fitted: TransformerMixin, num_columns: int, key: str | None) -> tuple[np.ndarray, np.ndarray]:
    """The scale and offset per column of a fitted scaler, checked to be an affine map (refusals name ``key``, the
    config key it was given under)."""
    probe = np.repeat(np.array([[0.0], [1.0], [2.0]]), num_columns, axis=1)
    try:
        zero, one, two = fitted.inverse_transform(probe)
    except ValueError as error:  # OneHotEncoder: other columns than it was given; SimpleImputer: no way back
        raise ValueError(
            f"{named_scaler(fitted, key)} cannot map scaled values back ({error}), so it is no per-channel affine "
            "map, which the model needs to report original units; use StandardScaler, MinMaxScaler, RobustScaler or "
            "MaxAbsScaler"
        ) from error
    fitted_columns = np.isfinite(zero) & np.isfinite(one)  # NaN: a column without values (``check_fitted``)
    zero_size = np.abs(zero[fitted_columns]).max(initial=0.0)
    if not np.allclose(two, 2 * one - zero, rtol=1e-6, atol=1e-9 * (zero_size + 1), equal_nan=True):
        raise ValueError(
            f"{named_scaler(fitted, key)} is not a per-channel affine map, which the model needs to "
            "report original units; use StandardScaler, MinMaxScaler, RobustScaler or MaxAbsScaler"
        )
    # The scale read far from the offset: ``one - zero`` keeps only the digits of the scale that the
    # offset leaves (a level of 1e12 with a spread of 1 keeps 4 digits of it; this, all of them).
    far = np.full((2, num_columns), _FAR)
    far[0] *= -1
    low, high = fitted.inverse_transform(far)
    # The model scales every row with this map, never with ``transform``: a transform that does not undo the
    # inverse would have scaled them otherwise (``MinMaxScaler(clip=True)`` clips rows outside the training
    # range; a ``FunctionTransformer`` without ``inverse_func`` has the identity as its inverse).
    with np.errstate(all="ignore"):  # a func such as log1p warns of the far negative probe
        back = fitted.transform(np.stack([low, high]))[:, fitted_columns]
    if not np.allclose(back, far[:, fitted_columns], rtol=1e-6):
        raise ValueError(
            f"{named_scaler(fitted, key)}'s transform does not undo its inverse_transform (MinMaxScaler(clip=True) "
            "clips rows outside the training range; a FunctionTransformer needs the inverse_func of its func), so it "
            "is no per-channel affine map, which the model needs to report original units; use StandardScaler, "
            "MinMaxScaler, RobustScaler or MaxAbsScaler"
        )
    scale = (high - low) / (2 * _FAR)
    if (scale[fitted_columns] < 0).any():  # a mirrored map: the quantile of level q would come back as that of 1 - q
        raise ValueError(
            f"{named_scaler(fitted, key)} maps values in reverse (a negative scale), which turns a forecast's lower "
            "quantiles into its upper ones in original units; use StandardScaler, MinMaxScaler, RobustScaler or "
            "MaxAbsScaler"
        )
    return scale, zero
