"""benchmarks/ltsf.py's protocol at its edges, with the fits and the CLI stubbed: no test here trains."""

import functools
import json
import re
import runpy
from pathlib import Path

import pandas as pd
import pytest

from forecast import datasets

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")
CONFIG = ROOT / "configs/etth1/linear.yaml"


@functools.cache
def data_settings(*data_args: str) -> dict:
    """What a fit of the config on the preset's split with ``data_args`` records as its data settings (``fit``'s
    ``data``: its data module's hyperparameters), built without fitting."""
    preset = json.dumps(datasets.info("etth1").split)
    args = ["--config", str(CONFIG), "--data.source", "etth1", "--data.split", preset, *data_args]
    return dict(ltsf["run"].__globals__["cli"](args, run=False).datamodule.hparams)


def stub_fits_and_tests(monkeypatch, test_batches: int, all_batches: int, data_args: tuple[str, ...] = ()) -> None:
    """Fits that score 0.5 on validation with the data settings of ``data_settings(*data_args)``, and a ``test``
    that scores ``test_batches`` of the test part's ``all_batches`` batches (fewer under
    ``--trainer.limit_test_batches``)."""
    module = ltsf["run"].__globals__  # the script's own globals (run_path returns a copy)
    data = data_settings(*data_args)

    def fit(args, directory):
        directory.mkdir(parents=True, exist_ok=True)  # what a fit leaves: its directory, where the run writes
        summary = {"best": "b.ckpt", "val_loss": 0.5, "lookback": 96, "fit_s": 1.0, "epochs": 1, "val_winner": "model"}
        return summary | {"data": data}

    class Trainer:
        callback_metrics = {"test/mse": 0.3, "test/mae": 0.2}
        num_test_batches = [test_batches]
        test_dataloaders = range(all_batches)

    class Run:
        trainer = Trainer()

    monkeypatch.setitem(module, "fit", fit)
    monkeypatch.setitem(module, "cli", lambda args, run=True: Run())


PUBLISHED_ROW = "| 0.368 / 0.395 | 0.371 / 0.393 | 0.378 / 0.391 | 0.386 / 0.405 | 0.386 / 0.400 | 0.350 / 0.384 |"


def published_beside(result: dict) -> bool:
    """Whether the summary's CSV and Markdown rows of ``result`` show the published figures of its cell."""
    table = ltsf["summarize"](pd.DataFrame([result]))
    shown = ltsf["to_markdown"](table).splitlines()[2].endswith(PUBLISHED_ROW)
    assert shown is pd.notna(table["SegRNN mse"].iloc[0])  # the two tables agree
    return shown


@pytest.mark.parametrize(("test_batches", "followed"), [(2, False), (10, True)])
def test_ltsf_published_figures_stand_only_beside_a_test_of_every_window(tmp_path, monkeypatch, test_batches, followed):
    """A smoke run's ``--trainer.limit_test_batches 2`` scores two batches of the test part: its figures are not
    the published protocol's (every window scored), so none stand beside it."""
    stub_fits_and_tests(monkeypatch, test_batches, all_batches=10)
    result = ltsf["run"]("etth1", CONFIG, 96, 0, tmp_path, [])
    assert result["protocol"] is followed and published_beside(result) is followed


@pytest.mark.parametrize(("data_args", "followed"), [((), True), (("--data.scaling.scaler", "null"), False)])
def test_ltsf_published_figures_stand_only_beside_standardized_targets(tmp_path, monkeypatch, data_args, followed):
    """The published MSE and MAE are on the scale of a ``StandardScaler`` fitted on the training rows; a run
    without it (``--data.scaling.scaler null``: original units) scores on another scale."""
    stub_fits_and_tests(monkeypatch, test_batches=10, all_batches=10, data_args=data_args)
    result = ltsf["run"]("etth1", CONFIG, 96, 0, tmp_path, list(data_args))
    assert result["protocol"] is followed and published_beside(result) is followed


@pytest.mark.parametrize("flag", [["--horizons", "24", "24"], ["--datasets", "etth1", "etth1"]])
def test_ltsf_refuses_a_horizon_or_data_set_given_twice(tmp_path, monkeypatch, capsys, flag):
    """The same run twice would count as two seeds of one row (its mean and std over copies), and with ``--jobs``
    two processes would fit into one directory: refused before any fit."""
    row = {"dataset": "etth1", "config": "linear", "horizon": 24, "seed": 0, "mse": 0.3, "mae": 0.2, "fit_s": 1.0}
    monkeypatch.setitem(ltsf["main"].__globals__, "run", lambda *args: row)
    args = ["--configs", str(CONFIG), "--horizons", "24", "--seeds", "1", *flag]
    with pytest.raises(SystemExit):
        ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "board")])
    assert f"{flag[0]} {flag[1]} {flag[2]}: one is given twice; give each once" in capsys.readouterr().err


