"""Plain-data specs of the parts a model is built from, so that a checkpoint never needs pickle.

A class, a ``functools.partial`` of one, or an object whose constructor arguments it keeps as
attributes becomes ``{"class_path": ..., "init_args": {...}}``, the form the CLI's configs have and
``lightning.pytorch.cli.instantiate_module`` reads back.
"""

import collections.abc
import dataclasses
import difflib
import functools
import importlib
import inspect
import typing
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["to_spec", "to_record", "from_spec", "normal_spec", "check_spec", "hint_bases", "imported"]


def _path(value: Any) -> str:
    if "<" in value.__qualname__:  # a lambda or a function defined inside another
        raise TypeError(
            f"{value.__qualname__} cannot be recorded in a checkpoint; use a class or functools.partial of one"
        )
    return f"{value.__module__}.{value.__qualname__}"


def to_spec(value: Any) -> Any:
    """``value`` as plain data (None, numbers, strings, lists, dicts) that rebuilds it.

    NumPy scalars and arrays become Python numbers and lists: ``torch.load(weights_only=True)``
    refuses NumPy objects, so a checkpoint holding one (``lr=np.float64(1e-3)``, a float subclass)
    would not load.

    Raises:
        TypeError: ``value`` is a lambda or local function, a partial with positional arguments, a
            ``torch.dtype``, or an object whose constructor arguments are unknown or not all attributes of it.

    Example:
        >>> import functools, torch
        >>> to_spec(functools.partial(torch.optim.Adam, lr=0.01))
        {'class_path': 'torch.optim.adam.Adam', 'init_args': {'lr': 0.01}}
    """
    if isinstance(value, (np.generic, np.ndarray)):  # np.float64 is a float, but no plain data to weights_only
        return to_spec(value.tolist())
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
    if isinstance(value, torch.dtype):  # its class takes no arguments and builds none: the spec would not load
        raise TypeError(
            f"{value} cannot be recorded in a checkpoint: a spec rebuilds no dtype; leave it out and cast the "
            "model (model.double(), trainer.precision: 64-true), whose checkpoint keeps its weights' dtype"
        )
    names = [name for name in _init_parameters(type(value)) if name not in ("args", "kwargs")]
    missing = [name for name in names if not hasattr(value, name)]
    if missing:
        raise TypeError(
            f"{type(value).__qualname__} does not keep its arguments {missing} as attributes, so it cannot be "
            "recorded in a checkpoint; pass a functools.partial of the class instead"
        )
    return {"class_path": _path(type(value)), "init_args": {name: to_spec(getattr(value, name)) for name in names}}


def _init_parameters(cls: type) -> list[str]:
    """The names of ``cls``'s constructor parameters.

    Raises:
        TypeError: ``cls`` has no signature to read (a built-in type such as ``datetime.date`` or
            ``set``), so an instance cannot be recorded as a spec; ``inspect`` raises ValueError there.
    """
    try:
        return list(inspect.signature(cls).parameters)
    except ValueError:
        raise TypeError(
            f"{cls.__module__}.{cls.__qualname__} cannot be recorded in a checkpoint: its constructor's arguments "
            "are unknown; give plain values (numbers, strings, lists, dicts) or a class or functools.partial of one"
        ) from None


