"""The exact deal of series to processes, for where swapping series one at a time falls short of it.

``assign_shards`` deals series to processes so that every process has windows of every split part that some series
has, or, where no deal does that, so that processes lack test windows rather than validation windows, and those
rather than training windows. Its swaps (``sharding._fill_lacking``) reach such a deal in almost every case, not in
all: of 20,000 random deals of 2-7 series to 2-4 processes, they fell short of it in 9.
``best_cover`` searches exactly: a deal is one disjoint group of series per process, each group with windows of
every part wanted, and since only the set of parts of each series matters, the search runs over how many series of
each set are left, not over the series themselves.
"""

import itertools
from functools import cache

import numpy as np

BUDGET = 100_000  # the states one search may visit: a deal of many series to many processes stays quick


class _Exhausted(Exception):
    """The search visited ``BUDGET`` states without an answer."""


def best_cover(parts: np.ndarray, world_size: int) -> tuple[np.ndarray, list[list[tuple[bool, ...]]]] | None:
    """The parts every process can have windows of, preferring them in the order of ``parts``' columns (train, then
    val, then test), and per process the parts (of those) of the series that give it them; ``None`` where the
    search ran out of its budget (``BUDGET``).

    Args:
        parts: whether each series has windows of each part, shape (N, P), N at least ``world_size``.
        world_size: the number of processes.
    """
    wanted = parts.any(0)
    for held in sorted(itertools.product((True, False), repeat=parts.shape[1]), reverse=True):
        if not all(held[p] for p in np.flatnonzero(~wanted)):
            continue  # every process has the windows of a part that no series has: none
        target = np.asarray(held) & wanted
        try:
            groups = _groups(parts[:, target], world_size)
        except _Exhausted:
            return None
        if groups is not None:
            return target, groups
    raise AssertionError("unreachable: with as many series as processes, some deal gives each process one")


def _groups(parts: np.ndarray, world_size: int) -> list[list[tuple[bool, ...]]] | None:
    """``world_size`` disjoint groups of the rows of ``parts`` (N, T), each of which has every column, as the rows
    of each group; ``None`` where there are none."""
    kinds = sorted({tuple(row) for row in parts.tolist()}, reverse=True)
    counts = tuple(int((parts == np.asarray(kind, dtype=bool)).all(1).sum()) for kind in kinds)
    covers = _minimal_covers(kinds, parts.shape[1])
    having = [[i for i, kind in enumerate(kinds) if kind[column]] for column in range(parts.shape[1])]
    visits = 0

    @cache
    def deal(left: tuple[int, ...], processes: int) -> tuple[tuple[int, ...], ...] | None:
        nonlocal visits
        visits += 1
        if visits > BUDGET:
            raise _Exhausted
        if processes == 0:
            return ()
        if any(sum(left[i] for i in kinds_of) < processes for kinds_of in having):
            return None  # fewer series left with windows of a part than processes left to give them to
        for cover in covers:
            if all(left[i] for i in cover):
                rest = tuple(min(count - (i in cover), processes - 1) for i, count in enumerate(left))
                found = deal(rest, processes - 1)
                if found is not None:
                    return (cover, *found)
        return None

    found = deal(tuple(min(count, world_size) for count in counts), world_size)
    return None if found is None else [[kinds[i] for i in cover] for cover in found]


def _minimal_covers(kinds: list[tuple[bool, ...]], width: int) -> list[tuple[int, ...]]:
    """The groups of ``kinds`` (at most one of each) that have every one of ``width`` columns and hold no smaller
    such group, smallest first; a group has at most ``width`` kinds (one, where ``width`` is 0)."""
    covers = [
        cover
        for size in range(1, max(width, 1) + 1)
        for cover in itertools.combinations(range(len(kinds)), size)
        if np.asarray([kinds[i] for i in cover], dtype=bool).reshape(size, width).any(0).all()
    ]
    return [cover for cover in covers if not any(set(other) < set(cover) for other in covers)]
