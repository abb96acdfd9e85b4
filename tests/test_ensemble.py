"""An ensemble in one checkpoint: it loads, tests and predicts as the mean of its members, which may differ in
their model and lookback but not in their data."""

import functools
import json
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

import forecast
from forecast import Forecaster, TimeSeriesDataModule
from forecast.cli import main
from forecast.data import FractionSplit
from forecast.ensemble import combine
from forecast.ensemble import main as ensemble_main
from forecast.export import example_inputs, to_program
from forecast.losses import GaussianNLLLoss, Loss, MAELoss, MSELoss, QuantileLoss
from forecast.nn import GRUEncoder

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs/etth1/gru.yaml")


@pytest.fixture(scope="module")
def members(tmp_path_factory, tiny_cli) -> dict:
    """Three tiny GRUs of one config on one frame (seeds 0, 1, 2), one with a wider GRU, one with a shorter
    lookback (12 steps, not 24), and their data."""
    root = tmp_path_factory.mktemp("ensemble")
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=300, freq="h", name="date")
    steps = np.arange(300)
    frame = pd.DataFrame(
        {"a": np.sin(steps / 4) + 0.3 * rng.standard_normal(300), "b": np.cos(steps / 7) + rng.standard_normal(300)},
        index=index,
    )
    frame.to_csv(root / "frame.csv")

    def fit(name: str, *extra: str) -> str:
        args = ["fit", "--config", CONFIG, *tiny_cli(str(root / "frame.csv"), root / name, batch_size=16)]
        args += ["--trainer.max_epochs", "2", "--trainer.logger", "false", "--model.encoder.init_args.hidden_size", "8"]
        return main([*args, *extra]).trainer.checkpoint_callback.best_model_path

    checkpoints = {f"seed{seed}": fit(f"seed{seed}", "--seed_everything", str(seed)) for seed in range(3)}
    checkpoints["wide"] = fit("wide", "--model.encoder.init_args.hidden_size", "16")
    checkpoints["short"] = fit("short", "--seed_everything", "3", "--data.lookback", "12")
    return {"root": root, "frame": frame, "checkpoints": checkpoints}


def test_the_ensemble_predicts_the_mean_of_its_members(members, tmp_path):
    seeds = [members["checkpoints"][f"seed{seed}"] for seed in range(3)]
    path = combine(seeds, tmp_path / "ensemble.ckpt")
    forecasts = [Forecaster.load(seed).predict(members["frame"]) for seed in seeds]
    ensemble = Forecaster.load(path)
    table = ensemble.predict(members["frame"])
    pd.testing.assert_frame_equal(table[["id", "time"]], forecasts[0][["id", "time"]])
    mean = np.mean([forecast[["a", "b"]].to_numpy() for forecast in forecasts], axis=0)
    np.testing.assert_allclose(table[["a", "b"]].to_numpy(), mean, rtol=1e-5, atol=1e-6)
    assert not np.allclose(forecasts[0][["a", "b"]].to_numpy(), forecasts[1][["a", "b"]].to_numpy())
    assert len(ensemble.members) == 2
    older = torch.load(path, weights_only=True)  # written before members recorded their own hyperparameters
    del older["ensemble_hyper_parameters"]
    torch.save(older, tmp_path / "older.ckpt")
    pd.testing.assert_frame_equal(Forecaster.load(tmp_path / "older.ckpt").predict(members["frame"]), table)


def test_the_cli_tests_an_ensemble_no_worse_than_its_members_mean_mse(members, tiny_cli, tmp_path):
    """The MSE of a mean forecast is at most the mean of the members' MSEs (Jensen), with equality
    only when they forecast alike; the CLI's test must read the ensemble's weights to show it."""
    seeds = [members["checkpoints"][f"seed{seed}"] for seed in range(2)]
    path = ensemble_main([*seeds, "--out", str(tmp_path / "ensemble.ckpt")])
    data = tiny_cli(str(members["root"] / "frame.csv"), tmp_path, batch_size=16)

    def test_mse(checkpoint: str) -> float:
        metrics = main(["test", "--config", CONFIG, *data, "--trainer.logger", "false", "--ckpt_path", checkpoint])
        return float(metrics.trainer.callback_metrics["test/mse"])

    alone = [test_mse(seed) for seed in seeds]
    assert test_mse(str(path)) < np.mean(alone) - 1e-4
    assert json.loads((tmp_path / "metrics.json").read_text())["ensemble_members"] == 2  # the test report says so


