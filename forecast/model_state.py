"""What a Forecaster keeps in its checkpoint beside the weights, and how a checkpoint becomes a model again.

A checkpoint records the forecast version, the naive fallback, an ensemble's members and every part as a plain
spec (as the CLI records them), so that it loads with ``torch.load(weights_only=True)``; loading refuses a file
that would build anything else, naming the file.
"""

import functools
from argparse import ArgumentError
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import lightning as L
import torch
from lightning.pytorch.cli import instantiate_module
from lightning.pytorch.trainer.states import TrainerFn

from .checkpointing import read_checkpoint
from .data import TimeSeriesDataModule
from .data.options import grouped_config
from .losses import Loss
from .specs import to_spec

__all__ = [
    "check_ensemble_loss", "check_not_ensemble", "close_resumed_epoch", "load_model", "record_state", "restore_dtype",
    "restore_members", "restore_state",
]  # fmt: skip

_INSTANTIATOR = "lightning.pytorch.cli.instantiate_module"  # rebuilds the parts from their specs on load
_TRAIN_LOSS_SUMS = "train_loss_sums"  # the sums of the mean training loss of an epoch a checkpoint falls inside
_STEP_LOSSES = "step_losses"  # the losses of the batches of an accumulation a checkpoint falls inside
_STEP_METRICS = "step_metrics"  # the logged values a per-step plateau step reads that a checkpoint falls before

Model = TypeVar("Model", bound=L.LightningModule)


def _plain(hparams: dict[str, Any]) -> dict[str, Any]:
    """A model's hyperparameters as plain specs, without the instantiator's key, as the CLI records them: also
    ``static_cardinalities`` as the list it links from the data, where ``None`` (all numbers) is a 0 per static
    feature (recorded as ``None``, the CLI's ``--ckpt_path`` refused the checkpoint of every model built in Python:
    "trained on data of static_cardinalities None, but this config's data give static_cardinalities []")."""
    plain = {name: to_spec(value) for name, value in hparams.items() if name != "_instantiator"}
    if "static_cardinalities" in plain and plain["static_cardinalities"] is None:
        plain["static_cardinalities"] = [0] * plain["static_size"]
    return plain


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


def check_not_ensemble(model: torch.nn.Module) -> None:
    """Refuse to fit an ensemble (``forecast.ensemble.combine``): its members were trained on their own.

    Raises:
        ValueError: ``model`` has members, naming how many networks it holds and what to fit instead.
    """
    if len(model.members):
        raise ValueError(
            f"this model is an ensemble of {len(model.members) + 1} checkpoints (forecast.ensemble.combine); "
            "fit each member's config instead, then combine their checkpoints again"
        )


def _data_windows(model: L.LightningModule) -> dict[str, Any]:
    """The window sizes of the data module that a model without parameters runs on; none for any other model.

    Such a model (a baseline such as ``LookbackMeanHead``) reads whatever window it is given
    (``forecast.model_checks.check_data``), so one built in Python with another lookback or channel count is
    trained and scored on the data's windows. Its checkpoint records those, as it records the data's
    settings: recording its own, the CLI's ``test --ckpt_path`` with the data's lookback refused it, and
    the lookback it named instead gave other windows than those scored.
    """
    trainer = model._trainer
    datamodule = trainer.datamodule if trainer is not None else None
    if any(True for _ in model.parameters()) or not isinstance(datamodule, TimeSeriesDataModule):
        return {}
    return {key: getattr(datamodule, key) for key in ("lookback", "input_size", "future_size")}


