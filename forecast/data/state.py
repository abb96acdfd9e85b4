"""The data module's checkpoint state: what a checkpoint must agree on with the data, and what it hands over.

``TimeSeriesDataModule.state_dict`` records plain data (column roles, frequency, time zone, scalings,
vocabularies, series, borders), assembled by ``data_state``. Loading one checks here, before the module changes
anything, that it fits the data: the same columns, calendar and frequency, times in a time zone where the
checkpoint's were, and (scaled per series) a scaler of every series.
"""

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ForecastDataError
from .frames import Roles, SeriesTable
from .frequency import first_off_step
from .options import GROUPED_KEYS
from .scaling import AffineScaling
from .sharding import gather_objects, merge_states

__all__ = [
    "SCALED", "check_schema", "check_static_numbers", "checkpoint_scalings", "data_state", "frequency_steps",
    "in_time_zone", "schema", "zone_name",
]  # fmt: skip

SCALED = ("targets", "covariates", "statics")  # the scalings, in order, as the state names them
_ROLES = ("targets", "past_covariates", "future_covariates", "static_covariates")


def schema(roles: Roles, calendar: tuple[list[str], str], freq: str) -> dict[str, Any]:
    """What a checkpoint must agree on with the data: the columns of each role, the calendar features and
    their encoding, and the frequency."""
    columns = (roles.targets, roles.past, roles.future, roles.static)
    return {
        **{role: list(names) for role, names in zip(_ROLES, columns, strict=True)},
        "calendar": list(calendar[0]),
        "calendar_encoding": calendar[1],
        "freq": freq,
    }


def data_state(
    table: SeriesTable,
    roles: Roles,
    calendar: tuple[list[str], str],
    freq: str,
    borders: np.ndarray,
    scalings: tuple[AffineScaling, AffineScaling, AffineScaling],
    vocabularies: dict[str, list[str]],
    scale_per_series: bool,
    window: tuple[int, int],
    sharded: bool,
) -> dict[str, Any]:
    """The data module's checkpoint state, as plain data: the ``schema``, the time zone, the window, the series
    with their start times and borders, the scalings and the vocabularies.

    Args:
        table: the series.
        roles: the columns' roles.
        calendar: the calendar features and their encoding.
        freq: the frequency of the times, by its name.
        borders: per series the first target row of validation, of test, and the end of test, shape (N, 3).
        scalings: the scalings of targets, covariates and statics.
        vocabularies: the sorted categories of each categorical static column.
        scale_per_series: whether each series has its own scalers.
        window: the lookback and the horizon of a window.
        sharded: ``table`` holds this process's share of the series (``shard: series``): the state is then of
            the series of every process, gathered from all (``sharding.merge_states``).
    """
    state = {
        **schema(roles, calendar, freq),
        "time_zone": zone_name(table.times),
        "lookback": window[0],
        "horizon": window[1],
        "series": list(table.names),
        "start_times": [str(time) for time in table.times[table.offsets[:-1]]],
        "borders": borders.tolist(),
        "scale_per_series": scale_per_series,
        "scaling": {kind: scaling.state_dict() for kind, scaling in zip(SCALED, scalings, strict=True)},
        "vocabularies": {column: list(words) for column, words in vocabularies.items()},
    }
    return merge_states(gather_objects(state)) if sharded else state


def check_schema(state: dict[str, Any], expected: dict[str, Any]) -> None:
    """Refuse a checkpoint's ``state`` that disagrees with the data's ``schema``. A frequency named otherwise
    (``"1h"`` or ``"60min"`` for the checkpoint's ``"h"``) is the same.

    Raises:
        ForecastDataError: naming the first option that differs, both values, and the option to set.
    """
    for key, value in expected.items():
        if state[key] != value and not (key == "freq" and frequency_steps(state[key]) == frequency_steps(value)):
            raise ForecastDataError(
                f"the checkpoint was trained with {key}={state[key]!r}, but the data module has "
                f"{key}={value!r}; set data.{GROUPED_KEYS.get(key, key)} to match the checkpoint"
            )


