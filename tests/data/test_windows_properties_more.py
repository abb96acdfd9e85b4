"""Property tests of the windows of every part over random panels: each window's inputs end at its origin and
its targets start there, the parts' targets never overlap, a part's windows are all those whose targets lie in
it (evenly spaced by the stride), a window's inputs never depend on the rows from its origin on (repairs
included), and series too short are refused or left out as documented."""

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data import FractionSplit, RowSplit
from forecast.data.splits import part_windows

UNSCALED = Scaling(scaler=None, covariate_scaler=None)
COLUMNS = Columns(targets=["y"], past_covariates=["x"], future_covariates=["f"], static_covariates=["size"])
PARTS = ("train", "val", "test")


def panel(lengths: list[int], shifts: list[int]) -> pd.DataFrame:
    """Series ``s{i}`` starting ``shifts[i]`` days late, with ``y = 1000 i + row``, ``x = -y``,
    ``f = 0.5 - y`` and the static ``size = i``, interleaved by time."""
    parts = []
    for i, (rows, shift) in enumerate(zip(lengths, shifts, strict=True)):
        y = 1000.0 * i + np.arange(rows)
        times = pd.date_range("2020-01-01", periods=rows, freq="D") + pd.Timedelta(days=shift)
        parts.append(pd.DataFrame({"id": f"s{i}", "time": times, "y": y, "x": -y, "f": 0.5 - y, "size": float(i)}))
    return pd.concat(parts, ignore_index=True).sort_values("time", kind="stable", ignore_index=True)


