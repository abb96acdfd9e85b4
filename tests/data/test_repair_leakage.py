"""Missing-value repair never carries values of a later split part into an earlier one."""

import logging

import numpy as np
import pytest
import torch

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.backtest import refit_borders

COLUMNS = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"], static_covariates=["size"])
DYNAMIC = ["y", "load", "price"]
POLICIES = ["ffill", "interpolate", "zero"]
# Rows of every series (by its own borders: v the first validation row, t the first test row) left
# missing in every dynamic column.
HOLES = {
    "last training row": lambda v, t: [v - 1],
    "first row of the series": lambda v, t: [0],
    "first rows and last training rows": lambda v, t: [0, 1, v - 3, v - 2, v - 1],
    "both sides of the validation border": lambda v, t: [v - 2, v - 1, v, v + 1],
    "both sides of the test border": lambda v, t: [t - 2, t - 1, t, t + 1],
}
# What protecting a part means: changing rows from this border on leaves the earlier parts' windows alone.
PROTECTED = {"val": (0, ["train"]), "test": (1, ["train", "val"])}


def make(frame, **kwargs):
    return TimeSeriesDataModule(frame, lookback=10, horizon=5, columns=COLUMNS, **kwargs)


def borders_of(frame) -> dict[str, np.ndarray]:
    data = make(frame, nan_policy="zero")  # the borders depend on the rows, not on their values
    return dict(zip(data.series_names, data.borders, strict=True))


def with_holes(frame, rows_of, borders: dict[str, np.ndarray] | None = None):
    """``frame`` with every dynamic value of the rows ``rows_of(val_start, test_start)`` of each series
    (by ``borders``, or the split's) missing."""
    frame = frame.copy()
    for name, (val_start, test_start, _) in (borders or borders_of(frame)).items():
        positions = np.flatnonzero(frame["id"] == name)
        frame.loc[positions[rows_of(val_start, test_start)], DYNAMIC] = np.nan
    return frame


def changed_from(frame, borders: dict[str, np.ndarray], column: int, seed: int = 0):
    """``frame`` with every dynamic value from border ``column`` of each series on replaced by others
    (far from the old ones, a few of them missing)."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    for name, border in borders.items():
        positions = np.flatnonzero(frame["id"] == name)[border[column] :]
        frame.loc[positions, DYNAMIC] = rng.normal(1000, 300, (len(positions), len(DYNAMIC)))
        frame.loc[positions[[1, 3]], DYNAMIC] = np.nan
    return frame


def windows(data, part):
    dataset = data.dataset(part)
    return dataset.__getitems__(list(range(len(dataset))))


def assert_same_fit(first, second, parts):
    for kind, (mine, theirs) in enumerate(zip(first.scalings, second.scalings, strict=True)):
        assert mine.state_dict() == theirs.state_dict(), f"scaling {kind}"
    for part in parts:
        mine, theirs = windows(first, part), windows(second, part)
        for field in ("past", "future", "static", "target", "target_scale", "target_offset"):
            torch.testing.assert_close(getattr(mine, field), getattr(theirs, field), msg=f"{part} {field}")


@pytest.mark.parametrize("border", PROTECTED)
@pytest.mark.parametrize("holes", HOLES)
@pytest.mark.parametrize("policy", POLICIES)
def test_repair_of_a_part_reads_no_later_part(long_frame, policy, holes, border):
    """Changing any value at or after the border changes neither the earlier parts' windows nor the scalers."""
    given = with_holes(long_frame, HOLES[holes])
    column, parts = PROTECTED[border]
    changed = changed_from(given, borders_of(given), column)
    first, second = make(given, nan_policy=policy), make(changed, nan_policy=policy)
    for data in (first, second):
        data.setup("fit")
    assert_same_fit(first, second, parts)


@pytest.mark.parametrize("policy", ["ffill", "interpolate"])
def test_repair_refuses_a_training_part_with_nothing_to_repair_from(long_frame, policy):
    """All training rows of B's ``load`` missing: filling them from validation rows would leak; refused."""
    val_start = borders_of(long_frame)["B"][0]
    rows = np.flatnonzero(long_frame["id"] == "B")[:val_start]
    long_frame.loc[rows, "load"] = np.nan
    with pytest.raises(
        ForecastDataError,
        match=rf"no finite value to repair from at column 'load', series 'B', row 120, .* and before the end "
        rf"of the train part \({val_start} rows into the series\).*nan_policy: zero",
    ):
        make(long_frame, nan_policy=policy)


