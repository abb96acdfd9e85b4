"""Leftovers of the session's audits, each a defect a user met: a resumed fit's precision, a backtest of best."""

from pathlib import Path

import pytest
import torch

from forecast import Forecaster, TimeSeriesDataModule
from forecast.cli import main
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LookbackLinearHead
from forecast.trainer import ForecastTrainer

ROOT = Path(__file__).parents[1]


def weight_dtypes(checkpoint: Path) -> set[torch.dtype]:
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"]
    return {value.dtype for value in state.values() if value.is_floating_point()}


def test_a_float64_fit_resumed_under_32_true_trains_in_float32(tiny_cli, wide_csv, tmp_path):
    """The checkpoint's dtype was restored into the model before Lightning's precision applied, and 32-true casts
    nothing: the resumed fit trained, and wrote its checkpoints, in float64, whatever trainer.precision said."""
    args = ["--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(wide_csv, tmp_path)]
    main(["fit", *args, "--trainer.max_epochs", "1", "--trainer.precision", "64-true"])
    last = next(tmp_path.rglob("last.ckpt"))
    assert weight_dtypes(last) == {torch.float64}
    cli = main(["fit", *args, "--trainer.max_epochs", "2", "--trainer.precision", "32-true", "--ckpt_path", str(last)])
    assert cli.model.dtype == torch.float32
    assert weight_dtypes(max(tmp_path.rglob("last*.ckpt"), key=lambda path: path.stat().st_mtime)) == {torch.float32}


def test_a_backtest_in_python_reads_best_as_lightnings_test_does(wide_frame, tmp_path):
    """``trainer.test(ckpt_path="best")`` tests the best file of the trainer's own fit; the backtest of the same
    trainer failed with "checkpoint 'best' does not exist"."""
    data = TimeSeriesDataModule(wide_frame, 12, 4, split=FractionSplit())
    model = Forecaster(lookback=12, horizon=4, input_size=data.input_size, target_size=data.target_size,
                       encoder=IdentityEncoder, head=LookbackLinearHead)  # fmt: skip
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, max_epochs=2)
    trainer.fit(model, data)
    (scores,) = trainer.backtest(model, data, ckpt_path="best", num_windows=1)
    (expected,) = trainer.backtest(model, data, ckpt_path=trainer.checkpoint_callback.best_model_path, num_windows=1)
    assert scores == expected
    with pytest.raises(ValueError, match="ckpt_path='last': this trainer has saved no last checkpoint; .* save_last"):
        trainer.backtest(model, data, ckpt_path="last")  # the default ModelCheckpoint saves no last.ckpt


def test_a_backtest_of_best_without_a_fit_names_the_fix(wide_frame, tmp_path):
    data = TimeSeriesDataModule(wide_frame, 12, 4, split=FractionSplit())
    model = Forecaster(lookback=12, horizon=4, input_size=data.input_size, target_size=data.target_size,
                       encoder=IdentityEncoder, head=LookbackLinearHead)  # fmt: skip
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match="ckpt_path='best': this trainer has saved no best checkpoint; fit first"):
        trainer.backtest(model, data, ckpt_path="best")
