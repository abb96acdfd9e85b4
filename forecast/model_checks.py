"""The checks a Forecaster makes of its options before it builds its parts, and of the trainer and data module
before it runs in a Trainer (``Forecaster.setup``; ``ForecastTrainer.backtest``, whose windows come as dataloaders).

Each error names the setting at fault and the fix before any work is done: unchecked, these would fail deep in a
step with a message that names no setting (a size mismatch), or run silently (a model of another lookback).
"""

import functools
import inspect
import typing
from typing import Any

import lightning as L
import torch

from .data import TimeSeriesDataModule
from .data.sharding import check_predict_shares
from .errors import check_count, whole_number
from .losses import Loss
from .nn.checks import check_flag, check_size
from .predict import forecast_columns
from .specs import check_spec, hint_bases, to_spec

__all__ = [
    "SEASON_SIZES",
    "WINDOW_SIZES",
    "check_data",
    "check_factories",
    "check_loss",
    "check_options",
    "check_recordable",
    "check_sizes",
    "check_trainer",
]

# The model settings that the CLI links from the data module: the windows a model is built for.
WINDOW_SIZES = ("lookback", "horizon", "input_size", "target_size", "future_size", "static_size")
# And those of the season, which a residual cycle reads: the channel of ``future`` holding each step's position.
SEASON_SIZES = ("season_channel", "season_length")