def every_window(dataset):
    """The batch of all windows of ``dataset``."""
    return dataset.__getitems__(list(range(len(dataset))))


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_row_split_windows_are_exactly_those_whose_targets_lie_in_each_part(data):
    """ETT-style row borders over series of different lengths and starts: window k of a part forecasts from
    ``max(part start, lookback) + k * stride``; no window whose targets fit the part is missing (so ``eval_stride``
    leaves fewer than ``stride`` rows unforecast at its end); inputs are the ``lookback`` rows before the origin,
    targets and future covariates the ``horizon`` rows from it, all of the window's own series; no target row
    belongs to two parts, and no validation window reads a test row."""
    lookback, horizon = data.draw(st.integers(1, 8), "lookback"), data.draw(st.integers(1, 5), "horizon")
    val_start = data.draw(st.integers(1, 30), "val_start")
    test_start = data.draw(st.integers(val_start, 40), "test_start")
    lengths = data.draw(st.lists(st.integers(max(test_start, lookback + horizon), 60), min_size=1, max_size=3))
    shifts = data.draw(st.lists(st.integers(0, 20), min_size=len(lengths), max_size=len(lengths)), "shifts")
    test_end = data.draw(st.one_of(st.none(), st.integers(test_start, min(lengths))), "test_end")
    strides = {"train": data.draw(st.integers(1, 4), "train_stride"), "val": data.draw(st.integers(1, 4), "eval")}
    strides["test"] = strides["val"]
    module = TimeSeriesDataModule(
        panel(lengths, shifts), lookback, horizon, columns=COLUMNS, split=RowSplit(val_start, test_start, test_end),
        train_stride=strides["train"], eval_stride=strides["val"], scaling=UNSCALED,
    )  # fmt: skip
    module.setup("predict")
    names = [int(name[1:]) for name in module.series_names]
    targets_of = {}
    for part in PARTS:
        ends = {
            i: {"train": val_start, "val": test_start, "test": test_end or rows}[part] for i, rows in enumerate(lengths)
        }
        start = {"train": 0, "val": val_start, "test": test_start}[part]
        expected = []  # (series, origin), enumerated one by one
        for i in range(len(lengths)):
            origin = max(start, lookback)
            while origin + horizon <= ends[i]:
                expected.append((i, origin))
                origin += strides[part]
        if not expected:
            with pytest.raises(ForecastDataError, match=f"the {part} part has no window"):
                module.dataset(part)
            continue
        batch = every_window(module.dataset(part))
        found = [(names[s], t) for s, t in zip(batch.series.tolist(), batch.time.tolist(), strict=True)]
        assert sorted(found) == sorted(expected)
        for i in set(names):
            origins = np.array([t for s, t in found if s == i])
            if len(origins):  # evenly spaced, and no further window would fit the part
                assert (np.diff(np.sort(origins)) == strides[part]).all()
                assert origins.max() + horizon <= ends[i] < origins.max() + horizon + strides[part]
        if part == "test" and strides[part] == 1 and test_end is not None:  # the LTSF count: rows - H + 1 per series
            assert len(found) == len(set(names)) * max(test_end - max(test_start, lookback) - horizon + 1, 0)
        for k, (i, origin) in enumerate(found):
            inputs, steps = np.arange(origin - lookback, origin), np.arange(origin, origin + horizon)
            np.testing.assert_array_equal(batch.past[k, :, 0].numpy(), 1000.0 * i + inputs)
            np.testing.assert_array_equal(batch.past[k, :, 1].numpy(), -1000.0 * i - inputs)
            np.testing.assert_array_equal(batch.target[k, :, 0].numpy(), 1000.0 * i + steps)
            np.testing.assert_array_equal(batch.future[k, :, 0].numpy(), 0.5 - 1000.0 * i - steps)
            assert batch.static[k, 0].item() == i
            if part == "val":
                assert inputs.min() >= 0 and steps.max() < test_start  # inputs before its targets, before test
            if part == "train":
                assert steps.max() < val_start
            targets_of.setdefault(part, set()).update((i, row) for row in steps)
    for part, other in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not targets_of.get(part, set()) & targets_of.get(other, set())


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_a_windows_inputs_do_not_change_with_the_rows_from_its_origin_on(data):
    """With gaps that ``nan_policy`` repairs, changing the values of a series from some row on changes no input
    of a window of it whose origin is at or before that row, nor any window of another series: repairs never
    carry a value from a window's forecast rows into its inputs."""
    policy = data.draw(st.sampled_from(["ffill", "interpolate", "zero"]), "policy")
    lookback, horizon = data.draw(st.integers(1, 5), "lookback"), data.draw(st.integers(1, 3), "horizon")
    lengths = data.draw(st.lists(st.integers(lookback + horizon + 8, 40), min_size=1, max_size=3), "lengths")
    shifts = data.draw(st.lists(st.integers(0, 10), min_size=len(lengths), max_size=len(lengths)), "shifts")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    frame = panel(lengths, shifts)
    frame[["y", "x"]] = rng.normal(size=(len(frame), 2))
    holes = rng.random((len(frame), 2)) < 0.25
    frame[["y", "x"]] = frame[["y", "x"]].mask(holes)
    series = data.draw(st.integers(0, len(lengths) - 1), "series")
    cut = data.draw(st.integers(1, lengths[series] - 1), "cut")  # rows from ``cut`` on change
    changed = frame.copy()
    later = (changed["id"] == f"s{series}").to_numpy() & (changed.groupby("id").cumcount() >= cut).to_numpy()
    changed.loc[later, ["y", "x"]] += 100.0 + rng.normal(size=(int(later.sum()), 2))  # NaN stays NaN
    modules = []
    for source in (frame, changed):
        try:
            module = TimeSeriesDataModule(
                source, lookback, horizon, columns=COLUMNS, split=FractionSplit(0.25, 0.25), nan_policy=policy,
                scaling=UNSCALED,
            )  # fmt: skip
        except ForecastDataError as error:  # a part with nothing before it to repair from
            assert "no finite value to repair from" in str(error)
            return
        try:
            module.setup("predict")
        except ForecastDataError as error:  # a last target missing where later rows hold the past covariate
            assert "inside its history" in str(error)
            return
        modules.append(module)
    before, after = modules
    for part in PARTS:
        if not before._windows(part, check=False).counts.sum():
            continue
        old, new = every_window(before.dataset(part)), every_window(after.dataset(part))
        np.testing.assert_array_equal(old.time.numpy(), new.time.numpy())
        own = np.array([before.series_names[s] == f"s{series}" for s in old.series.tolist()])
        kept = ~own | (old.time.numpy() <= cut)
        np.testing.assert_array_equal(old.past[kept].numpy(), new.past[kept].numpy())
        np.testing.assert_array_equal(old.target[~own].numpy(), new.target[~own].numpy())


