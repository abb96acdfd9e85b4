"""Checkpoints of untrained networks as ``fit`` records them, for the ensemble tests: members for ``combine``, the
CLI and benchmarks/ensemble.py, written in milliseconds instead of fitted."""

from pathlib import Path

import lightning as L
import torch

from forecast import Forecaster, TimeSeriesDataModule


def save(network: Forecaster, path: Path, data: TimeSeriesDataModule | None = None) -> Path:
    """``network``'s checkpoint as ``fit`` records it, with ``data``'s settings and state where given."""
    checkpoint = {"state_dict": network.state_dict(), "hyper_parameters": dict(network.hparams)}
    network.on_save_checkpoint(checkpoint)  # the plain specs that fit records
    if data is not None:
        checkpoint |= {"datamodule_hyper_parameters": dict(data.hparams), "TimeSeriesDataModule": data.state_dict()}
    torch.save(checkpoint | {"pytorch-lightning_version": L.__version__}, path)
    return path


def write_member(
    path: Path, data: TimeSeriesDataModule, seed: int, dtype: torch.dtype = torch.float32, **model: object
) -> Path:
    """The checkpoint of an untrained network (weights drawn from ``seed``, in ``dtype``) of ``data``'s lookback,
    horizon and sizes, with the settings and state that ``fit`` records for ``data`` (set up for ``fit`` here)."""
    data.setup("fit")
    torch.manual_seed(seed)
    sizes = {"input_size": data.input_size, "target_size": data.target_size, "future_size": data.future_size}
    network = Forecaster(lookback=data.lookback, horizon=data.horizon, **sizes, **model).to(dtype)
    return save(network, path, data)
