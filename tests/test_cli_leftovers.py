"""Model keys that the CLI links from the data, given where its parsing drops them: inline settings of
``--model`` and ``--config``, and any config under ``--print_config``."""

import json
from pathlib import Path

import pytest
import yaml

from forecast.cli import main

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["--model", '{"lookback": 48}'], r'--model \{"lookback": 48\} sets model.lookback, .* \(--data.lookback 48\)'),
        (['--model={"horizon": 12}'], r"sets model.horizon, which the CLI takes from the data: .*--data.horizon 12"),
        (["--config", '{"model": {"input_size": 3}}'], r'--config \{"model".* sets model.input_size, .*drop the sizes'),
    ],
    ids=["model", "model_equals", "config"],
)
def test_a_linked_key_in_inline_settings_is_refused_naming_the_data_flag(
    wide_csv, tmp_path, tiny_cli, settings, message
):
    """``--model '{"lookback": 48}'`` built a model of the data's lookback, 24, and recorded nothing of the 48."""
    with pytest.raises(ValueError, match=message):
        main(["--config", QUICKSTART, *tiny_cli(wide_csv, tmp_path), *settings], run=False)


def test_inline_model_settings_without_linked_keys_still_apply(wide_csv, tmp_path, tiny_cli):
    encoder = {"encoder": {"class_path": "forecast.nn.GRUEncoder", "init_args": {"hidden_size": 8}}}
    cli = main(["--config", QUICKSTART, *tiny_cli(wide_csv, tmp_path), "--model", json.dumps(encoder)], run=False)
    assert cli.model.encoder.output_size == 8


@pytest.mark.parametrize("given", ["config", "model_file", "before_subcommand"])
def test_print_config_refuses_a_linked_key_as_fit_does(tmp_path, capsys, given):
    """``--print_config`` printed a config (of lookback 96, not the 48 written) that ``fit`` refuses; a config
    given before the subcommand, with a section for it, was dropped by both."""
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "model.yaml").write_text(yaml.safe_dump({"lookback": 48}))
    model = {"lookback": 48} if given != "model_file" else "model.yaml"  # a file relative to its config
    settings = {"fit": {"model": model}} if given == "before_subcommand" else {"model": model}
    (folder / "config.yaml").write_text(yaml.safe_dump(settings))
    args = ["fit", "--config", QUICKSTART, "--config", str(folder / "config.yaml"), "--print_config"]
    if given == "before_subcommand":
        args = ["--config", str(folder / "config.yaml"), "fit", "--config", QUICKSTART, "--print_config"]
    with pytest.raises(
        ValueError, match=r"sets model.lookback, which the CLI takes from the data: .*--data.lookback 48"
    ):
        main(args)
    assert capsys.readouterr().out == ""
