from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator
from lightning.pytorch.plugins.precision import MixedPrecision
from lightning.pytorch.strategies import SingleDeviceStrategy

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


def test_gpu_preset_gives_the_cli_a_one_device_bf16_trainer_without_cudnn_benchmark(
    wide_csv, tmp_path, monkeypatch, capsys, tiny_cli
):
    """The Trainer that ``fit`` builds from the preset: one device, bf16 autocast, and cuDNN's benchmark mode left
    off (it times convolutions, which no model here has, and is not deterministic). Without a GPU the accelerator
    is overridden to the CPU, and the rest of the preset still applies."""
    model_config, preset = ROOT / "configs/etth1/gru.yaml", ROOT / "configs/trainer/gpu.yaml"
    parsed = print_config(["fit", "--config", str(model_config), "--config", str(preset)], capsys)
    assert (parsed["trainer"]["accelerator"], parsed["trainer"]["devices"]) == ("gpu", 1)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)  # restored afterwards
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tiny = [*tiny_cli(wide_csv, tmp_path), "--trainer.logger", "false", "--trainer.fast_dev_run", "1"]
    on_cpu = [] if device == "cuda" else ["--trainer.accelerator", "cpu"]
    trainer = main(["fit", "--config", str(model_config), "--config", str(preset), *on_cpu, *tiny]).trainer
    assert trainer.num_devices == 1 and isinstance(trainer.strategy, SingleDeviceStrategy)
    assert trainer.strategy.root_device.type == device
    assert isinstance(trainer.precision_plugin, MixedPrecision) and trainer.precision == "bf16-mixed"
    with trainer.precision_plugin.forward_context():
        assert torch.is_autocast_enabled(device) and torch.get_autocast_dtype(device) == torch.bfloat16
    assert torch.backends.cudnn.benchmark is False


@pytest.mark.parametrize("preset", ["gpu", "ddp", "multinode"])
def test_a_gpu_preset_on_a_machine_without_a_gpu_is_refused_naming_the_key_and_the_cpu_preset(
    preset, tmp_path, monkeypatch, tiny_cli
):
    """It failed after reading the data with Lightning's "No supported gpu backend found!", which names
    neither the config key nor the fix."""
    monkeypatch.setattr(CUDAAccelerator, "is_available", staticmethod(lambda: False))  # a CPU-only machine
    monkeypatch.setattr(MPSAccelerator, "is_available", staticmethod(lambda: False))
    model_config = ROOT / "configs/etth1/gru.yaml"
    args = ["fit", "--config", str(model_config), "--config", str(ROOT / f"configs/trainer/{preset}.yaml")]
    with pytest.raises(ValueError, match=r"trainer.accelerator 'gpu'.*no GPU.*configs/trainer/cpu.yaml"):
        main([*args, *tiny_cli(tmp_path / "no.csv", tmp_path)])