def to_record(value: Any) -> Any:
    """A hyperparameter as plain data, so that checkpoints load with ``torch.load(weights_only=True)``.

    A group of options (a dataclass instance, such as ``forecast.data.Columns``) is recorded as the
    mapping of its fields, the nested keys the CLI reads it from. What cannot be a spec (a lambda
    scaler factory) is recorded by its ``repr``: hyperparameters are a record; what predict needs
    travels in ``state_dict()``.
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: to_record(getattr(value, field.name)) for field in dataclasses.fields(value)}
    try:
        return to_spec(value)
    except TypeError:
        return repr(value)


def from_spec(spec: Any, base: type = object, call: bool = True) -> Any:
    """What ``to_spec`` recorded: the object, or with ``call=False`` its factory (a class or partial).

    ``None`` stays ``None``; a class path string is the class. Only subclasses of ``base`` are
    built, so a spec read from a file cannot name an arbitrary function to run.

    Raises:
        TypeError: the spec names something that is not a subclass of ``base`` (or a bare class name,
            naming its dotted path), an ``init_args`` key the class does not take (naming the nearest),
            or it has no ``class_path`` or a key besides ``class_path``, ``init_args`` and ``dict_kwargs``.

    Example:
        >>> from_spec({"class_path": "sklearn.preprocessing.StandardScaler", "init_args": {"with_mean": False}})
        StandardScaler(with_mean=False)
    """
    if spec is None:
        return None
    path, init_args = (spec, {}) if isinstance(spec, str) else _parts(spec)
    try:
        factory = _class(path, (base,))
    except TypeError as error:
        raise TypeError(f"the spec names {error}; refusing to build it") from None
    _check_init_args(factory, path, init_args or {})
    partial = functools.partial(factory, **init_args) if init_args else factory
    return partial() if call else partial


def _parts(spec: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A spec's class path and arguments; ``dict_kwargs`` (jsonargparse's form of ``**kwargs``) join ``init_args``.

    Raises:
        TypeError: ``class_path`` is missing, or another key is there (``init_arg``), whose arguments
            would otherwise be dropped without a word and the class built with its defaults.
    """
    unknown = sorted(set(spec) - {"class_path", "init_args", "dict_kwargs"})
    if "class_path" not in spec or unknown:
        problem = f"has the keys {unknown}, which no spec has" if unknown else "has no 'class_path'"
        raise TypeError(
            f"the spec {spec} {problem}; write it as {{'class_path': 'module.Class', 'init_args': {{...}}}}"
        )
    return spec["class_path"], (spec.get("init_args") or {}) | (spec.get("dict_kwargs") or {})


def normal_spec(record: Any) -> Any:
    """``record`` (plain data, specs nested anywhere in it) with each spec in one normal form, for comparing.

    One object is recorded in more than one form: ``to_spec`` writes the path where its class is defined
    and only the arguments given (``{"class_path": "sklearn.preprocessing._data.StandardScaler"}``), the
    CLI the path it was given and every argument (``sklearn.preprocessing.StandardScaler`` with
    ``init_args`` ``copy``, ``with_mean``, ``with_std``). The normal form is ``to_spec``'s path of the
    class ``from_spec`` imports and its arguments with the constructor's defaults filled in. A spec
    that does not import here, gives arguments its class does not take or has keys no spec has, stays as
    recorded.

    Example:
        >>> normal_spec({"split": {"class_path": "forecast.data.FractionSplit"}})
        {'split': {'class_path': 'forecast.data.splits.FractionSplit', 'init_args': {'val': 0.1, 'test': 0.2}}}
    """
    if isinstance(record, list | tuple):
        return [normal_spec(item) for item in record]
    if not isinstance(record, dict):
        return record
    if "class_path" not in record:
        return {key: normal_spec(value) for key, value in record.items()}
    try:
        factory = from_spec(record, call=False)
        cls = getattr(factory, "func", factory)  # a spec with init_args is a partial of its class
        path, parameters = _path(cls), inspect.signature(cls).parameters.values()
    except (TypeError, ValueError):
        return record
    defaults = {
        parameter.name: parameter.default for parameter in parameters if parameter.default is not parameter.empty
    }
    given = defaults | _parts(record)[1]
    return {
        "class_path": path,
        "init_args": {name: normal_spec(to_record(value)) for name, value in given.items()},
    }


def _check_init_args(factory: type, path: str, init_args: dict[str, Any]) -> None:
    """Refuse an ``init_args`` key that ``factory`` does not take, naming the nearest one it does (a
    ``call=False`` factory would otherwise fail only when called, with Python's message that names neither)."""
    try:
        parameters = inspect.signature(factory).parameters
    except ValueError:  # no signature to read (a built-in type): the call says what is wrong
        return
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()):
        return
    for name in init_args:
        if name not in parameters:
            nearest = difflib.get_close_matches(name, list(parameters), n=1)
            hint = f"did you mean {nearest[0]!r}?" if nearest else f"it takes {list(parameters)}"
            raise TypeError(f"the spec of {path} gives init_args {name!r}, which {path} does not take; {hint}")


