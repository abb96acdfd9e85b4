"""Forecasts for many series on Spark: a DataFrame of history in, a DataFrame of forecasts out.

Install with ``pip install "forecast[spark]"`` (PySpark; Spark needs Java 17). ``pyspark`` is
imported inside the functions, so ``forecast`` imports without it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from .errors import ForecastDataError, check_count
from .partition import checkpoint_path, forecast_columns, history_columns, load_cached, predict_batches
from .predict import check_horizon, check_role_columns

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import ArrayType, DataType, MapType, StructType

__all__ = ["forecast_schema", "predict"]


def forecast_schema(checkpoint: str | Path, history: StructType) -> StructType:
    """The schema of ``predict``'s result: ``id`` and ``time`` typed as in ``history``, then the forecasts.

    The value columns come from the model (its targets and the levels of its loss) as doubles.
    A ``time`` of dates (or text) comes back as ``TimestampNTZType``: forecasts can fall within a day.

    Raises:
        FileNotFoundError: there is no checkpoint file at ``checkpoint``.
        ValueError: as ``forecast.partition.load_cached``: ``checkpoint`` is no loadable forecast checkpoint.
        ForecastDataError: ``history`` lacks the id or time column the checkpoint was trained with, its ids
            are structs, arrays or maps, or its times are neither timestamps, dates nor text.
    """
    from pyspark.sql.types import DoubleType, StructField, StructType, TimestampNTZType, TimestampType

    model = load_cached(checkpoint)
    columns = history_columns(checkpoint)
    id_column, time_column = columns.id_column, columns.time_column
    missing = [column for column in (id_column, time_column) if column not in history.fieldNames()]
    if missing:
        raise ForecastDataError(
            f"forecast.spark.predict reads history in the long layout; the frame lacks {missing} (the "
            "checkpoint's data.columns.id_column and data.columns.time_column) among its columns "
            f"{history.fieldNames()}; rename them"
        )
    _check_id_type(id_column, history[id_column].dataType)
    _check_time_type(time_column, history[time_column].dataType)
    time_type = history[time_column].dataType
    if not isinstance(time_type, (TimestampType, TimestampNTZType)):
        time_type = TimestampNTZType()
    values = [StructField(name, DoubleType()) for name in forecast_columns(model)]
    return StructType([StructField("id", history[id_column].dataType), StructField("time", time_type), *values])


def _check_id_type(id_column: str, id_type: DataType) -> None:
    """Refuse ids of a nested type: they reach pandas as dictionaries, arrays or lists, which cannot name a series.

    Raises:
        ForecastDataError: naming the column, its type and the fix.
    """
    from pyspark.sql.types import ArrayType, MapType, StructType

    if isinstance(id_type, (ArrayType, MapType, StructType)):
        raise ForecastDataError(
            f"column {id_column!r} holds series ids of type {id_type.simpleString()}, which pandas cannot tell "
            "series apart by; give each series one id of a plain type, e.g. "
            f"frame.withColumn({id_column!r}, functions.concat_ws('/', 'store', 'item')) for ids of two columns"
        )


def _check_time_type(time_column: str, time_type: DataType) -> None:
    """Refuse times of a type that ``Forecaster.predict`` reads as no time (numbers, booleans, bytes...), before a
    job that would fail on every task with a fix in pandas' terms.

    Raises:
        ForecastDataError: naming the column, its type and Spark's conversions.
    """
    from pyspark.sql.types import DateType, StringType, TimestampNTZType, TimestampType

    if not isinstance(time_type, (TimestampType, TimestampNTZType, DateType, StringType)):
        raise ForecastDataError(
            f"column {time_column!r} holds times of type {time_type.simpleString()}, which predict does not read "
            f"as times; convert them, e.g. frame.withColumn({time_column!r}, "
            f"functions.timestamp_seconds({_quoted(time_column)!r})) for seconds since 1970, or "
            f"functions.to_date(functions.col({_quoted(time_column)!r}).cast('string'), 'yyyyMMdd') for 20240131"
        )


def _check_value_columns(state: dict[str, Any], schema: StructType) -> None:
    """Refuse a frame that lacks a column the checkpoint read, or holds one of its values as other than numbers
    (text from a CSV read without a schema, booleans, times), before a job that would fail on every task with a
    fix in pandas' terms.

    Raises:
        ForecastDataError: naming the column, its type and a conversion that Spark runs on it
            (``check_role_columns``'s, for a missing one).
    """
    from pyspark.sql.types import NumericType, StringType

    check_role_columns(state, set(schema.fieldNames()))
    values = [*state["targets"], *state["past_covariates"], *state["future_covariates"]]
    if other := [name for name in values if not isinstance(schema[name].dataType, NumericType)]:
        name, kind = other[0], schema[other[0]].dataType
        if isinstance(kind, StringType):
            cast = f"frame.withColumn({name!r}, functions.col({_quoted(name)!r}).cast('double'))"
            raise ForecastDataError(
                f"column {name!r} holds text, where the checkpoint reads numbers; cast it, e.g. {cast}, or read "
                "the file with its schema (inferSchema=True)"
            )
        conversion, meaning = _to_numbers(f"functions.col({_quoted(name)!r})", kind)
        raise ForecastDataError(
            f"column {name!r} holds values of type {kind.simpleString()}, where the checkpoint reads numbers; "
            f"make them numbers, e.g. frame.withColumn({name!r}, {conversion}) ({meaning})"
        )


def _to_numbers(column: str, kind: DataType) -> tuple[str, str]:
    """The code of a Spark conversion to numbers of ``column`` (the code of a column) of type ``kind``, and what
    the numbers are (nothing where they are numbers already). Spark casts no date, timestamp without a zone, bytes
    or interval to a double, so each has its own conversion; of an array, a map or a struct (of fields), it is the
    conversion of one value within it; of another type, a cast to double.
    """
    from pyspark.sql.types import (
        ArrayType,
        BinaryType,
        BooleanType,
        DateType,
        DayTimeIntervalType,
        MapType,
        NumericType,
        StructType,
        TimestampNTZType,
        TimestampType,
        YearMonthIntervalType,
    )

    if isinstance(kind, (ArrayType, MapType)) or isinstance(kind, StructType) and kind.fields:
        return _to_numbers_within(column, kind)
    if isinstance(kind, NumericType):
        return column, ""
    if isinstance(kind, BooleanType):
        return f"{column}.cast('double')", "1 for true, 0 for false"
    if isinstance(kind, DateType):
        return f"functions.unix_date({column})", "days since 1970"
    if isinstance(kind, TimestampType):
        return f"{column}.cast('double')", "seconds since 1970"
    if isinstance(kind, TimestampNTZType):
        return f"functions.unix_seconds({column})", "whole seconds since 1970, the times read as UTC"
    if isinstance(kind, BinaryType):
        return f"{column}.cast('string').cast('double')", "where the bytes are the text of numbers"
    if isinstance(kind, (DayTimeIntervalType, YearMonthIntervalType)):
        return f"{column}.cast('long')", f"a count of {kind.simpleString().split()[-1]}s"
    return f"{column}.cast('double')", "where Spark casts its values to numbers"


def _to_numbers_within(column: str, kind: ArrayType | MapType | StructType) -> tuple[str, str]:
    """``_to_numbers`` of one value within each array, map or struct of ``column``: the first element or map
    value, the first field of numbers (else the first field)."""
    from pyspark.sql.types import ArrayType, MapType, NumericType

    if isinstance(kind, ArrayType):
        inner, which = _to_numbers(f"{column}[0]", kind.elementType), "the first element of each array"
    elif isinstance(kind, MapType):
        inner, which = _to_numbers(f"functions.map_values({column})[0]", kind.valueType), "each map's first value"
    else:
        field = next((field for field in kind.fields if isinstance(field.dataType, NumericType)), kind.fields[0])
        inner, which = _to_numbers(f"{column}[{field.name!r}]", field.dataType), f"the field {field.name!r}"
    return inner[0], ", ".join(part for part in (which, inner[1]) if part)


def _quoted(name: str) -> str:
    """``name`` quoted for Spark SQL: unquoted, Spark reads a dot in a name as a field access."""
    return "`" + name.replace("`", "``") + "`"


def _column(name: str) -> Column:
    """The column called ``name``, quoted."""
    from pyspark.sql import functions

    return functions.col(_quoted(name))


def _time_order(frame: DataFrame, time_column: str) -> list[Column]:
    """The columns that sort a series' rows by time; text by the times pandas reads in it.

    Spark sorts text as text, which puts ``12/31/2023`` after ``01/01/2024`` and fails
    ``Forecaster.predict``'s check that times go forwards. Text the key cannot read (null) sorts
    first, and ``Forecaster.predict`` names it.
    """
    from pyspark.sql import functions
    from pyspark.sql.types import StringType

    time = _column(time_column)
    if not isinstance(frame.schema[time_column].dataType, StringType):
        return [time]

    @functions.pandas_udf("timestamp_ntz")
    def read(text: pd.Series) -> pd.Series:  # instants of text with offsets, as predict reads them
        return pd.to_datetime(text, errors="coerce", utc=True).dt.tz_localize(None)

    return [read(time), time]


# Java's ZoneId.SHORT_IDS (java.time.ZoneId, as Java 17 lists it): Spark reads spark.sql.session.timeZone with
# ZoneId.of(zone, SHORT_IDS), so these three-letter ids name these zones. pandas knows most of them not at all, and
# EST, MST and HST as IANA names, which newer databases (2024b) link to Panama, Phoenix and Honolulu: clocks that
# differed from Java's fixed offsets in the past.
_JAVA_SHORT_IDS = {
    "ACT": "Australia/Darwin",
    "AET": "Australia/Sydney",
    "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo",
    "AST": "America/Anchorage",
    "BET": "America/Sao_Paulo",
    "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare",
    "CNT": "America/St_Johns",
    "CST": "America/Chicago",
    "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa",
    "ECT": "Europe/Paris",
    "EST": "-05:00",
    "HST": "-10:00",
    "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "MIT": "Pacific/Apia",
    "MST": "-07:00",
    "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland",
    "PLT": "Asia/Karachi",
    "PNT": "America/Phoenix",
    "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles",
    "SST": "Pacific/Guadalcanal",
    "VST": "Asia/Ho_Chi_Minh",
}


def _pandas_zone(zone: str) -> str:
    """Spark's session time zone as pandas reads it, so that both read times on the same clock.

    Spark takes a zone in any form of Java's ``ZoneId.of(zone, ZoneId.SHORT_IDS)``. pandas reads a
    region (``Europe/Berlin``) alike, but of the offsets only ``+HH:MM`` (``Z``, ``-08`` and
    ``GMT+1`` become ``+00:00``, ``-08:00`` and ``+01:00``), and none of Java's three-letter ids
    (``PST``), which become the zones Java gives them (``America/Los_Angeles``).

    Raises:
        ValueError: pandas does not know the zone (a region missing from its time zone database),
            naming spark.sql.session.timeZone and the fix.
    """
    offset = re.fullmatch(r"(?:UTC|GMT|UT)?([+-])(\d\d?):?(\d\d)?", zone)
    if offset is not None:
        sign, hours, minutes = offset.groups()
        return f"{sign}{int(hours):02d}:{minutes or '00'}"
    pandas_zone = {"Z": "UTC", "UT": "UTC", **_JAVA_SHORT_IDS}.get(zone, zone)
    try:
        pd.DatetimeTZDtype(tz=pandas_zone)
    except (KeyError, ValueError) as error:  # zoneinfo's ZoneInfoNotFoundError is a KeyError
        raise ValueError(
            f"spark.sql.session.timeZone is {zone!r}, a zone pandas does not know, so the times Spark hands over on "
            "its clock cannot be read; set spark.sql.session.timeZone to a region of the IANA time zone database "
            "(such as 'America/Los_Angeles') or an offset such as '-08:00'"
        ) from error
    return pandas_zone


def _on_clock(times: pd.Series, zone: str, column: str) -> pd.Series:
    """``times`` without a zone read on ``zone``'s clock.

    Raises:
        ForecastDataError: a time that clock repeats (falling back) or skips (springing forward), naming it
            and the fix: which instant it is cannot be told.
    """
    try:
        return times.dt.tz_localize(zone)
    except ValueError as error:  # pandas' ambiguous or nonexistent time
        raise ForecastDataError(
            f"column {column!r} holds times without a zone, read on the session zone {zone}'s clock, which repeats "
            f"or skips one of them ({error}); set spark.sql.session.timeZone to UTC with times in UTC, or give "
            "the times as TimestampType"
        ) from error


def _check_counts(**counts: int | None) -> None:
    """Refuse a count option that is not a whole number of 1 or more (``None``: its default), before the job.

    Spark would otherwise fail the job on the executors with a traceback (``batch_size``,
    ``rows_per_call``), or read a NumPy integer or a string ``num_partitions`` as a column.

    Raises:
        ValueError: naming the option and its value.
    """
    for name, count in counts.items():
        if count is not None:
            check_count(name, count, "forecast.spark.predict takes a whole number of 1 or more")


def _unused_name(names: list[str], name: str) -> str:
    """``name``, with underscores put before it until none of ``names`` is it."""
    while name in names:
        name = "_" + name
    return name


def _without_text(batch: pd.DataFrame, text: str, id_column: str, time_column: str) -> pd.DataFrame:
    """``batch`` without ``text``, its copy of the time column's text, refusing text that Spark read as no time.

    Raises:
        ForecastDataError: naming the text, its series and the fix (the cast gave a null time, which
            ``Forecaster.predict`` would call missing).
    """
    unread = batch[time_column].isna() & batch[text].notna()
    if unread.any():
        row = int(unread.to_numpy().argmax())
        raise ForecastDataError(
            f"column {time_column!r} holds {batch[text].iloc[row]!r} at series {batch[id_column].iloc[row]!r}, text "
            "that Spark does not read as a time; give the column as timestamps "
            "(pyspark.sql.functions.to_timestamp(column, format)) or as ISO 8601 text ('2024-01-31 13:00', with its "
            "UTC offset where it has one)"
        )
    return batch.drop(columns=text)


def _without_rows(error: ForecastDataError) -> str:
    """``error``'s message without the rows it names (``forecast.errors.where``'s ``, row 42``).

    ``Forecaster.predict`` counts rows in the pandas frame it is given, which on an executor is a
    slice of one partition: a number the user's DataFrame, which has no row numbers, cannot match.
    The series and time that the message also names (or a null in the column it names) find the row.
    """
    return re.sub(r", row \d+\b", "", str(error))


def predict(
    frame: DataFrame,
    checkpoint: str | Path,
    *,
    horizon: int | None = None,
    batch_size: int = 256,
    num_partitions: int | None = None,
    rows_per_call: int = 100_000,
) -> DataFrame:
    """Forecasts for every series of a Spark DataFrame of history, computed on the executors.

    The rows are hash-partitioned by series id, so each series lies whole in one partition, and
    sorted by id and time within it (text times by the times pandas reads in them);
    ``mapInPandas`` then hands each partition to ``forecast.partition.predict_batches``, which
    forecasts ``rows_per_call`` rows of history (many series) per ``Forecaster.predict`` call.
    Each Python worker loads the checkpoint once and reuses it for every task it runs (Spark
    reuses workers unless ``spark.python.worker.reuse`` is off). The result equals ``Forecaster.predict`` on the same
    rows as one pandas frame up to float32 rounding (a window meets other windows in its forward pass), in another
    row order. Decimal value columns are read as doubles.

    The checkpoint path must be readable on every executor (a shared file system; any local path
    in ``local`` mode). Pass only the columns the model reads, to ship less. Times are handed to
    pandas on the session time zone's clock, so for a checkpoint trained on times without a zone,
    hourly history in a zone with daylight saving time needs ``spark.sql.session.timeZone`` set to
    ``UTC`` (or ``TimestampNTZType`` times). A checkpoint trained on times with a zone gets the
    instants of ``TimestampType`` times instead, whatever the session's zone, and converts them to
    its own as ``Forecaster.predict`` does; ``TimestampNTZType`` times, dates and text (text
    with an offset: at its instant) are read on the session zone's clock, and their forecasts'
    times are given on it.

    Args:
        frame: history in the long layout: the checkpoint's id and time columns, its targets and
            covariates; when the model reads future covariates, each series ends with the rows of
            the trained horizon that hold them (all of them, also for a shorter ``horizon``).
        checkpoint: path of the checkpoint file, or its ``file:`` URL.
        horizon: forecast this many steps (at most the trained horizon); ``None``: all of them.
        batch_size: windows per forward pass.
        num_partitions: partitions to spread the series over; ``None``: ``spark.sql.shuffle.partitions``.
        rows_per_call: history rows per ``Forecaster.predict`` call on an executor.

    Returns:
        A lazy DataFrame with the schema of ``forecast_schema``: ``id``, ``time``, a column per
        target, and ``{target}_q{level}`` columns for a probabilistic loss.

    Raises:
        TypeError: ``frame`` is a pandas DataFrame.
        FileNotFoundError: there is no checkpoint file at ``checkpoint``.
        ValueError: ``horizon`` is out of range, ``batch_size``, ``num_partitions`` or ``rows_per_call``
            is not a whole number of 1 or more, ``checkpoint`` is a URL of another scheme than ``file:`` or
            no loadable forecast checkpoint, or times are read on a session time zone that pandas does not know.
        ForecastDataError: here, ``frame`` lacks the id or time column or a column the checkpoint
            reads, its ids are structs, arrays or maps, its times are neither timestamps, dates nor
            text, or a target, past or future covariate is not numbers (text, booleans...). When the
            job runs, a series is too short, a future covariate is missing, or (for a checkpoint
            trained on zoned times) text times are not ones Spark reads: the job fails, and
            its exception's text holds the ``ForecastDataError`` message ``Forecaster.predict``
            gives for the partition's rows, less the row numbers (which count within a slice of
            the partition): a bad value is named by its column, series and time.

    Example:
        >>> from forecast import spark
        >>> history = session.read.parquet("history.parquet")  # doctest: +SKIP
        >>> spark.predict(history, "runs/gru/last.ckpt").write.parquet("forecasts.parquet")  # doctest: +SKIP
    """
    if isinstance(frame, pd.DataFrame):
        raise TypeError(
            "forecast.spark.predict reads a Spark DataFrame; got a pandas one: pass session.createDataFrame(frame), "
            "or forecast it here with forecast.partition.predict_partition(frame, checkpoint)"
        )
    check_horizon(horizon, load_cached(checkpoint).hparams["horizon"])  # here, as Forecaster.predict checks it
    _check_counts(batch_size=batch_size, num_partitions=num_partitions, rows_per_call=rows_per_call)
    schema = forecast_schema(checkpoint, frame.schema)
    _check_value_columns(load_cached(checkpoint).data_state, frame.schema)  # here, not in the job
    frame, times = _times_to_read(frame, checkpoint)
    grouped = _grouped(_decimals_as_doubles(frame, times.id_column), times, num_partitions)
    # mapInPandas looks its input columns up by name unquoted (a dot as a field access): they travel by position.
    positions = [f"_{position}" for position in range(len(grouped.columns))]
    options = {"horizon": horizon, "batch_size": batch_size, "rows_per_call": rows_per_call}
    run = functools.partial(
        _forecasts, names=grouped.columns, times=times, checkpoint=str(checkpoint_path(checkpoint)), options=options
    )
    return grouped.toDF(*positions).mapInPandas(run, schema)


@dataclass(frozen=True)
class _Times:
    """How the executors read the time column that the job hands them, and give the forecasts' times back.

    ``text`` names the column holding the text of text times (cast to times in the job), ``instants`` says
    the times travel as microseconds since the epoch, and ``clock`` is the pandas zone on whose clock times
    without a zone are read and the forecasts' times are given; all unset, times are handed over as they are.
    """

    id_column: str
    column: str
    text: str | None = None
    instants: bool = False
    clock: str | None = None

    def read(self, batch: pd.DataFrame) -> pd.DataFrame:
        """``batch`` with its times as ``Forecaster.predict`` reads them.

        Raises:
            ForecastDataError: as ``_without_text`` and ``_on_clock``.
        """
        if self.text is not None:
            batch = _without_text(batch, self.text, self.id_column, self.column)
        if self.instants:
            return batch.assign(**{self.column: pd.to_datetime(batch[self.column], unit="us", utc=True)})
        if self.clock is not None:
            return batch.assign(**{self.column: _on_clock(batch[self.column], self.clock, self.column)})
        return batch

    def give(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` of forecasts with its times on ``clock``, where the history's were read on it."""
        if self.clock is None:
            return table
        return table.assign(time=table["time"].dt.tz_convert(self.clock).dt.tz_localize(None))


