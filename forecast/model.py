"""Forecaster: the LightningModule that composes a normalization, an embedding, an encoder, a head and a loss."""

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import lightning as L
import pandas as pd
import torch
from lightning.pytorch.cli import LRSchedulerCallable, OptimizerCallable
from lightning.pytorch.utilities.types import LRSchedulerTypeUnion

from .batch import Batch, ModelDims
from .inference import forecast_frame
from .losses import Loss, MSELoss
from .model_checks import (
    check_data,
    check_factories,
    check_loss,
    check_options,
    check_recordable,
    check_sizes,
    check_trainer,
)
from .model_metrics import PassMetrics
from .model_state import check_not_ensemble, close_resumed_epoch, load_model, record_state, restore_state
from .monitors import fit_metrics, may_log
from .nn.baselines import seasonal_naive
from .nn.channels import merge_channels, split_channels
from .nn.cycle import ResidualCycle
from .nn.embeddings import Embedding, IdentityEmbedding
from .nn.encoders import Encoder, GRUEncoder
from .nn.heads import Decoding, Head, LinearHead
from .nn.normalization import NoNormalization, Normalization
from .nn.statics import StaticEmbedding
from .optimization import check_one_cycle_steps, optimization
from .predict import check_horizon, history_module, history_time_dtype

__all__ = ["Forecaster"]

# The parts a Forecaster builds from factories, which its checkpoints record as specs.
_PARTS = ("normalization", "embedding", "encoder", "head", "optimizer", "lr_scheduler", "cycle")