def record_state(model: L.LightningModule, checkpoint: dict[str, Any]) -> None:
    """Write into ``checkpoint`` the version, ``model``'s naive fallback (unless ``NaiveComparison`` recorded this
    epoch's), its ensemble members' hyperparameters, and its own as plain specs when it was built in Python, with
    the data's window sizes for a model without parameters (``_data_windows``); in the middle of a training epoch,
    the sums of its mean training loss so far (``_train_loss_sums``), and between two optimizer steps of an
    accumulation, the losses of its batches so far (``_step_losses``); between an optimizer step and the per-step
    plateau step after it, those losses and the values the plateau step reads (``_step_metrics``)."""
    checkpoint["forecast_version"] = version("forecast")
    sums, losses, metrics = _train_loss_sums(model), _step_losses(model), _step_metrics(model)
    if sums is not None:
        checkpoint[_TRAIN_LOSS_SUMS] = sums
    if losses is not None:
        checkpoint[_STEP_LOSSES] = losses
    if metrics:
        checkpoint[_STEP_METRICS] = metrics
    checkpoint.setdefault("naive_fallback", model.naive_fallback)
    checkpoint["ensemble_members"] = 1 + len(model.members)
    if len(model.members):
        checkpoint["ensemble_hyper_parameters"] = [_plain(member.hparams) for member in model.members]
    hparams = checkpoint[model.CHECKPOINT_HYPER_PARAMS_KEY]
    if "_instantiator" not in hparams:
        hparams = {**_plain(hparams), "_instantiator": _INSTANTIATOR}
    checkpoint[model.CHECKPOINT_HYPER_PARAMS_KEY] = {**hparams, **_data_windows(model)}


def restore_state(model: L.LightningModule, checkpoint: dict[str, Any]) -> None:
    """Restore into ``model`` what ``record_state`` wrote beside the weights of ``checkpoint``: its naive fallback
    (none in checkpoints from before it existed), an ensemble's members (``restore_members``) and the weights'
    dtype (``restore_dtype``), before the weights load into it; in a fit resumed in the middle of an epoch, the
    epoch's mean training loss so far (``_resume_train_loss``), between two optimizer steps, the losses of the
    batches the next step accumulates so far, and before a per-step plateau step, its losses and the values it reads
    (``Forecaster.on_train_start`` hands those back to Lightning).

    Raises:
        ValueError: as ``restore_members`` lists.
    """
    model.naive_fallback = checkpoint.get("naive_fallback")
    restore_members(model, checkpoint)
    restore_dtype(model, checkpoint)
    model.resumed_mid_epoch = _resume_train_loss(model, checkpoint)
    losses = checkpoint.get(_STEP_LOSSES)
    fitting = _fitting(model) is not None
    model.step_losses = list(losses.unbind()) if losses is not None and fitting else []
    model.step_metrics = dict(checkpoint.get(_STEP_METRICS, {})) if fitting else {}


def _train_loss_sums(model: L.LightningModule) -> dict[str, torch.Tensor] | None:
    """The sums of the mean training loss of the epoch ``model``'s fit is in the middle of (batches of it are left to
    train), over all processes; ``None`` at any other moment.

    A per-epoch scheduler on ``train/loss`` reads that mean after the epoch (``Forecaster.lr_scheduler_step``), and a
    fit resumed from the checkpoint trains only the epoch's later batches: without these sums it read their mean.
    An epoch whose batches are done keeps none: the scores of the steps it owes are the checkpoint callback's
    (``forecast.callbacks.ResumableModelCheckpoint``), and the next epoch's mean starts empty.
    """
    trainer = _fitting(model)
    if trainer is None or not _inside_epoch(trainer):
        return None
    sums = model.pass_metrics.train_loss_sums()
    return {name: trainer.strategy.reduce(value, reduce_op="sum") for name, value in sums.items()}


def _step_losses(model: L.LightningModule) -> torch.Tensor | None:
    """The losses of the batches since the last optimizer step of ``model``'s fit, each the mean over all processes,
    where the fit is between two steps of an accumulation (``trainer.accumulate_grad_batches``); ``None`` at any other
    moment.

    A per-step scheduler on ``train/loss`` reads their mean at the next step (``Forecaster.lr_scheduler_step``), and a
    fit resumed from the checkpoint trains only the step's later batches: without these it read their mean alone.
    Right after a step whose plateau step is still to come (``_owes_plateau_step``), they are the losses that step
    reads: the fit resumed from the checkpoint takes it.
    """
    trainer = _fitting(model)
    if trainer is None or not model.automatic_optimization:
        return None
    if not (trainer.fit_loop._should_accumulate() or _owes_plateau_step(trainer)):
        return None
    return trainer.strategy.reduce(torch.stack(model.step_losses), reduce_op="mean")


