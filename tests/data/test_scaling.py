import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import (
    MaxAbsScaler,
    MinMaxScaler,
    Normalizer,
    QuantileTransformer,
    RobustScaler,
    StandardScaler,
)

from forecast import Columns, ForecastDataError, Scaling, TimeSeriesDataModule
from forecast.data import DateSplit, RowSplit, scaling
from forecast.data.scaling import fit_scaling

SCALERS = [StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler]


@pytest.fixture
def series():
    """Two channels of three series of 50, 80 and 30 rows, one after the other, at different levels."""
    rng = np.random.default_rng(1)
    lengths = np.array([50, 80, 30])
    columns = [np.concatenate([rng.normal(5 * i, i + 1, n) for i, n in enumerate(lengths)]) for _ in range(2)]
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return columns, starts, starts + lengths * 7 // 10  # the first 70% of each series trains


@pytest.fixture(params=[False, True], ids=["whole", "chunked"])
def chunked(request, monkeypatch):
    """Run once as is, and once with chunks of 16 values, so that partial fits and padded blocks are used."""
    if request.param:
        monkeypatch.setattr(scaling, "_CHUNK_CELLS", 16)


@pytest.mark.parametrize("scaler", SCALERS)
def test_global_scaling_matches_sklearn_on_the_training_rows(series, scaler, chunked):
    columns, starts, ends = series
    train = np.stack([np.concatenate([c[s:e] for s, e in zip(starts, ends, strict=True)]) for c in columns], 1)
    fitted = fit_scaling(scaler, columns, starts, ends)
    other = np.stack(columns, axis=1)
    np.testing.assert_allclose(fitted.transform(other), scaler().fit(train).transform(other), rtol=1e-5, atol=1e-5)
    original = fitted.transform(other) * fitted.scale[0] + fitted.offset[0]  # the map back, as Batch.to_original
    np.testing.assert_allclose(original, other, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scaler", SCALERS)
def test_per_series_scaling_matches_one_sklearn_fit_per_series(series, scaler, chunked):
    columns, starts, ends = series
    fitted = fit_scaling(scaler, columns, starts, ends, per_series=["a", "b", "c"])
    other = np.stack(columns, axis=1)
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        expected = scaler().fit(other[start:end]).transform(other)
        np.testing.assert_allclose(fitted.transform(other, i), expected, rtol=1e-5, atol=1e-5)


def test_no_scaler_is_identity(series):
    columns, starts, ends = series
    values = np.stack(columns, axis=1)
    np.testing.assert_allclose(fit_scaling(None, columns, starts, ends).transform(values), values, rtol=1e-6)


def test_non_affine_scaler_is_refused(series):
    with pytest.raises(ValueError, match="QuantileTransformer is not a per-channel affine map"):
        fit_scaling(lambda: QuantileTransformer(n_quantiles=10), *series)


def test_a_scaler_without_a_way_back_is_refused(series):
    with pytest.raises(ValueError, match="Normalizer has no inverse_transform.*use StandardScaler"):
        fit_scaling(Normalizer, *series)


def test_scaler_ignores_test_rows(wide_frame):
    split = RowSplit(val_start=120, test_start=160)
    changed = wide_frame.copy()
    changed.iloc[120:] *= 1000  # only validation and test rows change

    def fitted(frame):
        data = TimeSeriesDataModule(frame, lookback=10, horizon=5, split=split)
        data.setup("fit")
        return data.scalings[0].state_dict()

    assert fitted(changed) == fitted(wide_frame)
    expected = StandardScaler().fit(wide_frame.iloc[:120].to_numpy())
    np.testing.assert_allclose(fitted(wide_frame)["offset"], [expected.mean_])
    np.testing.assert_allclose(fitted(wide_frame)["scale"], [expected.scale_])


def per_series_module(frame, **scalers):
    split = DateSplit(val_start="2024-01-04 00:00", test_start="2024-01-05 00:00")
    columns = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"])
    data = TimeSeriesDataModule(frame, 10, 5, columns=columns, split=split, scaling=Scaling(per_series=True, **scalers))
    data.setup("fit")
    return data


def test_per_series_scaler_sees_only_each_series_training_rows(long_frame):
    data = per_series_module(long_frame)
    changed = long_frame.copy()
    changed.loc[changed["time"] >= "2024-01-04", ["y", "load", "price"]] *= 1000
    assert per_series_module(changed).scalings[0].state_dict() == data.scalings[0].state_dict()
    for i, name in enumerate(data.series_names):
        rows = long_frame[(long_frame["id"] == name) & (long_frame["time"] < "2024-01-04")]
        expected = StandardScaler().fit(rows[["y"]])
        np.testing.assert_allclose(data.scalings[0].offset[i], expected.mean_)
        np.testing.assert_allclose(data.scalings[0].scale[i], expected.scale_)
        covariates = StandardScaler().fit(rows[["load", "price"]])
        np.testing.assert_allclose(data.scalings[1].offset[i], covariates.mean_)


def test_targets_and_covariates_are_scaled_separately(long_frame):
    data = per_series_module(long_frame, scaler=MinMaxScaler, covariate_scaler=None)
    batch = data.dataset("train").__getitems__(list(range(len(data.dataset("train")))))
    past = batch.past.numpy()
    assert past[..., 0].min() >= -1e-6 and past[..., 0].max() <= 1 + 1e-6  # targets to [0, 1] on training rows
    original_load = long_frame["load"].to_numpy()
    assert np.isin(past[..., 1].round(4), original_load.astype(np.float32).round(4)).all()  # covariates as given


def test_batch_maps_back_to_each_series_units(long_frame):
    data = per_series_module(long_frame)
    test = data.dataset("test")
    batch = test.__getitems__(list(range(len(test))))
    for i in range(len(batch)):
        name, row = data.series_names[batch.series[i]], int(batch.time[i])
        expected = long_frame.loc[long_frame["id"] == name, "y"].to_numpy()[row : row + 5]
        np.testing.assert_allclose(batch.to_original(batch.target)[i, :, 0].numpy(), expected, rtol=1e-5)


def test_per_series_scaler_needs_training_rows(long_frame):
    with pytest.raises(ForecastDataError, match="series 'C' has no training rows to fit its own scaler"):
        per_series_module(long_frame[~((long_frame["id"] == "C") & (long_frame["time"] < "2024-01-04"))])


def _with_missing(columns, seed=2):
    """``columns`` with a tenth of their values NaN or infinite, as a ``nan_policy`` would find them."""
    rng = np.random.default_rng(seed)
    changed = [column.copy() for column in columns]
    for column in changed:
        picked = rng.choice(len(column), len(column) // 10, replace=False)
        column[picked] = rng.choice([np.nan, np.inf, -np.inf], len(picked))
    return changed


@pytest.mark.parametrize("scaler", SCALERS)
def test_missing_values_are_left_out_of_the_fit(series, scaler, chunked):
    """A missing (NaN or infinite) training value is no observation: the map is scikit-learn's on the others."""
    columns, starts, ends = series
    columns = _with_missing(columns)
    fitted = fit_scaling(scaler, columns, starts, ends)
    per_series = fit_scaling(scaler, columns, starts, ends, per_series=["a", "b", "c"])
    values = np.stack(columns, axis=1)
    probe = np.linspace(-3, 3, 7)[:, None].repeat(len(columns), axis=1)

    def expected(rows):  # scikit-learn's fit of each channel on its finite training values
        return np.stack([scaler().fit(c[np.isfinite(c)][:, None]).transform(probe[:, :1])[:, 0] for c in rows.T], 1)

    train = np.concatenate([values[s:e] for s, e in zip(starts, ends, strict=True)])
    np.testing.assert_allclose(fitted.transform(probe), expected(train), rtol=1e-5, atol=1e-5)
    for i, (start, end) in enumerate(zip(starts, ends, strict=True)):
        np.testing.assert_allclose(per_series.transform(probe, i), expected(values[start:end]), rtol=1e-5, atol=1e-5)


def test_a_channel_without_training_values_is_refused_naming_it(series):
    columns, starts, ends = series
    columns = [column.copy() for column in columns]
    columns[1][starts[2] : ends[2]] = np.nan  # series 'c' has no value of 'load' on its training rows
    with pytest.raises(ForecastDataError, match=r"column 'load', series 'c' has no value on its training rows"):
        fit_scaling(StandardScaler, columns, starts, ends, per_series=["a", "b", "c"], names=["y", "load"])
    for start, end in zip(starts, ends, strict=True):
        columns[1][start:end] = np.inf
    with pytest.raises(ForecastDataError, match=r"channel 1 has no value on the training rows of any series"):
        fit_scaling(RobustScaler, columns, starts, ends)


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler, RobustScaler])
@pytest.mark.parametrize("level, spread", [(1e9, 1e-2), (1e12, 1.0)])
def test_scaling_far_from_zero_keeps_float32_precision(scaler, level, spread):
    """A level far above the spread: the scaled values are ``(x - offset) / scale`` to float32 precision."""
    y = level + spread * np.random.default_rng(3).standard_normal(500)
    fitted = fit_scaling(scaler, [y], np.array([0]), np.array([400]))
    exact = scaler().fit(y[:400, None])
    center = {StandardScaler: "mean_", RobustScaler: "center_"}.get(scaler)
    low = getattr(exact, center)[0] if center else exact.data_min_[0]
    if scaler is StandardScaler:  # the mean to the last digit (scikit-learn's, from a sum of 1e14, is 1 ulp off)
        low = level + (y[:400] - level).mean()
    spread_ = exact.scale_[0] if center else exact.data_range_[0]
    np.testing.assert_allclose(fitted.transform(y[:, None])[:, 0], (y - low) / spread_, atol=1e-6)  # y - low: exact
    np.testing.assert_allclose(fitted.scale[0, 0], spread_, rtol=1e-12)


