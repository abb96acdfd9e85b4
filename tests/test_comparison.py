"""fit against the naive forecasts on validation: the last value and the seasonal naive."""

import json
import warnings
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from forecast.cli import main
from forecast.comparison import NaiveComparison, naive_forecasts
from forecast.data import FractionSplit
from forecast.data.datamodule import TimeSeriesDataModule
from forecast.data.options import Scaling
from forecast.losses import MSELoss, QuantileLoss
from forecast.model import Forecaster
from forecast.nn import IdentityEncoder, LookbackMeanHead

ROOT = Path(__file__).resolve().parents[1]


def test_naive_forecasts_repeat_the_last_value_and_the_last_season(wide_frame):
    data = TimeSeriesDataModule(wide_frame, lookback=24, horizon=6, split=FractionSplit())
    data.setup("validate")
    batch = next(iter(data.val_dataloader()))
    forecasts = naive_forecasts(batch, period=4)
    past = batch.past[..., :3].numpy()
    np.testing.assert_array_equal(forecasts["last value"].numpy(), np.repeat(past[:, -1:], 6, axis=1))
    season = past[:, [20, 21, 22, 23, 20, 21]]  # the last 4 steps, then again from their start
    np.testing.assert_array_equal(forecasts["seasonal naive (4 steps)"].numpy(), season)
    assert list(naive_forecasts(batch, period=25)) == ["last value"]  # a season longer than the lookback


def test_fit_on_a_random_walk_says_the_last_value_beats_the_mean(tmp_path, tiny_cli):
    """A lookback mean lags a random walk; the last value is its best forecast, and fit says so."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=2000, freq="h", name="date")
    pd.DataFrame({"walk": rng.standard_normal(2000).cumsum()}, index=index).to_csv(tmp_path / "walk.csv")
    config = ROOT / "configs/etth1/lookback_mean.yaml"
    with pytest.warns(UserWarning, match="the last value wins; the model loses to a naive forecast"):
        cli = main(["fit", "--config", str(config), *tiny_cli(str(tmp_path / "walk.csv"), tmp_path),
                    "--trainer.max_epochs", "1", "--trainer.logger", "false"])  # fmt: skip
    scores = json.loads((tmp_path / "naive_comparison.json").read_text())["val_mse"]
    data = cli.datamodule
    windows = data.dataset("val").__getitems__(list(range(len(data.dataset("val")))))
    last = windows.past[:, -1:, :1].expand_as(windows.target)
    assert scores["last value"] == pytest.approx(float((last - windows.target).square().mean()), rel=1e-6)
    assert scores["model"] > scores["last value"] and "seasonal naive (24 steps)" in scores
    assert scores["model"] == pytest.approx(float(cli.trainer.callback_metrics["val/mse"]), rel=1e-6)
    assert torch.isfinite(torch.tensor(list(scores.values()))).all()


def test_the_naive_forecasts_are_scored_on_the_observed_validation_targets_as_the_model(tmp_path, tiny_cli):
    """Validation targets repaired by ffill score no forecast: the last value forecast by the model and by the
    comparison get one MSE, that of the observed targets (the repairs would make it look better)."""
    rng = np.random.default_rng(0)
    walk = rng.standard_normal(400).cumsum()
    walk[300:330] = np.nan  # in the validation part (FractionSplit: rows 280 to 340)
    index = pd.date_range("2024-01-01", periods=400, freq="h", name="date")
    pd.DataFrame({"walk": walk}, index=index).to_csv(tmp_path / "walk.csv")
    config = ROOT / "configs/etth1/last_value.yaml"
    cli = main(["fit", "--config", str(config), *tiny_cli(str(tmp_path / "walk.csv"), tmp_path),
                "--data.nan_policy", "ffill", "--trainer.max_epochs", "1", "--trainer.logger", "false"])  # fmt: skip
    scores = json.loads((tmp_path / "naive_comparison.json").read_text())["val_mse"]
    data = cli.datamodule
    windows = data.dataset("val").__getitems__(list(range(len(data.dataset("val")))))
    errors = (windows.past[:, -1:, :1] - windows.target).square()
    assert not windows.observed.all()
    assert scores["last value"] == pytest.approx(float(errors[windows.observed].mean()), rel=1e-6)
    assert scores["model"] == pytest.approx(scores["last value"], rel=1e-6)


@pytest.fixture(scope="module")
def walk_csv(tmp_path_factory) -> Path:
    """An hourly random walk: nothing forecasts it better than its last value."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=2000, freq="h", name="date")
    path = tmp_path_factory.mktemp("walk") / "walk.csv"
    pd.DataFrame({"walk": rng.standard_normal(2000).cumsum()}, index=index).to_csv(path)
    return path


