"""One process at a time: an ``flock`` on a lock file beside a cached file while it is made.

Downloads of a data set (``forecast.datasets.download``) and builds of a kernel (``forecast.kernels.build``) that
several processes need at once (DDP ranks, DataLoader workers, parallel tests) are made once: the first process
holds the lock while it makes the file, and the others wait for it, then find the file in place. The system
releases an ``flock`` when its holder dies, also by SIGKILL.
"""

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["holding"]

_NO_FLOCK = {errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP}


@contextlib.contextmanager
def holding(lock: Path) -> Iterator[bool]:
    """Hold the ``flock`` of the file ``lock`` (made with its folder where missing), waiting while another process
    or thread holds it; yields whether it is held: ``False`` on a file system without ``flock`` (Lustre mounted
    without it, some FUSE ones), where nothing is locked. The lock file is removed on release; a waiter that then
    holds the lock of a removed file takes the lock afresh. Files that this user may not delete (another user's,
    in a shared folder that only their owners may delete from) are left.

    Raises:
        OSError: the folder cannot be made, or the lock file neither made nor read.
    """
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = _lock(lock)
    try:
        yield handle is not None
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()
        if handle is not None:
            os.close(handle)


def _lock(lock: Path) -> int | None:
    """A descriptor of ``lock`` holding its ``flock``, once the file locked is the one at that path (not one
    that its last holder removed while this process waited); ``None`` where the file system has no ``flock``.

    The file is opened for reading only, which is all ``flock`` needs: another user's lock file, left by
    a killed process in a shared folder, can be locked by everyone who may read it.
    """
    while True:
        handle = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as error:
            os.close(handle)
            if error.errno in _NO_FLOCK:
                return None
            raise
        except BaseException:  # interrupted while it waited
            os.close(handle)
            raise
        if _same_file(lock, handle):
            return handle
        os.close(handle)


def _same_file(path: Path, handle: int) -> bool:
    """Whether ``path`` names the file open as ``handle``."""
    try:
        return os.stat(path).st_ino == os.fstat(handle).st_ino
    except FileNotFoundError:
        return False
