"""What a study's trials would fit, checked before any trial trains (``check_fits``): that they validate, that
they log the study's metric, and that the data has windows for every lookback the space may take (and, without
``data.drop_short``, no series too short for one). A trial would find each out only after it fitted or once its data
was read, and fail.
"""

from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import optuna
from lightning.pytorch.callbacks import Callback

from .cli import ForecastCLI
from .cli import main as cli_main
from .data import TimeSeriesDataModule
from .data.parts import given_target_rows, has_observed_target
from .data.splits import part_windows
from .errors import where
from .fit_config import override_args, print_config
from .model import Forecaster
from .monitors import fit_metrics, may_log, not_logged
from .search_space import SearchSpace

__all__ = ["check_fits", "check_lookbacks", "check_metric", "longest_lookback"]

# The key whose class decides which validation metrics a fit logs (a probabilistic loss adds pinball, crps...).
LOSS = "model.loss"
LOOKBACK = "data.lookback"
# What check_fits gives the trials it builds: no logger (an MLflow one would start a run), a checkpoint on a metric
# every fit logs (tune's --metric takes its place in a trial, and check_fits checks that one itself).
_PROBE = {"trainer.logger": False, "checkpoint.monitor": "val/loss"}


def check_fits(space: SearchSpace, fit_args: Sequence[str], config: dict[str, Any], metric: str) -> None:
    """Refuses, before any trial trains, a fit that runs no validation, a ``metric`` that no model of the space logs,
    and a ``data.lookback`` of the space (or of the config, in trials where the space leaves it unset) that leaves a
    trial no training or validation window, or a series too short for a window (without ``data.drop_short``); a trial
    would find each out only after it fitted or once its data was read, and fail.

    It builds, without training (``forecast.cli.main(run=False)``), a trial's model and data for each loss the space
    may choose (``model.loss``, which decides the metrics a fit logs), with the space's first choice or lowest value
    of every other key and the shortest lookback a trial may take. Those builds check the config as ``fit`` does,
    so a monitor of ``trainer.callbacks`` that no fit logs is refused here too (``forecast.monitors.check_monitors``).

    Args:
        space: the study's search space.
        fit_args: every trial's ``fit`` flags before its own.
        config: their ``--print_config`` config.
        metric: the study's ``--metric``.

    Raises:
        ValueError: ``trainer.limit_val_batches`` is 0 (no trial validates); naming the metric, the nearest metric
            the trials log and all of them; naming the lookback, the longest one the data allows and the fix; or the
            error of a trial's config that does not build.
    """
    shortest = min((low for _, low, _ in _lookbacks(space, config)), default=None)
    fixed = _PROBE | ({} if shortest is None else {LOOKBACK: shortest})
    built = [_build(fit_args, space.overrides(values) | fixed) for values in _probe_values(space)]
    _check_validates(built[0].trainer)
    check_lookbacks(space, config, built[0].datamodule)
    check_metric(
        metric, [cli.model for cli in built], [callback for cli in built for callback in cli.trainer.callbacks]
    )


def longest_lookback(datamodule: TimeSeriesDataModule) -> int:
    """The longest lookback that leaves the data of ``datamodule`` a training window with an observed target (training
    leaves out the others, ``parts.observed_windows``) and a validation window at its horizon, split and strides, and
    that every series is long enough for (unless ``drop_short``); 0 when none does.

    The borders of the split do not depend on the lookback, and a longer one never adds a window, so the longest with
    windows is found by bisection; so is the longest with an observed target at a training stride of 1. At a longer
    stride the training windows' origins move with the lookback and may gain or lose one with an observed target
    (``_monotone``), so the lookbacks below the longest with windows are tried in turn.
    """
    return _longest(datamodule, _given_targets(datamodule))


def _longest(datamodule: TimeSeriesDataModule, given: np.ndarray | None) -> int:
    """``longest_lookback`` with the rows whose target was given (``_given_targets``)."""
    monotone = _monotone(datamodule, given)
    low, high = 0, int(datamodule.table.observed.max())
    while low < high:
        middle = (low + high + 1) // 2
        trainable = _has_windows(datamodule, middle, given if monotone else None)
        low, high = (middle, high) if trainable else (low, middle - 1)
    if monotone:
        return low
    return next((lookback for lookback in range(low, 0, -1) if _has_windows(datamodule, lookback, given)), 0)


def _monotone(datamodule: TimeSeriesDataModule, given: np.ndarray | None) -> bool:
    """Whether a lookback that leaves a training window with an observed target (``given``) leaves one to every
    shorter lookback with windows: where no target was repaired, or at a training stride of 1."""
    return given is None or datamodule.strides["train"] == 1


def _given_targets(datamodule: TimeSeriesDataModule) -> np.ndarray | None:
    """Per row of the data's table whether a target value was given, not repaired (``nan_policy``); ``None`` where
    every one was."""
    table = datamodule.table
    given = given_target_rows(datamodule._given, datamodule.roles.targets)  # -> (rows,)
    rows = np.arange(len(given)) - np.repeat(table.offsets[:-1], np.diff(table.offsets))  # -> (rows,) within series
    targets = rows < np.repeat(table.observed, np.diff(table.offsets))  # the rows with targets, not future ones
    return None if given[targets].all() else given