def _last_value_mse(data: TimeSeriesDataModule, split: str, first: int | None = None) -> float:
    """The last value's MSE over the split's ``first`` windows (all of them by default)."""
    windows = data.dataset(split).__getitems__(list(range(first or len(data.dataset(split)))))
    return float((windows.past[:, -1:, :1].expand_as(windows.target) - windows.target).square().mean())


def test_naive_forecasts_are_scored_on_the_windows_the_trainer_validates(tmp_path, tiny_cli, walk_csv):
    """With limit_val_batches the model's val/mse covers two batches; the naive forecasts cover the same two."""
    config = str(ROOT / "configs/etth1/lookback_mean.yaml")
    args = ["--config", config, *tiny_cli(str(walk_csv), tmp_path, batch_size=8), "--trainer.logger", "false",
            "--trainer.max_epochs", "1", "--trainer.limit_val_batches", "2"]  # fmt: skip
    with pytest.warns(UserWarning, match="the last value wins"):
        cli = main(["fit", *args])
    scores = json.loads((tmp_path / "naive_comparison.json").read_text())["val_mse"]
    assert scores["model"] == pytest.approx(float(cli.trainer.callback_metrics["val/mse"]), rel=1e-6)
    assert scores["last value"] == pytest.approx(_last_value_mse(cli.datamodule, "val", first=16), rel=1e-6)
    assert scores["last value"] != pytest.approx(_last_value_mse(cli.datamodule, "val"), rel=1e-2)