def test_an_ensemble_of_other_models_and_lookbacks_predicts_their_mean(members, tmp_path):
    """Members may differ in their network (a wider GRU) and their lookback (12 steps against 24): each
    forecasts from the last steps of the history that its own lookback spans, as it does alone."""
    names = ["short", "seed0", "wide"]
    path = combine([members["checkpoints"][name] for name in names], tmp_path / "ensemble.ckpt")
    ensemble = Forecaster.load(path)
    assert ensemble.hparams["lookback"] == 24  # the longest lookback leads, whatever the order given
    assert sorted(member.hparams["lookback"] for member in ensemble.members) == [12, 24]
    forecasts = [Forecaster.load(members["checkpoints"][name]).predict(members["frame"]) for name in names]
    mean = np.mean([forecast[["a", "b"]].to_numpy() for forecast in forecasts], axis=0)
    np.testing.assert_allclose(ensemble.predict(members["frame"])[["a", "b"]].to_numpy(), mean, rtol=1e-5, atol=1e-6)
    short = Forecaster.load(members["checkpoints"]["short"]).predict(members["frame"].iloc[-12:])  # all it reads
    np.testing.assert_allclose(short[["a", "b"]].to_numpy(), forecasts[0][["a", "b"]].to_numpy())


def test_the_cli_tests_an_ensemble_of_two_lookbacks_at_the_longer(members, tiny_cli, tmp_path):
    """The CLI tests the ensemble with its leading member's config and lookback; every member is scored on
    the same windows, so the mean forecast's MSE is below the members' mean MSE."""
    names = ["short", "seed1"]
    path = combine([members["checkpoints"][name] for name in names], tmp_path / "ensemble.ckpt")

    def test_mse(checkpoint: str, lookback: int) -> float:
        data = tiny_cli(str(members["root"] / "frame.csv"), tmp_path, lookback=lookback, batch_size=16)
        metrics = main(["test", "--config", CONFIG, *data, "--trainer.logger", "false", "--ckpt_path", checkpoint])
        return float(metrics.trainer.callback_metrics["test/mse"])

    alone = [test_mse(members["checkpoints"]["short"], 12), test_mse(members["checkpoints"]["seed1"], 24)]
    assert test_mse(str(path), 24) < np.mean(alone) - 1e-4


def test_combine_refuses_members_of_other_data(members, tmp_path):
    checkpoints = members["checkpoints"]
    other = torch.load(checkpoints["seed1"], weights_only=True)
    other["datamodule_hyper_parameters"] = other["datamodule_hyper_parameters"] | {"horizon": 3}
    torch.save(other, tmp_path / "other_horizon.ckpt")
    with pytest.raises(
        ValueError, match=r"other_horizon.ckpt differs from .*seed0.* in datamodule_hyper_parameters.horizon:"
    ):
        combine([checkpoints["seed0"], tmp_path / "other_horizon.ckpt"], tmp_path / "ensemble.ckpt")
    other = torch.load(checkpoints["seed1"], weights_only=True)
    scaling = other["datamodule_hyper_parameters"]["scaling"]
    other["datamodule_hyper_parameters"]["scaling"] = scaling | {"per_series": not scaling["per_series"]}
    torch.save(other, tmp_path / "other_scaling.ckpt")
    with pytest.raises(ValueError, match=r"in datamodule_hyper_parameters.scaling.per_series: an ensemble's"):
        combine([checkpoints["seed0"], tmp_path / "other_scaling.ckpt"], tmp_path / "ensemble.ckpt")
    with pytest.raises(ValueError, match="two or more checkpoints"):
        combine([checkpoints["seed0"]], tmp_path / "ensemble.ckpt")
    path = combine([checkpoints["seed0"], checkpoints["seed1"]], tmp_path / "ensemble.ckpt")
    with pytest.raises(ValueError, match="is an ensemble already"):
        combine([checkpoints["seed2"], path], tmp_path / "again.ckpt")
    assert not (tmp_path / "again.ckpt").exists()


