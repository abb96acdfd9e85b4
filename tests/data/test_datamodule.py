import functools
from dataclasses import replace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from forecast import ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.data import Calendar, Columns, DateSplit, RowSplit, Scaling
from forecast.nn import GRUEncoder
from forecast.predict import HistorySplit

COLUMNS = Columns(
    targets=["y"], past_covariates=["load"], future_covariates=["price"], static_covariates=["region", "size"]
)


def all_windows(data, part):
    dataset = data.dataset(part)
    return dataset.__getitems__(list(range(len(dataset))))


def assert_same_batches(first, second):
    for field in ("past", "future", "static", "target", "series", "time", "target_scale", "target_offset"):
        torch.testing.assert_close(getattr(first, field), getattr(second, field), equal_nan=True, msg=field)


def test_long_frame_of_one_series_equals_the_wide_frame(wide_frame):
    long = wide_frame.rename_axis("time").reset_index().assign(id="only")
    wide, as_long = (
        TimeSeriesDataModule(frame, 10, 5, columns=Columns(targets=["c", "a"]), split=RowSplit(120, 160))
        for frame in (wide_frame, long)
    )
    for data in (wide, as_long):
        data.setup("fit")
    assert (as_long.input_size, as_long.series_names, as_long.freq) == (wide.input_size, ["only"], wide.freq)
    for part in ("train", "val", "test", "predict"):
        assert_same_batches(all_windows(wide, part), all_windows(as_long, part))


def test_wide_columns_melted_to_long_are_series_scaled_like_channels(wide_frame):
    wide = TimeSeriesDataModule(wide_frame, 10, 5, split=RowSplit(120, 160))
    melted = wide_frame.rename_axis("time").reset_index().melt("time", var_name="id", value_name="value")
    long = TimeSeriesDataModule(melted, 10, 5, split=RowSplit(120, 160), scaling=Scaling(per_series=True))
    for data in (wide, long):
        data.setup("fit")
    assert long.series_names == ["a", "b", "c"] and long.input_size == 1
    for part in ("train", "test"):
        channels, series = all_windows(wide, part), all_windows(long, part)
        for i, name in enumerate(long.series_names):
            mine = series.series == i
            torch.testing.assert_close(series.past[mine, :, 0], channels.past[..., i])
            torch.testing.assert_close(series.target[mine, :, 0], channels.target[..., i])
            torch.testing.assert_close(
                series.to_original(series.target)[mine, :, 0],
                torch.tensor(wide_frame[name].to_numpy()[channels.time[:, None] + torch.arange(5)]),  # float64
                rtol=1e-6,  # the scaled targets are float32
                atol=1e-6,
            )


@pytest.mark.parametrize("layout", ["interleaved", "indexed"])
def test_long_rows_in_any_series_order_give_the_same_windows(long_frame, layout):
    grouped = TimeSeriesDataModule(long_frame, 10, 5, columns=COLUMNS)
    if layout == "interleaved":
        other = long_frame.sort_values("time", kind="stable")  # a panel: all series at each time
    else:
        other = long_frame.set_index(["id", "time"])
    other = TimeSeriesDataModule(other, 10, 5, columns=COLUMNS)
    for data in (grouped, other):
        data.setup("fit")
    order = [other.series_names.index(name) for name in grouped.series_names]
    assert sorted(other.series_names) == sorted(grouped.series_names)
    for part in ("train", "val"):
        mine, theirs = all_windows(grouped, part), all_windows(other, part)
        key = lambda batch, names: np.lexsort((batch.time.numpy(), [names[s] for s in batch.series.tolist()]))  # noqa: E731
        a, b = key(mine, grouped.series_names), key(theirs, other.series_names)
        torch.testing.assert_close(mine.past[a], theirs.past[b])
        torch.testing.assert_close(mine.future[a], theirs.future[b])
        torch.testing.assert_close(mine.static[a], theirs.static[b])
    assert order  # every series found in both


