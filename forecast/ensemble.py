"""An ensemble in one checkpoint: the mean forecast of several trained checkpoints on the same data.

Networks trained from different seeds, or with other encoders, sizes or lookbacks, err differently; the
mean of their forecasts has a lower variance than any one of them, so it usually scores better and,
above all, varies less from run to run. ``combine`` writes the members' weights and hyperparameters into
one checkpoint that loads, tests and predicts like any other: ``Forecaster.load(path).predict(frame)``,
``python -m forecast test --ckpt_path path`` (and ``validate``, ``predict``, the exports). The members
must share the data's settings and fitted scalers (the same data, split and horizon; the lookback and
how training batched them may differ) and a point loss; none may be an ensemble already, have fallen back to a
naive forecast (``naive_comparison.fallback``) or hold the network of another (a copy); their models may differ
in anything else. The ensemble reads windows of its longest member's lookback, and each member the last steps of
them that its own lookback spans. An ensemble of members of other dtypes (one fitted with ``trainer.precision:
64-true``, one in float32) loads in the widest of them, in which every network computes: the float64 member forecasts
as alone, the float32 one within its own rounding. An ensemble is not trained further.

    python -m forecast.ensemble runs/seed*/checkpoints/epoch=*.ckpt --out runs/ensemble.ckpt
"""

import argparse
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from . import datasets
from .checkpointing import AtomicCheckpointIO, output_file, read_checkpoint
from .data.datamodule import TimeSeriesDataModule
from .data.options import grouped_config
from .data.state import frequency_steps
from .losses import Loss, MSELoss
from .model import Forecaster
from .model_checks import WINDOW_SIZES
from .model_state import check_ensemble_loss
from .specs import from_spec, normal_spec

__all__ = ["MEMBERS_MAY_DIFFER", "combine", "fell_back"]

# The parts of a checkpoint that say what data it forecasts, each with the keys its members may differ in:
# the lookback (each member reads the last steps of the ensemble's windows), how training drew and loaded
# its batches, and the period of MASE's scale (which scores a forecast), none of which changes a forecast.
MEMBERS_MAY_DIFFER = {
    "datamodule_hyper_parameters": {
        "lookback", "train_stride", "eval_stride", "sampling", "batch_size", "batch_channels", "num_workers",
        "pin_memory", "shard", "seasonal_period",
    },
    "TimeSeriesDataModule": {"lookback"},
}  # fmt: skip

# The model's sizes that its data sets but the lookback, and the category count of each static feature, compared also
# where a checkpoint records no data (a model fitted on dataloaders): members of other horizons or columns would give
# forecasts that no mean joins, and a member of fewer categories has no embedding for another's last ones.
_DATA_SIZES = (*(key for key in WINDOW_SIZES if key != "lookback"), "static_cardinalities")

# The column roles and calendar features of the data settings, each with its key in the data state, which records them
# as the data module resolved them.
_RESOLVED = {
    "columns": {role: role for role in ("targets", "past_covariates", "future_covariates", "static_covariates")},
    "calendar": {"features": "calendar"},
}


def _difference(first: Any, other: Any, path: str) -> str | None:
    """Where plain checkpoint contents differ (compared exactly, tensors and arrays included): the path of
    the first differing entry, keys joined by dots; ``None`` where they are equal."""
    if isinstance(first, dict) and isinstance(other, dict):
        for key in sorted(first.keys() | other.keys(), key=str):
            inner = f"{path}.{key}"
            found = inner if key not in first or key not in other else _difference(first[key], other[key], inner)
            if found:
                return found
        return None
    if isinstance(first, list | tuple) and isinstance(other, list | tuple):
        if len(first) != len(other):
            return path
        return next(filter(None, (_difference(a, b, path) for a, b in zip(first, other, strict=True))), None)
    if isinstance(first, torch.Tensor) or isinstance(other, torch.Tensor):
        return None if torch.equal(torch.as_tensor(first), torch.as_tensor(other)) else path
    same = bool(first == other) if not hasattr(first, "shape") else bool((first == other).all())
    return None if same else path


def _same_network(first: dict[str, Any], other: dict[str, Any]) -> bool:
    """Whether two checkpoints hold one network: the same hyperparameters and weights (a copy, or the ``last.ckpt``
    beside the file of the best epoch when the last epoch was the best)."""
    return not any(_difference(first[key], other[key], key) for key in ("hyper_parameters", "state_dict"))


def _lookback(member: dict[str, Any]) -> int:
    return member["hyper_parameters"]["lookback"]


