from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DistributedSampler

from forecast import Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data import FractionSplit, RowSplit
from forecast.data.windows import WindowBatchSampler

LOOKBACK, HORIZON = 10, 5
TARGETS = ["c", "a"]


@pytest.fixture
def data(wide_frame):
    module = TimeSeriesDataModule(
        wide_frame, LOOKBACK, HORIZON, columns=Columns(targets=TARGETS), split=RowSplit(120, 160), batch_size=7
    )
    module.setup("fit")
    return module


@pytest.fixture
def scaled(wide_frame):
    """The scaled targets, computed independently with scikit-learn on the training rows."""
    values = wide_frame[TARGETS].to_numpy()
    return StandardScaler().fit(values[:120]).transform(values).astype(np.float32)


@pytest.mark.parametrize("part, starts", [("train", (0, 50, 105)), ("val", (110, 130, 145)), ("test", (150, 170, 185))])
def test_windows_equal_hand_computed_slices(data, scaled, part, starts):
    dataset = data.dataset(part)
    assert len(dataset) == starts[-1] - starts[0] + 1
    first = starts[0]
    batch = dataset.__getitems__([start - first for start in starts])
    for i, start in enumerate(starts):
        np.testing.assert_allclose(batch.past[i].numpy(), scaled[start : start + LOOKBACK], rtol=1e-5, atol=1e-6)
        target = scaled[start + LOOKBACK : start + LOOKBACK + HORIZON]
        np.testing.assert_allclose(batch.target[i].numpy(), target, rtol=1e-5, atol=1e-6)
    assert batch.time.tolist() == [start + LOOKBACK for start in starts]


def test_batch_maps_back_to_original_units(data, wide_frame):
    batch = data.dataset("test").__getitems__([0, 35])
    original = wide_frame[TARGETS].to_numpy()
    np.testing.assert_allclose(batch.to_original(batch.target)[1].numpy(), original[195:200], rtol=1e-5)


def test_dataloader_yields_every_window_once(data):
    batches = list(data.test_dataloader())
    assert [len(batch) for batch in batches] == [7] * 5 + [1]
    assert torch.cat([batch.time for batch in batches]).tolist() == list(range(160, 196))


def test_predict_window_ends_at_the_last_row(data, scaled, wide_frame):
    (batch,) = list(data.predict_dataloader())
    np.testing.assert_allclose(batch.past[0].numpy(), scaled[-LOOKBACK:], rtol=1e-5, atol=1e-6)
    assert torch.isnan(batch.target).all()
    times = data.forecast_times(0, batch.time.item())
    assert times[0] == wide_frame.index[-1] + pd.Timedelta(hours=1) and len(times) == HORIZON


def long_series(lengths: list[int], shifts: list[int]) -> pd.DataFrame:
    """Series ``s{i}`` with ``y = 1000 i + row`` and ``x = -y``, interleaved by time as a panel would be."""
    parts = [
        pd.DataFrame(
            {
                "id": f"s{i}",
                "time": pd.date_range("2020-01-01", periods=rows, freq="D") + pd.Timedelta(days=shift),
                "y": 1000.0 * i + np.arange(rows),
            }
        )
        for i, (rows, shift) in enumerate(zip(lengths, shifts, strict=True))
    ]
    frame = pd.concat(parts, ignore_index=True).sort_values("time", kind="stable", ignore_index=True)
    return frame.assign(x=-frame["y"])


def train_share(fractions) -> float:
    """The share of training rows, 1 - val - test reckoned on the fractions as written (1 - 0.05 - 0.05 is
    0.9, where float subtraction gives 0.8999999999999999)."""
    return float(1 - sum(Fraction(repr(fraction)) for fraction in fractions))


