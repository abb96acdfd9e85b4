"""Forecast windows as indices into series stored once: a batch is one vectorised gather per field.

The windows of a part are never listed: window ``k`` belongs to the series whose cumulative window
count passes ``k`` (one ``searchsorted``), so the index costs O(series), not O(windows). Only a part that leaves some
of its windows out (the training windows without an observed target) lists the ones it keeps.
"""

import itertools
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import BatchSampler, DataLoader, Dataset, DistributedSampler, RandomSampler, SequentialSampler

from ..batch import Batch
from .buffer import SeriesBuffer
from .splits import Windows

__all__ = [
    "WindowDataset",
    "OriginRepair",
    "WindowBatchSampler",
    "EvaluationBatchSampler",
    "ResumableDataLoader",
    "collate_batch",
    "window_origins",
]


class WindowDataset(Dataset):
    """The windows of one part over all series, gathered from one float32 array.

    ``__getitems__`` gathers a whole batch: each field is one numpy gather (``_gather``) on a strided
    view of the buffer whose first dimension is the window's start row, so no per-window Python runs
    and nothing is copied but the batch itself.

    Args:
        buffer: the scaled series; its channels are ``[targets | past covariates | future channels]``.
        windows: per series the first window's first target row, the window counts, and the stride.
        lookback: L, rows of history per window.
        horizon: H, rows to forecast per window.
        sizes: (C_out, C_in, C_fut): targets, ``past`` channels (targets first), ``future`` channels.
        static: static features per series, shape (N, S).
        target_scale: per series factor back to original units, shape (N, C_out).
        target_offset: per series offset back to original units, shape (N, C_out).
        naive_scale: per series the scale of MASE (``buffer.naive_scale``), shape (N, C_out).
        with_target: ``False`` for windows whose horizon lies beyond the data (forecasting the
            future): their ``target`` is NaN.
        keep: the indices (ascending) of the windows of ``windows`` to read, in ``window_origins``' order;
            ``None``: all of them. ``counts`` and the window indices count the kept windows only.
    """

    def __init__(
        self,
        buffer: SeriesBuffer,
        windows: Windows,
        lookback: int,
        horizon: int,
        sizes: tuple[int, int, int],
        static: torch.Tensor,
        target_scale: torch.Tensor,
        target_offset: torch.Tensor,
        naive_scale: torch.Tensor,
        with_target: bool = True,
        keep: np.ndarray | None = None,
    ):
        self.values = buffer.values
        self.observed = buffer.observed
        self.lookback = lookback
        self.horizon = horizon
        self.target_size, self.input_size, self.future_size = sizes
        self.static = static
        self.target_scale = target_scale
        self.target_offset = target_offset
        self.naive_scale = naive_scale
        self.with_target = with_target
        self.stride = windows.stride
        # The index arithmetic runs in numpy: on 256 windows it is a few microseconds, torch's
        # per-call overhead is ten times that.
        self.series_rows = buffer.offsets.astype(np.int64)  # (N,) first buffer row of each series
        self.first = windows.first.astype(np.int64)  # (N,) first target row within each series
        self.every = np.concatenate([[0], np.cumsum(windows.counts, dtype=np.int64)])  # (N + 1,) of all windows
        self.keep = None if keep is None else np.asarray(keep, dtype=np.int64)  # (W_kept,) or None
        counts = windows.counts if keep is None else np.diff(np.searchsorted(self.keep, self.every))
        self.counts = counts.astype(np.int64)  # (N,) windows read per series

    def __len__(self) -> int:
        return int(self.every[-1]) if self.keep is None else len(self.keep)

    def locate(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The series of each window and the row (within it) of its first target step.

        Shapes:
            index: (B,) -> series (B,), time (B,)

        Raises:
            IndexError: an index is not that of a window.
        """
        index = np.asarray(index, dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"window index out of range [0, {len(self)})")
        index = index if self.keep is None else self.keep[index]  # -> (B,) among all windows of the part
        series = np.searchsorted(self.every, index, side="right") - 1  # -> (B,)
        time = self.first[series] + (index - self.every[series]) * self.stride  # -> (B,)
        return series, time

    def index_of(self, series: np.ndarray, time: np.ndarray) -> np.ndarray:
        """The window index of each (series, first target row) pair that ``locate`` returns.

        Shapes:
            series (B,), time (B,) -> (B,)
        """
        series = np.asarray(series, dtype=np.int64)
        index = self.every[series] + (np.asarray(time, dtype=np.int64) - self.first[series]) // self.stride
        return index if self.keep is None else np.searchsorted(self.keep, index)

    def _gather(
        self, start: np.ndarray, steps: int, first_channel: int, channels: int, source: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The ``steps`` rows from each of ``start`` of some channels of the buffer's values (or of ``source``,
        an array of its rows): (B, steps, channels), one copy.

        A numpy gather on a strided view of the buffer: one thread, so it pays no wake-up of torch's
        thread pool between training steps (under ``OMP_WAIT_POLICY=PASSIVE`` that wake-up was most of
        the cost of torch's ``index_select``).
        """
        values = (self.values if source is None else source).numpy()  # the buffer's memory, not a copy
        rows, width = values.shape
        item = values.itemsize
        runs = np.lib.stride_tricks.as_strided(
            values[:, first_channel:], (max(rows - steps + 1, 0), steps, channels), (width * item, width * item, item),
            writeable=False,
        )  # fmt: skip
        return torch.from_numpy(runs[start])

    def __getitems__(self, indices: list[int]) -> Batch:
        series, time = self.locate(indices)
        start = self.series_rows[series] + time  # -> (B,) buffer row of the first target step
        batch_size = len(start)
        past = self._gather(start - self.lookback, self.lookback, 0, self.input_size)  # -> (B, L, C_in)
        if self.with_target:
            target = self._gather(start, self.horizon, 0, self.target_size)  # -> (B, H, C_out)
        else:
            target = past.new_full((batch_size, self.horizon, self.target_size), float("nan"))
        observed = None
        if self.with_target and self.observed is not None:
            observed = self._gather(start, self.horizon, 0, self.target_size, self.observed)  # -> (B, H, C_out)
        series, time = torch.from_numpy(series), torch.from_numpy(time)
        if self.future_size:
            future = self._gather(start, self.horizon, self.input_size, self.future_size)  # -> (B, H, C_fut)
        else:
            future = past.new_empty(batch_size, self.horizon, 0)  # -> (B, H, 0)
        return Batch(
            past=past,
            future=future,  # -> (B, H, C_fut)
            static=self.static[series],  # -> (B, S)
            target=target,
            series=series,
            time=time,
            target_scale=self.target_scale[series],  # -> (B, C_out)
            target_offset=self.target_offset[series],  # -> (B, C_out)
            naive_scale=self.naive_scale[series],  # -> (B, C_out)
            observed=observed,  # -> (B, H, C_out) or None
        )

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])


