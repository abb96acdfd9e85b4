import json

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from torchmetrics import MeanSquaredError
from torchmetrics.functional import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    symmetric_mean_absolute_percentage_error,
)

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data.buffer import SeriesBuffer, naive_scale
from forecast.data.validate import check_naive_scale
from forecast.metrics import HorizonMetrics, continuous_ranked_probability_score, interval_coverage
from forecast.nn import IdentityEncoder, LastValueHead
from forecast.reports import EvaluationReport, metric_tables

B, H, C = 8, 4, 3
LEVELS = (0.1, 0.5, 0.9)


@pytest.fixture
def data():
    """Seeded windows whose targets include exact zeros and negative values."""
    rng = np.random.default_rng(0)
    target = rng.normal(size=(B, H, C))
    target[0, 0, 0] = target[1, 2, 1] = 0.0
    return {
        "forecast": torch.from_numpy(rng.normal(size=(B, H, C))),
        "target": torch.from_numpy(target),
        "scale": torch.from_numpy(rng.uniform(0.5, 2.0, size=(B, C))),
        "quantiles": torch.from_numpy(np.sort(rng.normal(size=(B, H, C, len(LEVELS))), axis=-1)),
    }


def updated(data, levels=LEVELS, observed=None):
    metric = HorizonMetrics(H, C, levels)
    metric.update(data["forecast"], data["target"], data["scale"], data["quantiles"] if levels else None, observed)
    return metric


def computed(data, levels=LEVELS):
    return updated(data, levels).compute()


def test_horizon_metrics_match_torchmetrics_in_every_cell(data):
    cells = computed(data, levels=())
    for h in range(H):
        for c in range(C):
            forecast, target = data["forecast"][:, h, c], data["target"][:, h, c]
            for name, reference in [
                ("mse", mean_squared_error),
                ("mae", mean_absolute_error),
                ("mape", mean_absolute_percentage_error),
                ("smape", symmetric_mean_absolute_percentage_error),
            ]:
                assert cells[name][h, c].item() == pytest.approx(reference(forecast, target).item(), rel=1e-6), name
            assert cells["rmse"][h, c].item() == pytest.approx(mean_squared_error(forecast, target).sqrt().item())


def test_horizon_metrics_zero_and_negative_targets_in_mape_and_smape():
    metric = HorizonMetrics(horizon=1, target_size=4)
    forecast = torch.tensor([[[1.0, 0.0, 2.0, -1.0]]])
    target = torch.tensor([[[0.0, 0.0, -2.0, -2.0]]])
    metric.update(forecast, target)
    cells = metric.compute()
    # A zero target divides by 1.17e-6; both zero is no error; signs count through absolute values.
    np.testing.assert_allclose(cells["mape"][0].numpy(), [1 / 1.17e-6, 0.0, 2.0, 0.5])
    np.testing.assert_allclose(cells["smape"][0].numpy(), [2.0, 0.0, 2.0, 2 / 3])


def test_horizon_metrics_mase_and_quantile_metrics_match_numpy(data):
    cells = computed(data)
    forecast, target, scale, quantiles = (data[k].numpy() for k in ("forecast", "target", "scale", "quantiles"))
    expected_mase = (np.abs(forecast - target) / scale[:, None, :]).mean(0)
    np.testing.assert_allclose(cells["mase"].numpy(), expected_mase, rtol=1e-10)
    error = target[..., None] - quantiles
    pinball = np.maximum(np.array(LEVELS) * error, (np.array(LEVELS) - 1) * error).mean(-1).mean(0)
    np.testing.assert_allclose(cells["pinball"].numpy(), pinball, rtol=1e-10)
    np.testing.assert_allclose(cells["crps"].numpy(), 2 * pinball, rtol=1e-10)
    inside = ((quantiles[..., 0] <= target) & (target <= quantiles[..., -1])).mean(0)
    np.testing.assert_allclose(cells["coverage"].numpy(), inside)


def test_horizon_metrics_over_all_cells_equal_the_overall_metrics(data):
    tables = metric_tables({"scaled": updated(data)}, ["a", "b", "c"])
    overall = tables["overall"]
    forecast, target, quantiles = data["forecast"], data["target"], data["quantiles"]
    assert overall["mse"] == pytest.approx(mean_squared_error(forecast, target).item())
    assert overall["rmse"] == pytest.approx(MeanSquaredError(squared=False)(forecast, target).item())
    assert overall["mape"] == pytest.approx(mean_absolute_percentage_error(forecast, target).item())
    assert overall["crps"] == pytest.approx(continuous_ranked_probability_score(quantiles, target, LEVELS).item())
    assert overall["coverage"] == pytest.approx(interval_coverage(quantiles, target).item())


