"""Checkpoint files that are either the old one or the new one, never a torn one."""

import os
import uuid
from typing import Any

import torch
from fsspec.implementations.local import LocalFileSystem
from lightning.fabric.utilities.cloud_io import get_filesystem
from lightning.pytorch.plugins.io import TorchCheckpointIO

__all__ = ["AtomicCheckpointIO"]


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, atomic on local disks: a kill during a save leaves the previous file.

    Lightning writes through a temporary file in ``$TMPDIR``, which is moved by a copy when that lies
    on another file system than the runs. This one writes the temporary file beside its destination,
    syncs it to disk, and renames it onto the destination, which POSIX makes atomic. Remote file
    systems (``s3://``, ...) keep Lightning's own transaction.
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any | None = None
    ) -> None:
        if not isinstance(get_filesystem(path), LocalFileSystem):
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options; got {storage_options!r}")
        path = os.path.abspath(path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Beside the destination, so the rename stays on one file system; created with the usual permissions.
        temporary = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
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
