"""Probabilistic forecasts end to end: loss options, quantiles in original units through each scaler and window
normalization, and the interval metrics of the report and the backtest, each against an independent computation."""

import json
import math

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import special
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.data.options import Scaling
from forecast.losses import GaussianNLLLoss, QuantileLoss, StudentTNLLoss
from forecast.metrics import IntervalCoverage, interval_coverage
from forecast.nn import IdentityEncoder
from forecast.nn.normalization import InstanceNormalization, LastValueNormalization, NoNormalization
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer

LOOKBACK, HORIZON = 12, 4
QUIET = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}


def test_student_t_refuses_infinite_degrees_of_freedom_naming_the_gaussian_loss():
    """Infinite degrees of freedom gave a NaN loss on every value (``inf * log1p(0)``), which a fit stops at with no
    word of the option; the limit they mean is the normal distribution."""
    with pytest.raises(ValueError, match=r"positive degrees of freedom df, a finite number.*got inf.*GaussianNLLLoss"):
        StudentTNLLoss(df=math.inf)


@pytest.mark.parametrize("loss", [GaussianNLLLoss, StudentTNLLoss])
def test_a_distribution_loss_refuses_an_infinite_min_scale(loss):
    """An infinite smallest scale made every forecast's spread, and so every loss, infinite."""
    with pytest.raises(ValueError, match=r"needs a positive min_scale, a finite number.*got inf"):
        loss(min_scale=math.inf)


@pytest.mark.parametrize(
    "coverage",
    [interval_coverage, lambda preds, target: IntervalCoverage().update(preds, target)],
    ids=["function", "metric"],
)
def test_the_coverage_of_one_quantile_level_says_an_interval_needs_two(coverage):
    """The quantiles of one level (a ``QuantileLoss([0.5])``'s) have no interval: the message spoke of column 0 not
    coming before column -1, which are one column."""
    with pytest.raises(ValueError, match=r"an interval lies between two quantile levels, and the predictions have 1"):
        coverage(torch.zeros(3, 1), torch.zeros(3))


def frame(rows: int = 160) -> pd.DataFrame:
    """Two seeded series of one target, at levels and spreads far from 0 and 1, so every scaling shows."""
    rng = np.random.default_rng(0)
    parts = []
    for name, level, spread in [("A", 50.0, 8.0), ("B", -20.0, 2.0)]:
        steps = np.arange(rows)
        values = level + spread * np.sin(steps / 4) + spread / 3 * rng.standard_normal(rows)
        parts.append(pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"),
                                   "y": values}))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def data_module(scaler, source: pd.DataFrame | None = None, **options) -> TimeSeriesDataModule:
    return TimeSeriesDataModule(
        frame() if source is None else source, LOOKBACK, HORIZON, columns=Columns(targets=["y"]),
        split=FractionSplit(val=0.2, test=0.3), scaling=Scaling(scaler=scaler, per_series=True), eval_stride=3,
        batch_size=8,
        **options,
    )  # fmt: skip


def untrained(loss, normalization=NoNormalization) -> Forecaster:
    """A tiny forecaster whose random weights give forecasts of every spread: no fit is needed to check units."""
    torch.manual_seed(0)
    return Forecaster(lookback=LOOKBACK, horizon=HORIZON, input_size=1, target_size=1, loss=loss,
                      normalization=normalization, encoder=IdentityEncoder)  # fmt: skip


def reported(model: Forecaster, data: TimeSeriesDataModule, root) -> tuple[dict, pd.DataFrame]:
    """``metrics.json`` and ``forecasts.csv`` of a test with the evaluation report."""
    trainer = L.Trainer(default_root_dir=root, callbacks=[EvaluationReport(num_plots=0, write_forecasts=True)], **QUIET)
    trainer.test(model, data, verbose=False)
    return json.loads(next(root.rglob("metrics.json")).read_text()), pd.read_csv(next(root.rglob("forecasts.csv")))


def test_the_report_records_a_python_built_models_loss_with_its_arguments(tmp_path):
    """A model built in Python and tested before any checkpoint recorded it wrote its loss as ``str``:
    ``"StudentTNLLoss()"``, without the degrees of freedom or the levels that its coverage is of."""
    loss = StudentTNLLoss(levels=[0.05, 0.5, 0.95], df=3.0)
    report, _ = reported(untrained(loss), data_module(StandardScaler), tmp_path)
    assert report["model"]["loss"] == {
        "class_path": "forecast.losses.StudentTNLLoss",
        "init_args": {"levels": [0.05, 0.5, 0.95], "df": 3.0, "min_scale": 1e-3},
    }
    assert report["model"]["encoder"] == {"class_path": "forecast.nn.baselines.IdentityEncoder"}


