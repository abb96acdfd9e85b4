"""The data core against hand references: windows, splits, scalers and shards."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from torch.utils.data import DistributedSampler

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import DateSplit, ETTSplit, FractionSplit
from forecast.data.scaling import fit_scaling
from forecast.data.sharding import assign_shards
from forecast.data.windows import EvaluationBatchSampler

COLUMNS = Columns(targets=["y"], id_column="id", time_column="time")


def long_frame(lengths: list[int], starts: list[str]) -> pd.DataFrame:
    """Series ``s{i}`` of ``lengths[i]`` days from ``starts[i]``, ``y`` distinct in every row."""
    parts = []
    for i, (rows, start) in enumerate(zip(lengths, starts, strict=True)):
        times = pd.date_range(start, periods=rows, freq="D")
        parts.append(pd.DataFrame({"id": f"s{i}", "time": times, "y": 1000.0 * i + rows**0.5 * np.arange(rows)}))
    return pd.concat(parts, ignore_index=True)


def test_windows_of_series_of_different_lengths_and_starts_equal_a_hand_loop():
    lookback, horizon, train_stride, eval_stride = 6, 3, 2, 3
    frame = long_frame([40, 29, 57], ["2020-01-01", "2020-01-09", "2019-12-20"])
    data = TimeSeriesDataModule(frame, lookback, horizon, columns=COLUMNS, split=FractionSplit(0.2, 0.2),
                                train_stride=train_stride, eval_stride=eval_stride)  # fmt: skip
    data.setup("fit")
    values = {name: frame.loc[frame["id"] == name, "y"].to_numpy() for name in data.table.names}
    train = np.concatenate([y[: int(len(y) * 0.6)] for y in values.values()])[:, None]
    scaler = StandardScaler().fit(train)
    for part in ("train", "val", "test"):
        expected = []
        for i, y in enumerate(values.values()):
            start, end = {"train": (0, int(len(y) * 0.6)), "val": (int(len(y) * 0.6), len(y) - int(len(y) * 0.2)),
                          "test": (len(y) - int(len(y) * 0.2), len(y))}[part]  # fmt: skip
            origin = max(start, lookback)
            while origin + horizon <= end:
                expected.append((i, origin))
                origin += train_stride if part == "train" else eval_stride
        dataset = data.dataset(part)
        batch = dataset.__getitems__(list(range(len(dataset))))
        assert list(zip(batch.series.tolist(), batch.time.tolist(), strict=True)) == expected
        for k, (i, origin) in enumerate(expected):
            y = list(values.values())[i]
            scaled = scaler.transform(y[:, None])[:, 0]
            np.testing.assert_allclose(batch.past[k, :, 0], scaled[origin - lookback : origin], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(batch.target[k, :, 0], scaled[origin : origin + horizon], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(
                batch.to_original(batch.target)[k, :, 0], y[origin : origin + horizon], rtol=1e-5
            )


def test_a_part_without_a_window_names_the_series_nearest_to_one_not_the_longest():
    """A, the longest, ends before validation; B has 3 validation rows where a window needs 5: the message named A's
    empty rows [100, 100), which tell nothing of why, and not B's."""
    frame = long_frame([100, 60], ["2020-01-01", "2020-02-20"])
    data = TimeSeriesDataModule(frame, 10, 5, columns=COLUMNS, split=DateSplit("2020-04-11", "2020-04-14"))
    message = r"its targets span rows \[51, 54\) of 60 \(series 's1', the nearest to a window\), but a window needs 5"
    with pytest.raises(ForecastDataError, match=message):
        data.setup("fit")


def test_a_part_without_a_window_names_a_series_with_rows_of_it_over_one_that_ends_before_it():
    """s0 ends before validation (0 rows of it); s1 has 3 validation rows, fewer than its lookback reaches (-1 after
    a lookback): the message named s0's empty rows [100, 100) as the nearest to a window."""
    frame = long_frame([100, 20], ["2020-01-01", "2020-04-03"])
    data = TimeSeriesDataModule(frame, 12, 3, columns=COLUMNS, split=DateSplit("2020-04-11", "2020-04-14"))
    with pytest.raises(ForecastDataError, match=r"span rows \[8, 11\) of 20 \(series 's1', the nearest to a window\)"):
        data.setup("fit")


