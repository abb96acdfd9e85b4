"""A pipeline's journey through ``forecast.fit`` then ``Forecaster.load(checkpoint).predict(frame)``.

The model is the naive forecast (``IdentityEncoder`` + ``LastValueHead``, no weights): every forecast is the
series' last observed value in original units, so each table is checked against a reference made by hand.
"""

import numpy as np
import pandas as pd
import pytest

import forecast
from forecast import Calendar, Columns, ForecastDataError, Forecaster, Scaling
from forecast.nn import IdentityEncoder, LastValueHead

NAIVE = {"encoder": IdentityEncoder, "head": LastValueHead}
LOOKBACK, HORIZON = 8, 3


def quick_trainer(root) -> dict:
    """One batch of one epoch: the naive model has no weights, the fit only records the data state."""
    return {
        "max_epochs": 1,
        "limit_train_batches": 1,
        "limit_val_batches": 1,
        "default_root_dir": str(root),
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
    }


def history(ids, periods: int = 40, ends=None, levels=None, tz=None) -> pd.DataFrame:
    """Hourly series ``y = level * (row + 100 * i)`` ending at 2024-03-01 plus ``ends[i]`` hours, with a covariate."""
    frames = []
    for i, name in enumerate(ids):
        end = pd.Timestamp("2024-03-01") + pd.Timedelta(hours=ends[i] if ends else 0)
        times = pd.date_range(end=end, periods=periods, freq="h", tz=tz)
        level = levels[i] if levels else 1.0
        y = level * (np.arange(periods) + 100.0 * i)
        frames.append(pd.DataFrame({"id": name, "time": times, "y": y, "temp": np.cos(np.arange(periods))}))
    return pd.concat(frames, ignore_index=True)


def naive_reference(frame: pd.DataFrame) -> pd.DataFrame:
    """The naive forecast by hand: each series' last target, for HORIZON hours after its last row."""
    rows = []
    for name, series in frame.groupby("id", sort=False):
        last = series.dropna(subset="y").iloc[-1]
        times = pd.date_range(last["time"], periods=HORIZON + 1, freq="h")[1:]
        rows.append(pd.DataFrame({"id": name, "time": times, "y": last["y"]}))
    return pd.concat(rows, ignore_index=True).astype({"id": frame["id"].dtype, "time": frame["time"].dtype})


def fit_naive(frame: pd.DataFrame, root, **data) -> Forecaster:
    data = {"batch_size": 16} | data
    forecast.fit(frame, lookback=LOOKBACK, horizon=HORIZON, data=data, model=NAIVE, trainer=quick_trainer(root))
    return Forecaster.load(next(root.rglob("last.ckpt")))  # what a pipeline loads: the file, not fit's object


@pytest.fixture(scope="module")
def per_series(tmp_path_factory):
    """Three int-id series on scales 1, 1000 and 0.01, scaled per series."""
    frame = history([10, 20, 30], levels=[1.0, 1000.0, 0.01]).drop(columns="temp")
    return fit_naive(frame, tmp_path_factory.mktemp("per_series"), scaling=Scaling(per_series=True))


def test_series_of_other_lengths_end_times_and_order_are_forecast_after_their_own_last_row(per_series):
    frame = history([30, 10, 20], ends=[-5, 0, 7], levels=[0.01, 1.0, 1000.0]).drop(columns="temp")
    frame = frame.drop(frame.index[:12])  # series 30 is shorter than the others
    table = per_series.predict(frame)
    pd.testing.assert_frame_equal(table, naive_reference(frame), rtol=1e-6)


def test_an_unseen_series_is_scaled_on_its_own_history_and_named_in_a_warning(per_series):
    frame = history([10, 99], levels=[1.0, 5000.0]).drop(columns="temp")
    with pytest.warns(UserWarning, match=r"1 series the checkpoint does not know \('99'\)"):
        table = per_series.predict(frame)
    pd.testing.assert_frame_equal(table, naive_reference(frame), rtol=1e-6)


def test_extra_columns_in_another_order_change_nothing(per_series):
    frame = history([10, 20], levels=[1.0, 1000.0]).drop(columns="temp")
    shuffled = frame.assign(note="unused", temp=1.0)[["y", "note", "time", "temp", "id"]]
    pd.testing.assert_frame_equal(per_series.predict(shuffled), per_series.predict(frame))
    pd.testing.assert_frame_equal(per_series.predict(frame), naive_reference(frame), rtol=1e-6)


