"""Backtests and covariates against hand references: every origin, window input, metric and covariate that a
backtest gives, computed again with pandas, numpy and scikit-learn on small generated frames."""

import datetime
import functools
import json
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from forecast import Calendar, Columns, Forecaster, Scaling, TimeSeriesDataModule
from forecast.backtest import backtest_loader, backtest_windows
from forecast.data import FractionSplit
from forecast.data.calendar import wall_clock_range
from forecast.nn import GRUEncoder, IdentityEncoder, LinearHead, LookbackLinearHead, SeasonalNaiveHead
from forecast.nn.channels import merge_channels, split_channels
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer

LOOKBACK, HORIZON, PERIOD = 8, 4, 3
SERIES = [("A", "2024-01-01 00:00", 200, "north", 1.5), ("B", "2024-01-03 05:00", 150, "south", 3.0)]
QUIET = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}


def _frame() -> pd.DataFrame:
    """Two hourly series of unequal lengths and starts: a random-walk target ``y``, a past covariate ``load``, a
    future covariate ``price``, a categorical static ``region`` and a numeric one ``size``."""
    rng = np.random.default_rng(0)
    parts = [
        pd.DataFrame({"id": name, "time": pd.date_range(start, periods=rows, freq="h"),
                      "y": 50 * size + rng.normal(0, 2, rows).cumsum(), "load": rng.normal(5, 1, rows),
                      "price": rng.normal(50, 5, rows), "region": region, "size": size})
        for name, start, rows, region, size in SERIES
    ]  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def _series(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {name: rows.reset_index(drop=True) for name, rows in frame.groupby("id", sort=False)}


def _training_rows(rows: int) -> int:
    """The training rows of a series of ``rows`` under ``FractionSplit(val=0.1, test=0.2)``."""
    return rows - int(rows * 0.2) - int(rows * 0.1)


def _first_row(times: pd.Series, start: int | str) -> int:
    """A backtest's first forecast step in a series, by hand: a row (negative: from the end) or a time."""
    if isinstance(start, str):
        return int(np.searchsorted(times, pd.Timestamp(start)))
    return start if start >= 0 else len(times) + start


@pytest.fixture(scope="module")
def seasonal_naive_backtest(tmp_path_factory):
    """A seasonal naive forecast (period 3) backtested from three starts, 7 rows apart (7 divides neither series'
    rows): per start, its forecasts.csv, its returned metrics and its metrics_by_horizon.csv."""
    frame = _frame()[["id", "time", "y"]]
    runs = {}
    for start in (LOOKBACK, -HORIZON, "2024-01-08 03:00"):  # the first and the last possible origin, a time
        root = tmp_path_factory.mktemp("backtest")
        data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, split=FractionSplit(val=0.1, test=0.2))
        model = Forecaster(lookback=LOOKBACK, horizon=HORIZON, input_size=1, target_size=1, encoder=IdentityEncoder,
                           head=functools.partial(SeasonalNaiveHead, period=PERIOD))  # fmt: skip
        trainer = ForecastTrainer(default_root_dir=root, callbacks=[EvaluationReport(num_plots=0)], **QUIET)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the in-sample warning of a start in the training rows
            (metrics,) = trainer.backtest(model, data, start=start, stride=7, verbose=False)
        table = pd.read_csv(root / "forecasts.csv", parse_dates=["origin", "time"])
        runs[start] = table, metrics, pd.read_csv(root / "metrics_by_horizon.csv")
    return frame, runs


def _hand_backtest(frame: pd.DataFrame, start: int | str) -> pd.DataFrame:
    """Every window of the backtest by a hand loop: each origin 7 rows apart while a horizon fits, the value one
    period before each step (the last period repeated), the actual value of each step."""
    rows = []
    for name, series in _series(frame).items():
        y, times = series["y"].to_numpy(), series["time"]
        for origin in range(_first_row(times, start), len(y) - HORIZON + 1, 7):
            season = y[origin - PERIOD : origin]
            for step in range(HORIZON):
                rows.append((name, times[origin - 1], times[origin + step], step + 1, season[step % PERIOD],
                             y[origin + step]))  # fmt: skip
    return pd.DataFrame(rows, columns=["id", "origin", "time", "step", "y", "y_actual"])


