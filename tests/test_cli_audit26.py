"""The command line as a LightningCLI user meets it: a misspelt key or flag names the nearest one, and a monitor
that no fit logs is refused before training, but not one that a callback of the user's own logs."""

import json
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from forecast.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
QUICKSTART = str(CONFIGS / "quickstart.yaml")
QUIET = ["--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]
ONE_BATCH = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "1", "--trainer.limit_val_batches", "1"]


def parser_error(args: list[str], capsys) -> str:
    """The ``error: ...`` that the parser exits with (status 2) for ``args`` under ``--print_config``."""
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--print_config"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    return err[err.index("error: ") :].strip()


@pytest.mark.parametrize(
    ("settings", "nearest"),
    [
        ({"trainer": {"max_epoch": 3}}, "'trainer.max_epochs'"),
        ({"trainr": {"max_epochs": 3}}, "'trainer.max_epochs'"),
        ({"data": {"columns": {"target": ["a"]}}}, "'data.columns.targets'"),
        (
            {"model": {"encoder": {"class_path": "forecast.nn.GRUEncoder", "init_args": {"hiden_size": 8}}}},
            "'hidden_size'",
        ),
        (
            {"trainer": {"callbacks": [{"class_path": "EarlyStopping", "init_args": {"monitr": "val/loss"}}]}},
            "'monitor'",
        ),
    ],
    ids=["group", "section", "nested_group", "class_settings", "callback_settings"],
)
def test_a_misspelt_key_in_a_config_names_the_nearest_key(settings, nearest, tmp_path, capsys):
    """jsonargparse named the key it did not know ("Group 'trainer' does not accept option 'max_epoch'") but not
    the one meant."""
    config = tmp_path / "typo.yaml"
    config.write_text(yaml.safe_dump(settings))
    error = parser_error(["fit", "--config", QUICKSTART, "--config", str(config)], capsys)
    assert f"(did you mean {nearest}?)" in error


@pytest.mark.parametrize(
    ("flag", "nearest"),
    [("--checkpoint.monitr", "--checkpoint.monitor"), ("--trainer.max_epocs=3", "--trainer.max_epochs")],
    ids=["spaced", "equals"],
)
def test_a_misspelt_flag_names_the_nearest_flag(flag, nearest, capsys):
    args = ["fit", "--config", QUICKSTART, *([flag] if "=" in flag else [flag, "x"])]
    error = parser_error(args, capsys)
    assert error.startswith(f"error: unrecognized arguments: {flag}")
    assert error.endswith(f"(did you mean {nearest}?)")


def test_a_key_far_from_every_key_gets_no_guess(capsys):
    error = parser_error(["fit", "--config", QUICKSTART, "--zzzzqqq", "1"], capsys)
    assert error == "error: unrecognized arguments: --zzzzqqq 1"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--checkpoint.monitor", "val/mse_typo"], "checkpoint.monitor 'val/mse_typo' is no metric that a fit logs"),
        (
            ["--checkpoint.monitor", "test/mse"],
            r"'test/mse' is logged by test only, never by a fit \(did you mean 'val/mse'",
        ),
        (
            ["--trainer.callbacks+", "EarlyStopping", "--trainer.callbacks.monitor", "val/los"],
            r"callbacks' EarlyStopping monitor 'val/los' is no metric that a fit logs \(did you mean 'val/loss'",
        ),
    ],
    ids=["typo", "test_metric", "early_stopping"],
)
def test_a_monitor_that_no_fit_logs_is_refused_before_training(flags, message, wide_csv, tmp_path, tiny_cli):
    """Lightning refused it after the first validation, an epoch into the fit (hours, on a large data set)."""
    args = ["fit", "--config", QUICKSTART, *tiny_cli(wide_csv, tmp_path), *ONE_BATCH, *flags]
    with pytest.raises(ValueError, match=message) as refused:
        main(args)
    assert "a fit logs train/loss, val/loss, val/mae," in str(refused.value)
    assert not list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("metrics.csv"))  # nothing trained


def test_an_early_stopping_that_only_warns_on_a_missing_metric_is_left_to_lightning(wide_csv, tmp_path, tiny_cli):
    stop = ["--trainer.callbacks+", "EarlyStopping", "--trainer.callbacks.monitor", "val/los",
            "--trainer.callbacks.strict", "false"]  # fmt: skip
    cli = main(["--config", QUICKSTART, *tiny_cli(wide_csv, tmp_path), *stop], run=False)
    assert cli.trainer.early_stopping_callback.monitor == "val/los"


def test_the_metrics_a_fit_may_monitor_are_those_it_logs(wide_csv, tmp_path, tiny_cli):
    """The check's list of metrics against what a fit of a quantile model (which adds pinball, crps and
    coverage) put into Lightning's ``callback_metrics``: each one is accepted, and no other."""
    from forecast.monitors import fit_metrics

    quantiles = ["--model.loss", "forecast.losses.QuantileLoss", "--model.loss.levels", "[0.1, 0.5, 0.9]"]
    args = ["fit", "--config", QUICKSTART, *tiny_cli(wide_csv, tmp_path, batch_size=64), *ONE_BATCH, *QUIET,
            "--trainer.logger", "false", "--checkpoint.monitor", "val/crps", *quantiles]  # fmt: skip
    cli = main(args)
    assert set(cli.trainer.callback_metrics) == fit_metrics(cli.model)
    assert {"val/coverage_orig", "val/pinball", "train/loss"} <= fit_metrics(cli.model)
    assert cli.trainer.checkpoint_callback.best_model_score == cli.trainer.callback_metrics["val/crps"]


