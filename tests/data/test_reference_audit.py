"""Windows, splits and scalers against references built from the raw frame by plain loops and scikit-learn:
many series of different lengths and starts, several targets, past and future covariates (with the rows of the
horizon after the data), gaps repaired by ``nan_policy``, every split kind and scaler, and the shares of windows
that distributed processes read."""

import functools
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import event, given, settings
from hypothesis import strategies as st
from lightning.pytorch.trainer.states import RunningStage
from lightning.pytorch.utilities.data import _update_dataloader
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.preprocessing import (
    FunctionTransformer,
    MaxAbsScaler,
    MinMaxScaler,
    OneHotEncoder,
    RobustScaler,
    StandardScaler,
)
from torch.utils.data import DistributedSampler

from forecast import Calendar, Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data import DateSplit, ETTSplit, FractionSplit, RowSplit, buffer, sharding
from forecast.data import scaling as scaling_module
from forecast.data.windows import window_origins

SCALERS = [None, StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler]
PARTS = ("train", "val", "test")
START = pd.Timestamp("2021-03-01")


def panel(rng, lengths, shifts, future_rows, targets, past, future, holes=0.0):
    """Daily series ``s{i}`` starting ``shifts[i]`` days late, ``lengths[i]`` rows with targets then
    ``future_rows[i]`` rows with only the future covariates, values at distinct levels per series and channel,
    a share ``holes`` of the targets and past covariates missing (not on the last row with targets, or it would be
    a future row); rows interleaved by time."""
    pieces = []
    for i, (rows, shift, extra) in enumerate(zip(lengths, shifts, future_rows, strict=True)):
        total = rows + extra
        piece = {"id": f"s{i}", "time": pd.date_range(START + pd.Timedelta(days=shift), periods=total, freq="D")}
        for c, column in enumerate([*targets, *past, *future]):
            values = 100.0 * (i + 1) * (c + 1) + (i + 1) * rng.normal(size=total).cumsum()
            if column not in future:
                values[rows:] = np.nan
                values[: rows - 1][rng.random(rows - 1) < holes] = np.nan  # the last row with targets has them
            piece[column] = values
        pieces.append(pd.DataFrame(piece))
    return pd.concat(pieces, ignore_index=True).sort_values(["time", "id"], kind="stable", ignore_index=True)


def reference_borders(split, lengths, times):
    """Per series (val_start, test_start, test_end), computed from the split's definition."""
    borders = []
    for rows, stamps in zip(lengths, times, strict=True):
        if isinstance(split, FractionSplit):
            train = int(rows * round(1 - split.val - split.test, 10))
            test = int(rows * split.test)
            borders.append((train, rows - test, rows))
        elif isinstance(split, RowSplit):
            borders.append((split.val_start, split.test_start, rows if split.test_end is None else split.test_end))
        else:
            before = [int((stamps[:rows] < pd.Timestamp(t)).sum()) for t in (split.val_start, split.test_start)]
            end = rows if split.test_end is None else int((stamps[:rows] < pd.Timestamp(split.test_end)).sum())
            borders.append((*before, end))
    return borders


def repaired(values, bounds, policy):
    """One column of one series repaired part by part, each part from its own rows and the rows before it."""
    out = values.copy()
    for begin, end in zip(bounds[:-1], bounds[1:], strict=True):
        if end <= begin or not np.isnan(values[begin:end]).any():
            continue
        known = pd.Series(values[:end])
        known = {"zero": known.fillna(0.0), "ffill": known.ffill().bfill()}.get(policy)
        if known is None:
            known = pd.Series(values[:end]).interpolate(limit_direction="both")
        out[begin:end] = known.to_numpy()[begin:end]
    return out


def fit_reference(scaler, blocks):
    """(offset, scale) of scikit-learn's scaler fitted on the rows of ``blocks`` (each (rows, C)), one per group."""
    if scaler is None:
        channels = blocks[0].shape[1]
        return np.zeros(channels), np.ones(channels)
    fitted = scaler().fit(np.concatenate(blocks))
    zero, one = fitted.inverse_transform(np.array([[0.0] * blocks[0].shape[1], [1.0] * blocks[0].shape[1]]))
    return zero, one - zero