@pytest.mark.parametrize("start", [LOOKBACK, -HORIZON, "2024-01-08 03:00"])
def test_backtest_forecasts_are_a_hand_loops_over_every_origin(seasonal_naive_backtest, start):
    """From the first possible origin (row lookback), the last possible one (a horizon before each series' end) and a
    time, with a stride that divides neither series: the same windows, origins, steps, forecasts and actual values,
    in original units, as a hand loop over each series."""
    frame, runs = seasonal_naive_backtest
    table = runs[start][0]
    assert list(table.columns) == ["window", "id", "origin", "time", "step", "y", "y_actual"]
    expected = _hand_backtest(frame, start)
    assert list(table["window"]) == list(np.repeat(np.arange(len(expected) // HORIZON), HORIZON))
    pd.testing.assert_frame_equal(table.drop(columns="window"), expected, check_dtype=False, rtol=1e-5)


@pytest.mark.parametrize("start", [LOOKBACK, -HORIZON, "2024-01-08 03:00"])
def test_backtest_metrics_overall_and_per_step_are_numpys(seasonal_naive_backtest, start):
    """Each metric in original units, overall and per horizon step, against numpy on the hand loop's windows;
    MASE's scale per series is the mean absolute one-step change of its training rows."""
    frame, runs = seasonal_naive_backtest
    _, metrics, by_horizon = runs[start]
    expected = _hand_backtest(frame, start)
    scales = {name: np.abs(np.diff(s["y"][: _training_rows(len(s))])).mean() for name, s in _series(frame).items()}
    expected["scale"] = expected["id"].map(scales)

    def numpy_metrics(windows: pd.DataFrame) -> dict[str, float]:
        error = windows["y"] - windows["y_actual"]
        return {
            "mse": (error**2).mean(), "mae": error.abs().mean(), "rmse": np.sqrt((error**2).mean()),
            "mape": (error.abs() / windows["y_actual"].abs()).mean(),
            "smape": (2 * error.abs() / (windows["y"].abs() + windows["y_actual"].abs())).mean(),
            "mase": (error.abs() / windows["scale"]).mean(),
        }  # fmt: skip

    for name, value in numpy_metrics(expected).items():
        assert metrics[f"test/{name}_orig"] == pytest.approx(value, rel=1e-5), name
    original = by_horizon[(by_horizon["units"] == "original") & (by_horizon["target"] == "y")].set_index("step")
    for step, windows in expected.groupby("step"):
        for name, value in numpy_metrics(windows).items():
            assert original.loc[step, name] == pytest.approx(value, rel=1e-5), (step, name)


def _missing_frame() -> pd.DataFrame:
    """``_frame``'s target and past covariate with gaps inside the parts (none crossing a part's border): at a
    series' start, in training, and in the test part across the backtest's origins."""
    frame = _frame()[["id", "time", "y", "load"]]
    gaps = [("A", "y", 3, 6), ("A", "y", 165, 169), ("A", "load", 170, 174), ("A", "y", 197, 200),
            ("B", "y", 0, 3), ("B", "load", 134, 138), ("B", "y", 141, 145)]  # fmt: skip
    for name, column, first, end in gaps:
        frame.loc[frame.index[frame["id"] == name][first:end], column] = np.nan
    return frame


def _repaired(known: pd.DataFrame, nan_policy: str) -> pd.DataFrame:
    """A series' rows before an origin, repaired as if it ended there: pandas' fill, leading values the first."""
    if nan_policy == "zero":
        return known.fillna(0.0)
    return (known.ffill() if nan_policy == "ffill" else known.interpolate()).bfill()


@pytest.mark.parametrize("per_series", [False, True])
@pytest.mark.parametrize("nan_policy", ["ffill", "interpolate", "zero"])
def test_backtest_inputs_are_each_series_cut_at_its_origin_repaired_and_scaled_on_its_training_rows(
    nan_policy, per_series
):
    """Every window from row 140 on, three rows apart: its inputs are the series cut at the origin, repaired by pandas,
    scaled by scikit-learn's StandardScaler fitted on the values given in the training rows (of each series, or of
    both); its targets the values at and after the origin, those missing unscored."""
    frame = _missing_frame()
    columns = Columns(targets=["y"], past_covariates=["load"])
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=columns, split=FractionSplit(val=0.1, test=0.2),
                                nan_policy=nan_policy, scaling=Scaling(per_series=per_series))  # fmt: skip
    data.setup("backtest")
    windows = backtest_windows(data, start=140, stride=3)
    batches = list(backtest_loader(data, windows))
    past, target = torch.cat([b.past for b in batches]), torch.cat([b.target for b in batches])
    observed = torch.cat([b.observed for b in batches])
    series = _series(frame)
    window = 0
    for name, rows in series.items():
        fitted = [series[other] for other in ([name] if per_series else series)]
        training = pd.concat([s.iloc[: _training_rows(len(s))] for s in fitted])
        scalers = {column: StandardScaler().fit(training[[column]].dropna()) for column in ("y", "load")}
        for origin in range(140, len(rows) - HORIZON + 1, 3):
            known = _repaired(rows[["y", "load"]].iloc[:origin], nan_policy)[-LOOKBACK:]
            inputs = np.hstack([scalers[c].transform(known[[c]]) for c in ("y", "load")])
            np.testing.assert_allclose(past[window], inputs, atol=1e-5, err_msg=f"{name} origin {origin}")
            actual = rows["y"].iloc[origin : origin + HORIZON].to_numpy()
            given = ~np.isnan(actual)
            np.testing.assert_array_equal(observed[window, :, 0], given)
            scaled = (actual[given] - scalers["y"].mean_[0]) / scalers["y"].scale_[0]
            np.testing.assert_allclose(target[window, :, 0][given], scaled, atol=1e-5)
            window += 1
    assert window == len(past)


def test_backtest_windows_read_future_covariates_and_calendar_of_their_forecast_steps():
    """Per window: the past covariate of the lookback rows only; the future covariate and the calendar features
    (hour, day of week, as sine and cosine) of the forecast steps' own times; the series' statics (the region's
    index in the sorted categories, the size scaled over the series); each scaled on the training rows."""
    frame = _frame()
    columns = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"],
                      static_covariates=["region", "size"])  # fmt: skip
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=columns, split=FractionSplit(val=0.1, test=0.2),
                                calendar=Calendar(features=["hour", "dayofweek"]))  # fmt: skip
    data.setup("backtest")
    windows = backtest_windows(data, start="2024-01-07 00:00", stride=5)
    with pytest.warns(UserWarning, match="series 'B' from row 91 forecast rows of its training part"):
        batch = next(iter(backtest_loader(data, windows)))
    series = _series(frame)
    training = pd.concat([s.iloc[: _training_rows(len(s))] for s in series.values()])
    y, covariates = StandardScaler().fit(training[["y"]]), StandardScaler().fit(training[["load", "price"]])
    sizes = StandardScaler().fit([[size] for *_, size in SERIES])
    window = 0
    for code, rows in enumerate(series.values()):
        origins = range(_first_row(rows["time"], "2024-01-07 00:00"), len(rows) - HORIZON + 1, 5)
        for origin in origins:
            lookback, steps = rows.iloc[origin - LOOKBACK : origin], rows.iloc[origin : origin + HORIZON]
            past = np.hstack([y.transform(lookback[["y"]]), covariates.transform(lookback[["load", "price"]])[:, :1]])
            times = pd.DatetimeIndex(steps["time"])
            angles = np.stack([2 * np.pi * times.hour / 24, 2 * np.pi * times.day_of_week / 7], axis=1)
            calendar = np.stack([np.sin(angles[:, 0]), np.cos(angles[:, 0]), np.sin(angles[:, 1]),
                                 np.cos(angles[:, 1])], axis=1)  # fmt: skip
            future = np.hstack([covariates.transform(steps[["load", "price"]])[:, 1:], calendar])
            np.testing.assert_allclose(batch.past[window], past, atol=1e-5)
            np.testing.assert_allclose(batch.future[window], future, atol=1e-5)
            static = [code, sizes.transform([[rows["size"][0]]])[0, 0]]  # north, south: sorted
            np.testing.assert_allclose(batch.static[window], static, atol=1e-6)
            window += 1
    assert window == len(batch)


