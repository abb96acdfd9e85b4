from pathlib import Path

import pytest
import yaml

from forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
PRESETS = sorted((ROOT / "configs/trainer").glob("*.yaml"))


def print_config(args: list[str], capsys) -> dict:
    with pytest.raises(SystemExit) as exit_info:
        main(args + ["--print_config"])
    assert exit_info.value.code == 0
    return yaml.safe_load(capsys.readouterr().out)


def test_trainer_presets_are_the_four_documented():
    assert [path.stem for path in PRESETS] == ["cpu", "ddp", "gpu", "multinode"]


@pytest.mark.parametrize("preset", PRESETS, ids=lambda path: path.stem)
def test_trainer_preset_composes_with_a_model_config(preset, capsys):
    model_config = ROOT / "configs/etth1/gru.yaml"
    alone = print_config(["fit", "--config", str(model_config)], capsys)
    composed = print_config(["fit", "--config", str(model_config), "--config", str(preset)], capsys)
    for key, value in yaml.safe_load(preset.read_text())["trainer"].items():
        assert composed["trainer"][key] == value, key
    assert composed["model"] == alone["model"] and composed["data"] == alone["data"]
    assert composed["trainer"]["callbacks"] == alone["trainer"]["callbacks"]  # the model config's early stopping stays


def test_gpu_preset_trains_in_bf16_with_cudnn_benchmark():
    trainer = yaml.safe_load((ROOT / "configs/trainer/gpu.yaml").read_text())["trainer"]
    assert trainer["precision"] == "bf16-mixed" and trainer["benchmark"] is True
