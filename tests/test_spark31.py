"""A Spark value column of a type the checkpoint cannot read is refused naming the column, its type and a
conversion that Spark runs on that type: applied, the frame forecasts. On a timestamp without a zone, bytes, an
interval, an array, a map or a struct, Spark runs neither conversion that the refusal offered every type
(``.cast('double')``, ``functions.unix_date``)."""

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError
from forecast.partition import load_cached

pytest.importorskip("pyspark", reason="forecast.spark needs the spark extra: pip install -e '.[spark]'")

from pyspark.sql.types import (  # noqa: E402
    ArrayType,
    BinaryType,
    DayTimeIntervalType,
    DoubleType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
    YearMonthIntervalType,
)

from forecast import spark  # noqa: E402

CHECKPOINT = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"  # y; load past, price future; lookback 24
OBSERVED, HORIZON = 30, 6
# Spark SQL of a value of each type whose conversion gives numbers, the load of the frozen checkpoint's history.
VALUES = {
    "timestamp_ntz": "timestamp_ntz'1970-01-01 00:00:00' + make_dt_interval(0, 0, 0, {load})",
    "timestamp": "timestamp_seconds({load})",
    "date": "date_add(date'1970-01-01', {load})",
    "boolean": "{load} > 4",
    "binary": "cast(cast({load} as string) as binary)",
    "day-time interval": "make_dt_interval(0, 0, 0, {load})",
    "year-month interval": "make_ym_interval(0, {load})",
    "array": "array({load}, 0.0d)",
    "map": "map('load', {load})",
    "struct": "named_struct('note', 'text', 'value', {load})",
}


def refusal(frame) -> str:
    with pytest.raises(ForecastDataError) as caught:
        spark.predict(frame, CHECKPOINT)
    return str(caught.value)


def conversions(message: str, column: str) -> list[str]:
    """The ``frame.withColumn`` statements that ``message`` offers for ``column``."""
    return re.findall(rf"frame\.withColumn\('{column}', .*?\)(?= \(| for|$)", message)


@pytest.mark.parametrize(
    "kind",
    [
        TimestampNTZType(),
        BinaryType(),
        DayTimeIntervalType(),
        YearMonthIntervalType(),
        ArrayType(DoubleType()),
        MapType(StringType(), DoubleType()),
        StructType([StructField("note", StringType()), StructField("value", DoubleType())]),
    ],
    ids=lambda kind: kind.simpleString(),
)
def test_a_value_column_spark_casts_to_no_double_is_refused_with_one_conversion_for_its_type(kind):
    """The refusal offered ``.cast('double')`` and ``functions.unix_date``, neither of which Spark runs on these
    types (the test below runs them). Only the frame's schema is read."""
    names = {"id": StringType(), "time": TimestampType(), "y": DoubleType(), "load": kind, "price": DoubleType()}
    frame = SimpleNamespace(schema=StructType([StructField(name, kind) for name, kind in names.items()]))
    message = refusal(frame)
    assert f"column 'load' holds values of type {kind.simpleString()}, where the checkpoint reads numbers" in message
    assert len(conversions(message, "load")) == 1, message


def history(session, load: str):
    """Two hourly series of OBSERVED rows and HORIZON future rows holding only ``price``, with ``load`` the
    Spark SQL of the load column of whole numbers ``load`` (``{load}``); and the history with the numbers."""
    rng = np.random.default_rng(0)
    count = OBSERVED + HORIZON
    future = np.tile(np.arange(count) >= OBSERVED, 2)
    frame = pd.DataFrame(
        {
            "id": np.repeat(["A", "B"], count),
            "time": np.tile(pd.date_range("2024-01-01", periods=count, freq="h"), 2),
            "y": np.where(future, np.nan, rng.normal(0, 5, 2 * count)),
            "load": np.where(future, np.nan, rng.integers(1, 9, 2 * count)),
            "price": 50 + rng.standard_normal(2 * count),
        }
    )
    numbers = session.createDataFrame(frame)
    typed = numbers.selectExpr("id", "time", "y", f"{load.format(load='cast(load as int)')} as load", "price")
    return typed, frame


def converted(frame, message: str, column: str):
    """``frame`` after the first conversion of ``column`` that ``message`` offers and Spark runs."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions

    for code in conversions(message, column):
        try:
            return eval(code, {"frame": frame, "functions": functions})
        except AnalysisException:  # a conversion Spark does not run on this type
            continue
    pytest.fail(f"no conversion offered runs: {message}")


@pytest.mark.slow  # a local Spark session: about 10 s to start
@pytest.mark.parametrize("kind", VALUES, ids=VALUES)
def test_the_conversion_a_refusal_offers_makes_the_value_column_numbers_predict_reads(session, kind):
    from pyspark.sql.types import NumericType

    frame, _ = history(session, VALUES[kind])
    fixed = converted(frame, refusal(frame), "load")
    assert isinstance(fixed.schema["load"].dataType, NumericType)
    spark.predict(fixed, CHECKPOINT)  # all checks before the job pass


@pytest.mark.slow  # a local Spark session and a job whose Python workers import torch
def test_a_frame_of_timestamps_without_zone_and_bytes_forecasts_as_the_numbers_they_convert_to(session):
    """load as timestamp_ntz (seconds since 1970) and price as the bytes of its text: each refusal's conversion,
    applied in turn, makes the job run, with the forecasts of ``Forecaster.predict`` on the numbers."""
    frame, numbers = history(session, VALUES["timestamp_ntz"])
    frame = frame.withColumn("price", frame["price"].cast("string").cast("binary"))
    frame = converted(frame, refusal(frame), "load")
    frame = converted(frame, refusal(frame), "price")
    result = spark.predict(frame, CHECKPOINT).toPandas().sort_values(["id", "time"], ignore_index=True)
    expected = load_cached(CHECKPOINT).predict(numbers).sort_values(["id", "time"], ignore_index=True)
    pd.testing.assert_frame_equal(result, expected, check_dtype=False, rtol=1e-5)