def test_backtest_calendar_features_are_the_local_times_of_the_forecast_steps_across_daylight_saving():
    """Hourly data in Europe/Berlin over the change of 2024-10-27: the hour of each forecast step is its local
    hour (02:00 twice), as pandas gives it for the step's time, from the first day's 24 training rows on."""
    times = pd.date_range("2024-10-26", periods=80, freq="h", tz="Europe/Berlin")
    frame = pd.DataFrame({"time": times, "y": np.arange(80.0)})
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, split=FractionSplit(val=0.05, test=0.65),
                                calendar=Calendar(features=["hour"], encoding="integer"))  # fmt: skip
    data.setup("backtest")
    windows = backtest_windows(data, start="2024-10-27 00:00", stride=1)
    future = torch.cat([b.future for b in backtest_loader(data, windows)])
    hours = np.stack([times.hour[origin : origin + HORIZON] for origin in range(24, 80 - HORIZON + 1)])
    np.testing.assert_array_equal(future[..., 0].numpy(), hours)
    assert (hours == 2).sum(axis=1).max() == 2  # a window that forecasts the repeated hour reads 2 twice


def test_the_network_reads_the_windows_future_channels_and_its_statics_embedded():
    """A forward hook on the head of a GRU model: it receives each window's future channels as the batch holds
    them, and the statics as the region's row of its embedding table followed by the scaled size."""
    frame = _frame()
    columns = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"],
                      static_covariates=["region", "size"])  # fmt: skip
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=columns, calendar=Calendar(features=["hour"]))
    data.setup("backtest")
    model = Forecaster(lookback=LOOKBACK, horizon=HORIZON, input_size=data.input_size, target_size=1,
                       future_size=data.future_size, static_size=data.static_size,
                       static_cardinalities=data.static_cardinalities, static_embedding_size=2,
                       encoder=functools.partial(GRUEncoder, hidden_size=4), head=LinearHead)  # fmt: skip
    table = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # north, south
    with torch.no_grad():
        model.static_embedding.embeddings[0].weight.copy_(table)
    seen = {}
    model.head.register_forward_hook(lambda module, args, output: seen.update(future=args[2], static=args[3]))
    batch = next(iter(backtest_loader(data, backtest_windows(data, start=-HORIZON, num_windows=1))))
    model(batch.past, batch.future, batch.static)
    torch.testing.assert_close(seen["future"], batch.future)
    expected = torch.cat([table[batch.static[:, 0].long()], batch.static[:, 1:]], dim=1)
    torch.testing.assert_close(seen["static"], expected)
    assert batch.static[:, 1].tolist() == [-1.0, 1.0]  # sizes 1.5 and 3.0 standardized over the two series