@pytest.mark.parametrize("fallback", [True, False])
def test_a_checkpoint_that_loses_to_the_last_value_falls_back_to_it(tmp_path, tiny_cli, walk_csv, fallback):
    """With fallback, the lookback mean's checkpoint (it lags a random walk) tests and predicts as the
    last value; without, as itself. Only validation decided."""
    config = str(ROOT / "configs/etth1/lookback_mean.yaml")
    args = ["--config", config, *tiny_cli(str(walk_csv), tmp_path), "--trainer.logger", "false"]
    args += ["--naive_comparison.fallback", str(fallback).lower()]
    match = "its checkpoint forecasts the last value" if fallback else "the model loses to a naive forecast"
    with pytest.warns(UserWarning, match=match):
        fit = main(["fit", *args, "--trainer.max_epochs", "1"])
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert report["fallback"] == ("last value" if fallback else None)
    best = fit.trainer.checkpoint_callback.best_model_path
    assert torch.load(best, weights_only=True)["naive_fallback"] == (1 if fallback else None)

    tested = main(["test", *args, "--ckpt_path", best]).trainer.callback_metrics["test/mse"]
    last_value = _last_value_mse(fit.datamodule, "test")
    assert (float(tested) == pytest.approx(last_value, rel=1e-5)) == fallback
    assert json.loads((tmp_path / "metrics.json").read_text())["naive_fallback"] == (1 if fallback else None)

    history = pd.read_csv(walk_csv, index_col="date", parse_dates=True)
    forecasts = Forecaster.load(best).predict(history)
    expected = history["walk"].iloc[-1] if fallback else history["walk"].iloc[-24:].mean()
    np.testing.assert_allclose(forecasts["walk"].to_numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("margin", [0.3, 0.6])
def test_a_network_ahead_of_the_naive_forecasts_by_less_than_the_margin_falls_back(tmp_path, tiny_cli, margin):
    """On noise about a level, the lookback mean leads both naive forecasts by about half their MSE: it keeps
    its forecast at a margin of 30% and falls back to the better naive forecast at 60%."""
    index = pd.date_range("2024-01-01", periods=2000, freq="h", name="date")
    noise = np.random.default_rng(0).standard_normal(2000)
    pd.DataFrame({"level": 5 + noise}, index=index).to_csv(tmp_path / "noise.csv")
    config = str(ROOT / "configs/etth1/lookback_mean.yaml")
    args = ["--config", config, *tiny_cli(str(tmp_path / "noise.csv"), tmp_path), "--trainer.logger", "false"]
    args += ["--naive_comparison.fallback", "true", "--naive_comparison.margin", str(margin)]
    fit = main(["fit", *args, "--trainer.max_epochs", "1"])
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    scores, naive = report["val_mse"], min(set(report["val_mse"]) - {"model"}, key=report["val_mse"].get)
    assert report["winner"] == "model" and 0.4 < 1 - scores["model"] / scores[naive] < 0.55
    assert report["fallback"] == (naive if margin > 0.5 else None)
    tested = main(["test", *args, "--ckpt_path", fit.trainer.checkpoint_callback.best_model_path])
    test_mse = float(tested.trainer.callback_metrics["test/mse"])
    if margin > 0.5 and naive == "last value":
        assert test_mse == pytest.approx(_last_value_mse(fit.datamodule, "test"), rel=1e-5)
    assert (test_mse > 1.5) == (margin > 0.5)  # a naive forecast of unit noise: about 2; the mean about 1


def test_a_margin_outside_0_to_1_is_refused():
    with pytest.raises(ValueError, match=r"naive_comparison.margin must be in \[0, 1\)"):
        NaiveComparison(margin=1.0)


def test_resuming_fit_from_a_fallen_back_checkpoint_validates_the_network(tmp_path, tiny_cli, walk_csv):
    args = [
        "--config", str(ROOT / "configs/etth1/lookback_mean.yaml"), *tiny_cli(str(walk_csv), tmp_path),
        "--trainer.logger", "false", "--naive_comparison.fallback", "true",
    ]  # fmt: skip
    with pytest.warns(UserWarning, match="its checkpoint forecasts the last value"):
        first = main(["fit", *args, "--trainer.max_epochs", "1"])
    network = float(first.trainer.callback_metrics["val/mse"])
    with pytest.warns(UserWarning, match="its checkpoint forecasts the last value"):
        resumed = main(["fit", *args, "--trainer.max_epochs", "2", "--ckpt_path", "last"])
    assert float(resumed.trainer.callback_metrics["val/mse"]) == pytest.approx(network, rel=1e-6)
    assert network > _last_value_mse(first.datamodule, "val") * 1.01  # the last value would differ


def test_fallback_needs_a_point_loss(tmp_path, tiny_cli, walk_csv):
    args = ["--config", str(ROOT / "configs/etth1/gru_quantile.yaml"), *tiny_cli(str(walk_csv), tmp_path)]
    with pytest.raises(ValueError, match="naive_comparison.fallback needs a point loss.*QuantileLoss"):
        main(["fit", *args, "--naive_comparison.fallback", "true", "--trainer.max_epochs", "1"])


def test_a_recurrent_config_given_a_quantile_loss_is_refused_naming_the_fallback_to_turn_off(
    tmp_path, tiny_cli, walk_csv
):
    """The recurrent configs fall back to a naive forecast that validation prefers; a user who swaps in a quantile
    loss is told which key to turn off."""
    args = ["--config", str(ROOT / "configs/etth1/gru.yaml"), *tiny_cli(str(walk_csv), tmp_path)]
    args += ["--model.loss", "forecast.losses.QuantileLoss", "--trainer.max_epochs", "1"]
    with pytest.raises(
        ValueError, match=r"model.loss is QuantileLoss of levels .*; set naive_comparison.fallback false"
    ):
        main(["fit", *args])


def test_fallback_refuses_a_quantile_loss_of_one_level():
    """One level has one parameter per value, as a point loss, but forecasts that quantile: before, a 0.9-quantile
    model that lost to the last value on MSE fell back to it, in its y_q0.9 column too."""
    model = Forecaster(lookback=8, horizon=2, input_size=1, target_size=1, loss=QuantileLoss(levels=[0.9]))
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match=r"fallback needs a point loss.*QuantileLoss of levels \[0\.9\]"):
        NaiveComparison(fallback=True).setup(trainer, model, "fit")