@pytest.mark.parametrize("rows_per_hour", [1, 4])
def test_ett_borders_are_12_4_4_months_of_30_days(rows_per_hour):
    month = 30 * 24 * rows_per_hour
    times = pd.date_range("2016-07-01", periods=20 * month + 7, freq=f"{60 // rows_per_hour}min", name="date")
    data = TimeSeriesDataModule(pd.DataFrame({"a": np.arange(len(times)) % 13.0}, index=times), 96, 24,
                                split=ETTSplit(rows_per_hour))  # fmt: skip
    data.setup("fit")
    assert data.borders.tolist() == [[12 * month, 16 * month, 20 * month]]
    val = data.dataset("val")
    assert (val.locate([0])[1][0], val.locate([len(val) - 1])[1][0] + 24) == (12 * month, 16 * month)
    assert len(data.dataset("test")) == 4 * month - 24 + 1 and len(data.dataset("train")) == 12 * month - 96 - 24 + 1


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_per_series_scalers_with_missing_values_equal_scikit_learns_on_the_training_rows(scaler):
    rng = np.random.default_rng(3)
    column = rng.normal(50, 4, 30)
    column[[2, 13, 14]] = np.nan
    column[20] = np.inf
    starts, ends = np.array([0, 12, 25]), np.array([8, 22, 28])
    fitted = fit_scaling(scaler, [column], starts, ends, per_series=["a", "b", "c"])
    finite = np.where(np.isfinite(column), column, np.nan)[:, None]
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        reference = scaler().fit(finite[start:end])
        np.testing.assert_allclose(fitted.transform(finite, i), reference.transform(finite), rtol=1e-5, atol=1e-6)
        back = fitted.transform(finite, i) * fitted.scale[i] + fitted.offset[i]
        np.testing.assert_allclose(back, finite, rtol=1e-6)


@settings(max_examples=15, deadline=None)
@given(windows=st.integers(4, 23), processes=st.integers(1, 4), shuffle=st.booleans(), batch_size=st.integers(1, 5))
def test_evaluation_reads_every_window_once_across_processes(windows, processes, shuffle, batch_size):
    read = []
    for rank in range(processes):
        sampler = DistributedSampler(range(windows), num_replicas=processes, rank=rank, shuffle=shuffle, seed=1)
        batches = list(EvaluationBatchSampler(sampler, batch_size))
        assert len(batches) == len(EvaluationBatchSampler(sampler, batch_size))
        read += [int(i) for batch in batches for i in batch]
    assert sorted(read) == list(range(windows))


def test_shares_swap_series_where_taking_them_in_turn_leaves_a_process_without_a_part():
    """Process 0 took a and d (train, val and test), leaving b and c without validation windows: refused with
    "leave process 1 without one" (``check_shares``), where {a, b} and {c, d} each have all three."""
    parts = np.array([[1, 1, 0], [1, 0, 1], [1, 0, 0], [0, 1, 1]], dtype=bool)  # a, b, c, d: train, val, test
    ranks = assign_shards(["a", "b", "c", "d"], np.array([24, 22, 7, 23]), 2, parts)
    assert [parts[ranks == rank].any(0).tolist() for rank in range(2)] == [[True] * 3] * 2


@settings(max_examples=20, deadline=None)
@given(data=st.data(), world_size=st.integers(2, 3))
def test_shares_give_every_process_training_and_validation_windows_wherever_some_sharing_does(data, world_size):
    count = data.draw(st.integers(world_size, 5))
    parts = np.array(
        data.draw(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=count, max_size=count))
    )
    rows = np.array(data.draw(st.lists(st.integers(1, 50), min_size=count, max_size=count)))
    ids = [f"s{i}" for i in range(count)]

    def complete(ranks) -> bool:  # of training and validation windows, which fit needs on every process
        ranks, needed = np.asarray(ranks), parts[:, :2]
        held = [needed[ranks == rank].any(0) for rank in range(world_size)]
        return all(len(needed[ranks == rank]) and (held[rank] == needed.any(0)).all() for rank in range(world_size))

    ranks = assign_shards(ids, rows, world_size, parts)
    if any(complete(choice) for choice in itertools.product(range(world_size), repeat=count)):
        assert complete(ranks)
    order = np.argsort([-int(r) for r in rows], kind="stable")[::-1]
    reordered = assign_shards([ids[i] for i in order], rows[order], world_size, parts[order])
    assert reordered.tolist() == ranks[order].tolist()
