"""The long-horizon benchmark's published test figures, and where a test of one of its cells stands among them.

Published test MSE / MAE, on the standardized scale of the benchmark's protocol (each channel standardized by
its training rows, every channel both input and target, every window of the data set's preset test part), at
lookback 96 unless the name says otherwise, of clean test loaders only (every test window). Sources: SegRNN (Lin
et al., arXiv 2308.11200, figures after its 2024-06 loader fix), TQNet (Lin et al., 2025), CycleNet (Lin et al.,
NeurIPS 2024), iTransformer (Liu et al., ICLR 2024), DLinear (Zeng et al., AAAI 2023); "best L<=720" is the best
published at any lookback up to 720: TimeBase (Huang et al., ICML 2025) and FITS (Xu et al., ICLR 2024) at
lookback 720 (FITS gives no MAE). ``benchmarks/README.md`` has the table and the protocol.
"""

import importlib
from collections.abc import Mapping
from typing import Any

import lightning as L
from sklearn.preprocessing import StandardScaler

from .registry import DATASETS

__all__ = ["PUBLISHED", "standard_protocol", "standing", "tested_every_window"]

PUBLISHED: dict[str, dict[int, dict[str, tuple[float, float | None]]]] = {
    "etth1": {
        96: {"SegRNN": (0.368, 0.395), "TQNet": (0.371, 0.393), "CycleNet": (0.378, 0.391),
             "iTransformer": (0.386, 0.405), "DLinear": (0.386, 0.400), "best L<=720": (0.350, 0.384)},
        192: {"SegRNN": (0.408, 0.419), "TQNet": (0.428, 0.426), "CycleNet": (0.427, 0.419),
              "iTransformer": (0.441, 0.436), "DLinear": (0.437, 0.432), "best L<=720": (0.388, 0.410)},
        336: {"SegRNN": (0.444, 0.440), "TQNet": (0.476, 0.446), "CycleNet": (0.464, 0.439),
              "iTransformer": (0.487, 0.458), "DLinear": (0.481, 0.459), "best L<=720": (0.409, 0.419)},
        720: {"SegRNN": (0.446, 0.457), "TQNet": (0.487, 0.470), "CycleNet": (0.462, 0.461),
              "iTransformer": (0.503, 0.491), "DLinear": (0.519, 0.516), "best L<=720": (0.424, None)},
    },
}  # fmt: skip


def standard_protocol(dataset: str, data: Mapping[str, Any]) -> bool:
    """Whether a data module's settings (its hyperparameters, ``data``) are those of the published figures of
    ``dataset``: its split preset, every column both input and target (none named as a target or covariate),
    every window evaluated, and the targets standardized (``StandardScaler`` with mean and scale: the scale that
    test MSE and MAE are on, ``test/mse``; another scaler puts them on another)."""
    roles = ["targets", "past_covariates", "future_covariates", "static_covariates"]
    named = any(data["columns"].get(role) for role in roles)
    scaler = data["scaling"]["scaler"] or {}
    standardized = _named(scaler.get("class_path", "")) is StandardScaler and all(
        scaler.get("init_args", {}).get(key, True) for key in ("with_mean", "with_std")
    )
    preset = DATASETS[dataset].split
    split = data["split"] or preset  # none given: the data module takes the data set's preset
    same_class = _named(split.get("class_path", "")) is _named(preset["class_path"])
    same_split = same_class and split.get("init_args") == preset["init_args"]
    return same_split and not named and data["eval_stride"] == 1 and standardized


def tested_every_window(trainer: L.Trainer) -> bool:
    """Whether the trainer's test scored every window of the test part, as the published figures do: not when
    ``trainer.limit_test_batches`` (a smoke run's) left batches out."""
    loaders = trainer.test_dataloaders
    loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
    return sum(trainer.num_test_batches) == sum(len(loader) for loader in loaders)


def _named(class_path: str) -> Any:
    """The class that ``class_path`` names, as a config writes it (``forecast.data.ETTSplit``) or as a data module
    records it (``forecast.data.splits.ETTSplit``, ``sklearn.preprocessing._data.StandardScaler``); ``None`` where it
    names none."""
    module, _, name = class_path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name, None)
    except (ImportError, ValueError):  # no module of that name, or none named
        return None


def standing(dataset: str, horizon: int, mse: float, mae: float) -> str | None:
    """One line: a test's MSE and MAE on a cell of the benchmark beside each published model's, and whether it
    is ahead (lower), level (the same to the published three digits) or behind; ``None`` where nothing is
    published for ``dataset`` at ``horizon``. The caller checks that the test followed the protocol
    (``standard_protocol``, every test window)."""
    published = PUBLISHED.get(dataset, {}).get(horizon)
    if published is None:
        return None

    def place(ours: float, theirs: float | None) -> str:
        if theirs is None:
            return "-"
        return "level" if round(ours, 3) == theirs else "ahead" if ours < theirs else "behind"

    figures = "; ".join(
        f"{model} {theirs_mse:.3f} / {'-' if theirs_mae is None else f'{theirs_mae:.3f}'} "
        f"({place(mse, theirs_mse)} / {place(mae, theirs_mae)})"
        for model, (theirs_mse, theirs_mae) in published.items()
    )
    return (
        f"{dataset} at H={horizon}: test MSE / MAE {mse:.4f} / {mae:.4f} against the published "
        f"(lookback 96 unless named; this test's place in MSE / MAE): {figures}"
    )
