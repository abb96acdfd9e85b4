"""Trainer precisions: a true half precision is refused; the others leave the batch's bookkeeping exact."""

from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from forecast import Forecaster
from forecast.batch import Batch
from forecast.cli import main

ROOT = Path(__file__).parents[1]


def coded_model(seen: list) -> Forecaster:
    """A tiny model with one categorical static column of 300 categories; ``seen`` collects the codes it embeds."""
    torch.manual_seed(0)
    model = Forecaster(lookback=12, horizon=4, input_size=1, target_size=1, static_size=1, static_cardinalities=[300])
    model.static_embedding.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].flatten().tolist()))
    return model


def coded_batches() -> DataLoader:
    """One batch of two windows about an offset of 1001 (bfloat16: 1000), of categories 257 and 299 (256, 300)."""
    torch.manual_seed(1)
    windows = 2
    batch = Batch(
        past=torch.randn(windows, 12, 1),
        future=torch.zeros(windows, 4, 0),
        static=torch.tensor([[257.0], [299.0]]),
        target=torch.randn(windows, 4, 1),
        series=torch.zeros(windows, dtype=torch.long),
        time=torch.zeros(windows, dtype=torch.long),
        target_scale=torch.full((windows, 1), 3.0, dtype=torch.float64),
        target_offset=torch.full((windows, 1), 1001.0, dtype=torch.float64),
        naive_scale=torch.ones(windows, 1),
    )
    return DataLoader([batch], batch_size=None)


def predicted(precision: str, seen: list) -> torch.Tensor:
    trainer = L.Trainer(precision=precision, logger=False, enable_progress_bar=False, enable_model_summary=False)
    (prediction,) = trainer.predict(coded_model(seen), coded_batches())
    return prediction["forecast"]


@pytest.mark.parametrize("precision", ["bf16-true", "16-true"])
def test_a_true_half_precision_is_refused_naming_trainer_precision_and_the_mixed_one(precision):
    """Lightning cast the whole batch to half precision: in bfloat16 the offset 1001 became 1000 (every forecast
    one unit off) and the category codes 257 and 299 became 256 and 300 (an index error in a table of 300)."""
    mixed = precision.replace("true", "mixed")
    with pytest.raises(ValueError, match=rf"trainer\.precision={precision} .* trainer\.precision: {mixed}"):
        predicted(precision, [])


def test_the_cli_refuses_bf16_true_before_it_fits(tiny_cli, wide_csv, tmp_path):
    args = ["fit", "--config", str(ROOT / "configs/quickstart.yaml"), *tiny_cli(wide_csv, tmp_path)]
    with pytest.raises(ValueError, match=r"trainer\.precision=bf16-true .* bf16-mixed"):
        main([*args, "--trainer.precision", "bf16-true", "--trainer.max_epochs", "1"])


@pytest.mark.parametrize("precision", ["64-true", "bf16-mixed"])
def test_other_precisions_keep_codes_and_original_units_exact(precision):
    """Only the network's own rounding separates their forecasts in original units from float32's."""
    seen = []
    reference = predicted("32-true", [])
    forecast = predicted(precision, seen)
    assert seen == [[257.0, 299.0]]
    assert forecast.dtype == torch.float64
    torch.testing.assert_close(forecast, reference, rtol=0, atol=0.05)  # bfloat16's offset error would be 1
