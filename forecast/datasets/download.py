"""Files of the data sets in a cache folder: downloaded once, written atomically, checked by sha256 on every load.

A download streams into a temporary ``*.part`` file beside its target and is moved into place with
``os.replace`` only once it is complete, its hash is right and it reads as the data set, so a killed or
failed download, or an error page served in its place, never leaves a file under the data set's name: a
``*.part`` left by a killed download is ignored, and deleted by the next download of that file where the file
system has ``flock`` (``downloading``). A file without a hash in the registry gets one recorded beside it
(``<file>.sha256.json``) at its first download or first use, once it reads; later loads, and a later download
of the same file, check it against that record.

Processes that load one data set at once (the ranks of a DDP fit, ``benchmarks/ltsf.py --jobs``, test
workers) download it once where the file system has ``flock``: the first holds a lock (``downloading``) while
it downloads the file and records its hash, and the others wait for it, then find both in place.
"""

import contextlib
import glob
import hashlib
import http.client
import json
import os
import re
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from tqdm.auto import tqdm

from ..errors import ForecastDataError
from ..locks import holding

__all__ = ["cache_dir", "recorded_sha256", "downloading", "download", "check", "record"]

_CHUNK = 1 << 20
T = TypeVar("T")


def cache_dir() -> Path:
    """The folder of downloaded data sets: ``$FORECAST_DATA``, else ``~/.cache/forecast``, as an absolute path.

    Read on every call, so a changed ``FORECAST_DATA`` takes effect at once. A relative one is taken from the
    working folder and made absolute, so that the messages naming where to put a file by hand say where it
    is wherever they are read (the log of a cluster job, say).

    Raises:
        ForecastDataError: no ``$FORECAST_DATA`` and no home folder (a container run under a user id
            without one), or a ``~`` there that names none.
    """
    try:
        return Path(os.environ.get("FORECAST_DATA") or Path.home() / ".cache" / "forecast").expanduser().absolute()
    except RuntimeError as error:  # pathlib's "Could not determine home directory"
        raise ForecastDataError(
            f"no folder to keep downloaded data sets in ({error}): set FORECAST_DATA to a folder"
        ) from None


