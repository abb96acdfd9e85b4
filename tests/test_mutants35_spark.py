"""Hand mutation testing, round 6: tests for the mutants of ``forecast.spark`` that need a real Spark job and that
the default suite let through: decimal ids keep their type and values, decimal values keep the precision of doubles,
``num_partitions`` spreads the forecasts over that many partitions, and text times that Spark cannot read (for a
checkpoint trained on zoned times) fail the job with ``ForecastDataError``'s message, not Java's cast error. Each
fails under its mutant and passes on the real code. One job serves the first three; the failing job comes last."""

import re
import shutil
from decimal import Decimal

import pandas as pd
import pytest

from forecast.partition import load_cached

pytest.importorskip("pyspark", reason="forecast.spark needs the spark extra: pip install -e '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 on the PATH", allow_module_level=True)

from pyspark.errors import PythonException  # noqa: E402
from pyspark.sql import functions  # noqa: E402
from pyspark.sql.types import DecimalType  # noqa: E402
from test_spark import CHECKPOINT, history, one_epoch, sorted_table, two_series  # noqa: E402

from forecast import spark  # noqa: E402

OFFSET = 10_000_000  # a level at which float32 steps by 1: the series' waves would be lost in it
BIG_ID = 10**18  # ids of 19 digits (a database's BIGINT or NUMERIC keys), which doubles (2**53) cannot tell apart


@pytest.fixture(scope="module")
def decimal_job(session):
    """Four series of the frozen format with 19-digit decimal ids and decimal targets about ``OFFSET``, forecast on
    Spark over three partitions; the pandas history, and the job's result as Spark gives it."""
    frame = history(4).assign(y=lambda rows: (rows["y"] + OFFSET).round(6))
    frame["id"] = frame["id"].map(lambda name: Decimal(BIG_ID + int(name[1:])))
    history_frame = session.createDataFrame(frame.assign(id=frame["id"].astype(str)))
    history_frame = history_frame.withColumns(
        {"id": functions.col("id").cast("decimal(20,0)"), "y": functions.col("y").cast("decimal(18,6)")}
    )
    result = spark.predict(history_frame, CHECKPOINT, num_partitions=3)
    return frame, result, result.toPandas()


def test_spark_predict_keeps_decimal_ids_as_decimals_with_their_series(decimal_job):
    """Decimal ids (a database's NUMERIC keys) are not cast with the decimal values: as doubles, 19-digit ids
    would be one series; they come back as given, each with its own forecasts."""
    _, result, table = decimal_job
    assert result.schema["id"].dataType == DecimalType(20, 0)
    assert table["id"].value_counts().to_dict() == {Decimal(BIG_ID + series): 6 for series in range(4)}


def test_spark_predict_reads_decimal_values_with_the_precision_of_doubles(decimal_job):
    """Decimal targets about ten million, read as doubles: the forecasts are predict's on the same values as
    float64, to a thousandth (float32 would round the history to whole numbers and lose its waves)."""
    frame, _, table = decimal_job
    expected = sorted_table(load_cached(CHECKPOINT).predict(frame.assign(id=frame["id"].astype(str))))
    result = sorted_table(table.assign(id=table["id"].astype(str)))
    pd.testing.assert_frame_equal(result, expected, check_dtype=False, rtol=0, atol=1e-3)


def test_spark_predict_spreads_the_forecasts_over_num_partitions(decimal_job):
    """``num_partitions=3`` gives three partitions (three files when written), not the session's shuffle count (2)."""
    _, result, _ = decimal_job
    assert result.rdd.getNumPartitions() == 3


# Last in the module: a Python worker that raises exits, and the next job waits for new ones to import torch.
def test_spark_predict_names_text_times_spark_cannot_read_with_predicts_error_not_javas(session, tmp_path):
    """For a checkpoint trained on zoned times text times are cast in Spark; month-first text must fail the job with
    ``ForecastDataError``'s message naming the column and series, not Java's CAST_INVALID_INPUT (ANSI mode)."""
    frame = two_series(pd.date_range("2024-01-01", periods=60, freq="D", tz="UTC"))
    checkpoint = one_epoch(frame, tmp_path, lookback=7, horizon=2, data={"batch_size": 32})
    text = session.createDataFrame(frame.assign(time=frame["time"].dt.strftime("%m/%d/%Y")))
    session.conf.set("spark.sql.ansi.enabled", "true")  # Spark 4's default, set here whatever the session's
    try:
        with pytest.raises(PythonException) as remote:
            spark.predict(text, checkpoint).collect()
    finally:
        session.conf.unset("spark.sql.ansi.enabled")
    assert re.search(
        r"ForecastDataError: column 'time' holds '\d\d/\d\d/2024' at series '[ab]', text that Spark does not read",
        str(remote.value),
    )
