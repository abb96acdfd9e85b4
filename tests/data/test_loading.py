import dataclasses
from collections import Counter

import pytest
import torch
from lightning.pytorch.trainer.connectors.data_connector import _get_distributed_sampler
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data._utils.pin_memory import pin_memory

from forecast import Batch, Columns, TimeSeriesDataModule
from forecast.data import SeriesBalancedSampler

ONLY_Y = Columns(targets=["y"])


def windows_of(loader) -> list[tuple[int, int]]:
    batches = list(loader)
    pairs = torch.stack([torch.cat([b.series for b in batches]), torch.cat([b.time for b in batches])], 1)
    return [tuple(pair) for pair in pairs.tolist()]


@pytest.fixture
def data(long_frame):
    module = TimeSeriesDataModule(
        long_frame, 10, 5, columns=Columns(targets=["y"], static_covariates=["region"]), batch_size=16
    )
    module.setup("fit")
    return module


def test_balanced_sampler_gives_every_series_the_same_share():
    counts = torch.tensor([3000, 30, 0, 3])
    sampler = SeriesBalancedSampler(counts, seed=1, num_samples=30000)
    draws = torch.tensor(list(sampler))
    series = torch.searchsorted(torch.cumsum(counts, 0), draws, right=True)
    shares = torch.bincount(series, minlength=4) / len(draws)
    torch.testing.assert_close(shares, torch.tensor([1 / 3, 1 / 3, 0, 1 / 3]), atol=0.015, rtol=0)
    assert set(draws[series == 3].tolist()) == {3030, 3031, 3032}  # every window of the short series


def test_balanced_sampler_draws_the_same_sequence_per_seed_and_epoch():
    counts = torch.tensor([50, 7])
    first, again = SeriesBalancedSampler(counts, seed=3), SeriesBalancedSampler(counts, seed=3)
    assert len(first) == 57 and list(first) == list(again)
    first.set_epoch(5)
    again.set_epoch(5)
    epoch_five = list(first)
    assert epoch_five == list(again) and epoch_five != list(SeriesBalancedSampler(counts, seed=3))


def test_series_sampling_weights_series_equally_in_the_training_loader(long_frame):
    module = TimeSeriesDataModule(long_frame, 10, 5, columns=ONLY_Y, sampling="series", batch_size=64)
    module.setup("fit")
    loader = module.train_dataloader()
    assert isinstance(loader.sampler, SeriesBalancedSampler) and len(loader.sampler) == len(module.dataset("train"))
    seen = Counter(series for _ in range(20) for series, _ in windows_of(loader))
    assert max(seen.values()) / min(seen.values()) < 1.15  # series of 84, 62 and 105 training rows
    assert windows_of(module.val_dataloader()) == windows_of(module.val_dataloader())  # evaluation stays in order


@pytest.mark.parametrize("sampling", ["windows", "series"])
def test_lightning_distributed_sampler_splits_the_epoch_between_processes(long_frame, sampling):
    def module():  # one per process, as under DDP
        data = TimeSeriesDataModule(long_frame, 10, 5, columns=ONLY_Y, sampling=sampling, batch_size=16)
        data.setup("fit")
        return data

    ranks = []
    for rank in (0, 1):  # what Lightning does to the training loader of each process
        loader = module().train_dataloader()
        sampler = _get_distributed_sampler(loader, shuffle=True, overfit_batches=0, num_replicas=2, rank=rank)
        ranks.append(windows_of(_update_dataloader(loader, sampler)))
    data = module()
    dataset = data.dataset("train")
    index = torch.arange(len(dataset)) if sampling == "windows" else torch.tensor(list(data.train_dataloader().sampler))
    series, time = dataset.locate(index)
    epoch = Counter(zip(series.tolist(), time.tolist(), strict=True))  # the one epoch both processes split
    both = Counter(ranks[0] + ranks[1])
    padding = len(ranks[0]) + len(ranks[1]) - len(dataset)
    assert len(ranks[0]) == len(ranks[1]) and padding in (0, 1)  # 209 windows: one repeated to even out
    assert both - epoch == Counter() or sum((both - epoch).values()) == padding
    assert epoch - both == Counter()


