"""This process's share of the series under ``data.shard: series``: reading it, and the checks every process makes
alike, so that no process goes on to a collective that another one, having refused, never reaches.

What the rules are (which process reads which series, what each must hold) is ``sharding``'s; here is the order
in which a data module applies them, from ``setup`` on.
"""

from collections.abc import Callable

import numpy as np
import pandas as pd

from .sharding import alike, assign_shards, check_shares, gather_objects, world

__all__ = ["check_windowed_shares", "own_share", "read_shard"]

Read = Callable[[list[str], tuple[int, int]], None]


def read_shard(index: pd.DataFrame, read: Read, windowed: Callable[[], tuple[list[str], np.ndarray]]) -> list[str]:
    """Read and check this process's series only, and return their ids: shared out by rows; where that leaves a
    process without windows of a part that other series have, shared out again by the parts each series has
    windows of (``assign_shards``), and read anew where the share changed.

    Args:
        index: one row per series of all processes: its id and rows (``sharding.series_index``).
        read: reads and checks the series of the ids given as this process's share: its rank and the number
            of processes.
        windowed: the series read (without those ``drop_short`` left out), and per series whether it has
            training windows that training keeps (with an observed target) and windows of val and test, shape (N, 3).

    Raises:
        ForecastDataError: some process refused the data of its series, on every process alike, quoting the error
            (``check_read_shares``).
    """
    ids, size = index["id"].tolist(), world()[1]
    share = _read_share(ids, assign_shards(ids, index["rows"].to_numpy(), size), [], read)
    # The parts a series has windows of show only once it is read: a date split's borders need its times.
    shares = gather_objects(windowed())
    parts = np.concatenate([held for _, held in shares])  # -> (N, 3), the series of all processes
    if any((parts.any(0) & ~held.any(0)).any() for _, held in shares):
        names = [name for share, _ in shares for name in share]  # without the series drop_short left out
        rows = index.set_index("id")["rows"][names].to_numpy()
        share = _read_share(names, assign_shards(names, rows, size, parts), share, read)
    return share


def _read_share(ids: list[str], owners: np.ndarray, held: list[str], read: Read) -> list[str]:
    """Read and check this process's series of ``ids``, whose processes are ``owners``, unless it holds them
    (``held``), and return them; where any process refuses its series, every process refuses alike."""
    rank, size = world()
    share = [name for name, owner in zip(ids, owners, strict=True) if owner == rank]
    # Every process takes part, also one that keeps its share, or the others would wait for it.
    alike(lambda: read(share, (rank, size)) if set(share) != set(held) else None)
    return share


def check_windowed_shares(part: str, series: int) -> None:
    """Refuse, on every process alike, shares of which some have windows of ``part`` and some none, from this
    process's number of ``series`` with windows of it (``sharding.check_shares``).

    Raises:
        ForecastDataError: naming the processes without one, the series with windows of ``part``, and the fix.
    """
    check_shares(part, gather_objects(series))


def own_share(sharded: bool) -> tuple[int, int] | None:
    """This process's rank and the number of processes where it holds only its share of the series (``sharded``),
    so that a warning names the process of the series it names; ``None`` where every process holds all series."""
    return world() if sharded else None
