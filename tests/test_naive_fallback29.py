"""The naive comparison and its fallback end to end, against numpy: which forecast wins on validation, what the log
and ``naive_comparison.json`` say, and what a fallen-back checkpoint forecasts in test, predict, backtest and export."""

import functools
import json
import re
import warnings
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from forecast.comparison import NaiveComparison, falls_short
from forecast.data import FractionSplit
from forecast.data.datamodule import TimeSeriesDataModule
from forecast.model import Forecaster
from forecast.nn import GRUEncoder, IdentityEncoder, LookbackMeanHead

ROOT = Path(__file__).resolve().parents[1]
ROWS, LOOKBACK, HORIZON = 300, 24, 6
TRAIN_END, VAL_END = 210, 240  # FractionSplit of 300 rows: 70% train, 10% validation, 20% test


def _frame(kind: str) -> pd.DataFrame:
    """An hourly series whose best forecast is known: a random walk (the last value), a daily season with little
    noise (the seasonal naive), or noise about a level (the lookback mean, far ahead of both naive forecasts)."""
    rng = np.random.default_rng(0)
    steps = np.arange(ROWS)
    values = {
        "walk": rng.standard_normal(ROWS).cumsum(),
        "season": 10 * np.sin(2 * np.pi * steps / 24) + 0.1 * rng.standard_normal(ROWS),
        "level": 5 + rng.standard_normal(ROWS),
    }[kind]
    return pd.DataFrame({"y": values}, index=pd.date_range("2024-01-01", periods=ROWS, freq="h", name="date"))


def _model(kind: str) -> Forecaster:
    """A weak network (a GRU of 2 units, barely trained) for the walk and the season; the lookback mean for the
    level."""
    if kind == "level":
        return Forecaster(
            LOOKBACK, HORIZON, input_size=1, target_size=1, encoder=IdentityEncoder, head=LookbackMeanHead
        )
    encoder = functools.partial(GRUEncoder, hidden_size=2)
    return Forecaster(LOOKBACK, HORIZON, input_size=1, target_size=1, encoder=encoder)


def _trainer(tmp_path: Path, comparison: NaiveComparison, **options) -> L.Trainer:
    """A quiet trainer of one short epoch with ``comparison`` and a checkpoint on ``val/loss``."""
    return L.Trainer(
        **{"max_epochs": 1, "limit_train_batches": 2} | options,
        logger=False,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[comparison, ModelCheckpoint(dirpath=tmp_path, monitor="val/loss")],
    )


def _naive(values: np.ndarray, starts: range, period: int) -> np.ndarray:
    """The seasonal naive forecast of ``period`` (1: the last value) of the windows starting at ``starts``."""
    return np.stack([values[start - period + np.arange(HORIZON) % period] for start in starts])


def _targets(values: np.ndarray, starts: range) -> np.ndarray:
    return np.stack([values[start : start + HORIZON] for start in starts])


