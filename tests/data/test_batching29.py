"""How windows become batches: the training draws, the evaluation order, batch_channels, seeds, channel independence.

References are hand loops over the frame and the split borders, never the loaders' own index arithmetic.
"""

from collections import Counter

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import TimeSeriesDataModule
from forecast.data import Columns, SeriesBalancedSampler
from forecast.nn.channels import merge_channels, split_channels

LOOKBACK, HORIZON = 6, 3
LENGTHS = {"A": 40, "B": 25, "C": 60}
TARGETS = ["y1", "y2", "y3"]
COLUMNS = Columns(targets=TARGETS, past_covariates=["p"], future_covariates=["f"], static_covariates=["s"])


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Three hourly series of 40, 25 and 60 rows, three targets, a past and a future covariate, a numeric static."""
    rng = np.random.default_rng(0)
    parts = []
    for size, (name, rows) in enumerate(LENGTHS.items(), start=1):
        values = {column: rng.standard_normal(rows) for column in [*TARGETS, "p", "f"]}
        times = pd.date_range("2024-01-01", periods=rows, freq="h")
        parts.append(pd.DataFrame({"id": name, "time": times, **values, "s": float(size)}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture
def seeds(monkeypatch):
    """seed_everything's environment variables, restored after the test."""
    for variable in ("PL_GLOBAL_SEED", "PL_SEED_WORKERS"):
        monkeypatch.delenv(variable, raising=False)


def module(frame: pd.DataFrame, **options) -> TimeSeriesDataModule:
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=COLUMNS, **options)
    data.setup("fit")
    return data


def origins(batches) -> list[tuple[int, int]]:
    """(series, first target row) of every window of ``batches``, in the order drawn."""
    return [pair for batch in batches for pair in zip(batch.series.tolist(), batch.time.tolist(), strict=True)]


def expected_origins(data: TimeSeriesDataModule, part: str) -> list[tuple[int, int]]:
    """Every window of ``part`` by hand: each series in turn, every first target row whose horizon fits the part."""
    borders = data.borders  # per series: first validation row, first test row, end of test
    windows = []
    for series, (val, test, end) in enumerate(borders.tolist()):
        first, stop = {"train": (LOOKBACK, val), "val": (val, test), "test": (test, end)}[part]
        windows += [(series, row) for row in range(max(first, LOOKBACK), stop - HORIZON + 1)]
    return windows


def test_series_balanced_sampler_draws_other_epochs_for_other_seeds():
    """Seeding each epoch with ``seed + epoch`` gave seed 1 the epochs of seed 0 one epoch later: an ensemble over
    seeds trained its members on the same draws."""
    counts = torch.tensor([20, 9, 34])

    def epochs(seed: int) -> list[list[int]]:
        sampler = SeriesBalancedSampler(counts, seed=seed)
        return [list(sampler) for _ in range(3)]

    seed_zero, seed_one = epochs(0), epochs(1)
    assert all(epoch not in seed_zero for epoch in seed_one)
    assert epochs(1) == seed_one  # the same seed, the same epochs


def test_series_balanced_sampler_gives_each_window_its_exact_expected_share():
    """A series uniformly, then one of its windows: window w of series s is drawn n / (N * counts[s]) times."""
    counts = np.array([20, 9, 34])
    draws = np.array(list(SeriesBalancedSampler(torch.from_numpy(counts), seed=11, num_samples=150_000)))
    seen = np.bincount(draws, minlength=counts.sum())
    expected = 150_000 / (len(counts) * np.repeat(counts, counts))  # 1471 to 5556 draws per window
    assert np.all(np.abs(seen - expected) < 4 * np.sqrt(expected))  # within 4 standard deviations; the seed is fixed
    series_share = np.add.reduceat(seen, np.cumsum(counts) - counts) / 150_000
    np.testing.assert_allclose(series_share, 1 / 3, atol=0.01)


@pytest.mark.parametrize("sampling", ["windows", "series"])
def test_the_same_seed_draws_the_same_batches_and_another_seed_others(frame, sampling, seeds):
    data = module(frame, sampling=sampling, batch_size=8)

    def drawn(seed: int) -> list[tuple[int, int]]:
        L.seed_everything(seed, verbose=False)
        loader = data.train_dataloader()
        return [origins(loader) for _ in range(2)]

    first = drawn(4)
    assert drawn(4) == first and first[0] != first[1]
    assert all(epoch not in first for epoch in drawn(5))


def test_uniform_sampling_draws_every_training_window_once_per_epoch(frame):
    data = module(frame, batch_size=8)
    torch.manual_seed(0)
    loader = data.train_dataloader()
    epochs = [origins(loader) for _ in range(2)]
    expected = expected_origins(data, "train")  # 20 + 9 + 34 windows
    assert len(expected) == 63
    assert all(sorted(epoch) == expected for epoch in epochs) and epochs[0] != epochs[1]