@pytest.fixture(scope="module")
def python_member(members) -> str:
    """A checkpoint of ``members``' data fitted from Python (``forecast.fit``, one quick epoch), not the CLI."""
    trainer = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "logger": False,
               "enable_progress_bar": False, "enable_model_summary": False,
               "default_root_dir": str(members["root"] / "python")}  # fmt: skip
    data = {"split": FractionSplit(), "nan_policy": "ffill"}  # the data settings of the config the CLI fits
    forecast.fit(members["root"] / "frame.csv", lookback=24, horizon=6, data=data,
                 model={"encoder": functools.partial(GRUEncoder, hidden_size=8)}, trainer=trainer)  # fmt: skip
    return str(members["root"] / "python/checkpoints/last.ckpt")


def test_combine_takes_a_member_fitted_from_python_beside_one_fitted_with_the_cli(members, python_member, tmp_path):
    """``forecast.fit`` records a scaler or split by the module that defines it and the arguments given, the CLI
    by the path it was given and every argument: the same data settings, which were refused as different."""
    cli_member = members["checkpoints"]["seed0"]
    path = combine([cli_member, python_member], tmp_path / "ensemble.ckpt")
    forecasts = [Forecaster.load(checkpoint).predict(members["frame"]) for checkpoint in (cli_member, python_member)]
    mean = np.mean([forecast[["a", "b"]].to_numpy() for forecast in forecasts], axis=0)
    np.testing.assert_allclose(Forecaster.load(path).predict(members["frame"])[["a", "b"]].to_numpy(), mean, rtol=1e-5)


@pytest.mark.parametrize(
    "key, spec, differing",
    [
        ("scaler", {"class_path": "sklearn.preprocessing.MinMaxScaler"}, "scaling.scaler.class_path"),
        (
            "covariate_scaler",
            {"class_path": "sklearn.preprocessing.StandardScaler", "init_args": {"with_mean": False}},
            "scaling.covariate_scaler.init_args.with_mean",
        ),
    ],
    ids=["other-scaler", "other-init-args"],
)
def test_combine_refuses_a_member_of_another_scaler_by_name(members, python_member, tmp_path, key, spec, differing):
    other = torch.load(members["checkpoints"]["seed1"], weights_only=True)
    other["datamodule_hyper_parameters"]["scaling"][key] = spec
    torch.save(other, tmp_path / "other.ckpt")
    with pytest.raises(
        ValueError, match=rf"other.ckpt differs from .*python.* in datamodule_hyper_parameters.{differing}:"
    ):
        combine([python_member, tmp_path / "other.ckpt"], tmp_path / "ensemble.ckpt")


def test_combine_takes_members_that_differ_only_in_how_training_batched_them(members, tmp_path):
    checkpoints = members["checkpoints"]
    batched = torch.load(checkpoints["seed1"], weights_only=True)
    loading = {"batch_size": 64, "num_workers": 2, "pin_memory": True, "train_stride": 3, "sampling": "series"}
    batched["datamodule_hyper_parameters"] |= loading
    torch.save(batched, tmp_path / "batched.ckpt")
    path = combine([checkpoints["seed0"], tmp_path / "batched.ckpt"], tmp_path / "ensemble.ckpt")
    same = combine([checkpoints["seed0"], checkpoints["seed1"]], tmp_path / "same.ckpt")
    frame = members["frame"]
    pd.testing.assert_frame_equal(Forecaster.load(path).predict(frame), Forecaster.load(same).predict(frame))


def test_combine_refuses_a_member_that_fell_back(members, tmp_path):
    checkpoint = torch.load(members["checkpoints"]["seed1"], weights_only=True)
    torch.save(checkpoint | {"naive_fallback": 1}, tmp_path / "fell_back.ckpt")
    with pytest.raises(ValueError, match="fell_back.ckpt fell back to a naive forecast"):
        combine([members["checkpoints"]["seed0"], tmp_path / "fell_back.ckpt"], tmp_path / "ensemble.ckpt")


def test_combine_refuses_a_member_of_a_probabilistic_loss(members, tmp_path):
    checkpoint = torch.load(members["checkpoints"]["seed1"], weights_only=True)
    loss = {"class_path": "forecast.losses.GaussianNLLLoss"}
    torch.save(
        checkpoint | {"hyper_parameters": checkpoint["hyper_parameters"] | {"loss": loss}}, tmp_path / "nll.ckpt"
    )
    with pytest.raises(ValueError, match="nll.ckpt: an ensemble averages point forecasts, and GaussianNLLLoss has 2"):
        combine([members["checkpoints"]["seed0"], tmp_path / "nll.ckpt"], tmp_path / "ensemble.ckpt")