def _has_windows(datamodule: TimeSeriesDataModule, lookback: int, given: np.ndarray | None) -> bool:
    """Whether a fit of ``datamodule``'s data with ``lookback`` has a training window with a target value in
    ``given`` (``None``: any training window) and a validation window, and no series shorter than lookback +
    horizon (which the data refuses unless ``drop_short``)."""
    observed, horizon = datamodule.table.observed, datamodule.horizon
    if not datamodule.hparams["drop_short"] and (observed < lookback + horizon).any():
        return False
    borders, strides = datamodule.borders, datamodule.strides
    train, val = (part_windows(borders, observed, part, lookback, horizon, strides[part]) for part in ("train", "val"))
    if not (train.counts.sum() and val.counts.sum()):
        return False
    return given is None or bool(has_observed_target(datamodule.table.offsets[:-1], given, train, horizon).any())


def _lookbacks(space: SearchSpace, config: dict[str, Any]) -> list[tuple[str, int, int]]:
    """The lookbacks a trial may fit with, as (where they come from, lowest, highest): each choice of a key of the
    space that sets ``data.lookback``, each ``int`` range, and the config's own where the space may leave it unset."""
    setters = [param for param in space.params if LOOKBACK in (param.key, *param.also)]
    found = []
    for param in setters:
        entry = repr(LOOKBACK) if param.key == LOOKBACK else f"{param.key!r} (its `also` key {LOOKBACK!r})"
        if param.kind == "int":
            low, high = param.bounds
            found.append((f"{space.source}: {entry} ranges up to {high}", low, high))
        else:  # a choice's whole numbers: a float or text is refused by the data module in the trial, naming the key
            numbers = [value for value in param.choices if isinstance(value, int) and not isinstance(value, bool)]
            found += [(f"{space.source}: {entry} takes {value}", value, value) for value in numbers]
    given = (config.get("data") or {}).get("lookback")
    if isinstance(given, int) and all(param.when for param in setters):
        found.append((f"the config's data.lookback {given} (--config or --data.lookback)", given, given))
    return found


def check_lookbacks(space: SearchSpace, config: dict[str, Any], datamodule: TimeSeriesDataModule) -> None:
    """Refuses the longest lookback a trial may fit with, of ``space`` or of ``config`` where the space may leave it
    unset, when the data of ``datamodule`` has no validation window for it, or no training window with an observed
    target, or a series too short for a window without ``drop_short`` (``longest_lookback``).

    Raises:
        ValueError: naming where the lookback comes from, the longest one the data allows and the fix.
    """
    lookbacks = _lookbacks(space, config)
    origin, _, highest = max(lookbacks, key=lambda lookback: lookback[2], default=("", 0, 0))
    given = _given_targets(datamodule)
    longest = _longest(datamodule, given)
    if highest <= longest:
        _check_shorter(lookbacks, datamodule, given)
        _check_one_validation(lookbacks, datamodule)
        return
    horizon = f"data.horizon {datamodule.horizon}"
    if longest == 0:
        raise ValueError(
            f"{origin}, but no lookback leaves the data a training and a validation window at {horizon}; use longer "
            "series, a shorter horizon or other split borders (data.split; a training window counts only with an "
            f"observed value of the targets {datamodule.roles.targets}, not one data.nan_policy repaired throughout: "
            "a later validation start reaches more)"
        )
    raise ValueError(
        f"{origin}, which {_what_fails(datamodule, highest, horizon)}: the longest lookback it allows is {longest}; "
        f"give lookbacks of at most {longest}"
    )


def _check_one_validation(lookbacks: list[tuple[str, int, int]], datamodule: TimeSeriesDataModule) -> None:
    """Refuse lookbacks (each at most ``longest_lookback``) whose trials would be scored on other validation windows:
    a longer lookback leaves a series of long data whose validation part starts before it fewer (``windows_of``),
    and trials are ranked on one set of windows.

    Raises:
        ValueError: naming where the longest lookback comes from, the windows of both, and the longest lookback
            that keeps the shortest one's windows.
    """
    lowest = min(low for _, low, _ in lookbacks)
    origin, _, highest = max(lookbacks, key=lambda lookback: lookback[2])

    def windows(lookback: int) -> tuple[list[int], list[int]]:
        found = datamodule.windows_of("val", lookback)
        return found.first.tolist(), found.counts.tolist()

    first, last = windows(lowest), windows(highest)
    if last == first:
        return
    same = next(lookback for lookback in range(highest, lowest - 1, -1) if windows(lookback) == first)
    raise ValueError(
        f"{origin}, which scores trials on {sum(last[1])} validation windows where lookback {lowest} "
        f"scores {sum(first[1])} (a longer lookback leaves a series whose validation part starts before it fewer), "
        f"and trials are ranked on one set of windows; give lookbacks of {lowest} to {same}"
    )


