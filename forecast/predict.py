"""Prediction's data: a history frame in (read as a checkpoint's data were), a long table of forecasts out.

``Forecaster.predict`` runs frame -> ``history_module`` (checked history, the checkpoint's scalers)
-> its windows -> the network -> ``forecast_table``; the CLI's prediction writer shares
``forecast_table``, so library and CLI forecasts have the same columns.
"""

import warnings
from dataclasses import replace
from datetime import tzinfo
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sklearn.base import TransformerMixin

from .data import TimeSeriesDataModule
from .data.calendar import fixed_step
from .data.frames import SeriesTable
from .data.options import Calendar, Columns, Scaling
from .data.scaling import AffineScaling
from .data.sources import times_in_first_column
from .data.splits import Split
from .data.validate import UnrepairablePart, check_history_end
from .errors import ForecastDataError, check_count, user_stacklevel, whole_number
from .specs import from_spec

__all__ = [
    "HistorySplit", "arrow_timestamps", "check_role_columns", "forecast_columns", "forecast_table",
    "forecast_time_dtype", "history_module", "history_time_dtype",
]  # fmt: skip

# What a checkpoint's data configuration says that reading a history frame needs, besides its groups;
# the split, strides, sampling and loader settings belong to training.
_HISTORY_KEYS = ("lookback", "horizon", "nan_policy")

# A series the checkpoint does not know, scaled per series, is fitted on its history (``check_fitted``'s message).
_NEW_SERIES_UNFITTED = (
    "{series} is not one the checkpoint knows, and {column} has no value in its history to fit its own scaler "
    "(the checkpoint scales each series on its own); give the series values in its history, or leave it out"
)


def _times(data: TimeSeriesDataModule, series: np.ndarray, time: np.ndarray, horizon: int) -> pd.DatetimeIndex:
    """The timestamps of ``horizon`` steps from row ``time`` of each window's series, flattened.

    A step that never varies (``fixed_step``: hours; days without a time zone) is plain arithmetic for every
    window at once. Not every pandas ``Tick`` is one: under pandas 2 a day is a 24-hour ``Tick``, but in a
    time zone ``date_range`` steps 23 or 25 hours at a daylight-saving change.

    In the unit of the history's times (seconds stay seconds, as a Parquet file's ``timestamp[s]`` reads), where
    pandas' arithmetic and ``date_range`` would give microseconds.
    """
    offset = pd.tseries.frequencies.to_offset(data.freq)
    starts = pd.DatetimeIndex(data.start_times)
    step = fixed_step(offset, starts)
    if step is not None:
        steps = (time[:, None] + np.arange(horizon)).ravel()
        times = starts[np.repeat(series, horizon)] + pd.to_timedelta(steps * step, unit=starts.unit)
        return times.as_unit(starts.unit)
    # Calendar offsets (month ends, business days, days in a zone) step irregularly: pandas steps them per window.
    times = [data.forecast_times(s, t)[:horizon] for s, t in zip(series.tolist(), time.tolist(), strict=True)]
    return times[0].append(times[1:]).as_unit(starts.unit)


def history_time_dtype(config: dict[str, Any], frame: pd.DataFrame) -> Any:
    """The dtype of ``frame``'s times, where ``history_module`` reads them: its time column, else its index
    level of that name, else a wide frame's first column where the data module reads its times there (a default
    index, and a first column of times or text: ``reset_index()``'s, ``read_csv``'s), else its index (a wide
    frame's); ``config`` is the checkpoint's data options."""
    id_column, time_column = (config["columns"].get(key, getattr(Columns, key)) for key in ("id_column", "time_column"))
    if time_column in frame.columns:
        return frame[time_column].dtype
    if time_column in frame.index.names:
        return frame.index.get_level_values(time_column).dtype
    if times_in_first_column(frame, id_column, time_column):
        return frame.iloc[:, 0].dtype
    return frame.index.dtype


def arrow_timestamps(dtype: Any) -> bool:
    """Whether ``dtype`` is Arrow's timestamp (a Parquet file's times read with ``dtype_backend="pyarrow"``)."""
    return isinstance(dtype, pd.ArrowDtype) and pa.types.is_timestamp(dtype.pyarrow_dtype)


