"""Forecast tables of histories in the types that readers give them: Arrow-backed frames from Parquet."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from forecast.partition import load_cached, predict_partition

DATA = Path(__file__).parent / "data"
CHECKPOINT = DATA / "frozen_v0.1.0.ckpt"  # forecasts the 6 rows of future covariates that end each series


@pytest.fixture
def arrow_history(tmp_path) -> pd.DataFrame:
    """The frozen checkpoint's history as pandas reads its Parquet file with the pyarrow dtype backend."""
    frame = pd.read_csv(DATA / "frozen_v0.1.0_history.csv", parse_dates=["time"])
    frame.to_parquet(tmp_path / "history.parquet")
    return pd.read_parquet(tmp_path / "history.parquet", dtype_backend="pyarrow")


def test_predict_of_arrow_history_gives_times_that_merge_onto_it(arrow_history):
    """Arrow ids came back as Arrow, but times as datetime64[us]: merging on id and time raised ValueError."""
    forecasts = load_cached(CHECKPOINT).predict(arrow_history)
    merged = forecasts.merge(arrow_history, on=["id", "time"], suffixes=("", "_actual"))
    future = arrow_history[arrow_history["y"].isna()]  # the rows forecast: the last 6 of each series
    assert merged[["id", "time", "price"]].to_dict("list") == future[["id", "time", "price"]].to_dict("list")


@pytest.mark.parametrize("zone", [None, "Asia/Tokyo", "+01:00"])
@pytest.mark.parametrize("unit", ["s", "ns"])
def test_predict_partition_keeps_arrow_times_of_the_history_also_when_empty(arrow_history, unit, zone):
    """The frozen checkpoint records no zone, so the forecasts' times keep the history's unit and zone."""
    times = pd.DatetimeIndex(arrow_history["time"]).as_unit(unit)
    times = times if zone is None else times.tz_localize(zone)
    dtype = pd.ArrowDtype(pa.timestamp(unit, zone))
    frame = arrow_history.assign(time=pd.Series(times).astype(dtype))
    table = predict_partition(frame, CHECKPOINT)
    assert table["time"].dtype == predict_partition(frame.iloc[:0], CHECKPOINT)["time"].dtype == dtype
    assert table["time"].tolist() == frame.loc[frame["y"].isna(), "time"].tolist()


@pytest.fixture(scope="module")
def berlin_days(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A naive model's checkpoint of two daily series in Europe/Berlin across the change to summer time (31 March
    2024), and their history."""
    import forecast
    from forecast.nn import IdentityEncoder, LastValueHead

    root = tmp_path_factory.mktemp("berlin_days")
    days = pd.date_range("2024-03-10", periods=40, freq="D", tz="Europe/Berlin")
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], 40), "time": days.append(days), "y": np.arange(80.0)})
    trainer = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(root),
               "enable_progress_bar": False, "enable_model_summary": False, "logger": False}  # fmt: skip
    naive = {"encoder": IdentityEncoder, "head": LastValueHead}
    forecast.fit(frame, lookback=4, horizon=2, data={"batch_size": 8}, model=naive, trainer=trainer)
    return next(root.rglob("last.ckpt")), frame


@pytest.mark.parametrize("where", ["column", "index levels"])
def test_predict_reads_arrow_times_of_another_zone_in_the_checkpoints_zone(berlin_days, where):
    """Berlin's days given as Arrow UTC times were refused ("does not follow frequency 'D'"), as NumPy's were not."""
    checkpoint, frame = berlin_days
    utc = frame.assign(time=frame["time"].dt.tz_convert("UTC").astype(pd.ArrowDtype(pa.timestamp("us", "UTC"))))
    utc = utc.set_index(["id", "time"]) if where == "index levels" else utc
    table = load_cached(checkpoint).predict(utc)
    expected = load_cached(checkpoint).predict(frame)
    assert table["time"].dtype == pd.ArrowDtype(pa.timestamp("us", "Europe/Berlin"))
    assert table["time"].tolist() == expected["time"].tolist()  # 19 and 20 April, at midnight in Berlin
    assert table["y"].tolist() == expected["y"].tolist()


def test_predict_partition_of_arrow_times_of_another_zone_declares_the_type_of_a_full_one(berlin_days):
    checkpoint, frame = berlin_days
    utc = frame.assign(time=frame["time"].dt.tz_convert("UTC").astype(pd.ArrowDtype(pa.timestamp("s", "UTC"))))
    expected = predict_partition(utc, checkpoint).dtypes
    assert str(expected["time"]) == "timestamp[s, tz=Europe/Berlin][pyarrow]"
    pd.testing.assert_series_equal(predict_partition(utc.iloc[:0], checkpoint).dtypes, expected)