def standard_quantiles(loss, params: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Each forecast's quantiles on the scaled units, from its parameters (..., P): the normal's and Student's
    inverse distribution functions of SciPy, or the quantile loss's parameters themselves."""
    if isinstance(loss, QuantileLoss):
        return params
    if isinstance(loss, GaussianNLLLoss):
        return params[..., :1] + params[..., 1:2] * special.ndtri(levels)
    return params[..., :1] + params[..., 1:2] * special.stdtrit(loss.df, levels)


def hand_scores(table: pd.DataFrame, levels) -> dict[str, float]:
    """Coverage of the outer levels' interval, pinball and CRPS of ``forecasts.csv``, over its given actuals."""
    actual = table["y_actual"].to_numpy()
    quantiles = table[[f"y_q{level:g}" for level in levels]].to_numpy()
    given = ~np.isnan(actual)
    actual, quantiles = actual[given], quantiles[given]
    error = actual[:, None] - quantiles
    pinball = np.maximum(np.array(levels) * error, (np.array(levels) - 1) * error).mean()
    inside = (quantiles[:, 0] <= actual) & (actual <= quantiles[:, -1])
    return {"coverage_orig": inside.mean(), "pinball_orig": pinball, "crps_orig": 2 * pinball}


@pytest.mark.parametrize(
    ("loss", "scaler", "normalization"),
    [
        (GaussianNLLLoss([0.1, 0.5, 0.9]), StandardScaler, LastValueNormalization),
        (StudentTNLLoss([0.05, 0.5, 0.95], df=3.0), MinMaxScaler, InstanceNormalization),
        (QuantileLoss([0.1, 0.25, 0.5, 0.75, 0.9]), RobustScaler, InstanceNormalization),
    ],
    ids=["gaussian-standard-last", "student-minmax-revin", "quantile-robust-revin"],
)
def test_report_quantiles_in_original_units_are_the_scalers_inverse_of_the_distributions(
    loss, scaler, normalization, tmp_path
):
    """forecasts.csv's quantile columns are the forecast distribution's quantiles (SciPy's inverse distribution
    functions of the network's parameters) mapped back by scikit-learn's ``inverse_transform`` of a scaler fitted
    on each series' training rows here; they increase with the level; and the report's interval metrics in original
    units equal a hand count over those columns."""
    model, data = untrained(loss, normalization), data_module(scaler)
    report, table = reported(model, data, tmp_path)
    levels = np.array(loss.levels)
    series = [rows["y"].to_numpy() for _, rows in frame().groupby("id", sort=True)]
    fitted = [
        scaler().fit(values[:training, None]) for values, training in zip(series, data.borders[:, 0], strict=True)
    ]
    expected = []
    with torch.no_grad():
        for batch in data.test_dataloader():
            params = model(batch.past, batch.future, batch.static).double().numpy()[:, :, 0]  # -> (B, H, P)
            scaled = standard_quantiles(loss, params, levels)  # -> (B, H, Q)
            for window, index in enumerate(batch.series.tolist()):
                original = fitted[index].inverse_transform(scaled[window].reshape(-1, 1))
                expected.append(original.reshape(HORIZON, -1))
    quantiles = table[[f"y_q{level:g}" for level in levels]].to_numpy()
    np.testing.assert_allclose(quantiles, np.concatenate(expected), rtol=1e-5, atol=1e-4)
    assert (np.diff(quantiles, axis=1) > 0).all()
    for name, value in hand_scores(table, loss.levels).items():
        assert report["metrics"][name] == pytest.approx(value, rel=1e-6), name  # the file's actuals: float64


def test_backtest_interval_metrics_count_only_the_given_actuals(tmp_path):
    """A backtest of repaired targets (``nan_policy: interpolate``): forecasts.csv leaves their actuals empty, and
    the coverage, pinball and CRPS the backtest returns and reports are those of the other rows, by hand."""
    source = frame()
    source.loc[[120, 121, 125, 290], "y"] = np.nan  # in the test parts of both series
    loss = GaussianNLLLoss([0.1, 0.5, 0.9])
    data = data_module(StandardScaler, source, nan_policy="interpolate")
    trainer = ForecastTrainer(default_root_dir=tmp_path, callbacks=[EvaluationReport(num_plots=0)], **QUIET)
    (returned,) = trainer.backtest(untrained(loss, InstanceNormalization), data, stride=3, num_windows=5, verbose=False)
    table = pd.read_csv(tmp_path / "forecasts.csv")
    assert table["y_actual"].isna().sum() > 0
    report = json.loads((tmp_path / "metrics.json").read_text())
    for name, value in hand_scores(table, loss.levels).items():
        assert report["metrics"][name] == pytest.approx(value, rel=1e-6), name  # the file's actuals: float64
        assert returned[f"test/{name}"] == pytest.approx(value, rel=1e-5), name
    by_step = pd.read_csv(tmp_path / "metrics_by_horizon.csv").query("units == 'original' and target == 'y'")
    for step, rows in table.groupby("step"):
        reported_step = by_step.set_index("step").loc[step]
        for name, value in hand_scores(rows, loss.levels).items():
            assert reported_step[name.removesuffix("_orig")] == pytest.approx(value, rel=1e-6), (step, name)
