"""Defects of the Forecaster's steps and checkpoint state found by an audit, each pinned by the case that showed it."""

import copy
import functools

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.cli import main
from forecast.data import RowSplit
from forecast.nn import IdentityEncoder, LookbackMeanHead
from forecast.nn.encoders import GRUEncoder
from forecast.nn.heads import AutoregressiveHead
from forecast.specs import to_spec

_QUIET = dict(logger=False, enable_progress_bar=False, enable_model_summary=False)


def _frame() -> pd.DataFrame:
    """60 hourly rows of two channels."""
    index = pd.date_range("2024-01-01", periods=60, freq="h", name="date")
    steps = np.arange(60)
    return pd.DataFrame({"a": np.sin(steps / 3), "b": np.cos(steps / 5) + steps / 60}, index=index)


def _gru(**options) -> Forecaster:
    return Forecaster(
        lookback=8,
        horizon=2,
        input_size=2,
        target_size=2,
        encoder=functools.partial(GRUEncoder, hidden_size=4),
        **options,
    )


def test_a_bfloat16_model_teacher_forces_its_decoder_with_the_datas_float32_targets(random_batch):
    """The targets came to the decoder in float32 beside bfloat16 inputs: torch refused the mix (RNN input dtype)."""
    torch.manual_seed(0)
    model = _gru(head=functools.partial(AutoregressiveHead, teacher_forcing=1.0)).train()
    batch = random_batch(3, 8, 2, 2, 2)
    wide = model(batch.past, batch.future, batch.static, batch.target)
    narrow = copy.deepcopy(model).bfloat16()(batch.past, batch.future, batch.static, batch.target)
    assert narrow.dtype == torch.bfloat16
    torch.testing.assert_close(narrow.float(), wide, atol=0.05, rtol=0.05)


def _double_checkpoint(tmp_path) -> tuple[Forecaster, str]:
    """A float64 model of random weights (tiny, so one is a float64 number float32 would round) and its checkpoint."""
    torch.manual_seed(0)
    model = _gru().double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1e-12)
    trainer = L.Trainer(default_root_dir=tmp_path, **_QUIET)
    trainer.strategy.connect(model)
    path = str(tmp_path / "double.ckpt")
    trainer.save_checkpoint(path)
    return model, path


def test_a_float64_checkpoint_loads_with_its_float64_weights(tmp_path):
    """Forecaster.load built a float32 model and rounded the float64 weights into it."""
    model, path = _double_checkpoint(tmp_path)
    loaded = Forecaster.load(path)
    assert loaded.dtype == torch.float64
    for (name, weight), own in zip(loaded.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(weight, own, rtol=0, atol=0, msg=lambda detail, name=name: f"{name}: {detail}")


def test_a_float64_checkpoint_tested_with_its_path_keeps_its_float64_weights(tmp_path):
    """``test --ckpt_path`` under 64-true restored the weights into the float32 model, then cast it: rounded."""
    model, path = _double_checkpoint(tmp_path)
    data = TimeSeriesDataModule(_frame(), lookback=8, horizon=2, split=RowSplit(40, 50), batch_size=32)
    rebuilt = _gru()
    L.Trainer(precision="64-true", default_root_dir=tmp_path, **_QUIET).test(
        rebuilt, datamodule=data, ckpt_path=path, verbose=False
    )
    for (name, weight), own in zip(rebuilt.named_parameters(), model.parameters(), strict=True):
        torch.testing.assert_close(weight, own, rtol=0, atol=0, msg=lambda detail, name=name: f"{name}: {detail}")


@pytest.fixture
def csv(tmp_path) -> str:
    path = tmp_path / "wide.csv"
    _frame().to_csv(path)
    return str(path)


def _fit_and_test(model: Forecaster, csv: str, root) -> tuple[float, str]:
    """``model`` fit for one epoch in Python on the data of ``_cli_test``: its test MSE and checkpoint."""
    data = TimeSeriesDataModule(csv, lookback=8, horizon=2, split=RowSplit(40, 50), batch_size=32)
    trainer = L.Trainer(max_epochs=1, default_root_dir=root, **_QUIET)
    trainer.fit(model, datamodule=data)
    (scored,) = trainer.test(model, datamodule=data, verbose=False)
    return scored["test/mse"], trainer.checkpoint_callback.best_model_path


def _cli_test(csv: str, root, ckpt_path: str) -> float:
    """The test MSE of the CLI's ``test --ckpt_path`` on windows of lookback 8 and horizon 2."""
    args = ["test", "--data.source", csv, "--data.lookback", "8", "--data.horizon", "2",
            "--data.split", "forecast.data.RowSplit", "--data.split.val_start", "40", "--data.split.test_start", "50",
            "--trainer.logger", "false", "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir",
            str(root), "--report.num_plots", "0", "--ckpt_path", ckpt_path]  # fmt: skip
    return float(main(args).trainer.callback_metrics["test/mse"])


def test_the_cli_tests_the_checkpoint_of_a_model_built_in_python(csv, tmp_path):
    """Its static_cardinalities None (all numbers) was recorded as such, and the CLI refused the checkpoint:
    "trained on data of static_cardinalities None, but this config's data give static_cardinalities []"."""
    scored, path = _fit_and_test(_gru(), csv, tmp_path)
    assert _cli_test(csv, tmp_path, path) == pytest.approx(scored, rel=1e-6)


def test_the_cli_tests_a_baseline_of_another_lookback_on_the_windows_it_ran_on(csv, tmp_path):
    """A baseline built with lookback 4 runs on the data's 8-step windows, but its checkpoint said 4: the CLI's
    ``test --ckpt_path`` with the data's lookback refused it, naming ``--data.lookback 4`` (other windows)."""
    baseline = Forecaster(lookback=4, horizon=2, input_size=2, target_size=2, encoder=IdentityEncoder,
                          head=LookbackMeanHead)  # fmt: skip
    scored, path = _fit_and_test(baseline, csv, tmp_path)
    assert _cli_test(csv, tmp_path, path) == pytest.approx(scored, rel=1e-6)


def test_a_dtype_is_refused_as_a_spec_naming_it():
    """``to_spec(torch.float64)`` wrote ``{'class_path': 'torch.dtype'}``, which no checkpoint load can build."""
    with pytest.raises(TypeError, match=r"torch\.float64 cannot be recorded in a checkpoint"):
        to_spec({"dtype": torch.float64})


def test_the_cli_tests_an_older_checkpoint_that_records_static_cardinalities_none(csv, tmp_path):
    """A model built in Python recorded ``static_cardinalities: None`` (all numbers) before it recorded the CLI's
    list of zeros; the CLI refused such files, naming ``static_cardinalities None``."""
    scored, path = _fit_and_test(_gru(), csv, tmp_path)
    checkpoint = torch.load(path, weights_only=True)
    checkpoint["hyper_parameters"]["static_cardinalities"] = None
    torch.save(checkpoint, path)
    assert _cli_test(csv, tmp_path, path) == pytest.approx(scored, rel=1e-6)