def forecast_time_dtype(history_dtype: Any, unit: str, zone: tzinfo | str | None) -> Any:
    """The dtype of forecast times in ``unit`` and ``zone`` for history times of ``history_dtype``.

    Arrow timestamps where the history's are (a Parquet file read with ``dtype_backend="pyarrow"``), so that
    forecasts merge onto the history on ``time``, as they do on ``id``; NumPy's otherwise (text, dates and
    objects are read as NumPy times).
    """
    numpy_dtype = pd.DatetimeTZDtype(unit, zone) if zone else np.dtype(f"datetime64[{unit}]")
    if arrow_timestamps(history_dtype):
        # Arrow names the zone as the history's Arrow type does ("+01:00", where str(tzinfo) gives "UTC+01:00").
        return pd.ArrowDtype(pa.array(pd.DatetimeIndex([], dtype=numpy_dtype)).type)
    return numpy_dtype


def forecast_columns(targets: list[str], levels: tuple[float, ...] = ()) -> list[str]:
    """The value columns of a forecast table, in order: one per target, then ``{target}_q{level}`` per
    target and quantile level (known before any data is read, so an engine can declare its schema).

    Raises:
        ForecastDataError: where two of the table's columns (with ``id`` and ``time``) would share a name, e.g. the
            targets ``y`` and ``y_q0.5`` under a loss of the level 0.5 (the second would be ``y``'s median too).
    """
    columns = list(targets) + [f"{target}_q{level:g}" for target in targets for level in levels]
    everything = ["id", "time", *columns]
    taken = sorted({column for column in everything if everything.count(column) > 1})
    if taken:
        raise ForecastDataError(
            f"a forecast table would hold the columns {taken} twice: its columns are id, time, then per target "
            f"column its forecast and {{target}}_q{{level}} per quantile level of the loss {list(levels)}; rename "
            "those target columns in the data (e.g. frame.rename(columns={'y_q0.5': 'y_median'}))"
        )
    return columns


def forecast_table(
    data: TimeSeriesDataModule,
    forecast: np.ndarray,
    series: np.ndarray,
    time: np.ndarray,
    quantiles: np.ndarray | None = None,
    levels: tuple[float, ...] = (),
    history_dtype: Any = None,
) -> pd.DataFrame:
    """The long table: ``id`` (the frame's own ids, of their type: a forecast joins back onto its history and
    fits a schema declared from it), ``time`` (for the same reason of the type of the history's times,
    ``history_dtype``: ``forecast_time_dtype``), one column per target, then ``{target}_q{level}`` per level.

    Shapes:
        forecast: (N, H, C_out), series: (N,), time: (N,) first forecast row, quantiles: (N, H, C_out, Q)
    """
    windows, horizon, _ = forecast.shape
    columns, values = forecast_columns(data.targets), forecast
    if quantiles is not None:
        values = np.concatenate([forecast, quantiles.reshape(windows, horizon, -1)], axis=-1)
        columns = forecast_columns(data.targets, levels)
    table = pd.DataFrame(values.reshape(windows * horizon, -1), columns=columns)
    table.insert(0, "id", data.table.ids.take(np.repeat(series, horizon)))  # the frame's ids, of their type
    times = _times(data, series, time, horizon)
    table.insert(1, "time", times.astype(forecast_time_dtype(history_dtype, times.unit, times.tz)))
    return table


class HistorySplit(Split):
    """Every row is history to forecast from: all of it "training" rows, no validation or test rows.

    A series then needs ``lookback`` rows, not ``lookback + horizon``, and its scalers, where the
    checkpoint has none for it, are fitted on all of its history.
    """

    evaluates = False

    def _borders(self, table: SeriesTable) -> np.ndarray:
        return np.repeat(table.observed[:, None], 3, axis=1)  # -> (N, 3)


def check_horizon(horizon: int | None, trained: int) -> None:
    """Refuse a ``horizon`` that a model trained on ``trained`` steps cannot forecast (``None``: all of them).

    Raises:
        ValueError: not a whole number from 1 to ``trained``.
    """
    if horizon is not None and not (whole_number(horizon) and 1 <= horizon <= trained):
        raise ValueError(
            f"horizon={horizon!r}: this model forecasts 1 to {trained} steps (an int); retrain for a longer horizon"
        )


def check_role_columns(state: dict[str, Any], present: set[str]) -> None:
    """Refuse a frame whose columns ``present`` lack one the checkpoint read (``state``: its data state).

    The columns by role that the checkpoint read, rather than its config's: with no targets named, training took
    every column without a role as a target, and a frame to forecast may hold other columns, which predict leaves
    out.

    Raises:
        ForecastDataError: naming the first missing column, its role and the fix.
    """
    roles = {role: state[role] for role in Columns().roles()}
    lacking = [(role, column) for role, names in roles.items() for column in names if column not in present]
    if lacking:
        role, column = lacking[0]
        raise ForecastDataError(
            f"the frame has no column {column!r}, one of the {role} {roles[role]} the checkpoint was trained on; "
            "give the frame the columns of the training data, under their names"
        )