def test_combine_refuses_a_member_of_a_one_level_quantile_loss(members, tmp_path):
    """A QuantileLoss of one level has one parameter per value, as a point loss, but it forecasts that quantile:
    averaged with point forecasts (or written as the ensemble's quantile column) it would mislabel the mean."""
    checkpoint = torch.load(members["checkpoints"]["seed1"], weights_only=True)
    loss = {"class_path": "forecast.losses.QuantileLoss", "init_args": {"levels": [0.9]}}
    torch.save(
        checkpoint | {"hyper_parameters": checkpoint["hyper_parameters"] | {"loss": loss}}, tmp_path / "q90.ckpt"
    )
    with pytest.raises(
        ValueError, match=r"q90.ckpt: an ensemble averages point forecasts, and QuantileLoss has quantile levels"
    ):
        combine([tmp_path / "q90.ckpt", members["checkpoints"]["seed0"]], tmp_path / "ensemble.ckpt")
    assert not (tmp_path / "ensemble.ckpt").exists()


def test_fit_refuses_to_train_an_ensemble(members, tiny_cli, tmp_path):
    path = combine([members["checkpoints"]["seed0"], members["checkpoints"]["seed1"]], tmp_path / "ensemble.ckpt")
    args = ["fit", "--config", CONFIG, *tiny_cli(str(members["root"] / "frame.csv"), tmp_path, batch_size=16)]
    with pytest.raises(ValueError, match="is an ensemble of 2 checkpoints"):
        main([*args, "--trainer.logger", "false", "--ckpt_path", str(path), "--trainer.max_epochs", "5"])


def test_an_ensemble_exports_its_mean_forecast(members, tmp_path):
    names = ["seed0", "short"]
    ensemble = Forecaster.load(combine([members["checkpoints"][name] for name in names], tmp_path / "ensemble.ckpt"))
    to_program(ensemble, tmp_path / "ensemble.pt2")
    program = torch.export.load(tmp_path / "ensemble.pt2").module()
    past, future, static = example_inputs(ensemble, batch_size=3)
    seed0, short = (Forecaster.load(members["checkpoints"][name]) for name in names)
    expected = torch.stack([seed0(past, future, static), short(past[:, -12:], future, static)]).mean(0)
    torch.testing.assert_close(program(past, future, static), expected)


def test_the_cli_names_the_lookback_a_checkpoint_needs(members, tiny_cli, tmp_path):
    path = combine([members["checkpoints"]["short"], members["checkpoints"]["seed1"]], tmp_path / "ensemble.ckpt")
    data = tiny_cli(str(members["root"] / "frame.csv"), tmp_path, lookback=12, batch_size=16)
    with pytest.raises(ValueError, match=r"ensemble.ckpt.*lookback 24.*--data.lookback 24"):
        main(["test", "--config", CONFIG, *data, "--trainer.logger", "false", "--ckpt_path", str(path)])


def test_an_ensemble_member_naming_a_function_is_refused_before_anything_is_built(members, tmp_path):
    """Members' hyperparameters build modules on load, as the model's own do: they are checked the same way."""
    path = combine([members["checkpoints"]["seed0"], members["checkpoints"]["wide"]], tmp_path / "ensemble.ckpt")
    crafted = torch.load(path, weights_only=True)
    marker = tmp_path / "ran"
    crafted["ensemble_hyper_parameters"][0]["optimizer"] = {
        "class_path": "pathlib.Path.touch", "init_args": {"self": str(marker)}
    }  # fmt: skip
    torch.save(crafted, tmp_path / "crafted.ckpt")
    with pytest.raises(ValueError, match="ensemble member 1's hyperparameter 'optimizer' names pathlib.Path.touch"):
        Forecaster.load(tmp_path / "crafted.ckpt")
    with pytest.raises(ValueError, match="ensemble member 1's hyperparameter 'optimizer'"):
        main(["test", "--config", CONFIG, "--data.source", str(members["root"] / "frame.csv"), "--data.split",
              "forecast.data.FractionSplit", "--ckpt_path", str(tmp_path / "crafted.ckpt")])  # fmt: skip
    assert not marker.exists()
    del crafted["ensemble_hyper_parameters"][0]
    torch.save(crafted, tmp_path / "short.ckpt")
    with pytest.raises(ValueError, match="its ensemble_hyper_parameters are not those of its 1 other members"):
        Forecaster.load(tmp_path / "short.ckpt")


