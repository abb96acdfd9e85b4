"""``Forecaster.predict`` and ``forecast.spark.predict`` against forecasts computed by hand.

The reference takes each series' last ``lookback`` rows, scales them with scikit-learn scalers fitted on the
training rows (the default split's first 70% of each series), runs the network on the scaled window, and
inverts the scaling with ``inverse_transform``; forecast times come from ``pd.date_range``.
"""

import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.preprocessing import StandardScaler

import forecast
from forecast import Columns, ForecastDataError, Forecaster, Scaling
from forecast.losses import QuantileLoss
from forecast.nn import GRUEncoder

LOOKBACK, HORIZON = 8, 3
TRAIN_SHARE = 0.7  # the default split's training rows of each series


def quiet_trainer(root: Path) -> dict:
    return {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(root),
            "enable_progress_bar": False, "enable_model_summary": False, "logger": False}  # fmt: skip


def fit(frame: pd.DataFrame, root: Path, **data) -> Forecaster:
    """A tiny GRU fitted on ``frame`` for one batch: its forecasts are the network's, whatever they are."""
    model = {"encoder": functools.partial(GRUEncoder, hidden_size=4), **data.pop("model", {})}
    return forecast.fit(
        frame, lookback=LOOKBACK, horizon=HORIZON, data={"batch_size": 16, **data}, model=model,
        trainer=quiet_trainer(root),
    )  # fmt: skip


def three_series() -> pd.DataFrame:
    """Hourly series "a", "b" and "c" of 60, 45 and 80 rows at different levels, from one start."""
    rng = np.random.default_rng(0)
    parts = [
        pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"),
                      "y": level + np.sin(np.arange(rows) / 3) + 0.1 * rng.standard_normal(rows)})
        for name, rows, level in [("a", 60, 0.0), ("b", 45, 10.0), ("c", 80, -3.0)]
    ]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def training_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([rows.iloc[: int(len(rows) * TRAIN_SHARE)] for _, rows in frame.groupby("id", sort=False)])


def network(model: Forecaster, past: np.ndarray, future: np.ndarray | None = None) -> np.ndarray:
    """The model's loss parameters for one scaled window, (H, C_out, P)."""
    model.eval()
    future = np.zeros((HORIZON, 0)) if future is None else future
    with torch.no_grad():
        params = model(torch.tensor(past, dtype=torch.float32)[None], torch.tensor(future, dtype=torch.float32)[None],
                       torch.zeros(1, 0))  # fmt: skip
    return params[0].double().numpy()


def hand_forecast(model: Forecaster, history: pd.DataFrame, scalers: dict) -> pd.DataFrame:
    """Per series of ``history`` (sorted by time): its last lookback targets scaled with ``scalers[id]``, the network,
    inverse-scaled; times: the next ``HORIZON`` hours."""
    parts = []
    for name, rows in history.groupby("id", sort=False):
        scaler = scalers[name]
        params = network(model, scaler.transform(rows[["y"]].iloc[-LOOKBACK:]))
        times = pd.date_range(rows["time"].iloc[-1], periods=HORIZON + 1, freq="h")[1:]
        parts.append(pd.DataFrame({"id": name, "time": times, "y": scaler.inverse_transform(params[..., 0])[:, 0]}))
    return pd.concat(parts, ignore_index=True)


def by_series(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(id=table["id"].astype(str)).sort_values(["id", "time"], ignore_index=True)


@pytest.fixture(scope="module")
def per_series(tmp_path_factory):
    """A GRU scaled per series on three series of unequal length, and each series' scaler fitted by hand."""
    frame = three_series()
    root = tmp_path_factory.mktemp("per_series")
    model = fit(frame, root, scaling=Scaling(per_series=True))
    scalers = {name: StandardScaler().fit(rows[["y"]]) for name, rows in training_rows(frame).groupby("id")}
    model.checkpoint_file = next(root.rglob("last.ckpt"))
    return model, frame, scalers


def test_predict_equals_the_hand_computation_for_series_of_unequal_length(per_series):
    model, frame, scalers = per_series
    table = model.predict(frame)
    assert list(table.columns) == ["id", "time", "y"] and isinstance(table.index, pd.RangeIndex)
    assert table.groupby("id").size().to_dict() == {"a": HORIZON, "b": HORIZON, "c": HORIZON}
    pd.testing.assert_frame_equal(by_series(table), hand_forecast(model, frame, scalers), check_dtype=False, rtol=1e-5)


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda frame: frame.assign(note="x", extra=1.0), id="extra columns"),
        pytest.param(lambda frame: frame.sort_values(["time", "id"], kind="stable"), id="series interleaved"),
        pytest.param(lambda frame: frame.iloc[::-1].sort_values("time", kind="stable"), id="series in reverse order"),
        pytest.param(lambda frame: frame.set_index(["id", "time"]), id="id and time index levels"),
        pytest.param(lambda frame: frame.set_index("time"), id="time index"),
        pytest.param(lambda frame: frame.assign(id=frame["id"].astype("category")), id="categorical ids"),
        pytest.param(lambda frame: frame.assign(id=frame["id"].astype(object)), id="object ids"),
        pytest.param(lambda frame: frame.groupby("id").tail(LOOKBACK), id="last lookback rows only"),
        pytest.param(lambda frame: frame.assign(time=frame["time"].astype(str)), id="text times"),
    ],
)
def test_predict_of_the_same_history_in_another_layout_gives_the_same_forecasts(per_series, layout):
    model, frame, scalers = per_series
    table = model.predict(layout(frame))
    pd.testing.assert_frame_equal(by_series(table), hand_forecast(model, frame, scalers), check_dtype=False, rtol=1e-5)