def test_metric_tables_hold_every_step_and_column(data):
    metric = updated(data, levels=())
    cells = metric.compute()
    tables = metric_tables({"scaled": metric, "original": metric}, ["a", "b", "c"])
    by_horizon, by_target = tables["by_horizon"], tables["by_target"]
    assert len(by_horizon) == 2 * (C + 1) * H and len(by_target) == 2 * C
    row = by_horizon[(by_horizon["units"] == "original") & (by_horizon["target"] == "b") & (by_horizon["step"] == 3)]
    assert row["mae"].item() == pytest.approx(cells["mae"][2, 1].item())
    per_column = by_target[(by_target["units"] == "scaled") & (by_target["target"] == "c")]
    expected = mean_squared_error(data["forecast"][..., 2], data["target"][..., 2]).sqrt().item()
    assert per_column["rmse"].item() == pytest.approx(expected)
    assert set(tables["overall"]) >= {"mse", "mse_orig", "smape_orig"}


def test_repaired_targets_score_no_forecast_in_any_metric_cell_or_table(data):
    """A target the data module repaired is no observation: each metric is that of the observed values only,
    cell by cell and over steps, columns and all (cells with fewer observed values weigh less)."""
    observed = torch.from_numpy(np.random.default_rng(1).random((B, H, C)) > 0.3)
    observed[:, 0, 0] = False  # a cell with no observed value at all
    metric = updated(data, observed=observed)
    cells = metric.compute()
    mask = observed.numpy()
    forecast, target, quantiles = (data[k].numpy() for k in ("forecast", "target", "quantiles"))
    squared = np.where(mask, (forecast - target) ** 2, np.nan)
    np.testing.assert_allclose(cells["mse"].numpy(), np.nanmean(squared, 0))  # NaN in the empty cell
    absolute = np.abs(forecast - target) / data["scale"].numpy()[:, None, :]
    np.testing.assert_allclose(
        metric.overall(1)["mase"].numpy(), [np.nanmean(np.where(mask, absolute, np.nan)[:, h]) for h in range(H)]
    )
    inside = (quantiles[..., 0] <= target) & (target <= quantiles[..., -1])
    tables = metric_tables({"scaled": metric}, ["a", "b", "c"])
    assert tables["overall"]["mse"] == pytest.approx(np.nanmean(squared))
    assert tables["overall"]["coverage"] == pytest.approx(inside[mask].mean())
    per_column = tables["by_target"].set_index("target")["mae"]
    np.testing.assert_allclose(
        per_column.to_numpy(), [np.abs(forecast - target)[..., c][mask[..., c]].mean() for c in range(C)]
    )


def test_horizon_metrics_give_a_nan_forecast_a_nan_mase_as_every_other_metric():
    metric = HorizonMetrics(horizon=1, target_size=1)
    metric.update(torch.tensor([[[1.0]], [[float("nan")]]]), torch.zeros(2, 1, 1), scale=torch.ones(2, 1))
    assert metric.compute()["mae"].isnan().all() and metric.compute()["mase"].isnan().all()


def test_horizon_metrics_over_batches_equal_metrics_over_their_concatenation(data):
    whole, parts = HorizonMetrics(H, C, LEVELS), HorizonMetrics(H, C, LEVELS)
    names = ("forecast", "target", "scale", "quantiles")
    whole.update(*(data[name] for name in names))
    for batch in (slice(0, 3), slice(3, B)):
        parts.update(*(data[name][batch] for name in names))
    for name, value in whole.compute().items():
        torch.testing.assert_close(parts.compute()[name], value)


def test_horizon_metrics_mase_stays_finite_on_a_flat_training_history():
    metric = HorizonMetrics(horizon=2, target_size=1)
    metric.update(torch.ones(1, 2, 1), torch.zeros(1, 2, 1), scale=torch.zeros(1, 1))  # a flat series: scale 0
    mase = metric.compute()["mase"]
    assert torch.isfinite(mase).all() and (mase > 1e5).all()