def history_module(
    config: dict[str, Any], state: dict[str, Any], frame: pd.DataFrame, batch_size: int
) -> TimeSeriesDataModule:
    """A data module over ``frame`` read as a checkpoint's data were, with the checkpoint's scalers.

    ``config`` is the checkpoint's data options in the grouped form (``options.grouped_config``).

    Scaled per series, series the checkpoint never saw get scalers fitted on their own history.

    Raises:
        ValueError: the model carries no data configuration (it was not loaded from a checkpoint), or
            ``batch_size`` is not a whole number of 1 or more.
        ForecastDataError: ``frame`` is empty, or does not fit the checkpoint's columns, calendar or frequency.
    """
    if not config or not state:
        raise ValueError(
            "this model has no data state to predict with; load it with Forecaster.load(checkpoint) "
            "(forecast.fit returns a loaded model)"
        )
    # Here: the data module's message would name data.batch_size, torch's a bool.
    check_count("batch_size", batch_size, "predict runs batches of 1 or more windows")
    if len(frame) == 0:
        raise ForecastDataError(f"the frame has no rows; predict needs lookback = {state['lookback']} rows per series")
    present = {str(column) for column in frame.columns}
    check_role_columns(state, present)
    roles = {role: state[role] for role in Columns().roles()}  # the columns the checkpoint read, as it read them
    id_column, time_column = (config["columns"].get(key, getattr(Columns, key)) for key in ("id_column", "time_column"))
    times = frame[time_column] if time_column in present else frame.index
    long = id_column in present or id_column in frame.index.names
    # Several series stacked without their ids, read as one wide series, would fail on its times; a checkpoint of
    # one series (a wide frame's) had no ids, and the data module names a repeated time of its own by its row.
    if not long and len(state["series"]) > 1 and pd.Index(times).has_duplicates:
        raise ForecastDataError(
            f"the frame repeats times but has no series id column {id_column!r} (as a column or an index level), "
            "which the checkpoint's data told its series apart by; give the frame its series ids under that name"
        )
    if long and time_column not in present and time_column not in frame.index.names:
        raise ForecastDataError(  # the data module's message would point to data.columns, which predict does not take
            f"the frame has series ids {id_column!r} but no time column {time_column!r} (as a column or an index "
            "level), which the checkpoint's data read the times from; give the frame its times under that name, "
            f"e.g. frame.rename(columns={{'date': {time_column!r}}}) or "
            f"frame.rename_axis({time_column!r}).reset_index()"
        )
    frame = _in_time_zone(frame, time_column, state.get("time_zone"))
    options = {key: config[key] for key in _HISTORY_KEYS if key in config}
    scaling, unbuilt = dict(config["scaling"]), {}
    for key in ("scaler", "covariate_scaler") & scaling.keys():  # absent: the class's default
        try:
            scaling[key] = from_spec(scaling[key], TransformerMixin, call=False)
        except TypeError as error:  # a factory function: only scalers fitted for new series would need it
            unbuilt[key] = error
            del scaling[key]
    try:
        data = TimeSeriesDataModule(
            frame,
            **options,
            columns=replace(Columns(**config["columns"]), **roles),
            calendar=Calendar(**config["calendar"]),
            scaling=Scaling(**scaling),
            freq=state["freq"],
            batch_size=int(batch_size),  # a NumPy integer (a grid from np.arange), which torch's DataLoader refuses
            split=HistorySplit(),
        )
    except ForecastDataError as error:  # its fixes may name data options, which at predict are the checkpoint's
        policy = options.get("nan_policy", "error")
        said = error.in_history if isinstance(error, UnrepairablePart) else str(error)  # history has no train part
        raise ForecastDataError(
            f"{said} (predict reads the frame with the checkpoint's data options, nan_policy {policy!r} and "
            f"frequency {state['freq']!r}: change the frame to fit them, or train a model with others)"
        ) from None
    check_history_end(data.table, data.roles.past)
    data.load_state_dict(_with_new_series(state, data, unbuilt) if state["scale_per_series"] else state)
    return data