def test_worker_processes_give_the_same_batches(long_frame):
    def module(num_workers):
        data = TimeSeriesDataModule(long_frame, 10, 5, columns=ONLY_Y, batch_size=16, num_workers=num_workers)
        data.setup("test")
        return data

    one, two = module(0), module(2)
    batches, in_workers = list(one.test_dataloader()), list(two.test_dataloader())
    assert len(batches) == len(in_workers) > 1
    for mine, theirs in zip(batches, in_workers, strict=True):
        torch.testing.assert_close(mine.past, theirs.past)
        torch.testing.assert_close(mine.time, theirs.time)


def test_pinning_keeps_the_batch_whole(data, monkeypatch):
    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda tensor, *args: pinned.append(tensor) or tensor.clone())
    batch = data.dataset("val").__getitems__([0, 1, 2])
    result = pin_memory(batch)  # what the DataLoader's pinning thread calls
    tensors = [field for field in dataclasses.fields(Batch) if getattr(batch, field.name) is not None]
    assert isinstance(result, Batch) and len(pinned) == len(tensors)  # every tensor pinned (no repaired target here)
    torch.testing.assert_close(result.past, batch.past)
    assert data.train_dataloader().pin_memory is False
    data.pin_memory = True
    assert data.train_dataloader().pin_memory is True


@pytest.mark.parametrize("sampling", ["windows", "series"])
def test_a_training_loader_resumed_mid_epoch_yields_the_rest_of_the_epoch(long_frame, sampling):
    def loader():
        module = TimeSeriesDataModule(long_frame, 10, 5, columns=ONLY_Y, batch_size=16, sampling=sampling)
        module.setup("fit")
        return module.train_dataloader()

    torch.manual_seed(3)
    first = loader()
    epoch = iter(first)
    taken = [next(epoch) for _ in range(2)]
    state = first.state_dict()
    rest = list(epoch)
    torch.manual_seed(99)  # a new process: another generator until the checkpoint's is restored
    resumed = loader()
    resumed.consumed = lambda: len(taken)  # what Lightning's restored loop reports
    resumed.load_state_dict(state)
    windows = [(batch.series.tolist(), batch.time.tolist()) for batch in resumed]
    assert windows == [(batch.series.tolist(), batch.time.tolist()) for batch in rest]
    fresh = [(batch.series.tolist(), batch.time.tolist()) for batch in resumed]  # the next epoch: a new order
    assert len(fresh) == len(taken) + len(rest) and fresh[: len(rest)] != windows


def test_the_epoch_after_a_resume_shuffles_as_a_run_never_stopped_with_worker_processes(long_frame):
    """A never-stopped run's persistent workers take their seed once; a resumed process starts new workers,
    whose seed must not shift the global generator that the next epoch's shuffle draws from."""

    def loader():
        module = TimeSeriesDataModule(long_frame, 10, 5, columns=ONLY_Y, batch_size=16, num_workers=1)
        module.setup("fit")
        return module.train_dataloader()

    torch.manual_seed(3)
    straight = loader()
    windows_of(straight)  # epoch 0
    state, random_state = straight.state_dict(), torch.get_rng_state()  # what the checkpoint at its end keeps
    never_stopped = windows_of(straight)  # epoch 1
    torch.manual_seed(99)  # a new process: another generator until the checkpoint's is restored
    torch.set_rng_state(random_state)
    resumed = loader()  # Lightning builds the loader after restoring the generator
    resumed.load_state_dict(state)  # with 0 batches of the epoch consumed: a new epoch
    assert windows_of(resumed) == never_stopped


def test_worker_processes_leave_the_training_order_as_without_them(long_frame):
    """num_workers is a speed option: with the same seed, a fit with a worker shuffles (and leaves the global
    generator, which dropout draws from) as one without, through validation passes and epochs. Before, a pass
    without workers drew its workers' seed from the global generator and moved every later draw."""

    def run(num_workers: int) -> tuple[list, float]:
        module = TimeSeriesDataModule(
            long_frame, 10, 5, columns=Columns(targets=["y"]), batch_size=16, num_workers=num_workers
        )
        module.setup("fit")
        torch.manual_seed(3)
        train, val = module.train_dataloader(), module.val_dataloader()  # built once, as Lightning does
        seen = []
        for _ in range(2):  # Lightning validates before the first epoch (its sanity check) and after each
            list(val)
            seen += [(batch.series.tolist(), batch.time.tolist()) for batch in train]
        return seen, torch.rand(1).item()

    assert run(1) == run(0)