def test_the_last_value_as_the_model_ties_with_the_last_value_and_the_model_keeps_the_tie(tmp_path, tiny_cli):
    """The model's score is float32 and the naive's float64: the same forecasts must not read as a loss."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2020-01-01", periods=200, freq="h", name="date")
    walks = 1000 + 50 * rng.standard_normal((200, 2)).cumsum(axis=0)
    pd.DataFrame(walks, index=index, columns=["y", "z"]).to_csv(tmp_path / "walks.csv")
    config = str(ROOT / "configs/etth1/last_value.yaml")
    args = ["--config", config, *tiny_cli(str(tmp_path / "walks.csv"), tmp_path), "--trainer.logger", "false"]
    main(["fit", *args, "--trainer.max_epochs", "1", "--naive_comparison.fallback", "true"])
    comparison = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert comparison["val_mse"]["model"] == pytest.approx(comparison["val_mse"]["last value"], rel=1e-6)
    assert (comparison["winner"], comparison["fallback"]) == ("model", None)


@pytest.mark.parametrize("period", [0, -24])
def test_a_seasonal_period_below_one_is_refused(period):
    """0 read as unset (the frequency's season) and a negative period as no seasonal naive, both silently."""
    with pytest.raises(ValueError, match=rf"naive_comparison.seasonal_period must be at least 1 step.*got {period}"):
        NaiveComparison(seasonal_period=period)


def test_a_checkpoint_that_monitors_nothing_is_reported_by_its_last_epoch(tmp_path):
    """A ModelCheckpoint without ``monitor`` keeps the last epoch: the report gives that epoch's MSE and the
    fallback its checkpoint recorded, not those of the epoch with the lowest val/mse."""
    comparison = NaiveComparison(fallback=True)
    comparison.epochs = [(0.5, 0.5), (0.3, 0.3), (0.45, 0.45)]  # (monitored, val/mse) per epoch: 0.45 last
    comparison.naive, comparison.periods = {"last value": 0.4}, {"last value": 1}
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor=None)
    trainer = SimpleNamespace(checkpoint_callback=checkpoint, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq="h", lookback=24))  # fmt: skip
    with pytest.warns(UserWarning, match="its checkpoint forecasts the last value"):
        comparison.on_fit_end(trainer, None)
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert report["val_mse"]["model"] == 0.45
    assert (report["winner"], report["fallback"]) == ("last value", "last value")


def test_a_naive_forecast_without_error_on_validation_is_reported_not_divided_by(tmp_path):
    """A seasonal naive forecast is exact on a validation part that repeats its last season (or a flat one): its
    MSE of 0 made the model's share of it a ZeroDivisionError at the end of fit, and no naive_comparison.json."""
    comparison = NaiveComparison()
    comparison.epochs = [(0.02, 0.02)]
    comparison.naive = {"last value": 0.5, "seasonal naive (24 steps)": 0.0}
    comparison.periods = {"last value": 1, "seasonal naive (24 steps)": 24}
    trainer = SimpleNamespace(checkpoint_callback=None, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq="h", lookback=48))  # fmt: skip
    said = (r"last value 0.5000 \(the model's -96.0%\), seasonal naive \(24 steps\) 0.0000 \(no error; the model's "
            r"0.02 above it\): the seasonal naive \(24 steps\) wins")  # fmt: skip
    with pytest.warns(UserWarning, match=said):
        comparison.on_fit_end(trainer, None)
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert report["val_mse"] == {"model": 0.02, "last value": 0.5, "seasonal naive (24 steps)": 0.0}
    assert report["winner"] == "seasonal naive (24 steps)"


def test_a_seasonal_naive_whose_season_outgrows_the_lookback_is_said_to_be_left_out(tmp_path):
    """``--naive_comparison.seasonal_period 168`` with a lookback of 12 compared the last value alone, and the log
    gave no word of the seasonal naive forecast that was asked for."""
    comparison = NaiveComparison(seasonal_period=168)
    comparison.epochs, comparison.naive, comparison.periods = [(0.6, 0.6)], {"last value": 0.5}, {"last value": 1}
    trainer = SimpleNamespace(checkpoint_callback=None, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq="h", lookback=12))  # fmt: skip
    with pytest.warns(UserWarning, match=r"last value 0.5000 \(the model's \+20.0%\) \(no seasonal naive: its season, "
                      r"168 steps, is longer than the lookback, 12\): the last value wins"):  # fmt: skip
        comparison.on_fit_end(trainer, None)


def _validated(comparison: NaiveComparison, val_mse: float) -> None:
    """``comparison.on_validation_end`` of a fit's epoch whose ``val/mse`` (and ``val/loss``) is ``val_mse``."""
    metrics = {"val/mse": torch.tensor(val_mse), "val/loss": torch.tensor(val_mse)}
    trainer = SimpleNamespace(callback_metrics=metrics, checkpoint_callback=None, sanity_checking=False,
                              state=SimpleNamespace(fn="fit"))  # fmt: skip
    comparison.on_validation_end(trainer, None)