def _step_metrics(model: L.LightningModule) -> dict[str, torch.Tensor]:
    """By name, the logged value each per-step ``ReduceLROnPlateau`` of ``model``'s fit monitors, where the fit has
    taken an optimizer step and not yet the plateau step after it (``_owes_plateau_step``); none at any other moment.

    Lightning steps such a scheduler after the batch's validation, with the value of ``trainer.callback_metrics``, which
    a checkpoint does not keep: a fit resumed from a checkpoint of that validation (``trainer.val_check_interval``)
    took the step with none and failed ("ReduceLROnPlateau conditioned on metric train/loss which is not available"),
    and one resumed from a checkpoint of the batch's end (``every_n_train_steps``) never took it.
    """
    trainer = _fitting(model)
    if trainer is None or not model.automatic_optimization or not _owes_plateau_step(trainer):
        return {}
    logged = trainer.callback_metrics
    monitors = {config.monitor for config in _step_plateaus(trainer)}
    return {name: logged[name].detach().clone() for name in monitors if name in logged}


def _step_plateaus(trainer: L.Trainer) -> list[Any]:
    """The configs of ``trainer``'s ``ReduceLROnPlateau`` schedulers stepped per optimizer step."""
    return [config for config in trainer.lr_scheduler_configs if config.reduce_on_plateau and config.interval == "step"]


def _owes_plateau_step(trainer: L.Trainer) -> bool:
    """Whether ``trainer``'s fit is between the optimizer step of its batch and the per-step plateau step after it:
    in the batch's ``on_train_batch_end`` (where ``every_n_train_steps`` writes a checkpoint) or its validation, which
    Lightning runs before stepping a ``ReduceLROnPlateau`` per step."""
    batches = trainer.fit_loop.epoch_loop.batch_progress.current
    stepped = 0 < batches.ready == batches.processed and not trainer.fit_loop._should_accumulate()
    in_batch_end = batches.completed < batches.processed
    return bool(_step_plateaus(trainer)) and stepped and (in_batch_end or trainer.validating)


def _inside_epoch(trainer: L.Trainer) -> bool:
    """Whether ``trainer``'s fit has started a training epoch and has batches of it left to train."""
    batches, epochs = trainer.fit_loop.epoch_loop.batch_progress, trainer.fit_loop.epoch_progress.current
    batches_done = batches.current.ready == trainer.num_training_batches or batches.is_last_batch
    return epochs.started > epochs.processed and not batches_done


def _resume_train_loss(model: L.LightningModule, checkpoint: dict[str, Any]) -> bool:
    """Start the mean training loss of the epoch a fit resumes in the middle of at the sums ``checkpoint`` keeps (on
    rank 0 alone: they are every process's, and the mean sums the processes'), and say whether it did: not outside a
    fit, nor from a checkpoint written at another moment or before the sums were kept."""
    sums, trainer = checkpoint.get(_TRAIN_LOSS_SUMS), _fitting(model)
    if sums is None or trainer is None:
        return False
    own = sums if trainer.global_rank == 0 else {name: torch.zeros_like(value) for name, value in sums.items()}
    model.pass_metrics.resume_train_loss(own)
    return True


def close_resumed_epoch(trainer: L.Trainer) -> None:
    """Start a fit bounded by ``max_steps`` that resumes from a checkpoint of a finished epoch at the next epoch, as one
    bounded by ``max_epochs`` starts.

    Lightning's fit loop stays restarting under ``max_steps`` (its setter keeps the flag whatever it is given), also
    where the checkpoint's epoch had finished: it restarted on that epoch's end and ran its ``on_train_epoch_end``
    hooks a second time, or restarted its loop of batches on the last batch and ended the next epoch at once; either
    way without the validation metrics those hooks read (``EarlyStopping`` refused the fit, as the README's own
    ``max_steps`` then ``--ckpt_path last`` did). This clears the restart and closes the epoch as the fit loop does
    for a fit bounded by epochs; called from ``on_train_start``, after the loops were reset and before the next epoch.
    """
    loop = trainer.fit_loop
    progress = loop.epoch_progress.current
    finished = progress.ready == progress.started == progress.processed
    if trainer.max_steps == -1 or not (loop.restarting and finished):  # by epochs the loop clears it itself
        return
    if loop.restarted_on_epoch_end:  # written before the epoch's end counted it
        loop.epoch_progress.increment_completed()
    loop.reset_restart_stage()
    loop._restarting = False  # the fit loop's own flag: its setter would keep it under max_steps
    loop.epoch_loop.restarting = False  # and its inner loops'
    loop.epoch_loop.reset_restart_stage()
    loop.epoch_loop.val_loop.reset_restart_stage()