def check_factories(**parts: Any) -> None:
    """Refuse a part given in a form it cannot be built from, naming it: a ``class_path`` dict (a config
    file's form, which the CLI instantiates but Python does not) or a module built already (whose call
    would run its ``forward`` on the part's sizes), or a function or lambda, or a ``functools.partial`` of one
    (which a checkpoint cannot rebuild: ``Forecaster.load`` builds classes only). A part is a class or a
    ``functools.partial`` of one.

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
        elif _builds_by_function(part):
            form = "a function, which a checkpoint cannot rebuild (Forecaster.load builds classes only)"
        else:
            continue
        raise TypeError(
            f"model.{name} is {form}: in Python pass the class or a functools.partial of it, e.g. "
            f"functools.partial(GRUEncoder, hidden_size=64) for an encoder"
        )


def check_recordable(model: L.LightningModule, parts: tuple[str, ...]) -> None:
    """Refuse, before a fit that writes checkpoints, a part built in Python that its checkpoint cannot rebuild, as
    ``Forecaster.load`` would refuse it after the whole fit (``forecast.checkpointing``: the same check): a class
    that is no subclass of what the model's parameter is annotated with (an encoder that is no ``Encoder``), or an
    argument that names a function (``LambdaLR``'s ``lr_lambda``), a lambda or a class its own annotation does not
    name. A fit without checkpoints may use them.

    Raises:
        TypeError: naming the key (``model.lr_scheduler.init_args.lr_lambda``) and the fixes.
    """
    hints = typing.get_type_hints(type(model).__init__)
    for name in parts:
        part = model.hparams.get(name)
        factory = part.func if isinstance(part, functools.partial) else part
        if not inspect.isclass(factory) or factory.__module__.startswith("jsonargparse."):
            continue  # the CLI's parts and specs: the checkpoint records their config's class_path
        try:
            check_spec(to_spec(part), hint_bases(hints.get(name, Any)), f"model.{name}")
        except TypeError as error:
            raise TypeError(
                f"{error}, so the fit's checkpoints would not load (Forecaster.load rebuilds a part only from classes "
                "its annotations name, with plain arguments): give the part as such a class, or a functools.partial "
                "of one with plain values (numbers, strings, lists), e.g. for LambdaLR's function a subclass of "
                "LambdaLR that builds it from plain arguments; or train with lightning.Trainer(enable_checkpointing="
                "False)"
            ) from None


def _builds_by_function(part: Any) -> bool:
    """Whether ``part`` is a function, a lambda, a local class or a ``functools.partial`` of one: a checkpoint
    would record its path, which ``Forecaster.load`` refuses as no subclass of the part's base, after the whole fit.

    The CLI's parts are partials of jsonargparse's instantiator over the config's class, whose ``class_path``
    the checkpoint records instead.
    """
    target = part.func if isinstance(part, functools.partial) else part
    if isinstance(part, functools.partial) and target.__module__.startswith("jsonargparse."):
        return False
    local = "<" in getattr(target, "__qualname__", "")  # a lambda, or defined inside a function
    return inspect.isfunction(target) or inspect.ismethod(target) or local


def check_loss(loss: Any) -> None:
    """Refuse a loss that is not a ``Loss`` instance: a class or a partial of one would fail only at the first step.

    Raises:
        TypeError: naming the loss given and how to build one.
    """
    if loss is not None and not isinstance(loss, Loss):
        raise TypeError(
            f"loss must be a forecast.losses.Loss instance, e.g. QuantileLoss(levels=[0.1, 0.5, 0.9]); got "
            f"{loss!r}: call it"
        )


def check_sizes(sizes: dict[str, Any], season_channel: int | None) -> None:
    """Refuse sizes of the Forecaster that build no model, before its parts are built: unchecked, a horizon or
    lookback of 0 built a model that fails only in its first step, and a negative one failed as torch's
    "negative dimension", naming no setting.

    Args:
        sizes: ``lookback``, ``horizon``, ``input_size``, ``target_size``, ``season_length`` (counts of 1 or
            more), ``future_size`` and ``static_size`` (0 or more), by name.
        season_channel: the channel of ``future`` holding the season positions, or ``None``.

    Raises:
        ValueError: naming the setting, its value and what it must be: a count below 1 or no int, a size below
            0, more target channels than input channels (``past`` holds the targets first), or a
            ``season_channel`` that is no channel of ``future``.
    """
    for name in ("lookback", "horizon", "input_size", "target_size", "season_length"):
        check_count(f"model.{name}", sizes[name], "needs 1 or more, linked from the data module")
    for name in ("future_size", "static_size"):
        if not (whole_number(sizes[name]) and sizes[name] >= 0):
            raise ValueError(f"model.{name}={sizes[name]!r}: needs 0 or more (an int), linked from the data module")
    if sizes["target_size"] > sizes["input_size"]:
        raise ValueError(
            f"model.target_size={sizes['target_size']} exceeds model.input_size={sizes['input_size']}: the input "
            "channels are the targets, then the past covariates; link both from the data module"
        )
    if season_channel is not None and not (whole_number(season_channel) and 0 <= season_channel < sizes["future_size"]):
        raise ValueError(
            f"model.season_channel={season_channel!r} is no channel of future (future_size="
            f"{sizes['future_size']}); link it from the data module"
        )


def check_options(
    static_size: int,
    static_cardinalities: list[int] | None,
    channel_independent: bool,
    channel_embedding_size: int,
    has_cycle: bool,
    season_channel: int | None,
) -> None:
    """Refuse options of the Forecaster that contradict each other (its ``Args:`` document each).

    Raises:
        TypeError: ``channel_independent`` is no bool (the text "false" would be true), or ``channel_embedding_size``
            no int.
        ValueError: ``channel_embedding_size`` is negative or set without ``channel_independent``,
            ``static_cardinalities`` does not give one entry per static feature or holds an entry that is no
            whole number of 0 or more, or a cycle is set without a ``season_channel``.
    """
    check_flag("model.channel_independent", channel_independent)
    check_size("model.channel_embedding_size", channel_embedding_size, 0)
    if channel_embedding_size and not channel_independent:
        raise ValueError(f"model.channel_embedding_size={channel_embedding_size} needs model.channel_independent: true")
    if static_cardinalities is not None and len(static_cardinalities) != static_size:
        raise ValueError(
            f"model.static_cardinalities={static_cardinalities} needs one entry per static feature "
            f"(static_size={static_size}); link both from the data module"
        )
    wrong = [count for count in static_cardinalities or [] if not (whole_number(count) and count >= 0)]
    if wrong:  # torch's embedding would fail as "negative dimension" or "must be tuple of ints"
        raise ValueError(
            f"model.static_cardinalities={static_cardinalities} holds {wrong[0]!r}: give each static feature its "
            "number of categories as an int (0 for a number); link it from the data module"
        )
    if has_cycle and season_channel is None:
        raise ValueError(
            "model.cycle reads each step's position in the season: add the calendar feature `season` in "
            "integer encoding (data.calendar: {features: [season], encoding: integer})"
        )


def check_trainer(trainer: L.Trainer | None, stage: str, model: torch.nn.Module) -> None:
    """Refuse a true half precision, a distributed fit of a model with nothing to train, and a distributed predict
    of fewer series than processes.

    A true half precision makes Lightning's precision plugin cast every float tensor of each batch
    (``Precision.convert_input``, run by the loops before any hook of the model), also the float64
    ``target_scale`` and ``target_offset`` (in bfloat16 an offset of 1001 is 1000: forecasts and metrics
    in original units move) and the category codes and season positions (bfloat16 holds whole numbers
    exactly only up to 256). Mixed precision runs the network in half precision and leaves the batch.
    A predict's check runs before Lightning deals the windows out to the processes.

    A model without trainable parameters (a baseline such as ``LastValueHead``) fits in one process, where the fit
    records its checkpoint; on several, Lightning wraps it in torch's DistributedDataParallel, which refuses it with
    a RuntimeError naming no setting. This check runs in ``setup``, before the wrapping.

    Raises:
        ValueError: the trainer's precision is ``bf16-true`` or ``16-true``, or it fits a model without trainable
            parameters on several processes.
        ForecastDataError: ``predict`` on more processes than the data module has series to forecast.
    """
    if trainer is None:
        return
    if stage == "fit" and trainer.world_size > 1 and not any(p.requires_grad for p in model.parameters()):
        raise ValueError(
            f"{type(model).__name__} has no trainable parameters (a baseline), which a fit on {trainer.world_size} "
            "processes cannot wrap for distributed training: fit it on one device (--trainer.devices 1), or "
            "validate and test it without a fit"
        )
    precision = str(trainer.precision)
    if precision in ("bf16-true", "16-true"):
        raise ValueError(
            f"trainer.precision={precision} casts every float tensor of a batch to half precision, also the "
            "float64 scales and offsets that put forecasts back in original units and the category codes and "
            f"season positions, which it rounds: use trainer.precision: {precision.replace('true', 'mixed')} "
            "(the network in half precision, the data untouched)"
        )
    data = trainer.datamodule
    distributed = isinstance(data, TimeSeriesDataModule) and data.shard == "none" and trainer.world_size > 1
    if stage == "predict" and distributed:
        check_predict_shares(len(data.dataset("predict")), trainer.world_size)


def check_data(model: L.LightningModule, data: Any) -> None:
    """Refuse a data module whose windows differ from those the model was built for.

    The CLI links these settings from the data; in Python the model and the data module are built
    apart. A recurrent encoder reads windows of any length, so a model of another lookback would be
    trained and scored on the data's windows silently (and checkpointed as a model of its own
    lookback), and another horizon or channel count would fail deep in a step with torch's size mismatch.
    A model without parameters (a baseline such as ``LastValueHead``) reads whatever window it is given,
    by design: only its horizon and target channels, the shape of its forecast, must be the data's.
    A model with a residual cycle also reads the data's season: with another ``season_channel`` it read
    another covariate as the steps' positions silently, and with another ``season_length`` fit failed as
    torch's size mismatch when it started the cycle at the data's seasonal profile. A ``SeasonalNaiveHead``
    without a period repeats the model's ``season_length``: of another season (a Forecaster built without one
    has 1), it forecast another season's naive forecast (the last value) as the seasonal naive, silently.

    Args:
        model: the model, whose hyperparameters hold ``lookback``, ``horizon``, the channel sizes and the season.
        data: the data module run with it; any other than a ``TimeSeriesDataModule`` is not checked.

    Raises:
        ValueError: naming each setting with the model's and the data module's value, and the fix.
        ForecastDataError: a target named as another target's quantile column of the model's loss (``y`` and
            ``y_q0.5`` under the level 0.5): its forecasts would share a column (``forecast_columns``).
    """
    if not isinstance(data, TimeSeriesDataModule):
        return
    hparams = model.hparams
    keys = WINDOW_SIZES if any(True for _ in model.parameters()) else ("horizon", "target_size")
    if getattr(model, "cycle", None) is not None:
        keys += SEASON_SIZES
    elif getattr(model.head, "reads_season", False):
        keys += ("season_length",)
    differing = [key for key in keys if key in hparams and hparams[key] != getattr(data, key)]
    if differing:
        wanted = ", ".join(f"{key}={hparams[key]}" for key in differing)
        given = ", ".join(f"{key}={getattr(data, key)}" for key in differing)
        fix = ", ".join(f"{key}=data.{key}" for key in differing)
        raise ValueError(
            f"the model reads windows of {wanted}, but the data module gives {given}: build the Forecaster "
            f"with the data module's settings, Forecaster({fix}, ...), as the CLI links them; or, for a "
            f"trained model, the data module with {wanted}"
        )
    forecast_columns(data.targets, model.loss.levels)  # a target named like another's quantile column
    if any(True for _ in model.parameters()) and "static_size" in hparams:
        _check_static_kinds(hparams.get("static_cardinalities") or [0] * hparams["static_size"], data)


def _check_static_kinds(cardinalities: list[int], data: TimeSeriesDataModule) -> None:
    """Refuse a model that reads a static column as a number where the data hold categories, or the other way:
    a category's code would reach the network as a quantity ("west" twice "south"), or a number as a code.

    Raises:
        ValueError: naming the columns, the model's and the data module's ``static_cardinalities``, and the fix.
    """
    given = data.static_cardinalities
    kind = {True: "categories", False: "a number"}
    differing = [
        f"{column!r} ({kind[held > 0]} in the data, {kind[built > 0]} to the model)"
        for column, built, held in zip(data.roles.static, cardinalities, given, strict=True)
        if (built > 0) != (held > 0)
    ]
    if differing:
        raise ValueError(
            f"static columns of another kind: {', '.join(differing)}; build the Forecaster with "
            f"static_cardinalities=data.static_cardinalities ({given}), as the CLI links it"
        )