def test_a_resumed_fit_records_the_fallback_of_the_epoch_it_resumed_after(tmp_path):
    """A fit resumed mid-epoch wrote ``naive_fallback: null`` in the checkpoints it saved before its first validation
    (``last.ckpt`` at a stop), where the fit that never stopped records the last value: the network that lost to the
    last value on validation shipped."""
    fitted = NaiveComparison(fallback=True)
    fitted.naive, fitted.periods = {"last value": 0.4}, {"last value": 1}
    _validated(fitted, 0.5)
    never_stopped, resumed_checkpoint = {}, {}
    fitted.on_save_checkpoint(None, None, never_stopped)
    resumed = NaiveComparison(fallback=True)
    module = SimpleNamespace(loss=MSELoss())
    resumed.setup(SimpleNamespace(checkpoint_callbacks=[]), module, "fit")  # Lightning: setup, then restore
    resumed.load_state_dict(fitted.state_dict())
    resumed.on_save_checkpoint(None, None, resumed_checkpoint)
    assert resumed_checkpoint["naive_fallback"] == never_stopped["naive_fallback"] == 1


def test_a_network_whose_validation_mse_is_nan_falls_back_and_is_reported_as_losing(tmp_path):
    """NaN compared as not above the naive MSE: a network whose forecasts overflowed kept its checkpoint's own
    forecast under fallback, and the report said the model wins."""
    comparison = NaiveComparison(fallback=True)
    comparison.naive, comparison.periods = {"last value": 0.4}, {"last value": 1}
    _validated(comparison, float("nan"))
    checkpoint = {}
    comparison.on_save_checkpoint(None, None, checkpoint)
    assert checkpoint["naive_fallback"] == 1
    trainer = SimpleNamespace(checkpoint_callback=None, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq="h", lookback=24))  # fmt: skip
    with pytest.warns(UserWarning, match="the last value wins; with naive_comparison.fallback"):
        comparison.on_fit_end(trainer, None)
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert (report["winner"], report["fallback"]) == ("last value", "last value")


@pytest.mark.parametrize("mode", ["min", "max"])
def test_an_epoch_whose_monitored_value_is_nan_is_not_reported_as_the_checkpoints(tmp_path, mode):
    """ModelCheckpoint ranks a NaN monitored value worst and keeps the finite epoch after it; the report gave the
    NaN epoch's MSE as the model's (and called it the winner)."""
    comparison = NaiveComparison()
    comparison.epochs = [(float("nan"), float("nan")), (0.3, 0.3)]  # (monitored, val/mse) per epoch
    comparison.naive, comparison.periods = {"last value": 0.4}, {"last value": 1}
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val/loss", mode=mode)
    trainer = SimpleNamespace(checkpoint_callback=checkpoint, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq="h", lookback=24))  # fmt: skip
    comparison.on_fit_end(trainer, None)
    report = json.loads((tmp_path / "naive_comparison.json").read_text())
    assert (report["val_mse"]["model"], report["winner"]) == (0.3, "model")


def test_fallback_refuses_checkpoints_of_weights_only(tmp_path, tiny_cli, wide_csv):
    """A weights-only checkpoint left out the fallback (Lightning calls no callback's on_save_checkpoint for one):
    the report said the checkpoint forecasts the naive forecast, and it forecast the network."""
    args = ["--config", str(ROOT / "configs/etth1/lookback_mean.yaml"), *tiny_cli(wide_csv, tmp_path),
            "--trainer.logger", "false", "--trainer.max_epochs", "1"]  # fmt: skip
    with pytest.raises(ValueError, match="naive_comparison.fallback .* set checkpoint.save_weights_only false"):
        main(["fit", *args, "--naive_comparison.fallback", "true", "--checkpoint.save_weights_only", "true"])
    assert not list(tmp_path.rglob("*.ckpt"))