class LogsItsOwnMetric(Callback):
    """A callback of the user's own that logs a metric of its own after each validation: minus the epoch."""

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        log_own_metric(trainer, pl_module)


def log_own_metric(trainer, pl_module) -> None:
    pl_module.log("val/custom", -float(trainer.current_epoch))


@pytest.mark.parametrize(
    "callback",
    [
        {"class_path": f"{__name__}.LogsItsOwnMetric"},
        {"class_path": "LambdaCallback", "init_args": {"on_validation_epoch_end": f"{__name__}.log_own_metric"}},
    ],
    ids=["own_class", "lambda"],
)
def test_a_monitor_that_a_users_own_callback_logs_is_not_refused(callback, wide_csv, tmp_path, tiny_cli):
    args = ["fit", "--config", QUICKSTART, *tiny_cli(wide_csv, tmp_path, batch_size=64), *ONE_BATCH, *QUIET,
            "--trainer.logger", "false", "--checkpoint.monitor", "val/custom",
            "--trainer.callbacks", json.dumps([callback])]  # fmt: skip
    cli = main(args)
    assert cli.trainer.checkpoint_callback.best_model_score == torch.tensor(-0.0)
    assert Path(cli.trainer.checkpoint_callback.best_model_path).is_file()


def test_a_subcommand_that_does_not_train_takes_any_monitor(wide_csv, tmp_path, tiny_cli):
    """``validate`` of a parameter-free baseline with the config's monitor misspelt: the checkpoint saves nothing
    there, so its monitor is not checked."""
    baseline = str(CONFIGS / "etth1" / "last_value.yaml")
    args = ["validate", "--config", baseline, *tiny_cli(wide_csv, tmp_path), "--trainer.limit_val_batches", "1",
            "--trainer.logger", "false", "--checkpoint.monitor", "val/mse_typo"]  # fmt: skip
    cli = main(args)
    assert "val/mse" in cli.trainer.callback_metrics


def test_a_misspelt_key_in_a_config_before_the_subcommand_names_the_subcommands_key(tmp_path, capsys):
    """A config given before the subcommand is read by the parser of no subcommand, which has no trainer keys: the
    guess comes from its subcommands' parsers."""
    config = tmp_path / "typo.yaml"
    config.write_text(yaml.safe_dump({"trainer": {"max_epoch": 3}}))
    with pytest.raises(SystemExit) as exit_info:  # --print_config after the subcommand prints without this check
        main(["--config", str(config), "fit", "--config", QUICKSTART, *QUIET, *ONE_BATCH])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err[err.index("error: ") :].strip() == (
        "error: Option 'trainer.max_epoch' is not accepted before subcommand 'fit' (did you mean 'trainer.max_epochs'?)"
    )


GRU = {"class_path": "forecast.nn.GRUEncoder", "init_args": {"hidden_size": 8}}


@pytest.mark.parametrize("settings", [{"trainer": {"accelerator": "cpu"}}, {"model": {"encoder": GRU}}])
def test_a_subcommands_own_key_in_a_config_before_the_subcommand_says_where_the_config_goes(settings, tmp_path, capsys):
    """A valid key in a config given before ``fit`` got a guess of itself (``did you mean 'trainer.accelerator'?``)
    or of an unrelated key (``model.target_size`` for ``model.encoder.init_args.hidden_size``)."""
    config = tmp_path / "early.yaml"
    config.write_text(yaml.safe_dump(settings))
    with pytest.raises(SystemExit):
        main(["--config", str(config), "fit", "--config", QUICKSTART, *QUIET, *ONE_BATCH])
    err = capsys.readouterr().err
    assert err.rstrip().endswith(
        "is not accepted before subcommand 'fit' (a setting of fit: give this config after the subcommand, or under a "
        "section fit:)"
    )


def test_the_default_epoch_limit_keeps_a_fits_own_minimum(tmp_path):
    """Without a limit the CLI trains 10 epochs at most; a ``min_epochs`` of 12 was cut to 10 (Lightning lets the
    maximum win), and a ``min_steps`` by as many epochs as those allow."""
    cli = main(["--config", QUICKSTART, "--trainer.max_epochs", "null", "--trainer.min_epochs", "12"], run=False)
    assert cli.trainer.max_epochs == 12
    cli = main(["--config", QUICKSTART, "--trainer.max_epochs", "null", "--trainer.min_steps", "500"], run=False)
    assert cli.trainer.max_epochs is None  # Lightning's own, as with a max_steps
    cli = main(["--config", QUICKSTART, "--trainer.max_epochs", "null"], run=False)
    assert cli.trainer.max_epochs == 10