def test_covariates_and_statics_fill_their_fields(long_frame):
    data = TimeSeriesDataModule(long_frame, 10, 5, columns=COLUMNS, scaling=Scaling(scaler=None, covariate_scaler=None))
    assert (data.input_size, data.target_size, data.future_size, data.static_size) == (2, 1, 1, 2)
    assert data.static_cardinalities == [2, 0]  # region: north, south; size: a number
    data.setup("fit")
    batch = all_windows(data, "val")
    assert (batch.future.shape, batch.static.shape) == ((len(batch), 5, 1), (len(batch), 2))
    for i in range(0, len(batch), 5):
        rows = long_frame[long_frame["id"] == data.series_names[batch.series[i]]].iloc[int(batch.time[i]) :]
        np.testing.assert_allclose(batch.future[i, :, 0].numpy(), rows["price"].to_numpy()[:5], rtol=1e-6)
        region, size = rows.iloc[0][["region", "size"]]
        assert batch.static[i].tolist() == [["north", "south"].index(region), size]


def test_numeric_statics_are_standardized_over_the_series_with_training_rows(long_frame):
    """B starts after the validation start: its size (2.0) is not training data, A's 1.5 and C's 0.5 are."""
    split = DateSplit(val_start="2024-01-02 00:00", test_start="2024-01-04 00:00")
    data = TimeSeriesDataModule(long_frame, 10, 5, split=split, columns=COLUMNS)
    data.setup("fit")
    assert data.borders[:, 0].tolist() == [24, 0, 62]
    mean, std = 1.0, 0.5  # of 1.5 and 0.5
    scaled = {"A": (1.5 - mean) / std, "B": (2.0 - mean) / std, "C": (0.5 - mean) / std}
    assert data.static[:, 1].tolist() == [scaled[name] for name in data.series_names]
    assert data.static[:, 0].tolist() == [0, 1, 0]  # categories stay vocabulary indices
    history = TimeSeriesDataModule(long_frame.assign(size=10.0), 10, 5, columns=COLUMNS, split=HistorySplit())
    history.load_state_dict(data.state_dict())  # at predict: the checkpoint's scaling, not the history's
    assert history.static[:, 1].tolist() == [(10.0 - mean) / std] * 3


@pytest.mark.parametrize("dtype", ["category", "bool", "object"])
def test_statics_of_a_category_dtype_are_categories_even_when_they_are_numbers(long_frame, dtype):
    """The column's dtype decides: numbers stored as categories (or bools, or objects) are embedded, not scaled."""
    stores = long_frame["id"].map({"A": 7, "B": 1, "C": 12}).astype(dtype)
    columns = Columns(targets=["y"], static_covariates=["store"])
    data = TimeSeriesDataModule(long_frame.assign(store=stores), 10, 5, columns=columns)
    data.setup("fit")
    vocabulary = sorted({str(value) for value in stores})
    assert data.vocabularies == {"store": vocabulary} and data.static_cardinalities == [len(vocabulary)]
    first = long_frame.groupby("id").head(1).index  # each series' store, as text, indexes the vocabulary
    assert data.static[:, 0].tolist() == [vocabulary.index(str(value)) for value in stores[first]]