def test_a_checkpoint_whose_weights_do_not_fit_its_hyperparameters_is_refused_by_name(members, tmp_path):
    mixed = torch.load(members["checkpoints"]["seed0"], weights_only=True)  # a GRU of 8 units
    mixed["state_dict"] = torch.load(members["checkpoints"]["wide"], weights_only=True)["state_dict"]  # of 16
    torch.save(mixed, tmp_path / "mixed.ckpt")
    with pytest.raises(ValueError, match=r"mixed.ckpt: its weights do not fit the model .*size mismatch"):
        Forecaster.load(tmp_path / "mixed.ckpt")


def test_combine_refuses_a_member_that_recorded_no_time_zone_beside_one_without_a_zone(members, tmp_path):
    """A checkpoint from before the time zone was recorded takes a history's times as given (times in a zone
    too), where ``time_zone: None`` refuses times in a zone: the two forecast different data, so no default
    makes the missing key equal."""
    older = torch.load(members["checkpoints"]["seed1"], weights_only=True)
    assert older["TimeSeriesDataModule"].pop("time_zone") is None
    torch.save(older, tmp_path / "older.ckpt")
    with pytest.raises(ValueError, match=r"older.ckpt differs from .*seed0.* in TimeSeriesDataModule.time_zone:"):
        combine([members["checkpoints"]["seed0"], tmp_path / "older.ckpt"], tmp_path / "ensemble.ckpt")


