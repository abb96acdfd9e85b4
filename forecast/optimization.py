"""The optimizer and learning-rate scheduler of a Forecaster, built from their factories and checked before training."""

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import lightning as L
import numpy as np
import torch

from .monitors import not_logged

__all__ = ["check_one_cycle_steps", "optimization"]


def optimization(
    optimizer: Callable[[Any], torch.optim.Optimizer],
    lr_scheduler: Callable[[torch.optim.Optimizer], Any] | None,
    parameters: Iterable[torch.nn.Parameter],
    interval: str,
    monitor: str,
    trainer: L.Trainer | None,
    logged: set[str] | None = None,
) -> torch.optim.Optimizer | dict[str, Any]:
    """What ``configure_optimizers`` returns: the optimizer, or with ``lr_scheduler`` Lightning's dict of both,
    the scheduler stepped every ``interval`` (and, for a plateau scheduler, reading ``monitor``, which must be one of
    the metrics the fit ``logged``, where the caller knows them all).

    Numbers in their settings are Python numbers, so that checkpoints load with ``weights_only=True``.

    Raises:
        ValueError, TypeError: torch refuses an option, naming the config key; a ``ReduceLROnPlateau`` monitors a
            metric outside ``logged`` or a test metric, a per-step one a validation metric, or a per-epoch one a
            validation metric without validation (``trainer.limit_val_batches: 0``) or under validations that end
            some epochs without one (``trainer.check_val_every_n_epoch: null``); a per-epoch ``OneCycleLR`` ends
            before the fit can (a per-step one: ``check_one_cycle_steps``, when the fit starts training).
    """
    built = _built("model.optimizer", optimizer, parameters)
    _plain_groups(built)
    if lr_scheduler is None:
        return built
    scheduler = _built("model.lr_scheduler", lr_scheduler, built)
    _check_plateau_monitor(scheduler, interval, monitor, logged)
    config = {"scheduler": scheduler, "interval": interval, "monitor": monitor}
    if trainer is not None and interval == "epoch":  # per step: check_one_cycle_steps, once the fit's loader exists
        _check_one_cycle_length(scheduler, interval, trainer)
        config["frequency"] = _plateau_frequency(scheduler, interval, monitor, trainer)
    _plain_groups(built)  # a scheduler writes its own settings there (OneCycleLR: max_lr, initial_lr, min_lr)
    vars(scheduler).update(_python_numbers(vars(scheduler)))
    return {"optimizer": built, "lr_scheduler": config}


def _plain_groups(optimizer: torch.optim.Optimizer) -> None:
    """The optimizer's parameter groups with NumPy numbers as Python ones (``_python_numbers``)."""
    for group in optimizer.param_groups:
        group.update(_python_numbers(group))


def _built(key: str, factory: Callable[[Any], Any], argument: Any) -> Any:
    """``factory(argument)``, with the config key in the error torch raises for an option it refuses.

    torch's own messages (``Invalid learning rate: -1.0``) do not say which part of the config is at fault.

    Raises:
        ValueError, TypeError: torch's (or the class's) refusal, prefixed by ``key`` and naming its ``init_args``.
    """
    try:
        return factory(argument)
    except (ValueError, TypeError) as error:
        refusal = TypeError if isinstance(error, TypeError) else ValueError  # a subclass may take other arguments
        raise refusal(f"{key}: {error}; fix the option under {key}.init_args") from error


def _check_plateau_monitor(scheduler: Any, interval: str, monitor: str, logged: set[str] | None) -> None:
    """Refuse a ``ReduceLROnPlateau`` on a test metric, on a metric outside ``logged`` (the fit's metrics, where the
    caller knows them all: ``None`` where a callback of the user's may log more), or a per-step one on a
    validation metric, before training starts.

    A fit never logs a test metric (nor a misspelt one), and stepped after every optimizer step a scheduler reads
    its metric before any validation pass has logged one: Lightning would stop the fit after the first epoch or step
    with a ``MisconfigurationException`` that names no config key.

    Raises:
        ValueError: naming ``model.lr_scheduler_monitor`` (and ``model.lr_scheduler_interval``) and the fixes.
    """
    if not isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        return
    if monitor.startswith("test/"):
        raise ValueError(
            f"model.lr_scheduler_monitor={monitor} is logged by test only, never during a fit, where "
            "ReduceLROnPlateau reads it: monitor a validation metric such as val/loss, or train/loss"
        )
    if logged is not None and monitor not in logged:
        raise ValueError(
            f"model.lr_scheduler_monitor={monitor} {not_logged(monitor, logged)}, which ReduceLROnPlateau reads: a fit "
            f"logs {', '.join(sorted(logged))}"
        )
    if interval == "step" and monitor.startswith("val/"):
        raise ValueError(
            f"model.lr_scheduler_monitor={monitor} is logged once per validation, but ReduceLROnPlateau with "
            "model.lr_scheduler_interval=step reads its metric after every optimizer step: monitor train/loss, "
            "or set model.lr_scheduler_interval: epoch"
        )