def _fit_end_message(comparison: NaiveComparison, tmp_path: Path, freq: str = "h", lookback: int = 24) -> str:
    """The message ``comparison.on_fit_end`` logs (as a warning or as info) after its recorded epochs."""
    trainer = SimpleNamespace(checkpoint_callback=None, log_dir=str(tmp_path), is_global_zero=True,
                              datamodule=SimpleNamespace(freq=freq, lookback=lookback))  # fmt: skip
    said = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("forecast.comparison.warn_on_rank_zero", said.append)
        patch.setattr("forecast.comparison.rank_zero_info", said.append)
        comparison.on_fit_end(trainer, None)
    return said[0]


def test_a_margin_below_one_percent_is_said_as_set(tmp_path):
    """A margin of 0.005 was said as "0% of the last value's MSE": the network that led by 0.25% fell back, and the
    log said it had to lead by nothing."""
    comparison = NaiveComparison(fallback=True, margin=0.005)
    comparison.epochs, comparison.naive, comparison.periods = [(0.399, 0.399)], {"last value": 0.4}, {"last value": 1}
    message = _fit_end_message(comparison, tmp_path)
    assert "the model wins, by less than naive_comparison.margin (0.5% of the last value's MSE)" in message


@pytest.mark.parametrize(
    ("model", "said"),
    [(0.4001, "(the model's +0.025%): the last value wins"), (0.5, "(the model's +25.0%): the last value wins"),
     (0.3, "(the model's -25.0%): the model wins"), (float("nan"), "(the model's is NaN): the last value wins")],
)  # fmt: skip
def test_the_model_gap_to_a_naive_forecast_is_said_as_a_share_of_the_naive_mse(tmp_path, model, said):
    """A model 0.025% above the last value read "+0.0%" beside "the last value wins", and a NaN one "+nan%"."""
    comparison = NaiveComparison()
    comparison.epochs, comparison.naive, comparison.periods = [(model, model)], {"last value": 0.4}, {"last value": 1}
    assert said in _fit_end_message(comparison, tmp_path)


def test_a_frequency_without_a_season_is_said_to_leave_the_seasonal_naive_out(tmp_path):
    """Yearly data have no common season: the log compared the last value alone and gave no word of why."""
    comparison = NaiveComparison()
    comparison.epochs, comparison.naive, comparison.periods = [(0.6, 0.6)], {"last value": 0.5}, {"last value": 1}
    said = "(no seasonal naive: the frequency 'YS-JAN' has no common season; set naive_comparison.seasonal_period"
    assert said in _fit_end_message(comparison, tmp_path, freq="YS-JAN")


