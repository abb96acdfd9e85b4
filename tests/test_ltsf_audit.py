"""benchmarks/ltsf.py's protocol where a reviewer found it wrong: the checkpoint it tests, and its own options."""

import json
import runpy
from pathlib import Path

import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")
CONFIG = ROOT / "configs/etth1/linear.yaml"


def test_ltsf_fit_keeps_the_best_val_loss_checkpoint_beside_a_configs_own_checkpoint(tmp_path):
    """A config may add a ModelCheckpoint of another monitor (here the worst epoch in original units); Lightning
    puts it first among the trainer's checkpoints, but the run must test, and choose on, the CLI's own: the
    epoch of the least ``val/loss``, with that score."""
    config = tmp_path / "linear.yaml"
    own = "    - class_path: lightning.pytorch.callbacks.ModelCheckpoint\n"
    own += "      init_args: {monitor: val/mse_orig, mode: max, filename: 'worst-{epoch}'}\nmodel:\n"
    config.write_text(CONFIG.read_text().replace("model:\n", own, 1))
    args = ["--config", str(config), "--data.horizon", "24", "--trainer.default_root_dir", str(tmp_path)]
    args += ["--trainer.enable_progress_bar", "false", "--trainer.max_epochs", "2", "--report.num_plots", "0"]
    args += ["--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]
    summary = ltsf["fit"](args, tmp_path)
    scores = pd.read_csv(next(tmp_path.glob("lightning_logs/version_0/metrics.csv")))[["epoch", "val/loss"]].dropna()
    best = scores.loc[scores["val/loss"].idxmin()]
    assert len(scores) == 2 and scores["val/loss"].iloc[0] != scores["val/loss"].iloc[1]
    assert summary["val_loss"] == pytest.approx(best["val/loss"])
    assert torch.load(summary["best"], weights_only=False)["epoch"] == best["epoch"]


def test_ltsf_passes_a_config_preset_on_to_the_cli_not_as_its_configs(tmp_path, monkeypatch):
    """``--config configs/trainer/cpu.yaml`` composes a preset after the config in every fit and test (the CLI's
    option); read as an abbreviation of ``--configs`` it would replace the leaderboard's configs with it."""
    ran = []

    def run(dataset, config, horizon, seed, root, extra, *rest):
        ran.append((config, extra))
        return {
            "dataset": dataset,
            "config": config.stem,
            "horizon": horizon,
            "seed": seed,
            "mse": 0.3,
            "mae": 0.2,
            "fit_s": 1.0,
        }

    monkeypatch.setitem(ltsf["main"].__globals__, "run", run)
    preset = str(ROOT / "configs/trainer/cpu.yaml")
    args = ["--configs", str(CONFIG), "--config", preset, "--horizons", "24", "--seeds", "1"]
    ltsf["main"]([*args, "--root", str(tmp_path / "runs"), "--out", str(tmp_path / "board")])
    assert ran == [(CONFIG, ["--config", preset])]


def test_ltsf_refuses_to_choose_among_fits_scored_on_other_validation_windows(tmp_path, monkeypatch):
    """``--choose data.split PRESET OWN`` where OWN validates on the preset's test rows: its score there would
    decide which fit the preset's test reads (here it scores best). Refused after the fits, nothing tested."""
    preset = ltsf["origin_splits"]("etth1", 1)[0]
    own = '{"class_path": "forecast.data.RowSplit", "init_args": {"val_start": 11520, "test_start": 12960}}'
    scaling = {"scaler": {"class_path": "sklearn.preprocessing.StandardScaler"}, "per_series": False}

    def fit(args, directory):
        split = args[len(args) - 1 - args[::-1].index("--data.split") + 1]  # the last one: what the CLI takes
        data = {"source": "etth1", "horizon": 24, "split": json.loads(split), "columns": {}, "scaling": scaling}
        summary = {"best": "b.ckpt", "val_loss": 0.3 if split == own else 0.5, "lookback": 96, "fit_s": 1.0}
        return summary | {"epochs": 1, "val_winner": "model", "data": data}

    monkeypatch.setitem(ltsf["run"].__globals__, "fit", fit)
    monkeypatch.setitem(ltsf["run"].__globals__, "cli", lambda args, run=True: pytest.fail(f"ran {args[0]}"))
    choices = ltsf["candidates"]([], [["data.split", preset, own]])
    with pytest.raises(ValueError, match=r"are scored on other validation windows or scales \(data.split \{'class"):
        ltsf["run"]("etth1", CONFIG, 24, 0, tmp_path, [], choices)