def test_batch_channels_counts_the_batch_in_target_channels_and_keeps_the_last_batch(frame):
    """14 channel rows of 3 targets: 4 windows a batch, whatever batch_size says; 63 windows end in a batch of 3."""
    data = module(frame, batch_size=5, batch_channels=14)
    torch.manual_seed(0)
    sizes = [len(batch) for batch in data.train_dataloader()]
    assert sizes == [4] * 15 + [3]
    assert [len(batch) for batch in data.val_dataloader()] == [4, 3]  # 2 + 1 + 4 validation windows


def test_batch_channels_below_the_number_of_targets_gives_batches_of_one_window(frame):
    data = module(frame, batch_channels=2)
    torch.manual_seed(0)
    assert Counter(len(batch) for batch in data.train_dataloader()) == Counter({1: 63})


@pytest.mark.parametrize("part", ["val", "test"])
def test_evaluation_reads_every_window_once_series_by_series_in_time_order(frame, part):
    data = module(frame, batch_size=4)
    data.setup("test")
    batches = list(getattr(data, f"{part}_dataloader")())
    assert origins(batches) == expected_origins(data, part)
    assert all(len(batch) == 4 for batch in batches[:-1]) and 1 <= len(batches[-1]) <= 4  # no dropped last batch
    names = list(LENGTHS)
    for batch in batches:  # each window's targets are its series' rows, in original units
        for window, (series, row) in enumerate(zip(batch.series.tolist(), batch.time.tolist(), strict=True)):
            rows = frame[frame["id"] == names[series]][TARGETS].to_numpy()[row : row + HORIZON]
            np.testing.assert_allclose(batch.to_original(batch.target)[window].numpy(), rows, rtol=1e-5, atol=1e-5)


def test_split_channels_gives_every_channel_row_its_window_covariates_and_statics():
    """Row b * C_out + c is target channel c of window b, beside window b's past and future covariates, statics and
    channel c's embedding; merge_channels puts the rows back as channels."""
    batch, lookback, horizon, targets = 2, 5, 4, 3
    past = torch.randn(batch, lookback, targets + 2)  # three targets, two past covariates
    future, static, target = torch.randn(batch, horizon, 1), torch.randn(batch, 2), torch.randn(batch, horizon, targets)
    embedding = torch.nn.Embedding(targets, 3)
    rows, futures, statics, row_targets = split_channels(past, future, static, target, targets, embedding)
    for b in range(batch):
        for c in range(targets):
            row = b * targets + c
            torch.testing.assert_close(rows[row], torch.cat([past[b, :, c : c + 1], past[b, :, targets:]], -1))
            torch.testing.assert_close(futures[row], future[b])
            torch.testing.assert_close(statics[row], torch.cat([static[b], embedding.weight[c]]))
            torch.testing.assert_close(row_targets[row, :, 0], target[b, :, c])
    params = torch.stack([row_targets, 2 * row_targets], -1)  # -> (B * C_out, H, 1, 2)
    torch.testing.assert_close(merge_channels(params, targets), torch.stack([target, 2 * target], -1))


@pytest.mark.slow
@pytest.mark.parametrize("sampling", ["windows", "series"])
def test_worker_processes_draw_the_batches_of_a_loader_without_them(frame, sampling, seeds):
    def drawn(num_workers: int) -> list[tuple[int, int]]:
        data = module(frame, sampling=sampling, batch_size=8, num_workers=num_workers)
        L.seed_everything(2, verbose=False)
        loader = data.train_dataloader()
        return [origins(loader) for _ in range(2)]

    assert drawn(2) == drawn(0)


@pytest.mark.parametrize("sampling", ["windows", "series"])
def test_a_loader_resumed_past_its_last_batch_ends_the_epoch(frame, sampling):
    """Resumed on data of fewer batches than the checkpoint's loop had taken (another train_stride, say), the
    series-balanced loader raised Python's 'generator raised StopIteration'; the uniform one ended the epoch."""
    loader = module(frame, sampling=sampling, batch_size=8, train_stride=4).train_dataloader()
    loader.consumed = lambda: len(loader) + 3  # the restored loop's count, of the run with train_stride 1
    loader.load_state_dict({"seed": 5})
    assert list(loader) == []
    assert len(list(loader)) == len(loader)  # the next epoch is whole


def test_a_shard_sampler_draws_other_permutations_for_other_seeds_and_processes():
    """``data.shard: series`` seeded each process's permutation with ``seed + rank + epoch``: seed 1's epoch 0 was
    seed 0's epoch 1, and process 1's epoch e process 0's epoch e + 1."""
    from forecast.data.sharding import ShardSampler

    def order(seed: int, process: int, epoch: int) -> list[int]:
        sampler = ShardSampler(list(range(50)), 50, shuffle=True, seed=seed, process=process)
        sampler.set_epoch(epoch)
        return list(sampler)

    assert order(0, 0, 1) == order(0, 0, 1) and sorted(order(0, 0, 1)) == list(range(50))
    assert order(1, 0, 0) != order(0, 0, 1)
    assert order(0, 1, 0) != order(0, 0, 1)
    assert order(0, 1, 0) != order(0, 0, 0)
