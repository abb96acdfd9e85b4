"""A seed ensemble in one checkpoint: the mean forecast of several trained checkpoints of one config.

Networks trained from different seeds err differently; the mean of their forecasts has a lower
variance than any one of them, so it usually scores better and, above all, varies less from run to
run. ``combine`` writes the members' weights into one checkpoint that loads, tests and predicts like
any other: ``Forecaster.load(path).predict(frame)``, ``python -m forecast test --ckpt_path path``
(and ``validate``, ``predict``, the exports). The members must share the model's hyperparameters
and the data's settings and fitted scalers (the same config and data, other seeds) and a point
loss; an ensemble is not trained further.

    python -m forecast.ensemble runs/seed*/checkpoints/epoch=*.ckpt --out runs/ensemble.ckpt
"""

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .checkpointing import read_checkpoint
from .model import Forecaster

__all__ = ["combine"]

_SHARED = ("hyper_parameters", "datamodule_hyper_parameters", "TimeSeriesDataModule")  # equal in every member


def _same(first: Any, other: Any) -> bool:
    """Plain checkpoint contents compared exactly, tensors and arrays included."""
    if isinstance(first, dict) and isinstance(other, dict):
        return first.keys() == other.keys() and all(_same(first[key], other[key]) for key in first)
    if isinstance(first, list | tuple) and isinstance(other, list | tuple):
        return len(first) == len(other) and all(_same(a, b) for a, b in zip(first, other, strict=True))
    if isinstance(first, torch.Tensor) or isinstance(other, torch.Tensor):
        return torch.equal(torch.as_tensor(first), torch.as_tensor(other))
    return bool(first == other) if not hasattr(first, "shape") else bool((first == other).all())


def combine(checkpoints: Sequence[str | Path], path: str | Path) -> Path:
    """Write the checkpoint of the ensemble whose forecast is the mean of ``checkpoints``' forecasts.

    Args:
        checkpoints: two or more checkpoints of one config trained on the same data (e.g. the best
            checkpoints of several seeds), each a single model.
        path: the ensemble's checkpoint file, written atomically (a temporary file, then renamed).

    Returns:
        ``path``.

    Raises:
        ValueError: fewer than two checkpoints; naming the file: one is an ensemble already, fell
            back to a naive forecast, was trained with a probabilistic loss, or differs from the
            first in its model's hyperparameters or its data's settings or scalers.
    """
    if len(checkpoints) < 2:
        raise ValueError(f"an ensemble needs two or more checkpoints; got {len(checkpoints)}")
    members = [read_checkpoint(checkpoint, Forecaster) for checkpoint in checkpoints]
    first = members[0]
    loss = Forecaster.load(checkpoints[0]).loss
    if loss.num_params != 1:
        raise ValueError(
            f"{checkpoints[0]}: an ensemble averages point forecasts, and {type(loss).__name__} has "
            f"{loss.num_params} parameters per value; train the members with a point loss"
        )
    for checkpoint, member in zip(checkpoints, members, strict=True):
        if member.get("ensemble_members", 1) != 1:
            raise ValueError(f"{checkpoint} is an ensemble already; combine the checkpoints of its members")
        if member.get("naive_fallback") is not None:
            raise ValueError(
                f"{checkpoint} fell back to a naive forecast on validation (naive_comparison.fallback); "
                "its network lost there, so leave it out"
            )
        differing = [key for key in _SHARED if not _same(first.get(key), member.get(key))]
        if differing:
            raise ValueError(
                f"{checkpoint} differs from {checkpoints[0]} in {differing}: an ensemble's members share the "
                "config and the data (train them with other seeds only)"
            )
    state = dict(first["state_dict"])
    for index, member in enumerate(members[1:]):
        state |= {f"members.{index}.{key}": value for key, value in member["state_dict"].items()}
    kept = {key: first[key] for key in (*_SHARED, "forecast_version", "pytorch-lightning_version") if key in first}
    ensemble = kept | {"state_dict": state, "ensemble_members": len(members), "naive_fallback": None}
    ensemble |= {"epoch": first.get("epoch", 0), "global_step": first.get("global_step", 0)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    torch.save(ensemble, temporary)
    os.replace(temporary, path)
    return path


def main(argv: list[str] | None = None) -> Path:
    """``python -m forecast.ensemble CHECKPOINT... --out PATH``: ``combine`` from the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="two or more checkpoints of one config")
    parser.add_argument("--out", type=Path, required=True, help="the ensemble's checkpoint file")
    args = parser.parse_args(argv)
    path = combine(args.checkpoints, args.out)
    print(f"{path}: the mean forecast of {len(args.checkpoints)} checkpoints")
    return path


if __name__ == "__main__":
    main()
