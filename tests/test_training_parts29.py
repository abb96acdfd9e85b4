"""Audit of the training loop's own parts: the learning-rate finder's refusals and what ``lr_find.yaml`` says of the
sweep that ran, against Lightning's ``Tuner.lr_find`` on the same config."""

import numpy as np
import pandas as pd
import pytest
import yaml

from forecast.lr_finder import find_lr


@pytest.fixture(scope="module")
def sine_csv(tmp_path_factory) -> str:
    """200 hourly rows of two smooth channels."""
    steps = np.arange(200)
    index = pd.date_range("2024-01-01", periods=200, freq="h", name="date")
    path = tmp_path_factory.mktemp("data") / "wide.csv"
    pd.DataFrame({"a": 10 + np.sin(steps / 4), "b": -5 + 2 * np.cos(steps / 6)}, index=index).to_csv(path)
    return str(path)


def finder_args(csv: str, tiny_cli, *extra: str) -> list[str]:
    """A tiny GRU on ``csv`` in batches of 16: 7 training batches an epoch."""
    return [*tiny_cli(csv, batch_size=16), "--model.encoder.init_args.hidden_size", "4", *extra]


def test_lr_find_under_fast_dev_run_is_refused_naming_the_key(sine_csv, tiny_cli, tmp_path):
    """Lightning skips the finder under ``fast_dev_run`` and returns ``None``: ``find_lr`` failed with
    ``AttributeError: 'NoneType' object has no attribute 'suggestion'``."""
    with pytest.raises(ValueError, match=r"trainer\.fast_dev_run .* skips the learning-rate finder"):
        find_lr(finder_args(sine_csv, tiny_cli, "--trainer.fast_dev_run", "true"), tmp_path, num_training=20)
    assert not (tmp_path / "lr_find.yaml").exists()


def test_lr_find_of_a_model_without_weights_is_refused_naming_the_parts(sine_csv, tiny_cli, tmp_path):
    """A baseline has no optimizer whose rate the finder could raise: it failed with ``IndexError: list index out of
    range`` from inside Lightning."""
    args = finder_args(sine_csv, tiny_cli, "--model.encoder", "forecast.nn.IdentityEncoder", "--model.head",
                       "forecast.nn.LastValueHead")  # fmt: skip
    with pytest.raises(ValueError, match=r"the model has no weights to train .*LastValueHead"):
        find_lr(args, tmp_path, num_training=20)
    assert not list(tmp_path.glob(".lr_find*.ckpt"))


@pytest.mark.slow
def test_lr_find_yaml_says_how_many_steps_ran_and_the_rates_they_tried(sine_csv, tiny_cli, tmp_path):
    """Three epochs of 7 batches end a sweep of 30 steps after 21, below the rates it would have reached: the file
    said the finder ran all 30."""
    from lightning.pytorch.tuner import Tuner

    from forecast.cli import main as cli_main

    args = finder_args(sine_csv, tiny_cli, "--seed_everything", "0", "--trainer.max_epochs", "3")
    lr = find_lr(args, tmp_path / "run", num_training=30)
    cli = cli_main([*args, "--trainer.default_root_dir", str(tmp_path / "reference")], run=False)
    finder = Tuner(cli.trainer).lr_find(cli.model, datamodule=cli.datamodule, num_training=30, update_attr=False)
    rates = finder.results["lr"]
    assert len(rates) == 21 and lr == finder.suggestion()
    text = (tmp_path / "run" / "lr_find.yaml").read_text()
    assert text.splitlines()[0] == (
        f"# Lightning's learning-rate finder over 21 of 30 steps, rates {rates[0]:.3g} to {rates[-1]:.3g}; "
        "plot: lr_find.png"
    )
    assert yaml.safe_load(text) == {"model": {"optimizer": {"init_args": {"lr": lr}}}}