def _plateau_frequency(scheduler: Any, interval: str, monitor: str, trainer: L.Trainer) -> int:
    """The epochs between a scheduler's steps: those between validations for a per-epoch ``ReduceLROnPlateau`` on a
    validation metric, else 1.

    Lightning steps a per-epoch scheduler after every epoch, and a plateau scheduler reads its metric then: with
    ``trainer.check_val_every_n_epoch: 2`` the first epoch had no validation metric yet, and Lightning stopped the
    fit with a ``MisconfigurationException``. Stepped after each epoch that validates, it reads every validation once.
    With ``trainer.check_val_every_n_epoch: null``, validation runs every ``trainer.val_check_interval`` batches
    counted across epochs: it steps after every epoch when each epoch validates, or after every few epochs when
    that interval is a whole number of them.

    Raises:
        ValueError: ``trainer.limit_val_batches`` is 0, so no validation logs the metric (Lightning stopped the fit
            after its first epoch); validations counted across epochs end some epochs without one, in no steady
            pattern, naming ``trainer.val_check_interval`` and the fixes.
    """
    plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    if not (plateau and interval == "epoch" and monitor.startswith("val/")):
        return 1
    if trainer.limit_val_batches == 0:
        raise ValueError(
            f"model.lr_scheduler: ReduceLROnPlateau reads {monitor} after each epoch, but trainer.limit_val_batches=0 "
            "runs no validation to log it: monitor train/loss (model.lr_scheduler_monitor), or set "
            "trainer.limit_val_batches above 0"
        )
    if trainer.check_val_every_n_epoch is not None:
        return trainer.check_val_every_n_epoch
    trainer.estimated_stepping_batches  # noqa: B018 (loads the training data, which sizes an epoch)
    batches, every = trainer.num_training_batches, trainer.val_check_interval
    # inf: an iterable dataset, or a fit of max_steps, whose epochs are not known; 0: a fit that trains nothing
    if every <= batches or batches == 0:
        return 1
    if every % batches == 0:
        return every // batches
    raise ValueError(
        f"model.lr_scheduler: ReduceLROnPlateau on {monitor} steps after each epoch (model.lr_scheduler_interval="
        "epoch), but with trainer.check_val_every_n_epoch: null validation runs every trainer.val_check_interval="
        f"{every} batches across epochs of {batches}, so it would read {monitor} before the first validation, then "
        f"stale values: set trainer.val_check_interval to at most {batches} or a multiple of it, or set "
        "trainer.check_val_every_n_epoch"
    )


def check_one_cycle_steps(trainer: L.Trainer) -> None:
    """Refuse a per-step ``OneCycleLR`` of the fit shorter than its optimizer steps (``_check_one_cycle_length``).

    Counting the steps (``trainer.estimated_stepping_batches``) builds the training loader. Called once the fit
    has built it (``on_train_start``): built while the optimizers are configured, before a resumed fit restores
    the loader's state, it kept its own, and the resumed epoch trained on other batches.

    Raises:
        ValueError: as ``_check_one_cycle_length``.
    """
    for config in trainer.lr_scheduler_configs:
        if config.interval == "step":
            _check_one_cycle_length(config.scheduler, "step", trainer)


def _check_one_cycle_length(scheduler: Any, interval: str, trainer: L.Trainer) -> None:
    """Refuse a ``OneCycleLR`` shorter than the fit, before training starts.

    Its schedule has a fixed length, and stepped once more than ``total_steps`` it raises: a fit longer than
    the schedule stopped there, with torch's "Tried to step 5 times", which names neither key to fix.

    Raises:
        ValueError: naming ``model.lr_scheduler.init_args.total_steps``, the fit's length and both fixes.
    """
    if not isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        return
    if interval == "step":
        needed, unit, limit = trainer.estimated_stepping_batches, "optimizer steps", "trainer.max_steps"
    elif trainer.max_epochs is not None and trainer.max_epochs >= 0:  # -1: the epochs of max_steps, not known yet
        needed, unit, limit = trainer.max_epochs, "epochs", "trainer.max_epochs"
    else:
        return
    if scheduler.total_steps < needed:
        length = "an unlimited number of" if needed == float("inf") else f"up to {int(needed)}"
        raise ValueError(
            f"model.lr_scheduler: OneCycleLR's schedule of total_steps={scheduler.total_steps} ends before this fit "
            f"of {length} {unit} (model.lr_scheduler_interval={interval}), and torch stops the fit there: set "
            f"model.lr_scheduler.init_args.total_steps to the fit's length, or {limit}: {scheduler.total_steps}"
        )


def _python_numbers(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` (an optimizer's parameter group, a scheduler's attributes) with NumPy numbers as Python ones,
    in lists, tuples and dicts too: given ``lr=np.float64(1e-3)`` (a grid from ``np.linspace``), the checkpoint's
    optimizer state would hold NumPy objects, which ``torch.load(weights_only=True)`` refuses to load."""

    def plain(value: Any) -> Any:
        if isinstance(value, np.generic):
            return value.item()
        if type(value) in (list, tuple):  # betas=(np.float64(0.9), 0.999)
            return type(value)(plain(item) for item in value)
        if type(value) in (dict, Counter):  # MultiStepLR's milestones, a Counter of the steps given
            return type(value)({plain(key): plain(item) for key, item in value.items()})
        return value

    return {key: plain(value) for key, value in settings.items() if key != "params"}