def _times_to_read(frame: DataFrame, checkpoint: str | Path) -> tuple[DataFrame, _Times]:
    """``frame`` with its times as the job hands them over for ``checkpoint``, and how the executors read them.

    Spark hands times over on its session zone's clock, which repeats an hour where it falls back: a checkpoint
    trained on times with a zone gets the instants of ``TimestampType`` times instead, and reads other times
    on that clock. A checkpoint without a zone takes the times as Spark hands them over.

    Raises:
        ValueError: as ``_pandas_zone``, where times are read on the session zone's clock.
    """
    from pyspark.sql import functions
    from pyspark.sql.types import TimestampNTZType, TimestampType

    columns = history_columns(checkpoint)
    id_column, column = columns.id_column, columns.time_column
    time_type = frame.schema[column].dataType
    if load_cached(checkpoint).data_state.get("time_zone") is None:
        return frame, _Times(id_column, column)
    if isinstance(time_type, TimestampType):
        instants = functions.unix_micros(_column(column))
        return frame.withColumn(column, instants), _Times(id_column, column, instants=True)
    clock = _pandas_zone(frame.sparkSession.conf.get("spark.sql.session.timeZone"))
    if isinstance(time_type, TimestampNTZType):
        return frame, _Times(id_column, column, clock=clock)
    frame, text = _on_session_clock(frame, column)
    return frame, _Times(id_column, column, text=text, clock=clock)