def _download_part(path: Path) -> BinaryIO:
    """The ``*.part`` file (``_part_file``) that a download of ``path`` streams into, its folder made first.

    Raises:
        ForecastDataError: the folder cannot be made, or written (``_unwritable_folder``).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return _part_file(path)
    except OSError as error:
        raise _unwritable_folder(path, error) from None


def _unwritable_folder(path: Path, error: OSError) -> ForecastDataError:
    """The error for a cache folder that cannot be made, or written (a shared ``FORECAST_DATA`` of another
    user), naming it and the fix rather than a temporary file."""
    return ForecastDataError(
        f"cannot create the data cache folder {path.parent} or write into it ({error.strerror or error}); "
        "point FORECAST_DATA at a folder you can write"
    )


@contextlib.contextmanager
def downloading(path: Path) -> Iterator[None]:
    """Hold the lock on downloading ``path``, waiting while another process (or thread) holds it.

    The lock is ``<file>.lock`` beside ``path``, locked with ``flock``, which the system releases when its
    holder dies, also by SIGKILL. Once it is held, any ``*.part`` of a download of ``path`` is a killed
    download's leftover, and is deleted. The lock file is removed on release; a waiter that then holds the
    lock of a removed file takes the lock afresh. Files that this user may not delete (another user's, in
    a shared folder that only their owners may delete from) are left. On a file system without ``flock``
    (Lustre mounted without it, some FUSE ones) nothing is locked, and each process downloads into a
    ``*.part`` of its own, as a single one does.

    Raises:
        ForecastDataError: the cache folder cannot be made, or written (``_unwritable_folder``).
    """
    with contextlib.ExitStack() as stack:
        try:
            locked = stack.enter_context(holding(path.with_name(path.name + ".lock")))
        except OSError as error:
            raise _unwritable_folder(path, error) from None
        if locked:
            for leftover in path.parent.glob(f"{glob.escape(path.name)}.{'[0-9a-f]' * 32}.part"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        yield


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _part_file(path: Path) -> BinaryIO:
    """A new, empty ``<name>.<random>.part`` file beside ``path``, open for writing, with the permissions of any
    new file (those the umask leaves): ``tempfile`` makes its files readable by their owner only, so a data
    set moved into place from one could not be read by the other users of a shared ``FORECAST_DATA``."""
    return open(path.with_name(f"{path.name}.{uuid.uuid4().hex}.part"), "xb")


def _unreadable(path: Path, error: OSError) -> ForecastDataError:
    """The error for a cached file that this user cannot read: in a shared ``FORECAST_DATA``, one that another
    user's umask, or an earlier version's download (through ``tempfile``), left readable by its owner only."""
    return ForecastDataError(
        f"cannot read {path} ({error.strerror or error}); ask its owner to make it readable (chmod a+r), or point "
        "FORECAST_DATA at a folder of your own"
    )


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def recorded_sha256(path: Path, sha256: str | None) -> str | None:
    """``sha256`` (the registry's) when given, else the hash recorded beside ``path`` at its first download or
    use, else ``None``: the hash a file at ``path`` must have, also one downloaded afresh.

    Raises:
        ForecastDataError: the record beside ``path`` cannot be read, or holds no hash.
    """
    record = _record(path)
    if sha256 is not None or not record.is_file():
        return sha256
    try:
        recorded = json.loads(record.read_text())["sha256"]
    except OSError as error:
        raise _unreadable(record, error) from None
    except (ValueError, KeyError, TypeError):
        recorded = None
    if not (isinstance(recorded, str) and re.fullmatch("[0-9a-f]{64}", recorded)):  # null would accept any file
        raise ForecastDataError(f"{record} holds no sha256; delete it to record the file's hash afresh")
    return recorded


def record(path: Path, url: str | None, sha256: str) -> None:
    """Record ``path``'s hash beside it, atomically (several processes may load at once).

    Raises:
        ForecastDataError: the record cannot be written (a read-only folder, say), naming the fix.
    """
    record, part = _record(path), None
    try:
        with _part_file(record) as part:
            part.write(json.dumps({"url": url, "sha256": sha256}).encode())
        os.replace(part.name, record)
    except OSError as error:
        raise ForecastDataError(
            f"cannot record the sha256 of {path} in {record} ({error.strerror or error}), against which every "
            f"later load checks it; load it once where {path.parent} is writable, or put the file into a folder "
            "you can write and point FORECAST_DATA at it"
        ) from None
    finally:
        if part is not None:  # moved into place, or left by a failed write
            Path(part.name).unlink(missing_ok=True)


def _mismatch(path: Path, url: str | None, expected: str, actual: str, fix: str) -> ForecastDataError:
    return ForecastDataError(
        f"{path} has sha256 {actual}, not the recorded {expected} (source {url or 'placed by hand'}); {fix}"
    )


def _unreachable(url: str, path: Path, error: Exception) -> FileNotFoundError:
    """The error for a download that never began: offline, or the server answered with an HTTP error."""
    where = f"put it at {path}, where it is picked up"
    if isinstance(error, urllib.error.HTTPError):  # the server answered: not a matter of being offline
        error.close()
        moved = "" if error.filename in (None, url) else f" from {error.filename}, where it redirects"
        return FileNotFoundError(
            f"cannot download {url} (HTTP {error.code} {error.reason}{moved}); try again later or, if the file "
            f"has moved, fetch it elsewhere and {where}"
        )
    reason = getattr(error, "reason", None) or error
    return FileNotFoundError(
        f"cannot download {url} ({reason}); without internet, fetch that file elsewhere and {where}"
    )


def download(url: str, path: Path, sha256: str | None, read: Callable[[Path], T]) -> tuple[T, str]:
    """Download ``url`` to ``path`` with a progress bar, atomically: the file is moved into place only once it
    has ``sha256`` (when given) and ``read`` accepts it.

    Args:
        url: where the file is.
        path: where it is kept.
        sha256: the hash it must have: the registry's, or the one recorded at an earlier download
            (``recorded_sha256``); ``None`` accepts any.
        read: reads the downloaded file (still under a temporary name); raises ``ForecastDataError`` for
            bytes that are not the data set (an error page, a file cut short without a length).

    Returns:
        What ``read`` returned, and the file's sha256.

    Raises:
        FileNotFoundError: the URL cannot be reached (offline), or its server answers with an HTTP error
            (404, 500; the message gives the status, and the URL it redirected to), or the transfer stopped
            before the end of the file (a connection reset or lost, a server that closed early; the message
            says to run it again); the message names the URL and ``path``, where a file put there by hand is
            picked up.
        ForecastDataError: the downloaded bytes do not have ``sha256``, or ``read`` refused them; nothing
            is kept. Or the cache folder cannot be made or written, also when the disk fills mid-way.
    """
    part = _download_part(path)
    try:
        with part:
            actual = _receive(url, path, part)
        if sha256 is not None and actual != sha256:
            fix, record = "the source changed or the transfer was damaged; nothing kept", _record(path)
            if record.is_file():  # the hash recorded at an earlier download
                fix += f" (delete {record} to accept the source as it is now)"
            raise _mismatch(path, url, sha256, actual, fix)
        result = read(Path(part.name))
        try:
            os.replace(part.name, path)
        except OSError as error:
            raise _unwritable(url, path, error) from None
    finally:
        Path(part.name).unlink(missing_ok=True)
    return result, actual


def _receive(url: str, path: Path, part: BinaryIO) -> str:
    """Stream ``url`` into ``part`` with a progress bar; the sha256 of what was received.

    Each failure is told where it happens, so that a network lost while reading is never taken for a
    full disk, nor a full disk for the network.

    Raises:
        FileNotFoundError: the URL cannot be reached, or the transfer stopped before the end of the body.
        ForecastDataError: ``part`` cannot be written (a full disk, a quota).
    """
    try:
        response = urllib.request.urlopen(url, timeout=60)
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError) as error:
        raise _unreachable(url, path, error) from None
    digest = hashlib.sha256()
    size = int(response.headers.get("Content-Length") or 0) or None
    with response, tqdm(total=size, unit="B", unit_scale=True, desc=f"downloading {path.name}") as bar:
        for chunk in _body(response, size, url, path):
            try:
                part.write(chunk)
                part.flush()  # a full disk fails here, not later when the file closes
            except OSError as error:
                raise _unwritable(url, path, error) from None
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _body(response: http.client.HTTPResponse, size: int | None, url: str, path: Path) -> Iterator[bytes]:
    """The body of ``response`` chunk by chunk, to the ``size`` bytes its Content-Length announces (if any).

    Raises:
        FileNotFoundError: the transfer stopped before the end: the connection was reset or lost, it timed
            out, or the server closed it early; naming the URL, ``path``, and how to retry.
    """
    received = 0
    while True:
        try:
            chunk = response.read(_CHUNK)
        except (OSError, http.client.HTTPException) as error:  # reset, no route to host, timeout; a chunked body cut
            raise _interrupted(url, path, error) from None
        if not chunk:
            break
        received += len(chunk)
        yield chunk
    if size is not None and received < size:  # http.client ends a body cut short quietly
        raise _interrupted(url, path, f"the server closed the connection after {received} of {size} bytes")


def _interrupted(url: str, path: Path, cause: object) -> FileNotFoundError:
    """The error for a download that stopped part-way: the network, not the disk, and worth another try."""
    return FileNotFoundError(
        f"the download of {url} was interrupted ({cause}); nothing kept at {path}: "
        f"load the data set again to retry (the download starts over), or fetch the file elsewhere and put it "
        f"at {path}, where it is picked up"
    )


def _unwritable(url: str, path: Path, error: OSError) -> ForecastDataError:
    """The error for a download that cannot be written into the cache folder: a full disk, a quota."""
    return ForecastDataError(
        f"cannot write the download of {url} into {path.parent} ({error.strerror or error}); nothing kept: "
        "free some space there, or point FORECAST_DATA at another folder"
    )


def check(path: Path, sha256: str | None, url: str | None) -> str:
    """Check the file at ``path`` against ``sha256`` (``recorded_sha256``'s answer; ``None`` accepts any).

    Returns:
        The file's sha256.

    Raises:
        ForecastDataError: the file's hash differs (the message names both hashes and the fix), or it cannot
            be read.
    """
    try:
        actual = _sha256(path)
    except OSError as error:
        raise _unreadable(path, error) from None
    if sha256 is not None and actual != sha256:
        record = _record(path)
        if url is None:  # placed by hand: nothing to download again
            fix = f"put the literature's file back, or delete {record} to accept this one"
        elif record.is_file():  # recorded at the first download or use: a file put there by hand may replace it
            fix = f"delete {path} and {record} to download it again, or only {record} to accept this file"
        else:
            fix = f"delete {path} to download it again"
        raise _mismatch(path, url, sha256, actual, fix)
    return actual
