"""The engine-neutral partition functions against ``Forecaster.predict`` on the whole frame."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from forecast.errors import ForecastDataError
from forecast.partition import forecast_columns, load_cached, predict_batches, predict_partition

CHECKPOINT = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"


def frozen_history() -> pd.DataFrame:
    return pd.read_csv(Path(__file__).parent / "data" / "frozen_v0.1.0_history.csv", parse_dates=["time"])


def test_load_cached_loads_a_checkpoint_once():
    assert load_cached(CHECKPOINT) is load_cached(str(CHECKPOINT))


def test_load_cached_reads_a_file_url_as_its_path():
    assert load_cached(CHECKPOINT.resolve().as_uri()) is load_cached(CHECKPOINT)


def test_load_cached_refuses_a_url_of_another_scheme_naming_the_fix():
    with pytest.raises(ValueError, match=r"'s3://bucket/last.ckpt' is a s3: URL; .* copy the file to one"):
        load_cached("s3://bucket/last.ckpt")


def test_forecast_columns_are_the_columns_predict_returns():
    model = load_cached(CHECKPOINT)
    assert ["id", "time", *forecast_columns(model)] == list(model.predict(frozen_history()).columns)


def test_predict_partition_keeps_the_type_of_the_ids():
    frame = frozen_history().assign(id=lambda rows: rows["id"].map({"A": 7, "B": 3}))
    table = predict_partition(frame, CHECKPOINT)
    assert table["id"].dtype == np.int64 and table["id"].tolist() == [7] * 6 + [3] * 6


def test_predict_partition_keeps_timestamp_ids_with_their_series():
    starts = [pd.Timestamp("2024-01-01"), pd.Timestamp("2024-02-01")]
    frame = frozen_history().assign(id=lambda rows: rows["id"].map({"A": starts[0], "B": starts[1]}))
    table = predict_partition(frame, CHECKPOINT)
    expected = load_cached(CHECKPOINT).predict(frame)  # names each series '2024-01-01 00:00:00', ...
    assert table["id"].tolist() == [starts[0]] * 6 + [starts[1]] * 6
    pd.testing.assert_frame_equal(table.drop(columns="id"), expected.drop(columns="id"))


def test_predict_batches_joins_a_series_split_between_batches():
    frame = frozen_history()  # A then B, 36 rows each
    batches = [frame.iloc[:20], frame.iloc[20:50], frame.iloc[50:]]  # A in two batches, B in two
    tables = list(predict_batches(batches, CHECKPOINT, rows_per_call=40))
    assert [table["id"].unique().tolist() for table in tables] == [["A"], ["B"]]
    pd.testing.assert_frame_equal(pd.concat(tables, ignore_index=True), load_cached(CHECKPOINT).predict(frame))


def test_predict_partition_of_an_empty_partition_is_an_empty_table_of_the_same_types():
    frame = frozen_history()
    expected = predict_partition(frame, CHECKPOINT).dtypes
    pd.testing.assert_series_equal(predict_partition(frame.iloc[:0], CHECKPOINT).dtypes, expected)


@pytest.mark.parametrize("unit", ["s", "ms", "ns"])
def test_forecast_times_keep_the_unit_of_the_history_times_as_an_empty_partition_declares(unit):
    """Hourly history in seconds (a Parquet file's timestamp[s]) was forecast in microseconds, unlike Dask's meta."""
    frame = frozen_history().astype({"time": f"datetime64[{unit}]"})
    table = predict_partition(frame, CHECKPOINT)
    assert table["time"].dtype == predict_partition(frame.iloc[:0], CHECKPOINT)["time"].dtype == f"datetime64[{unit}]"
    expected = predict_partition(frozen_history(), CHECKPOINT)["time"]
    assert table["time"].tolist() == expected.tolist()


@pytest.mark.parametrize("levels", [["id"], ["id", "time"]], ids=["id", "id and time"])
def test_predict_partition_of_an_empty_partition_reads_ids_and_times_from_the_index_as_predict_does(levels):
    """Dask's set_index("id") keeps each series in one partition; its empty meta failed with KeyError: 'id'."""
    frame = frozen_history().astype({"id": "category", "time": "datetime64[s]"}).set_index(levels)
    expected = predict_partition(frame, CHECKPOINT).dtypes
    pd.testing.assert_series_equal(predict_partition(frame.iloc[:0], CHECKPOINT).dtypes, expected)


def test_predict_partition_of_an_empty_partition_keeps_the_time_zone_of_a_zoned_checkpoint(tmp_path):
    """Forecasts of a checkpoint trained on zoned times are in its zone: an engine's empty partition's too."""
    import forecast

    times = pd.date_range("2024-01-01", periods=60, freq="h", tz="Europe/Berlin")
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], 60), "time": times.append(times), "y": np.arange(120.0) % 7})
    options = {"max_epochs": 1, "default_root_dir": str(tmp_path), "enable_progress_bar": False, "logger": False}
    forecast.fit(frame, lookback=12, horizon=3, data={"batch_size": 64}, trainer=options)
    (checkpoint,) = tmp_path.glob("**/last.ckpt")
    expected = predict_partition(frame, checkpoint).dtypes
    pd.testing.assert_series_equal(predict_partition(frame.iloc[:0], checkpoint).dtypes, expected)


