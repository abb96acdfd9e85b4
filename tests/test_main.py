"""``python -m forecast`` (forecast/__main__.py): which errors reach the user as one line."""

import sys
from pathlib import Path

import lightning as L
import pytest
import torch

import forecast.cli
from forecast.__main__ import main as forecast_command
from forecast.callbacks import FiniteLossCheck
from forecast.nn.checks import check_range

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")


def run_command(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    """``python -m forecast ARGS`` in this process."""
    monkeypatch.setattr(sys, "argv", ["forecast", *args])
    forecast_command()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--model.encoder.init_args.hidden_size", "0"],
            "error: model.encoder.init_args.hidden_size=0 must be at least 1",
        ),
        (
            ["--model.normalization", "forecast.nn.InstanceNormalization", "--model.normalization.init_args.eps", "-1"],
            "error: model.normalization.init_args.eps=-1.0 must be positive",
        ),
    ],
    ids=["hidden_size", "eps"],
)
def test_main_prints_a_config_value_refused_by_forecast_alone(monkeypatch, capsys, tmp_path, flags, message):
    with pytest.raises(SystemExit) as exit_info:
        run_command(monkeypatch, "fit", "--config", QUICKSTART, "--trainer.default_root_dir", str(tmp_path), *flags)
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert message in error
    assert "Traceback" not in error


def test_main_prints_a_missing_checkpoint_alone(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        run_command(
            monkeypatch,
            "test",
            "--config",
            QUICKSTART,
            "--trainer.default_root_dir",
            str(tmp_path),
            "--ckpt_path",
            "best",
        )
    assert exit_info.value.code == 1
    assert "error: ckpt_path='best': no run under" in capsys.readouterr().err


def test_main_keeps_the_traceback_of_a_value_error_raised_outside_forecast(monkeypatch):
    def fail() -> None:
        raise ValueError("a library's internal check")

    monkeypatch.setattr(forecast.cli, "main", fail)
    with pytest.raises(ValueError, match="a library's internal check"):
        run_command(monkeypatch, "fit")


def test_main_keeps_the_traceback_of_a_type_error_of_an_operator_in_forecast(monkeypatch):
    # The comparison fails inside forecast's own frame, but at no raise of ours: a bug, not a message.
    monkeypatch.setattr(forecast.cli, "main", lambda: check_range("model.encoder.init_args.hidden_size", 64, "1"))
    with pytest.raises(TypeError, match="'<=' not supported"):
        run_command(monkeypatch, "fit")


def test_main_prints_a_nan_loss_stop_alone(monkeypatch, capsys):
    """FiniteLossCheck's message, written for the user, came last after some 60 lines of traceback through
    Lightning's loops."""

    def nan_loss() -> None:
        trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
        FiniteLossCheck().on_before_backward(trainer, None, torch.tensor(float("nan")))

    monkeypatch.setattr(forecast.cli, "main", nan_loss)
    with pytest.raises(SystemExit) as exit_info:
        run_command(monkeypatch, "fit")
    assert exit_info.value.code == 1
    error = capsys.readouterr().err
    assert "error: training loss is nan at epoch 0, global step 0" in error
    assert "Traceback" not in error
