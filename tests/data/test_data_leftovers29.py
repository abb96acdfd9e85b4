"""The data layer's messages as users read them: a refusal of a file's data names the file, Parquet decimals read
alike for the shard index and for training, MASE's missing scale names the target column, and the fixes name the
config keys as set (``data.nan_policy``, ``data.drop_short``)."""

import decimal
import logging

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.data.sharding import series_index
from forecast.data.validate import check_naive_scale

TIMES = pd.date_range("2024-01-01", periods=30, freq="h")


def data(source, **options) -> TimeSeriesDataModule:
    module = TimeSeriesDataModule(source, lookback=4, horizon=2, split=FractionSplit(val=0.2, test=0.2), **options)
    module.setup("fit")
    return module


def test_a_wide_file_whose_first_column_holds_numbers_is_refused_naming_the_file(tmp_path):
    """Of several files, the one at fault: the message of a wide file names it; that of a frame names none."""
    frame = pd.DataFrame({"step": range(30), "y": np.arange(30.0)})
    path = tmp_path / "plant_7.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(ForecastDataError) as refused:
        data(path)
    assert str(refused.value).startswith(f"data source {str(path)!r}: the wide frame has neither a DatetimeIndex")
    with pytest.raises(ForecastDataError) as refused:
        data(frame)
    assert str(refused.value).startswith("the wide frame has neither a DatetimeIndex")


def test_a_wide_file_with_a_value_that_is_no_time_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "plant_8.csv"
    times = [str(time) for time in TIMES[:-1]] + ["n/a yet"]
    pd.DataFrame({"time": times, "y": np.arange(30.0)}).to_csv(path, index=False)
    with pytest.raises(ForecastDataError, match=r"^data source '.*plant_8\.csv': .*'n/a yet'"):
        data(path)


def test_a_long_file_without_its_time_column_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "stores.csv"
    pd.DataFrame({"id": ["a"] * 30, "y": np.arange(30.0)}).to_csv(path, index=False)
    with pytest.raises(ForecastDataError, match=r"^data source '.*stores\.csv': the long frame has an 'id' column"):
        data(path)


def test_a_refusal_of_the_file_itself_names_it_once(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("time,y\n")
    with pytest.raises(ForecastDataError) as refused:
        data(path)
    assert str(refused.value).count("empty.csv") == 1


def _decimal_parquet(path) -> pd.DataFrame:
    """Two series whose ids, values and static column are Parquet decimals (a database's NUMERIC)."""
    ids = [decimal.Decimal("1.50")] * 30 + [decimal.Decimal("2.00")] * 30
    table = pa.table(
        {
            "id": pa.array(ids, pa.decimal128(5, 2)),
            "time": pa.array(TIMES.append(TIMES)),
            "y": pa.array([decimal.Decimal(f"{value}.25") for value in range(60)], pa.decimal128(6, 2)),
            "size": pa.array([decimal.Decimal("0.10")] * 30 + [decimal.Decimal("7.30")] * 30, pa.decimal128(5, 2)),
        }
    )
    pq.write_table(table, path)
    return table.to_pandas()


def test_the_shard_index_reads_decimal_statics_and_ids_as_training_reads_them(tmp_path):
    path = tmp_path / "stores.parquet"
    given = _decimal_parquet(path)
    index = series_index(path, Columns(targets=["y"], static_covariates=["size"]))
    expected = given.assign(size=given["size"].astype("float64")).groupby(given["id"].astype(str), sort=True)
    assert index["id"].tolist() == ["1.50", "2.00"]
    np.testing.assert_array_equal(index["size"].to_numpy(dtype=np.float64), expected["size"].first().to_numpy())
    assert index["size"].dtype == np.float64
    assert index["rows"].tolist() == expected.size().tolist()


def test_a_sharded_module_reads_a_parquet_file_of_decimals_as_an_unsharded_one(tmp_path):
    path = tmp_path / "stores.parquet"
    given = _decimal_parquet(path)
    columns = Columns(targets=["y"], static_covariates=["size"])
    sharded, whole = data(path, columns=columns, shard="series"), data(path, columns=columns)
    assert sharded.series_names == whole.series_names == ["1.50", "2.00"]
    np.testing.assert_array_equal(sharded.table.statics["size"], [0.1, 7.3])
    np.testing.assert_array_equal(sharded.table.values["y"], given["y"].astype("float64").to_numpy())


def test_mase_without_a_scale_names_the_series_and_the_target_column():
    scale = np.array([[0.5, 1.0], [0.5, np.nan], [np.nan, np.nan]])  # "flat": price flat; "dead": both
    names, targets = ["steady", "flat", "dead"], ["sales", "price"]
    with pytest.warns(UserWarning) as caught:
        check_naive_scale(np.array([30, 30, 30]), seasonal_period=2, names=names, scale=scale, targets=targets)
    message = str(caught[0].message)
    assert "series 'flat': ['price']; series 'dead': ['sales', 'price']" in message
    assert "'steady'" not in message


def test_mase_without_a_scale_names_the_channel_where_the_columns_are_not_given():
    with pytest.warns(UserWarning, match=r"series 'flat': \['channel 1'\]\)"):
        check_naive_scale(np.array([30, 30]), 2, ["steady", "flat"], np.array([[0.5, 1.0], [0.5, np.nan]]))


def _long(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"id": "a", "time": TIMES, "y": values})


def test_a_missing_value_is_refused_naming_the_config_key_to_set():
    values = np.arange(30.0)
    values[5] = np.nan
    with pytest.raises(ForecastDataError, match=r"column 'y', series 'a', row 5.*set data\.nan_policy to ffill"):
        data(_long(values))


def test_a_part_without_a_value_to_repair_from_names_the_config_key_to_set():
    values = np.arange(30.0)
    values[:20] = np.nan
    with pytest.raises(ForecastDataError, match=r"set data\.nan_policy: zero"):
        data(_long(values), nan_policy="ffill")


def test_the_repair_log_names_the_config_key(caplog):
    values = np.arange(30.0)
    values[5] = np.nan
    with caplog.at_level(logging.INFO):
        data(_long(values), nan_policy="ffill")
    assert "data.nan_policy=ffill: repaired 1 NaN or infinite values {'y': 1}" in caplog.text


def test_a_short_series_is_refused_naming_the_config_key_that_leaves_it_out():
    frame = pd.concat([_long(np.arange(30.0)), _long(np.arange(30.0)).assign(id="b").iloc[:3]])
    with pytest.raises(ForecastDataError, match=r"'b' \(3 rows\); set data\.drop_short: true to leave them out"):
        data(frame)


def test_a_data_module_testing_a_series_flat_in_one_target_names_that_column():
    frame = pd.DataFrame({"id": "a", "time": TIMES, "sales": np.arange(30.0) % 5, "price": 2.0})
    module = TimeSeriesDataModule(frame, lookback=4, horizon=2, split=FractionSplit(val=0.2, test=0.2))
    with pytest.warns(UserWarning, match=r"series 'a': \['price'\]\)"):
        module.setup("test")
