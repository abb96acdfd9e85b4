"""Checkpoint files: written whole or not at all, and read only after checking what they would build.

A checkpoint may come from anywhere; reading one runs no code from it, checks every stored byte
against the archive's checksums, and refuses hyperparameters that would build anything but the
parts a model takes.
"""

import inspect
import os
import re
import socket
import typing
import uuid
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torch
from fsspec.core import strip_protocol
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import CheckpointIO, TorchCheckpointIO
from sklearn.base import TransformerMixin

from .data.options import grouped_config
from .data.splits import Split
from .specs import check_spec, hint_bases, imported

__all__ = ["AtomicCheckpointIO", "file_in_the_way", "output_file", "read_checkpoint", "with_atomic_writes"]

_FORECAST_KEYS = ("state_dict", "hyper_parameters", "forecast_version")


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, atomic on local disks: a kill during a save leaves the previous file.

    Lightning writes through a temporary file in ``$TMPDIR``, which is moved by a copy when that lies
    on another file system than the runs. This one writes the temporary file beside its destination,
    syncs it to disk, and renames it onto the destination, which POSIX makes atomic; each save also removes the
    temporary files (``.last.ckpt.*.tmp``) that saves to the same file left when their process was killed. Remote
    file systems (``s3://``, ...) keep Lightning's own transaction.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any | None = None
    ) -> None:
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options; got {storage_options!r}")
        # A local URL (file:///runs/last.ckpt) names the file /runs/last.ckpt, as for Lightning's own writer.
        path = strip_protocol(os.fspath(path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Beside the destination, so the rename stays on one file system; created with the usual permissions.
        temporary = _temporary_file(path)
        try:
            with open(temporary, "xb") as file:
                torch.save(checkpoint, file)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        _remove_abandoned(path)


def with_atomic_writes(plugins: Any) -> list[Any]:
    """``trainer.plugins`` (one, a list or none) with ``AtomicCheckpointIO`` added unless one of them writes the
    checkpoints: an environment or precision plugin (``SLURMEnvironment()``, say) keeps the atomic writer."""
    plugins = list(plugins) if isinstance(plugins, (list, tuple)) else [] if plugins is None else [plugins]
    writes = any(isinstance(plugin, CheckpointIO) for plugin in plugins)
    return plugins if writes else [*plugins, AtomicCheckpointIO()]


_HOST = socket.gethostname()


def _temporary_file(path: str) -> str:
    """The file a save to ``path`` writes first, hidden beside it, named with the process and machine writing it."""
    name = f".{os.path.basename(path)}.{uuid.uuid4().hex}.{os.getpid()}@{_HOST}.tmp"
    return os.path.join(os.path.dirname(path), name)


def _remove_abandoned(path: str) -> None:
    """Remove the temporary files of saves to ``path`` whose process, on this machine, was killed mid-save.

    Those of a process still running (another fit saving to the same file) or of another machine are left.
    """
    pattern = re.compile(rf"\.{re.escape(os.path.basename(path))}\.[0-9a-f]{{32}}\.(\d+)@(.+)\.tmp")
    folder = os.path.dirname(path)
    for name in os.listdir(folder):
        match = pattern.fullmatch(name)
        if match and match[2] == _HOST and not _running(int(match[1])):
            try:
                os.unlink(os.path.join(folder, name))
            except FileNotFoundError:  # removed by another save meanwhile
                pass


def _running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (one of another user's too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        pass
    return True


def read_checkpoint(path: str | Path, model_class: type, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A forecast checkpoint's plain contents, checked before anything is built from them.

    The file is read with ``torch.load(weights_only=True)`` (tensors and plain data, no code),
    after its archive's checksums have been verified (a flipped byte in a weight would otherwise
    load silently). It must be a forecast checkpoint of this major version, and each
    hyperparameter that names a class must name a subclass of the base that ``model_class``'s
    constructor annotates it with (``encoder``: ``forecast.nn.encoders.Encoder``, ...).

    Args:
        path: the checkpoint file; a leading ``~`` is the home folder, as in a shell.
        model_class: the class whose constructor the hyperparameters are for.
        map_location: where the tensors go, as for ``torch.load``.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: naming the file: it is truncated, damaged or not a checkpoint; its tensors cannot go to
            ``map_location`` (a GPU this machine lacks); it is not a
            forecast checkpoint or one of another major version; or a hyperparameter, its own, an
            ensemble member's or a data option's (scalers, split), names a class outside its base (the
            message names the key and the class).
    """
    checkpoint = _load(Path(path), map_location)
    missing = [key for key in _FORECAST_KEYS if not isinstance(checkpoint, dict) or key not in checkpoint]
    if missing:
        raise ValueError(
            f"{path} is not a forecast checkpoint: it has no {missing}; give a .ckpt written by forecast fit"
        )
    saved, ours = checkpoint["forecast_version"], version("forecast")
    if str(saved).split(".")[0] != ours.split(".")[0]:
        raise ValueError(f"{path} was written by forecast {saved}, incompatible with this forecast {ours}; use {saved}")
    _check_hyperparameters(path, checkpoint["hyper_parameters"], model_class, "hyperparameter")
    members = checkpoint.get("ensemble_hyper_parameters")  # an ensemble's other networks, built on load
    others = checkpoint.get("ensemble_members", 1) - 1  # (a seed ensemble from before them records none)
    if members is not None and (not isinstance(members, list) or len(members) != others):
        raise ValueError(f"{path}: its ensemble_hyper_parameters are not those of its {others} other members")
    for index, member in enumerate(members or []):
        _check_hyperparameters(path, member, model_class, f"ensemble member {index + 1}'s hyperparameter")
    _check_data_hyperparameters(path, checkpoint.get("datamodule_hyper_parameters") or {})
    return checkpoint


def _check_data_hyperparameters(path: str | Path, hparams: Any) -> None:
    """The classes the data options name (scalers, split), each within its base.

    Only what imports as a class is checked: a scaler factory (a function) is never called from a
    checkpoint, and a user's class that does not import where the model predicts is not needed for it.
    """
    if not isinstance(hparams, dict):
        raise ValueError(f"{path}: its data hyperparameters are not a mapping; give a .ckpt written by forecast")
    config = grouped_config(hparams)
    specs = {f"data.scaling.{key}": (spec, TransformerMixin) for key, spec in (config.get("scaling") or {}).items()}
    specs["data.split"] = (config.get("split"), Split)
    for key, (spec, base) in specs.items():
        if isinstance(spec, dict) and inspect.isclass(_or_none(spec.get("class_path"))):
            try:
                check_spec(spec, (base,), key)
            except TypeError as error:
                raise ValueError(f"{path}: its data hyperparameter {error}") from None


def _or_none(path: Any) -> Any:
    """What the dotted ``path`` names, or ``None`` where it does not import."""
    try:
        return imported(path)
    except (ImportError, AttributeError, ValueError):
        return None


def _check_hyperparameters(path: str | Path, hparams: Any, model_class: type, what: str) -> None:
    """Each of ``hparams`` that names a class names a subclass of the base ``model_class`` annotates it with."""
    if not isinstance(hparams, dict):
        raise ValueError(f"{path}: its {what}s are not a mapping of names to values; give a .ckpt written by forecast")
    hints = typing.get_type_hints(model_class.__init__)
    for key in inspect.signature(model_class).parameters:
        if key in hparams:
            try:
                check_spec(hparams[key], hint_bases(hints.get(key, Any)), key)
            except TypeError as error:
                raise ValueError(f"{path}: its {what} {error}") from None


def _load(path: Path, map_location: str | torch.device) -> Any:
    """``torch.load(weights_only=True)`` of a file whose checksums hold, or a ValueError naming it."""
    path = path.expanduser()  # no shell expands a path from a config file or a notebook's string
    if path.is_dir():  # it exists: "does not exist" would mislead
        inside = sorted(child.name for child in path.glob("*.ckpt"))
        raise FileNotFoundError(
            f"checkpoint {str(path)!r} is a folder; give the path of a .ckpt file"
            + (f" such as one of those in it, {inside}" if inside else "")
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist; give the path of a .ckpt file")
    try:
        if zipfile.is_zipfile(path):  # torch's format; its reader skips the checksums
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
            if damaged is not None:
                raise ValueError(f"{damaged} fails its checksum")
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # a damaged file fails in any of a dozen ways deep in the unpickler
        if re.search(r"Attempting to deserialize object on (a )?CUDA device", str(error)):  # whole, no such device
            raise ValueError(
                f"{path} cannot load onto map_location={map_location!r} on this machine "
                f"({str(error).split('. ')[0]}): load it with map_location='cpu', or a device this machine has"
            ) from None
        unsupported = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(error))
        if unsupported:  # whole, but holding an object (a callback's state, say) that only code could rebuild
            raise ValueError(
                f"{path} is not a forecast checkpoint that loads without running code from it: it holds a "
                f"{unsupported[1]} object, which only running code could rebuild; keep plain numbers, text, lists "
                "and tensors in what a checkpoint saves (a callback's state, an optimizer's settings)"
            ) from None
        detail = str(error).split(". ")[0][:160]  # torch's advice to drop weights_only is not for users
        raise ValueError(
            f"{path} is not a forecast checkpoint that loads without running code from it: it is truncated, "
            f"damaged or of another format ({type(error).__name__}: {detail}); give a .ckpt file written whole "
            "by forecast fit"
        ) from None


def file_in_the_way(path: Path) -> Path | None:
    """The first of ``path``'s folders that is a file, where no folder can be made (``NotADirectoryError``), or
    ``None``."""
    return next((parent for parent in path.parents if parent.is_file()), None)


def output_file(path: str | Path, kind: str = "output", example: str = "model.ckpt", make_folder: bool = True) -> Path:
    """The file ``path`` that a checkpoint or an export (its ``kind``) is written to: a leading ``~`` the home
    folder (no shell expands a path from a config file or a Python string), its folder made if missing (unless
    ``make_folder`` is false: a caller that checks more before it writes makes it then).

    Raises:
        TypeError: ``path`` is no path (a number, say: pathlib's error names no argument).
        ValueError: ``path`` is a folder (the atomic rename failed as ``IsADirectoryError``, torch as "open file
            failed"), naming a file in it such as ``example``; or it lies under a file (``file_in_the_way``).
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"the {kind} path {path!r} is of type {type(path).__name__}; give the file as text or a Path")
    if Path(path).expanduser().is_dir():
        raise ValueError(
            f"the {kind} path {str(path)!r} is a folder; give a file in it, e.g. {str(Path(path) / example)!r}"
        )
    path = Path(path).expanduser()
    blocking = file_in_the_way(path)
    if blocking is not None:
        raise ValueError(f"the {kind} path {str(path)!r} lies under {blocking}, a file; give a path in a folder")
    if make_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    return path