def test_predict_of_shuffled_rows_names_the_series_and_says_to_sort(per_series):
    model, frame, _ = per_series
    with pytest.raises(ForecastDataError, match=r"time goes backwards at series '[abc]', .*; sort the frame by time"):
        model.predict(frame.sample(frac=1, random_state=1))


def test_predict_scales_a_new_series_on_its_whole_history_beside_known_ones(per_series):
    model, frame, scalers = per_series
    new = pd.DataFrame({"id": "z", "time": pd.date_range("2024-02-01", periods=30, freq="h"),
                        "y": 50 + 3 * np.cos(np.arange(30))})  # fmt: skip
    history = pd.concat([frame[frame["id"] == "c"], new, frame[frame["id"] == "a"]], ignore_index=True)
    with pytest.warns(UserWarning, match=r"1 series the checkpoint does not know \('z'\)"):
        table = model.predict(history)
    own = scalers | {"z": StandardScaler().fit(new[["y"]])}
    expected = by_series(hand_forecast(model, history, own))
    pd.testing.assert_frame_equal(by_series(table), expected, check_dtype=False, rtol=1e-5)


def test_predict_keeps_the_type_of_integer_ids_and_the_unit_of_the_times(per_series):
    model, frame, _ = per_series
    history = frame.assign(id=frame["id"].map({"a": 1, "b": 2, "c": 3}).astype("int32"),
                           time=frame["time"].astype("datetime64[s]"))  # fmt: skip
    with pytest.warns(UserWarning, match="series the checkpoint does not know"):
        table = model.predict(history)
    assert table.dtypes.to_dict() == {"id": np.dtype("int32"), "time": np.dtype("datetime64[s]"),
                                      "y": np.dtype("float64")}  # fmt: skip


def test_predict_of_a_series_shorter_than_the_lookback_names_it_and_the_fix(per_series):
    model, frame, _ = per_series
    history = pd.concat([frame[frame["id"] != "b"], frame[frame["id"] == "b"].tail(5)])
    with pytest.raises(ForecastDataError, match=r"1 series shorter than lookback = 8 rows: 'b' \(5 rows\); give each"):
        model.predict(history)


@pytest.mark.parametrize("horizon", [1, 2])
def test_predict_a_shorter_horizon_gives_the_first_steps_of_each_series(per_series, horizon):
    model, frame, _ = per_series
    expected = model.predict(frame).groupby("id").head(horizon).reset_index(drop=True)
    pd.testing.assert_frame_equal(model.predict(frame, horizon=horizon), expected)


@pytest.mark.parametrize("period", [1, 3])
def test_a_checkpoint_that_fell_back_to_a_naive_forecast_predicts_it(per_series, tmp_path, period):
    """``naive_comparison.fallback`` records the period in the checkpoint; predict repeats the last ``period`` values
    of each series in original units (a hand loop over the history)."""
    model, frame, _ = per_series
    checkpoint = torch.load(model.checkpoint_file, weights_only=True)
    torch.save(checkpoint | {"naive_fallback": period}, tmp_path / "fallback.ckpt")
    table = Forecaster.load(tmp_path / "fallback.ckpt").predict(frame)
    expected = [rows["y"].iloc[-period:].iloc[step % period] for _, rows in frame.groupby("id") for step in
                range(HORIZON)]  # fmt: skip
    np.testing.assert_allclose(table["y"], expected, rtol=1e-6)