def test_split_and_merge_channels_are_a_hand_loop_over_windows_and_channels():
    """Row ``b * C + c`` of the split holds channel c of window b alone, with the window's covariates, future and
    statics and channel c's embedding; merging the per-row forecasts back gives each window its channels."""
    batch, lookback, horizon, channels = 2, 5, 3, 3
    past, future = torch.randn(batch, lookback, channels + 2), torch.randn(batch, horizon, 1)
    static, target = torch.randn(batch, 2), torch.randn(batch, horizon, channels)
    embedding = torch.nn.Embedding(channels, 4)
    rows, futures, statics, targets = split_channels(past, future, static, target, channels, embedding)
    for b in range(batch):
        for c in range(channels):
            row = b * channels + c
            torch.testing.assert_close(rows[row], torch.cat([past[b, :, c : c + 1], past[b, :, channels:]], 1))
            torch.testing.assert_close(futures[row], future[b])
            torch.testing.assert_close(statics[row], torch.cat([static[b], embedding.weight[c]]))
            torch.testing.assert_close(targets[row, :, 0], target[b, :, c])
    params = targets.unsqueeze(-1)  # -> (B * C, H, 1, 1): each row's own target as its forecast
    torch.testing.assert_close(merge_channels(params, channels)[..., 0], target)


def test_a_channel_independent_model_forecasts_permuted_channels_permuted():
    """Without a channel embedding, each target channel is forecast by the same weights from its own history and
    the shared covariates: permuting the target channels of the input permutes the forecasts alike."""
    model = Forecaster(lookback=6, horizon=3, input_size=4, target_size=3, future_size=1,
                       encoder=functools.partial(GRUEncoder, hidden_size=4), head=LinearHead,
                       channel_independent=True)  # fmt: skip
    past, future = torch.randn(2, 6, 4), torch.randn(2, 3, 1)
    order = [2, 0, 1, 3]  # the covariate stays last
    with torch.no_grad():
        forecasts, permuted = model(past, future, torch.empty(2, 0)), model(past[..., order], future, torch.empty(2, 0))
    torch.testing.assert_close(permuted, forecasts[:, :, order[:3]])