class Reference:
    """Every window of every part built one by one from the raw frame."""

    def __init__(self, frame, targets, past, future, lookback, horizon, split, strides, scaling, policy):
        self.lookback, self.horizon, self.strides = lookback, horizon, strides
        self.inputs, self.targets, self.future = [*targets, *past], targets, future
        self.series = {}
        for name, rows in frame.groupby("id", sort=False):
            observed = rows[targets].notna().any(axis=1).to_numpy()
            length = int(np.flatnonzero(observed).max() + 1) if future else len(rows)
            self.series[name] = {"rows": rows.reset_index(drop=True), "length": length}
        names = list(self.series)
        lengths = [self.series[n]["length"] for n in names]
        times = [self.series[n]["rows"]["time"].to_numpy() for n in names]
        self.borders = dict(zip(names, reference_borders(split, lengths, times), strict=True))
        groups = [[n] for n in names] if scaling.per_series else [names]
        self.maps = {}
        for group in groups:
            for columns, scaler in ((targets, scaling.scaler), ([*past, *future], scaling.covariate_scaler)):
                if not columns:
                    continue
                blocks = [self.series[n]["rows"][columns].to_numpy()[: self.borders[n][0]] for n in group]
                offset, scale = fit_reference(scaler, blocks)
                for n in group:
                    self.maps.setdefault(n, {}).update(dict(zip(columns, zip(offset, scale, strict=True), strict=True)))
        self.values, self.raw = {}, {n: {} for n in names}
        for n in names:
            rows, length, (val, test, end) = self.series[n]["rows"], self.series[n]["length"], self.borders[n]
            bounds = [0, val, test, end, length]
            self.values[n] = {}
            for column in [*targets, *past, *future]:
                raw = rows[column].to_numpy(dtype=np.float64)
                if column in future:
                    raw = raw[: length + horizon]
                    fixed = raw if policy is None else repaired(raw, [*bounds, len(raw)], policy)
                else:
                    raw = raw[:length]
                    fixed = raw if policy is None else repaired(raw, bounds, policy)
                offset, scale = self.maps[n][column]
                self.values[n][column] = ((fixed - offset) / scale, np.isfinite(raw))
                self.raw[n][column] = raw

    def windows(self, part):
        """(series name, origin) of every window of ``part``, in the order of the series; training leaves out the
        windows without an observed target."""
        found = []
        for n, (val, test, end) in self.borders.items():
            if part == "predict":
                found.append((n, self.series[n]["length"]))
                continue
            start, stop = {"train": (0, val), "val": (val, test), "test": (test, end)}[part]
            origin = max(start, self.lookback)
            while origin + self.horizon <= stop:
                seen = [self.values[n][column][1][origin : origin + self.horizon].any() for column in self.targets]
                if part != "train" or any(seen):
                    found.append((n, origin))
                origin += self.strides[part]
        return found

    def window(self, name, origin, policy):
        """past (L, C_in), future (H, C_fut), target (H, C_out) of one window, float64."""
        rows = np.arange(origin - self.lookback, origin)
        past = []
        for column in self.inputs:
            inputs = self.values[name][column][0][rows]
            if policy in ("ffill", "interpolate"):  # repaired as if the series ended at the origin
                ended = pd.Series(self.raw[name][column][:origin])
                ended = ended.ffill().bfill() if policy == "ffill" else ended.interpolate(limit_direction="both")
                offset, scale = self.maps[name][column]
                inputs = np.zeros(self.lookback) if ended.isna().all() else (ended.to_numpy()[rows] - offset) / scale
            past.append(inputs)
        steps = np.arange(origin, origin + self.horizon)
        forecast = origin == self.series[name]["length"]  # a predict window: no targets
        target = [np.full(self.horizon, np.nan) if forecast else self.values[name][c][0][steps] for c in self.targets]
        future = np.array([self.values[name][c][0][steps] for c in self.future]).reshape(len(self.future), self.horizon)
        return np.stack(past, 1), future.T, np.stack(target, 1)