def restore_members(model: L.LightningModule, checkpoint: dict[str, Any]) -> None:
    """Build ``model.members``, the other networks of the ensemble ``checkpoint`` holds, for its weights to load
    into, each from its own hyperparameters (a seed ensemble from before members could differ records none: its
    members share ``model``'s). Every path that loads an ensemble (``Forecaster.load``, the CLI's ``--ckpt_path``)
    builds its members here, so here an ensemble is refused whose networks' forecasts a mean would misread
    (``check_ensemble_loss``).

    Raises:
        ValueError: an ensemble's network, its own or a member's, was trained with a loss other than a
            point loss, naming it and the loss.
    """
    others = checkpoint.get("ensemble_members", 1) - 1
    if others == len(model.members) == 0:
        return
    # Built anew also where the model has as many members: those of another ensemble, whose lookbacks may differ.
    configs = checkpoint.get("ensemble_hyper_parameters") or [_plain(model.hparams)] * others
    members = [instantiate_module(type(model), config) for config in configs]
    for member, config in zip(members, configs, strict=True):
        member._set_hparams(config)  # the plain specs, as the leading network keeps its own: it saves as it was read
    check_ensemble_loss(model.loss, "the ensemble's own network")
    for index, member in enumerate(members, start=1):
        check_ensemble_loss(member.loss, f"ensemble member {index}")
    model.members = torch.nn.ModuleList(members).to(model.device)


def restore_dtype(model: L.LightningModule, checkpoint: dict[str, Any]) -> None:
    """Cast ``model`` to the dtype of ``checkpoint``'s weights, before they load into it; in a fit, to the dtype its
    ``trainer.precision`` trains in.

    A model rebuilt from its hyperparameters is float32: the weights of one trained or cast to float64
    (``trainer.precision: 64-true``, ``model.double()``) loaded into it were rounded to float32, by
    ``Forecaster.load`` and by the CLI's ``--ckpt_path`` alike (Lightning restores the weights before its
    precision plugin casts the model), and its forecasts moved. A fit resumed from such a checkpoint trains in
    its own precision: under ``32-true`` (which casts nothing) it would otherwise have trained in float64. Weights
    of several dtypes (an ensemble of a float32 and a float64 member) load in the widest, which holds each exactly.
    """
    weights = checkpoint.get("state_dict", {})
    dtypes = {weights[name].dtype for name, _ in model.named_parameters() if name in weights}
    dtype = _fit_dtype(model) or (functools.reduce(torch.promote_types, dtypes) if dtypes else model.dtype)
    if model.dtype != dtype:
        model.to(dtype)


def _fit_dtype(model: L.LightningModule) -> torch.dtype | None:
    """The dtype of the weights that the fit ``model`` is restored into trains: float64 under a ``64-true``
    ``trainer.precision``, else the model's own (the mixed precisions train float32 weights); None outside a fit."""
    trainer = _fitting(model)
    if trainer is None:
        return None
    return torch.float64 if str(trainer.precision).startswith("64") else model.dtype


def _fitting(model: L.LightningModule) -> L.Trainer | None:
    """The trainer that fits ``model`` now; None where none holds it, or it validates, tests or predicts."""
    trainer = model._trainer  # a Lightning attribute: ``model.trainer`` raises where no trainer holds the model
    return trainer if trainer is not None and trainer.state.fn == TrainerFn.FITTING else None


def load_model(cls: type[Model], path: str | Path, map_location: str | torch.device) -> Model:
    """A model of class ``cls`` from the checkpoint file at ``path``, in eval mode, with what ``predict`` needs of
    its data (``data_config`` and ``data_state``); ``Forecaster.load`` documents what is checked.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: naming the file, as ``Forecaster.load`` lists.
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
