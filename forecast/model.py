"""Forecaster: the LightningModule that composes a normalization, an embedding, an encoder, a head and a loss."""

import contextlib
import functools
from argparse import ArgumentError
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import lightning as L
import pandas as pd
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable, instantiate_module
from torchmetrics import MeanMetric

from .batch import Batch, ModelDims
from .checkpointing import read_checkpoint
from .data import TimeSeriesDataModule
from .data.options import grouped_config
from .data.sharding import check_predict_shares
from .losses import Loss, MSELoss
from .metrics import HorizonMetrics
from .nn.baselines import seasonal_naive
from .nn.checks import check_range
from .nn.cycle import ResidualCycle
from .nn.embeddings import Embedding, IdentityEmbedding
from .nn.encoders import Encoder, GRUEncoder
from .nn.heads import Decoding, Head, LinearHead
from .nn.normalization import NoNormalization, Normalization
from .nn.statics import StaticEmbedding
from .optimization import optimization
from .predict import check_horizon, forecast_table, history_module
from .specs import to_spec

__all__ = ["Forecaster", "check_ensemble_loss", "evaluating"]


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


_INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"  # rebuilds the parts from their specs on load


def _check_factories(**parts: Any) -> None:
    """Refuse a part given in a form it cannot be built from, naming it: a ``class_path`` dict (a config
    file's form, which the CLI instantiates but Python does not) or a module built already (whose call
    would run its ``forward`` on the part's sizes). A part is a class, a ``functools.partial`` or a function.

    Raises:
        TypeError: e.g. ``model.encoder is a dict``, with the factory to pass instead.
    """
    for name, part in parts.items():
        if part is None:
            continue
        if isinstance(part, dict):
            form = "a dict (the config file's class_path form, which only the CLI instantiates)"
        elif isinstance(part, torch.nn.Module) or not callable(part):
            form = f"a built {type(part).__name__}, not a factory"
        else:
            continue
        raise TypeError(
            f"model.{name} is {form}: in Python pass the class or a functools.partial of it, e.g. "
            f"functools.partial(GRUEncoder, hidden_size=64) for an encoder"
        )


def _plain(hparams: dict[str, Any]) -> dict[str, Any]:
    """A model's hyperparameters as plain specs (as the CLI records them), without the instantiator's key."""
    return {name: to_spec(value) for name, value in hparams.items() if name != "_instantiator"}


def check_ensemble_loss(loss: Loss, network: str) -> None:
    """Refuse ``loss`` for a network of an ensemble, whose forecast is the mean of its networks' loss parameters.

    The mean of point forecasts is the ensemble's point forecast. The mean of a distribution's parameters
    is not the mixture's: the mixture of normal forecasts has the mean of their means, but its variance
    is their mean variance plus the variance of their means, and it is no normal distribution, so no
    mean of standard deviations gives its quantiles, intervals or likelihood. A ``QuantileLoss`` of one
    level has one parameter per value, as a point loss, but it forecasts that quantile, not a point.

    Args:
        loss: the network's loss.
        network: the network, for the message (a checkpoint file, an ensemble member).

    Raises:
        ValueError: ``loss`` has more than one parameter per value or quantile levels, naming ``network``,
            the loss and the fix.
    """
    if not loss.forecasts_points:
        kind = f"{loss.num_params} parameters per value" if loss.num_params != 1 else f"quantile levels {loss.levels}"
        raise ValueError(
            f"{network}: an ensemble averages point forecasts, and {type(loss).__name__} has {kind}, whose mean is "
            "not the forecast of the members' mixture; train the members with a point loss (MSELoss, MAELoss, "
            "HuberLoss) and combine their checkpoints with forecast.ensemble.combine"
        )


def _raw_point(loss: Loss, raw: torch.Tensor) -> torch.Tensor:
    """The loss's point forecast from a head's raw output, on the normalized scale: (B, H, C, P) -> (B, H, C)."""
    identity_loc, identity_scale = raw.new_zeros(1, 1, 1), raw.new_ones(1, 1, 1)  # rescaling that changes nothing
    return loss.point(loss.rescale(raw, identity_loc, identity_scale))