def hint_bases(hint: Any) -> tuple[type, ...]:
    """The classes that a parameter annotated ``hint`` is built as.

    A Callable's return type, each member of a union or container, the class itself; ``()`` when
    it names none (``Any``, ``Literal``).

    Example:
        >>> hint_bases(collections.abc.Callable[[int], float] | None)
        (<class 'float'>,)
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is collections.abc.Callable:
        return hint_bases(args[-1]) if args else ()
    if origin is typing.Literal:
        return ()
    if origin is not None:
        return tuple(base for arg in args for base in hint_bases(arg))
    return (hint,) if inspect.isclass(hint) and hint not in (type(None), Any) else ()  # Any is a class from 3.11


def check_spec(spec: Any, bases: tuple[type, ...], key: str) -> None:
    """Check, building nothing, that ``spec`` builds only subclasses of ``bases``.

    The specs in its ``init_args`` are checked against the bases their parameters are annotated
    with, down to the last level. A spec read from a file (a checkpoint's hyperparameters) is
    untrusted: jsonargparse calls what a ``class_path`` names with its ``init_args``, be it
    ``os.system``, and a class check after the call is too late. A string is a class path where
    ``bases`` are classes of parts, not of plain values (``str``, ``int``...).

    Args:
        spec: the recorded value (plain data, as ``to_spec`` writes it).
        bases: the classes it may build.
        key: where ``spec`` is, for the message (``encoder``, ``head.init_args.cell``).

    Raises:
        TypeError: naming the key, the class path and the bases, when a spec names anything but a
            subclass of its bases, or a path that does not import.
    """
    if isinstance(spec, (list, tuple)):
        for i, item in enumerate(spec):
            check_spec(item, bases, f"{key}[{i}]")
        return
    if isinstance(spec, dict) and "class_path" in spec:
        path, init_args = spec["class_path"], spec.get("init_args") or {}
    elif isinstance(spec, str) and bases and not any(base.__module__ == "builtins" for base in bases):
        path, init_args = spec, {}
    else:
        return
    if not bases:
        raise TypeError(f"{key!r} names {path}, but its parameter is annotated with no class to build")
    try:
        factory = _class(path, bases)
    except TypeError as error:
        raise TypeError(f"{key!r} names {error}; only subclasses of {_names(bases)} are built") from None
    hints = _init_hints(factory)
    for name, value in init_args.items():
        check_spec(value, hint_bases(hints.get(name, Any)), f"{key}.init_args.{name}")


def _names(bases: tuple[type, ...]) -> str:
    return " or ".join(f"{base.__module__}.{base.__qualname__}" for base in bases)


def imported(path: Any) -> Any:
    """What the dotted ``path`` names, imported.

    A class nested in another (``module.Outer.Inner``, as ``to_spec`` records it) is an attribute of
    what its path without the last name imports.

    Raises:
        ImportError, AttributeError, ValueError: it does not import (ValueError: no module part at all).
    """
    module, _, name = str(path).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as error:
        if error.name != module or "." not in module:  # a missing module, not an outer class
            raise
        return getattr(imported(module), name)


def _class(path: Any, bases: tuple[type, ...]) -> type:
    """The class that ``path`` names, after checking that it imports and subclasses one of ``bases``."""
    try:
        factory = imported(path)
    except (ImportError, AttributeError, ValueError) as error:
        raise TypeError(f"{path}, which does not import ({error}){_dotted_hint(path, bases)}") from None
    if not (inspect.isclass(factory) and issubclass(factory, bases)):
        raise TypeError(f"{path}, which is not a subclass of {_names(bases)}")
    return factory


def _dotted_hint(path: Any, bases: tuple[type, ...]) -> str:
    """For a bare class name (``GRUEncoder``), which a spec cannot import, the dotted path to give instead:
    that of an imported subclass of ``bases`` so named."""
    if "." in str(path):
        return ""
    found, matches = list(bases), []
    while found:
        cls = found.pop()
        found.extend(type.__subclasses__(cls))
        if cls.__name__ == path and "<" not in cls.__qualname__:
            matches.append(_path(cls))
    return f"; give the class's dotted path, {'e.g. ' + min(matches) if matches else 'module.Class'}"


def _init_hints(factory: type) -> dict[str, Any]:
    """The annotations of the constructor's parameters; none where they do not resolve."""
    try:
        return typing.get_type_hints(factory.__init__)
    except (NameError, TypeError):
        return {}
