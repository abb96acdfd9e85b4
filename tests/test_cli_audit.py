"""The CLI's subcommands end to end: what a user meets running them."""

from importlib.metadata import version

import pytest
import torch

from forecast.cli import main
from forecast.runs import resolve_checkpoint


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "File does not exist"), ("trainer: [1, 2\n", "Problems parsing config")],
    ids=["missing", "not-yaml"],
)
def test_a_missing_or_broken_config_file_is_named_by_the_parser(tmp_path, capsys, content, message):
    config = tmp_path / "run.yaml"
    if content is not None:
        config.write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config)])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_best_of_a_run_that_kept_no_best_checkpoint_names_the_fix(tmp_path):
    """A fit under ``checkpoint.save_top_k 0`` writes ``last.ckpt`` alone, recording no best file."""
    folder = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    folder.mkdir(parents=True)
    own = "ModelCheckpoint{'monitor': 'val/loss', 'mode': 'min'}"
    checkpoint = {"state_dict": {}, "hyper_parameters": {}, "forecast_version": version("forecast")}
    torch.save({**checkpoint, "callbacks": {own: {"best_model_path": ""}}}, folder / "last.ckpt")
    with pytest.raises(FileNotFoundError, match=r"records no best checkpoint .*save_top_k 0.*--ckpt_path last"):
        resolve_checkpoint("best", tmp_path)


def test_an_argument_that_is_no_string_is_named_by_the_parser(tmp_path, capsys):
    """``main`` from a notebook, given a ``Path`` where the command line has text."""
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--model.encoder.init_args.hidden_size", 8, "--config", tmp_path / "run.yaml"])
    assert exit_info.value.code == 2
    assert "All arguments are expected to be strings" in capsys.readouterr().err


def test_the_help_names_every_setting_that_lifts_the_ten_epoch_default(capsys):
    """A Timer ends a fit on its own, so a fit given one keeps Lightning's unlimited epochs (``_sets_no_limit``)."""
    with pytest.raises(SystemExit):
        main(["--help"])
    described = " ".join(capsys.readouterr().out.split())
    assert "max_steps, max_time, min_steps, an EarlyStopping or a Timer trains 10 epochs at most" in described


def test_the_clis_checkpoint_is_the_trainers_beside_a_configs_own_of_another_monitor(tmp_path, wide_frame, tiny_cli):
    """``trainer.checkpoint_callback`` (Lightning's ``ckpt_path="best"``, the naive comparison, a backtest's refits)
    was the config's ModelCheckpoint, which Lightning lists before the CLI's: they read another epoch than
    ``--ckpt_path best``."""
    wide_frame.to_csv(tmp_path / "wide.csv")
    own = '{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": {"monitor": "val/mse_orig"}}'
    cli = main(["fit", *tiny_cli(tmp_path / "wide.csv", tmp_path), "--trainer.max_epochs", "1",
                "--trainer.limit_train_batches", "2", "--model.encoder.init_args.hidden_size", "4",
                f"--trainer.callbacks+={own}"])  # fmt: skip
    assert cli.trainer.checkpoint_callback is cli.config_init["fit"]["checkpoint"]
    assert cli.trainer.checkpoint_callback.monitor == "val/loss"
    assert [c.monitor for c in cli.trainer.checkpoint_callbacks] == ["val/loss", "val/mse_orig"]
