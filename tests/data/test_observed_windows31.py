"""Training leaves out the windows whose targets were all repaired: a batch of them alone had no loss, logged
``train/loss`` 0 and still stepped the optimizer. Checked against a brute-force list of the windows that have an
observed target, under each sampling and each repair."""

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit

LOOKBACK, HORIZON = 4, 3


def two_series(gap: slice) -> pd.DataFrame:
    """Two hourly series of 40 rows in long form; series 'a' misses its targets in ``gap``, 'b' none."""
    times = pd.date_range("2024-01-01", periods=40, freq="h")
    rng = np.random.default_rng(0)
    frames = []
    for name in ("a", "b"):
        y = rng.normal(size=40).cumsum()
        if name == "a":
            y[gap] = np.nan
        frames.append(pd.DataFrame({"id": name, "time": times, "y": y}))
    return pd.concat(frames, ignore_index=True)


def data(frame: pd.DataFrame, nan_policy: str, **options) -> TimeSeriesDataModule:
    module = TimeSeriesDataModule(
        frame, lookback=LOOKBACK, horizon=HORIZON, split=FractionSplit(val=0.2, test=0.2), nan_policy=nan_policy,
        **options,
    )  # fmt: skip
    module.setup("fit")
    return module


def brute_force(module: TimeSeriesDataModule, frame: pd.DataFrame) -> set[tuple[int, int]]:
    """(series, first target row) of every training window with an observed target, by a loop over all windows."""
    kept = set()
    for series, name in enumerate(module.series_names):
        y = frame.loc[frame["id"] == name, "y"].to_numpy()
        for time in range(LOOKBACK, int(module.borders[series, 0]) - HORIZON + 1):
            if np.isfinite(y[time : time + HORIZON]).any():
                kept.add((series, time))
    return kept


def read(dataset) -> list[tuple[int, int]]:
    batch = dataset.__getitems__(list(range(len(dataset))))
    return list(zip(batch.series.tolist(), batch.time.tolist(), strict=True))


@pytest.mark.parametrize("nan_policy", ["zero", "ffill", "interpolate"])
def test_training_reads_exactly_the_windows_with_an_observed_target(nan_policy):
    frame = two_series(slice(10, 18))  # rows 10-17 of 'a': windows from rows 10 to 15 see no target
    module = data(frame, nan_policy)
    train = module.dataset("train")
    windows = read(train)
    assert set(windows) == brute_force(module, frame)
    assert len(windows) == len(set(windows)) == len(train)
    assert train.counts.tolist() == [sum(s == i for s, _ in windows) for i in range(2)]
    batch = train.__getitems__(list(range(len(train))))
    assert batch.observed.flatten(1).any(1).all()  # every window read has a target to learn from
    # The validation and test parts keep every window: they score over observed values, a window without adds none.
    assert len(module.dataset("val")) == int(module._windows("val").counts.sum())


def test_a_kept_window_reads_what_it_reads_among_all_windows():
    """The inputs of a kept window, repaired before its origin (``OriginRepair``), are those of the same window in
    the dataset of every window."""
    frame = two_series(slice(10, 18))
    module = data(frame, "interpolate")
    train = module.dataset("train")
    everything = module.scaled.before_origins(
        dict(
            buffer=module.buffer, windows=module._windows("train"), lookback=LOOKBACK, horizon=HORIZON,
            sizes=(1, 1, 0), static=module.static, **module.target_maps(),
        )
    )  # fmt: skip
    kept = train.__getitems__(list(range(len(train))))
    index = everything.index_of(kept.series.numpy(), kept.time.numpy())
    assert sorted(index.tolist()) == index.tolist() and len(index) < len(everything)
    whole = everything.__getitems__(index.tolist())
    torch.testing.assert_close(kept.past, whole.past, rtol=0, atol=0)
    torch.testing.assert_close(kept.target, whole.target, rtol=0, atol=0)
    np.testing.assert_array_equal(train.index_of(kept.series.numpy(), kept.time.numpy()), np.arange(len(train)))


@pytest.mark.parametrize("sampling", ["windows", "series"])
def test_every_training_batch_has_an_observed_target(sampling):
    frame = two_series(slice(4, 27))  # all of 'a''s training windows lie in the gap
    module = data(frame, "zero", sampling=sampling, batch_size=2)
    assert module.dataset("train").counts[module.series_names.index("a")] == 0
    for batch in module.train_dataloader():
        assert batch.observed.flatten(1).any(1).all()
        assert (np.asarray(module.series_names)[batch.series.numpy()] == "b").all()


def test_training_windows_without_any_observed_target_are_refused():
    frame = two_series(slice(0, 40)).query("id == 'a'").copy()
    frame.loc[frame.index[:2], "y"] = [1.0, 2.0]  # two values, both before the first training target
    with pytest.raises(ForecastDataError, match=r"none of the \d+ training windows has an observed value of"):
        data(frame, "ffill").dataset("train")