@pytest.mark.parametrize(
    ("kind", "winner", "fallback"),
    [("walk", "last value", 1), ("season", "seasonal naive (24 steps)", 24), ("level", "model", None)],
)
def test_the_naive_forecast_that_wins_on_validation_is_what_the_checkpoint_tests_and_predicts(
    tmp_path, kind, winner, fallback
):
    frame = _frame(kind)
    data = TimeSeriesDataModule(frame, lookback=LOOKBACK, horizon=HORIZON, split=FractionSplit(), batch_size=8)
    comparison, said = NaiveComparison(fallback=True, margin=0.05), []
    trainer = _trainer(tmp_path, comparison)
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's advice on workers and logging
        patch.setattr("forecast.comparison.warn_on_rank_zero", said.append)
        patch.setattr("forecast.comparison.rank_zero_info", said.append)
        trainer.fit(_model(kind), data)

    values = frame["y"].to_numpy()
    scaled = (values - values[:TRAIN_END].mean()) / values[:TRAIN_END].std()  # StandardScaler on the training rows
    validation = range(TRAIN_END, VAL_END - HORIZON + 1)
    periods = {"last value": 1, "seasonal naive (24 steps)": 24}
    expected = {
        name: np.square(_naive(scaled, validation, period) - _targets(scaled, validation)).mean()
        for name, period in periods.items()
    }
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert {name: report["val_mse"][name] for name in periods} == pytest.approx(expected, rel=1e-5)  # float32 windows
    assert (report["winner"], report["fallback"]) == (winner, None if fallback is None else winner)
    for name, mse in report["val_mse"].items():  # the log's figure of each, to the digits it gives
        (figure,) = re.findall(rf"{re.escape(name)} ([-+.e0-9]+)[;( ]", said[0])
        assert float(figure) == pytest.approx(mse, rel=5e-3, abs=5e-5)
    assert said[0].count(f"the {winner} wins") == 1

    best = trainer.checkpoint_callback.best_model_path
    assert torch.load(best, weights_only=True)["naive_fallback"] == fallback
    if fallback is None:
        return
    model = Forecaster.load(best)
    tester = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (tested,) = tester.test(model, data, verbose=False)
    test = range(VAL_END, ROWS - HORIZON + 1)
    scaled_mse = np.square(_naive(scaled, test, fallback) - _targets(scaled, test)).mean()
    original_mse = np.square(_naive(values, test, fallback) - _targets(values, test)).mean()
    assert (tested["test/mse"], tested["test/mse_orig"]) == pytest.approx((scaled_mse, original_mse), rel=1e-5)
    forecasts = model.predict(frame)["y"].to_numpy()
    np.testing.assert_allclose(forecasts, _naive(values, range(ROWS, ROWS + 1), fallback)[0], rtol=1e-5)


@pytest.mark.parametrize(
    ("model", "naive", "margin", "short"),
    [
        (1.0, 1.0, 0.0, False),  # a tie: the model keeps it
        (1.0 + 1e-6, 1.0, 0.0, False),  # float32 rounding of the same forecast's MSE
        (1.001, 1.0, 0.0, True),
        (0.95, 1.0, 0.05, False),  # ahead by exactly the margin
        (0.951, 1.0, 0.05, True),  # ahead by less
        (0.0, 0.0, 0.05, False),  # both without error
        (float("nan"), 1.0, 0.0, True),
        (float("nan"), 1.0, 0.05, True),
    ],
)
def test_the_network_falls_short_as_documented(model, naive, margin, short):
    """Lost to the naive forecast, or beat it by less than ``margin`` of its MSE; a tie keeps the network, NaN loses."""
    assert falls_short(model, naive, margin) == short


def test_a_tiny_validation_mse_is_said_in_significant_digits_not_as_zero(tmp_path):
    """A seasonal naive forecast of a season that barely varies has an MSE far below 0.0001: the log said "0.0000",
    as of no error, for the 2.1e-06 that naive_comparison.json kept."""
    comparison = NaiveComparison()
    comparison.epochs = [(3e-6, 3e-6)]
    comparison.naive = {"last value": 0.9, "seasonal naive (24 steps)": 2.1e-6}
    comparison.periods = {"last value": 1, "seasonal naive (24 steps)": 24}
    trainer = SimpleNamespace(checkpoint_callback=None, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq="h", lookback=24))  # fmt: skip
    with pytest.warns(UserWarning) as said:
        comparison.on_fit_end(trainer, None)
    message = str(said[0].message)
    assert "model 3e-06; last value 0.9000 (the model's -100.0%)" in message
    assert "seasonal naive (24 steps) 2.1e-06 (the model's +42.9%): the seasonal naive (24 steps) wins" in message


def _short_data() -> TimeSeriesDataModule:
    return TimeSeriesDataModule(_frame("walk"), lookback=LOOKBACK, horizon=HORIZON, split=FractionSplit(), batch_size=8)


