"""``data.shard: series`` deals the series so that, where no deal gives every process windows of every part, every
process has training windows wherever some deal gives them, then validation windows, then test windows: ``fit``
refuses shares of which one lacks training or validation windows, ``test`` one that lacks test windows
(``TimeSeriesDataModule.setup``); where swapping series one at a time falls short of that, an exact search over the
sets of parts the series have deals them (``forecast.data.covers``). Checked against every deal of a few series."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast.data import covers
from forecast.data.sharding import assign_shards

PARTS = ("train", "val", "test")


def held(parts: np.ndarray, ranks: np.ndarray, world_size: int) -> list[tuple[str, ...]]:
    """Per process, the parts its series have windows of."""
    return [tuple(p for p, has in zip(PARTS, parts[ranks == r].any(0), strict=True) if has) for r in range(world_size)]


def everywhere(parts: np.ndarray, ranks, world_size: int) -> tuple[bool, ...] | None:
    """Per part, whether every process has windows of it (or no series has any); ``None`` where a process has no
    series."""
    ranks = np.asarray(ranks)
    if len(set(ranks.tolist())) < world_size:
        return None
    shares = np.stack([parts[ranks == r].any(0) for r in range(world_size)])
    return tuple(bool(value) for value in (shares.all(0) | ~parts.any(0)))


def best(parts: np.ndarray, world_size: int) -> tuple[bool, ...]:
    """Of all deals, the parts every process has windows of, training first, then validation, then test."""
    deals = itertools.product(range(world_size), repeat=len(parts))
    return max(filter(None, (everywhere(parts, deal, world_size) for deal in deals)))


TRIPLE = np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=bool)  # (val, test), (train, test), (train, val)


@pytest.mark.parametrize("rows", [[10, 20, 30], [20, 30, 10], [30, 10, 20], [14, 32, 51], [59, 10, 57]])
@pytest.mark.parametrize("flip", [False, True])
def test_three_series_that_cannot_give_two_processes_every_part_give_each_training_and_validation_windows(rows, flip):
    """{(train, val)} and {(val, test), (train, test)}: ``fit`` runs; a process lacking training windows (or
    validation windows) would refuse it."""
    ids, rows, parts = ["a", "b", "c"], np.array(rows), TRIPLE
    order = slice(None, None, -1) if flip else slice(None)
    ranks = assign_shards(ids[order], rows[order], 2, parts[order])[order]
    assert sorted(held(parts, ranks, 2)) == [("train", "val"), ("train", "val", "test")]


def test_of_three_processes_some_lack_test_windows_rather_than_training_windows():
    """Two series have test windows, so some of three processes lack them; every process can still have training
    and validation windows, where the swaps of the fewest lacking parts left one without training windows."""
    parts = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=bool)
    ranks = assign_shards(["a", "b", "c", "d"], np.array([51, 21, 45, 43]), 3, parts)
    assert [share[:2] for share in held(parts, ranks, 3)] == [("train", "val")] * 3


def test_three_processes_each_get_every_part_where_taking_in_turn_gave_one_none_of_training():
    """Taking in turn, then the changes that leave the fewest lacking parts, left d (val, test) alone on process 2,
    without training windows. A swap of c (train, val) for d leaves as many lacking parts, but process 2 lacks test
    windows rather than training windows, and a move of e (test alone) to it then gives every process all three."""
    parts = np.array([[1, 1, 1], [1, 0, 1], [1, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=bool)
    ranks = assign_shards(["a", "b", "c", "d", "e"], np.array([4, 49, 24, 10, 59]), 3, parts)
    assert held(parts, ranks, 3) == [("train", "val", "test")] * 3


def test_data_whose_every_process_can_have_every_part_keep_the_deal_that_leaves_the_fewest_lacking():
    """Where changes of the fewest lacking parts, one at a time, leave no process lacking a part, the deal is theirs
    (ranking the parts first would give another one), so that resumed runs read the shares they read before."""
    parts = np.array(
        [[1, 0, 1], [0, 1, 1], [1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 0], [1, 0, 0], [0, 0, 0]]
    )
    rows = np.array([31, 3, 7, 55, 5, 28, 13, 16, 53])
    ranks = assign_shards([f"s{i}" for i in range(9)], rows, 3, parts.astype(bool))
    assert ranks.tolist() == [0, 1, 1, 1, 0, 2, 0, 2, 1]
    assert held(parts.astype(bool), ranks, 3) == [("train", "val", "test")] * 3


@settings(max_examples=40, deadline=None)
@given(data=st.data(), world_size=st.integers(2, 4))
def test_every_process_has_training_then_validation_then_test_windows_wherever_some_deal_gives_them(data, world_size):
    count = data.draw(st.integers(world_size, 6))
    series = st.lists(st.booleans(), min_size=3, max_size=3)
    parts = np.array(data.draw(st.lists(series, min_size=count, max_size=count)), dtype=bool)
    rows = np.array(data.draw(st.lists(st.integers(1, 60), min_size=count, max_size=count)))
    ranks = assign_shards([f"s{i}" for i in range(count)], rows, world_size, parts)
    assert everywhere(parts, ranks, world_size) == best(parts, world_size)


@pytest.mark.parametrize(
    ("parts", "rows", "world_size", "expected"),
    [
        # Swaps left a process without validation windows, and fit refused; a deal gives all four train and val (none
        # gives all four test windows too: each would need two of the six series).
        (
            [[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]],
            [35, 46, 28, 39, 14, 26],
            4,
            [("train", "val", "test")] * 2 + [("train", "val")] * 2,
        ),
        # Swaps left a process without test windows, where {(train, val, test)}, {(train, val), (val, test)} and
        # {(train), (train, test)} give each all three.
        (
            [[0, 0, 0], [1, 0, 0], [1, 0, 1], [1, 1, 0], [1, 1, 1], [0, 1, 1]],
            [41, 16, 9, 42, 22, 25],
            3,
            [("train", "val", "test")] * 3,
        ),
    ],
)
def test_deals_that_swaps_one_at_a_time_miss_come_from_the_exact_search(parts, rows, world_size, expected):
    parts, rows = np.array(parts, dtype=bool), np.array(rows)
    ids = [f"s{i}" for i in range(len(rows))]
    ranks = assign_shards(ids, rows, world_size, parts)
    assert sorted(held(parts, ranks, world_size), reverse=True) == sorted(expected, reverse=True)
    assert everywhere(parts, ranks, world_size) == best(parts, world_size)
    reordered = assign_shards(ids[::-1], rows[::-1], world_size, parts[::-1])[::-1]
    assert reordered.tolist() == ranks.tolist()


def test_a_search_out_of_its_budget_keeps_the_deal_of_the_swaps(monkeypatch):
    parts = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], dtype=bool)
    rows = np.array([35, 46, 28, 39, 14, 26])
    monkeypatch.setattr(covers, "BUDGET", 2)
    assert covers.best_cover(parts, 4) is None
    ranks = assign_shards([f"s{i}" for i in range(6)], rows, 4, parts)
    assert everywhere(parts, ranks, 4) == (True, False, True)  # what the swaps reach alone


def test_the_search_of_many_series_for_many_processes_finds_the_parts_held_everywhere():
    """64 processes, 200 series: 62 have test windows, so no deal gives every process test windows, and the search
    proves it by counting rather than by trying deals; training and validation windows go to every process."""
    rng = np.random.default_rng(1)
    parts = rng.random((200, 3)) < np.array([0.9, 0.5, 0.3])
    assert parts.sum(0).tolist() == [179, 106, 62]
    target, groups = covers.best_cover(parts, 64)
    assert target.tolist() == [True, True, False] and len(groups) == 64
    ranks = assign_shards([f"s{i}" for i in range(200)], rng.integers(1, 1000, 200), 64, parts)
    assert everywhere(parts, ranks, 64)[:2] == (True, True)
