"""Training from Python with the CLI's checkpointing and its stop at a non-finite loss, for notebooks and pipelines
(Lightning's own epoch limit: pass ``trainer={"max_epochs": N}``)."""

import dataclasses
import difflib
import inspect
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import pandas as pd
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from .callbacks import FiniteLossCheck, RandomStateCheckpoint, ResumableModelCheckpoint, callback_list
from .checkpointing import with_atomic_writes
from .data import Calendar, Columns, Scaling, TimeSeriesDataModule
from .model import Forecaster
from .monitors import check_monitors

__all__ = ["fit"]

# The Forecaster arguments that fit takes from the data module, as the CLI links them.
_LINKED = ("input_size", "target_size", "future_size", "static_size", "static_cardinalities",
           "season_channel", "season_length")  # fmt: skip


def fit(
    source: str | Path | pd.DataFrame,
    *,
    lookback: int,
    horizon: int,
    data: dict[str, Any] | None = None,
    model: dict[str, Any] | None = None,
    trainer: dict[str, Any] | None = None,
    **misplaced: Any,
) -> Forecaster:
    """Train a forecaster and return its best checkpoint, loaded and ready to ``predict``.

    A thin wrapper, not a second training loop: it builds ``TimeSeriesDataModule(source, lookback,
    horizon, **data)`` and ``Forecaster(**model)`` with the sizes and season the data give (as the CLI
    links them), and runs ``lightning.Trainer(**trainer).fit`` with the CLI's checkpointing (best on
    ``val/loss``, and ``last.ckpt``, written atomically, with the random generators' states of
    ``RandomStateCheckpoint``, so that ``python -m forecast fit --ckpt_path`` resumes it exactly) under
    ``trainer["default_root_dir"]``, and its stop at a NaN or infinite training loss (``FiniteLossCheck``: a
    ``FloatingPointError``, no checkpoint of such weights), logging to CSV in ``default_root_dir`` unless
    ``trainer["logger"]`` chooses a logger, as the CLI does. Seed it as the CLI does:
    ``lightning.seed_everything(N, workers=True)`` before the call.

    Args:
        source: what ``TimeSeriesDataModule`` reads: a DataFrame, a CSV/Parquet path or a built-in name.
        lookback: L, past steps the model sees.
        horizon: H, steps it forecasts.
        data: further ``TimeSeriesDataModule`` arguments (``columns``, ``calendar``, ``scaling`` as
            ``forecast.Columns``... , ``split``, ``batch_size``, ...).
        model: further ``Forecaster`` arguments: its parts as factories (``encoder``, ``head``,
            ``optimizer``, ... : classes or ``functools.partial``s), ``loss`` as an instance
            (``forecast.losses.QuantileLoss(levels=[0.1, 0.5, 0.9])``).
        trainer: ``lightning.Trainer`` arguments (max_epochs, accelerator, callbacks, ...). A ``ModelCheckpoint``
            among the callbacks takes the place of fit's own: fit returns its best checkpoint (its last where it
            monitors nothing). A ``CheckpointIO`` among the plugins writes the checkpoints instead of fit's
            atomic writer; other plugins keep it.
        misplaced: none is taken; a keyword other than the above is refused, naming the group it belongs in.

    Raises:
        TypeError: a keyword that is no argument of fit (``max_epochs=5``, ``trainers=...``: naming the group
            that takes it, or the nearest argument); ``data``, ``model`` or ``trainer`` is not a mapping, or sets
            an argument its class does not
            take (naming the group, the key and the nearest argument), ``data`` or ``model`` sets an argument
            that fit sets itself (``lookback``, ``horizon``, the source, the sizes the data give), or
            ``trainer["callbacks"]`` holds something other than a Lightning callback (a class, say).
        ValueError: ``trainer`` turns checkpointing off; a ModelCheckpoint or strict EarlyStopping among
            ``trainer["callbacks"]`` monitors a metric that the fit never logs (before it trains, as the CLI
            refuses it: ``forecast.monitors.check_monitors``); the fit wrote no checkpoint to return
            (``fast_dev_run``, ``max_steps=0``, ...).

    Example:
        >>> import functools
        >>> from forecast.nn import GRUEncoder
        >>> encoder = functools.partial(GRUEncoder, hidden_size=32)
        >>> options = {"model": {"encoder": encoder}, "trainer": {"max_epochs": 5}}
        >>> forecaster = fit(frame, lookback=48, horizon=12, **options)  # doctest: +SKIP
        >>> forecaster.predict(frame)  # doctest: +SKIP
    """
    _check_misplaced(misplaced)
    _check_groups(data=data, model=model, trainer=trainer)
    options = dict(trainer or {})
    if options.get("enable_checkpointing") is False:
        raise ValueError(
            "forecast.fit returns the model of its best checkpoint, so it writes checkpoints: drop "
            "enable_checkpointing=False from trainer (or train with lightning.Trainer yourself)"
        )
    _check_callbacks(options.get("callbacks"))
    datamodule = TimeSeriesDataModule(source, lookback=lookback, horizon=horizon, **(data or {}))
    sizes = {name: getattr(datamodule, name) for name in _LINKED}
    forecaster = Forecaster(lookback=lookback, horizon=horizon, **sizes, **(model or {}))
    callbacks = callback_list(options.get("callbacks"))
    given = [callback for callback in callbacks if isinstance(callback, ModelCheckpoint)]
    own = ResumableModelCheckpoint(monitor="val/loss", mode="min", save_last=True)
    # The caller's own ModelCheckpoint takes the place of fit's (two alike would clash in Lightning).
    checkpoint = given[0] if given else own
    options["callbacks"] = [FiniteLossCheck(), *_own_callbacks(callbacks, own), *callbacks]
    check_monitors(options["callbacks"], forecaster, own)
    options["plugins"] = with_atomic_writes(options.get("plugins"))
    if options.get("logger") in (None, True):  # as the CLI logs: Lightning's default is TensorBoard where installed
        options["logger"] = CSVLogger(options.get("default_root_dir") or os.getcwd())
    L.Trainer(**options).fit(forecaster, datamodule)
    return Forecaster.load(_written(checkpoint))