def test_repair_logs_the_count_per_part(long_frame, caplog):
    borders = borders_of(long_frame)["A"]  # series A is rows 0-119 of the frame
    long_frame.loc[[3, 4, borders[0] + 2, borders[1] + 1], "y"] = np.nan
    long_frame.loc[[5], "price"] = np.nan
    with caplog.at_level(logging.INFO):
        make(long_frame, nan_policy="ffill")
    assert (
        "nan_policy=ffill: repaired 5 NaN or infinite values {'y': 4, 'price': 1}, "
        "per part {'train': 3, 'val': 1, 'test': 1}"
    ) in caplog.text


@pytest.mark.parametrize("policy", POLICIES)
def test_resplit_repairs_a_refit_training_part_from_its_own_rows(long_frame, policy):
    """A backtest refit trains on the rows before an origin; values after it change neither its
    training windows nor its scalers, and moving the split back restores the first repair."""
    plain = make(long_frame)
    original = plain.borders
    moved = refit_borders(plain, original[:, 1] - 10)  # the refit's validation ends 10 rows before test
    moved_of = dict(zip(plain.series_names, moved, strict=True))
    given = with_holes(long_frame, lambda v, t: [0, v - 2, v - 1, v], moved_of)  # around the refit's val border
    first, second = make(given, nan_policy=policy), make(changed_from(given, moved_of, 0), nan_policy=policy)
    repaired = {column: values.copy() for column, values in first.table.values.items()}
    for data in (first, second):
        data.resplit(moved)
        data.setup("fit")
    assert_same_fit(first, second, ["train"])
    first.resplit(original)
    for column, values in repaired.items():
        np.testing.assert_array_equal(first.table.values[column], values, err_msg=column)


@pytest.mark.parametrize("part", ["train", "val", "test"])
def test_interpolate_repairs_a_windows_inputs_from_the_rows_before_its_origin(part):
    """A gap of four rows just before a window's first forecast step: interpolation drew those inputs towards
    the step itself (the window's first target); they take the last value before the gap instead, as a
    forecast from a series ending at the origin would (a training window too: a model learns from inputs as
    it will be given them). A window whose origin lies after the gap's end keeps the interpolated inputs:
    both ends are behind it."""
    import pandas as pd

    rows = 300
    y = np.arange(rows, dtype=float) ** 2 / 100  # curved: an interpolated value differs from the last one
    data = TimeSeriesDataModule(
        pd.DataFrame({"y": y}, index=pd.date_range("2024-01-01", periods=rows, freq="h")), 12, 4, nan_policy="zero"
    )
    first_row = {"train": 12, "val": int(data.borders[0, 0]), "test": int(data.borders[0, 1])}[part]
    gap_end = first_row + 8  # the first given row after the gap, inside the part
    y[gap_end - 4 : gap_end] = np.nan
    frame = pd.DataFrame({"y": y}, index=pd.date_range("2024-01-01", periods=rows, freq="h"))
    data = TimeSeriesDataModule(frame, 12, 4, nan_policy="interpolate")
    data.setup("test" if part == "test" else "fit")
    dataset = data.dataset(part)
    inside, after = dataset.index_of(np.array([0, 0]), np.array([gap_end, gap_end + 2]))
    batch = dataset.__getitems__([int(inside), int(after)])
    inputs = batch.to_original(batch.past[:, -6:, :1])  # the last six inputs in original units: (2, 6, 1)
    np.testing.assert_allclose(inputs[0, -4:, 0].numpy(), y[gap_end - 5], rtol=1e-5)  # the last given value
    interpolated = np.interp(np.arange(gap_end - 4, gap_end), [gap_end - 5, gap_end], y[[gap_end - 5, gap_end]])
    np.testing.assert_allclose(inputs[1, -6:-2, 0].numpy(), interpolated, rtol=1e-5)


