"""What ``test``, ``backtest`` and ``predict`` write, against hand references: ``forecasts.csv`` and the metric tables
of the evaluation report, and the prediction writer's table."""

import json

import lightning as L
import numpy as np
import pandas as pd
import pytest

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.callbacks import PredictionWriter
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LastValueHead
from forecast.predict import HistorySplit
from forecast.reports import EvaluationReport

LOOKBACK, HORIZON = 5, 3


def _sales(rows: int = 40) -> pd.DataFrame:
    """Two series of whole-number sales and large amounts with cents (float64 digits float32 lacks), ``b``
    starting later, so each series has its own times."""
    rng = np.random.default_rng(0)
    parts = []
    for name, start in (("a", "2024-01-01"), ("b", "2024-01-11")):
        parts.append(
            pd.DataFrame(
                {
                    "id": name,
                    "time": pd.date_range(start, periods=rows, freq="D"),
                    "sales": rng.integers(0, 30, rows).astype(float),
                    "amount": 1_000_000 + rng.integers(0, 10_000, rows) + rng.integers(0, 100, rows) / 100,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _naive(targets: int = 2) -> Forecaster:
    """The last-value forecast: no weights, so its forecasts are known without training."""
    return Forecaster(LOOKBACK, HORIZON, input_size=targets, target_size=targets, encoder=IdentityEncoder,
                      head=LastValueHead)  # fmt: skip


def _trainer(root, callbacks) -> L.Trainer:
    return L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=root,
                     callbacks=callbacks)  # fmt: skip


@pytest.fixture(scope="module")
def tested(tmp_path_factory):
    """The report of a test of the last-value forecast on ``_sales`` with a missing test target (ffill repairs it)."""
    root = tmp_path_factory.mktemp("report")
    frame = _sales()
    missing = frame.index[(frame["id"] == "b")][-2]  # inside the test windows of b
    frame.loc[missing, "sales"] = np.nan
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=Columns(["sales", "amount"], id_column="id"),
                                split=FractionSplit(0.2, 0.3), nan_policy="ffill")  # fmt: skip
    _trainer(root, [EvaluationReport(num_plots=0, write_forecasts=True)]).test(_naive(), data, verbose=False)
    return {"frame": frame, "root": root, "forecasts": pd.read_csv(root / "forecasts.csv")}


def _expected_windows(frame: pd.DataFrame) -> pd.DataFrame:
    """forecasts.csv by hand: every test window of each series (the last 30 % of its rows are test targets), the
    origin its last lookback row, each step's time, forecast (the origin's value) and actual (as in the frame)."""
    rows = []
    for name, series in frame.groupby("id", sort=False):
        series = series.reset_index(drop=True)
        first_test = len(series) - int(len(series) * 0.3)
        for origin in range(first_test - 1, len(series) - HORIZON):
            for step in range(1, HORIZON + 1):
                row = series.loc[origin + step]
                last = series.loc[:origin, "sales"].ffill().iloc[-1]  # the repaired history the naive forecast reads
                rows.append({"id": name, "origin": series.loc[origin, "time"], "time": row["time"], "step": step,
                             "sales": last, "amount": series.loc[origin, "amount"],
                             "sales_actual": row["sales"], "amount_actual": row["amount"]})  # fmt: skip
    return pd.DataFrame(rows)


def test_forecasts_csv_holds_the_datas_own_actual_values_exactly(tested):
    """Integer sales of 6 were written as 5.999999922310303 (and 0 as 1.7e-07), amounts lost their cents: the
    actuals were mapped back from the scaled float32 windows. A repaired value stays empty."""
    written = tested["forecasts"]
    expected = _expected_windows(tested["frame"])
    assert len(written) == len(expected)
    for column in ("sales_actual", "amount_actual"):
        np.testing.assert_array_equal(written[column].to_numpy(), expected[column].to_numpy(), err_msg=column)
    assert written["sales_actual"].isna().sum() == 2  # the windows whose steps cover the repaired row
    assert written["amount_actual"].notna().all()


def test_forecasts_csv_rows_columns_times_and_forecasts_match_a_hand_table(tested):
    written = tested["forecasts"]
    expected = _expected_windows(tested["frame"])
    assert list(written.columns) == ["window", "id", "origin", "time", "step", "sales", "amount", "sales_actual",
                                     "amount_actual"]  # fmt: skip
    np.testing.assert_array_equal(written["window"], np.repeat(np.arange(len(written) // HORIZON), HORIZON))
    for column in ("id", "step"):
        np.testing.assert_array_equal(written[column], expected[column], err_msg=column)
    for column in ("origin", "time"):
        np.testing.assert_array_equal(pd.to_datetime(written[column]), expected[column], err_msg=column)
    np.testing.assert_allclose(written[["sales", "amount"]], expected[["sales", "amount"]], rtol=1e-6, atol=1e-5)


def test_the_report_metrics_in_original_units_are_those_of_forecasts_csv(tested):
    """metrics_by_target, metrics_by_horizon and metrics.json against numpy over the written forecasts and actuals,
    the repaired value counted nowhere."""
    written, root = tested["forecasts"], tested["root"]
    errors = {t: (written[t] - written[f"{t}_actual"]).to_numpy() for t in ("sales", "amount")}  # NaN: repaired
    by_target = pd.read_csv(root / "metrics_by_target.csv").query("units == 'original'").set_index("target")
    by_horizon = pd.read_csv(root / "metrics_by_horizon.csv").query("units == 'original'")
    for target, error in errors.items():
        assert by_target.loc[target, "mae"] == pytest.approx(np.nanmean(np.abs(error)), rel=1e-6)
        assert by_target.loc[target, "mse"] == pytest.approx(np.nanmean(error**2), rel=1e-6)
        steps = by_horizon[by_horizon["target"] == target].set_index("step")
        for step in range(1, HORIZON + 1):
            at_step = error[written["step"] == step]
            assert steps.loc[step, "mae"] == pytest.approx(np.nanmean(np.abs(at_step)), rel=1e-6)
    report = json.loads((root / "metrics.json").read_text())
    assert report["windows"] == written["window"].nunique()
    scored = np.concatenate(list(errors.values()))
    assert report["metrics"]["mae_orig"] == pytest.approx(np.nanmean(np.abs(scored)), rel=1e-6)


def _monthly() -> pd.DataFrame:
    """Two month-end series that end at different months, values whole numbers."""
    a = pd.DataFrame({"id": "a", "time": pd.date_range("2020-01-31", periods=12, freq="ME"), "y": np.arange(12.0)})
    b = pd.DataFrame({"id": "b", "time": pd.date_range("2020-03-31", periods=7, freq="ME"), "y": np.arange(7.0) * 3})
    return pd.concat([a, b], ignore_index=True)


def test_predictions_csv_continues_each_series_at_its_own_times_with_one_row_per_step(tmp_path):
    frame = _monthly()
    output = tmp_path / "predictions.csv"
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=Columns(["y"], id_column="id"), split=HistorySplit())
    _trainer(tmp_path, [PredictionWriter(str(output))]).predict(_naive(1), datamodule=data, return_predictions=False)
    table = pd.read_csv(output, parse_dates=["time"])
    assert list(table.columns) == ["id", "time", "y"]
    expected = []
    for name, series in frame.groupby("id", sort=False):
        times = pd.date_range(series["time"].iloc[-1], periods=HORIZON + 1, freq="ME")[1:]
        expected.append(pd.DataFrame({"id": name, "time": times, "y": series["y"].iloc[-1]}))
    pd.testing.assert_frame_equal(table, pd.concat(expected, ignore_index=True), check_dtype=False, rtol=1e-6)


def test_an_ensemble_of_a_shell_pattern_that_matched_nothing_names_the_pattern(tmp_path):
    """``python -m forecast.ensemble runs/.../epoch=*.ckpt`` where no run exists: the shell passes the pattern on as
    one path, and the refusal said only "got 1"."""
    from forecast.ensemble import combine

    pattern = str(tmp_path / "seed*/checkpoints/epoch=*.ckpt")
    with pytest.raises(ValueError, match=r"got 1 \('.*seed\*/checkpoints/epoch=\*\.ckpt' does not exist: a shell"):
        combine([pattern], tmp_path / "ensemble.ckpt")