def every_window(dataset):
    """The batch of all windows of ``dataset``."""
    return dataset.__getitems__(list(range(len(dataset))))


def check_against_reference(module, reference, policy, exact):
    """Every window of every part of ``module`` is one of ``reference``'s, and every one of those is there: past,
    future and target equal, ``exact``ly (float32) where nothing is scaled (the inputs ``interpolate`` repaired
    from the window's own rows are drawn between float32 values, the reference's between float64 ones)."""
    exact = exact and policy != "interpolate"
    names = module.series_names
    for part in (*PARTS, "predict"):
        expected = reference.windows(part)
        if part != "predict" and not expected:
            # Training windows whose targets were all repaired are left out: where every one was, the error says so.
            unobserved = r"|none of the \d+ training windows has an observed value" if part == "train" else ""
            with pytest.raises(ForecastDataError, match=f"the {part} part has no window{unobserved}"):
                module.dataset(part)
            continue
        batch = every_window(module.dataset(part))
        found = [(names[s], t) for s, t in zip(batch.series.tolist(), batch.time.tolist(), strict=True)]
        assert sorted(found) == sorted(expected), part
        for k, (name, origin) in enumerate(found):
            past, future, target = reference.window(name, origin, policy)
            for got, want in ((batch.past[k], past), (batch.future[k], future), (batch.target[k], target)):
                want = torch.from_numpy(want).float()
                if exact:
                    torch.testing.assert_close(got, want, rtol=0, atol=0, equal_nan=True)
                else:
                    torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6, equal_nan=True)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_window_of_every_part_equals_the_one_built_from_the_raw_frame(data):
    """1 to 4 series of different lengths and starts, one or two targets, with or without a past and a future
    covariate (and the horizon's rows after the data), every split kind, any strides, any scalers (one for all
    series or one per series, scikit-learn's fitted on the training rows alone, missing values left out), gaps
    repaired by each ``nan_policy`` part by part, and the buffer and scalers built in chunks of any size: the
    windows of each part are exactly those whose targets lie in it, each from its series' own rows, its inputs the
    ``lookback`` rows before its origin (reaching back into the part before), repaired from rows before the origin
    alone, and its past, future and target tensors those a loop builds from the raw frame."""
    lookback, horizon = data.draw(st.integers(1, 6), "lookback"), data.draw(st.integers(1, 4), "horizon")
    count = data.draw(st.integers(1, 4), "series")
    lengths = data.draw(st.lists(st.integers(lookback + horizon, 45), min_size=count, max_size=count), "lengths")
    shifts = data.draw(st.lists(st.integers(0, 15), min_size=count, max_size=count), "shifts")
    targets = ["y", "z"][: data.draw(st.integers(1, 2), "targets")]
    past = ["x"] if data.draw(st.booleans(), "past") else []
    future = ["f"] if data.draw(st.booleans(), "future") else []
    future_rows = [horizon + data.draw(st.integers(0, 2)) if future else 0 for _ in range(count)]
    split = data.draw(
        st.sampled_from(
            [
                FractionSplit(0.2, 0.2),
                FractionSplit(0.15, 0.25),
                RowSplit(min(lengths) // 3, min(lengths) * 2 // 3),
                RowSplit(min(lengths) // 3, min(lengths) // 2, min(lengths) - 1),
                DateSplit("2021-03-20", "2021-04-05"),
            ]
        ),
        "split",
    )
    per_series = data.draw(st.booleans(), "per_series")
    scaler = data.draw(st.sampled_from(SCALERS), "scaler")
    covariate_scaler = data.draw(st.sampled_from(SCALERS), "covariate_scaler")
    policy = data.draw(st.sampled_from([None, "ffill", "interpolate", "zero"]), "policy")
    strides = {"train": data.draw(st.integers(1, 3), "train_stride"), "val": data.draw(st.integers(1, 3), "eval")}
    strides |= {"test": strides["val"], "predict": 1}
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    frame = panel(rng, lengths, shifts, future_rows, targets, past, future, holes=0.0 if policy is None else 0.15)
    scaling = Scaling(scaler=scaler, covariate_scaler=covariate_scaler, per_series=per_series)
    chunk = data.draw(st.sampled_from([None, 1, 7, 40]), "chunk")  # values copied or fitted at once
    with pytest.MonkeyPatch.context() as patch:
        if chunk is not None:
            patch.setattr(buffer, "_CHUNK_CELLS", chunk)
            patch.setattr(scaling_module, "_CHUNK_CELLS", chunk)
        try:
            module = TimeSeriesDataModule(
                frame, lookback, horizon, split=split, scaling=scaling, nan_policy=policy or "error", freq="D",
                columns=Columns(targets=targets, past_covariates=past, future_covariates=future),
                train_stride=strides["train"], eval_stride=strides["val"],
            )  # fmt: skip
            module.setup("predict")
            assert module.buffer.values.dtype == torch.float32  # built while the chunks are small
        except ForecastDataError as error:  # too few training rows for a scaler, or a part with nothing to repair from
            assert any(
                reason in str(error)
                for reason in ("training rows", "no finite value to repair from", "do not fit")
            ), error  # fmt: skip
            event(str(error)[:60])
            return
    event(f"checked {policy}")
    reference = Reference(frame, targets, past, future, lookback, horizon, split, strides, scaling, policy)
    for i, name in enumerate(module.series_names):
        assert tuple(module.borders[i].tolist()) == reference.borders[name]
    check_against_reference(module, reference, policy, exact=scaler is None and covariate_scaler is None)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_scales_profiles_statics_and_inverse_maps_equal_their_references(data):
    """Per series the MASE scale (mean ``|y[t] - y[t - m]|`` over training pairs both given), the seasonal
    profile of the training targets (mean per weekday, less the mean over weekdays), the static numbers scaled
    by scikit-learn over the series with training rows, and ``to_original`` of every window's target (the raw
    values, as scikit-learn's ``inverse_transform`` gives them back)."""
    lookback, horizon = data.draw(st.integers(1, 5), "lookback"), data.draw(st.integers(1, 3), "horizon")
    count = data.draw(st.integers(1, 4), "series")
    lengths = data.draw(st.lists(st.integers(lookback + horizon + 4, 50), min_size=count, max_size=count), "lengths")
    shifts = data.draw(st.lists(st.integers(0, 20), min_size=count, max_size=count), "shifts")
    period = data.draw(st.integers(1, 3), "seasonal_period")
    scaler = data.draw(st.sampled_from(SCALERS[1:]), "scaler")
    per_series = data.draw(st.booleans(), "per_series")
    policy = data.draw(st.sampled_from([None, "ffill", "zero"]), "policy")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    frame = panel(rng, lengths, shifts, [0] * count, ["y"], [], [], holes=0.0 if policy is None else 0.2)
    frame["size"] = frame["id"].str[1:].astype(float) ** 2 + 3
    try:
        module = TimeSeriesDataModule(
            frame, lookback, horizon, columns=Columns(targets=["y"], static_covariates=["size"]),
            split=FractionSplit(0.2, 0.2), scaling=Scaling(scaler, scaler, per_series),
            calendar=Calendar(["season"], "integer"), seasonal_period=period,
            nan_policy=policy or "error", freq="D",
        )  # fmt: skip
        module.setup("predict")
    except ForecastDataError as error:
        assert "no finite value to repair from" in str(error) or "training rows" in str(error), error
        return
    names = module.series_names
    scales, profile_sums, profile_counts, trained_sizes = [], np.zeros(7), np.zeros(7), []
    for i, name in enumerate(names):
        rows = frame[frame["id"] == name].reset_index(drop=True)
        train = int(len(rows) * 0.6)
        y = rows["y"].to_numpy()[:train]
        group = i if per_series else 0
        offset, scale = module.scalings[0].offset[group, 0], module.scalings[0].scale[group, 0]
        pairs = [
            abs(y[t] - y[t - period]) for t in range(period, train) if np.isfinite(y[t]) and np.isfinite(y[t - period])
        ]
        scales.append(np.mean(pairs) / scale if pairs and np.mean(pairs) > 0 else np.nan)
        for t in range(train):
            if np.isfinite(y[t]):
                weekday = (rows["time"][t] - pd.Timestamp(0)).days % 7
                profile_sums[weekday] += (y[t] - offset) / scale
                profile_counts[weekday] += 1
        if train:
            trained_sizes.append(rows["size"][0])
    np.testing.assert_allclose(module.scaled.naive_scale[:, 0].numpy(), scales, rtol=1e-5, atol=1e-6)  # float32 steps
    if not per_series:  # one scaling of all series: the profile is of one unit
        seen = profile_counts > 0
        means = np.where(seen, profile_sums / np.maximum(profile_counts, 1), 0.0)
        expected = np.where(seen, means - means[seen].mean(), 0.0)
        np.testing.assert_allclose(module.season_means()[:, 0].numpy(), expected, rtol=1e-5, atol=1e-5)
    statics = scaler().fit(np.array(trained_sizes)[:, None])
    sizes = np.array([float(name[1:]) ** 2 + 3 for name in names])[:, None]
    np.testing.assert_allclose(module.static.numpy(), statics.transform(sizes), rtol=1e-6, atol=1e-6)
    for part in PARTS:
        if not module._windows(part, check=False).counts.sum():
            continue
        try:
            batch = every_window(module.dataset(part))
        except ForecastDataError as error:  # training windows whose every target was repaired
            assert part == "train" and "has an observed value" in str(error), error
            continue
        original = batch.to_original(batch.target)[..., 0].numpy()
        for k, (series, time) in enumerate(zip(batch.series.tolist(), batch.time.tolist(), strict=True)):
            raw = frame.loc[frame["id"] == names[series], "y"].to_numpy()[time : time + horizon]
            given = np.isfinite(raw)
            np.testing.assert_allclose(original[k][given], raw[given], rtol=1e-6)
            if batch.observed is not None:
                np.testing.assert_array_equal(batch.observed[k, :, 0].numpy(), given)


def long_frame_with_sizes(count: int = 4, rows: int = 40) -> pd.DataFrame:
    """``count`` daily series of ``rows`` rows, ``y`` at random, the numeric static ``size`` of ``s{i}`` i² + 3."""
    rng = np.random.default_rng(5)
    times = pd.date_range("2021-01-01", periods=rows, freq="D")
    pieces = [
        pd.DataFrame({"id": f"s{i}", "time": times, "y": rng.normal(size=rows), "size": float(i * i + 3)})
        for i in range(count)
    ]
    return pd.concat(pieces, ignore_index=True)


@pytest.mark.parametrize(
    "scaling",
    [
        Scaling(scaler=RobustScaler, covariate_scaler=RobustScaler, per_series=True),
        Scaling(scaler=StandardScaler, covariate_scaler=MaxAbsScaler),  # no dynamic covariate
    ],
    ids=["robust-per-series", "max-abs-statics-only"],
)
def test_numeric_statics_under_series_shards_are_scaled_by_any_scaler_as_one_process_does(scaling):
    """``shard: series`` fitted the numeric statics from summed statistics, which only ``StandardScaler`` and
    ``MinMaxScaler`` have: with per-series scalers it refused a ``RobustScaler``, asking for the
    ``data.scaling.per_series: true`` already set, though the statics are one value per series."""
    frame = long_frame_with_sizes()
    options = dict(columns=Columns(targets=["y"], static_covariates=["size"]), split=FractionSplit(), scaling=scaling)
    module = TimeSeriesDataModule(frame, 4, 2, shard="series", **options)
    module.setup("fit")
    sizes = np.array([[float(name[1:]) ** 2 + 3] for name in module.series_names])
    expected = scaling.covariate_scaler().fit(sizes).transform(sizes)
    np.testing.assert_allclose(module.static.numpy(), expected, rtol=1e-6)


@pytest.mark.parametrize("field", ["val_start", "test_start"])
def test_a_row_split_without_its_validation_or_test_start_is_refused_naming_the_key(field):
    """``RowSplit(None, 150)`` was taken, and the data module failed on it with NumPy's "int() argument must be
    a string, ... not 'NoneType'"; only ``test_end`` has a meaning for ``None`` (the end of each series)."""
    borders = {"val_start": 100, "test_start": 150} | {field: None}
    with pytest.raises(TypeError, match=rf"data.split.{field}=None is not a whole number of rows; give one"):
        RowSplit(**borders)
    assert RowSplit(100, 150, None).test_end is None


def test_a_date_split_time_of_no_kind_of_time_is_refused_naming_the_key():
    """A time given in a list failed in pandas as "Cannot convert input [...] to Timestamp", naming no key."""
    with pytest.raises(ValueError, match=r"data.split.val_start=\['2020-01-03'\] is not a time; give one such as"):
        DateSplit(["2020-01-03"], "2020-01-05")


@pytest.mark.parametrize("rows_per_hour", [1, 4])
def test_ett_windows_read_the_last_lookback_rows_of_the_part_before_and_scale_by_the_first_year(rows_per_hour):
    """The ETT protocol: 12, 4 and 4 months of 30 days; validation and test windows start with the last
    ``lookback`` rows of the part before as history, their targets in their own part; the scaler is
    scikit-learn's on the first 12 months alone, and rows after the 20 months are in no window."""
    month = 30 * 24 * rows_per_hour
    rows = 20 * month + 50
    rng = np.random.default_rng(0)
    values = rng.normal(size=(rows, 2)).cumsum(0)
    index = pd.date_range("2016-07-01", periods=rows, freq=f"{60 // rows_per_hour}min", name="date")
    frame = pd.DataFrame(values, columns=["a", "b"], index=index)
    lookback, horizon = 24, 12
    module = TimeSeriesDataModule(frame, lookback, horizon, split=ETTSplit(rows_per_hour), eval_stride=5)
    module.setup("fit")
    module.setup("test")
    scaler = StandardScaler().fit(values[: 12 * month])
    scaled = scaler.transform(values)
    for part, (start, end) in {"train": (0, 12 * month), "val": (12 * month, 16 * month),
                               "test": (16 * month, 20 * month)}.items():  # fmt: skip
        stride = 1 if part == "train" else 5
        origins = np.arange(max(start, lookback), end - horizon + 1, stride)
        dataset = module.dataset(part)
        assert len(dataset) == len(origins)
        picked = [0, len(origins) // 2, len(origins) - 1]
        batch = dataset.__getitems__(picked)
        np.testing.assert_array_equal(batch.time.numpy(), origins[picked])
        for k, origin in enumerate(origins[picked]):
            np.testing.assert_allclose(batch.past[k].numpy(), scaled[origin - lookback : origin], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(batch.target[k].numpy(), scaled[origin : origin + horizon], rtol=1e-5, atol=1e-5)
        assert origins[-1] + horizon <= end


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_the_shares_of_distributed_processes_read_every_evaluation_window_once_and_train_in_step(data):
    """The loaders as Lightning rebuilds them around its ``DistributedSampler`` on each of 1 to 4 processes: the
    validation and test windows of all processes together are every window of the part exactly once (none
    repeated to pad a share, which a metric would count twice); the training shares take as many batches each
    and together hold every training window."""
    lookback, horizon = data.draw(st.integers(1, 4), "lookback"), data.draw(st.integers(1, 3), "horizon")
    count = data.draw(st.integers(1, 4), "series")
    lengths = data.draw(st.lists(st.integers(lookback + horizon + 6, 40), min_size=count, max_size=count), "lengths")
    processes, batch_size = data.draw(st.integers(1, 4), "processes"), data.draw(st.integers(1, 6), "batch_size")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), "seed"))
    frame = panel(rng, lengths, [0] * count, [0] * count, ["y"], [], [])
    module = TimeSeriesDataModule(
        frame, lookback, horizon, columns=Columns(targets=["y"]), split=FractionSplit(0.25, 0.25),
        eval_stride=data.draw(st.integers(1, 3), "eval_stride"), batch_size=batch_size, freq="D",
    )  # fmt: skip
    module.setup("predict")
    stages = {"train": RunningStage.TRAINING, "val": RunningStage.VALIDATING, "test": RunningStage.TESTING}
    for part, stage in stages.items():
        windows = module._windows(part, check=False).counts.sum()
        if windows < processes:
            continue
        loader = module._loader(part)
        shares = []
        for rank in range(processes):
            sampler = DistributedSampler(loader.dataset, num_replicas=processes, rank=rank, shuffle=part == "train")
            batches = list(_update_dataloader(loader, sampler, mode=stage))
            shares.append(
                [(int(s), int(t)) for batch in batches for s, t in zip(batch.series, batch.time, strict=True)]
            )
        every = [tuple(window) for window in zip(*window_origins(module._windows(part)), strict=True)]
        read = [window for share in shares for window in share]
        if part == "train":
            assert len({-(-len(share) // batch_size) for share in shares}) == 1  # as many steps on every process
            assert set(read) == set(every)
        else:
            assert sorted(read) == sorted(every)  # each window once


SHARDED_STATICS = """
import json, sys
import torch.distributed as dist
from sklearn.preprocessing import RobustScaler
from forecast import Columns, Scaling, TimeSeriesDataModule
from forecast.data import FractionSplit

dist.init_process_group("gloo")
scaling = Scaling(scaler=RobustScaler, covariate_scaler=RobustScaler, per_series=True)
module = TimeSeriesDataModule(sys.argv[1], 4, 2, columns=Columns(targets=["y"], static_covariates=["size"]),
                              split=FractionSplit(), scaling=scaling, shard="series")
module.setup("fit")
out = {"names": module.series_names, "static": module.static[:, 0].tolist(), "scaling": module.scalings[2].state_dict()}
with open(f"{sys.argv[2]}/rank{dist.get_rank()}.json", "w") as file:
    json.dump(out, file)
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_numeric_statics_of_two_processes_reading_their_own_series_are_scaled_as_by_one(tmp_path):
    """On 2 processes under ``shard: series`` each holds its own series, and the scaler of the numeric statics is
    scikit-learn's over the statics of all series, the same on both."""
    source, script = tmp_path / "series.csv", tmp_path / "run.py"
    long_frame_with_sizes(count=5).to_csv(source, index=False)
    script.write_text(SHARDED_STATICS)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
               str(script), str(source), str(tmp_path)]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in range(2)]
    assert sorted(ranks[0]["names"] + ranks[1]["names"]) == [f"s{i}" for i in range(5)]
    sizes = np.array([[float(i * i + 3)] for i in range(5)])
    expected = RobustScaler().fit(sizes)
    for rank in ranks:
        assert rank["scaling"] == ranks[0]["scaling"]
        own = np.array([[float(name[1:]) ** 2 + 3] for name in rank["names"]])
        np.testing.assert_allclose(rank["static"], expected.transform(own)[:, 0], rtol=1e-6)


@pytest.mark.parametrize("per_series", [False, True], ids=["one-scaler", "per-series"])
@pytest.mark.parametrize(
    "scaler, message",
    [
        (LinearRegression, "LinearRegression has no transform or inverse_transform"),
        (OneHotEncoder, "OneHotEncoder cannot map scaled values back"),
        (SimpleImputer, "SimpleImputer cannot map scaled values back"),
    ],
)
def test_a_scaler_that_is_no_affine_transformer_is_refused_naming_it_and_the_scalers_to_use(
    scaler, message, per_series
):
    """A model named as a scaler failed in its own ``fit`` ("missing 1 required positional argument: 'y'"), and a
    transformer without a per-channel way back in scikit-learn's words ("Expected 40 columns, got 1")."""
    frame = long_frame_with_sizes(count=2)
    with pytest.raises(ValueError, match=f"{message}.*use StandardScaler, MinMaxScaler, RobustScaler or MaxAbsScaler"):
        module = TimeSeriesDataModule(
            frame, 4, 2, columns=Columns(targets=["y"]), scaling=Scaling(scaler=scaler, per_series=per_series)
        )
        module.setup("fit")


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_the_scaler_of_all_series_is_reduced_over_processes_whose_backend_carries_no_cpu_tensor(scaler, monkeypatch):
    """DDP on GPUs runs NCCL, which reduces no tensor in CPU memory ("No backend type associated with device type
    cpu"): ``shard: series`` with one scaler of all series reduced its statistics as CPU tensors, and failed there.
    Two processes holding the same rows, under such a backend, fit scikit-learn's scaler of those rows."""

    def nccl_all_reduce(tensor, *args, **kwargs):
        if tensor.device.type == "cpu":
            raise RuntimeError("No backend type associated with device type cpu")

    monkeypatch.setattr(sharding, "world", lambda: (0, 2))
    monkeypatch.setattr(sharding, "gather_objects", lambda value: [value, value])  # both processes alike
    monkeypatch.setattr(sharding.dist, "all_reduce", nccl_all_reduce)
    rng = np.random.default_rng(1)
    values = rng.normal(5.0, 2.0, size=(30, 2))
    values[rng.random(values.shape) < 0.2] = np.nan
    starts, ends = np.array([0, 12]), np.array([8, 25])
    fitted = sharding.global_scaling(scaler, [values[:, 0], values[:, 1]], starts, ends)
    rows = np.concatenate([values[0:8], values[12:25]])
    expected = scaler().fit(rows)
    np.testing.assert_allclose(fitted.transform(values), expected.transform(values), rtol=1e-9, atol=1e-6)


def test_a_scaler_that_maps_values_in_reverse_is_refused_naming_it():
    """A negative scale would turn the forecast's lower quantiles into its upper ones in original units."""
    negate = functools.partial(FunctionTransformer, func=np.negative, inverse_func=np.negative)
    with pytest.raises(ValueError, match="FunctionTransformer maps values in reverse"):
        scaling_module.fit_scaling(negate, [np.arange(10.0)], np.array([0]), np.array([10]))


def test_a_reversed_feature_range_is_refused_under_series_shards_as_scikit_learn_refuses_it():
    with pytest.raises(ValueError, match=r"feature_range \(1, 0\)"):
        sharding.global_scaling(
            functools.partial(MinMaxScaler, feature_range=(1, 0)), [np.arange(10.0)], np.array([0]), np.array([5])
        )
    with pytest.raises(ValueError, match="feature range"):  # scikit-learn's own, in one process
        MinMaxScaler(feature_range=(1, 0)).fit(np.arange(10.0)[:, None])


def test_a_mase_refusal_of_one_process_under_series_shards_is_every_processs(monkeypatch):
    """Each process checks the MASE scale of its own series before a test; process 0 refusing alone left process 1
    to die on the lost connection (gloo) or wait for its timeout (NCCL). Process 1, whose series pass, refuses too."""
    frame = pd.DataFrame(
        {"y": np.sin(np.arange(200) / 5)}, index=pd.date_range("2024-01-01", periods=200, freq="h", name="time")
    )
    data = TimeSeriesDataModule(frame, 12, 4, split=FractionSplit())
    data.setup("test")
    data.shard = "series"
    monkeypatch.setattr(sharding, "world", lambda: (1, 2))
    refusal = "series 'b' (1 training rows) have too few for MASE"
    monkeypatch.setattr(sharding, "gather_objects", lambda value: [refusal, value])
    with pytest.raises(ForecastDataError, match="process 0 refused its share; series 'b'"):
        data.check_mase_scale(np.array([0]))
