"""Covariates, static features and calendars of many series, from the frame to the windows that predict reads.

Every expectation is built by hand from the frame: the rows of each step's timestamp, the calendar fields of
those timestamps, and scalers' means and deviations computed with NumPy over the training rows.
"""

import decimal
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import torch

from forecast import Calendar, Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import DateSplit
from forecast.data.buffer import encode_statics
from forecast.data.scaling import AffineScaling
from forecast.predict import HistorySplit

LOOKBACK, HORIZON = 6, 3
ZONE = "Europe/Berlin"
COLUMNS = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"], static_covariates=["size"])
CALENDAR = Calendar(features=["hour", "dayofweek"], encoding="integer")


def series_frame(future_rows: int = 0) -> pd.DataFrame:
    """Three hourly series in Berlin of different lengths and starts (one across the change to summer time),
    each with ``future_rows`` trailing rows of prices and empty targets; rows of series interleaved."""
    rng = np.random.default_rng(3)
    parts = []
    for name, start, rows, size in [("a", "2024-03-30 20:00", 30, 1.0), ("b", "2024-03-29 05:00", 40, 3.0),
                                    ("c", "2024-03-31 00:00", 24, 8.0)]:  # fmt: skip
        count = rows + future_rows
        y = rng.normal(10 * size, 1.0, count)
        load = rng.normal(size, 1.0, count)
        y[rows:], load[rows:] = np.nan, np.nan
        times = pd.date_range(start, periods=count, freq="h", tz=ZONE)
        price = 100 * size + np.arange(count, dtype=float)
        parts.append(pd.DataFrame({"id": name, "time": times, "y": y, "load": load, "price": price, "size": size}))
    frame = pd.concat(parts, ignore_index=True)
    return frame.iloc[np.argsort(frame.groupby("id").cumcount(), kind="stable")]  # row 0 of each, row 1 of each...


def test_the_future_covariates_of_a_forecast_are_those_of_its_steps_timestamps_scaled_on_the_history():
    frame = series_frame(future_rows=HORIZON + 1)  # one more row than the horizon, which no step reads
    data = TimeSeriesDataModule(
        frame, lookback=LOOKBACK, horizon=HORIZON, columns=COLUMNS, calendar=CALENDAR, split=HistorySplit()
    )
    data.setup("predict")
    batch = next(iter(data.predict_dataloader()))
    history = frame.dropna(subset="y")
    mean, std = history["price"].mean(), history["price"].std(ddof=0)
    for window in range(len(batch)):
        name = data.series_names[int(batch.series[window])]
        own = frame[frame["id"] == name]
        steps = own[own["y"].isna()].iloc[:HORIZON]  # the rows after the last target
        times = pd.DatetimeIndex(steps["time"])
        expected = np.stack([(steps["price"] - mean) / std, times.hour, times.day_of_week], axis=1)
        np.testing.assert_allclose(batch.future[window].numpy(), expected, rtol=1e-5, atol=1e-5)
        inputs = own.dropna(subset="y").iloc[-LOOKBACK:]
        np.testing.assert_allclose(
            batch.past[window, :, 1].numpy(),
            (inputs["load"] - history["load"].mean()) / history["load"].std(ddof=0),
            rtol=1e-5,
            atol=1e-5,
        )


def test_covariate_scalers_are_fitted_on_the_training_rows_of_every_series_only():
    frame = series_frame()
    split = DateSplit(val_start="2024-03-31 12:00+02:00", test_start="2024-03-31 16:00+02:00")
    data = TimeSeriesDataModule(frame, lookback=LOOKBACK, horizon=HORIZON, columns=COLUMNS, split=split)
    data.setup("fit")
    training = frame[frame["time"] < pd.Timestamp("2024-03-31 12:00", tz=ZONE)]
    covariates = data.scalings[1]
    np.testing.assert_allclose(covariates.offset[0], training[["load", "price"]].mean(), rtol=1e-9)
    np.testing.assert_allclose(covariates.scale[0], training[["load", "price"]].std(ddof=0), rtol=1e-9)
    sizes = np.array([1.0, 3.0, 8.0])  # one value per series with training rows: all three
    np.testing.assert_allclose(data.static[:, 0].numpy(), (frame.groupby("id")["size"].first() - sizes.mean())
                               / sizes.std(), rtol=1e-5)  # fmt: skip