def test_a_fallback_that_no_validation_decided_is_said(tmp_path):
    """With ``trainer.limit_val_batches`` 0 no naive forecast is scored: the checkpoint forecast the network, and
    neither the log nor naive_comparison.json said that the fallback asked for was never decided."""
    comparison = NaiveComparison(fallback=True)
    trainer = _trainer(tmp_path, comparison, limit_val_batches=0)
    with pytest.warns(UserWarning, match=r"naive_comparison.fallback decided nothing: the fit validated no epoch"):
        trainer.fit(_model("walk"), _short_data())


def test_a_fallback_of_a_fit_without_a_data_module_is_said_to_be_undecided(tmp_path):
    """Loaders without their data module give no frequency and so no naive forecast: the fallback asked for was
    never decided, and nothing said so."""
    data = _short_data()
    data.setup("fit")
    trainer = _trainer(tmp_path, NaiveComparison(fallback=True), limit_val_batches=1)
    with pytest.warns(UserWarning, match=r"decided nothing: the fit read its windows from no data module"):
        trainer.fit(_model("walk"), data.train_dataloader(), data.val_dataloader())


@pytest.mark.slow
def test_a_fallen_back_cli_checkpoint_predicts_backtests_and_exports_its_naive_forecast(tmp_path, tiny_cli):
    """Two channels of a daily season: a GRU of 2 units after one batch falls back to the seasonal naive, and the
    CLI's predict and backtest and the exported program forecast it, in original units as numpy gives it."""
    from forecast.cli import main
    from forecast.export import example_inputs, to_program

    rng = np.random.default_rng(0)
    steps = np.arange(ROWS)
    frame = pd.DataFrame(
        {"a": 50 + 10 * np.sin(2 * np.pi * steps / 24), "b": -3 + 2 * np.cos(2 * np.pi * steps / 24)},
        index=pd.date_range("2024-01-01", periods=ROWS, freq="h", name="date"),
    ) + 0.1 * rng.standard_normal((ROWS, 2))
    frame.to_csv(tmp_path / "season.csv")
    horizon = 30  # beyond the season
    args = ["--config", str(ROOT / "configs/etth1/gru.yaml"), *tiny_cli(tmp_path / "season.csv", tmp_path,
            horizon=horizon), "--trainer.logger", "false", "--model.encoder.init_args.hidden_size", "2",
            "--naive_comparison.fallback", "true"]  # fmt: skip
    with pytest.warns(UserWarning, match=r"with naive_comparison.fallback its checkpoint forecasts the seasonal"):
        fit = main(["fit", *args, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1"])
    best = fit.trainer.checkpoint_callback.best_model_path
    assert torch.load(best, weights_only=True)["naive_fallback"] == 24
    values = frame.to_numpy()

    main(["predict", *args, "--ckpt_path", best, "--prediction_writer.output", str(tmp_path / "predicted.csv")])
    predicted = pd.read_csv(tmp_path / "predicted.csv")[["a", "b"]].to_numpy()
    np.testing.assert_allclose(predicted, values[ROWS - 24 + np.arange(horizon) % 24], rtol=1e-5)

    backtest = [
        "--start",
        "2024-01-11 00:00",
        "--stride",
        "5",
        "--num_windows",
        "3",
        "--report.write_forecasts",
        "true",
    ]
    main(["backtest", *args, "--ckpt_path", best, *backtest, "--trainer.default_root_dir", str(tmp_path / "bt")])
    table = pd.read_csv(tmp_path / "bt" / "forecasts.csv", parse_dates=["time"])
    for _, rows in table.groupby("window"):
        first = frame.index.get_loc(rows["time"].iloc[0])
        np.testing.assert_allclose(rows[["a", "b"]].to_numpy(), values[first - 24 + np.arange(horizon) % 24], rtol=1e-5)

    model = Forecaster.load(best)
    with pytest.warns(UserWarning, match="falls back to it"):
        program = to_program(model).module()
    past, future, static = example_inputs(model, batch_size=3)
    torch.testing.assert_close(program(past, future, static), past[:, np.arange(horizon) % 24, :2].unsqueeze(-1))