def _on_session_clock(frame: DataFrame, column: str) -> tuple[DataFrame, str | None]:
    """``frame`` with its dates or text times ``column`` cast to times on the session zone's clock (text with
    an offset: its instant's), as ``TimestampNTZType`` times are read, and the name of a copy of text times.

    pandas could not give dates and text the checkpoint's zone. ``try_cast``: text that Spark cannot read
    becomes null, which ``_without_text`` names by the copy, rather than failing the job with Java's error
    (under ANSI mode).
    """
    from pyspark.sql import functions
    from pyspark.sql.types import StringType

    text = None
    if isinstance(frame.schema[column].dataType, StringType):
        text = _unused_name(frame.columns, f"{column} as text")
        frame = frame.withColumn(text, _column(column))
    times = functions.expr(f"try_cast({_quoted(column)} AS TIMESTAMP)").cast("timestamp_ntz")
    return frame.withColumn(column, times), text


def _decimals_as_doubles(frame: DataFrame, id_column: str) -> DataFrame:
    """``frame`` with its decimal columns but the ids as doubles: decimal values (a database's NUMERIC, Parquet's
    decimal) would reach pandas as Python objects."""
    from pyspark.sql.types import DecimalType

    decimals = [field.name for field in frame.schema if isinstance(field.dataType, DecimalType)]
    return frame.withColumns({name: _column(name).cast("double") for name in decimals if name != id_column})


def _grouped(frame: DataFrame, times: _Times, num_partitions: int | None) -> DataFrame:
    """``frame`` hash-partitioned by series id (each series whole in one partition), sorted by id and time."""
    id_column = _column(times.id_column)
    keys = [id_column] if num_partitions is None else [int(num_partitions), id_column]
    return frame.repartition(*keys).sortWithinPartitions(id_column, *_time_order(frame, times.column))


def _forecasts(
    batches: Iterator[pd.DataFrame], names: list[str], times: _Times, checkpoint: str, options: dict[str, Any]
) -> Iterator[pd.DataFrame]:
    """The forecasts of a partition's ``batches`` (columns by position, ``names`` their names), on an executor.

    Raises:
        ForecastDataError: as ``predict_batches``, and ``_Times.read``, less the rows it names.
    """
    try:
        read = (times.read(batch.set_axis(names, axis="columns")) for batch in batches)
        for table in predict_batches(read, checkpoint, **options):
            yield times.give(table)
    except ForecastDataError as error:
        raise ForecastDataError(_without_rows(error)) from None  # from None: its cause repeats the rows
