"""The grouped options of ``TimeSeriesDataModule`` (column roles, scaling, calendar features), and the
reading of a checkpoint's data options written before they were grouped.

Each group is a frozen dataclass, which the CLI fills from nested keys (``data.columns.targets``,
``data.scaling.per_series``, ``data.calendar.features``) and a checkpoint records as a mapping of
its fields.
"""

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, get_args

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.preprocessing import StandardScaler

from .calendar import CalendarEncoding

__all__ = ["Calendar", "Columns", "GROUPED_KEYS", "Scaling", "check_choice", "grouped_config"]


def check_choice(key: str, value: Any, allowed: Collection[str]) -> None:
    """Refuse an option that is none of its ``allowed`` values (the CLI checks its choices; Python does not).

    Raises:
        ValueError: naming the option ``key``, the value, and the values allowed.
    """
    choices = list(allowed)
    if value not in choices:
        raise ValueError(f"{key}={value!r} is not one of {choices}; choose one of them")


def _check_names(key: str, given: Any, what: str) -> None:
    """Refuse names given as anything but ``None`` or a list (or tuple) of them: one name as text (a string is a
    list of its letters), a number (which failed as "'int' object is not iterable"), or a set or mapping, whose
    order is no order the user chose (a set's order of strings changes from run to run), though the order of
    ``what`` is the order of the channels.

    Raises:
        TypeError: naming the option ``key``, what was given, and the list to give.
    """
    if given is None or isinstance(given, (list, tuple)):
        return
    if isinstance(given, str):
        raise TypeError(f"{key}={given!r} is one name, not a list of {what}; give [{given!r}]")
    raise TypeError(
        f"{key}={given!r} is of type {type(given).__name__}, not a list of {what}; give the names as a list, in the "
        "order of the channels (a set or mapping has no order of yours)"
    )


@dataclass(frozen=True)
class Columns:
    """The roles of the data's columns, and the columns that hold the series id and the time.

    One group, so that a config names what each column is in one place, apart from how the data
    are split, scaled and batched.

    Args:
        targets: columns to forecast, in this order; ``None`` means every column without a role.
        past_covariates: numeric columns known only up to the forecast start (``past`` after the targets).
        future_covariates: numeric columns known over the horizon too (``future``: their values at the
            forecast steps, not over the lookback; a copy under another name in ``past_covariates`` gives
            their history). To forecast beyond the data, give each series ``horizon`` more rows with these
            and empty targets.
        static_covariates: columns with one value per series (``static``): numbers scaled by the
            covariate scaler fitted over the series with training rows (one value each), anything
            else (text, categories) as an index into a sorted vocabulary, which the model embeds
            (``static_cardinalities``).
        id_column: the series id column of long data.
        time_column: the time column of long data (or of a wide file, else its first column).
    """

    targets: list[str] | None = None
    past_covariates: list[str] | None = None
    future_covariates: list[str] | None = None
    static_covariates: list[str] | None = None
    id_column: str = "id"
    time_column: str = "time"

    def __post_init__(self) -> None:
        for role, given in self.roles().items():
            _check_names(f"data.columns.{role}", given, "columns")
        for key in ("id_column", "time_column"):
            name = getattr(self, key)
            if not isinstance(name, str):  # None, or a number: the data's column names are read as text
                raise TypeError(
                    f"data.columns.{key}={name!r} is not a column name; give the name as text (the default is "
                    f"{Columns.__dataclass_fields__[key].default!r}; a frame's column 0 is named '0')"
                )

    def roles(self) -> dict[str, list[str] | None]:
        """Each role's columns by the role's name, targets first."""
        return {
            "targets": self.targets,
            "past_covariates": self.past_covariates,
            "future_covariates": self.future_covariates,
            "static_covariates": self.static_covariates,
        }

    def to_read(self) -> list[str] | None:
        """The role columns to read from a file, or ``None`` for every column (when no targets are named)."""
        if self.targets is None:
            return None
        return [column for columns in self.roles().values() for column in columns or []]


