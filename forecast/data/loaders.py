"""The DataLoaders of the data module's parts: how training draws its windows, and evaluation reads each once.

Training loaders are ``ResumableDataLoader``s, which a resumed run restarts mid-epoch; ``SAMPLING``
names the ways training draws windows (``data.sampling``). Under DDP Lightning hands a plain sampler
a ``DistributedSampler``'s share; a sharded process's windows are its share already (``ShardSampler``).
"""

import os
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, RandomSampler, SequentialSampler

from .sampling import SeriesBalancedSampler
from .sharding import ShardSampler, gather_objects, world
from .windows import EvaluationBatchSampler, ResumableDataLoader, WindowBatchSampler, WindowDataset

__all__ = ["SAMPLING", "training_loader", "evaluation_loader"]


def _seed() -> int:
    """The seed Lightning's own samplers take (``seed_everything``'s)."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


def _uniform(dataset: WindowDataset, batch_size: int, **options: Any) -> ResumableDataLoader:
    """Every window once an epoch, shuffled; under DDP the processes' shares are padded to as many steps."""
    batches = WindowBatchSampler(RandomSampler(dataset), batch_size, drop_last=False, pad_shards=True)
    return ResumableDataLoader(dataset, batch_sampler=batches, **options)


def _series_balanced(dataset: WindowDataset, batch_size: int, **options: Any) -> ResumableDataLoader:
    """Equal weight per series (``SeriesBalancedSampler``), with replacement."""
    sampler = SeriesBalancedSampler(torch.from_numpy(dataset.counts), seed=_seed())
    return ResumableDataLoader(dataset, batch_size=batch_size, sampler=sampler, **options)


SAMPLING: dict[str, Callable[..., ResumableDataLoader]] = {"windows": _uniform, "series": _series_balanced}


def training_loader(
    dataset: WindowDataset, batch_size: int, sampling: str, sharded: bool, consumed: Callable[[], int], **options: Any
) -> ResumableDataLoader:
    """The training windows, drawn as ``sampling`` names; a sharded process's own, padded to the longest share."""
    if sharded and world()[1] > 1:
        sampler = ShardSampler(
            dataset, max(gather_objects(len(dataset))), shuffle=True, seed=_seed(), process=world()[0]
        )
        return ResumableDataLoader(dataset, batch_size=batch_size, sampler=sampler, consumed=consumed, **options)
    return SAMPLING[sampling](dataset, batch_size, consumed=consumed, **options)


def evaluation_loader(dataset: WindowDataset, batch_size: int, sharded: bool, **options: Any) -> DataLoader:
    """Every window once, in order; under DDP each process reads its share (a sharded process, its own)."""
    if sharded and world()[1] > 1:
        sampler = ShardSampler(dataset, len(dataset), shuffle=False)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **options)
    batches = EvaluationBatchSampler(SequentialSampler(dataset), batch_size)
    return DataLoader(dataset, batch_sampler=batches, **options)
