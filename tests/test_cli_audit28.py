"""The command line as argparse reads it: a config flag abbreviated (``--conf``) or joined to its value (``-cX``)
is checked for linked model keys as ``--config X`` is, and a class path that does not import names the nearest
class of its module."""

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from forecast.cli import ForecastCLI, main
from forecast.cli_parser import ForecastArgumentParser
from forecast.linked_keys import check_linked_keys, flag_values
from forecast.nn.encoders import Encoder

LINKED = {"model": {"lookback": 48}}  # a model key that the CLI takes from data.lookback


def write_config(folder: Path, settings: dict) -> str:
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(settings))
    return str(path)


@pytest.mark.parametrize(
    ("flags", "settings"),
    [
        (["fit", "--conf", "{}"], LINKED),
        (["fit", "--co={}"], LINKED),
        (["fit", "-c{}"], LINKED),
        (["--c", "{}", "fit"], {"fit": LINKED}),
    ],
    ids=["abbreviated", "abbreviated_equals", "joined_short", "abbreviated_before_subcommand"],
)
def test_a_config_flag_as_argparse_takes_it_is_checked_for_linked_keys(tmp_path, flags, settings):
    """argparse reads ``--conf X`` (an abbreviation) and ``-cX`` as ``--config X``; the check read neither, so the
    config's ``model.lookback`` 48 was dropped without a word and the model got the data's lookback."""
    args = [flag.format(write_config(tmp_path, settings)) for flag in flags]
    with pytest.raises(ValueError, match=r"config\.yaml sets model\.lookback, .*\(--data\.lookback 48\)"):
        check_linked_keys(args, ForecastCLI.subcommands())


def test_print_config_of_an_abbreviated_config_flag_refuses_its_linked_key(tmp_path):
    """``fit --conf X --print_config`` printed a config of the default lookback, 96, not the 48 written."""
    with pytest.raises(ValueError, match=r"sets model\.lookback, which the CLI takes from the data"):
        main(["fit", "--conf", write_config(tmp_path, LINKED), "--print_config"])


def test_flag_values_reads_each_flag_under_its_full_name_as_argparse_does():
    args = ["--conf", "a", "-cb", "--config=c", "-c=d", "--cfg", "x", "--model", "m", "--mode", "n", "--configs", "y"]
    assert list(flag_values(args, ("--config", "-c", "--model"))) == [
        ("--config", "a"),
        ("-c", "b"),
        ("--config", "c"),
        ("-c", "d"),
        ("--model", "m"),  # --mode begins --model.* flags too: argparse takes no abbreviation of --model
    ]


def _class_error(value: str, capsys) -> str:
    """The error of a parser of one ``--encoder`` (an encoder factory, as ``model.encoder``) given ``value``."""
    parser = ForecastArgumentParser(prog="forecast")
    parser.add_argument("--encoder", type=Callable[[int], Encoder])
    with pytest.raises(SystemExit):
        parser.parse_args(["--encoder", value])
    return capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "nearest"),
    [
        ("forecast.nn.GRUEncodr", "forecast.nn.GRUEncoder"),
        ("forecast.nn.encoders.LSTMEncodr", "forecast.nn.encoders.LSTMEncoder"),
    ],
)
def test_a_class_path_missing_from_its_module_names_the_nearest_class(value, nearest, capsys):
    """jsonargparse said ``module 'forecast.nn' has no attribute 'GRUEncodr'`` and no more."""
    assert f"(did you mean '{nearest}'?)" in _class_error(value, capsys)


def test_a_class_path_near_no_class_of_its_module_gets_no_guess(capsys):
    error = _class_error("forecast.nn.Zzzzzz", capsys)
    assert "has no attribute 'Zzzzzz'" in error
    assert "did you mean" not in error


def test_a_misspelt_class_path_in_a_config_names_the_key_and_the_nearest_class(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"model": {"loss": {"class_path": "forecast.losses.MSELos"}}}))
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", str(config), "--print_config"])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert 'Parser key "model.loss"' in error
    assert "(did you mean 'forecast.losses.MSELoss'?)" in error
