"""Sharded training data: under DDP each process reads, checks and buffers only its share of the series.

``data.shard: series`` assigns every series to one process, balanced by rows, and such that every
process holds windows of each split part that the series have, of training windows those that training keeps
(with an observed target: ``parts.kept_counts``), or where the deal cannot, such that processes lack test windows
rather than validation windows, and those rather than training windows (``assign_shards``); a process then reads
only its series (Parquet: only their rows, through pyarrow's filters; CSV or a DataFrame: filtered
after reading). A scaler fitted on all series (``scaling.per_series: false``) is rebuilt from
sufficient statistics reduced over the processes (minima, sums, maxima), so it equals the scaler of one
process that read everything; the numeric statics, one value per series, are gathered and fitted by any scaler
alike (``scaled.fit_scalings``); per-series scalers stay local (where one process refuses its series' scalers,
every process refuses alike: ``check_read_shares``). Each process samples windows only from its series, and
every process takes as many training steps (the shorter shares repeat windows, as torch's
``DistributedSampler`` pads); the evaluation metrics are torchmetrics', synced over all windows.
Predicting reads all series (``data.shard: none``), whose windows Lightning deals out to the processes
(``check_predict_shares``).
"""

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torch.distributed as dist
from sklearn.base import TransformerMixin
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from torch.utils.data import DistributedSampler

from ..errors import ForecastDataError
from .covers import best_cover
from .files import is_long
from .frames import id_names, series_ids
from .options import Columns
from .sampling import seeded_generator
from .scaling import AffineScaling, check_fitted, check_scaler, named_scaler
from .sources import read_source

T = TypeVar("T")  # what a run that every process makes returns

__all__ = [
    "alike", "series_index", "assign_shards", "check_shares", "check_read_shares", "check_predict_shares",
    "global_scaling", "gather_objects", "merge_states", "ShardSampler", "world",
]  # fmt: skip


