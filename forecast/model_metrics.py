"""The metrics of a Forecaster's validation and test passes: built per split, added to per batch, logged per pass."""

import torch
from torchmetrics import MeanMetric

from .batch import Batch
from .metrics import HorizonMetrics
from .metrics.exact import ExactSums

__all__ = ["add_forecasts", "add_loss", "mean_loss", "overall_means", "reset_metrics", "split_metrics"]


def split_metrics(horizon: int, target_size: int, levels: tuple[float, ...]) -> torch.nn.ModuleDict:
    """Every metric per horizon step and column of ``val`` and ``test``, scaled (key ``{split}``) and in original
    units (``{split}_orig``): test logs their means, and the evaluation report writes their tables, from these
    same objects (uncached: the report adds a refit backtest's passes into a copy, whose compute must see them)."""
    return torch.nn.ModuleDict(
        {
            f"{split}{units}": HorizonMetrics(horizon, target_size, levels, compute_with_cache=False)
            for split in ("val", "test")
            for units in ("", "_orig")
        }
    )


def mean_loss() -> MeanMetric:
    """A pass's mean loss: sums of loss x scored targets and of scored targets, synced as sums, so exact when
    processes hold uneven shares. A NaN loss stays NaN (nan_strategy "disable" would drop the weights in
    torchmetrics 1.9, Lightning-AI/torchmetrics#3434; a float strategy puts that float, NaN, where the loss is NaN).
    """
    return _ExactMean(nan_strategy=float("nan"))


class _ExactMean(ExactSums, MeanMetric):
    """torchmetrics' weighted mean, whose sums keep their dtype when the model is cast (``ExactSums``)."""


def add_loss(mean: MeanMetric, loss: torch.Tensor, batch: Batch) -> None:
    """Add a batch's loss to a pass's mean loss over every scored target of all processes (so every rank's
    checkpoint, early stopping and scheduler see one value): each batch's mean over its observed targets,
    weighed by their number. With every target observed, that is Lightning's epoch mean of a logged loss."""
    scored = batch.target.numel() if batch.observed is None else batch.observed.sum()
    mean.update(loss.detach(), weight=scored)


def add_forecasts(
    metrics: torch.nn.ModuleDict, split: str, batch: Batch, forecast: torch.Tensor, quantiles: torch.Tensor | None
) -> None:
    """Add a batch's forecasts to the metrics of ``split``, scaled and in original units.

    Shapes:
        forecast: (B, H, C_out), quantiles: (B, H, C_out, Q), both on the scaled data
    """
    metrics[split].update(forecast, batch.target, batch.naive_scale, quantiles, batch.observed)
    to_original = batch.to_original
    metrics[f"{split}_orig"].update(
        to_original(forecast),
        to_original(batch.target),
        batch.naive_scale * batch.target_scale.abs(),
        None if quantiles is None else to_original(quantiles),
        batch.observed,
    )


def reset_metrics(metrics: torch.nn.ModuleDict, mean: MeanMetric, split: str) -> None:
    """Start a pass's metrics of ``split`` and its mean loss; they stay readable after it (the evaluation report
    reads them).

    The mean loss too, although Lightning resets it after each pass: ``validate`` and ``test`` run in
    inference mode, where that reset makes inference tensors, which the validation inside ``fit`` (no
    inference mode) could not update in place.
    """
    for units in ("", "_orig"):
        metrics[f"{split}{units}"].reset()
    mean.reset()


def overall_means(metrics: torch.nn.ModuleDict, split: str) -> dict[str, torch.Tensor]:
    """Each metric's mean over all windows of all processes (synced by ``compute``), steps and columns, keyed
    ``{split}/{metric}[_orig]``; a pass with no window (a sanity check cut to none) has none."""
    means = {}
    for units in ("", "_orig"):
        metric = metrics[f"{split}{units}"]
        if metric.update_count:
            means |= {f"{split}/{name}{units}": value.float() for name, value in metric.overall().items()}
    return means
