"""The metrics of a Forecaster's passes: built per split, added to per batch, and after each pass logged (validation,
test) or read by a per-epoch scheduler (the training loss)."""

from typing import Any

import torch
from torchmetrics import MeanMetric

from .batch import Batch
from .metrics import HorizonMetrics
from .metrics.exact import ExactSums

__all__ = ["PassMetrics"]


class PassMetrics(torch.nn.Module):
    """What a Forecaster's passes add up: each training epoch's mean loss (``mean_train_loss``, which a per-epoch
    scheduler reads), and of each validation and test pass its mean loss (``mean_losses``) and every metric
    (``metrics``).

    The Forecaster starts a pass's metrics at its start (``start``), adds each batch (``add_loss`` in training,
    ``add`` in validation and test) and logs their means after it (``overall_means``). Their states are
    torchmetrics', which are not persistent: a model's ``state_dict`` holds none of them (a checkpoint written in the
    middle of a training epoch keeps that epoch's sums beside it, ``forecast.model_state.record_state``).

    Args:
        horizon: H, steps forecast per window.
        target_size: C_out, channels forecast.
        levels: the loss's quantile levels, which add ``pinball``, ``crps`` and ``coverage`` (``HorizonMetrics``).
    """

    def __init__(self, horizon: int, target_size: int, levels: tuple[float, ...]):
        super().__init__()
        self.metrics = _split_metrics(horizon, target_size, levels)
        self.mean_losses = torch.nn.ModuleDict({"val": _exact_mean(), "test": _exact_mean()})
        self.mean_train_loss = _exact_mean()
        self.forecast_dtypes: dict[str, torch.dtype] = {}

    def mean_loss(self, split: str) -> MeanMetric:
        """The mean loss of ``split``: ``train``, ``val`` or ``test``."""
        return self.mean_train_loss if split == "train" else self.mean_losses[split]

    def train_loss_sums(self) -> dict[str, torch.Tensor]:
        """The sums the training epoch's mean loss holds so far (of this process): of loss x scored targets, and of
        scored targets; what a checkpoint written in the middle of an epoch keeps of it (``resume_train_loss``)."""
        return {name: value.detach().clone() for name, value in self.mean_train_loss.metric_state.items()}

    def resume_train_loss(self, sums: dict[str, torch.Tensor]) -> None:
        """Start the training epoch's mean loss at ``sums`` (``train_loss_sums``), those of the batches of the epoch
        before a resume, which the batches after it add to: its state is not in the ``state_dict``."""
        metric = self.mean_train_loss
        metric.reset()
        metric.merge_state(
            {name: sums[name].to(value.device, value.dtype) for name, value in metric.metric_state.items()}
        )

    def add_loss(self, split: str, loss: torch.Tensor, batch: Batch) -> None:
        """Add a batch's loss to the mean loss of ``split`` over every scored target of all processes (so every
        rank's checkpoint, early stopping and scheduler see one value): each batch's mean over its observed targets,
        weighed by their number. With every target observed, that is Lightning's epoch mean of a logged loss."""
        scored = batch.target.numel() if batch.observed is None else batch.observed.sum()
        self.mean_loss(split).update(loss.detach(), weight=scored)

    def add(
        self, split: str, batch: Batch, loss: torch.Tensor, forecast: torch.Tensor, quantiles: torch.Tensor | None
    ) -> None:
        """Add a batch of a validation or test pass: its loss (``add_loss``) and its forecasts to the metrics of
        ``split``, scaled and in original units.

        Shapes:
            forecast: (B, H, C_out), quantiles: (B, H, C_out, Q), both on the scaled data
        """
        self.add_loss(split, loss, batch)
        self.forecast_dtypes[split] = forecast.dtype
        self.metrics[split].update(forecast, batch.target, batch.naive_scale, quantiles, batch.observed)
        to_original = batch.to_original
        self.metrics[f"{split}_orig"].update(
            to_original(forecast),
            to_original(batch.target),
            batch.naive_scale * batch.target_scale.abs(),
            None if quantiles is None else to_original(quantiles),
            batch.observed,
        )

    def start(self, split: str) -> None:
        """Start a pass of ``split``: its mean loss and, of ``val`` and ``test``, its metrics; they stay readable
        after it (the evaluation report reads them).

        The mean loss too, although Lightning resets a logged one after each pass: ``validate`` and ``test`` run in
        inference mode, where that reset makes inference tensors, which the validation inside ``fit`` (no
        inference mode) could not update in place.
        """
        for key in (split, f"{split}_orig"):
            if key in self.metrics:
                self.metrics[key].reset()
        self.mean_loss(split).reset()

    def overall_means(self, split: str) -> dict[str, torch.Tensor]:
        """Each metric's mean over all windows of all processes (synced by ``compute``), steps and columns, keyed
        ``{split}/{metric}[_orig]``; a pass with no window (a sanity check cut to none) has none.

        In the dtype of the pass's forecasts, at least float32: a float64 model's means keep their float64 digits
        (the sums are float64 whatever the model's dtype), a float32, float16 or bfloat16 model's are float32.
        """
        means = {}
        for units in ("", "_orig"):
            metric = self.metrics[f"{split}{units}"]
            if metric.update_count:
                dtype = torch.promote_types(self.forecast_dtypes[split], torch.float32)
                means |= {f"{split}/{name}{units}": value.to(dtype) for name, value in metric.overall().items()}
        return means


def _split_metrics(horizon: int, target_size: int, levels: tuple[float, ...]) -> torch.nn.ModuleDict:
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


def _exact_mean() -> MeanMetric:
    """A pass's mean loss: sums of loss x scored targets and of scored targets, synced as sums, so exact when
    processes hold uneven shares. A NaN loss stays NaN."""
    return _ExactMean()


class _ExactMean(ExactSums, MeanMetric):
    """torchmetrics' weighted mean, with float64 sums that keep their dtype when the model is cast (``ExactSums``),
    in the wider of the metric's dtype and the losses': a float64 model's mean loss keeps its float64 digits
    (torchmetrics casts each loss to the metric's dtype, which ``double`` leaves float32), a float32, float16 or
    bfloat16 model's is in the metric's dtype. torchmetrics sums in float32, which past 2**24 scored targets drops
    a batch of one scored target and rounds off every later batch's term."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        for name in ("mean_value", "weight"):
            self.add_state(name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.loss_dtype: torch.dtype | None = None

    def update(self, value: torch.Tensor, weight: torch.Tensor | int) -> None:
        """Add ``value``, a batch's mean loss, weighed by ``weight``, its scored targets. A NaN loss makes the
        mean NaN (torchmetrics' ``nan_strategy`` "disable" would drop the weights in torchmetrics 1.9,
        Lightning-AI/torchmetrics#3434)."""
        self.loss_dtype = torch.promote_types(self.dtype, value.dtype)
        value = value.to(self.loss_dtype)
        weight = torch.as_tensor(weight, dtype=self.loss_dtype, device=value.device).broadcast_to(value.shape)
        self.mean_value += (value * weight).sum()
        self.weight += weight.sum()

    def compute(self) -> torch.Tensor:
        return super().compute().to(self.loss_dtype or self.dtype)

    def reset(self) -> None:
        super().reset()
        self.loss_dtype = None
