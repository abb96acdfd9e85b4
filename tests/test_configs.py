from pathlib import Path

import pytest
import torch
import yaml

from forecast.cli import main

ETTH1 = Path(__file__).resolve().parents[1] / "configs" / "etth1"


def without_encoder_and_run_dir(config: dict) -> dict:
    config = dict(config, model=dict(config["model"]), trainer=dict(config["trainer"]))
    del config["model"]["encoder"], config["trainer"]["default_root_dir"]
    return config


def configs(prefix: str) -> dict[str, dict]:
    """The ETTh1 configs named ``{prefix}{encoder}.yaml``, by encoder."""
    return {
        path.stem.removeprefix(prefix): yaml.safe_load(path.read_text())
        for path in sorted(ETTH1.glob(f"{prefix}*.yaml"))
        if path.stem.removeprefix(prefix) in {"rnn", "lstm", "gru", "bigru", "sru"}
    }


@pytest.mark.parametrize(
    ("prefix", "encoders"),
    [("", {"rnn", "lstm", "gru", "bigru", "sru"}), ("segrnn_", {"rnn", "lstm", "gru", "bigru", "sru"})],
)
def test_etth1_configs_differ_only_in_the_encoder(prefix, encoders):
    family = configs(prefix)
    assert set(family) == encoders
    reference = without_encoder_and_run_dir(family["gru"])
    for name, config in family.items():
        assert without_encoder_and_run_dir(config) == reference, name
        run_dir = f"runs/etth1-{prefix.replace('_', '-')}{name}"
        assert config["trainer"]["default_root_dir"] == run_dir  # best and last resolve per config


@pytest.mark.parametrize("config", sorted(ETTH1.glob("*.yaml")), ids=lambda path: path.stem)
def test_etth1_config_fits_and_tests_through_the_cli(config, wide_csv, tmp_path):
    """Each encoder's config runs end to end, shrunk to a 200-row frame and one batch per stage."""
    tiny = ["--data.source", wide_csv, "--data.lookback", "24", "--data.horizon", "6", "--data.split",
            "forecast.data.FractionSplit", "--trainer.default_root_dir", str(tmp_path),
            "--trainer.enable_progress_bar", "false", "--trainer.logger", "false"]  # fmt: skip
    if "seg_len" in config.read_text():
        tiny += ["--model.embedding.init_args.seg_len", "6", "--model.head.init_args.seg_len", "6"]
    model = main(["fit", "--config", str(config), *tiny, "--trainer.fast_dev_run", "1"]).model
    scores = main(["test", "--config", str(config), *tiny, "--trainer.fast_dev_run", "1"]).trainer.callback_metrics
    class_path = yaml.safe_load(config.read_text())["model"]["encoder"]["class_path"]
    assert f"{type(model.encoder).__module__}.{type(model.encoder).__name__}".endswith(class_path.split(".")[-1])
    assert torch.isfinite(scores["test/mse"])
    if model.loss.levels:  # a probabilistic config also reports its interval's coverage
        assert 0 <= scores["test/coverage"] <= 1
