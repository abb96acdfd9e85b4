"""Metrics, losses, the naive comparison and the report against independent references: numpy, scikit-learn,
SciPy, torch.distributions and brute-force integrals, on random data with missing targets."""

import json
import warnings
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from scipy import stats
from sklearn.metrics import mean_pinball_loss as sklearn_pinball
from torch import distributions

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.comparison import NaiveComparison
from forecast.data import FractionSplit
from forecast.losses import GaussianNLLLoss, HuberLoss, MAELoss, MSELoss, QuantileLoss, StudentTNLLoss
from forecast.metrics import (
    ContinuousRankedProbabilityScore,
    HorizonMetrics,
    IntervalCoverage,
    MeanPinballLoss,
    continuous_ranked_probability_score,
)
from forecast.nn import IdentityEncoder, LastValueHead
from forecast.reports import EvaluationReport

H, C = 4, 3
LEVELS = (0.1, 0.5, 0.9)
EPS = 1.17e-6  # torchmetrics' guard of MAPE's and sMAPE's denominators


def _windows(rng: np.random.Generator, size: int) -> dict[str, np.ndarray]:
    """``size`` random windows: forecasts, targets, a MASE scale per window (one missing), sorted quantiles and an
    ``observed`` mask that leaves about a third of the targets out."""
    scale = rng.uniform(0.5, 2.0, size=(size, C))
    scale[0, 1] = np.nan  # a series without a scale
    return {
        "forecast": rng.normal(size=(size, H, C)),
        "target": rng.normal(size=(size, H, C)),
        "scale": scale,
        "quantiles": np.sort(rng.normal(size=(size, H, C, len(LEVELS))), axis=-1),
        "observed": rng.uniform(size=(size, H, C)) > 0.3,
    }


def _reference(w: dict[str, np.ndarray], axis: int | tuple[int, ...] | None) -> dict[str, np.ndarray]:
    """Every metric in numpy: the mean over the observed values (those with a scale for MASE) along ``axis``."""

    def mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.where(mask, values, 0.0).sum(axis) / mask.sum(axis)

    forecast, target, observed = w["forecast"], w["target"], w["observed"]
    error = np.abs(forecast - target)
    scaled = observed & ~np.isnan(w["scale"])[:, None, :]
    levels = np.array(LEVELS)
    gap = target[..., None] - w["quantiles"]
    pinball = np.maximum(levels * gap, (levels - 1) * gap).mean(-1)
    inside = (w["quantiles"][..., 0] <= target) & (target <= w["quantiles"][..., -1])
    reference = {
        "mse": mean(error**2, observed),
        "mae": mean(error, observed),
        "mape": mean(error / np.maximum(np.abs(target), EPS), observed),
        "smape": mean(2 * error / np.maximum(np.abs(target) + np.abs(forecast), EPS), observed),
        "mase": mean(error / np.nan_to_num(w["scale"], nan=1.0)[:, None, :], scaled),
        "pinball": mean(pinball, observed),
        "coverage": mean(inside.astype(float), observed),
    }
    return reference | {"rmse": np.sqrt(reference["mse"]), "crps": 2 * reference["pinball"]}


def _update(metric: HorizonMetrics, w: dict[str, np.ndarray], dtype: torch.dtype) -> None:
    """Add the windows, the targets left out made NaN (as a repair might leave them), in ``dtype``."""
    target = np.where(w["observed"], w["target"], np.nan)
    values = [torch.tensor(w[name], dtype=dtype) for name in ("forecast", "scale", "quantiles")]
    metric.update(values[0], torch.tensor(target, dtype=dtype), values[1], values[2], torch.from_numpy(w["observed"]))