def window_origins(windows: Windows) -> tuple[np.ndarray, np.ndarray]:
    """The series of every window and its first forecast row within the series, in window order.

    Shapes:
        -> series (W,), row (W,)
    """
    series = np.repeat(np.arange(len(windows.counts)), windows.counts)
    step = np.arange(len(series)) - np.repeat(np.cumsum(windows.counts) - windows.counts, windows.counts)
    return series, windows.first[series] + step * windows.stride


class OriginRepair(WindowDataset):
    """Windows whose missing inputs are repaired from the values given before the window's origin alone, as a
    forecast's from a series that ends there.

    The buffer repairs each split part from its own rows and the rows before it, so that training never reads a
    later part. A window can still read a repair drawn from later rows: ``interpolate`` draws a gap just before
    the origin towards the values the window forecasts, and a gap that began in an earlier part holds that part's
    repair there (its trailing values, the last value) and another after the border. So each missing input is
    repaired again from the values given (not repaired) in its series before the window's origin: under
    ``ffill`` the last one before it; under ``interpolate`` the straight line from the last one before it to the
    next one where that comes before the origin, else the last one before it (as ``interpolate`` repairs a
    series' trailing values). Inputs before a channel's first value take that first value where it comes before
    the origin; a channel with no value given before the origin reads 0 (the scaled data's zero: the training
    mean under the default ``StandardScaler``) rather than one of the window's own targets.

    Args:
        given: per buffer row and input channel, whether its value was given (not repaired); shape (rows, C_in).
            ``ScaledSeries.given_inputs``.
        policy: the buffer's ``nan_policy``: ``"ffill"`` or ``"interpolate"``.
        kwargs: ``WindowDataset``'s.
    """

    def __init__(self, given: np.ndarray, policy: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.given, self.policy = given, policy
        rows = np.argwhere(given.T)  # -> (K, 2) every given value's (channel, row), channel-major and sorted
        self.keys = rows[:, 0] * len(given) + rows[:, 1]  # -> (K,) one sorted key per given value

    def __getitems__(self, indices: list[int]) -> Batch:
        batch = super().__getitems__(indices)
        series, time = self.locate(indices)
        start = self.series_rows[series]  # -> (B,) the first buffer row of each window's series
        origin = start + time  # -> (B,) the buffer row of each window's first forecast step
        rows = origin[:, None] - self.lookback + np.arange(self.lookback)  # -> (B, L) the inputs' buffer rows
        b, step, channel = np.nonzero(~self.given[rows])  # -> (M,) each missing input
        if not len(b):
            return batch
        row, offset = rows[b, step], channel * len(self.given)
        at = np.searchsorted(self.keys, offset + row)  # -> (M,) the first given value at or after each, by channel
        previous = self.keys[np.maximum(at - 1, 0)] - offset if len(self.keys) else np.full_like(row, -1)
        following = self.keys[np.minimum(at, len(self.keys) - 1)] - offset if len(self.keys) else row
        # A neighbour of another channel lies below 0 or beyond every row: outside the series or after the origin.
        has_previous = (at > 0) & (previous >= start[b])
        has_following = (at < len(self.keys)) & (following > row) & (following < origin[b])
        values = self.values.numpy()
        before = values[np.where(has_previous, previous, 0), channel].astype(np.float64)
        after = values[np.where(has_following, following, 0), channel].astype(np.float64)
        repaired = np.where(has_previous, before, np.where(has_following, after, 0.0))
        if self.policy == "interpolate":
            both = has_previous & has_following
            share = (row - previous) / np.where(both, following - previous, 1)
            repaired = np.where(both, before + (after - before) * share, repaired)
        past = batch.past.clone()
        past[b, step, channel] = torch.from_numpy(repaired).to(past.dtype)
        return replace(batch, past=past)


class WindowBatchSampler(BatchSampler):
    """Batches of window indices, each one array, so that no Python runs per window.

    It takes ``BatchSampler``'s arguments, so Lightning rebuilds it around its ``DistributedSampler``
    under distributed training. A random or sequential ``sampler`` is drawn as one permutation or
    range per epoch; any other is read out once per epoch. A random permutation comes from a seed
    drawn from torch's global generator and kept in ``seed``, so that a pass stopped mid-epoch can be
    resumed (``resume_at``) with the same order.

    A ``DistributedSampler`` pads every process's share to the same length by repeating windows.
    Training needs that (every process takes as many optimizer steps); evaluation does not, and
    counts a repeated window twice. With ``pad_shards=False`` the repeats are left out: every
    window is read once, by one process, and the shares differ by at most one window.

    Args:
        sampler: the order of the windows (``RandomSampler`` to shuffle, ``SequentialSampler``, ...).
        batch_size: windows per batch.
        drop_last: leave out a last batch smaller than ``batch_size``.
        pad_shards: keep a ``DistributedSampler``'s repeated windows (training); ``False`` for evaluation.
    """

    seed: int | None = None  # the seed of the current pass's permutation
    _start: tuple[int | None, int] = (None, 0)  # (seed, batches to skip) for the next pass

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool, pad_shards: bool = True):
        super().__init__(sampler, batch_size, drop_last)
        self.pad_shards = pad_shards

    def _unpadded(self) -> np.ndarray | None:
        """Which of a ``DistributedSampler``'s indices to keep; ``None``: all of them.

        torch's ``DistributedSampler`` appends its repeats after the last window and deals the list out
        to the processes in turn, so this process's repeats are the ones dealt from past the last window.

        Raises:
            ValueError: fewer windows than processes, so that a process would evaluate none.
        """
        sampler = self.sampler
        if self.pad_shards or not isinstance(sampler, DistributedSampler):
            return None
        windows = len(sampler.dataset)
        if windows < sampler.num_replicas:
            raise ValueError(
                f"{windows} windows to evaluate on {sampler.num_replicas} processes: each process needs at least "
                "one; evaluate on fewer devices (trainer.devices) or more windows (data.eval_stride, data.split)"
            )
        dealt = np.arange(sampler.rank, sampler.total_size, sampler.num_replicas)  # -> (len(sampler),)
        return dealt < windows

    def __len__(self) -> int:
        unpadded = self._unpadded()
        count = len(self.sampler) if unpadded is None else int(unpadded.sum())
        return count // self.batch_size if self.drop_last else -(-count // self.batch_size)

    def resume_at(self, seed: int | None, batches: int) -> None:
        """Make the next pass repeat the permutation of ``seed`` and begin after its first ``batches``."""
        self._start = (seed, batches)

    def __iter__(self) -> Iterator[np.ndarray]:
        (seed, skip), self._start = self._start, (None, 0)
        sampler, count = self.sampler, len(self.sampler)
        if isinstance(sampler, RandomSampler) and not sampler.replacement and count == len(sampler.data_source):
            generator = sampler.generator
            if generator is None:  # one draw from the global generator, as RandomSampler makes
                seed = int(torch.empty((), dtype=torch.int64).random_().item()) if seed is None else seed
                generator = torch.Generator().manual_seed(seed)
            order = torch.randperm(count, generator=generator).numpy()
        elif isinstance(sampler, SequentialSampler):
            order = np.arange(count)
        else:
            order = np.fromiter(sampler, dtype=np.int64, count=count)
            unpadded = self._unpadded()
            order = order if unpadded is None else order[unpadded]
        self.seed = seed
        count = len(order)
        stop = count - count % self.batch_size if self.drop_last else count
        for start in range(skip * self.batch_size, stop, self.batch_size):
            yield order[start : start + self.batch_size]