@pytest.mark.parametrize("policy", ["ffill", "interpolate", "zero"])
def test_missing_values_in_the_last_lookback_rows_are_repaired_as_the_nan_policy_says(tmp_path, policy):
    """Forecasts of history with NaN (inside the window, and a series' last two targets) equal those of the
    history repaired by pandas: ffill, linear interpolation (the last value carried past the end), or 0."""
    frame = three_series()
    model = fit(frame, tmp_path, scaling=Scaling(per_series=True), nan_policy=policy)
    scalers = {name: StandardScaler().fit(rows[["y"]]) for name, rows in training_rows(frame).groupby("id")}
    gaps = frame.copy()
    a, b = (gaps.index[gaps["id"] == name] for name in ("a", "b"))
    gaps.loc[[a[-3], b[-2], b[-1]], "y"] = np.nan
    targets = gaps.groupby("id")["y"]
    repaired = {"ffill": targets.ffill(), "zero": gaps["y"].fillna(0.0),
                "interpolate": targets.transform(lambda y: y.interpolate(limit_direction="both"))}  # fmt: skip
    expected = hand_forecast(model, gaps.assign(y=repaired[policy]), scalers)
    table = model.predict(gaps)
    pd.testing.assert_frame_equal(by_series(table), expected, check_dtype=False, rtol=1e-5)


@pytest.fixture(scope="module")
def with_future(tmp_path_factory):
    """A GRU reading a future covariate ``price`` (one scaler for all series), and history ending in the horizon's
    rows of ``price`` with empty targets."""
    frame = three_series()
    frame["price"] = np.cos(np.arange(len(frame)) / 5)
    columns = Columns(targets=["y"], future_covariates=["price"])
    root = tmp_path_factory.mktemp("future")
    model = fit(frame, root, columns=columns)
    model.checkpoint_file = next(root.rglob("last.ckpt"))
    last = frame.groupby("id").cumcount(ascending=False) < HORIZON
    return model, frame, frame.assign(y=frame["y"].mask(last))


def test_predict_with_future_covariates_equals_the_hand_computation(with_future):
    model, frame, history = with_future
    train = training_rows(frame)
    targets, prices = StandardScaler().fit(train[["y"]]), StandardScaler().fit(train[["price"]])
    parts = []
    for name, rows in history.groupby("id", sort=False):
        past, future = rows.iloc[:-HORIZON], rows.iloc[-HORIZON:]
        params = network(model, targets.transform(past[["y"]].iloc[-LOOKBACK:]), prices.transform(future[["price"]]))
        parts.append(pd.DataFrame({"id": name, "time": future["time"].to_numpy(),
                                   "y": targets.inverse_transform(params[..., 0])[:, 0]}))  # fmt: skip
    table = model.predict(history)
    pd.testing.assert_frame_equal(table, pd.concat(parts, ignore_index=True), check_dtype=False, rtol=1e-5)


def test_predict_reads_the_future_covariates_of_the_trained_horizon_also_for_a_shorter_one(with_future):
    model, _, history = with_future
    table = model.predict(history, horizon=2)
    pd.testing.assert_frame_equal(table, model.predict(history).groupby("id").head(2).reset_index(drop=True))
    with pytest.raises(ForecastDataError, match=r"series 'a' gives future covariates \['price'\] for 2 of the 3 steps"):
        model.predict(history.groupby("id").head(-1), horizon=2)


@pytest.mark.parametrize(
    "drop",
    [lambda history: history.dropna(subset="y"), lambda history: history.groupby("id").head(-1)],
    ids=["no future rows", "one future row short"],
)
def test_predict_without_the_horizons_future_covariates_says_to_append_them(with_future, drop):
    model, _, history = with_future
    message = (
        r"series 'a' gives future covariates \['price'\] for [02] of the 3 steps after its last target; "
        r"to forecast, append 3 rows with the future covariates"
    )
    with pytest.raises(ForecastDataError, match=message):
        model.predict(drop(history))


