"""The model settings on a command line that the CLI takes from the data instead (``model.lookback``, the channel
counts): refused before parsing, since jsonargparse drops them from a config, a model file or inline settings
without a word (and ``--print_config`` prints and exits within parsing)."""

import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from itertools import pairwise
from pathlib import Path

import yaml
from lightning.pytorch.cli import ArgsType

__all__ = ["WEIGHT_SIZES", "check_linked_flags", "check_linked_keys", "flag_values"]

# The model's sizes that the data give and that shape its weights (the CLI links them from ``data``).
WEIGHT_SIZES = ("input_size", "target_size", "future_size", "static_size", "static_cardinalities")
_DATA_SIZES = (*WEIGHT_SIZES, "season_channel", "season_length")
_LINKED_KEYS = ("lookback", "horizon", *_DATA_SIZES)
# The shortest abbreviation of a flag that argparse may take for it, as it takes one that begins no other flag:
# ``--c`` before the subcommand, where the only other flag is ``--print_config`` (after it, ``--ckpt_path`` and
# ``--checkpoint.*`` begin so too, and ``--co`` is the shortest). Every abbreviation of ``--model`` begins
# ``--model.*`` flags too, so argparse takes none.
_ABBREVIATIONS = {"--config": "--c"}


def _command_line(args: ArgsType) -> list[str]:
    """The CLI's arguments as a list of strings: ``args``, or ``sys.argv[1:]`` for ``None``; none for a dict,
    nor for a list holding anything but strings (``Path("x.yaml")``, ``5``), which jsonargparse refuses by name."""
    flags = sys.argv[1:] if args is None else args
    return flags if isinstance(flags, list) and all(isinstance(flag, str) for flag in flags) else []


def _read_settings(value: str, folder: Path) -> object:
    """Settings as jsonargparse reads a value of ``--config`` or ``--model``: the YAML of the file it names
    (relative to ``folder``), else the value itself as YAML (``'{"hidden_size": 8}'``); ``None`` where
    that is no YAML (jsonargparse names the error)."""
    path = folder / value
    try:
        return yaml.safe_load(path.read_text() if os.path.isfile(path) else value)
    except yaml.YAMLError:
        return None


def flag_values(args: Sequence[str], names: Iterable[str]) -> Iterator[tuple[str, str]]:
    """Each flag of ``names`` among the command line's ``args`` with its value, in their order, as argparse reads
    them: ``--config X``, ``--config=X``, ``-c X``, ``-cX`` (a short flag's value joined to it) and ``--conf X``
    (an abbreviation, ``_ABBREVIATIONS``), each under its full name; a flag that ends the line, without a value,
    is left out."""
    names = list(names)
    for arg, following in pairwise([*args, None]):
        joined = _joined_short_flag(arg, names)
        if joined is not None:
            yield joined
            continue
        name, equals, value = arg.partition("=")
        name, value = _full_name(name, names), value if equals else following
        if name is not None and value is not None:
            yield name, value


def _joined_short_flag(arg: str, names: Sequence[str]) -> tuple[str, str] | None:
    """``arg`` as a short flag of ``names`` with its value joined to it (``-cX``, ``-c=X``); ``None`` otherwise."""
    name, rest = arg[:2], arg[2:]
    if arg.startswith("--") or name not in names or not rest:
        return None
    return name, rest.removeprefix("=")


def _full_name(name: str, names: Sequence[str]) -> str | None:
    """The flag of ``names`` that ``name`` is, written out or abbreviated as argparse takes it; ``None`` for none."""
    for full in names:
        shortest = _ABBREVIATIONS.get(full, full)
        if name == full or (name.startswith(shortest) and full.startswith(name)):
            return full
    return None


def check_linked_keys(args: ArgsType, subcommands: Iterable[str]) -> None:
    """Refuse model settings on the command line that set a model key the CLI links from the data
    (``model.lookback``, ``model.input_size``, ...).

    Given as a flag, such a key is refused by jsonargparse; in a ``--config`` file (given after the
    subcommand, or before it with a section per subcommand), in a file of the model's settings alone
    (``--model model.yaml``, or ``model: model.yaml`` in a config, relative to it) and in settings
    given inline (``--model '{"lookback": 48}'``, ``--config '{"model": ...}'``) it is dropped without
    a word, and the model gets the data's value instead of the one written. Checked before parsing,
    so ``--print_config`` (which prints and exits within parsing) refuses them as ``fit`` does.

    Args:
        args: the CLI's ``args``; ``None`` is ``sys.argv[1:]``, and a dict of settings has no flags.
        subcommands: the CLI's subcommands, whose sections a config given before one may hold.

    Raises:
        ValueError: naming the file or value, the keys and what to set in their place.
    """
    for name, value in flag_values(_command_line(args), ("--config", "-c", "--model")):
        settings = _read_settings(value, Path.cwd())
        source = value if os.path.isfile(value) else f"{name} {value}"
        if name == "--model":
            _refuse_linked_keys(source, settings)
            continue
        if not isinstance(settings, dict):  # no file, no YAML or no mapping: jsonargparse names the error
            continue
        folder = Path(value).parent if os.path.isfile(value) else Path.cwd()
        for section in [settings, *(settings.get(command) for command in subcommands)]:
            model = section.get("model") if isinstance(section, dict) else None
            if isinstance(model, str):  # a file of the model's settings, relative to the config's folder
                path = folder / model
                _refuse_linked_keys(str(path) if path.is_file() else model, _read_settings(model, folder))
            else:
                _refuse_linked_keys(source, model)


def _refuse_linked_keys(source: str, settings: object) -> None:
    """Refuse the model ``settings`` read from ``source`` if they set a key that the CLI links from the data.

    Raises:
        ValueError: naming ``source``, the keys and what to set in their place.
    """
    given = [key for key in _LINKED_KEYS if isinstance(settings, dict) and key in settings]
    if not given:
        return
    windows = [key for key in given if key in ("lookback", "horizon")]
    flags = " ".join(f"--data.{key} {settings[key]}" for key in windows)
    fixes = [f"set {' and '.join(f'data.{key}' for key in windows)} instead ({flags})"] if windows else []
    if len(windows) < len(given):
        fixes.append("drop the sizes (they follow from data.columns, data.calendar and data.freq)")
    keys = ", ".join(f"model.{key}" for key in given)
    raise ValueError(f"{source} sets {keys}, which the CLI takes from the data: {'; '.join(fixes)}")


def check_linked_flags(args: ArgsType) -> None:
    """Refuse a flag that sets a model size the CLI takes from the data (``--model.input_size 7``, ...).

    jsonargparse refuses such a flag too, but asks for the value "via ``data.input_size``", which is
    no key: the sizes follow from the data's columns, calendar and frequency. (Its message for
    ``--model.lookback`` and ``--model.horizon`` is right: ``data.lookback`` and ``data.horizon``.)

    Args:
        args: the CLI's ``args``; ``None`` is ``sys.argv[1:]``, and a dict of settings has no flags.

    Raises:
        ValueError: naming the flag and the data keys its value follows from.
    """
    for arg in _command_line(args):
        key = arg.split("=", 1)[0].removeprefix("--model.")
        if arg.startswith("--model.") and key in _DATA_SIZES:
            raise ValueError(
                f"--model.{key}: the CLI sets it from the data (the channels of data.columns, the features of "
                "data.calendar, the frequency data.freq); drop the flag and change those instead"
            )