@pytest.mark.parametrize("level, spread", [(1e12, 1.0), (1e9, 1e-3)])
def test_per_series_scaling_far_from_zero_keeps_the_mean_to_its_last_digit(level, spread):
    """Fitted per series beside a shorter one (a NaN-padded block), the mean was off by 1.6e-3 of the spread at a
    level of 1e12 (13 units of its last digit): scikit-learn sums the columns of a block row after row."""
    y = level + spread * np.random.default_rng(3).standard_normal(500)
    column = np.concatenate([y, np.random.default_rng(4).standard_normal(300)])
    fitted = fit_scaling(StandardScaler, [column], np.array([0, 500]), np.array([400, 700]), per_series=["a", "b"])
    train = y[:400] - level  # exact: the values and the level are within a factor 2
    np.testing.assert_allclose(fitted.offset[0, 0], level + train.mean(), rtol=0, atol=np.spacing(level))
    np.testing.assert_allclose(fitted.scale[0, 0], train.std(), rtol=1e-9)


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
@pytest.mark.parametrize("level, spread", [(1e9, 1e-2), (1e6, 1e-4)])
def test_scaling_far_from_zero_fitted_in_chunks_keeps_float32_precision(scaler, level, spread, monkeypatch):
    """Rows fitted in chunks (training rows beyond ``_CHUNK_CELLS``): scikit-learn's merge of the chunks' sums
    kept only the digits of the spread that the level leaves (scaled values off by 1.2e-5, not 1e-7)."""
    monkeypatch.setattr(scaling, "_CHUNK_CELLS", 16)
    y = level + spread * np.random.default_rng(3).standard_normal(500)
    fitted = fit_scaling(scaler, [y], np.array([0]), np.array([400]))
    train = y[:400] - level  # exact: the values and the level are within a factor 2
    low, size = (train.mean(), train.std()) if scaler is StandardScaler else (train.min(), np.ptp(train))
    offset = level + low  # the nearest float64 to the exact offset
    np.testing.assert_allclose(fitted.transform(y[:, None])[:, 0], (y - offset) / size, atol=5e-7)
    np.testing.assert_allclose(fitted.scale[0, 0], size, rtol=1e-9)


