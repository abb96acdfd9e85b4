"""Equal weight per series: draw a series uniformly, then one of its windows uniformly.

Uniform sampling over windows lets long series dominate a global model; this sampler gives every
series the same share of an epoch whatever its length. It draws with replacement, ``len(dataset)``
windows an epoch, in vectorised chunks, and needs no per-window weight array (``torch.multinomial``
stops at 2**24 categories, and a weight per window costs O(windows) memory).
"""

from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler

__all__ = ["SeriesBalancedSampler"]

_CHUNK = 1 << 16


def seeded_generator(*keys: int) -> torch.Generator:
    """A torch generator seeded from ``keys`` (a run's seed, an epoch, a process) mixed by numpy's ``SeedSequence``
    (negative keys taken modulo 2**64): other keys draw unrelated numbers, where a seed of their sum would give
    ``(seed + 1, epoch)`` the draws of ``(seed, epoch + 1)``."""
    state = np.random.SeedSequence([key % 2**64 for key in keys]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class SeriesBalancedSampler(Sampler[int]):
    """Window indices drawn so that every series with windows is equally likely.

    Deterministic given ``seed`` and the epoch, so that under distributed training every process
    draws the same sequence and Lightning's ``DistributedSamplerWrapper`` splits it without overlap.
    The epoch advances with each pass, or is set by ``set_epoch`` (which Lightning calls). Each epoch's
    generator is seeded from the pair ``(seed, epoch)``, not from their sum, so that runs of other seeds
    draw other epochs: a seed of ``seed + epoch`` would give seed 1 the epochs of seed 0, one epoch later.

    Args:
        counts: windows per series, shape (N,).
        seed: base seed of the draws.
        num_samples: windows per epoch; ``None`` means all windows, as in uniform sampling.
    """

    def __init__(self, counts: torch.Tensor, seed: int = 0, num_samples: int | None = None):
        self.counts = counts
        self.cumulative = torch.cumsum(counts, 0) - counts  # (N,) first window of each series
        self.candidates = torch.nonzero(counts > 0).flatten()  # (N_with_windows,)
        self.seed = seed
        self.epoch = 0
        self.num_samples = int(counts.sum()) if num_samples is None else num_samples

    def set_epoch(self, epoch: int) -> None:
        """Draw the sequence of ``epoch`` on the next pass."""
        self.epoch = epoch

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        generator = seeded_generator(self.seed, self.epoch)
        self.epoch += 1
        for start in range(0, self.num_samples, _CHUNK):
            size = min(_CHUNK, self.num_samples - start)
            pick = torch.randint(len(self.candidates), (size,), generator=generator)
            series = self.candidates[pick]  # -> (chunk,)
            within = (torch.rand(size, generator=generator, dtype=torch.float64) * self.counts[series]).long()
            yield from (self.cumulative[series] + within).tolist()