def _fit_lookback_mean(
    frame: pd.DataFrame, tmp_path: Path, comparison: NaiveComparison, model_lookback: int | None = None, **data
) -> L.Trainer:
    """One epoch of the lookback mean (nothing to train) on ``frame``, with ``comparison`` and a checkpoint; the model
    is built with ``model_lookback`` (the data's by default), and runs on the data's windows whatever it is."""
    data_module = TimeSeriesDataModule(frame, split=FractionSplit(), batch_size=4, **data)
    model = Forecaster(lookback=model_lookback or data["lookback"], horizon=data["horizon"], input_size=frame.shape[1],
                       target_size=frame.shape[1], encoder=IdentityEncoder, head=LookbackMeanHead)  # fmt: skip
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val/loss")
    trainer = L.Trainer(
        max_epochs=1,
        logger=False,
        default_root_dir=tmp_path,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[comparison, checkpoint],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the naive forecasts win, and the head has nothing to optimize
        trainer.fit(model, data_module)
    return trainer


def test_each_naive_mse_is_that_of_numpy_over_every_strided_validation_window(tmp_path):
    """Business hours (a season of 8), two channels, every third validation window, a horizon beyond the season and
    values missing in the validation part (ffill): each naive forecast's MSE is numpy's over exactly those windows,
    from the repaired lookback, scored on the observed targets."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01 09:00", periods=300, freq="bh", name="date")
    frame = pd.DataFrame(rng.standard_normal((300, 2)).cumsum(axis=0), index=index, columns=["y", "z"])
    frame.iloc[[215, 216, 230], 0] = np.nan  # validation rows 210 to 240 (FractionSplit), in lookbacks and targets
    lookback, horizon, stride = 10, 20, 3
    comparison = NaiveComparison()
    _fit_lookback_mean(frame, tmp_path, comparison, lookback=lookback, horizon=horizon, eval_stride=stride,
                       nan_policy="ffill", scaling=Scaling(scaler=None, covariate_scaler=None))  # fmt: skip
    values, repaired, observed = frame.to_numpy(), frame.ffill().to_numpy(), frame.notna().to_numpy()
    expected = {}
    for name, period in {"last value": 1, "seasonal naive (8 steps)": 8}.items():
        starts = range(210, 240 - horizon + 1, stride)
        forecasts = np.stack([repaired[start - period + np.arange(horizon) % period] for start in starts])
        targets, scored = (np.stack([part[start : start + horizon] for start in starts]) for part in (values, observed))
        expected[name] = np.square(forecasts - targets)[scored].mean()
    assert comparison.naive == pytest.approx(expected, rel=1e-6)


def test_a_checkpoint_that_falls_back_to_the_seasonal_naive_predicts_it_in_original_units(tmp_path):
    """On a season of 4 steps in two scaled channels, the seasonal naive wins and the checkpoint's forecasts over a
    horizon of 6 repeat each channel's last 4 values, in original units."""
    steps = np.arange(200)
    season = np.array([0.0, 10.0, 0.0, -10.0])
    noise = 0.1 * np.random.default_rng(0).standard_normal((200, 2))
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    frame = pd.DataFrame({"a": 100 + season[steps % 4], "b": -3 + 2 * season[(steps + 1) % 4]}, index=index) + noise
    trainer = _fit_lookback_mean(frame, tmp_path, NaiveComparison(seasonal_period=4, fallback=True), lookback=8,
                                 horizon=6)  # fmt: skip
    best = trainer.checkpoint_callback.best_model_path
    assert torch.load(best, weights_only=True)["naive_fallback"] == 4
    forecasts = Forecaster.load(best).predict(frame)
    expected = frame.to_numpy()[[-4, -3, -2, -1, -4, -3]]
    np.testing.assert_allclose(forecasts[["a", "b"]].to_numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("model_lookback", "data_lookback", "naive"),
    [(4, 24, {"last value": 1, "seasonal naive (24 steps)": 24}), (48, 12, {"last value": 1})],
)
def test_the_naive_forecasts_follow_the_windows_of_the_data_not_the_lookback_of_a_baseline(
    tmp_path, model_lookback, data_lookback, naive
):
    """A baseline built in Python with another lookback than its data module's runs on the data's windows; the
    comparison named its naive forecasts by the model's lookback and scored them on the windows, and fit failed at
    its first validation (``zip() argument 2 is longer than argument 1``). Now the windows decide both, the scores
    are numpy's over them, and the log says the season is left out for the data's lookback, not the model's."""
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    noise = 0.1 * np.random.default_rng(0).standard_normal(200)
    frame = pd.DataFrame({"y": np.sin(np.arange(200) * 2 * np.pi / 24) + noise}, index=index)
    comparison, horizon, said = NaiveComparison(), 6, []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("forecast.comparison.warn_on_rank_zero", said.append)
        patch.setattr("forecast.comparison.rank_zero_info", said.append)
        _fit_lookback_mean(frame, tmp_path, comparison, model_lookback, lookback=data_lookback, horizon=horizon,
                           scaling=Scaling(scaler=None, covariate_scaler=None))  # fmt: skip
    values, starts = frame["y"].to_numpy(), range(140, 160 - horizon + 1)  # validation rows 140 to 160
    expected = {}
    for name, period in naive.items():
        forecasts = np.stack([values[start - period + np.arange(horizon) % period] for start in starts])
        expected[name] = np.square(forecasts - np.stack([values[start : start + horizon] for start in starts])).mean()
    assert comparison.naive == pytest.approx(expected, rel=1e-6)
    left_out = f"(no seasonal naive: its season, 24 steps, is longer than the lookback, {data_lookback})"
    assert (left_out in said[0]) == (len(naive) == 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seasonal_period": "24"}, r"naive_comparison\.seasonal_period='24' is not a whole number; give an int"),
        ({"seasonal_period": 24.0}, r"naive_comparison\.seasonal_period=24\.0 is not a whole number"),
        ({"fallback": "false"}, r"naive_comparison\.fallback='false'"),
        ({"margin": "0.05"}, r"naive_comparison\.margin='0\.05' is not a number; give a share such as 0\.05"),
    ],
)
def test_options_of_the_wrong_type_from_python_are_refused_naming_the_key(options, message):
    """The CLI types these; from Python "24" failed as "'<' not supported" and "false" switched the fallback on."""
    with pytest.raises(TypeError, match=message):
        NaiveComparison(**options)