LOSSES = {  # what fits record (the model's hyperparameters) under --model.loss VALUE, and their validation scores
    "MSELoss": ({"class_path": "forecast.losses.MSELoss"}, 0.5),
    "default": (None, 0.4),  # the Forecaster's default: MSELoss
    "QuantileLoss": ({"class_path": "forecast.losses.QuantileLoss", "init_args": {"levels": [0.1, 0.5, 0.9]}}, 0.2),
}


def stub_fits_of_losses(monkeypatch) -> None:
    """Fits that record the loss and score of ``LOSSES[VALUE]`` for ``--model.loss VALUE``; no CLI run."""
    data = data_settings()

    def fit(args, directory):
        directory.mkdir(parents=True, exist_ok=True)
        loss, score = LOSSES[args[args.index("--model.loss") + 1]]
        summary = {"best": "b.ckpt", "val_loss": score, "lookback": 96, "fit_s": 1.0, "epochs": 1}
        return summary | {"val_winner": "model", "data": data, "loss": loss}

    monkeypatch.setitem(ltsf["run"].__globals__, "fit", fit)
    monkeypatch.setitem(ltsf["run"].__globals__, "cli", lambda args, run=True: pytest.fail(f"ran {args[0]}"))


def test_ltsf_refuses_to_choose_among_fits_of_other_losses(tmp_path, monkeypatch):
    """A fit's validation score is its own loss: a pinball loss of 0.2 is no better than an MSE of 0.5, so
    ``--choose model.loss ...`` (or a member of another loss) is refused, and nothing is tested."""
    stub_fits_of_losses(monkeypatch)
    choices = ltsf["candidates"]([], [["model.loss", "MSELoss", "QuantileLoss"]])
    message = "the fits model.loss=MSELoss and model.loss=QuantileLoss train with other losses (model.loss "
    with pytest.raises(ValueError, match=re.escape(message + "forecast.losses.MSELoss {} vs forecast.losses.Quantile")):
        ltsf["run"]("etth1", CONFIG, 96, 0, tmp_path, [], choices)


def test_ltsf_chooses_among_fits_of_the_default_loss_and_the_same_loss_named(tmp_path, monkeypatch):
    stub_fits_of_losses(monkeypatch)
    choices = ltsf["candidates"]([], [["model.loss", "MSELoss", "default"]])
    assert ltsf["run"]("etth1", CONFIG, 96, 0, tmp_path, [], choices, test=False)["chosen"] == "model.loss=default"


def test_ensemble_script_refuses_the_runs_of_another_config_of_the_same_file_name(tmp_path, monkeypatch):
    """Runs are kept by the config's file name only: configs/etth1/linear.yaml's run directory is also
    configs/ltsf/linear.yaml's. benchmarks/ensemble.py combines a run only of the config it is given, as it is."""
    ensemble = runpy.run_path(str(ROOT / "benchmarks" / "ensemble.py"), run_name="ensemble")
    monkeypatch.setitem(ensemble["main"].__globals__, "cli", lambda args, run=True: pytest.fail("scored"))
    ran, given = tmp_path / "etth1/linear.yaml", tmp_path / "ltsf/linear.yaml"
    for path, source in [(ran, "configs/etth1/linear.yaml"), (given, "configs/ltsf/linear.yaml")]:
        path.parent.mkdir()
        path.write_text((ROOT / source).read_text())
    args = ltsf["layout"]("etth1", ran, 24, 0, tmp_path / "runs", [])[2]
    saved = {"args": args, "configs": ltsf["config_hashes"](args), "result": {"best": "b.ckpt", "args": args}}
    (tmp_path / "runs/etth1/linear/H24/seed0").mkdir(parents=True)
    (tmp_path / "runs/etth1/linear/H24/seed0/result.json").write_text(json.dumps(saved))
    argv = ["--config", str(given), "--horizons", "24", "--seeds", "1", "--root", str(tmp_path / "runs")]
    with pytest.raises(ValueError, match=f"is a run of {ran} as it was then, not of {given} as it is now"):
        ensemble["main"]([*argv, "--out", str(tmp_path / "e")])


@pytest.mark.parametrize(
    ("given", "own"),
    [
        (["--data.horizon", "48"], "--horizons"),
        (["--data.source=etth2"], "--datasets"),
        (["--seed_everything", "7"], "--seeds"),
        (["--trainer.default_root_dir", "runs/one"], "--root"),
    ],
)
def test_ltsf_refuses_a_cli_argument_it_sets_for_each_run(tmp_path, monkeypatch, capsys, given, own):
    """Passed on to the CLI after the run's own, ``--data.horizon 48`` would fit every run of ``--horizons 96`` at
    48 and table it beside the published figures of 96 (and ``--trainer.default_root_dir`` would put every run
    into one directory): refused, naming the option to use."""
    monkeypatch.setitem(ltsf["main"].__globals__, "run", lambda *args: pytest.fail("ran"))
    args = ["--configs", str(CONFIG), "--horizons", "96", "--seeds", "1", *given]
    with pytest.raises(SystemExit):
        ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "board")])
    assert f"{given[0].split('=')[0]}: ltsf.py sets it for each run; use {own}" in capsys.readouterr().err