def test_a_subset_of_categorical_ids_forecasts_only_the_series_present(per_series):
    """A pipeline's slice of a categorical id column keeps the unused categories: they are no series."""
    whole = history([10, 20, 30], levels=[1.0, 1000.0, 0.01]).drop(columns="temp").astype({"id": "category"})
    frame = whole[whole["id"] != 20]
    table = per_series.predict(frame)
    assert table["id"].dtype == frame["id"].dtype  # joins back onto the history
    pd.testing.assert_frame_equal(table, naive_reference(frame), rtol=1e-6)


@pytest.fixture(scope="module")
def with_future(tmp_path_factory):
    frame = history(["a", "b"])
    columns = Columns(targets=["y"], future_covariates=["temp"])
    return fit_naive(frame, tmp_path_factory.mktemp("future"), columns=columns)


def future_rows(ids, steps: int) -> pd.DataFrame:
    times = pd.date_range("2024-03-01 01:00", periods=steps, freq="h")
    return pd.concat([pd.DataFrame({"id": name, "time": times, "temp": 0.5}) for name in ids], ignore_index=True)


@pytest.mark.parametrize("steps", [HORIZON, HORIZON + 2], ids=["the horizon", "rows beyond it"])
def test_forecasts_start_after_the_last_target_before_the_future_covariates_rows(with_future, steps):
    frame = history(["a", "b"])
    table = with_future.predict(pd.concat([frame, future_rows("ab", steps)], ignore_index=True))
    pd.testing.assert_frame_equal(table, naive_reference(frame), rtol=1e-6)


@pytest.mark.parametrize(("ids", "steps", "named"), [("ab", 2, "'a'"), ("a", HORIZON, "'b'")], ids=["few", "lacking"])
def test_missing_future_covariates_name_the_series_and_the_rows_to_append(with_future, ids, steps, named):
    frame = pd.concat([history(["a", "b"]), future_rows(ids, steps)], ignore_index=True)
    with pytest.raises(
        ForecastDataError, match=rf"series {named} gives future covariates \['temp'\] for \d of the 3 .*append 3 rows"
    ):
        with_future.predict(frame)


def test_missing_last_targets_are_repaired_by_the_checkpoints_policy_or_named(tmp_path):
    frame = history(["a", "b"]).drop(columns="temp")
    frame.loc[[38, 39], "y"] = np.nan  # the last two targets of series a
    ffill = fit_naive(frame, tmp_path / "ffill", nan_policy="ffill")
    expected = naive_reference(frame.ffill())  # after series a's last row, from its row 37
    pd.testing.assert_frame_equal(ffill.predict(frame), expected, rtol=1e-6)
    strict = fit_naive(frame.dropna(), tmp_path / "strict")
    with pytest.raises(ForecastDataError, match=r"value nan at column 'y', series 'a', row 38.*nan_policy 'error'"):
        strict.predict(frame)


def test_history_in_another_time_zone_is_forecast_at_the_same_instants(tmp_path):
    frame = history(["a", "b"], tz="UTC").drop(columns="temp")
    model = fit_naive(frame, tmp_path, calendar=Calendar(features=["hour"]))
    tokyo = frame.assign(time=frame["time"].dt.tz_convert("Asia/Tokyo"))
    pd.testing.assert_frame_equal(model.predict(tokyo), naive_reference(frame), rtol=1e-6)


def test_business_day_forecasts_keep_the_unit_of_the_history_times(tmp_path):
    """Times in seconds (a Parquet file's timestamp[s]) were forecast in microseconds."""
    times = pd.date_range("2024-01-01", periods=40, freq="B").as_unit("s")  # ends on Friday 2024-02-23
    frame = pd.DataFrame({"id": "a", "time": times, "y": np.arange(40.0)})
    table = fit_naive(frame, tmp_path).predict(frame)
    expected = pd.DatetimeIndex(["2024-02-26", "2024-02-27", "2024-02-28"]).as_unit("s")  # Monday on
    pd.testing.assert_series_equal(table["time"], pd.Series(expected, name="time"))


