"""Hand mutation testing, round 5: tests for the mutants of the data module's parts (``datamodule``, ``scaled``,
``state``, ``parts``, ``sharding``) that the suite let through: batch sizes, the seasonal profile, the warnings
of unscalable values, a checkpoint's refusals, the windows training keeps and the shares of sharded training.
Each fails under its mutant and passes on the real code."""

import warnings
from functools import partial

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import Calendar, RowSplit, Scaling
from forecast.data.sharding import assign_shards, global_scaling
from forecast.predict import HistorySplit


def hourly(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range("2024-01-01", periods=rows, freq="h", name="time"))


def fit_warnings(data: TimeSeriesDataModule) -> list[str]:
    """The messages of the warnings of ``data.setup("fit")``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data.setup("fit")
    return [str(warning.message) for warning in caught]


def test_season_means_read_the_season_channel_after_past_covariates():
    """Unscaled hourly data with a past covariate: each target's profile is its mean at each hour of the day over
    the training rows, less the mean of those 24 means (numpy), not a profile by the past covariate's values."""
    rng = np.random.default_rng(1)
    hours = np.arange(96) % 24
    frame = hourly({"y": 3.0 * np.sin(hours / 4) + rng.standard_normal(96), "p": rng.integers(0, 3, 96) * 1.0})
    data = TimeSeriesDataModule(
        frame,
        4,
        2,
        columns=Columns(targets=["y"], past_covariates=["p"]),
        calendar=Calendar(features=["season"], encoding="integer"),
        scaling=Scaling(scaler=None, covariate_scaler=None),
        split=RowSplit(72, 84),
    )
    data.setup("fit")
    train = frame["y"].to_numpy()[:72]
    means = np.array([train[hours[:72] == hour].mean() for hour in range(24)])
    np.testing.assert_allclose(data.season_means()[:, 0].numpy(), means - means.mean(), rtol=1e-5, atol=1e-6)


def constant_module(frame: pd.DataFrame, **options) -> TimeSeriesDataModule:
    """Hourly wide data, lookback 4, horizon 2, training rows 0..39, validation 40..49, test 50.."""
    return TimeSeriesDataModule(frame, 4, 2, split=RowSplit(40, 50), **options)


def constant_warnings(messages: list[str]) -> list[str]:
    return [message for message in messages if "constant on its training rows" in message]


@pytest.mark.parametrize(("targets", "more"), [(10, ""), (11, " and 1 more")])
def test_the_constant_targets_warning_lists_ten_and_counts_the_rest(targets, more):
    """Ten constant targets are all listed, with no "and 0 more"; of eleven, the eleventh is counted."""
    steps = np.arange(60.0)
    frame = hourly({f"c{i}": np.where(steps < 40, 1.0, steps) for i in range(targets)})
    (message,) = constant_warnings(fit_warnings(constant_module(frame)))
    listed = message.split(": the target is constant")[0]
    assert listed.count("column 'c") == 10 and listed.endswith(f"(1, scale 1){more}")


def test_a_target_constant_on_its_training_rows_alone_is_warned_of():
    """Constant on rows 0..39, another value from the first validation row on: the training rows are constant."""
    y = np.r_[np.full(40, 5.0), np.linspace(7.0, 9.0, 20)]
    assert constant_warnings(fit_warnings(constant_module(hourly({"y": y}))))


def test_a_target_with_one_training_value_is_no_constant():
    """One value given on the training rows (the others repaired) is no sign of a constant."""
    y = np.r_[np.full(39, np.nan), 3.0, np.linspace(4.0, 9.0, 20)]
    assert not constant_warnings(fit_warnings(constant_module(hourly({"y": y}), nan_policy="zero")))


def test_a_constant_target_with_missing_training_values_is_warned_of():
    """Missing values (repaired) among the constant ones do not hide the constant."""
    y = np.r_[np.full(40, 5.0), np.linspace(7.0, 9.0, 20)]
    y[[3, 17]] = np.nan
    (message,) = constant_warnings(fit_warnings(constant_module(hourly({"y": y}), nan_policy="ffill")))
    assert message.startswith("column 'y' (5, scale 1)")


def test_constant_targets_are_listed_by_series_then_target():
    """Series x is constant in b, series y in a: x's b is listed first, though a is the first target."""
    steps = np.arange(60.0)
    constant, varying = np.where(steps < 40, 2.0, steps), np.sin(steps)
    frame = pd.concat(
        [hourly({"a": varying, "b": constant}).reset_index().assign(id="x"),
         hourly({"a": constant, "b": varying}).reset_index().assign(id="y")],
        ignore_index=True,
    )  # fmt: skip
    columns = Columns(targets=["a", "b"], id_column="id", time_column="time")
    data = constant_module(frame, columns=columns, scaling=Scaling(per_series=True))
    (message,) = constant_warnings(fit_warnings(data))
    assert message.startswith("column 'b', series 'x' (2, scale 1); column 'a', series 'y' (2, scale 1):")


def code_warnings(messages: list[str]) -> list[str]:
    return [message for message in messages if "a code for a missing value?" in message]


def test_a_missing_value_code_within_three_widths_of_the_other_values_is_no_warning():
    """Values 0..400 and -999: 999 below them is 2.5 times their width, within the three that mark a code."""
    y = np.linspace(0.0, 400.0, 60)
    y[20] = -999.0
    assert not code_warnings(fit_warnings(constant_module(hourly({"y": y}))))
    y = np.linspace(0.0, 300.0, 60)
    y[20] = -999.0  # 3.33 widths below
    assert code_warnings(fit_warnings(constant_module(hourly({"y": y}))))


