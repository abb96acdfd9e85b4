"""Edges of the command line: errors a user meets, config composition and the help of every subcommand."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from forecast.__main__ import main as forecast_command
from forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "configs/quickstart.yaml")


def write_frame(path: Path, channels: list[str]) -> str:
    """120 hourly rows of seeded noise, one column per channel."""
    rng = np.random.default_rng(0)
    index = pd.date_range("2024-01-01", periods=120, freq="h", name="date")
    pd.DataFrame({name: rng.standard_normal(120) for name in channels}, index=index).to_csv(path)
    return str(path)


def test_the_help_of_the_clis_own_subcommand_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["backtest", "--help"])
    assert exit_info.value.code == 0
    assert "--data.lookback" in capsys.readouterr().out


def test_a_later_config_overrides_an_earlier_one(tmp_path, capsys):
    later = tmp_path / "later.yaml"
    later.write_text(yaml.safe_dump({"trainer": {"max_epochs": 7}, "data": {"lookback": 48}}))
    with pytest.raises(SystemExit):
        main(["fit", "--config", QUICKSTART, "--config", str(later), "--print_config"])
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["trainer"]["max_epochs"] == 7
    assert printed["data"]["lookback"] == 48
    assert printed["data"]["horizon"] == 24  # the earlier file's, untouched


def test_a_data_error_exits_non_zero_with_its_message_alone(tmp_path, tiny_cli, monkeypatch, capsys):
    csv = write_frame(tmp_path / "gap.csv", ["a", "b"])
    frame = pd.read_csv(csv)
    frame.loc[5, "a"] = np.nan
    frame.to_csv(csv, index=False)
    refuse = ["--data.nan_policy", "error"]  # the config repairs gaps (ffill)
    monkeypatch.setattr(sys, "argv", ["forecast", "fit", "--config", QUICKSTART, *tiny_cli(csv, tmp_path), *refuse])
    with pytest.raises(SystemExit) as exit_info:
        forecast_command()
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "error: value nan at column 'a', row 5" in error
    assert "Traceback" not in error


def test_a_model_checkpoint_like_the_clis_own_in_trainer_callbacks_is_refused_naming_the_keys(tmp_path, tiny_cli):
    csv = write_frame(tmp_path / "wide.csv", ["a", "b"])
    config = tmp_path / "callbacks.yaml"
    own = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"monitor": "val/loss"}}
    config.write_text(yaml.safe_dump({"trainer": {"callbacks": [own]}}))
    with pytest.raises(
        ValueError, match=r"trainer.callbacks has a ModelCheckpoint of monitor 'val/loss'.*checkpoint\."
    ):
        main(["--config", QUICKSTART, "--config", str(config), *tiny_cli(csv, tmp_path)], run=False)


def test_trainer_callbacks_add_to_the_clis_own(tmp_path, tiny_cli):
    csv = write_frame(tmp_path / "wide.csv", ["a", "b"])
    config = tmp_path / "callbacks.yaml"
    stop = {"class_path": "lightning.pytorch.callbacks.EarlyStopping", "init_args": {"monitor": "val/loss"}}
    every = {"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"every_n_epochs": 5}}
    config.write_text(yaml.safe_dump({"trainer": {"callbacks": [stop, every]}}))
    cli = main(["--config", QUICKSTART, "--config", str(config), *tiny_cli(csv, tmp_path)], run=False)
    names = [type(callback).__name__ for callback in cli.trainer.callbacks]
    assert {"EarlyStopping", "ModelCheckpoint", "ResumableModelCheckpoint", "PredictionWriter"} <= set(names)


def test_a_checkpoint_of_other_channel_counts_is_refused_naming_the_sizes(tmp_path, tiny_cli):
    fit_once = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1"]
    main(["fit", "--config", QUICKSTART, *tiny_cli(write_frame(tmp_path / "two.csv", ["a", "b"]), tmp_path), *fit_once])
    three = write_frame(tmp_path / "three.csv", ["a", "b", "c"])
    with pytest.raises(ValueError, match="trained on data of input_size 2, target_size 2, but .* input_size 3"):
        main(["test", "--config", QUICKSTART, *tiny_cli(three, tmp_path), "--ckpt_path", "last"])


def test_a_linked_model_key_in_a_config_file_is_refused_not_dropped(tmp_path, tiny_cli):
    csv = write_frame(tmp_path / "wide.csv", ["a", "b"])
    config = tmp_path / "model.yaml"
    config.write_text(yaml.safe_dump({"model": {"lookback": 48}}))
    with pytest.raises(ValueError, match=r"model.yaml sets model.lookback, which the CLI takes from the data"):
        main(["fit", "--config", QUICKSTART, "--config", str(config), *tiny_cli(csv, tmp_path)])


def test_a_size_in_a_config_file_is_refused_also_without_a_subcommand(tmp_path, tiny_cli):
    csv = write_frame(tmp_path / "wide.csv", ["a", "b"])
    config = tmp_path / "model.yaml"
    config.write_text(yaml.safe_dump({"model": {"input_size": 3}}))
    with pytest.raises(ValueError, match=r"sets model.input_size, which the CLI takes from the data"):
        main(["--config", QUICKSTART, "--config", str(config), *tiny_cli(csv, tmp_path)], run=False)