def test_an_ensemble_written_under_a_tilde_path_lands_in_the_home_folder(members, tmp_path, monkeypatch):
    """A path from a config file or a Python string passes no shell: ``~`` made a folder named '~' here."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    seeds = [members["checkpoints"][f"seed{seed}"] for seed in range(2)]
    assert combine(seeds, "~/ensembles/e.ckpt") == tmp_path / "home/ensembles/e.ckpt"
    assert (tmp_path / "home/ensembles/e.ckpt").is_file() and not (tmp_path / "~").exists()


def hand_made_ensemble(path: Path, own: Loss, other: Loss) -> tuple[Forecaster, Forecaster]:
    """Two untrained networks of the losses ``own`` and ``other`` written as one ensemble's checkpoint, as
    ``combine`` writes it but without its checks; the two networks, in eval mode."""
    networks = []
    for seed, loss in enumerate((own, other)):
        torch.manual_seed(seed)
        network = Forecaster(lookback=12, horizon=4, input_size=2, target_size=2, loss=loss)
        checkpoint = {"state_dict": network.state_dict(), "hyper_parameters": dict(network.hparams)}
        network.on_save_checkpoint(checkpoint)  # the plain specs that fit records
        networks.append((network.eval(), checkpoint | {"pytorch-lightning_version": L.__version__}))
    (first, ensemble), (second, member) = networks
    ensemble["state_dict"] |= {f"members.0.{key}": value for key, value in member["state_dict"].items()}
    configs = [{key: value for key, value in member["hyper_parameters"].items() if key != "_instantiator"}]
    torch.save(ensemble | {"ensemble_members": 2, "ensemble_hyper_parameters": configs}, path)
    return first, second


def test_a_hand_made_ensemble_of_point_losses_forecasts_the_mean_of_its_networks(tmp_path):
    first, second = hand_made_ensemble(tmp_path / "ensemble.ckpt", MSELoss(), MAELoss())
    past, future, static = torch.randn(3, 12, 2), torch.zeros(3, 4, 0), torch.zeros(3, 0)
    expected = (first(past, future, static) + second(past, future, static)) / 2
    torch.testing.assert_close(Forecaster.load(tmp_path / "ensemble.ckpt")(past, future, static), expected)


@pytest.mark.parametrize(
    "own, other, message",
    [
        (GaussianNLLLoss(), GaussianNLLLoss(), "the ensemble's own network: .* GaussianNLLLoss has 2 parameters"),
        (MSELoss(), QuantileLoss(), r"ensemble member 1: .* QuantileLoss has 3 parameters per value"),
        (MSELoss(), QuantileLoss([0.9]), r"ensemble member 1: .* QuantileLoss has quantile levels \(0.9,\)"),
    ],
    ids=["gaussian", "quantiles", "one-quantile"],
)
def test_a_hand_made_ensemble_of_a_probabilistic_loss_is_refused_on_load(tmp_path, own, other, message):
    """``forward`` averages the networks' loss parameters: of normal forecasts also their standard deviations,
    where the mixture's spread holds the spread of their means too. ``combine`` refuses such members; a
    checkpoint written by hand is refused where its members are built."""
    hand_made_ensemble(tmp_path / "ensemble.ckpt", own, other)
    with pytest.raises(ValueError, match=message + ".*train the members with a point loss"):
        Forecaster.load(tmp_path / "ensemble.ckpt")


@pytest.mark.parametrize("given", [["one"], ["one", "missing.ckpt"]])
def test_the_ensemble_command_prints_a_users_mistake_as_a_usage_error(members, tmp_path, capsys, given):
    """It ended in a traceback, its message (the fix) on the last line."""
    paths = [members["checkpoints"]["seed0"] if name == "one" else str(tmp_path / name) for name in given]
    with pytest.raises(SystemExit) as exit_status:
        ensemble_main([*paths, "--out", str(tmp_path / "ensemble.ckpt")])
    assert exit_status.value.code == 2
    message = capsys.readouterr().err.splitlines()[-1]
    fix = "two or more checkpoints; got 1" if len(given) == 1 else "give the path of a .ckpt file"
    assert ": error: " in message and message.endswith(fix)


@pytest.mark.parametrize("other, differing", [({"horizon": 6}, "horizon"), ({"target_size": 1}, "target_size")])
def test_combine_refuses_members_of_another_horizon_or_target_size_recorded_without_data(tmp_path, other, differing):
    """Checkpoints of models fitted on dataloaders record no data settings; their sizes still tell that their
    forecasts could not be averaged, before an ensemble is written that fails at its first forecast."""
    paths = []
    for name, sizes in (("first", {}), ("other", other)):
        network = Forecaster(**{"lookback": 12, "horizon": 4, "input_size": 2, "target_size": 2} | sizes)
        checkpoint = {"state_dict": network.state_dict(), "hyper_parameters": dict(network.hparams)}
        network.on_save_checkpoint(checkpoint)  # the plain specs that fit records
        torch.save(checkpoint | {"pytorch-lightning_version": L.__version__}, tmp_path / f"{name}.ckpt")
        paths.append(tmp_path / f"{name}.ckpt")
    with pytest.raises(ValueError, match=rf"other.ckpt differs from .*first.ckpt in hyper_parameters.{differing}"):
        combine(paths, tmp_path / "ensemble.ckpt")
    assert not (tmp_path / "ensemble.ckpt").exists()


def test_combine_takes_members_of_one_frequency_named_otherwise(tmp_path):
    """Data read at ``data.freq`` "1h" and the same data whose hourly frequency was inferred ("h") are one data, as
    ``load_state_dict`` takes them; another frequency is still refused, naming it."""
    index = pd.date_range("2024-01-01", periods=100, freq="h", name="date")
    frame = pd.DataFrame({"a": np.sin(np.arange(100) / 3)}, index=index)
    paths = []
    for freq in (None, "1h", "60min", "2h"):
        data = TimeSeriesDataModule(frame.asfreq(freq or "h"), 8, 4, freq=freq)
        data.setup("fit")
        network = Forecaster(lookback=8, horizon=4, input_size=1, target_size=1)
        checkpoint = {"state_dict": network.state_dict(), "hyper_parameters": dict(network.hparams)}
        network.on_save_checkpoint(checkpoint)  # the plain specs that fit records
        checkpoint |= {"datamodule_hyper_parameters": dict(data.hparams), "TimeSeriesDataModule": data.state_dict()}
        paths.append(tmp_path / f"{freq}.ckpt")
        torch.save(checkpoint | {"pytorch-lightning_version": L.__version__}, paths[-1])
    assert combine(paths[:3], tmp_path / "ensemble.ckpt").exists()
    with pytest.raises(ValueError, match=r"2h.ckpt differs from .* in datamodule_hyper_parameters.freq"):
        combine([paths[0], paths[3]], tmp_path / "other.ckpt")
