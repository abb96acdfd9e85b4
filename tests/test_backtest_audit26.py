"""Backtests, the prediction writer and the partition functions against independent references: ``predict`` on the
history cut at each origin, numpy on the forecast table, a checkpoint's own forecasts."""

import functools
import warnings
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

import forecast
from forecast import Columns, ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.backtest import backtest_windows
from forecast.callbacks import PredictionWriter
from forecast.data import FractionSplit
from forecast.losses import QuantileLoss
from forecast.nn import GRUEncoder, IdentityEncoder, LookbackLinearHead
from forecast.partition import load_cached, predict_batches
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer

FROZEN = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"
QUIET = {"enable_progress_bar": False, "enable_model_summary": False}


def _sine(rows: int = 200) -> pd.DataFrame:
    """``rows`` hourly rows of a smooth curve, which a linear model of its lookback forecasts closely."""
    return pd.DataFrame(
        {"y": 10 + np.sin(np.arange(rows) / 3)}, index=pd.date_range("2024-01-01", periods=rows, freq="h")
    )


def _linear(lr: float) -> Forecaster:
    return Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, encoder=IdentityEncoder,
                      head=LookbackLinearHead, optimizer=functools.partial(torch.optim.Adam, lr=lr))  # fmt: skip


@pytest.fixture(scope="module")
def refit_after_a_fit(tmp_path_factory) -> tuple[Path, ModelCheckpoint]:
    """A trainer with a ModelCheckpoint and an EarlyStopping fits a linear model, then backtests an untrained one
    (learning rate 0) with a refit before its origin, row 150: the run directory and the fit's ModelCheckpoint."""
    root = tmp_path_factory.mktemp("refit_after_a_fit")
    data = TimeSeriesDataModule(_sine(), 24, 6, split=FractionSplit(), batch_size=256)
    checkpoint = ModelCheckpoint(monitor="val/loss")
    callbacks = [checkpoint, EarlyStopping("val/loss", patience=1), EvaluationReport(num_plots=0)]
    trainer = ForecastTrainer(default_root_dir=root, logger=False, max_epochs=2, callbacks=callbacks, **QUIET)
    torch.manual_seed(0)  # the fit's best validation loss, 0.19, is far below the untrained model's, 1.57
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        trainer.fit(_linear(lr=0.1), data)
        trainer.backtest(_linear(lr=0.0), data, start=150, num_windows=1, refit_every=1, verbose=False)
    return root, checkpoint


def test_a_refit_after_the_trainers_own_fit_forecasts_with_its_own_checkpoint(refit_after_a_fit):
    """The refit's ModelCheckpoint was a copy of the fit's, with the fit's best file and score: a refit that never
    beat that score wrote no checkpoint and forecast with the fit's weights, trained on rows after its origin."""
    root, fitted = refit_after_a_fit
    refit_losses = pd.read_csv(root / "refits" / "origin_0" / "metrics.csv")["val/loss"].dropna()
    assert refit_losses.min() > fitted.best_model_score  # the precondition: the untrained refit never beat the fit
    (best,) = (root / "refits" / "origin_0" / "checkpoints").glob("*.ckpt")
    table = pd.read_csv(root / "forecasts.csv")
    expected = Forecaster.load(best).predict(_sine().iloc[:150])  # the refit's model, on the rows before the origin
    np.testing.assert_allclose(table["y"], expected["y"], rtol=1e-5)


def test_a_refit_after_the_trainers_own_fit_stops_early_on_its_own_scores(refit_after_a_fit):
    """The refit's EarlyStopping was a copy of the fit's, with the fit's best score: the refit stopped after its
    first epoch, which could not beat it. On its own scores it runs both epochs (the second no better)."""
    root, _ = refit_after_a_fit
    refit_losses = pd.read_csv(root / "refits" / "origin_0" / "metrics.csv")["val/loss"].dropna()
    assert len(refit_losses) == 2


def test_the_prediction_writer_refuses_a_predict_without_the_data_module(tmp_path):
    """``trainer.predict(model, dataloaders=...)`` failed after forecasting with "'NoneType' object has no attribute
    'targets'": the writer reads the series ids and times from the data module."""
    data = TimeSeriesDataModule(_sine(60), 24, 6)
    data.setup("predict")
    trainer = L.Trainer(logger=False, default_root_dir=tmp_path, callbacks=[PredictionWriter()], **QUIET)
    with pytest.raises(ValueError, match=r"got none; call trainer.predict\(model, datamodule=data\)"):
        trainer.predict(_linear(lr=0.0), dataloaders=data.predict_dataloader())
    assert not (tmp_path / "predictions.csv").exists()


def _frozen_history() -> pd.DataFrame:
    """The history of the frozen checkpoint: series A then B, 36 rows each, the last 6 the horizon's covariates."""
    return pd.read_csv(Path(__file__).parent / "data" / "frozen_v0.1.0_history.csv", parse_dates=["time"])