class Forecaster(L.LightningModule):
    """A recurrent forecaster: encoder over the embedded lookback window, head to all horizon steps, loss.

    Parts whose sizes depend on other parts come in as factories: the Forecaster calls
    ``embedding(input_size, lookback)``, ``encoder(embedding.output_size)`` and
    ``head(ModelDims(...), Decoding(...))`` with the sizes it knows, so the head learns the encoder's
    ``output_size`` (doubled when bidirectional) and the loss's ``num_params`` without anyone writing
    them twice. With ``channel_independent`` each target channel is its own series through the same
    weights (with its past covariates alongside), as in PatchTST and SegRNN. Validation and test log every metric of
    ``HorizonMetrics`` (mse, mae, rmse, mape, smape, mase) as ``{split}/{metric}`` on the scaled data
    (the ETT protocol) and ``{split}/{metric}_orig`` in original units, means over the observed target values of
    all windows (a target the data module repaired is none); a probabilistic loss adds ``pinball``, ``crps`` and,
    with two levels or more, ``coverage`` (the share of targets inside the interval between its lowest and highest
    quantile levels), and ``predict`` returns its quantiles.
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
            one on a validation metric steps after each validation (``trainer.check_val_every_n_epoch``),
            and one on ``train/loss`` reads the epoch's mean.
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
        ValueError: a size below 1 (``future_size``, ``static_size``: below 0) or no int, more target than
            input channels, a ``season_channel`` outside the future channels, ``channel_embedding_size``
            negative or set without ``channel_independent``, ``static_cardinalities`` not one count per
            static feature, or ``cycle`` set without a ``season_channel``.
        TypeError: ``loss`` is not a ``Loss`` instance (a class or a ``functools.partial`` of one), a part
            (``encoder``, ``head``, ...) is not a factory (a ``class_path`` dict, a built module, a function),
            ``channel_embedding_size`` or ``static_embedding_size`` is no int, or ``channel_independent`` is not a
            bool; a part's size option (``hidden_size``, ``seg_len``, ...) that is no int, naming its key.
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
        check_factories(
            normalization=normalization, embedding=embedding, encoder=encoder, head=head, optimizer=optimizer,
            lr_scheduler=lr_scheduler, cycle=cycle,
        )  # fmt: skip
        check_loss(loss)
        sizes = {"lookback": lookback, "horizon": horizon, "input_size": input_size, "target_size": target_size}
        sizes |= {"future_size": future_size, "static_size": static_size, "season_length": season_length}
        check_sizes(sizes, season_channel)
        check_options(
            static_size, static_cardinalities, channel_independent, channel_embedding_size, cycle is not None,
            season_channel,
        )  # fmt: skip
        with warnings.catch_warnings():  # Lightning's advice to leave out a loss instance: checkpoints need its spec
            warnings.filterwarnings("ignore", message="Attribute 'loss' is an instance of `nn.Module`")
            self.save_hyperparameters()
        self.data_config: dict[str, Any] = {}  # what predict needs of the data; Forecaster.load fills them in
        self.data_state: dict[str, Any] = {}
        # The seasonal_naive period forward forecasts instead of the network (1: the last value), as the
        # checkpoint records it; None: the network. Only a loaded checkpoint sets it, fit clears it.
        self.naive_fallback: int | None = None
        self.members = torch.nn.ModuleList()  # an ensemble's other networks (forecast.ensemble.combine)
        # Whether the fit resumed in the middle of the epoch it trains (forecast.model_state.restore_state).
        self.resumed_mid_epoch = False
        # The losses of the batches the next optimizer step accumulates (Forecaster.lr_scheduler_step).
        self.step_losses: list[torch.Tensor] = []
        # By name, the logged values the per-step plateau step a resumed fit owes reads (Forecaster.on_train_start).
        self.step_metrics: dict[str, torch.Tensor] = {}
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
        self.loss = MSELoss() if loss is None else loss
        self.dims = ModelDims(
            lookback=lookback, horizon=horizon, input_size=series_size,
            target_size=1 if channel_independent else target_size, future_size=future_size,
            static_size=self.static_embedding.output_size + channel_embedding_size, encoder_steps=self.embedding.steps,
            encoder_size=self.encoder.output_size, num_params=self.loss.num_params, season_length=season_length,
        )  # fmt: skip
        self.head = head(self.dims, Decoding(encoder, self.loss.raw_point))
        self.optimizer = optimizer
        self.lr_scheduler = lr_scheduler
        self.lr_scheduler_config = {"interval": lr_scheduler_interval, "monitor": lr_scheduler_monitor}
        self.pass_metrics = PassMetrics(horizon, target_size, self.loss.levels)

    @property
    def metrics(self) -> torch.nn.ModuleDict:
        """Every metric of ``val`` and ``test``, scaled (key ``{split}``) and in original units (``{split}_orig``)."""
        return self.pass_metrics.metrics

    @property
    def mean_losses(self) -> torch.nn.ModuleDict:
        """The mean loss of the latest pass of ``val`` and of ``test``, which they log as ``{split}/loss``."""
        return self.pass_metrics.mean_losses

    def forward(
        self, past: torch.Tensor, future: torch.Tensor, static: torch.Tensor, target: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Loss parameters for every horizon step; ``target`` (training only, NaN where not observed) lets a head
        teacher-force. An ensemble's are the mean of its members', all of point losses: the mean forecast.

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
            normalized, future, loc = self.cycle.remove(normalized, future, loc, scale, self.season_channel)
        future = future.to(self.dtype)
        static = self.static_embedding(static).to(self.dtype)  # -> (B, S_embedded): categories embedded
        if target is not None:  # in the weights' dtype, as the inputs: a bfloat16 decoder reads it when teacher-forced
            target = ((target - loc) / scale).to(self.dtype)  # -> (B, H, C_out), on the scale the head forecasts in
        if self.channel_independent:  # B -> B * C_out series
            normalized, future, static, target = split_channels(
                normalized, future, static, target, self.target_size, self.channel_embedding
            )
        encoded = self.encoder(self.embedding(normalized))  # -> sequence (B, T, D)
        history = normalized[..., : self.dims.target_size]  # -> (B, L, C_out), the targets come first
        params = self.head(encoded, history, future, static, target)  # -> (B, H, C_out, P)
        if self.channel_independent:
            params = merge_channels(params, self.target_size)  # -> (B, H, C_out, P)
        return self.loss.rescale(params, loc, scale)  # -> (B, H, C_out, P)

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        teacher = batch.target if batch.observed is None else batch.target.masked_fill(~batch.observed, float("nan"))
        loss = self.loss(self(batch.past, batch.future, batch.static, teacher), batch.target, batch.observed)
        # The mean over all processes, so that a scheduler or callback monitoring it decides alike on every one: each
        # process's own made ReduceLROnPlateau cut the rate at different steps, and DDP's weights drift apart.
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch), sync_dist=True)
        self.pass_metrics.add_loss("train", loss, batch)
        self._add_step_loss(loss.detach(), batch_idx)
        return loss if loss.requires_grad else None  # a baseline with nothing to learn skips the step

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        return self._evaluate(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> dict[str, torch.Tensor]:
        """Logs the test metrics; returns the scaled point ``forecast`` (and ``quantiles``) for callbacks."""
        return self._evaluate(batch, "test")

    def _evaluate(self, batch: Batch, split: str) -> dict[str, torch.Tensor]:
        params = self(batch.past, batch.future, batch.static)
        forecast = self.loss.point(params)  # -> (B, H, C_out)
        quantiles = self.loss.quantiles(params, self.loss.levels) if self.loss.levels else None  # (B, H, C_out, Q)
        self.pass_metrics.add(split, batch, self.loss(params, batch.target, batch.observed), forecast, quantiles)
        self.log(f"{split}/loss", self.mean_losses[split], prog_bar=True, batch_size=len(batch))
        return {"forecast": forecast} | ({"quantiles": quantiles} if quantiles is not None else {})

    def on_train_epoch_start(self) -> None:
        self.pass_metrics.start("train")

    def on_validation_epoch_start(self) -> None:
        self.pass_metrics.start("val")

    def on_test_epoch_start(self) -> None:
        self.pass_metrics.start("test")

    def on_train_epoch_end(self) -> None:
        """Have Lightning step a per-epoch ``ReduceLROnPlateau`` after an epoch that the fit resumed in the middle of.

        Lightning skips that step after such an epoch (its fit loop is still restarting), as the metrics it reads were
        not saved: the resumed fit cut the learning rate an epoch later than one never stopped, or never. The
        epoch's mean training loss is restored (``forecast.model_state.restore_state``), and a validation metric is
        logged anew by the epoch's validation; without the monitored value (no validation this epoch) it is skipped,
        and so it is after a resume from a checkpoint that keeps no such mean (one from before it was kept).

        An epoch cut short by ``max_steps`` takes its per-epoch step of the other schedules here, before its checkpoint
        is written: a resume starts the next epoch, which a schedule of epochs (``StepLR``) then trains at its rate.
        """
        loop = self.trainer.fit_loop.epoch_loop
        if (
            self.trainer.max_steps != -1
            and loop.global_step >= self.trainer.max_steps
            and not loop._num_ready_batches_reached()
        ):
            # An epoch cut short by max_steps is closed (a resume starts the next one): it takes its per-epoch step,
            # which Lightning takes only after an epoch's last batch (the epoch's count and the schedule's would part).
            loop.update_lr_schedulers("epoch", update_plateau_schedulers=False)
        if self.resumed_mid_epoch and self.lr_scheduler_config["monitor"] in self.trainer.callback_metrics:
            # Only the fit loop's own flag, which the step reads: its setter keeps the flag under max_steps, and
            # sets it on the inner loops too (every later epoch then trained and validated nothing).
            self.trainer.fit_loop._restarting = False
        self.resumed_mid_epoch = False

    def on_validation_epoch_end(self) -> None:
        self.log_dict(self.pass_metrics.overall_means("val"), sync_dist=False)  # synced by compute()

    def on_test_epoch_end(self) -> None:
        self.log_dict(self.pass_metrics.overall_means("test"), sync_dist=False)

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
        """Refuse a trainer the model cannot run in (``check_trainer``: a true half precision, a distributed fit
        without parameters to train, a distributed predict of fewer series than processes) and a data module of
        other windows than the model's (``check_data``: another lookback, horizon or channel count, or for a
        residual cycle another season channel or length); in a fit, start a residual cycle that is still at its zero
        start at the data's seasonal profile (``ResidualCycle.start``, ``season_means`` of the data module); before a
        fit that writes checkpoints, refuse parts whose arguments its checkpoints could not rebuild
        (``check_recordable``: ``LambdaLR``'s function).

        Lightning calls this after the data module's ``setup`` and before a resumed fit's checkpoint is
        loaded (which then replaces it) and before distributed training copies rank 0's weights to all.

        Raises:
            ValueError, ForecastDataError: as ``forecast.model_checks.check_trainer`` and ``check_data`` list.
            TypeError: as ``forecast.model_checks.check_recordable`` lists.
        """
        check_trainer(self._trainer, stage, self)
        datamodule = self.trainer.datamodule if self._trainer else None
        check_data(self, datamodule)
        if stage == "fit" and self.trainer.checkpoint_callbacks:
            check_recordable(self, _PARTS)
        if stage == "fit" and self.cycle is not None:
            self.cycle.start(getattr(datamodule, "season_means", None))

    def bfloat16(self) -> "Forecaster":
        """The model in bfloat16, as ``half()`` and ``double()`` give theirs: through ``to``, which Lightning's
        dtype tracking follows (``self.dtype``, which the inputs are cast to; ``nn.Module.bfloat16`` passes it by)."""
        return self.to(torch.bfloat16)

    def on_fit_start(self) -> None:
        """Train and validate the network itself, also when resuming from a checkpoint that fell back; refuse an
        ensemble (``forecast.model_state.check_not_ensemble``), loaded from a resumed fit's checkpoint by now."""
        check_not_ensemble(self)
        self.naive_fallback = None

    def on_train_start(self) -> None:
        """Refuse a per-step ``OneCycleLR`` shorter than the fit (``forecast.optimization.check_one_cycle_steps``); in a
        fit resumed from a checkpoint written between an optimizer step and the per-step ``ReduceLROnPlateau`` step
        after it, hand the values that step reads back to ``trainer.callback_metrics``, where Lightning reads them, and
        bring the restored losses (``forecast.model_state.restore_state``) to the model's device.

        Resumed from the checkpoint of a validation, Lightning ends that batch again and takes the step; resumed from
        one of its ``on_train_batch_end`` (``every_n_train_steps``), it does not, and ``on_train_batch_start`` does.
        A fit bounded by ``max_steps`` resumed from an epoch's end starts the next epoch (``close_resumed_epoch``).
        """
        check_one_cycle_steps(self.trainer)
        close_resumed_epoch(self.trainer)
        self.step_losses = [loss.to(self.device) for loss in self.step_losses]
        self.step_metrics = {name: value.to(self.device) for name, value in self.step_metrics.items()}
        self.trainer.callback_metrics.update(self.step_metrics)

    def on_train_batch_start(self, batch: Batch, batch_idx: int) -> None:
        """Take the per-step plateau step the resumed fit owes (``on_train_start``) before its first batch trains,
        where Lightning did not take it on restart."""
        owed, self.step_metrics = self.step_metrics, {}
        for config in self.trainer.lr_scheduler_configs:
            if config.reduce_on_plateau and config.interval == "step" and config.monitor in owed:
                self.lr_scheduler_step(config.scheduler, owed[config.monitor])

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Record the version, the naive fallback (unless ``NaiveComparison`` recorded this epoch's), and the
        parts as plain specs (as the CLI records them) when built in Python."""
        record_state(self, checkpoint)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep the checkpoint's plain specs as hyperparameters, so a loaded model saves as it was saved; restore
        its naive fallback, an ensemble's members and the weights' dtype (``forecast.model_state.restore_state``),
        before the weights load into it.

        Raises:
            ValueError: as ``restore_state`` lists.
        """
        self._set_hparams(checkpoint.get(self.CHECKPOINT_HYPER_PARAMS_KEY, {}))
        restore_state(self, checkpoint)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu") -> "Forecaster":
        """A trained forecaster from one checkpoint file, in its weights' dtype, with what ``predict`` needs of its
        data.

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
        return load_model(cls, path, map_location)

    def predict(self, frame: pd.DataFrame, horizon: int | None = None, batch_size: int = 256) -> pd.DataFrame:
        """Forecasts for the series of ``frame``, after their last row, in original units.

        ``frame`` is history in the training format (wide or long, one or many series), with at
        least ``lookback`` rows per series; when the model reads future covariates, each series ends
        with as many rows as the trained horizon (``hparams["horizon"]``, also where a shorter ``horizon``
        is asked for) that hold them and leave the targets empty, and its forecasts start after its last
        target instead. Missing values of the history are repaired as in training
        (``nan_policy``): a series whose last targets are missing is forecast after its last row, from
        the repaired values. Calendar covariates are
        generated. Series never seen in training are fine; scaled per series, they get scalers fitted
        on their own history. Batches of ``batch_size`` windows run on the model's device, in its dtype
        (``model.double()``, ``model.bfloat16()``), under ``torch.inference_mode``; the result does not
        depend on the batch size, up to float32 rounding (a window meets others in its forward pass).
        Every module is left in its mode (a part frozen in eval mode stays so).

        Args:
            frame: the history to forecast from.
            horizon: forecast this many steps (at most the trained horizon); ``None``: all of them.
            batch_size: windows per forward pass.

        Returns:
            A long table: ``id`` (the frame's ids, of their type; a wide frame's one series keeps
            the name it trained under), ``time`` (continuing each series at its frequency, in the unit
            of the frame's times, and Arrow timestamps where the frame's are), a column per target, and
            ``{target}_q{level}`` columns for a probabilistic loss.

        Raises:
            TypeError: ``frame`` is not a pandas DataFrame.
            ValueError: the model was not loaded from a checkpoint, or ``horizon`` is out of range, or
                ``batch_size`` is not a whole number of 1 or more.
            ForecastDataError: ``frame`` lacks a column, a series is too short, or the future
                covariates of the trained horizon are missing.
        """
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"predict reads a pandas DataFrame of history (wide or long); got a {type(frame).__name__}")
        check_horizon(horizon, self.hparams["horizon"])
        data = history_module(self.data_config, self.data_state, frame, batch_size)
        return forecast_frame(self, data, horizon, history_time_dtype(self.data_config, frame))

    def _add_step_loss(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Keep ``loss`` among the losses of the batches the next optimizer step accumulates: the first batch of each
        accumulation (``trainer.accumulate_grad_batches``) starts them, as Lightning starts the gradients there."""
        accumulated = self._trainer.accumulate_grad_batches if self._trainer is not None else 1
        self.step_losses = [*self.step_losses, loss] if batch_idx % accumulated else [loss]

    def lr_scheduler_step(self, scheduler: LRSchedulerTypeUnion, metric: Any | None) -> None:
        """Step ``scheduler``; one monitoring ``train/loss`` reads the mean training loss of the epoch, or per step of
        the batches the optimizer step accumulated.

        ``train/loss`` is logged every step (for the progress bar and the logs), so the value Lightning hands a
        scheduler after the epoch is the last batch's loss: ``ReduceLROnPlateau`` decided on one batch, not on the
        epoch. Per step under ``accumulate_grad_batches``, it is the loss of the last batch the step accumulated,
        where the step's gradient descends the mean loss of them all (at the end of an epoch, of the batches since the
        previous step); here the scheduler reads that mean, over all processes as ``train/loss`` is.
        """
        if metric is not None and self.lr_scheduler_config == {"interval": "epoch", "monitor": "train/loss"}:
            metric = self.pass_metrics.mean_train_loss.compute()
        elif metric is not None and self.lr_scheduler_config == {"interval": "step", "monitor": "train/loss"}:
            metric = self._mean_step_loss(metric)
        if metric is not None:  # the plateau step a resumed fit owed, if any, is taken
            self.step_metrics = {}
        super().lr_scheduler_step(scheduler, metric)

    def _mean_step_loss(self, logged: torch.Tensor) -> torch.Tensor:
        """The mean loss of the batches the optimizer step accumulated, over all processes; ``logged``, the last
        batch's, where a step accumulates one batch."""
        if self.trainer.accumulate_grad_batches == 1:
            return logged
        return self.trainer.strategy.reduce(torch.stack(self.step_losses).mean(), reduce_op="mean")

    def configure_optimizers(self) -> torch.optim.Optimizer | dict[str, Any] | None:
        """The optimizer, and the scheduler with its interval and monitor, built from their factories and
        checked against the fit (``forecast.optimization.optimization``, whose errors name the config key)."""
        if not any(parameter.requires_grad for parameter in self.parameters()):
            return None  # a parameter-free baseline: fit only records the data state and checkpoints
        trainer = self.trainer if self._trainer is not None else None
        # The metrics a fit logs, unless a callback of the user's may log more (forecast.monitors).
        logged = None if trainer is None or any(map(may_log, trainer.callbacks)) else fit_metrics(self)
        return optimization(
            self.optimizer, self.lr_scheduler, self.parameters(), **self.lr_scheduler_config, trainer=trainer,
            logged=logged,
        )  # fmt: skip