def _rounded(w: dict[str, np.ndarray], dtype: torch.dtype) -> dict[str, np.ndarray]:
    """The windows as ``dtype`` holds them, back in float64 for the reference."""
    return {name: value if value.dtype == bool else torch.tensor(value, dtype=dtype).double().numpy()
            for name, value in w.items()}  # fmt: skip


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_horizon_metrics_over_batches_and_merged_states_equal_numpy_over_all_observed_values(dtype):
    """Four batches of uneven sizes, split between two metrics whose states are merged (as DDP sums them): every
    metric per cell, per step, per column and overall is numpy's mean over all observed values, not a mean of
    batch means, whatever the forecasts' dtype."""
    rng = np.random.default_rng(0)
    batches = [_windows(rng, size) for size in (7, 3, 5, 1)]
    first, second = HorizonMetrics(H, C, LEVELS), HorizonMetrics(H, C, LEVELS)
    for index, batch in enumerate(batches):
        _update(first if index < 2 else second, batch, dtype)
    first.merge_state(second)
    every = _rounded({name: np.concatenate([batch[name] for batch in batches]) for name in batches[0]}, dtype)
    for dim, axis in [((), 0), (1, (0, 2)), (0, (0, 1)), ((0, 1), None)]:
        got, expected = first.overall(dim), _reference(every, axis)
        assert set(got) == set(expected)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name].numpy(), value, rtol=1e-12, err_msg=f"{name} over {dim}")
    assert int(first.windows) == 16


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_quantile_metric_classes_over_merged_batches_match_sklearn_and_numpy(dtype):
    """MeanPinballLoss, CRPS and IntervalCoverage over two metrics merged: scikit-learn's pinball loss of each level
    averaged, twice that, and numpy's share inside the interval of the chosen columns."""
    rng = np.random.default_rng(1)
    target, quantiles = rng.normal(size=60), np.sort(rng.normal(size=(60, 3)), axis=-1)
    target, quantiles = (torch.tensor(array, dtype=dtype).double().numpy() for array in (target, quantiles))
    pinball = np.mean([sklearn_pinball(target, quantiles[:, q], alpha=level) for q, level in enumerate(LEVELS)])
    expected = {
        MeanPinballLoss: pinball,
        ContinuousRankedProbabilityScore: 2 * pinball,
        IntervalCoverage: np.mean((quantiles[:, 0] <= target) & (target <= quantiles[:, 1])),
    }
    for build, value in expected.items():
        metrics = [build(LEVELS) if build is not IntervalCoverage else build(0, 1) for _ in range(2)]
        for metric, part in zip(metrics, (slice(0, 25), slice(25, None)), strict=True):
            metric.update(torch.tensor(quantiles[part], dtype=dtype), torch.tensor(target[part], dtype=dtype))
        metrics[0].merge_state(metrics[1])
        assert float(metrics[0].compute()) == pytest.approx(value, rel=1e-6), build.__name__


def _step_crps(members: np.ndarray, target: float) -> float:
    """The CRPS of the distribution putting 1/Q on each member: the integral of (F(x) - 1[x >= y])^2, summed
    exactly between the breakpoints, where both are constant."""
    points = np.sort(np.append(members, target))
    middles = (points[:-1] + points[1:]) / 2
    cdf = (members[None, :] <= middles[:, None]).mean(axis=1)
    return float(np.sum((cdf - (middles >= target)) ** 2 * np.diff(points)))


def test_crps_of_quantiles_at_the_midpoint_levels_is_the_brute_force_integral_of_their_distribution():
    """Quantile forecasts at the levels (i - 1/2) / Q are an ensemble of Q equally likely members: the CRPS of the
    quantiles equals the integral of the squared gap between the members' CDF and the target's step."""
    rng = np.random.default_rng(2)
    count = 8
    levels = [(i + 0.5) / count for i in range(count)]
    members, targets = np.sort(rng.normal(size=(20, count)), axis=-1), rng.normal(size=20) * 1.5
    expected = np.mean([_step_crps(row, target) for row, target in zip(members, targets, strict=True)])
    got = continuous_ranked_probability_score(torch.from_numpy(members), torch.from_numpy(targets), levels)
    assert float(got) == pytest.approx(expected, rel=1e-12)


def _normalized(loss, raw: torch.Tensor) -> distributions.Distribution:
    """The forecast distribution on the normalized scale, built by hand from the head's raw output."""
    location, spread = raw[..., 0], torch.nn.functional.softplus(raw[..., 1]) + loss.min_scale
    if isinstance(loss, GaussianNLLLoss):
        return distributions.Normal(location, spread)
    df = torch.full_like(location, loss.df) if loss.df else 2 + torch.nn.functional.softplus(raw[..., 2])
    return distributions.StudentT(df, location, spread)