def expected_windows(lengths, fractions, part, lookback, horizon, stride):
    """(series, first target row) of every window, enumerated one by one."""
    windows = []
    for i, rows in enumerate(lengths):
        val_start, test_start = int(rows * train_share(fractions)), rows - int(rows * fractions[1])
        start, end = {"train": (0, val_start), "val": (val_start, test_start), "test": (test_start, rows)}[part]
        time = max(start, lookback)
        while time + horizon <= end:
            windows.append((i, time))
            time += stride
    return windows


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_windows_are_exact_slices_within_series_and_parts(data):
    lookback, horizon = data.draw(st.integers(1, 8), "lookback"), data.draw(st.integers(1, 6), "horizon")
    # At least 7 rows: at least 2 training rows (fractions leave 30% or more), so the scaler has a spread to learn.
    lengths = data.draw(st.lists(st.integers(max(lookback + horizon, 7), 70), min_size=1, max_size=4), "lengths")
    shifts = data.draw(st.lists(st.integers(0, 30), min_size=len(lengths), max_size=len(lengths)), "shifts")
    fractions = data.draw(st.tuples(st.floats(0.05, 0.35), st.floats(0.05, 0.35)), "fractions")
    stride, scaled = data.draw(st.integers(1, 4), "stride"), data.draw(st.booleans(), "scaled")
    frame = long_series(lengths, shifts)
    module = TimeSeriesDataModule(
        frame, lookback, horizon, columns=Columns(targets=["y"], past_covariates=["x"]),
        split=FractionSplit(*fractions), train_stride=stride,
        scaling=Scaling(scaler=StandardScaler if scaled else None, covariate_scaler=None),
    )  # fmt: skip
    module.setup("predict")
    source = {f"s{i}": 1000.0 * i + np.arange(rows) for i, rows in enumerate(lengths)}
    train_rows = np.concatenate([y[: int(len(y) * train_share(fractions))] for y in source.values()])
    mean, std = (train_rows.mean(), train_rows.std()) if scaled else (0.0, 1.0)
    targets_of = {}
    for part in ("train", "val", "test"):
        expected = expected_windows(lengths, fractions, part, lookback, horizon, stride if part == "train" else 1)
        if not expected:
            with pytest.raises(ForecastDataError, match=f"the {part} part has no window"):
                module.dataset(part)
            continue
        dataset = module.dataset(part)
        batch = dataset.__getitems__(list(range(len(dataset))))
        names = [module.series_names[s] for s in batch.series.tolist()]
        assert sorted(zip([int(n[1:]) for n in names], batch.time.tolist(), strict=True)) == expected  # exact count
        for i, (name, time) in enumerate(zip(names, batch.time.tolist(), strict=True)):
            y = source[name]
            past, target = y[time - lookback : time], y[time : time + horizon]  # slices of one series only
            np.testing.assert_allclose(batch.past[i, :, 0].numpy(), (past - mean) / std, rtol=1e-5, atol=1e-4)
            np.testing.assert_allclose(batch.past[i, :, 1].numpy(), -past)  # the covariate, unscaled
            np.testing.assert_allclose(batch.target[i, :, 0].numpy(), (target - mean) / std, rtol=1e-5, atol=1e-4)
            targets_of.setdefault(part, set()).update((name, row) for row in range(time, time + horizon))
    for part, other in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not targets_of.get(part, set()) & targets_of.get(other, set())


def test_every_training_window_once_per_shuffled_epoch(long_frame):
    module = TimeSeriesDataModule(
        long_frame, 10, 5, columns=Columns(targets=["y"]), split=FractionSplit(), batch_size=16, train_stride=3
    )
    module.setup("fit")
    batches = list(module.train_dataloader())
    seen = torch.stack([torch.cat([b.series for b in batches]), torch.cat([b.time for b in batches])], 1).tolist()
    seen = [tuple(window) for window in seen]
    expected = expected_windows([120, 90, 150], (0.1, 0.2), "train", 10, 5, 3)
    assert sorted(seen) == expected and seen != expected  # all windows, once each, shuffled


def test_predict_gives_one_window_per_series_ending_at_its_last_row(long_frame):
    module = TimeSeriesDataModule(
        long_frame,
        10,
        5,
        columns=Columns(targets=["y"], past_covariates=["load"]),
        scaling=Scaling(scaler=None, covariate_scaler=None),
    )
    module.setup("predict")
    (batch,) = list(module.predict_dataloader())
    assert batch.time.tolist() == [120, 90, 150] and torch.isnan(batch.target).all()
    for i, name in enumerate(module.series_names):
        rows = long_frame[long_frame["id"] == name]
        np.testing.assert_allclose(batch.past[i].numpy(), rows[["y", "load"]].to_numpy()[-10:], rtol=1e-6)
        times = module.forecast_times(i, int(batch.time[i]))
        assert list(times) == list(pd.date_range(rows["time"].iloc[-1], periods=6, freq="h")[1:])


def shards(sampler_of, pad_shards: bool, windows: int = 9, processes: int = 2) -> list[list[int]]:
    """Each process's windows, as WindowBatchSampler reads them around torch's DistributedSampler."""
    dataset = range(windows)
    return [
        np.concatenate(
            list(WindowBatchSampler(sampler_of(dataset, rank), 4, drop_last=False, pad_shards=pad_shards))
        ).tolist()
        for rank in range(processes)
    ]