def test_a_wide_frame_keeps_its_series_name_and_column_order(tmp_path):
    times = pd.date_range("2024-01-01", periods=40, freq="D")
    wide = pd.DataFrame({"y": 2.0 * np.arange(40), "x": np.arange(40.0)}, index=times)
    model = fit_naive(wide, tmp_path)
    table = model.predict(wide[["x", "y"]].assign(extra=0.0))
    expected = pd.DataFrame({"time": pd.date_range("2024-02-10", periods=HORIZON, freq="D"), "y": 78.0, "x": 39.0})
    assert table["id"].tolist() == model.data_state["series"] * HORIZON  # the name it trained under
    pd.testing.assert_frame_equal(table.drop(columns="id"), expected, rtol=1e-6)


def test_an_unseen_series_with_a_known_static_category_is_forecast_an_unknown_one_named(tmp_path):
    frame = history(["a", "b"]).assign(region=lambda rows: rows["id"].map({"a": "north", "b": "south"}))
    columns = Columns(targets=["y"], static_covariates=["region"])
    model = fit_naive(frame, tmp_path, columns=columns, scaling=Scaling(per_series=True))
    new = history(["new"]).assign(region="south")
    with pytest.warns(UserWarning, match="'new'"):
        pd.testing.assert_frame_equal(model.predict(new), naive_reference(new), rtol=1e-6)
    east = pytest.raises(ForecastDataError, match=r"'region' of series 'new' is 'east', a category .* map it")
    with pytest.warns(UserWarning, match="'new'"), east:
        model.predict(new.assign(region="east"))


@pytest.mark.parametrize(
    ("group", "options", "message"),
    [
        ("data", {"lookback": 4}, r"data sets 'lookback', which fit sets itself; pass it once, as forecast.fit\("),
        ("data", {"source": "etth1"}, r"data sets 'source', .* pass the data as fit's first argument"),
        ("model", {"horizon": 2}, r"model sets 'horizon', .* as forecast.fit\(\.\.\., horizon=\.\.\.\)"),
        ("model", {"input_size": 3}, r"model sets 'input_size', .* sets it from the data .* drop it from model"),
        ("data", Columns(targets=["y"]), r"data is a Columns; give a dict of keyword arguments"),
    ],
    ids=["data-lookback", "data-source", "model-horizon", "model-size", "data-not-a-dict"],
)
def test_fit_refuses_a_group_that_sets_its_own_arguments_naming_the_group_and_the_fix(
    tmp_path, group, options, message
):
    arguments = {"data": None, "model": NAIVE} | {group: options}
    with pytest.raises(TypeError, match=f"^forecast.fit's {message}"):
        forecast.fit(history(["a"]), lookback=LOOKBACK, horizon=HORIZON, trainer=quick_trainer(tmp_path), **arguments)


@pytest.fixture(scope="module")
def zero_filled(tmp_path_factory):
    """Scaled per series, with a past covariate, and missing values read as zeros."""
    columns = Columns(targets=["y"], past_covariates=["temp"])
    root = tmp_path_factory.mktemp("zero_filled")
    return fit_naive(history(["a", "b"]), root, columns=columns, scaling=Scaling(per_series=True), nan_policy="zero")


@pytest.mark.parametrize("column", ["y", "temp"], ids=["target", "past covariate"])
def test_an_unseen_series_without_values_of_a_column_is_named_with_the_fix_at_predict(zero_filled, column):
    frame = history(["a", "new"])
    frame.loc[frame["id"] == "new", column] = np.nan  # no value to fit the new series' own scaler of the column
    unfitted = pytest.raises(
        ForecastDataError,
        match=rf"^series 'new' is not one the checkpoint knows, and column '{column}' has no value in its history "
        r"to fit its own scaler \(the checkpoint scales each series on its own\); give the series values in its "
        r"history, or leave it out$",
    )
    with pytest.warns(UserWarning, match="'new'"), unfitted:
        zero_filled.predict(frame)


def test_a_known_series_without_covariate_values_keeps_the_checkpoints_scaler_beside_an_unseen_one(zero_filled):
    frame = history(["a", "new"])
    frame.loc[frame["id"] == "a", "temp"] = np.nan  # series 'a' has its scaler of 'temp' from the checkpoint
    with pytest.warns(UserWarning, match="'new'"):
        table = zero_filled.predict(frame)
    pd.testing.assert_frame_equal(table, naive_reference(frame), rtol=1e-6)