@settings(max_examples=50, deadline=None)
@given(data=st.data())
def test_lookbacks_evaluate_on_the_same_windows_of_every_series_the_longer_one_trains_on(data):
    """``part_windows`` starts a validation part's windows at ``max(val_start, lookback)``: two lookbacks differ
    in their validation or test windows of a series only where the longer one has no training window in it."""
    horizon = data.draw(st.integers(1, 10), "horizon")
    short, long = sorted(data.draw(st.lists(st.integers(1, 80), min_size=2, max_size=2, unique=True), "lookbacks"))
    rows = data.draw(st.lists(st.integers(1, 120), min_size=1, max_size=5), "rows")
    borders = np.array([sorted(data.draw(st.lists(st.integers(0, n), min_size=3, max_size=3))) for n in rows])
    observed = np.array(rows)
    stride = data.draw(st.integers(1, 4), "stride")
    trains = part_windows(borders, observed, "train", long, horizon, stride).counts > 0
    for part in ("val", "test"):
        shorter, longer = (
            part_windows(borders, observed, part, lookback, horizon, stride) for lookback in (short, long)
        )
        same = (shorter.first == longer.first) & (shorter.counts == longer.counts)
        assert same[trains].all()


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_series_too_short_for_a_window_are_refused_or_left_out_with_their_names(data):
    """Series shorter than ``lookback + horizon``: refused naming each (without ``drop_short``), or left out with
    a warning naming each, the others' windows as if those series had never been given."""
    lookback, horizon = data.draw(st.integers(2, 6), "lookback"), data.draw(st.integers(1, 4), "horizon")
    lengths = data.draw(st.lists(st.integers(1, 30), min_size=2, max_size=4), "lengths")
    shifts = data.draw(st.lists(st.integers(0, 5), min_size=len(lengths), max_size=len(lengths)), "shifts")
    frame = panel(lengths, shifts)
    short = [f"s{i}" for i, rows in enumerate(lengths) if rows < lookback + horizon]
    options = dict(columns=COLUMNS, split=FractionSplit(0.2, 0.2), scaling=UNSCALED, freq="D")
    if not short:
        return
    with pytest.raises(ForecastDataError, match=f"{len(short)} series shorter than lookback \\+ horizon") as error:
        TimeSeriesDataModule(frame, lookback, horizon, **options)
    assert all(f"'{name}' ({lengths[int(name[1:])]} rows)" in str(error.value) for name in short)
    if len(short) == len(lengths):
        with pytest.raises(ForecastDataError, match="drop_short leaves no series"):
            TimeSeriesDataModule(frame, lookback, horizon, drop_short=True, **options)
        return
    with pytest.warns(UserWarning, match="drop_short: leaving out") as caught:
        kept = TimeSeriesDataModule(frame, lookback, horizon, drop_short=True, **options)
    assert all(f"'{name}'" in str(caught[0].message) for name in short)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        alone = TimeSeriesDataModule(frame[~frame["id"].isin(short)], lookback, horizon, **options)
    assert kept.series_names == alone.series_names
    for part in PARTS:
        ours, theirs = kept._windows(part, check=False), alone._windows(part, check=False)
        np.testing.assert_array_equal(ours.first, theirs.first)
        np.testing.assert_array_equal(ours.counts, theirs.counts)
