"""Forecasts for one partition of many series, pandas in, pandas out: the piece a data engine calls.

Spark (``forecast.spark``), Dask's ``map_partitions`` and Ray Data's ``map_batches`` all run a
function on one pandas frame at a time in long-lived worker processes. ``predict_partition`` is
that function: it loads the checkpoint once per process (``load_cached``) and forecasts every
series of the frame in one ``Forecaster.predict`` call, so the windows of many series share each
forward pass. ``predict_batches`` does the same for a stream of batches in which a series may
straddle two batches (Spark's ``mapInPandas`` hands a partition over in Arrow batches).
"""

import functools
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

import numpy as np
import pandas as pd

from . import predict
from .data.options import Columns
from .errors import ForecastDataError
from .model import Forecaster

__all__ = [
    "checkpoint_path", "forecast_columns", "history_columns", "load_cached", "predict_batches", "predict_partition",
]  # fmt: skip


@functools.lru_cache(maxsize=4)
def _load(path: str, modified_ns: int) -> Forecaster:
    return Forecaster.load(path)


def checkpoint_path(checkpoint: str | Path) -> Path:
    """The absolute path of ``checkpoint``, given as a path or as a ``file:`` URL (as Spark names files).

    Raises:
        ValueError: ``checkpoint`` is a URL of another scheme (``s3://``, ``dbfs:/``...) and no such
            local file: checkpoints are read from a file system, which the message says.
    """
    text, scheme = str(checkpoint), urlsplit(str(checkpoint)).scheme
    if scheme == "file" and not isinstance(checkpoint, Path):
        text = url2pathname(urlsplit(text).path)
    path = Path(text).resolve()
    if len(scheme) > 1 and scheme != "file" and not path.exists():  # one letter: a Windows drive
        raise ValueError(
            f"checkpoint {text!r} is a {scheme}: URL; forecast reads checkpoints from a file system path: copy "
            "the file to one that every process can read (a shared or mounted file system, e.g. /dbfs/...) "
            "and pass its path"
        )
    return path


def load_cached(checkpoint: str | Path) -> Forecaster:
    """The forecaster of ``checkpoint``, loaded once per process and file version.

    Keyed by the resolved path and the file's modification time, so a rewritten checkpoint
    (a new ``last.ckpt``) is loaded again; the four most recently used stay in memory.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: as ``Forecaster.load``: the file is not a loadable forecast checkpoint.
    """
    path = checkpoint_path(checkpoint)
    return _load(str(path), path.stat().st_mtime_ns)


def history_columns(checkpoint: str | Path) -> Columns:
    """The column roles, id and time columns that the checkpoint's history frames must use."""
    return Columns(**load_cached(checkpoint).data_config["columns"])


def forecast_columns(model: Forecaster) -> list[str]:
    """The value columns ``model.predict`` returns after ``id`` and ``time``, in order.

    One column per target, then ``{target}_q{level}`` per target and level of a probabilistic
    loss: the names ``forecast.predict.forecast_table`` writes, known before any data is read, so
    that an engine can declare its output schema up front.
    """
    return predict.forecast_columns(model.data_state["targets"], model.loss.levels)


def _timestamps(times: pd.Series | None) -> bool:
    """Whether history ``times`` are timestamps (NumPy's, zoned or Arrow's), which have a unit and maybe a zone,
    rather than text, dates or other objects that predict parses."""
    if times is None or not pd.api.types.is_datetime64_any_dtype(times):
        return False
    return not isinstance(times.dtype, pd.ArrowDtype) or predict.arrow_timestamps(times.dtype)


def _time_unit(times: pd.Series | None) -> str:
    """The unit of the forecasts' times for history ``times``: that of timestamps, microseconds for what predict
    parses (pandas infers its unit from the values, which an empty partition lacks; Arrow's dates have none)."""
    return times.dt.unit if _timestamps(times) else "us"


