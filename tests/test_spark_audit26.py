"""``forecast.spark``'s refusals before a job, and a job against ``Forecaster.predict``, on a local Spark."""

from pathlib import Path

import pandas as pd
import pytest

from forecast import ForecastDataError
from forecast.partition import load_cached

pytest.importorskip("pyspark", reason="forecast.spark needs the spark extra: pip install -e '.[spark]'")

from pyspark.sql import functions  # noqa: E402
from pyspark.sql.types import (  # noqa: E402
    ArrayType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from forecast import spark  # noqa: E402

CHECKPOINT = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"  # a quantile GRU: y; load past, price future


def frozen_history() -> pd.DataFrame:
    """Series A then B, 36 hourly rows each, the last 6 holding only the future covariate ``price``."""
    return pd.read_csv(Path(__file__).parent / "data" / "frozen_v0.1.0_history.csv", parse_dates=["time"])


@pytest.mark.parametrize(
    "id_type",
    [
        StructType([StructField("store", StringType()), StructField("item", LongType())]),
        ArrayType(StringType()),
        MapType(StringType(), StringType()),
    ],
    ids=["struct", "array", "map"],
)
def test_forecast_schema_refuses_nested_ids_naming_the_column_and_the_fix(id_type):
    """Struct ids (a key of two columns) reach pandas as dictionaries: every task failed with
    'TypeError: unhashable type: dict' from pandas' hash table, after the checkpoint was loaded."""
    history = StructType(
        [StructField("id", id_type), StructField("time", TimestampType()), StructField("y", DoubleType())]
    )
    with pytest.raises(ForecastDataError, match=r"column 'id' holds series ids of type (struct|array|map)<.*concat_ws"):
        spark.forecast_schema(CHECKPOINT, history)


def test_spark_predict_refuses_a_value_column_of_text_before_the_job(session):
    """A CSV read without a schema gives text columns: every task failed, with a fix in pandas' terms."""
    columns = [("id", StringType()), ("time", TimestampType()), ("y", DoubleType()), ("load", DoubleType())]
    schema = StructType([StructField(name, kind) for name, kind in [*columns, ("price", StringType())]])
    frame = session.createDataFrame([], schema)  # the refusal reads the schema only
    with pytest.raises(ForecastDataError, match=r"column 'price' holds text, .*\.cast\('double'\)"):
        spark.predict(frame, CHECKPOINT)


@pytest.mark.slow  # a job: Python workers that import torch (about 10 s in a fresh session)
def test_spark_predict_of_a_shorter_horizon_and_integer_ids_equals_predict(session):
    """Two series over three partitions (one empty), several predict calls, the first 2 of 6 trained steps."""
    frame = frozen_history().assign(id=lambda rows: rows["id"].map({"A": 7, "B": 3}).astype("int32"))
    history = session.createDataFrame(frame).withColumn("id", functions.col("id").cast("int"))
    result = spark.predict(history, CHECKPOINT, horizon=2, num_partitions=3, rows_per_call=10)
    assert result.schema["id"].dataType == IntegerType()
    expected = load_cached(CHECKPOINT).predict(frame, horizon=2)
    table = result.toPandas().sort_values(["id", "time"], ignore_index=True)
    pd.testing.assert_frame_equal(
        table, expected.sort_values(["id", "time"], ignore_index=True), check_dtype=False, rtol=1e-5
    )