@pytest.mark.parametrize("loss", [GaussianNLLLoss(), StudentTNLLoss(), StudentTNLLoss(df=4.0)], ids=repr)
def test_distribution_losses_are_the_affine_map_of_the_normalized_distribution(loss):
    """``rescale`` then the loss: the value and gradient of torch's negative log-likelihood of the normalized
    distribution mapped by ``value * scale + loc`` (a negative scale too), over the observed targets only (those
    left out are NaN); the point is the mapped location and the quantiles SciPy's."""
    rng = np.random.default_rng(3)
    loc, scale = torch.tensor(rng.normal(size=(3, 1, C))), torch.tensor(rng.uniform(0.5, 3.0, size=(3, 1, C)))
    scale[0, 0, 1] *= -1
    target, observed = torch.tensor(rng.normal(size=(3, H, C)) * 2), torch.tensor(rng.uniform(size=(3, H, C)) > 0.3)
    raw = torch.tensor(rng.normal(size=(3, H, C, loss.num_params)), requires_grad=True)
    params = loss.rescale(raw, loc, scale)
    value = loss(params, target.where(observed, torch.nan), observed)
    mapped = distributions.TransformedDistribution(_normalized(loss, raw), distributions.AffineTransform(loc, scale))
    expected = -mapped.log_prob(target)[observed].mean()
    assert value.item() == pytest.approx(expected.item(), rel=1e-12)
    (got,), (want,) = torch.autograd.grad(value, raw), torch.autograd.grad(expected, raw)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(loss.point(params), raw[..., 0] * scale + loc)
    p = params.detach().numpy()
    family = stats.norm() if isinstance(loss, GaussianNLLLoss) else stats.t(loss.df or p[..., 2, None])
    levels = (0.05, 0.3, 0.5, 0.97)
    quantiles = p[..., :1] + p[..., 1:2] * family.ppf(np.array(levels))
    np.testing.assert_allclose(loss.quantiles(params, levels).detach().numpy(), quantiles, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("loss", "formula"),
    [
        (MSELoss(), lambda error: error**2),
        (MAELoss(), np.abs),
        (HuberLoss(0.7), lambda error: np.where(np.abs(error) < 0.7, error**2 / 2, 0.7 * (np.abs(error) - 0.35))),
    ],
    ids=["mse", "mae", "huber"],
)
def test_point_losses_over_the_observed_targets_match_numpy_in_value_and_gradient(loss, formula):
    """The mean over the observed targets of the hand-written loss; its gradient by central differences; the
    targets left out are NaN and give a finite gradient."""
    rng = np.random.default_rng(4)
    forecast, target = rng.normal(size=(3, H, C)), rng.normal(size=(3, H, C))
    observed = rng.uniform(size=(3, H, C)) > 0.3
    params = torch.tensor(forecast[..., None], requires_grad=True)
    value = loss(params, torch.tensor(np.where(observed, target, np.nan)), torch.from_numpy(observed))
    assert value.item() == pytest.approx(formula(forecast - target)[observed].mean(), rel=1e-12)
    (gradient,) = torch.autograd.grad(value, params)
    step = 1e-6
    numeric = (formula(forecast + step - target) - formula(forecast - step - target)) / (2 * step)
    expected = np.where(observed, numeric, 0.0) / observed.sum()
    np.testing.assert_allclose(gradient[..., 0].numpy(), expected, atol=1e-8)


def test_quantile_loss_is_the_pinball_loss_of_sklearn_over_the_observed_targets_with_uncrossed_quantiles():
    """``rescale`` builds quantiles that never cross; the loss is scikit-learn's pinball loss of each level
    averaged, over the observed targets only."""
    rng = np.random.default_rng(5)
    loss = QuantileLoss((0.1, 0.3, 0.5, 0.9))
    loc, scale = torch.tensor(rng.normal(size=(3, 1, C))), torch.tensor(rng.uniform(0.5, 3.0, size=(3, 1, C)))
    target, observed = rng.normal(size=(3, H, C)), rng.uniform(size=(3, H, C)) > 0.3
    params = loss.rescale(torch.tensor(rng.normal(size=(3, H, C, 4)) * 3), loc, scale)
    assert (params.diff(dim=-1) >= 0).all()
    value = loss(params, torch.tensor(np.where(observed, target, np.nan)), torch.from_numpy(observed))
    kept = params.numpy()[observed]  # -> (observed values, Q)
    expected = np.mean([sklearn_pinball(target[observed], kept[:, q], alpha=a) for q, a in enumerate(loss.levels)])
    assert float(value) == pytest.approx(expected, rel=1e-12)