def world() -> tuple[int, int]:
    """This process's rank and the number of processes (0, 1 outside distributed training)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def series_index(source: str | Path | pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """One row per series of long data: its id (as text), its rows, and its static columns' values.

    Of a Parquet file only the id and static columns are read, and counted by pyarrow without a
    Python object per row; of a CSV file the id, time and static columns.

    Raises:
        ForecastDataError: the data are wide (one series): there is nothing to shard.
    """
    id_column, statics = columns.id_column, list(columns.static_covariates or [])
    path = Path(source).expanduser() if isinstance(source, (str, Path)) else None
    if path is not None and path.suffix.lower() == ".parquet" and path.is_file():
        if {id_column, *statics} <= set(pq.read_schema(path).names):  # else read_source names what it lacks
            table = _as_read(pq.read_table(path, columns=[id_column, *statics]), id_column)
            aggregates = [(id_column, "count"), *((column, "first") for column in statics)]
            counted = table.group_by(id_column, use_threads=False).aggregate(aggregates)
            index = counted.to_pandas().rename(columns={id_column: "id", f"{id_column}_count": "rows"})
            index = index.rename(columns={f"{column}_first": column for column in statics})
            index["id"] = id_names(index["id"])
            return index.sort_values("id", ignore_index=True)[["id", *statics, "rows"]]
    frame, _ = read_source(source, id_column, columns.time_column, statics)
    if not is_long(frame, id_column):
        raise ForecastDataError(
            f"data.shard: series shards long data by its {id_column!r} column, but the data have none "
            "(wide data are one series); set data.shard: none, or data.columns.id_column"
        )
    ids = series_ids(frame, id_column)
    grouped = frame[list(statics)].groupby(ids.to_numpy(), sort=True)
    index = grouped.first() if statics else pd.DataFrame(index=grouped.size().index)
    return index.assign(rows=grouped.size()).rename_axis("id").reset_index()


def _as_read(table: pa.Table, id_column: str) -> pa.Table:
    """A Parquet file's id and static columns, of the values that training reads (``files.read_file``), in types
    that pyarrow groups and aggregates: a dictionary (category) column as its values, and a decimal column other
    than the ids as doubles (pyarrow's ``first`` takes no decimal column)."""
    for i, field in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_decimal(column.type) and field.name != id_column:
            column = column.cast(pa.float64())
        table = table.set_column(i, field.name, column)
    return table


def assign_shards(ids: list[str], rows: np.ndarray, world_size: int, parts: np.ndarray | None = None) -> np.ndarray:
    """The process of each series: longest first (ties by id) to the process with the fewest rows so far.

    With ``parts``, whether each series has windows of each split part, shape (N, P), each process in
    turn first takes series until it has windows of every part that a series left has, or as many series
    are left as processes after it: each time the series with windows of the most parts it lacks, then of
    the fewest it has (those are left to the processes after it), then the longest. A process without
    windows of a part could not train or evaluate on it alongside the others (``check_shares``, which
    names the part); a process without series could not read any.

    The same ids and rows (and parts) give the same shards for a given number of processes, whatever
    the order of the data, so a resumed run reads the same series in every process. Where that still leaves a
    process without windows of a part, series are swapped between processes while that helps, and where that
    cannot give every process every part, while it leaves processes lacking test windows rather than validation
    windows, and those rather than training windows (``_fill_lacking``). Where the swaps fall short of the deal
    that gives every process the most parts in that order, an exact search deals the series anew (``_deal_exactly``).

    Raises:
        ForecastDataError: fewer series than processes.

    Example:
        >>> assign_shards(["a", "b", "c", "d"], np.array([10, 40, 30, 20]), 2).tolist()
        [0, 0, 1, 1]
        >>> assign_shards(["a", "b", "c", "d"], np.array([10, 40, 30, 20]), 2, np.array([[1], [1], [0], [0]])).tolist()
        [1, 0, 1, 0]
    """
    if len(ids) < world_size:
        raise ForecastDataError(
            f"data.shard: series gives each of {world_size} processes its own series, but the data have "
            f"{len(ids)}; use fewer devices, or data.shard: none"
        )
    order = sorted(range(len(ids)), key=lambda i: (-int(rows[i]), ids[i]))
    loads, ranks = np.zeros(world_size, dtype=np.int64), np.full(len(ids), -1, dtype=np.int64)
    for rank in range(world_size) if parts is not None else ():
        while True:
            free = [i for i in order if ranks[i] < 0]
            if len(free) < world_size - rank:  # one left for each process after this one, which reads its own
                break
            held = parts[ranks == rank].any(0)
            lacking = parts[free].any(0) & ~held
            if not lacking.any():
                break
            i = max(free, key=lambda i: (int((parts[i] & lacking).sum()), -int((parts[i] & held).sum())))
            ranks[i], loads[rank] = rank, loads[rank] + rows[i]
    for i in order:
        if ranks[i] < 0:
            rank = int(np.argmin(loads))  # the lowest rank among the least loaded
            ranks[i], loads[rank] = rank, loads[rank] + rows[i]
    if parts is not None:
        _fill_lacking(ranks, rows, np.asarray(parts, dtype=bool), world_size, np.asarray(order))
        _deal_exactly(ranks, rows, np.asarray(parts, dtype=bool), world_size, np.asarray(order))
    return ranks


def _fill_lacking(ranks: np.ndarray, rows: np.ndarray, parts: np.ndarray, world_size: int, order: np.ndarray) -> None:
    """Swap two series between processes, or move one, while that leaves fewer parts that some process lacks
    windows of (and no process without series): each time the change that leaves the fewest, a swap before a
    move (``_change`` picks the series). Where some process still lacks one, changes go on while they leave
    processes lacking later parts of ``parts`` rather than earlier ones (``_in_order``): test windows rather than
    validation windows, and those rather than training windows. The fewest come first so that where they give
    every process every part, the deal is theirs whatever the order of the parts.

    Taking series in turn can leave a process lacking a part that a swap gives it: of a, d, b and c (longest
    first) with windows of (train, val), (val, test), (train, test) and train alone, process 0 takes a and d,
    and b and c lack val; a swap of d and b gives both processes all three. Where no deal gives every process
    every part, the fewest lacking parts can still be the wrong ones: of (val, test), (train, test) and
    (train, val) on two processes, {(train, val)} and {(val, test), (train, test)} leave one process without test
    windows, and ``fit`` runs; {(val, test)} and the others leave one without training windows, and it cannot.
    Changes ``ranks`` in place; where no change helps, ``check_shares`` names what is lacking.
    """
    for lack in (_fewest, _in_order):
        _change_while_better(ranks, rows, parts, world_size, order, lack)


def _deal_exactly(ranks: np.ndarray, rows: np.ndarray, parts: np.ndarray, world_size: int, order: np.ndarray) -> None:
    """Deal the series anew where the swaps (``_fill_lacking``) left some process lacking a part that an exact search
    gives every process, preferring training windows, then validation windows, then test windows (``best_cover``):
    each process first takes a group of series that gives it those (of each kind the longest left, ties by id), then
    the series left go longest first to the process with the fewest rows so far, and the swaps that leave fewer parts
    lacking follow. Changes ``ranks`` in place; a deal the swaps completed is kept, as is one where the search runs
    out of its budget."""
    wanted = parts.any(0)
    held = _held_everywhere(ranks, parts, world_size)
    if held.tolist() == wanted.tolist():
        return
    found = best_cover(parts, world_size)
    if found is None or (found[0] | ~wanted).tolist() <= (held | ~wanted).tolist():
        return
    target, groups = found
    ranks[:], loads = -1, np.zeros(world_size, dtype=np.int64)
    for rank, group in enumerate(groups):
        for kind in group:
            i = next(i for i in order if ranks[i] < 0 and tuple(parts[i, target].tolist()) == kind)
            ranks[i], loads[rank] = rank, loads[rank] + rows[i]
    for i in order:
        if ranks[i] < 0:
            rank = int(np.argmin(loads))
            ranks[i], loads[rank] = rank, loads[rank] + rows[i]
    _change_while_better(ranks, rows, parts, world_size, order, _in_order)


def _held_everywhere(ranks: np.ndarray, parts: np.ndarray, world_size: int) -> np.ndarray:
    """Per part, whether every process has windows of it: (P,)."""
    return np.stack([parts[ranks == rank].any(0) for rank in range(world_size)]).all(0)


def _fewest(lacking: np.ndarray) -> tuple[int, ...]:
    """How many parts the processes lack windows of, from ``lacking`` (W, P): whether each process lacks each."""
    return (int(lacking.sum()),)


def _in_order(lacking: np.ndarray) -> tuple[int, ...]:
    """Whether some process lacks windows of each part, in the order of ``parts`` (train, val, test), then how many
    parts the processes lack, from ``lacking`` (W, P): ``fit`` needs training and validation windows on every
    process, ``validate`` validation windows and ``test`` test windows (``TimeSeriesDataModule.setup``), so where
    some process must lack a part, test windows are the ones to leave out, and then validation windows."""
    return (*lacking.any(0).astype(int).tolist(), int(lacking.sum()))


def _change_while_better(
    ranks: np.ndarray,
    rows: np.ndarray,
    parts: np.ndarray,
    world_size: int,
    order: np.ndarray,
    lack: Callable[[np.ndarray], tuple[int, ...]],
) -> None:
    """Swap two series between processes, or move one, while that lowers the ``lack`` of the processes (of whether
    each process lacks windows of each part, (W, P); tuples compare in order): each time the change that lowers it
    most, a swap before a move (``_fill_lacking``)."""
    wanted = parts.any(0)  # -> (P,)
    while True:
        counts = np.stack([parts[ranks == rank].sum(0) for rank in range(world_size)])  # -> (W, P)
        lacking = (counts == 0) & wanted  # -> (W, P)
        if not lacking.any():
            return
        kinds = sorted({(int(rank), tuple(held.tolist())) for rank, held in zip(ranks, parts, strict=True)})
        moves = [(rank, None) for rank in range(world_size)]
        best, fewest = None, lack(lacking)
        for (a, x), (b, y) in ((one, other) for one in kinds for other in [*kinds, *moves]):
            if a == b or (y is None and (ranks == a).sum() == 1):  # a process keeps one series at least
                continue
            change = np.asarray(x, dtype=np.int64) - np.asarray(y or np.zeros_like(x), dtype=np.int64)
            after = lacking.copy()
            after[a], after[b] = (counts[a] - change == 0) & wanted, (counts[b] + change == 0) & wanted
            left = lack(after)
            if left < fewest or (left == fewest and best is not None and best[3] is None and y is not None):
                best, fewest = (a, x, b, y), left
        if best is None:
            return
        _change(ranks, rows, parts, order, *best)


def _change(
    ranks: np.ndarray, rows: np.ndarray, parts: np.ndarray, order: np.ndarray, a: int, x: tuple, b: int, y: tuple | None
) -> None:
    """Give process ``b`` the shortest series of ``a`` with windows of parts ``x`` and, unless ``y`` is ``None``,
    process ``a`` the series of ``b`` with windows of parts ``y`` closest to it in rows, so that the loads stay
    near; ties go by ``order`` (longest first, then by id), whatever the order of the data: of equally short
    series of ``a`` the last in it, of equally close ones of ``b`` the first."""
    ones = order[(ranks[order] == a) & (parts[order] == np.asarray(x)).all(1)]  # longest first
    ranks[ones[-1]] = b
    if y is not None:
        others = order[(ranks[order] == b) & (parts[order] == np.asarray(y)).all(1) & (order != ones[-1])]
        ranks[others[np.argmin(np.abs(rows[others] - rows[ones[-1]]))]] = a


def check_shares(part: str, series: list[int]) -> None:
    """Refuse shares of which some have windows of ``part`` and some none, on every process alike.

    A process without a batch of a pass cannot take part in it (Lightning refuses an empty loader on
    one process; the others would wait for it at each step and at the metrics' sync). Where no
    share has any, the data are at fault, which the part's own check says.

    Args:
        part: ``train``, ``val`` or ``test``.
        series: per process, its series with windows of ``part``.

    Raises:
        ForecastDataError: naming the processes without one, the series with windows of ``part``, and the fix.
    """
    total, size = sum(series), len(series)
    empty = [rank for rank, count in enumerate(series) if count == 0]
    if not total or not empty:
        return
    which = f"process{'es' if len(empty) > 1 else ''} {', '.join(map(str, empty))}"
    if total < size:
        reason = f"only {total} series {'has' if total == 1 else 'have'} them, so {which} would have none"
        fix = f"use at most {total} device{'s' if total > 1 else ''} (trainer.devices), or data.shard: none"
    else:
        reason = f"its shares of the {total} series that have them leave {which} without one"
        fix = "use fewer devices (trainer.devices), or data.shard: none"
    raise ForecastDataError(
        f"data.shard: series gives each of the {size} processes its own series, and each needs some with windows "
        f"of the {part} part, but {reason}; {fix}"
    )


def check_read_shares(refusals: list[str | None], own: ForecastDataError | None = None) -> None:
    """Refuse on every process alike where some process refused to read its share of the series.

    Each process reads and checks only its own series, so bad data in one share is refused by that process
    alone; the others would go on to their next collective and fail there on the lost connection (gloo) or
    wait until its timeout (NCCL), with the cause only in the refusing process's log. Every process therefore
    refuses, quoting the error of the first process that had one, where a user reads it (usually rank 0's log).

    Args:
        refusals: per process, the message of its refusal, or ``None`` where it read its share.
        own: this process's refusal, given as the cause, so that its log shows its own error too.

    Raises:
        ForecastDataError: naming the processes that refused and quoting the first one's error.
    """
    refused = [rank for rank, refusal in enumerate(refusals) if refusal is not None]
    if not refused:
        return
    which = f"process{'es' if len(refused) > 1 else ''} {', '.join(map(str, refused))}"
    theirs = "their shares" if len(refused) > 1 else "its share"
    first = f"process {refused[0]}'s error: " if len(refused) > 1 else ""
    raise ForecastDataError(
        f"data.shard: series has each of the {len(refusals)} processes read and check its own series, and {which} "
        f"refused {theirs}; {first}{refusals[refused[0]]}"
    ) from own


def check_predict_shares(series: int, world_size: int) -> None:
    """Refuse to predict ``series`` windows (one per series) on more processes than there are windows.

    Lightning deals the windows of a distributed predict out to the processes without repeats
    (``UnrepeatedDistributedSampler``), so with fewer windows than processes some process would get
    none. Lightning cannot run that: its sampler fails on that process with a bare ``AssertionError``,
    and a process whose loader is empty skips the whole pass, hooks included, so the others would wait
    for its share of the forecasts forever.

    Args:
        series: the series to forecast, one window each.
        world_size: the number of processes.

    Raises:
        ForecastDataError: naming both numbers and the fix.
    """
    if 0 < series < world_size:
        raise ForecastDataError(
            f"predict forecasts {series} series, one window each, which {world_size} processes cannot share: each "
            f"needs at least one; predict on at most {series} device{'s' if series > 1 else ''} (trainer.devices)"
        )


def global_scaling(
    scaler: Callable[[], TransformerMixin] | None,
    columns: list[np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    names: list[str] | None = None,
    key: str | None = None,
) -> AffineScaling:
    """The scaler of all processes' rows ``[starts, ends)`` of ``columns``, from summed statistics.

    Per channel and ignoring NaN as scikit-learn does (infinite values too, as ``fit_scaling`` does), the
    count and sum, then the sum of squared deviations from the mean of all rows (``StandardScaler``: two
    passes, as scikit-learn's variance, exact also where the mean is large against the spread), or the
    minimum and maximum (``MinMaxScaler``), are all-reduced, so every process gets the affine map that one
    process fitting on all rows would. ``names`` are the channels', and ``key`` the config key of the scaler
    (``data.scaling.scaler``...), for messages.

    Raises:
        ValueError: a scaler other than ``StandardScaler`` or ``MinMaxScaler``, whose fit needs all rows, one that
            clips, or one that ``check_scaler`` refuses (a ``feature_range`` that does not rise); each naming ``key``.
        ForecastDataError: a channel has no finite value on the rows of any process (naming it), as
            ``fit_scaling`` refuses, rather than a map of NaN.
    """
    channels = len(columns)
    if scaler is None or not channels:
        return AffineScaling([[1.0] * channels], [[0.0] * channels])
    fitted = scaler()
    if not isinstance(fitted, (StandardScaler, MinMaxScaler)):
        raise ValueError(
            f"{key + ': ' if key else ''}data.shard: series fits a scaler of all series from summed statistics, "
            f"which {type(fitted).__name__} has none of; use StandardScaler or MinMaxScaler, or "
            "data.scaling.per_series: true"
        )
    if isinstance(fitted, MinMaxScaler) and fitted.clip:  # as fit_scaling refuses it
        raise ValueError(
            f"{named_scaler(fitted, key)}(clip=True) clips the rows outside the training range, which no affine map "
            "does, and the model reports original units through one: drop clip"
        )
    check_scaler(fitted, key)
    # A process may hold no rows (a share whose series only test): it adds zeros to the sums.
    ranges = [np.arange(start, end) for start, end in zip(starts, ends, strict=True)]
    rows = np.concatenate([np.zeros(0, dtype=np.int64), *ranges]).astype(np.int64)
    values = np.stack([np.asarray(column, dtype=np.float64)[rows] for column in columns], axis=1)  # -> (R, C)
    seen = np.isfinite(values)  # NaN and infinite values are missing, as fit_scaling leaves them out
    fit = _standard if isinstance(fitted, StandardScaler) else _min_max
    scale, offset = fit(fitted, values, seen)
    check_fitted(scale[None], names, None)
    return AffineScaling([scale.tolist()], [offset.tolist()])


def _standard(fitted: StandardScaler, values: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scale and offset per channel of ``fitted`` over ``values`` (R, C) where ``seen``, of all processes;
    NaN for a channel without a value.

    Of the values less each channel's smallest (of all processes), as ``fit_scaling`` fits them less a value of
    theirs: scikit-learn's test for a constant channel weighs the variance against the mean's rounding, so at a
    level of 1e12 a spread of 5 over 100,000 rows passed for constant (scale 1) here but not in one process.
    """
    shift = _all_reduce(np.where(seen, values, np.inf).min(0, initial=np.inf), np.min)
    values = values - np.where(np.isfinite(shift), shift, 0.0)  # inf: a channel without a value
    count, total = _all_reduce(np.stack([seen.sum(0), np.where(seen, values, 0.0).sum(0)]))  # -> (C,) each
    with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0: a channel without a value, NaN
        mean = total / count
        variance = _all_reduce((np.where(seen, values - mean, 0.0) ** 2).sum(0)) / count
    eps = np.finfo(np.float64).eps
    constant = variance <= count * eps * variance + (count * mean * eps) ** 2  # scikit-learn's test
    scale = np.where(constant, 1.0, np.sqrt(variance)) if fitted.with_std else np.where(count > 0, 1.0, np.nan)
    return scale, mean + np.where(np.isfinite(shift), shift, 0.0) if fitted.with_mean else np.zeros_like(mean)


def _min_max(fitted: MinMaxScaler, values: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scale and offset per channel of ``fitted`` over ``values`` (R, C) where ``seen``, of all processes;
    not finite for a channel without a value."""
    low = _all_reduce(np.where(seen, values, np.inf).min(0, initial=np.inf), np.min)
    high = _all_reduce(np.where(seen, values, -np.inf).max(0, initial=-np.inf), np.max)
    lower, upper = fitted.feature_range  # rising: check_scaler refused others
    with np.errstate(invalid="ignore"):  # inf - inf: a channel without a value
        spread = high - low
        spread = np.where(spread == 0, 1.0, spread)  # scikit-learn's choice for a constant channel
        scale = spread / (upper - lower)
        return scale, low - lower * scale


def _all_reduce(values: np.ndarray, reduce: Callable[..., np.ndarray] = np.sum) -> np.ndarray:
    """``values`` reduced by ``reduce`` (``np.sum``, ``np.min``, ``np.max``) over all processes (as they are outside
    distributed training), as float64.

    Gathered as objects, which every backend carries (NCCL, the backend of DDP on GPUs, reduces no tensor in CPU
    memory: "No backend type associated with device type cpu"), and reduced in rank order, alike on every process.
    """
    return reduce(np.stack([np.asarray(value, dtype=np.float64) for value in gather_objects(values)]), axis=0)


def alike(run: Callable[[], T]) -> T:
    """``run()`` on this process, which every process calls: where the run of any process refuses its series
    (``ForecastDataError``), every process refuses alike (``check_read_shares``), rather than leave the others
    waiting at their next collective.

    Raises:
        ForecastDataError: this process's own, where it is the only process; else ``check_read_shares``'s.
    """
    if world()[1] == 1:
        return run()
    result, refusal = None, None
    try:
        result = run()
    except ForecastDataError as error:
        refusal = error
    check_read_shares(gather_objects(None if refusal is None else str(refusal)), refusal)
    return result


def gather_objects(value: Any) -> list[Any]:
    """``value`` of every process, in rank order (just ``[value]`` outside distributed training)."""
    if world()[1] == 1:
        return [value]
    gathered: list[Any] = [None] * world()[1]
    dist.all_gather_object(gathered, value)
    return gathered


class ShardSampler(DistributedSampler):
    """This process's windows, all of them, padded to ``length`` indices by repeating them.

    A ``DistributedSampler`` of one replica, so that Lightning, which splits any other sampler
    among the processes, keeps it as it is: the windows are already this process's share. Every
    process gets the same ``length`` (the largest share), so all take as many steps.

    Args:
        dataset: this process's windows.
        length: indices per epoch, at least ``len(dataset)``.
        shuffle: a new permutation each epoch (``set_epoch``), from ``seed`` and ``process``.
        seed: the run's seed of the permutations.
        process: this process's rank, which the permutations are seeded from with the seed and the epoch
            (``sampling.seeded_generator``: a seed of their sum gave seed 1 the permutations of seed 0 shifted).
    """

    def __init__(self, dataset: Any, length: int, shuffle: bool, seed: int = 0, process: int = 0):
        super().__init__(dataset, num_replicas=1, rank=0, shuffle=shuffle, seed=seed, drop_last=False)
        self.length, self.process = length, process

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[int]:
        windows = len(self.dataset)
        if self.shuffle:
            order = torch.randperm(windows, generator=seeded_generator(self.seed, self.process, self.epoch))
        else:
            order = torch.arange(windows)
        repeats = -(-self.length // max(windows, 1))
        return iter(order.repeat(repeats)[: self.length].tolist())


def merge_states(states: list[dict[str, Any]]) -> dict[str, Any]:
    """The data state of all series from each process's state of its own: series, start times and
    borders one process after the other, and per-series scalers likewise; the rest is shared."""
    merged = dict(states[0])
    for key in ("series", "start_times", "borders"):
        merged[key] = [item for state in states for item in state[key]]
    if merged.get("scale_per_series"):
        merged["scaling"] = dict(merged["scaling"])
        for kind in ("targets", "covariates"):
            merged["scaling"][kind] = {
                part: [row for state in states for row in state["scaling"][kind][part]] for part in ("scale", "offset")
            }
    return merged