@pytest.mark.parametrize("nan_policy", ["zero", "ffill", "interpolate"])
def test_repaired_values_are_left_out_of_the_scaler(wide_frame, nan_policy):
    """Twenty repaired values among 120 training rows moved the fit (zeros most, at a level of 10)."""
    frame = wide_frame.copy()
    frame.iloc[10:30, 0] = np.nan  # a gap in the training rows of 'a'
    data = TimeSeriesDataModule(frame, 10, 5, split=RowSplit(val_start=120, test_start=160), nan_policy=nan_policy)
    data.setup("fit")
    expected = StandardScaler().fit(frame.iloc[:120].to_numpy())  # leaves out NaN
    np.testing.assert_allclose(data.scalings[0].offset[0], expected.mean_)
    np.testing.assert_allclose(data.scalings[0].scale[0], expected.scale_)


@pytest.mark.parametrize("scaler", SCALERS)
def test_a_chunk_without_a_value_of_a_channel_leaves_it_to_the_other_chunks(series, scaler, monkeypatch):
    """Fitted in chunks of a few rows, a channel without values on the training rows of the first series is
    fitted on the other series' values, as one scikit-learn fit on all training rows leaves NaN out
    (``partial_fit`` takes a batch whose column is all NaN as NaN statistics)."""
    monkeypatch.setattr(scaling, "_CHUNK_CELLS", 16)
    columns, starts, ends = series
    columns = [columns[0], columns[1].copy()]
    columns[1][starts[0] : ends[0]] = np.nan  # 'load' starts being recorded after the first series' training rows
    fitted = fit_scaling(scaler, columns, starts, ends, names=["y", "load"])
    train = np.stack([np.concatenate([c[s:e] for s, e in zip(starts, ends, strict=True)]) for c in columns], 1)
    probe = np.linspace(-3, 3, 7)[:, None].repeat(2, axis=1)
    np.testing.assert_allclose(fitted.transform(probe), scaler().fit(train).transform(probe), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_a_channel_without_training_values_is_refused_naming_it_when_processes_read_their_own_series(scaler):
    """``data.shard: series`` fits the scaler of all series from summed statistics: a covariate given on no
    training row (repaired to zeros) is refused as without sharding, not scaled to NaN."""
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(
        {
            "id": np.repeat(["a", "b"], 60),
            "time": np.tile(pd.date_range("2024-01-01", periods=60, freq="h"), 2),
            "y": rng.standard_normal(120),
            "load": np.where(np.tile(np.arange(60), 2) < 45, np.nan, rng.standard_normal(120)),
        }
    )
    for shard in ("none", "series"):
        data = TimeSeriesDataModule(
            frame, 5, 3, columns=Columns(targets=["y"], past_covariates=["load"]), split=RowSplit(40, 50),
            scaling=Scaling(scaler=scaler, covariate_scaler=scaler), nan_policy="zero", shard=shard,
        )  # fmt: skip
        with pytest.raises(ForecastDataError, match="column 'load' has no value on the training rows of any series"):
            data.setup("fit")