def _check_shorter(
    lookbacks: list[tuple[str, int, int]], datamodule: TimeSeriesDataModule, given: np.ndarray | None
) -> None:
    """Refuse a lookback of ``lookbacks`` (each at most ``longest_lookback``) that leaves no training window with a
    target in ``given``, which only a training stride above 1 on data with repaired targets may (``_monotone``).

    Raises:
        ValueError: naming where the lookback comes from, the lookback, and the fix.
    """
    if _monotone(datamodule, given):
        return
    for origin, low, high in lookbacks:
        failing = next((lb for lb in range(low, high + 1) if not _has_windows(datamodule, lb, given)), None)
        if failing is not None:
            fails, stride = _what_fails(datamodule, failing, f"data.horizon {datamodule.horizon}"), datamodule.strides
            raise ValueError(
                f"{origin}, and lookback {failing} {fails} (at data.train_stride {stride['train']} the training "
                "windows' origins move with the lookback); give lookbacks that train, or data.train_stride 1"
            )


def _what_fails(datamodule: TimeSeriesDataModule, lookback: int, horizon: str) -> str:
    """What a ``lookback`` that fails ``_has_windows`` leaves: a series of long data shorter than a window, which
    the data refuses as it reads them unless ``drop_short``, else no training window with an observed target where
    there are training windows, else no training or validation window."""
    table = datamodule.table
    short = table.observed < lookback + datamodule.horizon
    if table.named and not datamodule.hparams["drop_short"] and short.any():
        i = int(short.argmax())
        return (
            f"leaves {where(series=table.names[i])} ({table.observed[i]} rows) shorter than a window at {horizon} "
            "(data.drop_short is false)"
        )
    if _has_windows(datamodule, lookback, None):
        return (
            f"leaves the data no training window at {horizon} with an observed value of the targets "
            f"{datamodule.roles.targets}: the targets of every one were repaired (data.nan_policy)"
        )
    return f"leaves the data no training or validation window at {horizon}"


def _check_validates(trainer: L.Trainer) -> None:
    """Refuses a fit that runs no validation (``trainer.limit_val_batches`` 0, or ``check_val_every_n_epoch`` above
    ``max_epochs``), which would fail every trial after it trained: a trial's score is its best validation.

    Raises:
        ValueError: naming the key and the fix.
    """
    if trainer.limit_val_batches == 0:
        raise ValueError(
            "trainer.limit_val_batches is 0, so no trial validates, and tune scores a trial by its best validation; "
            "drop --trainer.limit_val_batches or give it 1 or more batches (or a fraction above 0)"
        )
    every, epochs = trainer.check_val_every_n_epoch, trainer.max_epochs
    if every is not None and epochs is not None and epochs >= 0 and trainer.max_steps == -1 and every > epochs:
        raise ValueError(
            f"trainer.check_val_every_n_epoch is {every}, above trainer.max_epochs {epochs}, so no trial validates, "
            "and tune scores a trial by its best validation; give check_val_every_n_epoch at most max_epochs"
        )


def check_metric(metric: str, models: Sequence[Forecaster], callbacks: Sequence[Callback]) -> None:
    """Refuses a ``metric`` that none of ``models`` logs in a fit's validation (``fit_metrics``), unless one of the
    trainer's ``callbacks`` may log it (``may_log``).

    Raises:
        ValueError: naming the metric, the nearest validation metric the models log and all of them.
    """
    if any(may_log(callback) for callback in callbacks):
        return
    logged = {name for model in models for name in fit_metrics(model) if name.startswith("val/")}
    if metric not in logged:
        losses = "the losses the space may choose" if len(models) > 1 else "its loss"
        raise ValueError(
            f"--metric {metric!r} {not_logged(metric, logged)}: a trial's fit with {losses} logs "
            f"{', '.join(sorted(logged))}"
        )


def _probe_values(space: SearchSpace) -> list[dict[str, Any]]:
    """The values of the trials ``check_fits`` builds: the first choice or lowest value of every key, and that with
    each choice of a key that sets ``model.loss`` (under each of its conditions) in its place."""
    first = {param.key: param.choices[0] if param.kind == "choice" else param.bounds[0] for param in space.params}
    losses = [param for param in space.params if param.kind == "choice" and LOSS in (param.key, *param.also)]
    variants = [first] + [
        first | context | {param.key: value}
        for param in losses
        for context in param.contexts()
        for value in param.choices
    ]
    probes: list[dict[str, Any]] = []
    for variant in variants:
        if (values := space.suggest(optuna.trial.FixedTrial(variant))) not in probes:
            probes.append(values)
    return probes


def _build(fit_args: Sequence[str], overrides: dict[str, Any]) -> ForecastCLI:
    """A trial's model, data and trainer with ``overrides`` (CLI key -> value), built without training.

    Raises:
        ValueError: the config does not parse or build, with the CLI's message.
    """
    args = [*fit_args, *override_args(overrides)]
    try:
        return cli_main(args, run=False)
    except SystemExit as exit_:
        print_config(["fit", *args])  # raises the CLI's message as a ValueError
        raise ValueError(f"a trial's fit with {overrides} exited with status {exit_.code}") from exit_
