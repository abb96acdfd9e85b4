"""Forecast windows as indices into series stored once: a batch is one vectorised gather per field.

The windows of a part are never listed: window ``k`` belongs to the series whose cumulative window
count passes ``k`` (one ``searchsorted``), so the index costs O(series), not O(windows).
"""

import numpy as np
import torch
from torch.utils.data import Dataset

from ..batch import Batch
from .buffer import SeriesBuffer
from .splits import Windows

__all__ = ["WindowDataset", "collate_batch"]


class WindowDataset(Dataset):
    """The windows of one part over all series, gathered from one float32 array.

    ``__getitems__`` gathers a whole batch: each field is one ``index_select`` on a strided view of
    the buffer whose first dimension is the window's start row, so no per-window Python runs and
    nothing is copied but the batch itself.

    Args:
        buffer: the scaled series; its channels are ``[targets | past covariates | future channels]``.
        windows: per series the first window's first target row, the window counts, and the stride.
        lookback: L, rows of history per window.
        horizon: H, rows to forecast per window.
        sizes: (C_out, C_in, C_fut): targets, ``past`` channels (targets first), ``future`` channels.
        static: static features per series, shape (N, S).
        target_scale: per series factor back to original units, shape (N, C_out).
        target_offset: per series offset back to original units, shape (N, C_out).
        with_target: ``False`` for windows whose horizon lies beyond the data (forecasting the
            future): their ``target`` is NaN.
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
        with_target: bool = True,
    ):
        self.values = buffer.values
        self.lookback = lookback
        self.horizon = horizon
        self.target_size, self.input_size, self.future_size = sizes
        self.static = static
        self.target_scale = target_scale
        self.target_offset = target_offset
        self.with_target = with_target
        self.stride = windows.stride
        self.series_rows = torch.as_tensor(buffer.offsets, dtype=torch.long)  # (N,) first buffer row
        self.first = torch.as_tensor(windows.first, dtype=torch.long)  # (N,) first target row in series
        self.counts = torch.as_tensor(windows.counts, dtype=torch.long)  # (N,)
        self.cumulative = torch.as_tensor(np.concatenate([[0], np.cumsum(windows.counts)]), dtype=torch.long)

    def __len__(self) -> int:
        return int(self.cumulative[-1])

    def locate(self, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The series of each window and the row (within it) of its first target step.

        Shapes:
            index: (B,) -> series (B,), time (B,)
        """
        series = torch.searchsorted(self.cumulative, index, right=True) - 1  # -> (B,)
        time = self.first[series] + (index - self.cumulative[series]) * self.stride  # -> (B,)
        return series, time

    def _view(self, steps: int, first_channel: int, channels: int) -> torch.Tensor:
        """Every run of ``steps`` rows of some channels, as a view: (rows - steps + 1, steps, channels)."""
        rows, width = self.values.shape
        size = (max(rows - steps + 1, 0), steps, channels)
        return self.values.as_strided(size, (width, width, 1), self.values.storage_offset() + first_channel)

    def __getitems__(self, indices: list[int]) -> Batch:
        index = torch.as_tensor(indices, dtype=torch.long)
        if len(self) and (index.min() < 0 or index.max() >= len(self)):
            raise IndexError(f"window index out of range [0, {len(self)})")
        series, time = self.locate(index)
        start = self.series_rows[series] + time  # -> (B,) buffer row of the first target step
        batch_size = len(index)
        past = self._view(self.lookback, 0, self.input_size).index_select(0, start - self.lookback)  # -> (B, L, C_in)
        if self.with_target:
            target = self._view(self.horizon, 0, self.target_size).index_select(0, start)  # -> (B, H, C_out)
        else:
            target = past.new_full((batch_size, self.horizon, self.target_size), float("nan"))
        if self.future_size:
            future = self._view(self.horizon, self.input_size, self.future_size).index_select(0, start)
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
        )

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])


def collate_batch(batch: Batch) -> Batch:
    """The DataLoader's ``collate_fn``: ``__getitems__`` already returns a whole batch."""
    return batch
