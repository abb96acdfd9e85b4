"""A ``fit``'s config as ``forecast tune`` reads it, without running anything: values as ``fit`` flags, the
``--print_config`` YAML those flags give, and the dotted keys of that config (the keys a search space may name)."""

import contextlib
import io
from collections.abc import Sequence
from typing import Any

import yaml

from .cli import main as cli_main
from .study_scoring import cli_value

__all__ = ["config_keys", "dotted_keys", "override_args", "print_config"]


def override_args(overrides: dict[str, Any]) -> list[str]:
    """CLI key -> value as ``fit`` flags; a class choice sorts before its own ``init_args`` keys."""
    return [arg for key in sorted(overrides) for arg in (f"--{key}", cli_value(overrides[key]))]


def print_config(args: Sequence[str]) -> str:
    """The ``--print_config`` YAML of ``python -m forecast <args>``, without running anything.

    Raises:
        ValueError: the CLI refuses ``args``, with its message.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), contextlib.suppress(SystemExit):
        cli_main([*args, "--print_config"])
    if not out.getvalue():
        raise ValueError(f"the config does not parse: {err.getvalue().strip()[-2000:]}")
    return out.getvalue()


def config_keys(fit_args: Sequence[str], overrides: dict[str, Any]) -> set[str]:
    """Every dotted key of the config that ``fit_args`` plus ``overrides`` give (a class key, its
    ``class_path`` and ``init_args.*`` alike); the keys a search space may name.

    Raises:
        ValueError: the config does not parse with ``overrides``, naming them.
    """
    try:
        config = yaml.safe_load(print_config(["fit", *fit_args, *override_args(overrides)]))
    except ValueError as error:
        raise ValueError(f"with {overrides}: {error}" if overrides else str(error)) from None
    return set(dotted_keys(config))


def dotted_keys(node: Any, prefix: str = "") -> list[str]:
    """The dotted paths of every mapping key under ``node`` (lists are values, not addressed)."""
    if not isinstance(node, dict):
        return []
    keys = []
    for key, value in node.items():
        path = f"{prefix}{key}"
        keys += [path, *dotted_keys(value, f"{path}.")]
    return keys
