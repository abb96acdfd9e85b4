import numpy as np
import pytest
import torch
from torchmetrics import MeanSquaredError
from torchmetrics.functional import (
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    symmetric_mean_absolute_percentage_error,
)

from forecast.data.buffer import SeriesBuffer, naive_scale
from forecast.data.validate import check_naive_scale
from forecast.metrics import HorizonMetrics, continuous_ranked_probability_score, interval_coverage
from forecast.reports import metric_tables

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


def computed(data, levels=LEVELS):
    metric = HorizonMetrics(H, C, levels)
    metric.update(data["forecast"], data["target"], data["scale"], data["quantiles"] if levels else None)
    return metric.compute()


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
    tables = metric_tables({"scaled": computed(data)}, ["a", "b", "c"])
    overall = tables["overall"]
    forecast, target, quantiles = data["forecast"], data["target"], data["quantiles"]
    assert overall["mse"] == pytest.approx(mean_squared_error(forecast, target).item())
    assert overall["rmse"] == pytest.approx(MeanSquaredError(squared=False)(forecast, target).item())
    assert overall["mape"] == pytest.approx(mean_absolute_percentage_error(forecast, target).item())
    assert overall["crps"] == pytest.approx(continuous_ranked_probability_score(quantiles, target, LEVELS).item())
    assert overall["coverage"] == pytest.approx(interval_coverage(quantiles, target).item())


def test_metric_tables_hold_every_step_and_column(data):
    cells = computed(data, levels=())
    tables = metric_tables({"scaled": cells, "original": cells}, ["a", "b", "c"])
    by_horizon, by_target = tables["by_horizon"], tables["by_target"]
    assert len(by_horizon) == 2 * (C + 1) * H and len(by_target) == 2 * C
    row = by_horizon[(by_horizon["units"] == "original") & (by_horizon["target"] == "b") & (by_horizon["step"] == 3)]
    assert row["mae"].item() == pytest.approx(cells["mae"][2, 1].item())
    per_column = by_target[(by_target["units"] == "scaled") & (by_target["target"] == "c")]
    expected = mean_squared_error(data["forecast"][..., 2], data["target"][..., 2]).sqrt().item()
    assert per_column["rmse"].item() == pytest.approx(expected)
    assert set(tables["overall"]) >= {"mse", "mse_orig", "smape_orig"}


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
    # Series 0 trains on rows 0-3 (errors at period 2: |2 - 0|, |6 - 1| -> 3.5); series 1 on 3 rows (|4 - 4| = 0).
    values = torch.tensor([[0.0], [1.0], [2.0], [6.0], [100.0], [4.0], [9.0], [4.0], [-50.0]])
    buffer = SeriesBuffer(values, offsets=np.array([0, 5]), future_rows=np.zeros(2, dtype=int))
    scale = naive_scale(buffer, np.array([4, 3]), targets=1, seasonal_period=2)
    torch.testing.assert_close(scale, torch.tensor([[3.5], [0.0]]))


def test_seasonal_naive_scale_names_the_period_key_when_training_is_too_short():
    with pytest.raises(ValueError, match="data.seasonal_period=24"):
        check_naive_scale(np.array([30, 20]), seasonal_period=24, names=["long", "short"])