def test_a_checkpoint_state_keeps_columns_categories_and_scalers_for_a_frame_of_other_order_and_fewer_series():
    frame = series_frame().assign(region=lambda f: f["id"].map({"a": "west", "b": "east", "c": "north"}))
    columns = Columns(targets=["y"], past_covariates=["load"], static_covariates=["region", "size"])
    trained = TimeSeriesDataModule(frame, lookback=LOOKBACK, horizon=HORIZON, columns=columns)
    trained.setup("fit")
    state = trained.state_dict()
    assert state["vocabularies"] == {"region": ["east", "north", "west"]}
    assert state["static_covariates"] == ["region", "size"]
    later = frame[frame["id"] != "b"].iloc[::-1].sort_values(["id", "time"], ascending=[False, True])
    later = later[["size", "region", "time", "load", "y", "id"]]  # columns in another order; series c first
    data = TimeSeriesDataModule(later, lookback=LOOKBACK, horizon=HORIZON, columns=columns, split=HistorySplit())
    data.load_state_dict(state)
    assert data.series_names == ["c", "a"] and data.static_cardinalities == [3, 0]
    np.testing.assert_allclose(data.static[:, 0].numpy(), [1, 2])  # north, west among east, north, west
    known = [trained.series_names.index(name) for name in data.series_names]
    torch.testing.assert_close(data.static, trained.static[known])
    np.testing.assert_allclose(data.scalings[1].offset, trained.scalings[1].offset)


@pytest.mark.parametrize("given", ["frame", "csv"])
def test_text_times_whose_day_cannot_be_a_month_are_read_without_a_warning_about_dayfirst(given, tmp_path):
    """Text times from the 13th of a month on: pandas warned "Parsing dates in %Y-%m-%d %H:%M:%S format when
    dayfirst=True was specified" from the check for dates written day first, of which the user asked nothing."""
    times = pd.date_range("2024-03-29", periods=20, freq="h")
    frame = pd.DataFrame({"id": "a", "time": times.astype(str), "y": np.arange(20.0)})
    source = frame
    if given == "csv":
        source = tmp_path / "series.csv"
        frame.to_csv(source, index=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = TimeSeriesDataModule(source, lookback=LOOKBACK, horizon=HORIZON)
    assert [str(warning.message) for warning in caught if "dayfirst" in str(warning.message)] == []
    assert data.table.times.equals(pd.DatetimeIndex(times))


def with_static(sizes: list) -> pd.DataFrame:
    """Two hourly series with a static column ``size`` of the values ``sizes``, one per series."""
    times = pd.date_range("2024-01-01", periods=40, freq="h")
    return pd.concat(
        [pd.DataFrame({"id": name, "time": times, "y": np.arange(40.0) * (i + 1), "size": size})
         for i, (name, size) in enumerate(zip("ab", sizes, strict=True))],
        ignore_index=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        (["big", "small"], r"static covariate 'size' holds 'big' for series 'a'.*trained on numbers"),
        ([1.5, "huge"], r"static covariate 'size' holds 'huge' for series 'b'.*trained on numbers"),
        (["1.5", "2.5"], r"holds '1.5' for series 'a'.*frame\['size'\] = pandas.to_numeric\(frame\['size'\]\)"),
    ],
    ids=["words", "a word", "numbers as text"],
)
def test_text_in_a_static_column_that_the_checkpoint_read_as_numbers_is_named(sizes, message):
    """Before, words failed inside NumPy ("could not convert string to float: 'big'"), naming no column."""
    columns = Columns(targets=["y"], static_covariates=["size"])
    trained = TimeSeriesDataModule(with_static([1.5, 2.5]), lookback=LOOKBACK, horizon=HORIZON, columns=columns)
    trained.setup("fit")
    data = TimeSeriesDataModule(
        with_static(sizes), lookback=LOOKBACK, horizon=HORIZON, columns=columns, split=HistorySplit()
    )
    with pytest.raises(ForecastDataError, match=message):
        data.load_state_dict(trained.state_dict())


def test_a_static_column_of_arrow_decimals_is_numbers_scaled_not_categories():
    """A Parquet DECIMAL column read with dtype_backend="pyarrow": a numeric dtype, whose values were taken as
    categories (one embedding per distinct value) though the column was checked as numbers."""
    frame = with_static([1.5, 4.5])
    decimals = pa.array([decimal.Decimal(f"{size:.2f}") for size in frame["size"]], pa.decimal128(10, 2))
    frame["size"] = pd.Series(decimals, dtype=pd.ArrowDtype(pa.decimal128(10, 2)))
    data = TimeSeriesDataModule(frame, lookback=LOOKBACK, horizon=HORIZON,
                                columns=Columns(targets=["y"], static_covariates=["size"]))  # fmt: skip
    data.setup("fit")
    assert data.static_cardinalities == [0] and data.vocabularies == {}
    np.testing.assert_allclose(data.static[:, 0].numpy(), [-1.0, 1.0])  # (1.5, 4.5) less 3, over 1.5


def test_an_unknown_category_of_numpy_integers_is_named_as_the_text_the_model_knows():
    """Categories are matched as text; the message named the value as NumPy's repr (``np.int64(3)``)."""
    table = SimpleNamespace(statics={"group": np.array([np.int64(1), np.int64(3)], dtype=object)}, names=["a", "b"])
    with pytest.raises(ForecastDataError, match=r"series 'b' is '3', a category .* \(it knows \['1', '2'\]\)"):
        encode_statics(table, {"group": ["1", "2"]}, AffineScaling([[]], [[]]))