@pytest.mark.parametrize("border", ["val", "test", "end"])
def test_interpolate_repairs_a_gap_across_a_parts_border_as_a_series_ending_at_the_origin(border):
    """A gap that begins in one part and ends in the next was repaired part by part: its rows before the border
    held the earlier part's fill (the last value), those after it a line towards the value after the gap. A window
    of the later part (or a backtest's, or a forecast's from the data's end) whose origin lies after the gap read
    both; as a forecast from a series ending at its origin it reads one straight line across the gap."""
    import pandas as pd

    from forecast.backtest import backtest_loader, backtest_windows
    from forecast.data import RowSplit

    rows, lookback = 60, 8
    y = np.arange(rows, dtype=float) ** 2 / 10  # curved: neither a last value nor another line fits a line
    cut = {"val": 30, "test": 40, "end": 50}[border]
    gap = np.arange(cut - 3, cut + 3)  # three rows either side of the border
    y[gap] = np.nan
    frame = pd.DataFrame({"y": y}, index=pd.date_range("2024-01-01", periods=rows, freq="h"))
    data = TimeSeriesDataModule(frame, lookback, 2, split=RowSplit(30, 40, 50), nan_policy="interpolate")
    line = np.interp(gap, [gap[0] - 1, gap[-1] + 1], y[[gap[0] - 1, gap[-1] + 1]])
    origin = gap[-1] + 2  # the gap ends before it, inside the window's lookback
    if border == "end":  # the forecast from the data's end: its window reads the last rows, the gap among them
        frame, origin = frame.iloc[:origin], origin
        data = TimeSeriesDataModule(frame, lookback, 2, split=RowSplit(30, 40, 50), nan_policy="interpolate")
        data.setup("predict")
        batches = [data.dataset("predict").__getitems__([0])]
    else:
        part = border
        data.setup("test" if part == "test" else "fit")
        dataset = data.dataset(part)
        batches = [dataset.__getitems__([int(dataset.index_of(np.array([0]), np.array([origin]))[0])])]
        windows = backtest_windows(data, start=int(origin), num_windows=1)
        batches.append(next(iter(backtest_loader(data, windows))))
    for batch in batches:
        inputs = batch.to_original(batch.past[:, :, :1])[0, :, 0].numpy()  # rows origin - 8 .. origin - 1
        expected = y[origin - lookback : origin].copy()
        expected[np.isnan(expected)] = line[gap >= origin - lookback]
        np.testing.assert_allclose(inputs, expected, rtol=1e-5)


@pytest.mark.parametrize("policy", ["ffill", "interpolate"])
def test_a_windows_inputs_before_a_series_first_value_read_nothing_of_its_targets(policy):
    """Values before a channel's first given one take that first value; for a window whose origin comes at or
    before it, that value is one of its own targets (or later). Those inputs read the scaled data's zero
    instead, channel by channel; a window with a given value before its origin reads that one."""
    import pandas as pd

    rows = 300
    y = 50 + np.arange(rows, dtype=float) ** 2 / 100
    load = np.cos(np.arange(rows) / 5) * 10 + 100
    y[:20], load[:30] = np.nan, np.nan  # y's first value at row 20, load's at row 30
    frame = pd.DataFrame({"y": y, "load": load}, index=pd.date_range("2024-01-01", periods=rows, freq="h"))
    data = TimeSeriesDataModule(frame, 12, 4, columns=Columns(targets=["y"], past_covariates=["load"]),
                                nan_policy=policy)  # fmt: skip
    data.setup("fit")
    dataset = data.dataset("train")
    origins = np.arange(12, 40)
    batch = dataset.__getitems__([int(i) for i in dataset.index_of(np.zeros_like(origins), origins)])
    for origin, past in zip(origins, batch.past.numpy(), strict=True):
        for channel, first in enumerate((20, 30)):
            if origin <= first:  # nothing given before the origin
                np.testing.assert_array_equal(past[:, channel], 0.0, err_msg=f"origin {origin} channel {channel}")
            else:
                assert (past[:, channel] != 0.0).all(), f"origin {origin} channel {channel}"
    original = batch.to_original(batch.past[:, :, :1])[:, :, 0].numpy()
    np.testing.assert_allclose(original[origins == 21][0], y[20], rtol=1e-6)  # the first value, given before 21