class EvaluationBatchSampler(WindowBatchSampler):
    """A ``WindowBatchSampler`` that reads every window once under DDP (``pad_shards=False``), also when
    Lightning rebuilds it around its ``DistributedSampler`` from its class and ``BatchSampler``'s arguments
    alone, as it does for a loader made outside a ``*_dataloader`` hook (a backtest's)."""

    def __init__(self, sampler: Any, batch_size: int, drop_last: bool = False):
        super().__init__(sampler, batch_size, drop_last, pad_shards=False)


class ResumableDataLoader(DataLoader):
    """The training DataLoader, resumable in the middle of an epoch.

    Lightning saves its ``state_dict`` (the seed of the pass's shuffle) in every checkpoint and hands
    it back on resume; the resumed pass then repeats that shuffle from the batch where the training
    loop stopped, so a run killed mid-epoch ends as if never stopped. Resumed on data of no more batches than
    the loop had taken (another ``train_stride``, say), with either sampling the pass yields none: the epoch ends.

    Args:
        args, kwargs: ``DataLoader``'s.
        consumed: how many batches of the current epoch the training loop has taken (Lightning's
            count, which a resumed loop restores): where a resumed pass begins.
    """

    def __init__(self, *args: Any, consumed: Callable[[], int] = lambda: 0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.consumed = consumed
        self._resume: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return {"seed": getattr(self.batch_sampler, "seed", None)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._resume = state_dict

    def __iter__(self) -> Iterator[Any]:
        state, self._resume = self._resume, None
        skip = self.consumed() if state else 0  # 0: the checkpoint ended its epoch; this pass is a new one
        skipped = 0
        if skip and isinstance(self.batch_sampler, WindowBatchSampler):
            self.batch_sampler.resume_at(state["seed"], skip)  # skips them unread
            skipped = skip
        random_state = torch.get_rng_state()
        batches = super().__iter__()  # draws a seed for its workers, from the global generator unless given one
        if skip:  # this pass began, and drew, before the checkpoint that restored the generator
            torch.set_rng_state(random_state)
        # Another sampler: its first batches read and dropped, all of them where the data have no more.
        yield from itertools.islice(batches, skip - skipped, None)


def collate_batch(batch: Batch) -> Batch:
    """The DataLoader's ``collate_fn``: ``__getitems__`` already returns a whole batch."""
    return batch
