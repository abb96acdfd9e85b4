"""Edges of the command line and its callbacks that a user meets: where ``best``/``last`` look, model keys that
the data give (in a model file, as a flag), and a callback in ``trainer.callbacks`` that the CLI adds itself."""

import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import yaml

from forecast.callbacks import ResumableModelCheckpoint
from forecast.cli import main
from forecast.runs import resolve_checkpoint

TESTS = Path(__file__).resolve().parent
QUICKSTART = str(TESTS.parent / "configs/quickstart.yaml")
FROZEN = TESTS / "data" / "frozen_v0.1.0.ckpt"  # a last.ckpt of `fit`: lookback 24, horizon 6


def copy_checkpoint(folder: Path, *names: str) -> None:
    """The frozen checkpoint under each of ``names`` in ``folder``: a fit's files, without a fit."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(FROZEN, folder / name)


def test_best_and_last_find_the_newest_fit_in_checkpoint_dirpath(tmp_path):
    """A fit given ``--checkpoint.dirpath`` writes outside the run folders under ``default_root_dir``: ``last``
    took an older run's file, and with no older run found none. A later fit into the same folder writes
    Lightning's ``last-v1.ckpt``."""
    mine, root = tmp_path / "mine", tmp_path / "runs"
    copy_checkpoint(root / "lightning_logs" / "version_0" / "checkpoints", "last.ckpt", "epoch=1-step=14.ckpt")
    copy_checkpoint(mine, "last.ckpt", "epoch=1-step=14.ckpt")
    for older in (root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", mine / "last.ckpt"):
        os.utime(older, (0, 0))
    copy_checkpoint(mine, "last-v1.ckpt")  # the newest
    checkpoint = ResumableModelCheckpoint(dirpath=mine, monitor="val/loss")  # as the CLI builds it
    assert resolve_checkpoint("last", root, checkpoint) == str(mine / "last-v1.ckpt")
    assert resolve_checkpoint("best", root, checkpoint) == str(mine / "epoch=1-step=14.ckpt")


def test_last_is_the_newest_fit_without_a_logger_into_the_same_root(tmp_path):
    """Fits with ``--trainer.logger false`` share ``checkpoints/`` under ``default_root_dir``, where a later fit
    writes Lightning's ``last-v1.ckpt``: ``last`` and ``best`` took the first fit's files."""
    copy_checkpoint(tmp_path / "checkpoints", "last.ckpt")
    os.utime(tmp_path / "checkpoints" / "last.ckpt", (0, 0))  # the first fit's
    copy_checkpoint(tmp_path / "checkpoints", "last-v1.ckpt")
    assert resolve_checkpoint("last", tmp_path) == str(tmp_path / "checkpoints" / "last-v1.ckpt")


@pytest.mark.parametrize("given", ["flag", "file"])
def test_the_cli_looks_for_last_in_checkpoint_dirpath(wide_csv, tmp_path, tiny_cli, given):
    mine, root = tmp_path / "mine", tmp_path / "runs"
    copy_checkpoint(root / "lightning_logs" / "version_0" / "checkpoints", "last.ckpt")
    os.utime(root / "lightning_logs" / "version_0" / "checkpoints" / "last.ckpt", (0, 0))  # an earlier run's
    copy_checkpoint(mine, "last.ckpt")
    settings = tmp_path / "checkpoint.yaml"  # `--checkpoint FILE`: the checkpoint.* settings in a file of their own
    settings.write_text(yaml.safe_dump({"dirpath": str(mine)}))
    dirpath = ["--checkpoint.dirpath", str(mine)] if given == "flag" else ["--checkpoint", str(settings)]
    args = ["validate", "--config", QUICKSTART, *tiny_cli(wide_csv, root, lookback=12), *dirpath, "--ckpt_path", "last"]
    # The checkpoint's lookback (24) is not the data's: the refusal, before anything is built, names the file chosen.
    with pytest.raises(ValueError, match="trained on windows of lookback 24, not lookback 12") as refused:
        main(args)
    assert str(refused.value).startswith(str(mine / "last.ckpt"))


@pytest.mark.parametrize("given", ["flag", "config"])
def test_a_linked_key_in_a_model_file_is_refused_not_dropped(wide_csv, tmp_path, tiny_cli, given):
    """``--model model.yaml`` (or ``model: model.yaml`` in a config) with ``lookback: 48`` built a model of the
    data's lookback, 24, without a word."""
    model = tmp_path / "model.yaml"
    model.write_text(yaml.safe_dump({"lookback": 48, "encoder": {"class_path": "forecast.nn.GRUEncoder"}}))
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": str(model)}))
    files = ["--model", str(model)] if given == "flag" else ["--config", str(config)]
    with pytest.raises(ValueError, match=r"model.yaml sets model.lookback, which the CLI takes from the data"):
        main(["--config", QUICKSTART, *files, *tiny_cli(wide_csv, tmp_path)], run=False)


@pytest.mark.parametrize(
    ("callback", "key"),
    [
        ("forecast.callbacks.RandomStateCheckpoint", "random_state_checkpoint"),
        ("forecast.callbacks.PredictionWriter", "prediction_writer"),
    ],
    ids=["stateful", "writer"],
)
def test_a_callback_the_cli_adds_itself_in_trainer_callbacks_is_refused_naming_its_keys(
    wide_csv, tmp_path, tiny_cli, callback, key
):
    """A second ``RandomStateCheckpoint`` failed with Lightning's "more than one stateful callback" RuntimeError,
    naming no key; a second ``PredictionWriter`` wrote a second table beside the CLI's ``predictions.csv``."""
    args = ["--config", QUICKSTART, *tiny_cli(wide_csv, tmp_path), "--trainer.callbacks+", callback]
    with pytest.raises(ValueError, match=rf"trainer.callbacks has a {callback.split('.')[-1]}, .* as {key}\.\*"):
        main(args, run=False)


def test_best_is_the_clis_checkpoint_when_trainer_callbacks_add_another(wide_csv, tmp_path, tiny_cli, caplog):
    """A ModelCheckpoint of the user's own (here one that keeps the worst epoch) comes first among the run's
    checkpoints: ``best`` and the best checkpoint that ``fit`` prints were its file, not the best ``val/loss``."""
    worst = {"class_path": "ModelCheckpoint", "init_args": {"monitor": "val/loss", "mode": "max", "filename": "worst"}}
    args = ["--config", QUICKSTART, *tiny_cli(wide_csv, tmp_path, batch_size=32), "--trainer.logger", "false",
            "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]  # fmt: skip
    with caplog.at_level(logging.INFO):
        fitted = main(["fit", *args, "--trainer.max_epochs", "2", "--trainer.callbacks", json.dumps([worst])])
    own, users = fitted.trainer.checkpoint_callbacks  # the CLI's own first: trainer.checkpoint_callback
    assert users.best_model_path != own.best_model_path
    assert f"best checkpoint: {own.best_model_path}" in caplog.text
    # The checkpoint's lookback (24) is not the data's: the refusal, before anything is built, names the file chosen.
    with pytest.raises(ValueError, match="trained on windows of lookback 24") as refused:
        main(["validate", *args, "--data.lookback", "12", "--ckpt_path", "best"])
    assert str(refused.value).startswith(own.best_model_path)


@pytest.mark.parametrize("flags", [["--model.input_size", "3"], ["--model.season_length=24"]], ids=["spaced", "equals"])
def test_a_flag_for_a_size_the_data_give_names_the_data_keys(flags):
    """jsonargparse refused it asking for the value "via data.input_size", a key that does not exist."""
    flag = flags[0].split("=")[0]
    with pytest.raises(ValueError, match=rf"{flag}: the CLI sets it from the data .*data.columns"):
        main(["fit", "--config", QUICKSTART, *flags])
