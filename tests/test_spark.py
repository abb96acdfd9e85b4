"""``forecast.spark.predict`` on a real local Spark (``local[2]``), against ``Forecaster.predict``.

The model is the frozen 0.1.0 checkpoint (a quantile GRU with a past and a future covariate and
an hour-of-day calendar feature), forecasting series it never saw, each scaled by its own history.
"""

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError
from forecast.partition import load_cached

pytest.importorskip("pyspark", reason="forecast.spark needs the spark extra: pip install -e '.[spark]'")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java 17 on the PATH", allow_module_level=True)

from pyspark.errors import PythonException  # noqa: E402
from pyspark.sql import functions  # noqa: E402
from pyspark.sql.types import LongType, TimestampNTZType  # noqa: E402

from forecast import spark  # noqa: E402

CHECKPOINT = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"
LOOKBACK, HORIZON = 24, 6


def history(count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` hourly series of 24 to 60 observed rows from different start times, in the frozen format.

    Each series ends with the ``HORIZON`` rows of the forecast that hold only the future covariate ``price``.
    """
    rng = np.random.default_rng(seed)
    observed = rng.integers(LOOKBACK, 61, count)
    lengths = observed + HORIZON
    step = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # row within its series
    starts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 2000, count), unit="h")
    future = step >= np.repeat(observed, lengths)
    y = np.repeat(rng.normal(0, 5, count), lengths) + np.sin(step / 4) + 0.1 * rng.standard_normal(len(step))
    load = rng.normal(3, 1, len(step))
    return pd.DataFrame(
        {
            "id": np.repeat([f"s{i:04d}" for i in range(count)], lengths),
            "time": np.repeat(starts.to_numpy(), lengths) + step * np.timedelta64(1, "h"),
            "y": np.where(future, np.nan, y),
            "load": np.where(future, np.nan, load),
            "price": 50 + 5 * np.cos(step / 5) + rng.standard_normal(len(step)),
        }
    )


def sorted_table(table: pd.DataFrame) -> pd.DataFrame:
    return table.sort_values(["id", "time"], ignore_index=True)


@pytest.mark.parametrize(
    ("count", "rows_per_call"), [(100, 700), pytest.param(1000, 7_000, marks=pytest.mark.slow)], ids=["100", "1000"]
)
def test_spark_predict_equals_predict_for_many_series(session, count, rows_per_call):
    frame = history(count)
    expected = sorted_table(load_cached(CHECKPOINT).predict(frame))
    # Each of the two partitions makes several calls, and some series straddle Arrow batches.
    forecasts = spark.predict(session.createDataFrame(frame), CHECKPOINT, rows_per_call=rows_per_call).toPandas()
    assert list(forecasts.columns) == ["id", "time", "y", "y_q0.1", "y_q0.5", "y_q0.9"]
    pd.testing.assert_frame_equal(sorted_table(forecasts), expected, check_dtype=False, rtol=1e-5)


def two_series(times: pd.DatetimeIndex, id_column: str = "id", time_column: str = "time", target: str = "y"):
    """Series "a" (a sine) and "b" (the same, 5 higher) at ``times``, in the long layout."""
    wave = np.sin(np.arange(len(times)) / 4)
    return pd.concat(
        [
            pd.DataFrame({id_column: name, time_column: times, target: shift + wave})
            for name, shift in [("a", 0), ("b", 5)]
        ]
    )


def one_epoch(frame: pd.DataFrame, root: Path, **settings) -> Path:
    """The last checkpoint of ``forecast.fit(frame, **settings)`` trained one epoch into ``root``."""
    import forecast

    options = {"max_epochs": 1, "default_root_dir": str(root), "enable_progress_bar": False, "logger": False}
    forecast.fit(frame, **settings, trainer=options)
    (checkpoint,) = root.glob("**/last.ckpt")
    return checkpoint


@pytest.fixture(scope="module")
def zoned(tmp_path_factory):
    """Two hourly series in Europe/Berlin across its fall back (2024-10-27), and a checkpoint trained on them."""
    import forecast

    frame = two_series(pd.date_range("2024-10-20", periods=300, freq="h", tz="Europe/Berlin"))
    data = {"calendar": forecast.Calendar(features=["hour"]), "batch_size": 64}
    checkpoint = one_epoch(frame, tmp_path_factory.mktemp("zoned"), lookback=24, horizon=6, data=data)
    return frame, checkpoint


@pytest.mark.parametrize(
    ("session_zone", "time_type"),
    [("UTC", "timestamp"), ("Europe/Berlin", "timestamp"), ("Asia/Tokyo", "timestamp_ntz")],
)
def test_spark_predict_with_a_checkpoint_trained_on_zoned_times_equals_predict(session, zoned, session_zone, time_type):
    """Spark hands the executors times on its session zone's clock; a checkpoint that recorded a zone gets the
    instants, also where that clock repeats an hour. Times without a zone are read on that clock, and the
    forecasts' times are given on it too."""
    frame, checkpoint = zoned
    expected = load_cached(checkpoint).predict(frame)
    expected["time"] = expected["time"].dt.tz_convert(session_zone).dt.tz_localize(None)  # as Spark gives them
    session.conf.set("spark.sql.session.timeZone", session_zone)
    try:
        history = session.createDataFrame(frame).withColumn("time", functions.col("time").cast(time_type))
        result = spark.predict(history, checkpoint).toPandas()
    finally:
        session.conf.set("spark.sql.session.timeZone", "UTC")
    pd.testing.assert_frame_equal(sorted_table(result), sorted_table(expected), check_dtype=False, rtol=1e-5)


@pytest.mark.parametrize(
    ("session_zone", "pandas_zone"), [("Z", "+00:00"), ("-08", "-08:00"), ("PST", "America/Los_Angeles")]
)
def test_spark_predict_reads_times_on_a_session_zone_in_a_form_pandas_does_not_read(
    session, zoned, session_zone, pandas_zone
):
    """Spark takes the session zone as an offset in forms pandas does not read ('Z', '-08') and as one of Java's
    three-letter ids ('PST', which failed every task); times without a zone are read on it, and the forecasts'
    times are given on it (in October, PST is on daylight saving time: -07:00)."""
    frame, checkpoint = zoned
    expected = load_cached(checkpoint).predict(frame)
    expected["time"] = expected["time"].dt.tz_convert(pandas_zone).dt.tz_localize(None)
    session.conf.set("spark.sql.session.timeZone", session_zone)
    try:
        history = session.createDataFrame(frame).withColumn("time", functions.col("time").cast("timestamp_ntz"))
        result = spark.predict(history, checkpoint).toPandas()
    finally:
        session.conf.set("spark.sql.session.timeZone", "UTC")
    pd.testing.assert_frame_equal(sorted_table(result), sorted_table(expected), check_dtype=False, rtol=1e-5)


@pytest.mark.parametrize(
    ("session_zone", "wall_time", "instant"),
    [
        ("PST", "2024-01-15 12:00", "2024-01-15 20:00"),  # Pacific standard time
        ("PST", "2024-07-01 12:00", "2024-07-01 19:00"),  # and daylight saving time: America/Los_Angeles
        ("EST", "2024-07-01 12:00", "2024-07-01 17:00"),  # a fixed -05:00, never New York's daylight saving time
        ("IST", "2024-07-01 12:00", "2024-07-01 06:30"),  # India's, not Ireland's or Israel's
    ],
)
def test_pandas_zone_reads_a_three_letter_session_zone_on_sparks_clock(session_zone, wall_time, instant):
    """Spark reads spark.sql.session.timeZone through Java's ZoneId.SHORT_IDS; pandas knew neither PST nor IST.
    The instants are Spark's own for these times without a zone cast to timestamps on that session zone."""
    times = pd.Series([pd.Timestamp(wall_time)]).dt.tz_localize(spark._pandas_zone(session_zone))
    assert times.dt.tz_convert("UTC").iloc[0] == pd.Timestamp(instant, tz="UTC")


def test_pandas_zone_refuses_a_zone_pandas_does_not_know_naming_the_setting_and_the_fix():
    with pytest.raises(ValueError, match=r"spark.sql.session.timeZone is 'Nowhere/Else', .* set spark.sql.session"):
        spark._pandas_zone("Nowhere/Else")


def test_without_text_names_text_that_spark_read_as_no_time_by_its_series():
    """The executors' half of reading text times for a zoned checkpoint (the full job: the slow test below)."""
    batch = pd.DataFrame(
        {"id": ["a", "b"], "time": pd.to_datetime(["2024-01-01", None]), "time as text": ["2024-01-01", "12/31/2023"]}
    )
    with pytest.raises(ForecastDataError, match=r"column 'time' holds '12/31/2023' at series 'b', text that Spark"):
        spark._without_text(batch, "time as text", "id", "time")


def test_spark_predict_of_zoneless_times_that_repeat_an_hour_of_the_session_zone_names_the_fix(session, zoned):
    """Times without a zone, read on a session zone's clock that falls back, repeat an hour: which instant each
    is cannot be told. The job fails with a message naming the column and the fix, not pandas' own error."""
    frame, checkpoint = zoned
    session.conf.set("spark.sql.session.timeZone", "Europe/Berlin")
    try:
        history = session.createDataFrame(frame).withColumn("time", functions.col("time").cast("timestamp_ntz"))
        with pytest.raises(Exception, match="column 'time'.*2024-10-27 02:00:00.*spark.sql.session.timeZone") as caught:
            spark.predict(history, checkpoint).collect()
    finally:
        session.conf.set("spark.sql.session.timeZone", "UTC")
    assert "ForecastDataError" in str(caught.value)


def test_spark_predict_reads_text_times_with_offsets_for_a_checkpoint_trained_on_zoned_times(session, zoned):
    """Text times (a CSV read without a schema) are read at the instants their offsets give, and the forecasts'
    times are given on the session zone's clock, as for TimestampNTZType times."""
    frame, checkpoint = zoned
    text = session.createDataFrame(frame.assign(time=frame["time"].map(pd.Timestamp.isoformat)))
    result = spark.predict(text, checkpoint).toPandas()
    expected = load_cached(checkpoint).predict(frame)
    expected["time"] = expected["time"].dt.tz_convert("UTC").dt.tz_localize(None)
    pd.testing.assert_frame_equal(sorted_table(result), sorted_table(expected), check_dtype=False, rtol=1e-5)


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    """Two daily series in UTC under a dotted id, a spaced time and a dotted target column, and a checkpoint."""
    import forecast

    frame = two_series(
        pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC"), "store.id", "event time", "sales.total"
    )
    columns = forecast.Columns(targets=["sales.total"], id_column="store.id", time_column="event time")
    data = {"columns": columns, "batch_size": 64}
    checkpoint = one_epoch(frame, tmp_path_factory.mktemp("daily"), lookback=14, horizon=3, data=data)
    return frame, checkpoint


def test_spark_predict_reads_columns_whose_names_hold_a_dot_or_a_space(session, daily):
    """Spark reads an unquoted ``store.id`` as the field ``id`` of a column ``store``; a decimal target is cast."""
    frame, checkpoint = daily
    history = session.createDataFrame(frame).withColumn(
        "sales.total", functions.col("`sales.total`").cast("decimal(12,6)")
    )
    result = spark.predict(history, checkpoint, num_partitions=3).toPandas()
    expected = load_cached(checkpoint).predict(frame.assign(**{"sales.total": frame["sales.total"].round(6)}))
    expected["time"] = expected["time"].dt.tz_localize(None)  # as Spark gives times in a UTC session
    pd.testing.assert_frame_equal(sorted_table(result), sorted_table(expected), check_dtype=False, rtol=1e-5)


def test_spark_predict_reads_dates_for_a_checkpoint_trained_on_zoned_times(session, daily):
    """Dates are midnights on the session zone's clock, as TimestampNTZType times; their forecasts' times too."""
    frame, checkpoint = daily
    dates = session.createDataFrame(frame).withColumn("event time", functions.to_date(functions.col("`event time`")))
    result = spark.predict(dates, checkpoint)
    assert result.schema["time"].dataType == TimestampNTZType()
    expected = load_cached(checkpoint).predict(frame)
    expected["time"] = expected["time"].dt.tz_localize(None)
    pd.testing.assert_frame_equal(sorted_table(result.toPandas()), sorted_table(expected), check_dtype=False, rtol=1e-5)


def test_spark_predict_reads_a_checkpoint_given_as_a_file_url(session):
    frame = history(2)
    result = spark.predict(session.createDataFrame(frame), CHECKPOINT.resolve().as_uri()).toPandas()
    expected = load_cached(CHECKPOINT).predict(frame)
    pd.testing.assert_frame_equal(sorted_table(result), sorted_table(expected), check_dtype=False, rtol=1e-5)


def test_spark_predict_keeps_integer_ids(session):
    frame = history(20).assign(id=lambda rows: rows["id"].str[1:].astype("int64"))
    result = spark.predict(session.createDataFrame(frame), CHECKPOINT)
    assert result.schema["id"].dataType == LongType()
    assert sorted(row.id for row in result.select("id").distinct().collect()) == list(range(20))


def test_spark_predict_keeps_timestamp_ids_with_their_series(session):
    frame = history(4).assign(
        id=lambda rows: pd.Timestamp("2024-01-01") + pd.to_timedelta(rows["id"].str[1:].astype(int), "D")
    )
    result = spark.predict(session.createDataFrame(frame), CHECKPOINT).toPandas()
    expected = load_cached(CHECKPOINT).predict(frame)
    pd.testing.assert_frame_equal(sorted_table(result), sorted_table(expected), check_dtype=False, rtol=1e-5)


def test_spark_predict_reads_decimal_value_columns_as_numbers(session):
    """Decimal columns (what a database's NUMERIC or Parquet's decimal become) reach pandas as objects; they
    are read as doubles, so the forecasts are those of the same values as floats."""
    frame = history(4)
    history_frame = session.createDataFrame(frame)
    decimal = history_frame.select(
        "id", "time", *(functions.col(name).cast("decimal(12,6)").alias(name) for name in ("y", "load", "price"))
    )
    result = spark.predict(decimal, CHECKPOINT).toPandas()
    rounded = frame.assign(**{name: frame[name].round(6) for name in ("y", "load", "price")})
    expected = load_cached(CHECKPOINT).predict(rounded)
    pd.testing.assert_frame_equal(sorted_table(result), sorted_table(expected), check_dtype=False, rtol=1e-5)


def test_spark_predict_orders_text_times_by_time_not_as_text(session):
    """Month-first text times sort as text with '12/31/2023' after '01/01/2024'; series s0000 spans that new year."""
    frame = history(2)
    frame["time"] = (frame["time"] - pd.Timedelta(days=44)).dt.strftime("%m/%d/%Y %H:%M")
    result = spark.predict(session.createDataFrame(frame), CHECKPOINT).toPandas()
    expected = load_cached(CHECKPOINT).predict(frame)
    pd.testing.assert_frame_equal(sorted_table(result), sorted_table(expected), check_dtype=False, rtol=1e-5)


def too_short(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with series ``s0003`` cut to its last 10 rows: 4 observed, fewer than the lookback."""
    return frame[(frame["id"] != "s0003") | (frame.groupby("id").cumcount(ascending=False) < 10)]


def test_spark_predict_names_a_missing_id_column_before_the_job(session):
    frame = session.createDataFrame(history(2).rename(columns={"id": "series"}))
    with pytest.raises(ForecastDataError, match=r"the frame lacks \['id'\] .* rename them"):
        spark.predict(frame, CHECKPOINT)


def test_spark_predict_refuses_a_pandas_frame_and_names_the_fix():
    with pytest.raises(TypeError, match=r"got a pandas one: pass session\.createDataFrame\(frame\)"):
        spark.predict(history(2), CHECKPOINT)


@pytest.mark.parametrize("horizon", [HORIZON + 1, 0, True, 2.0])
def test_spark_predict_refuses_an_out_of_range_horizon_before_the_job(session, horizon):
    frame = session.createDataFrame(history(2))
    with pytest.raises(ValueError, match=rf"horizon={horizon!r}: this model forecasts 1 to {HORIZON} steps"):
        spark.predict(frame, CHECKPOINT, horizon=horizon)


@pytest.mark.parametrize(
    ("option", "value"), [("batch_size", 0), ("rows_per_call", "100"), ("num_partitions", 0), ("num_partitions", 2.0)]
)
def test_spark_predict_refuses_a_count_option_that_is_not_a_whole_number_before_the_job(session, option, value):
    """A bad batch_size or rows_per_call failed every task with a traceback; a bad num_partitions with Py4J's error."""
    frame = session.createDataFrame(history(2))
    with pytest.raises(ValueError, match=rf"{option}={value!r}: forecast.spark.predict takes a whole number of 1"):
        spark.predict(frame, CHECKPOINT, **{option: value})


def test_spark_predict_takes_a_numpy_num_partitions(session):
    """PySpark's repartition reads a NumPy integer as neither a count nor a column and refused it."""
    result = spark.predict(session.createDataFrame(history(2)), CHECKPOINT, num_partitions=np.int64(3))  # lazy
    assert result.columns == ["id", "time", "y", "y_q0.1", "y_q0.5", "y_q0.9"]


def test_spark_predict_names_a_missing_covariate_before_the_job(session):
    """The frame's schema shows the column is missing: a job that would fail on every task is not started."""
    frame = session.createDataFrame(history(2).drop(columns="load"))
    with pytest.raises(ForecastDataError, match=r"no column 'load', one of the past_covariates \['load'\] the check"):
        spark.predict(frame, CHECKPOINT)


def test_spark_predict_takes_a_numpy_horizon_as_predict_does(session):
    result = spark.predict(session.createDataFrame(history(2)), CHECKPOINT, horizon=np.int64(2))  # lazy: no job
    assert result.columns == ["id", "time", "y", "y_q0.1", "y_q0.5", "y_q0.9"]
    assert result.select("`y_q0.9`").columns == ["y_q0.9"]  # a quantile column, quoted as the README says


# Last in the module: a Python worker that raises exits, and the next job waits for new ones to import torch.
def test_spark_predict_fails_the_job_with_predicts_message(session):
    frame = too_short(history(20))
    with pytest.raises(ForecastDataError) as local:
        load_cached(CHECKPOINT).predict(frame)
    with pytest.raises(PythonException) as remote:
        spark.predict(session.createDataFrame(frame), CHECKPOINT).collect()
    assert f"ForecastDataError: {local.value}" in str(remote.value)


def test_spark_predict_names_a_bad_value_by_its_series_and_time_not_a_row_of_a_partition(session):
    """Predict counts rows in the partition it is given (here series s0001, then s0002), a number that the Spark
    DataFrame has no match for."""
    frame = history(20)
    bad = frame.index[frame["id"] == "s0002"][4]
    frame.loc[bad, "y"] = np.nan
    with pytest.raises(PythonException) as remote:
        spark.predict(session.createDataFrame(frame), CHECKPOINT, num_partitions=2).collect()
    assert f"ForecastDataError: value nan at column 'y', series 's0002', time {frame.loc[bad, 'time']};" in str(
        remote.value
    )
    assert re.search(r"\brow \d", str(remote.value)) is None


@pytest.mark.slow  # a second failed job waits about 9 s for new Python workers to import torch
def test_spark_predict_names_text_times_spark_cannot_read_for_a_checkpoint_trained_on_zoned_times(session, daily):
    """Text times are cast to timestamps in Spark; month-first text failed the job with Java's CAST_INVALID_INPUT
    (ANSI mode, Spark 4's default), naming neither the column nor the series, or became a missing time."""
    frame, checkpoint = daily
    text = session.createDataFrame(frame.assign(**{"event time": frame["event time"].dt.strftime("%m/%d/%Y")}))
    with pytest.raises(PythonException) as remote:
        spark.predict(text, checkpoint).collect()
    assert re.search(
        r"ForecastDataError: column 'event time' holds '\d\d/\d\d/2024' at series '[ab]', text that Spark does not "
        r"read as a time; give the column as timestamps \(pyspark.sql.functions.to_timestamp\(column, format\)\)",
        str(remote.value),
    )