def _data_sizes(member: dict[str, Any]) -> dict[str, Any]:
    """The member's sizes that its data sets; one it does not record is the Forecaster's default. Static category
    counts of ``None`` (every static feature a number) are a 0 per static feature, as checkpoints record them."""
    parameters = inspect.signature(Forecaster).parameters
    sizes = {key: member["hyper_parameters"].get(key, parameters[key].default) for key in _DATA_SIZES}
    if sizes["static_cardinalities"] is None:
        sizes["static_cardinalities"] = [0] * sizes["static_size"]
    return sizes


def _source_read(source: Any) -> Any:
    """The data a recorded ``source`` reads: a built-in data set by its name in lower case (names are
    case-insensitive), a file by its absolute path (a relative one taken from the current folder, ``~`` the home
    folder), so that one file named two ways is one source."""
    if not isinstance(source, str):
        return source
    if source.lower() in datasets.names():
        return source.lower()
    return str(Path(source).expanduser().resolve())


def _as_read(settings: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Data settings by what they read: the source by ``_source_read``, and the series, column roles and calendar
    features as the data ``state`` records them resolved, where it does (``targets`` null, every column without a
    role, is the list of those columns; ``series`` null, or the same ids in another order, the series of the data in
    their order)."""
    read = dict(settings)
    if "source" in read:
        read["source"] = _source_read(read["source"])
    if "series" in state:
        read["series"] = state["series"]
    for group, keys in _RESOLVED.items():
        resolved = {key: state[name] for key, name in keys.items() if name in state}
        if resolved:
            read[group] = (read.get(group) or {}) | resolved
    return read


def _shared(member: dict[str, Any], part: str) -> Any:
    """The ``part`` of a member's checkpoint (data settings or state) without the keys members may differ in.

    The frequency is compared by its steps, as ``TimeSeriesDataModule.load_state_dict`` compares it: data read
    at ``data.freq`` ``"1h"`` or ``"60min"`` and data whose hourly frequency was inferred (``"h"``) are the same.
    Data settings are read as today's data module takes them, so that a checkpoint written before its
    options were grouped compares setting by setting with one of today's: in the grouped form
    (``grouped_config``), and without the keys it takes no more (an old checkpoint's ``history_only``,
    the CLI's ``_instantiator``), which steer nothing today; and with their specs (the scalers, the split)
    in one normal form (``normal_spec``), since ``forecast.fit`` and the CLI record one class in two forms;
    and by what they read (``_as_read``): one file named by a relative and an absolute path is one source, and
    ``targets`` null is the list of columns the data state resolved it to (``series`` null, the series read).
    """
    settings = member.get(part)
    if part == "datamodule_hyper_parameters" and isinstance(settings, dict):
        taken = inspect.signature(TimeSeriesDataModule).parameters
        settings = normal_spec({key: value for key, value in grouped_config(settings).items() if key in taken})
        settings = _as_read(settings, member.get("TimeSeriesDataModule") or {})
    if isinstance(settings, dict) and "freq" in settings:  # the frequency the data were read at, by its steps
        read = (member.get("TimeSeriesDataModule") or {}).get("freq", settings["freq"])  # inferred where unset
        settings = settings | {"freq": frequency_steps(read)}
    return (
        {key: value for key, value in settings.items() if key not in MEMBERS_MAY_DIFFER[part]}
        if isinstance(settings, dict)
        else settings
    )


def fell_back(checkpoint: str | Path) -> bool:
    """Whether a checkpoint forecasts the naive forecast its fit fell back to (``naive_comparison.fallback``: its
    network lost on validation, or led by less than ``naive_comparison.margin``), which ``combine`` takes as no
    member."""
    return read_checkpoint(checkpoint, Forecaster).get("naive_fallback") is not None


def combine(checkpoints: Sequence[str | Path], path: str | Path) -> Path:
    """Write the checkpoint of the ensemble whose forecast is the mean of ``checkpoints``' forecasts.

    The member with the longest lookback (the first of them, if several) becomes the ensemble's own
    network, whose config and lookback the CLI's ``test`` and ``validate`` of the ensemble take.

    Args:
        checkpoints: two or more checkpoints trained on the same data (e.g. the best checkpoints of
            several seeds of one config, or of several configs or lookbacks), each a single model.
        path: the ensemble's checkpoint file, written atomically (``AtomicCheckpointIO``: a temporary file beside it,
            synced, then renamed onto it; a write cut short leaves the file as it was, and no temporary file).

    Returns:
        ``path``.

    Raises:
        TypeError: ``checkpoints`` is one path, not a list of them.
        ValueError: fewer than two checkpoints, one given twice, ``path`` a folder or one of ``checkpoints``
            (the ensemble would replace that member); naming the file: one holds the network of another (the
            same hyperparameters and weights: a copy, or a ``last.ckpt`` of the best epoch), one is an ensemble
            already, fell back to a naive forecast, was trained with a probabilistic loss (a
            ``QuantileLoss`` of one level too: its forecast is that quantile, not a point), or differs from the
            first in its data's settings or scalers (other than the lookback, the batching settings and MASE's
            period; settings recorded flat, before their groups, are compared grouped, a class by what it
            imports and its arguments, defaults filled in, a source file by its absolute path (a relative one
            from the current folder: a checkpoint records the source as given, not the folder its fit read it
            from; the message says so where a relative one differs), and the series,
            column roles and calendar features as the data resolved them, so that ``targets`` null and the list of
            those columns are the same) or in the model's sizes that the data set (horizon, input, target, future and
            static sizes and the static features' category counts: compared also where a checkpoint records no
            data); the message names the differing key (as today's data module names it).
    """
    path = _ensemble_path(checkpoints, path)
    members = [read_checkpoint(checkpoint, Forecaster) for checkpoint in checkpoints]
    for index, (checkpoint, member) in enumerate(zip(checkpoints, members, strict=True)):
        _check_alone(checkpoint, member)
        _check_same_data(checkpoint, member, checkpoints[0], members[0])
        _check_no_twin(checkpoint, member, checkpoints[:index], members[:index])
    AtomicCheckpointIO().save_checkpoint(_ensemble(members), path)
    return path


def _ensemble_path(checkpoints: Sequence[str | Path], path: str | Path) -> Path:
    """The ensemble's file, checked with the list of ``checkpoints`` before any of them is read.

    Raises:
        TypeError: ``checkpoints`` is one path.
        ValueError: fewer than two checkpoints, one given twice, ``path`` a folder or one of ``checkpoints``.
    """
    if isinstance(checkpoints, (str, Path)):  # its characters would be read as files
        raise TypeError(f"combine takes a list of two or more checkpoint files; got one path {str(checkpoints)!r}")
    if len(checkpoints) < 2:
        missing = [str(checkpoint) for checkpoint in checkpoints if not Path(checkpoint).exists()]
        unmatched = (  # a shell passes a pattern that matches no file on as written: one "checkpoint"
            f" ({missing[0]!r} does not exist: a shell pattern that matches no file is passed on as written)"
            if missing
            else ""
        )
        raise ValueError(f"an ensemble needs two or more checkpoints; got {len(checkpoints)}{unmatched}")
    files = [Path(checkpoint).expanduser().resolve() for checkpoint in checkpoints]
    repeated = next(
        (checkpoint for checkpoint, file in zip(checkpoints, files, strict=True) if files.count(file) > 1), None
    )
    if repeated is not None:  # an ensemble of one network, counted twice
        raise ValueError(f"{repeated} is given more than once; an ensemble combines different checkpoints")
    path = output_file(path, "ensemble", "ensemble.ckpt", make_folder=False)  # made once the members pass
    if path.resolve() in files:  # the rename would replace that member's checkpoint with the ensemble
        member = checkpoints[files.index(path.resolve())]
        raise ValueError(
            f"the ensemble's path {str(path)!r} is that of the member {member}, which it would replace; "
            "give another path"
        )
    return path


def _check_alone(checkpoint: str | Path, member: dict[str, Any]) -> None:
    """Refuse a member whose forecast is no network's point forecast: an ensemble, a naive fallback, or a network
    of a probabilistic loss (``check_ensemble_loss``).

    Raises:
        ValueError: naming ``checkpoint`` and the fix.
    """
    if member.get("ensemble_members", 1) != 1:
        raise ValueError(f"{checkpoint} is an ensemble already; combine the checkpoints of its members")
    if member.get("naive_fallback") is not None:
        raise ValueError(
            f"{checkpoint} fell back to a naive forecast on validation (naive_comparison.fallback); "
            "its network fell short of it there (lost, or led by less than naive_comparison.margin), so leave it out"
        )
    loss = from_spec(member["hyper_parameters"].get("loss"), Loss) or MSELoss()  # the model's default: MSE
    check_ensemble_loss(loss, str(checkpoint))


def _check_same_data(
    checkpoint: str | Path, member: dict[str, Any], first_checkpoint: str | Path, first: dict[str, Any]
) -> None:
    """Refuse a member of other data than the ``first``: other data settings or state (but for the keys of
    ``MEMBERS_MAY_DIFFER``, as ``_shared`` reads them) or other sizes that the data set (``_data_sizes``).

    Raises:
        ValueError: naming both checkpoints and the first differing key.
    """
    compared = [(_shared(first, part), _shared(member, part), part) for part in MEMBERS_MAY_DIFFER]
    compared.append((_data_sizes(first), _data_sizes(member), "hyper_parameters"))
    differing = next(filter(None, (_difference(*entry) for entry in compared)), None)
    if differing:
        raise ValueError(
            f"{checkpoint} differs from {first_checkpoint} in {differing}: an ensemble's members forecast the "
            "same data (source, split, horizon, columns, scaling); only their models, lookbacks and batches "
            f"may differ{_relative_sources(member, first)}"
        )


def _relative_sources(member: dict[str, Any], first: dict[str, Any]) -> str:
    """Where two members' recorded sources read other files and one is a relative path, the files the two read as,
    and why: a checkpoint records ``data.source`` as given, not the folder its fit read it from, so ``combine`` reads
    a relative one from the current folder; else nothing. It is said whichever key the message names as the first that
    differs (``nan_policy`` and ``scaling`` sort before ``source``)."""
    sources = [(contents.get("datamodule_hyper_parameters") or {}).get("source") for contents in (member, first)]
    if not any(map(_relative_file, sources)) or not all(isinstance(source, str) for source in sources):
        return ""  # no relative path, or a frame (its source is not recorded)
    files = [_source_read(source) for source in sources]
    if files[0] == files[1]:
        return ""
    read = " and ".join(f"{source!r} as {file!r}" for source, file in zip(sources, files, strict=True))
    return (
        f" (their data.source differs: combine reads {read}; a checkpoint records data.source as given, not the "
        f"folder its fit read it from, so combine reads a relative one from the current folder, {str(Path.cwd())!r}; "
        "run combine from the folder the members were fitted in)"
    )


def _relative_file(source: Any) -> bool:
    """Whether a recorded ``source`` is a file named by a relative path (not a built-in data set's name)."""
    return (
        isinstance(source, str)
        and source.lower() not in datasets.names()
        and not Path(source).expanduser().is_absolute()
    )


def _check_no_twin(
    checkpoint: str | Path, member: dict[str, Any], before: Sequence[str | Path], read: Sequence[dict[str, Any]]
) -> None:
    """Refuse a member that holds the network of one ``before`` it (whose contents are ``read``), which the mean
    would count twice.

    Raises:
        ValueError: naming both checkpoints.
    """
    twin = next((other for other, contents in zip(before, read, strict=True) if _same_network(contents, member)), None)
    if twin is not None:
        raise ValueError(
            f"{checkpoint} holds the network of {twin} (the same hyperparameters and weights), which the "
            "ensemble would count twice; leave one of them out"
        )


def _ensemble(members: list[dict[str, Any]]) -> dict[str, Any]:
    """The ensemble's checkpoint: the network of the longest lookback (the first of them) as its own, with its data
    settings and state, and the others' weights under ``members.{index}.`` with their hyperparameters."""
    first, *others = sorted(members, key=_lookback, reverse=True)  # stable: the first of the longest lookback leads
    state = dict(first["state_dict"])
    for index, member in enumerate(others):
        state |= {f"members.{index}.{key}": value for key, value in member["state_dict"].items()}
    shared = ("hyper_parameters", *MEMBERS_MAY_DIFFER, "forecast_version", "pytorch-lightning_version")
    kept = {key: first[key] for key in shared if key in first}
    configs = [
        {key: value for key, value in member["hyper_parameters"].items() if key != "_instantiator"} for member in others
    ]
    ensemble = kept | {"state_dict": state, "ensemble_members": len(members), "naive_fallback": None}
    ensemble |= {"ensemble_hyper_parameters": configs, "epoch": first.get("epoch", 0)}
    return ensemble | {"global_step": first.get("global_step", 0)}


def main(argv: list[str] | None = None) -> Path:
    """``python -m forecast.ensemble CHECKPOINT... --out PATH``: ``combine`` from the command line.

    A checkpoint that is missing or cannot join the others is named with the fix by ``combine``'s message, and an
    ``--out`` that cannot be written (a folder under a file, say) is named, each printed as argparse prints a usage
    error (exit status 2), without a traceback that would bury it.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="two or more checkpoints trained on the same data")
    parser.add_argument("--out", type=Path, required=True, help="the ensemble's checkpoint file")
    args = parser.parse_args(argv)
    try:
        path = combine(args.checkpoints, args.out)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    except OSError as error:  # a member that cannot be read raises one of the two above: this is of writing --out
        parser.error(f"the ensemble cannot be written to --out {args.out} ({error}); give a file in a writable folder")
    print(f"{path}: the mean forecast of {len(args.checkpoints)} checkpoints")
    return path


if __name__ == "__main__":
    main()