@pytest.mark.parametrize("shuffle", [False, True])
def test_evaluation_shards_hold_every_window_once(shuffle):
    def sampler_of(dataset, rank):
        return DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=shuffle, seed=3)

    padded, unpadded = shards(sampler_of, pad_shards=True), shards(sampler_of, pad_shards=False)
    assert [len(share) for share in padded] == [5, 5]  # torch's sampler repeats a window for the second process
    assert [len(share) for share in unpadded] == [5, 4]
    assert sorted(unpadded[0] + unpadded[1]) == list(range(9))
    assert unpadded[1] == padded[1][:4]  # the same windows in the same order, less the repeat
    sampler = WindowBatchSampler(sampler_of(range(9), 1), 4, drop_last=False, pad_shards=False)
    assert len(sampler) == 1  # 4 windows in batches of 4


def test_evaluation_shards_refuse_more_processes_than_windows():
    sampler = WindowBatchSampler(DistributedSampler(range(1), num_replicas=2, rank=0), 4, False, pad_shards=False)
    with pytest.raises(ValueError, match="1 windows to evaluate on 2 processes.*trainer.devices"):
        list(sampler)


def test_index_of_inverts_locate(long_frame):
    module = TimeSeriesDataModule(long_frame, 12, 4, columns=Columns(targets=["y"]), eval_stride=3)
    module.setup("test")
    dataset = module.dataset("test")
    index = np.arange(len(dataset))
    np.testing.assert_array_equal(dataset.index_of(*dataset.locate(index)), index)


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_future_covariates_and_statics_are_those_of_each_windows_own_rows_and_series(data):
    """Every window's future covariates are its horizon's rows (for predict: the rows given after the data),
    and its static features its own series', over series of different lengths and starts, strides and batches."""
    lookback, horizon = data.draw(st.integers(1, 6), "lookback"), data.draw(st.integers(1, 4), "horizon")
    lengths = data.draw(st.lists(st.integers(lookback + horizon + 4, 40), min_size=1, max_size=4), "lengths")
    shifts = data.draw(st.lists(st.integers(0, 9), min_size=len(lengths), max_size=len(lengths)), "shifts")
    strides = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)), "strides")
    parts = []
    for i, (rows, shift) in enumerate(zip(lengths, shifts, strict=True)):
        times = pd.date_range("2020-01-01", periods=rows + horizon, freq="D") + pd.Timedelta(days=shift)
        y = np.r_[1000.0 * i + np.arange(rows), np.full(horizon, np.nan)]  # then the future-only rows
        parts.append(pd.DataFrame({"id": f"s{i}", "time": times, "y": y, "f": -1000.0 * i - np.arange(rows + horizon)}))
    frame = pd.concat(parts, ignore_index=True).sort_values("time", kind="stable", ignore_index=True)
    frame = frame.assign(size=frame["id"].str[1:].astype(float) ** 2, kind=frame["id"].map(lambda s: "zyxw"[int(s[1])]))
    module = TimeSeriesDataModule(
        frame, lookback, horizon, split=FractionSplit(0.2, 0.2), train_stride=strides[0], eval_stride=strides[1],
        columns=Columns(targets=["y"], future_covariates=["f"], static_covariates=["size", "kind"]),
        scaling=Scaling(scaler=None, covariate_scaler=None), batch_size=data.draw(st.integers(1, 5), "batch_size"),
    )  # fmt: skip
    module.setup("predict")
    kinds = sorted({"zyxw"[i] for i in range(len(lengths))})
    for part in ("train", "val", "test", "predict"):
        if part != "predict" and not module._windows(part, check=False).counts.sum():
            continue
        for batch in module._loader(part):
            for k, (series, time) in enumerate(zip(batch.series.tolist(), batch.time.tolist(), strict=True)):
                i = int(module.series_names[series][1:])
                rows = np.arange(time, time + horizon)
                np.testing.assert_array_equal(batch.future[k, :, 0].numpy(), -1000.0 * i - rows)
                np.testing.assert_array_equal(
                    batch.past[k, :, 0].numpy(), 1000.0 * i + np.arange(time - lookback, time)
                )
                if part == "predict":
                    assert time == lengths[i]
                else:
                    np.testing.assert_array_equal(batch.target[k, :, 0].numpy(), 1000.0 * i + rows)
                assert batch.static[k, 1].item() == kinds.index("zyxw"[i])
                assert batch.static[k, 0].item() == i**2
