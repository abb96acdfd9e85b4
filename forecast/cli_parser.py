"""The CLI's argument parser: Lightning's, whose refusal of a misspelt key, flag or class names the nearest one."""

import argparse
import difflib
import inspect
import re
import sys
from typing import NoReturn

from lightning.pytorch.cli import LightningArgumentParser

__all__ = ["ForecastArgumentParser"]

# jsonargparse's refusals of a key it does not know: in a config (a whole key or one of a group's, where the
# subcommand is known), or as a flag.
_UNKNOWN_KEY = re.compile(
    r"Option '(?P<key>[^']+)' is not accepted( before subcommand '(?P<subcommand>[^']+)'.*)?"
    r"|(Group '(?P<group>[^']+)'|Subcommand '[^']+') does not accept option '(?P<subkey>[^']+)'"
)
_UNKNOWN_FLAG = re.compile(r"unrecognized arguments: --(?P<key>[^\s=]+)")
# jsonargparse's refusal of a class path whose module imports but holds no such name (``forecast.nn.GRUEncodr``).
_UNKNOWN_CLASS = re.compile(r"module '(?P<module>[\w.]+)' has no attribute '(?P<name>\w+)'")


class ForecastArgumentParser(LightningArgumentParser):
    """Lightning's parser, whose refusal of a misspelt key, flag or class names the nearest one it accepts.

    jsonargparse names the key it does not know (``Group 'trainer' does not accept option 'max_epoch'``), but
    not the one meant; Python's argparse suggests one only from Python 3.14. The parsers of a class's own
    settings (``model.encoder.init_args``, a callback's) are of this class too, so they suggest their keys.
    A class path whose module holds no such class (``module 'forecast.nn' has no attribute 'GRUEncodr'``)
    gets the nearest class of that module (``forecast.nn.GRUEncoder``).
    """

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        """jsonargparse's error, with ``did you mean ...?`` after an unknown key or class where one is near it."""
        parser = getattr(ex, "subcommand_parser", None) or self  # a config's section of a subcommand
        super().error(message + (_nearest_key_hint(message, parser) or _nearest_class_hint(message)), ex)


def _nearest_key_hint(message: str, parser: argparse.ArgumentParser) -> str:
    """`` (did you mean 'KEY'?)`` (a flag: ``--KEY``) for the key that jsonargparse's ``message`` refuses, where
    ``parser`` or its subcommands' parsers accept one near it; else nothing."""
    known, flag = _UNKNOWN_KEY.fullmatch(message), _UNKNOWN_FLAG.match(message)
    if known:
        key = f"{known['group']}.{known['subkey']}" if known["group"] else known["key"] or known["subkey"]
    elif flag:
        key = flag["key"]
    else:
        return ""
    keys = _parser_keys(parser)
    subcommand = known and known["subcommand"]
    if subcommand and _accepts(keys, key):  # a subcommand's own key, in a config read before the subcommand
        return f" (a setting of {subcommand}: give this config after the subcommand, or under a section {subcommand}:)"
    nearest = difflib.get_close_matches(key, sorted(keys), n=1)
    if not nearest:
        return ""
    return f" (did you mean --{nearest[0]}?)" if flag else f" (did you mean {nearest[0]!r}?)"


def _accepts(keys: set[str], key: str) -> bool:
    """Whether dotted ``key`` is one of ``keys`` or lies under one that holds a value of its own (a class's settings:
    ``model.encoder.init_args.hidden_size`` under ``model.encoder``), not under a group of keys (``trainer``); a
    class's key has one key under it, its ``help``."""
    if key in keys:
        return True
    holders = [other for other in keys if key.startswith(f"{other}.")]
    return any(not any(k.startswith(f"{other}.") and k != f"{other}.help" for k in keys) for other in holders)


def _parser_keys(parser: argparse.ArgumentParser) -> set[str]:
    """The dotted keys ``parser`` accepts, with those of its subcommands (without the subcommand's name)."""
    keys = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            keys |= {key for subparser in action.choices.values() for key in _parser_keys(subparser)}
        elif action.option_strings and not isinstance(action, argparse._HelpAction):
            keys.add(action.dest)
    return keys


def _nearest_class_hint(message: str) -> str:
    """`` (did you mean 'module.Class'?)`` for the first class path that jsonargparse's ``message`` refuses as
    missing from its module, where that module, imported by jsonargparse already, has a class near it; else
    nothing."""
    missing = _UNKNOWN_CLASS.search(message)
    module = sys.modules.get(missing["module"]) if missing else None
    if module is None:
        return ""
    classes = [name for name, value in vars(module).items() if inspect.isclass(value) and not name.startswith("_")]
    nearest = difflib.get_close_matches(missing["name"], sorted(classes), n=1)
    return f" (did you mean '{missing['module']}.{nearest[0]}'?)" if nearest else ""
