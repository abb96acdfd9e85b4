"""Running a trained model outside the Trainer: eval mode for a block, and a history's windows to its forecast table."""

import contextlib
from collections.abc import Iterator
from typing import Any

import lightning as L
import pandas as pd
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device

from .data import TimeSeriesDataModule
from .predict import forecast_table

__all__ = ["evaluating", "forecast_frame"]


@contextlib.contextmanager
def evaluating(module: torch.nn.Module) -> Iterator[None]:
    """``module`` in eval mode (no dropout) for the block, then every submodule back in its own mode, also after
    an error: a part the caller froze in eval mode while training the rest stays so (``train(mode)`` would set
    them all alike)."""
    modes = {part: part.training for part in module.modules()}
    module.eval()
    try:
        yield
    finally:
        for part, training in modes.items():
            part.training = training


def forecast_frame(
    model: L.LightningModule, data: TimeSeriesDataModule, horizon: int | None, history_dtype: Any = None
) -> pd.DataFrame:
    """``model``'s forecasts of the first ``horizon`` steps (``None``: all) for the windows of ``data`` (a history's
    data module, ``forecast.predict.history_module``), as the table ``Forecaster.predict`` returns: its batches
    run through ``predict_step`` on the model's device, under ``torch.inference_mode`` and in eval mode; its times
    of the type of the history's, ``history_dtype`` (``forecast.predict.forecast_time_dtype``)."""
    outputs = []
    with evaluating(model), torch.inference_mode():  # a window the loader refuses leaves the model as it was
        for batch in data.predict_dataloader():
            outputs.append(model.predict_step(move_data_to_device(batch, model.device), len(outputs)))
    stacked = {key: torch.cat([output[key] for output in outputs]).cpu().numpy() for key in outputs[0]}
    steps = slice(0, horizon or model.hparams["horizon"])
    quantiles = stacked["quantiles"][:, steps] if "quantiles" in stacked else None
    return forecast_table(
        data,
        stacked["forecast"][:, steps],
        stacked["series"],
        stacked["time"],
        quantiles,
        model.loss.levels,
        history_dtype,
    )