def test_a_start_on_the_day_of_a_skipped_midnight_starts_at_that_days_row():
    """Daily data in America/Sao_Paulo, whose clocks skipped midnight on 2018-11-04: the data hold that day at
    01:00. ``--start 2018-11-04`` (text or a date) was refused as "no time of the data"; it starts at the day's row,
    as 01:00 does."""
    times = wall_clock_range(pd.Timestamp("2018-10-01", tz="America/Sao_Paulo"), periods=80, freq="D")
    data = TimeSeriesDataModule(pd.DataFrame({"time": times, "y": np.arange(80.0)}), LOOKBACK, HORIZON)
    assert str(times[34]) == "2018-11-04 01:00:00-02:00"
    for start in ("2018-11-04", datetime.date(2018, 11, 4), "2018-11-04 01:00"):
        assert backtest_windows(data, start, stride=1, num_windows=2).first.tolist() == [34]


def test_a_start_at_an_hour_that_daylight_saving_repeats_names_the_offset_of_each():
    """Hourly data in Europe/Berlin, where 02:00 of 2024-10-27 occurs twice: the start is refused naming both times
    with their UTC offsets, which choose the row."""
    times = pd.date_range("2024-10-25", periods=100, freq="h", tz="Europe/Berlin")
    data = TimeSeriesDataModule(pd.DataFrame({"time": times, "y": np.arange(100.0)}), LOOKBACK, HORIZON)
    with pytest.raises(
        ValueError,
        match=r"'2024-10-27 02:00' occurs twice in the data's time zone, Europe/Berlin.*"
        r"'2024-10-27 02:00:00\+02:00' \(the first\) or '2024-10-27 02:00:00\+01:00' \(the second\)",
    ):
        backtest_windows(data, "2024-10-27 02:00", stride=1, num_windows=2)
    for offset, row in (("+02:00", 50), ("+01:00", 51)):
        assert backtest_windows(data, f"2024-10-27 02:00{offset}", stride=1, num_windows=2).first.tolist() == [row]


def test_each_refits_scalers_and_split_are_fitted_on_the_rows_before_its_origins(tmp_path):
    """Two refits of two origins each, from a time: each refit validates on as many rows as the split's validation
    part just before its first origin, and its scalers are StandardScaler's on the rows before that, of both
    series (metrics.json's data state per refit)."""
    frame = _frame()[["id", "time", "y", "load"]]
    columns = Columns(targets=["y"], past_covariates=["load"])
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=columns, split=FractionSplit(val=0.1, test=0.2))
    model = Forecaster(lookback=LOOKBACK, horizon=HORIZON, input_size=2, target_size=1, encoder=IdentityEncoder,
                       head=LookbackLinearHead)  # fmt: skip
    trainer = ForecastTrainer(default_root_dir=tmp_path, max_epochs=1, callbacks=[EvaluationReport(num_plots=0)],
                              **QUIET)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        trainer.backtest(model, data, start="2024-01-07 00:00", stride=6, num_windows=4, refit_every=2, verbose=False)
    states = json.loads((tmp_path / "metrics.json").read_text())["data"]
    series = _series(frame)
    validation = {name: int(len(s) * 0.1) for name, s in series.items()}
    for refit, state in enumerate(states):
        for i, (name, rows) in enumerate(series.items()):
            origin = _first_row(rows["time"], "2024-01-07 00:00") + 2 * 6 * refit
            assert state["borders"][i] == [origin - validation[name], origin, len(rows)]
        training = pd.concat([s.iloc[: state["borders"][i][0]] for i, s in enumerate(series.values())])
        for group, column in (("targets", "y"), ("covariates", "load")):
            scaler = StandardScaler().fit(training[[column]])
            assert state["scaling"][group]["offset"][0][0] == pytest.approx(scaler.mean_[0], rel=1e-9)
            assert state["scaling"][group]["scale"][0][0] == pytest.approx(scaler.scale_[0], rel=1e-9)