def three_series() -> pd.DataFrame:
    """Three hourly series of 60 rows at levels 1, 10 and 100, in long format."""
    rng = np.random.default_rng(2)
    return pd.concat(
        [hourly({"y": level * (1 + rng.standard_normal(60))}).reset_index().assign(id=name)
         for name, level in (("a", 1.0), ("b", 10.0), ("c", 100.0))],
        ignore_index=True,
    )  # fmt: skip


LONG = Columns(targets=["y"], id_column="id", time_column="time")


def test_a_module_that_loads_per_series_scalers_hands_them_on_by_series():
    """A module made without per-series scaling takes the checkpoint's per-series scalers, and its own state says so:
    a module of some of the series then takes each one's scaler, by name, from that state."""
    trained = TimeSeriesDataModule(three_series(), 4, 2, columns=LONG, scaling=Scaling(per_series=True))
    trained.setup("fit")
    history = TimeSeriesDataModule(three_series(), 4, 2, columns=LONG, split=HistorySplit())
    history.load_state_dict(trained.state_dict())
    assert history.state_dict()["scale_per_series"] is True
    frame = three_series()
    again = TimeSeriesDataModule(frame[frame["id"] != "a"], 4, 2, columns=LONG, split=HistorySplit())
    again.load_state_dict(history.state_dict())
    assert again.series_names == ["b", "c"]
    np.testing.assert_allclose(again.scalings[0].scale, trained.scalings[0].scale[[1, 2]])


def test_every_numeric_static_is_standardized_over_the_series():
    """Two numeric statics: each is standardized by its own mean and spread over the series (numpy), not the
    first one's alone."""
    frame = three_series()
    sizes, weights = {"a": 1.0, "b": 2.0, "c": 6.0}, {"a": 30.0, "b": 10.0, "c": 20.0}
    frame = frame.assign(size=frame["id"].map(sizes), weight=frame["id"].map(weights))
    columns = Columns(targets=["y"], static_covariates=["size", "weight"], id_column="id", time_column="time")
    data = TimeSeriesDataModule(frame, 4, 2, columns=columns)
    data.setup("fit")
    for channel, values in enumerate((sizes, weights)):
        column = np.array(list(values.values()))
        expected = (column - column.mean()) / column.std()
        np.testing.assert_allclose(data.static[:, channel].numpy(), expected, rtol=1e-6)


def test_global_min_max_scaling_to_a_range_other_than_0_to_1_equals_scikit_learns():
    """``data.shard: series`` rebuilds MinMaxScaler(feature_range=(-1, 3)) from the minimum and maximum alone."""
    rng = np.random.default_rng(3)
    column = rng.normal(5.0, 2.0, 40)
    fitted = MinMaxScaler(feature_range=(-1, 3)).fit(column[:30, None])
    affine = global_scaling(partial(MinMaxScaler, feature_range=(-1, 3)), [column], np.array([0]), np.array([30]))
    np.testing.assert_allclose(
        affine.transform(column[:, None]), fitted.transform(column[:, None]), rtol=1e-5, atol=1e-6
    )


def holdings(ranks: np.ndarray, parts: np.ndarray, world_size: int) -> list[list[bool]]:
    """Per process, whether its series have windows of each part."""
    return [parts[ranks == rank].any(0).tolist() for rank in range(world_size)]


def test_a_deal_by_parts_that_gives_every_process_every_part_stays_balanced_by_rows():
    """Process 0 takes e (val, test) and c (train): all parts, 100 rows; process 1 the rest, 80 rows. A process
    that took the series with windows of the most parts it already had would hold 40 rows against 140."""
    rows = np.array([30, 40, 50, 10, 50])
    parts = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 1]], dtype=bool)
    ranks = assign_shards(["a", "b", "c", "d", "e"], rows, 2, parts)
    assert holdings(ranks, parts, 2) == [[True] * 3] * 2
    loads = np.bincount(ranks, weights=rows, minlength=2)
    assert loads.tolist() == [100, 80] and np.ptp(loads) <= rows.max()


def two_series(sizes: list) -> pd.DataFrame:
    """Two hourly series a and b of 40 rows, with a static column ``size`` of the values ``sizes``, one per series."""
    times = pd.date_range("2024-01-01", periods=40, freq="h")
    return pd.concat(
        [pd.DataFrame({"id": name, "time": times, "y": np.sin(np.arange(40.0) + i), "size": size})
         for i, (name, size) in enumerate(zip("ab", sizes, strict=True))],
        ignore_index=True,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sizes", "message"),
    [([1.5, "huge"], "holds 'huge' for series 'b'"), (["1.5", True], "holds True for series 'b'")],
    ids=["a word", "a bool"],
)
def test_a_static_column_the_checkpoint_read_as_numbers_with_a_value_of_no_number_asks_for_numbers(sizes, message):
    """A word or a bool among numbers (a bool is no number, though ``float(True)`` reads it): the message names it,
    and asks for the numbers the checkpoint was trained on, not to convert the column with ``pandas.to_numeric``."""
    columns = Columns(targets=["y"], static_covariates=["size"], id_column="id", time_column="time")
    trained = TimeSeriesDataModule(two_series([1.5, 2.5]), 4, 2, columns=columns)
    trained.setup("fit")
    data = TimeSeriesDataModule(two_series(sizes), 4, 2, columns=columns, split=HistorySplit())
    with pytest.raises(ForecastDataError, match=f"{message}: .*; give it the numbers it was trained on$"):
        data.load_state_dict(trained.state_dict())