def with_future_rows(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """Each series followed by ``rows`` hours of known prices and no targets, as a forecast needs them."""
    tails = [
        pd.DataFrame({"id": name, "time": pd.date_range(part["time"].iloc[-1], periods=rows + 1, freq="h")[1:]}).assign(
            y=np.nan,
            load=np.nan,
            price=100.0 + np.arange(rows),
            region=part["region"].iloc[0],
            size=part["size"].iloc[0],
        )
        for name, part in frame.groupby("id", sort=False)
    ]
    return pd.concat([frame, *tails], ignore_index=True)


def test_forecast_takes_future_covariates_from_rows_after_the_data(long_frame):
    data = TimeSeriesDataModule(
        with_future_rows(long_frame, 7), 10, 5, columns=COLUMNS, scaling=Scaling(covariate_scaler=None)
    )
    assert data.table.observed.tolist() == [120, 90, 150]  # the rows without targets are no training data
    data.setup("fit")
    batch = all_windows(data, "predict")
    assert batch.time.tolist() == [120, 90, 150]
    np.testing.assert_allclose(batch.future[..., 0].numpy(), np.tile(100.0 + np.arange(5), (3, 1)))
    plain = TimeSeriesDataModule(long_frame, 10, 5, columns=COLUMNS, scaling=Scaling(covariate_scaler=None))
    plain.setup("fit")
    assert_same_batches(all_windows(plain, "train"), all_windows(data, "train"))


def test_forecast_without_future_covariates_names_the_series(long_frame):
    data = TimeSeriesDataModule(with_future_rows(long_frame, 3), 10, 5, columns=COLUMNS)
    data.setup("predict")
    with pytest.raises(ForecastDataError, match=r"series 'A' gives future covariates \['price'\] for 3 of the 5 steps"):
        data.dataset("predict")


def test_state_is_plain_data_that_round_trips(long_frame, tmp_path):
    long_frame = with_future_rows(long_frame, 5)
    data = TimeSeriesDataModule(long_frame, 10, 5, scaling=Scaling(per_series=True), columns=COLUMNS)
    data.setup("fit")
    torch.save({"datamodule": data.state_dict()}, tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)["datamodule"]
    assert state["vocabularies"] == {"region": ["north", "south"]} and state["freq"] == "h"
    assert state["borders"] == data.borders.tolist() and state["series"] == ["A", "B", "C"]
    changed = long_frame.copy()
    changed["y"] *= 3  # data whose own scalers would differ; and series in another order
    changed = changed.iloc[::-1].sort_values(["id", "time"], ascending=[False, True])
    fresh = TimeSeriesDataModule(changed, 10, 5, scaling=Scaling(per_series=True), columns=COLUMNS)
    fresh.setup("predict")
    fresh.load_state_dict(state)
    assert fresh.series_names == ["C", "B", "A"]
    for kind in (0, 1):
        np.testing.assert_allclose(fresh.scalings[kind].scale, data.scalings[kind].scale[::-1])
    original = all_windows(data, "predict")
    again = all_windows(fresh, "predict")
    torch.testing.assert_close(
        again.to_original(again.past[..., :1]), original.to_original(original.past[..., :1]).flip(0) * 3
    )


def test_state_of_other_columns_is_refused(long_frame):
    data = TimeSeriesDataModule(long_frame, 10, 5, columns=COLUMNS)
    data.setup("fit")
    other = TimeSeriesDataModule(long_frame, 10, 5, columns=replace(COLUMNS, past_covariates=None))
    with pytest.raises(
        ForecastDataError,
        match=r"trained with past_covariates=\['load'\], but the data module has past_covariates=\[\]",
    ):
        other.load_state_dict(data.state_dict())


def test_state_of_per_series_scalers_needs_the_series(long_frame):
    data = TimeSeriesDataModule(
        long_frame[long_frame["id"] != "B"], 10, 5, scaling=Scaling(per_series=True), columns=COLUMNS
    )
    data.setup("fit")
    with pytest.raises(ForecastDataError, match=r"knows no series \['B'\]"):
        TimeSeriesDataModule(long_frame, 10, 5, columns=COLUMNS).load_state_dict(data.state_dict())


def in_time_zone(frame: pd.DataFrame, zone: str | None) -> pd.DataFrame:
    """``frame`` with its (local) times in ``zone``; ``None``: as given, without a time zone."""
    return frame if zone is None else frame.assign(time=frame["time"].dt.tz_localize(zone))


def test_times_in_another_time_zone_are_read_in_the_checkpoints(long_frame):
    """The same instants in UTC give the calendar features that training computed in its own time zone."""
    options = dict(columns=COLUMNS, calendar=Calendar(features=["hour", "dayofweek"]))
    berlin = in_time_zone(long_frame, "Europe/Berlin")
    data = TimeSeriesDataModule(berlin, 10, 5, **options)
    data.setup("fit")
    fresh = TimeSeriesDataModule(berlin.assign(time=berlin["time"].dt.tz_convert("UTC")), 10, 5, **options)
    fresh.load_state_dict(data.state_dict())
    assert fresh.table.times.equals(data.table.times) and fresh.start_times == data.start_times
    assert str(fresh.table.times.tz) == "Europe/Berlin"
    assert_same_batches(all_windows(fresh, "train"), all_windows(data, "train"))


@pytest.mark.parametrize(
    ("trained", "given", "message"),
    [
        (
            "Europe/Berlin",
            None,
            r"in time zone Europe/Berlin, but the data's have none; .*tz_localize\('Europe/Berlin'\)",
        ),
        (None, "UTC", r"without a time zone, but the data's are in time zone UTC; .*tz_localize\(None\)"),
    ],
    ids=["zoned-checkpoint", "zoned-data"],
)
def test_times_with_a_time_zone_where_the_checkpoints_had_none_or_the_reverse_are_refused(
    long_frame, trained, given, message
):
    data = TimeSeriesDataModule(in_time_zone(long_frame, trained), 10, 5, columns=COLUMNS)
    data.setup("fit")
    with pytest.raises(ForecastDataError, match=rf"the checkpoint was trained on times {message}"):
        TimeSeriesDataModule(in_time_zone(long_frame, given), 10, 5, columns=COLUMNS).load_state_dict(data.state_dict())


def test_times_that_leave_the_frequency_in_the_checkpoints_time_zone_are_refused():
    """Daily at midnight in Berlin is not daily in UTC across a daylight-saving change: 23:00, then 22:00."""
    utc = pd.DataFrame({"y": np.arange(60.0)}, index=pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC"))
    data = TimeSeriesDataModule(utc, 7, 2)
    data.setup("fit")
    berlin = utc.set_axis(pd.date_range("2024-03-01", periods=60, freq="D", tz="Europe/Berlin"), axis=0)
    fresh = TimeSeriesDataModule(berlin, 7, 2, freq="D", split=HistorySplit())
    with pytest.raises(
        ForecastDataError,
        match=r"time at row 31, time 2024-03-31 22:00:00\+00:00, in the checkpoint's time zone UTC \(converted from "
        r"Europe/Berlin\), does not follow its frequency 'D'",
    ):
        fresh.load_state_dict(data.state_dict())


def test_a_state_from_before_time_zones_were_recorded_takes_the_times_as_given(long_frame):
    data = TimeSeriesDataModule(in_time_zone(long_frame, "Europe/Berlin"), 10, 5, columns=COLUMNS)
    data.setup("fit")
    state = {key: value for key, value in data.state_dict().items() if key != "time_zone"}
    fresh = TimeSeriesDataModule(in_time_zone(long_frame, "UTC"), 10, 5, columns=COLUMNS)
    fresh.load_state_dict(state)
    assert str(fresh.table.times.tz) == "UTC" and fresh.scalings is not None


def test_trainer_restores_the_data_state_from_the_checkpoint(long_frame, tmp_path):
    def module(frame):
        return TimeSeriesDataModule(
            with_future_rows(frame, 4), 12, 4, batch_size=32, scaling=Scaling(per_series=True), columns=COLUMNS
        )

    data = module(long_frame)
    sizes = dict(input_size=2, target_size=1, future_size=1, static_size=2, static_cardinalities=[2, 0])
    model = Forecaster(lookback=12, horizon=4, **sizes, encoder=functools.partial(GRUEncoder, hidden_size=4))
    options = dict(max_epochs=1, logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer = L.Trainer(**options, default_root_dir=tmp_path)
    trainer.fit(model, data)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    fresh = module(long_frame.assign(y=long_frame["y"] * 10))  # its own scalers would be 10 times larger
    # weights_only=False for the model's own hyperparameters (its factories); the data's are plain:
    L.Trainer(**options, default_root_dir=tmp_path).predict(
        model, fresh, ckpt_path=tmp_path / "model.ckpt", weights_only=False
    )
    np.testing.assert_allclose(fresh.scalings[0].scale, data.scalings[0].scale)
    expected = data.buffer.values[:5, 0].numpy() * 10 + 9 * data.scalings[0].offset[0, 0] / data.scalings[0].scale[0, 0]
    np.testing.assert_allclose(fresh.buffer.values[:5, 0].numpy(), expected, rtol=1e-4)


def test_checkpoint_data_entries_load_with_weights_only(long_frame, tmp_path):
    scaling = Scaling(scaler=StandardScaler)
    data = TimeSeriesDataModule(
        long_frame, 10, 5, columns=Columns(targets=["y"]), split=RowSplit(60, 75), scaling=scaling
    )
    data.setup("fit")
    assert data.hparams["split"] == {
        "class_path": "forecast.data.splits.RowSplit",
        "init_args": {"val_start": 60, "test_start": 75, "test_end": None},
    }
    assert data.hparams["scaling"]["scaler"] == {"class_path": "sklearn.preprocessing._data.StandardScaler"}
    assert data.hparams["columns"]["targets"] == ["y"] and data.hparams["calendar"] == {
        "features": None,
        "encoding": "cyclical",
    }
    torch.save({"hyper_parameters": dict(data.hparams), "state": data.state_dict()}, tmp_path / "data.pt")
    loaded = torch.load(tmp_path / "data.pt", weights_only=True)
    assert loaded["state"] == data.state_dict() and loaded["hyper_parameters"] == dict(data.hparams)


@pytest.mark.parametrize("channels, windows", [(7, 256), (20, 89), (321, 5), (4000, 1)])
def test_batch_channels_sets_the_windows_per_batch_from_the_number_of_targets(channels, windows):
    """A channel-independent model's step costs windows x channels: batch_channels keeps that product."""
    index = pd.date_range("2024-01-01", periods=600, freq="h")  # 389 training windows
    frame = pd.DataFrame(np.zeros((600, channels), dtype=np.float32), index=index).add_prefix("c")
    data = TimeSeriesDataModule(frame, 24, 8, batch_size=64, batch_channels=1792)
    data.setup("fit")
    assert data.batch_size == windows
    assert len(next(iter(data.train_dataloader()))) == windows < len(data.dataset("train"))
    assert len(next(iter(data.val_dataloader()))) == min(windows, len(data.dataset("val")))


@pytest.mark.parametrize("key", ["batch_channels", "lookback", "eval_stride"])
def test_zero_counts_are_refused_naming_their_key(key):
    with pytest.raises(ValueError, match=rf"^data\.{key}=0 must be at least 1; give a whole number"):
        TimeSeriesDataModule("etth1", **{key: 0})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nan_policy": "drop"}, r"data.nan_policy='drop' is not one of \['error', 'ffill', 'interpolate', 'zero'\]"),
        ({"sampling": "balanced"}, r"data.sampling='balanced' is not one of \['windows', 'series'\]"),
        ({"shard": "serie"}, r"data.shard='serie' is not one of \['none', 'series'\]"),
    ],
    ids=["nan_policy", "sampling", "shard"],
)
def test_options_of_a_few_values_are_refused_by_name_when_misspelt(wide_frame, options, message):
    """The CLI checks these choices from the type hints; the Python API checks them too, at construction."""
    with pytest.raises(ValueError, match=message):
        TimeSeriesDataModule(wide_frame, 8, 4, **options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lookback": 10.5}, r"data.lookback=10.5 must be a whole number"),
        ({"columns": {"targets": ["a"]}}, r"data.columns is a dict; give forecast.Columns\(...\)"),
        ({"scaling": {"per_series": True}}, r"data.scaling is a dict; give forecast.Scaling\(...\)"),
        ({"split": {"class_path": "forecast.data.FractionSplit"}}, r"data.split is a dict; give a split object"),
    ],
)
def test_options_of_the_wrong_type_are_refused_naming_the_option(wide_frame, options, message):
    """A fractional lookback was taken (and cut somewhere); a dict for a group failed later with
    "'dict' object has no attribute 'id_column'"."""
    with pytest.raises(TypeError, match=message):
        TimeSeriesDataModule(wide_frame, **({"lookback": 10, "horizon": 5} | options))
