"""Forecast windows as indices into series stored once: a batch is one vectorised gather."""

import torch
from torch.utils.data import Dataset

from ..batch import Batch

__all__ = ["WindowDataset", "collate_batch"]


class WindowDataset(Dataset):
    """The windows of one split over series stored as one contiguous float32 array.

    A window is the row where its lookback starts. ``__getitems__`` gathers a whole batch with one
    indexing operation, so memory stays O(rows), not O(rows x lookback), and no per-window Python runs.

    Args:
        values: all series, scaled and concatenated along time, shape (rows, C_in); targets first.
        starts: first lookback row of each window in ``values``, shape (windows,).
        series: series index of each window, shape (windows,).
        time: row of each window's first forecast step within its own series, shape (windows,).
        lookback: L, rows of history per window.
        horizon: H, rows to forecast per window.
        target_size: C_out, the leading channels of ``values`` that are forecast.
        target_scale: per-series factor back to original units, shape (series, C_out).
        target_offset: per-series offset back to original units, shape (series, C_out).
        with_target: ``False`` for windows whose horizon lies beyond the data (forecasting the
            future): their ``target`` is NaN.
    """

    def __init__(
        self,
        values: torch.Tensor,
        starts: torch.Tensor,
        series: torch.Tensor,
        time: torch.Tensor,
        lookback: int,
        horizon: int,
        target_size: int,
        target_scale: torch.Tensor,
        target_offset: torch.Tensor,
        with_target: bool = True,
    ):
        self.values = values
        self.starts = starts
        self.series = series
        self.time = time
        self.lookback = lookback
        self.horizon = horizon
        self.target_size = target_size
        self.target_scale = target_scale
        self.target_offset = target_offset
        self.with_target = with_target
        self._past_steps = torch.arange(lookback)
        self._target_steps = torch.arange(lookback, lookback + horizon)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitems__(self, indices: list[int]) -> Batch:
        index = torch.as_tensor(indices, dtype=torch.long)
        series = self.series[index]
        starts = self.starts[index, None]  # -> (B, 1)
        past = self.values[starts + self._past_steps]  # -> (B, L, C_in)
        if self.with_target:
            target = self.values[starts + self._target_steps, : self.target_size]  # -> (B, H, C_out)
        else:
            target = past.new_full((len(index), self.horizon, self.target_size), float("nan"))
        return Batch(
            past=past,
            future=past.new_empty(len(index), self.horizon, 0),
            static=past.new_empty(len(index), 0),
            target=target,
            series=series,
            time=self.time[index],
            target_scale=self.target_scale[series],  # -> (B, C_out)
            target_offset=self.target_offset[series],  # -> (B, C_out)
        )

    def __getitem__(self, index: int) -> Batch:
        return self.__getitems__([index])


def collate_batch(batch: Batch) -> Batch:
    """The DataLoader's ``collate_fn``: ``__getitems__`` already returns a whole batch."""
    return batch