def test_horizon_metrics_mase_leaves_out_the_windows_of_series_without_a_scale():
    """A series with no training rows (it only tests) has no MASE scale: MASE is that of the others, the
    other metrics count every window, and with no scale at all MASE is NaN."""
    forecast, target = torch.tensor([[[3.0]], [[1.0]], [[5.0]]]), torch.zeros(3, 1, 1)
    metric = HorizonMetrics(horizon=1, target_size=1)
    metric.update(forecast, target, scale=torch.tensor([[2.0], [float("nan")], [10.0]]))
    cells = metric.compute()
    assert cells["mase"].item() == pytest.approx((3 / 2 + 5 / 10) / 2)
    assert cells["mae"].item() == pytest.approx(3.0)
    unscaled = HorizonMetrics(horizon=1, target_size=1)
    unscaled.update(forecast, target, scale=torch.full((3, 1), float("nan")))
    assert unscaled.compute()["mase"].isnan().all()


def test_seasonal_naive_scale_reads_each_series_training_rows_only():
    # Series 0 trains on rows 0-3 (errors at period 2: |2 - 0|, |6 - 1| -> 3.5); series 1 on 3 rows (|4 - 4| = 0,
    # which is no scale: NaN).
    values = torch.tensor([[0.0], [1.0], [2.0], [6.0], [100.0], [4.0], [9.0], [4.0], [-50.0]])
    buffer = SeriesBuffer(values, offsets=np.array([0, 5]), future_rows=np.zeros(2, dtype=int))
    scale = naive_scale(buffer, np.array([4, 3]), targets=1, seasonal_period=2)
    torch.testing.assert_close(scale, torch.tensor([[3.5], [torch.nan]]), equal_nan=True)


def test_seasonal_naive_scale_names_the_period_key_when_training_is_too_short():
    with pytest.raises(ValueError, match="data.seasonal_period=24"):
        check_naive_scale(np.array([30, 20]), seasonal_period=24, names=["long", "short"], scale=np.ones((2, 1)))


def test_check_naive_scale_names_the_series_flat_in_training():
    scale = np.array([[0.5, 1.0], [0.5, np.nan], [np.nan, np.nan]])  # "flat" has one flat target; "new" only tests
    with pytest.warns(UserWarning, match=r"series \['flat'\] have training targets that do not change .*period=2\)"):
        check_naive_scale(np.array([30, 30, 0]), seasonal_period=2, names=["steady", "flat", "new"], scale=scale)


def test_test_mase_leaves_out_a_series_that_is_flat_in_training():
    """An item without sales in training has no MASE scale: test/mase is that of the other series, not ~1e4."""
    rng = np.random.default_rng(0)
    steady, unsold = rng.normal(size=60).cumsum() + 50, np.r_[np.zeros(45), rng.integers(1, 4, 15)]
    times = pd.date_range("2024-01-01", periods=60, freq="D")
    frame = pd.concat([pd.DataFrame({"id": name, "time": times, "y": y}) for name, y in [("a", steady), ("b", unsold)]])
    model = Forecaster(lookback=7, horizon=3, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    data = {
        ids: TimeSeriesDataModule(frame[frame["id"].isin(list(ids))], 7, 3, columns=Columns(["y"]))
        for ids in ("ab", "a")
    }
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    with pytest.warns(UserWarning, match=r"series \['b'\] have training targets that do not change over the seasonal"):
        mase = {ids: trainer.test(model, part, verbose=False)[0]["test/mase"] for ids, part in data.items()}
    assert mase["ab"] == pytest.approx(mase["a"])
    scale = data["ab"].dataset("test").naive_scale
    assert torch.isfinite(scale[0]).all() and torch.isnan(scale[1]).all()


@pytest.mark.parametrize("policy", ["ffill", "interpolate", "zero"])
def test_test_metrics_count_only_the_targets_that_were_observed(policy, tmp_path):
    """A stretch of missing test targets, repaired by the policy, scores no forecast: the last value's test MSE
    is its MSE over the observed targets (with ffill it would otherwise forecast 20 repaired values exactly)."""
    rng = np.random.default_rng(0)
    rows, lookback, horizon = 400, 24, 6
    y = rng.normal(size=rows).cumsum() + 50
    y[350:370] = np.nan  # inside the test part (rows 320 to 400)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=rows, freq="h"), "y": y})
    data = TimeSeriesDataModule(frame, lookback, horizon, columns=Columns(targets=["y"]), nan_policy=policy)
    model = Forecaster(lookback, horizon, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path)
    (result,) = trainer.test(model, data, verbose=False)
    start = int(data.borders[0, 1])
    # The inputs hold the repairs, made from the rows before each window's origin: a window whose last input
    # lies in the gap sees the last value before it under interpolate too (its other end is not yet known).
    repaired = pd.Series(y).ffill().to_numpy() if policy == "interpolate" else data.table.values["y"]
    errors = [(repaired[t - 1] - y[t : t + horizon]) ** 2 for t in range(start, rows - horizon + 1)]
    observed = np.concatenate(errors)
    assert result["test/mse_orig"] == pytest.approx(np.nanmean(observed), rel=1e-5)


def test_a_report_plotting_a_column_that_is_no_target_is_refused_before_it_writes(wide_frame, tmp_path):
    """It failed inside matplotlib after metrics.json was written, naming no option."""
    data = TimeSeriesDataModule(wide_frame, 24, 6, columns=Columns(targets=["a", "b"]))
    model = Forecaster(24, 6, input_size=3, target_size=2, encoder=IdentityEncoder, head=LastValueHead)
    report = EvaluationReport(num_plots=2, plot_targets=["a", "c"])
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[report])  # fmt: skip
    with pytest.raises(
        ValueError, match=r"report.plot_targets names \['c'\], which are not target columns; .*'a', 'b'"
    ):
        trainer.test(model, data, verbose=False)
    assert not list(tmp_path.rglob("metrics.json"))