@pytest.mark.parametrize("index", [["id"], ["id", "time"], ["time"]])
def test_predict_batches_reads_ids_and_times_from_index_levels_as_predict_partition_does(index):
    """Ids as an index level (Dask's ``set_index("id")``) failed with KeyError: 'id'; times as one were dropped with
    the index when the batches were concatenated, and predict found no time column."""
    frame = _frozen_history()
    batches = [frame.iloc[:30].set_index(index), frame.iloc[30:].set_index(index)]  # A split between the two
    tables = list(predict_batches(batches, FROZEN, rows_per_call=20))
    pd.testing.assert_frame_equal(pd.concat(tables, ignore_index=True), load_cached(FROZEN).predict(frame))


def test_predict_batches_of_batches_without_ids_names_the_id_column():
    """A raw KeyError: 'id' before."""
    with pytest.raises(ForecastDataError, match=r"a batch has no series id column 'id' .*give every batch"):
        list(predict_batches([_frozen_history().drop(columns="id")], FROZEN))


def _series_of_unequal_lengths() -> pd.DataFrame:
    """Three hourly series of other starts and lengths, ending at other times, with a past and a future covariate and
    a categorical and a numeric static."""
    rng = np.random.default_rng(1)
    parts = []
    for name, start, rows, region, size in [("A", "2024-01-01 00:00", 120, "north", 1.5),
                                            ("B", "2024-01-02 05:00", 90, "south", 2.0),
                                            ("C", "2023-12-30 10:00", 150, "north", 0.5)]:  # fmt: skip
        steps = np.arange(rows)
        parts.append(pd.DataFrame({
            "id": name, "time": pd.date_range(start, periods=rows, freq="h"),
            "y": 10 * size + np.sin(steps / 5) + 0.1 * rng.standard_normal(rows), "load": rng.normal(3 * size, 1, rows),
            "price": 50 + 5 * np.cos(steps / 7), "region": region, "size": size,
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


COVARIATES = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"],
                     static_covariates=["region", "size"])  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint_backtest(tmp_path_factory) -> tuple[Path, Forecaster, dict[str, float]]:
    """A GRU with quantiles fitted for one batch on the three series, and its backtest from 2024-01-04 20:00, three
    origins 3 rows apart: the run directory, the model and the returned metrics."""
    root = tmp_path_factory.mktemp("checkpoint_backtest")
    options = {"columns": COVARIATES, "split": FractionSplit(val=0.1, test=0.3), "batch_size": 64}
    trainer = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(root / "fit"),
               "logger": False, **QUIET}  # fmt: skip
    model = {"encoder": functools.partial(GRUEncoder, hidden_size=4), "loss": QuantileLoss(levels=[0.1, 0.9])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        forecast.fit(_series_of_unequal_lengths(), lookback=12, horizon=4, data=options, model=model, trainer=trainer)
        checkpoint = str(next((root / "fit").rglob("last.ckpt")))
        model = Forecaster.load(checkpoint)
        data = TimeSeriesDataModule(_series_of_unequal_lengths(), 12, 4, **options)
        backtester = ForecastTrainer(default_root_dir=root, logger=False, callbacks=[EvaluationReport(num_plots=0)],
                                     **QUIET)  # fmt: skip
        (metrics,) = backtester.backtest(model, data, checkpoint, start="2024-01-04 20:00", stride=3, num_windows=3,
                                         verbose=False)  # fmt: skip
    return root, model, metrics


def test_each_backtest_window_is_what_predict_forecasts_from_the_history_cut_at_its_origin(checkpoint_backtest):
    """Each window's forecasts and quantiles equal ``predict`` on its series' rows up to its origin, followed by the
    horizon's future covariates (past covariates and targets unknown): no later row reaches its inputs or scalers."""
    root, model, _ = checkpoint_backtest
    table = pd.read_csv(root / "forecasts.csv", parse_dates=["origin", "time"])
    frame = _series_of_unequal_lengths()
    assert table.groupby("id")["origin"].nunique().to_dict() == {"A": 3, "B": 3, "C": 3}
    for (name, origin), window in table.groupby(["id", "origin"]):
        series = frame[frame["id"] == name]
        known = series[series["time"] <= origin]
        future = series[series["time"] > origin].iloc[:4].assign(y=np.nan, load=np.nan)
        expected = model.predict(pd.concat([known, future]))
        assert list(window["time"]) == list(expected["time"])
        columns = ["y", "y_q0.1", "y_q0.9"]
        np.testing.assert_allclose(window[columns], expected[columns], rtol=1e-5, atol=1e-5)


def test_backtest_metrics_are_numpys_over_the_forecast_table(checkpoint_backtest):
    """The returned metrics in original units against numpy on forecasts.csv; MASE's scale per series is the mean
    absolute one-step change of its training rows (the first 70% of each series)."""
    root, _, metrics = checkpoint_backtest
    table = pd.read_csv(root / "forecasts.csv")
    error = (table["y"] - table["y_actual"]).to_numpy()
    actual, forecasts = table["y_actual"].to_numpy(), table["y"].to_numpy()
    frame = _series_of_unequal_lengths()
    training = {name: rows["y"].to_numpy()[: len(rows) - int(len(rows) * 0.3) - int(len(rows) * 0.1)]
                for name, rows in frame.groupby("id")}  # fmt: skip
    scales = {name: np.abs(np.diff(values)).mean() for name, values in training.items()}
    expected = {
        "mae_orig": np.abs(error).mean(),
        "mse_orig": (error**2).mean(),
        "rmse_orig": np.sqrt((error**2).mean()),
        "mape_orig": np.mean(np.abs(error) / np.abs(actual)),
        "smape_orig": np.mean(2 * np.abs(error) / (np.abs(forecasts) + np.abs(actual))),
        "mase_orig": np.mean(np.abs(error) / table["id"].map(scales).to_numpy()),
    }
    for name, value in expected.items():
        assert metrics[f"test/{name}"] == pytest.approx(value, rel=1e-5), name


def test_the_prediction_writers_table_is_what_predict_returns(tmp_path):
    """Month-end series with integer ids, of other lengths and ends: the written rows are ``predict``'s on the same
    frame (ids of their type, times continuing each series at its frequency, original units, the quantiles)."""
    rng = np.random.default_rng(0)
    shapes = [(10, "2020-01-31", 40), (11, "2019-06-30", 50), (12, "2021-03-31", 30)]
    frame = pd.concat([pd.DataFrame({"id": name, "time": pd.date_range(start, periods=rows, freq="ME"),
                                     "y": 100 + 10 * np.sin(np.arange(rows) / 5) + rng.standard_normal(rows)})
                       for name, start, rows in shapes], ignore_index=True)  # fmt: skip
    options = {"split": FractionSplit(val=0.2, test=0.2), "batch_size": 64}
    trainer = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(tmp_path),
               "logger": False, **QUIET}  # fmt: skip
    model = {"encoder": functools.partial(GRUEncoder, hidden_size=4), "loss": QuantileLoss(levels=[0.1, 0.9])}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        model = forecast.fit(frame, lookback=6, horizon=3, data=options, model=model, trainer=trainer)
        writer = L.Trainer(logger=False, default_root_dir=tmp_path, callbacks=[PredictionWriter()], **QUIET)
        writer.predict(model, TimeSeriesDataModule(frame, 6, 3, **options), return_predictions=False)
    written = pd.read_csv(tmp_path / "predictions.csv", parse_dates=["time"])
    expected = model.predict(frame)
    assert expected.groupby("id")["time"].first().to_dict() == {
        10: pd.Timestamp("2023-05-31"),
        11: pd.Timestamp("2023-08-31"),
        12: pd.Timestamp("2023-09-30"),
    }  # the month after each series' last
    pd.testing.assert_frame_equal(written, expected, check_dtype=False, rtol=1e-5)


@pytest.mark.parametrize("stride", [1, 2, 5])
def test_backtest_origins_of_series_of_unequal_lengths_are_those_of_a_hand_loop(stride):
    """From one time, each series' first forecast steps run ``stride`` rows apart while a whole horizon fits before
    its end: the last window ends on its last row where the stride allows, never after it."""
    frame = _series_of_unequal_lengths()
    data = TimeSeriesDataModule(frame, 12, 4, columns=COVARIATES)
    windows = backtest_windows(data, "2024-01-04 20:00", stride=stride)
    counts = {}
    for i, (name, rows) in enumerate(frame.groupby("id", sort=False)):
        first = int(np.searchsorted(rows["time"], pd.Timestamp("2024-01-04 20:00")))
        origins = list(range(first, len(rows) - 4 + 1, stride))  # each window's first forecast step
        assert (data.series_names[i], windows.first[i], windows.counts[i]) == (name, first, len(origins))
        assert origins[-1] + 4 <= len(rows) < origins[-1] + 4 + stride
        counts[name] = len(origins)
    with pytest.raises(ForecastDataError, match=rf"series 'A' .*room for {counts['A']} windows .*--num_windows 100"):
        backtest_windows(data, "2024-01-04 20:00", stride=stride, num_windows=100)


class _Locked(L.Callback):
    """A callback holding a lock, which does not copy."""

    def __init__(self):
        import threading

        self.lock = threading.Lock()


def test_a_refit_backtest_names_a_callback_that_does_not_copy(tmp_path):
    """Each refit trains with its own copy of the callbacks: one holding a lock gave Python's bare
    "cannot pickle '_thread.lock' object", naming no callback."""
    data = TimeSeriesDataModule(_sine(), 24, 6, split=FractionSplit(), batch_size=256)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, max_epochs=1, callbacks=[_Locked()], **QUIET)
    with pytest.raises(ValueError, match=r"_Locked does not copy \(cannot pickle '_thread.lock' object\)"):
        trainer.backtest(_linear(lr=0.0), data, start=150, num_windows=1, refit_every=1, verbose=False)