def _in_time_zone(frame: pd.DataFrame, time_column: str, zone: str | None) -> pd.DataFrame:
    """``frame`` with times of another time zone converted to the checkpoint's ``zone`` (the same instants).

    The data module checks the frequency on the times as given, before a checkpoint's state converts them:
    daily data of a zone with daylight saving, given in UTC, step 23 or 25 hours there and would be refused.
    Text of times with UTC offsets (a CSV's) is read here as their instants; times without a zone, other text,
    and a checkpoint without a zone (``None``) are left for the data module to read and, where they do not
    fit the checkpoint, to refuse.
    """
    if zone is None:
        return frame
    if time_column in frame.columns:
        times = frame[time_column]
        if pd.api.types.is_object_dtype(times) or pd.api.types.is_string_dtype(times):
            times = _zoned_text(times)
        if _time_zone(times.dtype) not in (None, zone):
            return frame.assign(**{time_column: times.dt.tz_convert(zone)})
        return frame
    index = frame.index
    if isinstance(index, pd.MultiIndex) and time_column in index.names:
        level = index.names.index(time_column)
        times = index.levels[level]
        if _time_zone(times.dtype) not in (None, zone):
            return frame.set_axis(index.set_levels(pd.DatetimeIndex(times).tz_convert(zone), level=level))
        return frame
    if _time_zone(index.dtype) not in (None, zone):
        return frame.set_axis(pd.DatetimeIndex(index).tz_convert(zone))
    return frame


def _time_zone(dtype: Any) -> str | None:
    """The time zone of timestamps of ``dtype``, NumPy's or Arrow's (a Parquet file's read with
    ``dtype_backend="pyarrow"``); ``None`` for times without one, and for anything else."""
    if isinstance(dtype, pd.DatetimeTZDtype):
        return str(dtype.tz)
    if arrow_timestamps(dtype):
        return dtype.pyarrow_dtype.tz
    return None


def _zoned_text(times: pd.Series) -> pd.Series:
    """Text (or objects) of times that all carry a UTC offset, as times; anything else as given.

    Text of several offsets (a zone's across a daylight-saving change, as ``to_csv`` writes it) reads only
    as UTC; the data module would read it so too, and check the frequency there, before the conversion.
    """
    try:
        return pd.to_datetime(times)  # one offset, or none (naive: left to the data module's refusal)
    except (TypeError, ValueError):
        pass
    # Several offsets, if every time has one (pandas would read a time without one as UTC): told by the text,
    # in one pass over the column rather than a parse per value.
    if times.dropna().astype(str).str.strip().str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$").all():
        try:
            return pd.to_datetime(times, utc=True)
        except (TypeError, ValueError):
            pass
    return times  # no times, or some without an offset: the data module names the row


def _with_new_series(
    state: dict[str, Any], data: TimeSeriesDataModule, unbuilt: dict[str, Exception]
) -> dict[str, Any]:
    """A per-series checkpoint state for the series of ``data``: the checkpoint's scalers of the series
    it knows, and scalers fitted on their own history for the others.

    Raises:
        ForecastDataError: a series is new and a scaler of ``unbuilt`` (a factory predict does not build)
            would have to fit it, or a column has no value in its history to fit its own scaler on.
    """
    position = {name: i for i, name in enumerate(state["series"])}
    known = np.array([name in position for name in data.series_names])
    if known.all():
        return state
    new = [name for name, seen in zip(data.series_names, known, strict=True) if not seen]
    if unbuilt:
        key, error = next(iter(unbuilt.items()))
        raise ForecastDataError(
            f"series {new[0]!r} is not one the checkpoint knows, and its scalers would be fitted by the checkpoint's "
            f"data.scaling.{key}, which predict builds only from a scaler class ({error}); predict the series it "
            "was trained on, or train with a scaler class"
        )
    warnings.warn(
        f"{len(new)} series the checkpoint does not know ({', '.join(map(repr, new[:3]))}"
        f"{', ...' if len(new) > 3 else ''}) are scaled on their own history; it knows "
        f"{', '.join(map(repr, state['series'][:3]))}{', ...' if len(state['series']) > 3 else ''}. Ids are "
        "matched by their text, so 1 and 1.0 are two series: give the ids as at training",
        stacklevel=user_stacklevel(),
    )
    order = np.array([position.get(name, 0) for name in data.series_names])
    own = data.fit_scalings(np.flatnonzero(~known), unfitted=_NEW_SERIES_UNFITTED)
    scaling = dict(state["scaling"])
    for kind, fitted in zip(("targets", "covariates"), own[:2], strict=True):
        merged = AffineScaling(**state["scaling"][kind]).take(order)  # a new series' maps are its own, next
        merged.scale[~known], merged.offset[~known] = fitted.scale, fitted.offset
        scaling[kind] = merged.state_dict()
    return {**state, "series": list(data.series_names), "scaling": scaling}