class Forecaster(L.LightningModule):
    """A recurrent forecaster: encoder over the embedded lookback window, head to all horizon steps, loss.

    Parts whose sizes depend on other parts come in as factories: the Forecaster calls
    ``embedding(input_size, lookback)``, ``encoder(embedding.output_size)`` and
    ``head(ModelDims(...), Decoding(...))`` with the sizes it knows, so the head learns the encoder's
    ``output_size`` (doubled when bidirectional) and the loss's ``num_params`` without anyone writing
    them twice. With
    ``channel_independent`` each target channel is its own series through the same weights (with its
    past covariates alongside), as in PatchTST and SegRNN. Validation and test log every metric of
    ``HorizonMetrics`` (mse, mae, rmse, mape, smape, mase) as ``{split}/{metric}`` on the scaled data
    (the ETT protocol) and ``{split}/{metric}_orig`` in original units, means over all windows; a
    probabilistic loss adds ``pinball``, ``crps`` and, with two levels or more, ``coverage`` (the share of
    targets inside the interval between its lowest and highest quantile levels), and ``predict`` returns
    its quantiles.
    A checkpoint whose network lost to a naive forecast on validation can record that forecast
    (``NaiveComparison(fallback=True)``): loaded, the model's ``forward`` forecasts it instead. An
    ensemble's checkpoint (``forecast.ensemble.combine``) adds its other networks as ``members``, each a
    ``Forecaster`` of its own hyperparameters and lookback (at most the model's), and ``forward`` averages
    their forecasts with its own, each member reading the last steps of the window that it spans.

    Args:
        lookback: L, past steps per window (linked from the data module by the CLI).
        horizon: H, steps forecast per window (linked from the data module).
        input_size: C_in, channels of ``past`` (linked from the data module).
        target_size: C_out, channels forecast (linked from the data module).
        future_size: C_fut, known future covariates (linked from the data module).
        static_size: S, static features per series (linked from the data module).
        static_cardinalities: per static feature its number of categories, 0 for a number (linked
            from the data module); ``None``: all are numbers.
        static_embedding_size: features of the learned embedding of each categorical static feature.
        normalization: factory of the per-window input normalization, called with ``input_size``.
        embedding: factory of the input embedding, called with the channels per series and ``lookback``.
        encoder: factory of the encoder, called with the embedding's output size.
        head: factory of the head, called with the model's sizes and the ``Decoding`` factories
            (the encoder's own, and the loss's point forecast) that recurrent heads decode with.
        loss: the training loss; ``None`` means ``MSELoss()``.
        optimizer: factory of the optimizer, called with the parameters.
        lr_scheduler: factory of a learning-rate scheduler, called with the optimizer. A ``OneCycleLR``
            must last the fit: its ``total_steps`` at least the fit's optimizer steps (or epochs, when
            stepped per epoch), as torch stops a schedule stepped past its end.
        lr_scheduler_interval: step the scheduler after every ``epoch`` or every optimizer ``step``
            (per-step schedules such as ``OneCycleLR`` need ``step``).
        lr_scheduler_monitor: the logged metric a scheduler such as ``ReduceLROnPlateau`` reads; a
            per-step scheduler may monitor only a metric logged every step (``train/loss``). Per epoch,
            one on a validation metric steps after each validation (``trainer.check_val_every_n_epoch``).
        channel_independent: forecast each target channel as its own series with shared weights.
        channel_embedding_size: with ``channel_independent``, a learned embedding of each channel's
            identity of this size, handed to the head with the static features (0: none).
        cycle: factory of a residual cycle (``ResidualCycle``), called with ``target_size`` and
            ``season_length``: a learned periodic component taken out of the normalized lookback and
            added back to the forecast (CycleNet). It reads the calendar feature ``season`` (integer
            encoding) from ``future``, and the head does not see that channel. ``None``: no cycle.
        season_channel: the channel of ``future`` holding each step's position in the season
            (linked from the data module; ``None`` without the feature ``season`` in integer encoding).
        season_length: the steps of the data's season (linked from the data module: 24 for hourly data).

    Raises:
        ValueError: ``channel_embedding_size`` is negative or set without ``channel_independent``,
            ``static_cardinalities`` does not give one entry per static feature, or ``cycle`` is set
            without a ``season_channel``.
        TypeError: ``loss`` is not a ``Loss`` instance (a class or a ``functools.partial`` of one), or a
            part (``encoder``, ``head``, ...) is not a factory: a ``class_path`` dict or a built module.
    """

    def __init__(
        self,
        lookback: int,
        horizon: int,
        input_size: int,
        target_size: int,
        future_size: int = 0,
        static_size: int = 0,
        static_cardinalities: list[int] | None = None,
        static_embedding_size: int = 4,
        normalization: Callable[[int], Normalization] = NoNormalization,
        embedding: Callable[[int, int], Embedding] = IdentityEmbedding,
        encoder: Callable[[int], Encoder] = GRUEncoder,
        head: Callable[[ModelDims, Decoding], Head] = LinearHead,
        loss: Loss | None = None,
        optimizer: OptimizerCallable = torch.optim.Adam,
        lr_scheduler: LRSchedulerCallable | None = None,
        lr_scheduler_interval: Literal["epoch", "step"] = "epoch",
        lr_scheduler_monitor: str = "val/loss",
        channel_independent: bool = False,
        channel_embedding_size: int = 0,
        cycle: Callable[[int, int], ResidualCycle] | None = None,
        season_channel: int | None = None,
        season_length: int = 1,
    ):
        super().__init__()
        _check_factories(
            normalization=normalization, embedding=embedding, encoder=encoder, head=head, optimizer=optimizer,
            lr_scheduler=lr_scheduler, cycle=cycle,
        )  # fmt: skip
        check_range("model.channel_embedding_size", channel_embedding_size, 0)
        if channel_embedding_size and not channel_independent:
            raise ValueError(
                f"model.channel_embedding_size={channel_embedding_size} needs model.channel_independent: true"
            )
        if static_cardinalities is not None and len(static_cardinalities) != static_size:
            raise ValueError(
                f"model.static_cardinalities={static_cardinalities} needs one entry per static feature "
                f"(static_size={static_size}); link both from the data module"
            )
        if cycle is not None and season_channel is None:
            raise ValueError(
                "model.cycle reads each step's position in the season: add the calendar feature `season` in "
                "integer encoding (data.calendar: {features: [season], encoding: integer})"
            )
        self.save_hyperparameters()
        self.data_config: dict[str, Any] = {}  # what predict needs of the data; Forecaster.load fills them in
        self.data_state: dict[str, Any] = {}
        # The seasonal_naive period forward forecasts instead of the network (1: the last value), as the
        # checkpoint records it; None: the network. Only a loaded checkpoint sets it, fit clears it.
        self.naive_fallback: int | None = None
        self.members = torch.nn.ModuleList()  # an ensemble's other networks (forecast.ensemble.combine)
        self.target_size = target_size
        self.channel_independent = channel_independent
        self.normalization = normalization(input_size)
        self.cycle = cycle(target_size, season_length) if cycle is not None else None
        self.season_channel = season_channel
        future_size -= self.cycle is not None  # the cycle's positions are its own, not the head's
        series_size = 1 + input_size - target_size if channel_independent else input_size
        self.channel_embedding = (
            torch.nn.Embedding(target_size, channel_embedding_size) if channel_embedding_size else None
        )
        self.embedding = embedding(series_size, lookback)
        self.static_embedding = StaticEmbedding(static_cardinalities or [0] * static_size, static_embedding_size)
        self.encoder = encoder(self.embedding.output_size)
        if loss is not None and not isinstance(loss, Loss):  # a class or partial would fail at the first step
            raise TypeError(
                f"loss must be a forecast.losses.Loss instance, e.g. QuantileLoss(levels=[0.1, 0.5, 0.9]); got "
                f"{loss!r}: call it"
            )
        self.loss = MSELoss() if loss is None else loss
        self.dims = ModelDims(
            lookback=lookback,
            horizon=horizon,
            input_size=series_size,
            target_size=1 if channel_independent else target_size,
            future_size=future_size,
            static_size=self.static_embedding.output_size + channel_embedding_size,
            encoder_steps=self.embedding.steps,
            encoder_size=self.encoder.output_size,
            num_params=self.loss.num_params,
        )
        self.head = head(self.dims, Decoding(encoder, functools.partial(_raw_point, self.loss)))
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.lr_scheduler_config = {"interval": lr_scheduler_interval, "monitor": lr_scheduler_monitor}
        # Every metric per horizon step and column, scaled and in original units: test logs their means,
        # and the evaluation report writes their tables, from these same objects (uncached: the report
        # adds a refit backtest's passes into a copy, whose compute must see them).
        self.metrics = torch.nn.ModuleDict(
            {
                f"{split}{units}": HorizonMetrics(horizon, target_size, self.loss.levels, compute_with_cache=False)
                for split in ("val", "test")
                for units in ("", "_orig")
            }
        )
        # Sums of loss x scored targets and of scored targets, synced as sums: exact when processes hold uneven
        # shares. A NaN loss stays NaN (nan_strategy "disable" would drop the weights in torchmetrics 1.9,
        # Lightning-AI/torchmetrics#3434; a float strategy puts that float, NaN, where the loss is NaN).
        self.mean_losses = torch.nn.ModuleDict(
            {split: MeanMetric(nan_strategy=float("nan")) for split in ("val", "test")}
        )

    def forward(
        self, past: torch.Tensor, future: torch.Tensor, static: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss parameters for every horizon step; ``target`` (training only) lets a head teacher-force.
        An ensemble's are the mean of its members', all of point losses: the mean forecast.

        Shapes:
            past: (B, L, C_in), future: (B, H, C_fut), static: (B, S), target: (B, H, C_out) -> (B, H, C_out, P)
        """
        if self.naive_fallback is not None:  # a point loss's one parameter: the naive forecast itself
            history = past[..., : self.target_size]  # -> (B, L, C_out), the targets come first
            return seasonal_naive(history, self.dims.horizon, self.naive_fallback).unsqueeze(-1)  # -> (B, H, C_out, 1)
        params = self._network(past, future, static, target)
        if len(self.members):  # each member reads the last steps of the window that its own lookback spans
            forecasts = (member(past[:, -member.dims.lookback :], future, static) for member in self.members)
            params = torch.stack([params, *forecasts]).mean(0)
        return params

    def _network(
        self, past: torch.Tensor, future: torch.Tensor, static: torch.Tensor, target: torch.Tensor | None
    ) -> torch.Tensor:
        """The network's loss parameters: (B, L, C_in), (B, H, C_fut), (B, S), (B, H, C_out) -> (B, H, C_out, P).

        The inputs are computed in the weights' dtype (a model moved to float64 or bfloat16 reads the data's float32
        windows); category codes and season positions are read before, as bfloat16 holds whole numbers only to 256.
        """
        normalized, (loc, scale) = self.normalization(past.to(self.dtype), self.target_size)  # -> (B, L, C_in)
        if self.cycle is not None:
            normalized, future, loc = self._remove_cycle(normalized, future, loc, scale)
        future = future.to(self.dtype)
        static = self.static_embedding(static).to(self.dtype)  # -> (B, S_embedded): categories embedded
        if target is not None:
            target = (target - loc) / scale  # -> (B, H, C_out), on the scale the head forecasts in
        if self.channel_independent:
            normalized, future, static = self._per_channel(normalized, future, static)  # B -> B * C_out series
            if target is not None:
                target = target.transpose(1, 2).reshape(-1, future.shape[1], 1)  # -> (B * C_out, H, 1)
        encoded = self.encoder(self.embedding(normalized))  # -> sequence (B, T, D)
        history = normalized[..., : self.dims.target_size]  # -> (B, L, C_out), the targets come first
        params = self.head(encoded, history, future, static, target)  # -> (B, H, C_out, P)
        if self.channel_independent:
            _, horizon, _, num_params = params.shape
            params = params.view(-1, self.target_size, horizon, num_params)  # -> (B, C_out, H, P)
            params = params.transpose(1, 2).contiguous()  # -> (B, H, C_out, P)
        return self.loss.rescale(params, loc, scale)  # -> (B, H, C_out, P)

    def _remove_cycle(
        self, normalized: torch.Tensor, future: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The lookback's targets less the cycle, ``future`` without the positions, and ``loc`` with the
        horizon's cycle (on the scale the head forecasts in) added, so that rescaling puts it back.

        Shapes:
            normalized: (B, L, C_in), future: (B, H, C_fut), loc and scale: (B, 1, C_out)
            -> (B, L, C_in), (B, H, C_fut - 1), (B, H, C_out)
        """
        channel, targets = self.season_channel, self.target_size
        position = future[:, 0, channel].long()  # -> (B,), of each window's first forecast step
        past_cycle, future_cycle = self.cycle(position, normalized.shape[1], future.shape[1])
        normalized = torch.cat([normalized[..., :targets] - past_cycle, normalized[..., targets:]], dim=-1)
        future = torch.cat([future[..., :channel], future[..., channel + 1 :]], dim=-1)  # -> (B, H, C_fut - 1)
        return normalized, future, loc + scale * future_cycle

    def _per_channel(
        self, past: torch.Tensor, future: torch.Tensor, static: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each target channel as its own series, row ``b * C_out + c``, with the window's covariates.

        Shapes:
            past: (B, L, C_in), future: (B, H, C_fut), static: (B, S)
            -> (B * C_out, L, 1 + C_in - C_out), (B * C_out, H, C_fut), (B * C_out, S + channel embedding)
        """
        batch, lookback, _ = past.shape
        channels = self.target_size
        targets = past[..., :channels].transpose(1, 2).reshape(batch * channels, lookback, 1)  # -> (B * C_out, L, 1)
        covariates = past[..., channels:].repeat_interleave(channels, dim=0)  # -> (B * C_out, L, C_in - C_out)
        static = static.repeat_interleave(channels, dim=0)  # -> (B * C_out, S)
        if self.channel_embedding is not None:
            static = torch.cat([static, self.channel_embedding.weight.repeat(batch, 1)], dim=-1)
        return torch.cat([targets, covariates], dim=-1), future.repeat_interleave(channels, dim=0), static

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        loss = self.loss(self(batch.past, batch.future, batch.static, batch.target), batch.target, batch.observed)
        # The mean over all processes, so that a scheduler or callback monitoring it decides alike on every one: each
        # process's own made ReduceLROnPlateau cut the rate at different steps, and DDP's weights drift apart.
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch), sync_dist=True)
        return loss if loss.requires_grad else None  # a baseline with nothing to learn skips the step

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """Logs the test metrics; returns the scaled point ``forecast`` (and ``quantiles``) for callbacks."""
        return self._evaluate(batch, "test")

    def _evaluate(self, batch: Batch, split: str) -> dict[str, torch.Tensor]:
        params = self(batch.past, batch.future, batch.static)
        loss = self.loss(params, batch.target, batch.observed)
        # The loss over every scored target of all processes, so every rank's checkpoint and early stopping see one
        # val/loss: each batch's mean over its observed targets, weighed by their number.
        scored = batch.target.numel() if batch.observed is None else batch.observed.sum()
        self.mean_losses[split].update(loss.detach(), weight=scored)
        self.log(f"{split}/loss", self.mean_losses[split], prog_bar=True, batch_size=len(batch))
        forecast = self.loss.point(params)  # -> (B, H, C_out)
        quantiles = self.loss.quantiles(params, self.loss.levels) if self.loss.levels else None  # (B, H, C_out, Q)
        self.metrics[split].update(forecast, batch.target, batch.naive_scale, quantiles, batch.observed)
        to_original = batch.to_original
        self.metrics[f"{split}_orig"].update(
            to_original(forecast),
            to_original(batch.target),
            batch.naive_scale * batch.target_scale.abs(),
            None if quantiles is None else to_original(quantiles),
            batch.observed,
        )
        return {"forecast": forecast} | ({"quantiles": quantiles} if quantiles is not None else {})

    def on_validation_epoch_start(self) -> None:
        self._reset_metrics("val")

    def on_test_epoch_start(self) -> None:
        self._reset_metrics("test")

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val")

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test")

    def _reset_metrics(self, split: str) -> None:
        """Start the pass's metrics; they stay readable after it (the evaluation report reads them).

        The mean loss too, although Lightning resets it after each pass: ``validate`` and ``test`` run in
        inference mode, where that reset makes inference tensors, which the validation inside ``fit`` (no
        inference mode) could not update in place.
        """
        for units in ("", "_orig"):
            self.metrics[f"{split}{units}"].reset()
        self.mean_losses[split].reset()

    def _log_metrics(self, split: str) -> None:
        """Log each metric's mean over all windows of all processes, steps and columns: ``{split}/{metric}[_orig]``."""
        for units in ("", "_orig"):
            metric = self.metrics[f"{split}{units}"]
            if metric.update_count:  # a pass with no window (a sanity check cut to none) logs nothing
                for name, value in metric.overall().items():
                    self.log(f"{split}/{name}{units}", value.float(), sync_dist=False)  # synced by compute()

    def predict_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """The point forecast (and quantiles at ``loss.levels``) in original units, with the series and
        first forecast row of each window."""
        params = self(batch.past, batch.future, batch.static)
        prediction = {
            "forecast": batch.to_original(self.loss.point(params)),
            "series": batch.series,
            "time": batch.time,
        }
        if self.loss.levels:
            prediction["quantiles"] = batch.to_original(self.loss.quantiles(params, self.loss.levels))
        return prediction

    def setup(self, stage: str) -> None:
        """Refuse a true half precision, and a distributed predict of fewer series than processes
        (``check_predict_shares``); start a residual cycle that is still at its zero start at the data's
        seasonal profile (``season_means`` of the data module). A cycle that holds values (a trained or
        loaded model fit further, to fine-tune it or for more epochs) keeps them, as its other weights are kept.

        Lightning calls this after the data module's ``setup`` and before a resumed fit's checkpoint is
        loaded (which then replaces it) and before distributed training copies rank 0's weights to all.
        A true half precision makes Lightning's precision plugin cast every float tensor of each batch
        (``Precision.convert_input``, run by the loops before any hook of this module), also the float64
        ``target_scale`` and ``target_offset`` (in bfloat16 an offset of 1001 is 1000: forecasts and metrics
        in original units move) and the category codes and season positions (bfloat16 holds whole numbers
        exactly only up to 256). Mixed precision runs the network in half precision and leaves the batch.

        Raises:
            ValueError: the trainer's precision is ``bf16-true`` or ``16-true``.
            ForecastDataError: ``predict`` on more processes than the data module has series to forecast.
        """
        precision = str(self.trainer.precision) if self._trainer else None
        if precision in ("bf16-true", "16-true"):
            raise ValueError(
                f"trainer.precision={precision} casts every float tensor of a batch to half precision, also the "
                "float64 scales and offsets that put forecasts back in original units and the category codes and "
                f"season positions, which it rounds: use trainer.precision: {precision.replace('true', 'mixed')} "
                "(the network in half precision, the data untouched)"
            )
        data = self.trainer.datamodule if self._trainer else None
        distributed = isinstance(data, TimeSeriesDataModule) and data.shard == "none" and self.trainer.world_size > 1
        if stage == "predict" and distributed:  # before Lightning deals the windows out to the processes
            check_predict_shares(len(data.dataset("predict")), self.trainer.world_size)
        season_means = getattr(data, "season_means", None)
        untrained_cycle = self.cycle is not None and not self.cycle.values.any()
        if stage == "fit" and untrained_cycle and season_means is not None:
            with torch.no_grad():
                self.cycle.values.copy_(season_means())

    def bfloat16(self) -> "Forecaster":
        """The model in bfloat16, as ``half()`` and ``double()`` give theirs: through ``to``, which Lightning's
        dtype tracking follows (``self.dtype``, which the inputs are cast to; ``nn.Module.bfloat16`` passes it by)."""
        return self.to(torch.bfloat16)

    def on_fit_start(self) -> None:
        """Train and validate the network itself, also when resuming from a checkpoint that fell back.

        Raises:
            ValueError: the model is an ensemble: its members were trained on their own.
        """
        if len(self.members):
            raise ValueError(
                f"this model is an ensemble of {len(self.members) + 1} checkpoints (forecast.ensemble.combine); "
                "fit each member's config instead, then combine their checkpoints again"
            )
        self.naive_fallback = None

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the version, the naive fallback (unless ``NaiveComparison`` recorded this epoch's), and the
        parts as plain specs (as the CLI records them) when built in Python."""
        checkpoint["forecast_version"] = version("forecast")
        checkpoint.setdefault("naive_fallback", self.naive_fallback)
        checkpoint["ensemble_members"] = 1 + len(self.members)
        if len(self.members):
            checkpoint["ensemble_hyper_parameters"] = [_plain(member.hparams) for member in self.members]
        hparams = checkpoint[self.CHECKPOINT_HYPER_PARAMS_KEY]
        if "_instantiator" not in hparams:
            checkpoint[self.CHECKPOINT_HYPER_PARAMS_KEY] = {**_plain(hparams), "_instantiator": _INSTANTIATOR}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the checkpoint's plain specs as hyperparameters, so a loaded model saves as it was saved, and
        its naive fallback (none in checkpoints from before it existed); an ensemble's members are built
        here, before the weights load into them, each from its own hyperparameters (a seed ensemble from
        before members could differ records none: its members share the model's). Every path that loads an
        ensemble (``Forecaster.load``, the CLI's ``--ckpt_path``) builds its members here, so here an ensemble
        is refused whose networks' forecasts a mean would misread (``check_ensemble_loss``).

        Raises:
            ValueError: an ensemble's network, its own or a member's, was trained with a loss other than a
                point loss, naming it and the loss.
        """
        self._set_hparams(checkpoint.get(self.CHECKPOINT_HYPER_PARAMS_KEY, {}))
        self.naive_fallback = checkpoint.get("naive_fallback")
        others = checkpoint.get("ensemble_members", 1) - 1
        if others != len(self.members):
            configs = checkpoint.get("ensemble_hyper_parameters") or [_plain(self.hparams)] * others
            members = [instantiate_module(type(self), config) for config in configs]
            check_ensemble_loss(self.loss, "the ensemble's own network")
            for index, member in enumerate(members, start=1):
                check_ensemble_loss(member.loss, f"ensemble member {index}")
            self.members = torch.nn.ModuleList(members).to(self.device)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "Forecaster":
        """A trained forecaster from one checkpoint file, with what ``predict`` needs of its data.

        The file is read with ``torch.load(weights_only=True)``: tensors and plain Python data only,
        so loading runs no code from it. The model's parts are rebuilt from the class paths it records
        (``forecast.nn.GRUEncoder``...), which are imported, and only if each is a subclass of its
        part's base (``forecast.nn.encoders.Encoder``...): trust a checkpoint as you trust the
        packages it names.

        Raises:
            FileNotFoundError: there is no such file.
            ValueError: naming the file: it is truncated or damaged, not a forecast checkpoint, one
                of another major version, its hyperparameters name a class outside a part's base
                or arguments the class does not take, or its weights do not fit the model they build.

        Example:
            >>> model = Forecaster.load("runs/etth1-gru/last.ckpt")  # doctest: +SKIP
            >>> model.predict(history)  # doctest: +SKIP
        """
        checkpoint = read_checkpoint(path, cls, map_location)
        try:
            model = cls.load_from_checkpoint(path, map_location=map_location, weights_only=True)
        except ArgumentError as error:  # jsonargparse refusing init_args the classes do not take
            detail = " ".join(str(error).split())
            raise ValueError(f"{path}: its hyperparameters do not build a {cls.__name__}: {detail}") from None
        except RuntimeError as error:  # torch's load_state_dict: weights of another shape or name
            if "loading state_dict" not in str(error):
                raise
            detail = " ".join(str(error).split())[:300]
            raise ValueError(
                f"{path}: its weights do not fit the model its hyperparameters build ({detail}); the file was edited "
                "or mixes two checkpoints: use one written by forecast fit"
            ) from None
        model.data_config = grouped_config(checkpoint.get("datamodule_hyper_parameters", {}))
        model.data_state = checkpoint.get("TimeSeriesDataModule", {})
        return model.eval()

    def predict(self, frame: pd.DataFrame, horizon: int | None = None, batch_size: int = 256) -> pd.DataFrame:
        """Forecasts for the series of ``frame``, after their last row, in original units.

        ``frame`` is history in the training format (wide or long, one or many series), with at
        least ``lookback`` rows per series; when the model reads future covariates, each series ends
        with ``horizon`` rows that hold them and leave the targets empty, and its forecasts start after
        its last target instead. Missing values of the history are repaired as in training
        (``nan_policy``): a series whose last targets are missing is forecast after its last row, from
        the repaired values. Calendar covariates are
        generated. Series never seen in training are fine; scaled per series, they get scalers fitted
        on their own history. Batches of ``batch_size`` windows run on the model's device, in its dtype
        (``model.double()``, ``model.bfloat16()``), under ``torch.inference_mode``; the result does not
        depend on the batch size. Every module is left in its mode (a part frozen in eval mode stays so).

        Args:
            frame: the history to forecast from.
            horizon: forecast this many steps (at most the trained horizon); ``None``: all of them.
            batch_size: windows per forward pass.

        Returns:
            A long table: ``id`` (the frame's ids, of their type; a wide frame's one series keeps
            the name it trained under), ``time`` (continuing each series at its frequency), a column
            per target, and ``{target}_q{level}`` columns for a probabilistic loss.

        Raises:
            TypeError: ``frame`` is not a pandas DataFrame.
            ValueError: the model was not loaded from a checkpoint, or ``horizon`` is out of range, or
                ``batch_size`` is not a whole number of 1 or more.
            ForecastDataError: ``frame`` lacks a column, a series is too short, or the future
                covariates of the horizon are missing.
        """
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"predict reads a pandas DataFrame of history (wide or long); got a {type(frame).__name__}")
        trained = self.hparams["horizon"]
        check_horizon(horizon, trained)
        data = history_module(self.data_config, self.data_state, frame, batch_size)
        outputs = []
        with evaluating(self), torch.inference_mode():  # a window the loader refuses leaves the model as it was
            for batch in data.predict_dataloader():
                outputs.append(self.predict_step(move_data_to_device(batch, self.device), len(outputs)))
        stacked = {key: torch.cat([output[key] for output in outputs]).cpu().numpy() for key in outputs[0]}
        steps = slice(0, horizon or trained)
        quantiles = stacked["quantiles"][:, steps] if "quantiles" in stacked else None
        return forecast_table(
            data, stacked["forecast"][:, steps], stacked["series"], stacked["time"], quantiles, self.loss.levels
        )

    def configure_optimizers(self) -> torch.optim.Optimizer | dict[str, Any] | None:
        """The optimizer, and the scheduler with its interval and monitor, built from their factories and
        checked against the fit (``forecast.optimization.optimization``, whose errors name the config key)."""
        if not any(parameter.requires_grad for parameter in self.parameters()):
            return None  # a parameter-free baseline: fit only records the data state and checkpoints
        trainer = self.trainer if self._trainer is not None else None
        return optimization(
            self.optimizer, self.lr_scheduler, self.parameters(), **self.lr_scheduler_config, trainer=trainer
        )