def test_predict_partition_of_a_checkpoint_older_than_time_zones_keeps_the_zone_of_the_history():
    """A checkpoint without a recorded zone takes zoned times as given: an empty partition's times too."""
    frame = frozen_history().assign(time=lambda rows: rows["time"].dt.tz_localize("Asia/Tokyo"))
    assert "time_zone" not in load_cached(CHECKPOINT).data_state  # the frozen 0.1.0 checkpoint
    expected = predict_partition(frame, CHECKPOINT).dtypes
    assert str(expected["time"]) == "datetime64[us, Asia/Tokyo]"
    pd.testing.assert_series_equal(predict_partition(frame.iloc[:0], CHECKPOINT).dtypes, expected)


@pytest.mark.parametrize("dates", ["objects", "arrow"])
def test_predict_partition_of_dates_gives_an_empty_partition_the_types_of_a_full_one(dates, tmp_path):
    """A Parquet DATE column (date32[pyarrow]) failed an empty partition with NotImplementedError."""
    import forecast
    from forecast.nn import IdentityEncoder, LastValueHead

    days = pd.date_range("2024-01-01", periods=20, freq="D")
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], 20), "time": days.append(days), "y": np.arange(40.0)})
    options = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(tmp_path),
               "enable_progress_bar": False, "enable_model_summary": False, "logger": False}  # fmt: skip
    naive = {"encoder": IdentityEncoder, "head": LastValueHead}
    forecast.fit(frame, lookback=4, horizon=2, data={"batch_size": 8}, model=naive, trainer=options)
    (checkpoint,) = tmp_path.glob("**/last.ckpt")
    dated = frame.assign(time=frame["time"].dt.date)  # objects, as pandas reads a DATE column by default
    if dates == "arrow":
        dated = dated.astype({"time": pd.ArrowDtype(pa.date32())})
    expected = predict_partition(dated, checkpoint).dtypes
    pd.testing.assert_series_equal(predict_partition(dated.iloc[:0], checkpoint).dtypes, expected)


def test_predict_batches_refuses_a_series_that_comes_back_after_other_series():
    """A stream not grouped by series used to forecast the series twice, each from part of its history."""
    frame = frozen_history()
    a, b = frame[frame["id"] == "A"], frame[frame["id"] == "B"]
    with pytest.raises(ForecastDataError, match=r"series 'A' has rows after those of other series .* sort the rows"):
        list(predict_batches([a, b, a], CHECKPOINT, rows_per_call=10))


def test_predict_batches_concatenates_each_row_of_a_long_series_once(monkeypatch):
    """A series longer than rows_per_call was concatenated again at every batch: time quadratic in its length."""
    rng = np.random.default_rng(0)
    observed = np.arange(1206) < 1200  # the last 6 rows (the horizon) hold the future covariate only
    long = pd.DataFrame(
        {
            "id": "A",
            "time": pd.date_range("2024-01-01", periods=1206, freq="h"),
            "y": np.where(observed, rng.normal(size=1206), np.nan),
            "load": np.where(observed, rng.normal(size=1206), np.nan),
            "price": rng.normal(50, 2, size=1206),
        }
    )
    frame = pd.concat([frozen_history().query("id == 'B'"), long], ignore_index=True)
    expected = load_cached(CHECKPOINT).predict(frame)
    concat, concatenated = pd.concat, []

    def counting_concat(frames, **options):
        frames = list(frames)
        concatenated.extend(len(part) for part in frames)
        return concat(frames, **options)

    monkeypatch.setattr(pd, "concat", counting_concat)
    batches = [frame.iloc[start : start + 10] for start in range(0, len(frame), 10)]
    tables = list(predict_batches(batches, CHECKPOINT, rows_per_call=100))
    assert sum(concatenated) < 2 * len(frame)  # each row once, and what predict concatenates itself
    pd.testing.assert_frame_equal(concat(tables, ignore_index=True), expected)