def test_the_report_names_the_mse_of_the_epoch_the_checkpoint_saved_not_of_one_it_skipped(tmp_path):
    """With ``every_n_epochs=2`` the checkpoint saves the second epoch only, so its best score is that epoch's: the
    report gave the first epoch's lower MSE as the model's, the figure of a network no checkpoint holds, and said
    the model wins."""
    comparison = NaiveComparison()
    comparison.epochs = [(0.3, 0.3), (0.5, 0.5)]  # (monitored, val/mse) per epoch; the first was not saved
    comparison.naive, comparison.periods = {"last value": 0.4}, {"last value": 1}
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val/loss", every_n_epochs=2)
    checkpoint.best_model_score = torch.tensor(0.5)  # what saving the second epoch alone leaves
    trainer = SimpleNamespace(checkpoint_callback=checkpoint, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq="h", lookback=24))  # fmt: skip
    said = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("forecast.comparison.warn_on_rank_zero", said.append)
        patch.setattr("forecast.comparison.rank_zero_info", said.append)
        comparison.on_fit_end(trainer, None)
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert (report["val_mse"]["model"], report["winner"]) == (0.5, "last value")
    assert "model 0.5000; last value 0.4000 (the model's +25.0%): the last value wins" in said[0]


def test_the_report_metrics_equal_the_logged_ones_and_numpy_over_two_series_with_missing_targets(tmp_path):
    """Two series of their own levels, two targets, a MASE season of 2 and test targets repaired by ffill: the
    report's metrics equal the logged test metrics, and numpy's over the observed targets in original units, the
    MASE scale each series' mean seasonal difference over its training rows."""
    rng = np.random.default_rng(6)
    lookback, horizon, season = 5, 3, 2
    parts = [
        pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"),
                      "y": (level + spread * rng.normal(size=rows).cumsum()).round(2),
                      "z": (level + spread * rng.normal(size=rows)).round(2)})
        for name, rows, level, spread in [("A", 40, 10.0, 1.0), ("B", 30, 100.0, 7.0)]
    ]  # fmt: skip
    frame = pd.concat(parts, ignore_index=True)
    frame.loc[[35, 36, 62], "y"] = np.nan  # test rows of A and of B
    data = TimeSeriesDataModule(frame, lookback, horizon, columns=Columns(["y", "z"]), seasonal_period=season,
                                split=FractionSplit(val=0.2, test=0.3), nan_policy="ffill")  # fmt: skip
    model = Forecaster(lookback, horizon, 2, 2, encoder=IdentityEncoder, head=LastValueHead)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[EvaluationReport(num_plots=0)])  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers, the repairs' count
        (logged,) = trainer.test(model, data, verbose=False)
    report = json.loads((tmp_path / "metrics.json").read_text())["metrics"]
    assert report == pytest.approx({name: logged[f"test/{name}"] for name in report}, rel=1e-6)
    forecasts, targets, scales = [], [], []
    for (_, series), (train_rows, test_start) in zip(frame.groupby("id"), data.borders[:, :2], strict=True):
        values, repaired = series[["y", "z"]].to_numpy(), series[["y", "z"]].ffill().to_numpy()
        scale = np.nanmean(np.abs(values[season:train_rows] - values[: train_rows - season]), axis=0)
        for start in range(test_start, len(series) - horizon + 1):
            forecasts.append(np.repeat(repaired[start - 1 : start], horizon, axis=0))
            targets.append(values[start : start + horizon])
            scales.append(np.broadcast_to(scale, (horizon, 2)))
    forecast, target, scale = map(np.array, (forecasts, targets, scales))
    observed, error = ~np.isnan(target), np.abs(forecast - target)
    expected = {
        "mse_orig": np.square(error)[observed].mean(),
        "mae_orig": error[observed].mean(),
        "mape_orig": (error / np.abs(target))[observed].mean(),
        "smape_orig": (2 * error / (np.abs(target) + np.abs(forecast)))[observed].mean(),
        "mase_orig": (error / scale)[observed].mean(),
        "mase": (error / scale)[observed].mean(),
    }
    assert {name: report[name] for name in expected} == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("levels", [[0.1, None], [0.1, "median"]], ids=["none", "word"])
def test_quantile_levels_holding_no_number_are_refused_naming_the_levels(levels):
    """``QuantileLoss([0.1, None])`` raised Python's "float() argument must be a string or a real number", naming
    neither the quantile levels nor what they should be."""
    with pytest.raises(TypeError, match=r"quantile levels must be a list of numbers in \(0, 1\).*got \[0.1, "):
        QuantileLoss(levels)