def _time_dtype(model: Forecaster, times: pd.Series | None) -> pd.api.extensions.ExtensionDtype | np.dtype:
    """The dtype of the forecasts' times for history ``times``, as ``Forecaster.predict`` gives them: in the
    checkpoint's time zone where it has one (a checkpoint older than recorded zones: the history's), in
    ``_time_unit(times)``, Arrow timestamps where the history's are."""
    zone = model.data_state.get("time_zone")
    if "time_zone" not in model.data_state and _timestamps(times):
        zone = times.dt.tz
    return predict.forecast_time_dtype(None if times is None else times.dtype, _time_unit(times), zone)


def predict_partition(
    frame: pd.DataFrame, checkpoint: str | Path, *, horizon: int | None = None, batch_size: int = 256
) -> pd.DataFrame:
    """Forecasts for every series of ``frame``, in one ``Forecaster.predict`` call.

    ``frame`` holds the whole history of each of its series in the long layout (id and time
    columns as the checkpoint was trained with); split the data by series, never by rows, before
    calling this on its parts. As with ``Forecaster.predict``, the ``id`` column keeps the type of
    the input's ids (integers stay integers), so a result joins back onto the input and fits a schema
    declared from it; and an empty frame (an engine's empty partition) gives an empty table with the
    columns and types of a full one (times in the checkpoint's zone, in the unit of the frame's timestamps,
    or in microseconds where the frame gives text, dates or other objects, whose unit pandas would infer
    from their values). A checkpoint older than recorded time zones forecasts in the zone of the frame's
    timestamps; there an empty frame of text times gives times without a zone, where a full one's text
    with UTC offsets reads as zoned times (no text, no offset to read): give such a checkpoint timestamps.

    Args:
        frame: history of whole series, as ``Forecaster.predict`` reads it.
        checkpoint: path of the checkpoint file, readable where this runs.
        horizon: forecast this many steps (at most the trained horizon); ``None``: all of them.
        batch_size: windows per forward pass.

    Returns:
        ``Forecaster.predict``'s long table: ``id``, ``time``, then ``forecast_columns(model)``.

    Raises:
        ForecastDataError: as ``Forecaster.predict``, with its message: a column is missing, a
            series is too short, the future covariates of the horizon are missing; or an empty
            frame has no id column or index level.
    """
    model, columns = load_cached(checkpoint), history_columns(checkpoint)
    if frame.empty:  # an engine's empty partition (fewer series than partitions): nothing to forecast
        ids = _column_or_level(frame, columns.id_column)
        if ids is None:
            raise ForecastDataError(
                f"the frame has no series id column {columns.id_column!r} (as a column or an index level), which "
                "the checkpoint's data told its series apart by; give the frame its series ids under that name"
            )
        time = pd.Series(dtype=_time_dtype(model, _column_or_level(frame, columns.time_column)))
        values = {name: pd.Series(dtype="float64") for name in forecast_columns(model)}
        return pd.DataFrame({"id": ids, "time": time, **values})
    table = model.predict(frame, horizon=horizon, batch_size=batch_size)
    return table.assign(time=table["time"].dt.as_unit(_time_unit(_column_or_level(frame, columns.time_column))))


