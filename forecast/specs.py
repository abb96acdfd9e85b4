"""Plain-data specs of the parts a model is built from, so that a checkpoint never needs pickle.

A class, a ``functools.partial`` of one, or an object whose constructor arguments it keeps as
attributes becomes ``{"class_path": ..., "init_args": {...}}``, the form the CLI's configs have and
``lightning.pytorch.cli.instantiate_module`` reads back.
"""

import functools
import importlib
import inspect
from pathlib import Path
from typing import Any

__all__ = ["to_spec", "from_spec"]


def _path(value: Any) -> str:
    if "<" in value.__qualname__:  # a lambda or a function defined inside another
        raise TypeError(
            f"{value.__qualname__} cannot be recorded in a checkpoint; use a class or functools.partial of one"
        )
    return f"{value.__module__}.{value.__qualname__}"


def to_spec(value: Any) -> Any:
    """``value`` as plain data (None, numbers, strings, lists, dicts) that rebuilds it.

    Raises:
        TypeError: ``value`` is a lambda or local function, a partial with positional arguments, or
            an object whose constructor arguments are not all attributes of it.

    Example:
        >>> import functools, torch
        >>> to_spec(functools.partial(torch.optim.Adam, lr=0.01))
        {'class_path': 'torch.optim.adam.Adam', 'init_args': {'lr': 0.01}}
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_spec(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_spec(item) for key, item in value.items()}
    if isinstance(value, functools.partial):
        if value.args:
            raise TypeError(f"give {value.func.__qualname__}'s arguments to functools.partial by name, not position")
        return {"class_path": _path(value.func), "init_args": to_spec(value.keywords)}
    if inspect.isclass(value) or inspect.isfunction(value):
        return {"class_path": _path(value)}
    names = [name for name in inspect.signature(type(value)).parameters if name not in ("args", "kwargs")]
    missing = [name for name in names if not hasattr(value, name)]
    if missing:
        raise TypeError(
            f"{type(value).__qualname__} does not keep its arguments {missing} as attributes, so it cannot be "
            "recorded in a checkpoint; pass a functools.partial of the class instead"
        )
    return {"class_path": _path(type(value)), "init_args": {name: to_spec(getattr(value, name)) for name in names}}


def from_spec(spec: Any, base: type = object, call: bool = True) -> Any:
    """What ``to_spec`` recorded: the object, or with ``call=False`` its factory (a class or partial).

    ``None`` stays ``None``; a class path string is the class. Only subclasses of ``base`` are
    built, so a spec read from a file cannot name an arbitrary function to run.

    Raises:
        TypeError: the spec names something that is not a subclass of ``base``.

    Example:
        >>> from_spec({"class_path": "sklearn.preprocessing.StandardScaler", "init_args": {"with_mean": False}})
        StandardScaler(with_mean=False)
    """
    if spec is None:
        return None
    path, init_args = (spec, {}) if isinstance(spec, str) else (spec["class_path"], spec.get("init_args", {}))
    module, _, name = path.rpartition(".")
    factory = getattr(importlib.import_module(module), name)
    if not (inspect.isclass(factory) and issubclass(factory, base)):
        raise TypeError(f"{path} is not a subclass of {base.__module__}.{base.__qualname__}; refusing to build it")
    partial = functools.partial(factory, **init_args) if init_args else factory
    return partial() if call else partial