def _own_callbacks(callbacks: list[Callback], checkpoint: ModelCheckpoint) -> list[Callback]:
    """The CLI's checkpointing callbacks that ``callbacks`` lack: ``checkpoint`` unless they hold a ModelCheckpoint,
    and ``RandomStateCheckpoint`` unless they hold one (Lightning refuses two of a stateful callback)."""
    kinds = {ModelCheckpoint: checkpoint, RandomStateCheckpoint: RandomStateCheckpoint()}
    return [own for kind, own in kinds.items() if not any(isinstance(callback, kind) for callback in callbacks)]


def _check_misplaced(misplaced: Mapping[str, Any]) -> None:
    """Refuse a keyword that is no argument of fit, naming the group that takes it (``max_epochs=5`` belongs in
    ``trainer``) or the nearest argument (``trainers``): Python's own error names neither.

    Raises:
        TypeError: naming the keyword and where it belongs.
    """
    fields = {field.name for kind in _DATA_GROUPS.values() for field in dataclasses.fields(kind)}
    for key in misplaced:
        groups = [group for group in _BUILDS if key in _settings(group)]
        if groups:
            fix = f"give it in its group: {groups[0]}={{{key!r}: ...}}"
        elif key in fields:
            fix = _known_fix("data", key, _settings("data"))
        else:
            near = difflib.get_close_matches(key, _FIT_ARGUMENTS, n=1)
            fix = f"did you mean {near[0]!r}?" if near else f"its arguments are {', '.join(_FIT_ARGUMENTS)}"
        raise TypeError(f"forecast.fit takes no argument {key!r}; {fix}")


def _check_groups(**groups: Mapping[str, Any] | None) -> None:
    """Refuse a group of arguments that is no mapping, a key of ``data`` or ``model`` that fit sets itself, and a
    key that the group's class does not take (``_check_known``).

    A config's data section (``--print_config``) holds ``source``, ``lookback`` and ``horizon``; copied into
    ``data`` (or a size the data give, into ``model``), Python's own error ("got multiple values for keyword
    argument") would name the class, not the group that holds the key or where the value belongs.

    Raises:
        TypeError: naming the group, the key and the fix.
    """
    for group, options in groups.items():
        if options is not None and not isinstance(options, Mapping):
            raise TypeError(
                f"forecast.fit's {group} is a {type(options).__name__}; give a dict of keyword arguments "
                f"(e.g. data={{'columns': forecast.Columns(targets=['y'])}}, trainer={{'max_epochs': 5}})"
            )
    owned = {"data": ("source", "lookback", "horizon"), "model": ("lookback", "horizon", *_LINKED)}
    for group, keys in owned.items():
        clash = [key for key in keys if key in (groups[group] or {})]
        if not clash:
            continue
        key = clash[0]
        if key in ("lookback", "horizon"):
            fix = f"pass it once, as forecast.fit(..., {key}=...), and drop it from {group}"
        elif key == "source":
            fix = "pass the data as fit's first argument, and drop it from data"
        else:
            fix = "fit sets it from the data (as the CLI links it): drop it from model"
        raise TypeError(f"forecast.fit's {group} sets {key!r}, which fit sets itself; {fix}")
    for group, options in groups.items():
        _check_known(group, options or {})