def test_quantile_columns_are_each_targets_levels_in_original_units(tmp_path):
    frame = three_series().assign(z=lambda rows: 100 + 20 * np.cos(np.arange(len(rows)) / 4))
    levels = (0.1, 0.5, 0.9)
    model = fit(frame, tmp_path, columns=Columns(targets=["y", "z"]), model={"loss": QuantileLoss(levels=levels)})
    scaler = StandardScaler().fit(training_rows(frame)[["y", "z"]])
    parts = []
    for _, rows in frame.groupby("id", sort=False):
        params = network(model, scaler.transform(rows[["y", "z"]].iloc[-LOOKBACK:]))  # -> (H, 2, Q)
        quantiles = [scaler.inverse_transform(params[..., level]) for level in range(len(levels))]  # Q x (H, 2)
        part = {"y": quantiles[1][:, 0], "z": quantiles[1][:, 1]}  # the median is the point forecast
        part |= {f"{target}_q{level:g}": quantiles[q][:, c] for c, target in enumerate("yz")
                 for q, level in enumerate(levels)}  # fmt: skip
        parts.append(pd.DataFrame(part))
    table = model.predict(frame)
    assert list(table.columns) == ["id", "time", "y", "z", "y_q0.1", "y_q0.5", "y_q0.9", "z_q0.1", "z_q0.5", "z_q0.9"]
    pd.testing.assert_frame_equal(table.iloc[:, 2:], pd.concat(parts, ignore_index=True), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("start", "freq", "zone"),
    [
        ("2024-01-31", "ME", None),
        ("2024-01-31 12:00", "ME", "Europe/Berlin"),
        ("2024-01-05", "BME", None),
        ("2024-01-01 09:00", "B", "America/New_York"),
        ("2024-01-01", "QS", None),
        ("2024-01-07", "W", "Europe/Berlin"),
        ("2024-01-01 08:00", "bh", None),
        ("2024-03-01 01:30", "h", "America/New_York"),
    ],
)
def test_forecast_times_are_the_next_steps_of_each_series_frequency(fit_last_value, tmp_path, start, freq, zone):
    """Two series ending at different times; the naive model forecasts each one's last value."""
    times = pd.date_range(start, periods=40, freq=freq, tz=zone)
    frame = pd.concat([pd.DataFrame({"id": name, "time": times[: 40 - 3 * i], "y": np.arange(40.0 - 3 * i) + 10 * i})
                       for i, name in enumerate(["p", "q"])], ignore_index=True)  # fmt: skip
    table = Forecaster.load(fit_last_value(frame, tmp_path, 4, HORIZON)).predict(frame)
    for name, rows in frame.groupby("id"):
        forecasts = table[table["id"] == name]
        expected = pd.date_range(rows["time"].iloc[-1], periods=HORIZON + 1, freq=freq)[1:]
        pd.testing.assert_index_equal(
            pd.DatetimeIndex(forecasts["time"]), expected, check_names=False, check_freq=False
        )
        np.testing.assert_allclose(forecasts["y"], rows["y"].iloc[-1])


# Spark: a job starts Python workers that import torch (seconds), so every test here is slow.


@pytest.fixture(scope="module")
def spark_checkpoint(tmp_path_factory):
    """Seven int32-id series of 20 to 50 rows and a checkpoint scaled per series; four more series it never saw."""
    rng = np.random.default_rng(0)
    parts = [
        pd.DataFrame({"id": np.int32(10 * k), "time": pd.date_range("2024-01-01", periods=20 + 5 * k, freq="h")
                      + pd.Timedelta(hours=k), "y": k + np.sin(np.arange(20 + 5 * k) / 3)
                      + 0.1 * rng.standard_normal(20 + 5 * k)})
        for k in range(11)
    ]  # fmt: skip
    frame = pd.concat(parts, ignore_index=True)
    root = tmp_path_factory.mktemp("spark")
    fit(frame[frame["id"] < 70], root, scaling=Scaling(per_series=True))
    return frame, next(root.rglob("last.ckpt"))


@pytest.mark.slow
@pytest.mark.parametrize(("num_partitions", "rows_per_call"), [(3, 7), (20, 100_000)], ids=["straddling", "empty"])
def test_spark_predict_equals_predict_across_partitions_with_its_dtypes(
    session, spark_checkpoint, num_partitions, rows_per_call
):
    """Eleven series over three partitions, each forecast in calls of a few rows (series straddle calls), or over
    twenty partitions, most of them holding no series; the schema gives back predict's dtypes."""
    from forecast import spark
    from forecast.partition import load_cached

    frame, checkpoint = spark_checkpoint
    with pytest.warns(UserWarning, match="series the checkpoint does not know"):
        expected = load_cached(checkpoint).predict(frame)
    result = spark.predict(session.createDataFrame(frame), checkpoint, num_partitions=num_partitions,
                           rows_per_call=rows_per_call).toPandas()  # fmt: skip
    assert result.dtypes.to_dict() == expected.dtypes.to_dict()
    ordered = result.sort_values(["id", "time"], ignore_index=True)
    pd.testing.assert_frame_equal(ordered, expected.sort_values(["id", "time"], ignore_index=True), rtol=1e-5)


@pytest.mark.slow
def test_spark_predict_of_future_covariates_and_a_shorter_horizon_equals_predict(session, with_future):
    from forecast import spark

    model, _, history = with_future
    result = spark.predict(session.createDataFrame(history), model.checkpoint_file, horizon=2).toPandas()
    expected = model.predict(history, horizon=2)
    pd.testing.assert_frame_equal(result.sort_values(["id", "time"], ignore_index=True), expected, check_dtype=False,
                                  rtol=1e-5)  # fmt: skip