def check_static_numbers(table: SeriesTable, static: list[str], vocabularies: dict[str, list[str]]) -> None:
    """Refuse static columns that a checkpoint read as numbers (those without a vocabulary of its own) where the
    data hold something else (text, ``category``, bool): the checkpoint scales numbers there, and has no
    categories of the column to embed.

    Raises:
        ForecastDataError: naming the column, the first series whose value is no number (else the first
            series), the value, and the fix.
    """
    for column in static:
        values = table.statics[column]
        if column in vocabularies or values.dtype != object:
            continue
        numbers = np.array([_reads_as_number(value) for value in values])
        i = int(np.argmin(numbers))
        fix = (
            f"convert it: frame[{column!r}] = pandas.to_numeric(frame[{column!r}])"
            if numbers.all()
            else "give it the numbers it was trained on"
        )
        raise ForecastDataError(
            f"static covariate {column!r} holds {values[i]!r} for series {table.names[i]!r}: the column is not of "
            f"numbers, but the checkpoint was trained on numbers in it; {fix}"
        )


def _reads_as_number(value: Any) -> bool:
    """Whether a static value given as an object (text, a category) reads as a number ("1.5", not "north" or True)."""
    if isinstance(value, bool | np.bool_):
        return False
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def checkpoint_scalings(
    state: dict[str, Any], series_names: list[str]
) -> tuple[AffineScaling, AffineScaling, AffineScaling]:
    """The scalings of a checkpoint's ``state`` (targets, covariates, statics); scaled per series, the maps of
    the data's series ``series_names``, in their order.

    Raises:
        ForecastDataError: scaled per series, the checkpoint knows no scaler of some series of the data.
    """
    scalings = tuple(AffineScaling(**state["scaling"][kind]) for kind in SCALED)
    if not state["scale_per_series"]:
        return scalings
    position = {name: i for i, name in enumerate(state["series"])}
    unknown = [name for name in series_names if name not in position]
    if unknown:
        raise ForecastDataError(
            f"the checkpoint scaled each series with its own scaler, but knows no series {unknown[:10]}; "
            "forecast the series it was trained on, or train with data.scaling.per_series: false"
        )
    order = np.array([position[name] for name in series_names])
    return (*(scaling.take(order) for scaling in scalings[:2]), scalings[2])


def in_time_zone(table: SeriesTable, zone: str | None, freq: str) -> SeriesTable:
    """``table`` with its times in the checkpoint's time zone ``zone``, the same instants, so that the calendar
    features are those that training computed (``None``: the checkpoint's times had none).

    Raises:
        ForecastDataError: one of the checkpoint's times and these has a time zone and the other none,
            or the times in ``zone`` do not follow the frequency ``freq`` (a calendar one: days at midnight in
            one zone are not in another across a daylight-saving change).
    """
    given = zone_name(table.times)
    if given == zone:
        return table
    if zone is None:
        raise ForecastDataError(
            f"the checkpoint was trained on times without a time zone, but the data's are in time zone {given}; "
            "give them without one, on the wall clock of the training data (e.g. tz_convert(zone) to its "
            "zone, then tz_localize(None), on the time index or the time column's .dt)"
        )
    if given is None:
        raise ForecastDataError(
            f"the checkpoint was trained on times in time zone {zone}, but the data's have none; give them in "
            f"a time zone as the training data were (e.g. tz_localize({zone!r}) on the time index or the "
            "time column's .dt)"
        )
    converted = replace(table, times=table.times.tz_convert(zone))
    row = first_off_step(converted, freq)
    if row is not None:
        raise ForecastDataError(
            f"time at {converted.where(row)}, in the checkpoint's time zone {zone} (converted from {given}), "
            f"does not follow its frequency {freq!r}; give times that follow it there, as the training "
            "data's did"
        )
    return converted


def zone_name(times: pd.DatetimeIndex) -> str | None:
    """The name of the time zone of ``times`` (pandas reads it back: "Europe/Berlin", "UTC+01:00"), ``None``
    for times without one."""
    return None if times.tz is None else str(times.tz)


def frequency_steps(freq: str | None) -> Any:
    """A frequency's name as a pandas offset, which compares by its steps (``"h"``, ``"1h"`` and ``"60min"`` are
    equal); a name this pandas no longer reads (or none) as it is: only the same name is then the same frequency."""
    try:
        return pd.tseries.frequencies.to_offset(freq)
    except ValueError:
        return freq