def test_a_report_plotting_one_target_named_alone_draws_it(wide_frame, tmp_path):
    """A name alone was read letter by letter: "report.plot_targets names ['O', 'T'], which are not target
    columns" for the target OT, which ``plot_forecasts`` takes alone."""
    pytest.importorskip("matplotlib")
    data = TimeSeriesDataModule(wide_frame.rename(columns={"a": "OT"}), 24, 6, columns=Columns(targets=["OT", "b"]))
    model = Forecaster(24, 6, input_size=3, target_size=2, encoder=IdentityEncoder, head=LastValueHead)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[EvaluationReport(num_plots=1, plot_targets="OT")])  # fmt: skip
    trainer.test(model, data, verbose=False)
    assert [path.name for path in tmp_path.rglob("forecast.png")] == ["forecast.png"]


def test_a_report_of_a_target_named_as_a_forecasts_column_is_refused_before_it_writes(tmp_path):
    """A target ``step`` or ``origin`` overwrote those columns of forecasts.csv with its forecasts, silently."""
    index = pd.date_range("2024-01-01", periods=40, freq="h", name="date")
    frame = pd.DataFrame({"step": np.arange(40.0), "load": np.arange(40.0)}, index=index)
    data = TimeSeriesDataModule(frame, 4, 3, columns=Columns(targets=["step", "load"]))
    model = Forecaster(4, 3, input_size=2, target_size=2, encoder=IdentityEncoder, head=LastValueHead)
    report = EvaluationReport(num_plots=0, write_forecasts=True)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[report])  # fmt: skip
    with pytest.raises(ValueError, match=r"forecasts.csv would hold the columns \['step'\] twice: .*rename"):
        trainer.test(model, data, verbose=False)
    assert not list(tmp_path.rglob("*.csv"))


def test_metrics_json_is_standard_json_with_null_for_a_metric_without_value(tmp_path):
    """A series flat in training has no MASE scale, so MASE has no value: it was written as ``NaN``, which
    only Python's json reads (jq and JavaScript refuse the file); it is ``null``."""
    y = np.r_[np.zeros(45), np.random.default_rng(0).integers(1, 4, 15)].astype(float)
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=60, freq="D"), "y": y})
    data = TimeSeriesDataModule(frame, 7, 3, columns=Columns(["y"]))
    model = Forecaster(7, 3, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[EvaluationReport(num_plots=0)])  # fmt: skip
    with pytest.warns(UserWarning, match="do not change over the seasonal"):
        trainer.test(model, data, verbose=False)

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    report = json.loads((tmp_path / "metrics.json").read_text(), parse_constant=refuse)
    assert report["metrics"]["mase"] is None and report["metrics"]["mase_orig"] is None
    assert report["by_target"][0]["mase"] is None and report["metrics"]["mae"] > 0


def test_a_report_drawing_a_negative_number_of_windows_is_refused_naming_the_option():
    """``--report.num_plots -1`` failed at the start of test with numpy's "Number of samples, -1, must be
    non-negative", naming no option."""
    with pytest.raises(ValueError, match=r"report.num_plots must be >= 0 .*; got -1"):
        EvaluationReport(num_plots=-1)
