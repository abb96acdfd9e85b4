"""Hand mutation testing, round 5: tests for the mutants of ``forecast.spark`` (its schema, the refusals of columns
and types before a job and the conversions they offer, the session zone as pandas reads it, text times) that the
default suite let through. Each fails under its mutant and passes on the real code; none starts a Spark session."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from forecast import ForecastDataError

pytest.importorskip("pyspark", reason="forecast.spark needs the spark extra: pip install -e '.[spark]'")

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DayTimeIntervalType,
    DoubleType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
    YearMonthIntervalType,
)

from forecast import spark

CHECKPOINT = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"  # a quantile GRU: y; load past, price future


def schema(**types) -> StructType:
    """The frozen checkpoint's history columns, all of the right types but those in ``types``."""
    columns = {
        "id": StringType(),
        "time": TimestampType(),
        "y": DoubleType(),
        "load": DoubleType(),
    }
    columns |= {"price": DoubleType(), **types}
    return StructType([StructField(name, kind) for name, kind in columns.items()])


@pytest.mark.parametrize(
    ("history_time", "forecast_time"),
    [
        (TimestampType(), TimestampType()),
        (TimestampNTZType(), TimestampNTZType()),
        (DateType(), TimestampNTZType()),
        (StringType(), TimestampNTZType()),
    ],
    ids=lambda kind: kind.simpleString(),
)
def test_forecast_schema_keeps_a_timestamp_type_and_gives_dates_and_text_times_within_a_day(
    history_time, forecast_time
):
    """As its docstring says: ``id`` and ``time`` typed as in the history, but dates and text as TimestampNTZType."""
    result = spark.forecast_schema(CHECKPOINT, schema(id=LongType(), time=history_time))
    assert result.fieldNames()[:2] == ["id", "time"]
    assert result["id"].dataType == LongType()
    assert result["time"].dataType == forecast_time


def test_forecast_schema_names_a_missing_time_column_among_the_frames_columns():
    """A frame whose times are called ``date`` is refused naming the checkpoint's time column, not with Spark's
    KeyError of a field lookup."""
    renamed = StructType(
        [StructField("date" if field.name == "time" else field.name, field.dataType) for field in schema()]
    )
    with pytest.raises(
        ForecastDataError,
        match=r"the frame lacks \['time'\] .* among its columns \['id', 'date', ",
    ):
        spark.forecast_schema(CHECKPOINT, renamed)


def refusal(**types) -> str:
    """The message with which ``spark.predict`` refuses a frame of ``schema(**types)``; only its schema is read."""
    with pytest.raises(ForecastDataError) as caught:
        spark.predict(SimpleNamespace(schema=schema(**types)), CHECKPOINT)
    return str(caught.value)


@pytest.mark.parametrize(
    ("kind", "conversion", "meaning"),
    [
        (DateType(), "functions.unix_date(functions.col('`load`'))", "days since 1970"),
        (
            DayTimeIntervalType(),
            "functions.col('`load`').cast('long')",
            "a count of seconds",
        ),
        (
            YearMonthIntervalType(),
            "functions.col('`load`').cast('long')",
            "a count of months",
        ),
        (
            ArrayType(DoubleType()),
            "functions.col('`load`')[0]",
            "the first element of each array",
        ),
        (
            MapType(StringType(), DoubleType()),
            "functions.map_values(functions.col('`load`'))[0]",
            "each map's first value",
        ),
        (
            StructType([StructField("note", StringType()), StructField("day", DateType())]),
            "functions.col('`load`')['note'].cast('double')",
            "the field 'note', where Spark casts its values to numbers",
        ),
    ],
    ids=lambda value: value.simpleString() if hasattr(value, "simpleString") else "",
)
def test_the_refusal_of_a_value_column_offers_the_conversion_spark_runs_on_its_type(kind, conversion, meaning):
    """The conversions that tests/test_spark31.py runs on a Spark session (slow): Spark casts no date or interval
    to a double, arrays count from 0, and a struct without a field of numbers is read by its first field."""
    assert refusal(load=kind).endswith(f"make them numbers, e.g. frame.withColumn('load', {conversion}) ({meaning})")


def test_a_value_column_of_empty_structs_is_refused_with_a_cast_not_an_index_error():
    """A struct of no fields has no first field to convert: the refusal offers the cast of any other type."""
    message = refusal(load=StructType([]))
    assert message.startswith("column 'load' holds values of type struct<>, where the checkpoint reads numbers")


def test_of_several_value_columns_of_no_numbers_the_refusal_names_the_first_the_checkpoint_reads():
    """The targets come first, then past and future covariates: here ``y``, not the text of ``price``."""
    assert refusal(y=BooleanType(), price=StringType()).startswith("column 'y' holds values of type boolean, ")


def test_quoted_doubles_a_backtick_within_a_column_name_as_spark_sql_reads_it():
    """Spark SQL reads two backticks within a quoted name as one: a column called a`b is `a``b`."""
    assert spark._quoted("a`b") == "`a``b`"
    assert spark._quoted("event time.utc") == "`event time.utc`"


@pytest.mark.parametrize(
    ("zone", "hours"),
    [("+05:30", 5.5), ("UTC+0530", 5.5), ("GMT-9:30", -9.5), ("UT-3", -3), ("GMT+1", 1), ("Z", 0), ("EST", -5)],
)
def test_pandas_zone_reads_the_offset_java_reads_in_a_session_zone(zone, hours):
    """Java's ZoneId.of reads each of these as this fixed offset from UTC, also in January and July, with the
    minutes of a half-hour zone and the UT prefix."""
    for day in ("2024-01-15", "2024-07-15"):
        offset = pd.Timestamp(day).tz_localize(spark._pandas_zone(zone)).utcoffset()
        assert offset == pd.Timedelta(hours=hours), (zone, day)


def test_without_text_leaves_a_missing_time_to_predict_and_drops_the_copy_of_the_text():
    """A null in the text column is a missing time, not text Spark could not read: it passes to
    ``Forecaster.predict``, which names a missing time, and the batch comes back with its own columns."""
    batch = pd.DataFrame(
        {"id": ["a", "a"], "time": pd.to_datetime(["2024-01-01", None]), "time as text": ["2024-01-01", None]}
    )
    result = spark._without_text(batch, "time as text", "id", "time")
    pd.testing.assert_frame_equal(result, batch[["id", "time"]])