def _column_or_level(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """The column ``name`` of ``frame``, else its index level ``name`` (``predict`` reads ids and times from
    either: Dask's ``set_index("id")`` puts each series in one partition); ``None`` where it has neither."""
    if name in frame.columns:
        return frame[name].reset_index(drop=True)
    if name in frame.index.names:
        return pd.Series(frame.index.get_level_values(name), name=name)
    return None


def predict_batches(
    batches: Iterable[pd.DataFrame],
    checkpoint: str | Path,
    *,
    horizon: int | None = None,
    batch_size: int = 256,
    rows_per_call: int = 100_000,
) -> Iterator[pd.DataFrame]:
    """Forecasts for a stream of long batches whose rows are grouped by series, a table per call.

    The rows of each series must be contiguous across the stream (sorted by id), but a series may
    be split between two batches. Batches are gathered until they hold ``rows_per_call`` rows;
    then every series that is complete (all but the last) is forecast in one
    ``predict_partition`` call, and the last one's rows wait for the next batches. Memory stays
    near ``rows_per_call`` rows of history (or one series, if longer), whatever the stream's length.

    Args:
        batches: history frames in the long layout, grouped by series (ids and times as columns or index
            levels, as ``predict_partition`` reads them).
        checkpoint: path of the checkpoint file, readable where this runs.
        horizon: forecast this many steps (at most the trained horizon); ``None``: all of them.
        batch_size: windows per forward pass.
        rows_per_call: history rows gathered before a ``Forecaster.predict`` call.

    Raises:
        ForecastDataError: as ``predict_partition``; or a series comes back after other series (the
            stream is not grouped by series), which would forecast it twice, each from part of its history;
            or a batch has no series id column or index level.
    """
    columns = history_columns(checkpoint)
    id_column = columns.id_column
    options = {"horizon": horizon, "batch_size": batch_size}
    # Batches wait in a list, and each row is concatenated once, when its series is complete: concatenating what waits
    # at every batch would copy a series longer than rows_per_call again per batch, in time quadratic in its length.
    pending: list[pd.DataFrame] = []
    rows = 0
    last_start = (0, 0)  # (batch, row) of pending where the last series begins
    forecast: set = set()  # the ids of the series forecast so far
    for batch in batches:
        if not len(batch):
            continue
        batch = _levels_as_columns(batch, columns)
        if (start := _last_series_start(batch[id_column], pending[-1][id_column] if pending else None)) >= 0:
            last_start = (len(pending), start)
        pending.append(batch)
        rows += len(batch)
        if rows < rows_per_call or last_start == (0, 0):
            continue
        index, row = last_start
        complete = pd.concat([*pending[:index], pending[index].iloc[:row]], ignore_index=True)
        pending, last_start = [pending[index].iloc[row:], *pending[index + 1 :]], (0, 0)
        rows -= len(complete)
        _check_not_forecast(complete[id_column], forecast)
        yield predict_partition(complete, checkpoint, **options)
    if rows:
        frame = pd.concat(pending, ignore_index=True)
        _check_not_forecast(frame[id_column], forecast)
        yield predict_partition(frame, checkpoint, **options)


def _last_series_start(ids: pd.Series, before: pd.Series | None) -> int:
    """The row of ``ids`` where its last series begins; -1 where it continues the last series of ``before``.

    Ids are told apart by their hashes, as ``Forecaster.predict`` groups them: a tuple (a key of several
    fields) or a missing id compares as one value, where ``!=`` would compare a tuple's items or find a
    missing id unequal to itself.
    """
    codes = pd.factorize(ids, use_na_sentinel=False)[0]
    start = int(np.flatnonzero(codes != codes[-1]).max(initial=-1)) + 1
    if start == 0 and before is not None:
        ends = pd.Series([before.iloc[-1], ids.iloc[0]], dtype=object)  # the series on either side of the border
        return -1 if pd.factorize(ends, use_na_sentinel=False)[0][1] == 0 else 0
    return start


def _levels_as_columns(batch: pd.DataFrame, columns: Columns) -> pd.DataFrame:
    """``batch`` with its id and time index levels as columns (``predict`` reads either), which concatenating the
    batches by their rows would drop with the index.

    Raises:
        ForecastDataError: the batch has no id column or index level.
    """
    names = (columns.id_column, columns.time_column)
    levels = [name for name in names if name in batch.index.names and name not in batch.columns]
    batch = batch.reset_index(levels) if levels else batch
    if columns.id_column not in batch.columns:
        raise ForecastDataError(
            f"a batch has no series id column {columns.id_column!r} (as a column or an index level), which the "
            "checkpoint's data told its series apart by and which the stream is grouped by; give every batch its "
            "series ids under that name"
        )
    return batch


def _check_not_forecast(ids: pd.Series, forecast: set) -> None:
    """Adds ``ids`` to the ids of the series ``forecast`` so far, refusing one that is there already.

    Raises:
        ForecastDataError: a series was forecast from rows before other series' rows and has more rows now.
    """
    ids = pd.unique(ids)
    if again := [series for series in ids if series in forecast]:
        raise ForecastDataError(
            f"series {again[0]!r} has rows after those of other series in the stream, so it would be forecast "
            "twice, each time from part of its history; sort the rows by id and time first (in Spark, "
            "repartition by id and sortWithinPartitions(id, time) before mapInPandas)"
        )
    forecast.update(ids)