@dataclass(frozen=True)
class Scaling:
    """How the values are scaled before the model sees them (forecasts come back in original units).

    One group, so that the scalers and where they are fitted are chosen together.

    Args:
        scaler: a scikit-learn scaler class (or factory) for the targets, fitted per channel on
            training rows; ``None`` for no scaling. A checkpoint of a factory predicts the series it was
            trained on only: ``predict`` builds no function that a file names, so it cannot fit scalers
            for new series with one.
        covariate_scaler: the same for past and future covariates, and for numeric static covariates
            (never calendar features or categories).
        per_series: fit one scaler per series (on its training rows) instead of one for all.
    """

    scaler: Callable[[], TransformerMixin] | None = StandardScaler
    covariate_scaler: Callable[[], TransformerMixin] | None = StandardScaler
    per_series: bool = False

    def __post_init__(self) -> None:
        for key in ("scaler", "covariate_scaler"):
            _check_factory(f"data.scaling.{key}", getattr(self, key))
        if not isinstance(self.per_series, (bool, np.bool_)):  # "false" would be true
            raise TypeError(f"data.scaling.per_series={self.per_series!r} is not a bool; give true or false")


def _check_factory(key: str, scaler: Any) -> None:
    """Refuse a scaler that is no factory of scalers: one scaler object (each series and fit needs a new one,
    and it fails only at ``setup``, as "object is not callable"), or a class name as text.

    Raises:
        TypeError: naming the option ``key``, what was given, and what to give instead.
    """
    if scaler is None or callable(scaler):
        return
    if isinstance(scaler, str):
        raise TypeError(
            f"{key}={scaler!r} is text; give the class itself (from sklearn.preprocessing import StandardScaler), "
            "or in a config file its class path (sklearn.preprocessing.StandardScaler)"
        )
    name = type(scaler).__name__
    raise TypeError(
        f"{key} is a {name} object, but a new scaler is made for each fit; give the class ({name}) or a function "
        f"that makes one (functools.partial({name}, ...)), or null for no scaling"
    )


@dataclass(frozen=True)
class Calendar:
    """Calendar features computed from the times, as future covariates the data need not hold.

    One group, so that the features and their encoding are chosen together.

    Args:
        features: from ``minute, hour, dayofweek, day, dayofyear, weekofyear, month, quarter``, and
            ``season``, each step's position in the season of the data's frequency (the hour of hourly
            data, the quarter-hour of the day of 15-minute data; ``calendar.season_positions``), which a
            model's residual cycle (``forecast.nn.ResidualCycle``) reads in integer encoding;
            ``None``: none.
        encoding: ``cyclical`` (sine and cosine of each) or ``integer`` (zero-based index).
    """

    features: list[str] | None = None
    encoding: CalendarEncoding = "cyclical"

    def __post_init__(self) -> None:
        _check_names("data.calendar.features", self.features, "features")
        features = list(self.features or [])
        twice = [name for i, name in enumerate(features) if name in features[:i]]
        if twice:  # each would be the same channels again, under the same names
            raise ValueError(f"data.calendar.features names {twice} more than once; name each feature once")
        check_choice("data.calendar.encoding", self.encoding, get_args(CalendarEncoding))


# A data option by its flat name (as checkpoints before the groups and the data state name it) -> its key now.
GROUPED_KEYS = {
    "targets": "columns.targets",
    "past_covariates": "columns.past_covariates",
    "future_covariates": "columns.future_covariates",
    "static_covariates": "columns.static_covariates",
    "id_column": "columns.id_column",
    "time_column": "columns.time_column",
    "scaler": "scaling.scaler",
    "covariate_scaler": "scaling.covariate_scaler",
    "scale_per_series": "scaling.per_series",
    "calendar": "calendar.features",
    "calendar_encoding": "calendar.encoding",
}


def grouped_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A checkpoint's data options (``datamodule_hyper_parameters``) in the grouped form.

    Options recorded flat, by checkpoints written before the groups, move into their groups
    (``scale_per_series`` -> ``scaling.per_series``); grouped options and an empty mapping come
    back as they are.

    Example:
        >>> grouped_config({"lookback": 24, "targets": ["y"], "scale_per_series": True})
        {'lookback': 24, 'columns': {'targets': ['y']}, 'scaling': {'per_series': True}, 'calendar': {}}
    """
    if not config or "columns" in config:
        return dict(config)
    grouped: dict[str, Any] = {"columns": {}, "scaling": {}, "calendar": {}}
    rest = {}
    for key, value in config.items():
        if key in GROUPED_KEYS:
            group, field = GROUPED_KEYS[key].split(".")
            grouped[group][field] = value
        else:
            rest[key] = value
    return rest | grouped