# What each group of fit's arguments builds, and, for ``data``, the option groups that hold further settings.
_BUILDS = {"data": TimeSeriesDataModule, "model": Forecaster, "trainer": L.Trainer}
_DATA_GROUPS = {"columns": Columns, "scaling": Scaling, "calendar": Calendar}
_FIT_ARGUMENTS = ("source", "lookback", "horizon", *_BUILDS)


def _check_known(group: str, options: Mapping[str, Any]) -> None:
    """Refuse a key of ``options`` that the class ``group`` builds does not take, before the data are read:
    Python's own error ("got an unexpected keyword argument") names the class, not the group, and no fix.

    Raises:
        TypeError: naming the group, the key and the nearest arguments the class takes; for ``data``, also the
            settings of ``forecast.Columns``, ``Scaling`` and ``Calendar``, with the group that holds them
            (``targets`` given flat in ``data`` belongs in ``data["columns"]``).
    """
    built = _BUILDS[group]
    known = _settings(group)
    for key in options:
        if key not in known:
            fix = _known_fix(group, str(key), known)
            raise TypeError(f"forecast.fit's {group} sets {key!r}, which {built.__name__} does not take; {fix}")


def _settings(group: str) -> list[str]:
    """The arguments of the class that ``group`` of fit's arguments builds."""
    return list(inspect.signature(_BUILDS[group]).parameters)


def _known_fix(group: str, key: str, known: list[str]) -> str:
    """How to give what ``key``, no argument of ``group``'s class (``known``), most likely means."""
    meant = {name: repr(name) for name in known}  # each name a user may mean, and how to give it
    if group == "data":
        for holder, kind in _DATA_GROUPS.items():
            meant |= {
                field.name: f"data={{{holder!r}: forecast.{kind.__name__}({field.name}=...)}}"
                for field in dataclasses.fields(kind)
            }
    if key in meant:
        return f"give it in its group: {meant[key]}"
    near = [meant[name] for name in difflib.get_close_matches(key, list(meant), n=3)]
    fix = f"did you mean {' or '.join(near)}?" if near else f"its arguments are {known}"
    parts = "; a part's own settings go in its factory, e.g. encoder=functools.partial(GRUEncoder, hidden_size=64)"
    return fix + (parts if group == "model" else "")


def _check_callbacks(callbacks: Any) -> None:
    """Refuse ``trainer["callbacks"]`` (one, a list or none) holding anything but Lightning callbacks, before the
    data are read: a class or a name failed only once training ran, as "'str' object has no attribute
    'on_exception'" (a name as text, taken as a list of its letters).

    Raises:
        TypeError: naming the item given and what to give instead.
    """
    given = list(callbacks) if isinstance(callbacks, (list, tuple)) else [] if callbacks is None else [callbacks]
    for callback in given:
        if isinstance(callback, Callback):
            continue
        if isinstance(callback, type) and issubclass(callback, Callback):
            fix = f"call it: {callback.__name__}(...)"
        else:
            fix = "give Lightning callback objects, e.g. lightning.pytorch.callbacks.EarlyStopping(monitor='val/loss')"
        raise TypeError(f"forecast.fit's trainer['callbacks'] holds {callback!r}, which is no callback; {fix}")


def _written(checkpoint: ResumableModelCheckpoint) -> str:
    """The best checkpoint the fit wrote, else its ``last.ckpt``.

    Raises:
        ValueError: it wrote none (a fit that took no training step), naming the trainer options that
            cause that; ``Forecaster.load("")`` would name the working directory instead.
    """
    path = checkpoint.best_model_path or checkpoint.last_model_path
    if not path:
        raise ValueError(
            "forecast.fit wrote no checkpoint to return: the trainer took no training step or saved none "
            "(fast_dev_run, max_steps=0, max_epochs=0, limit_train_batches=0); for a quick check pass "
            "max_epochs=1, limit_train_batches=1, limit_val_batches=1 instead"
        )
    return path
