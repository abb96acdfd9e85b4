"""Files of the data sets in a cache folder: downloaded once, written atomically, checked by sha256 on every load.

A download streams into a temporary ``*.part`` file beside its target and is moved into place with
``os.replace`` only once it is complete and its hash is right, so a killed or failed download never
leaves a file under the data set's name: a leftover ``*.part`` is ignored, and may be deleted. A file
without a hash in the registry gets one recorded beside it (``<file>.sha256.json``) at its first
download or first use; later loads check the file against that record.
"""

import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from ..errors import ForecastDataError

__all__ = ["cache_dir", "download", "check"]

_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The folder of downloaded data sets: ``$FORECAST_DATA``, else ``~/.cache/forecast``.

    Read on every call, so a changed ``FORECAST_DATA`` takes effect at once.
    """
    return Path(os.environ.get("FORECAST_DATA") or Path.home() / ".cache" / "forecast")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _record(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _write_record(path: Path, url: str | None, sha256: str) -> None:
    """Record ``path``'s hash beside it, atomically (several processes may load at once)."""
    record = _record(path)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=record.name + ".", suffix=".part", delete=False) as file:
        file.write(json.dumps({"url": url, "sha256": sha256}).encode())
    os.replace(file.name, record)


def _mismatch(path: Path, url: str | None, expected: str, actual: str, fix: str) -> ForecastDataError:
    return ForecastDataError(
        f"{path} has sha256 {actual}, not the recorded {expected} (source {url or 'placed by hand'}); {fix}"
    )


def download(url: str, path: Path, sha256: str | None) -> None:
    """Download ``url`` to ``path`` with a progress bar, atomically, checking ``sha256`` when given.

    Without ``sha256`` the hash of what arrived is recorded beside ``path`` for later checks.

    Raises:
        FileNotFoundError: the URL cannot be reached (offline, or the server refused); the message
            names the URL and ``path``, where a file put there by hand is picked up.
        ForecastDataError: the downloaded bytes do not have the recorded ``sha256``; nothing is kept.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    part = tempfile.NamedTemporaryFile(dir=path.parent, prefix=path.name + ".", suffix=".part", delete=False)
    try:
        with part, urllib.request.urlopen(url, timeout=60) as response:
            size = int(response.headers.get("Content-Length") or 0) or None
            received = 0
            with tqdm(total=size, unit="B", unit_scale=True, desc=f"downloading {path.name}") as bar:
                while chunk := response.read(_CHUNK):
                    part.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if size is not None and received != size:  # http.client ends a cut-off body quietly
                raise http.client.IncompleteRead(b"", size - received)
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256:
            raise _mismatch(path, url, sha256, actual, "the source changed or the transfer was damaged; nothing kept")
        os.replace(part.name, path)
    except (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError) as error:
        raise FileNotFoundError(
            f"cannot download {url} ({getattr(error, 'reason', None) or error}); without internet, fetch that file "
            f"elsewhere and put it at {path}, where it is picked up"
        ) from None
    finally:
        Path(part.name).unlink(missing_ok=True)
    if sha256 is None:
        _write_record(path, url, actual)


def check(path: Path, sha256: str | None, url: str | None) -> None:
    """Check ``path`` against ``sha256``, else against the hash recorded beside it, else record it now.

    Raises:
        ForecastDataError: the file's hash differs from the recorded one; the message names both
            hashes and the file to delete for a fresh download.
    """
    actual = _sha256(path)
    record = _record(path)
    if sha256 is None and record.is_file():
        sha256 = json.loads(record.read_text())["sha256"]
    if sha256 is None:
        _write_record(path, url, actual)
    elif actual != sha256:
        fix = f"delete {path}" + (f" and {record}" if record.is_file() else "") + " to download it again"
        raise _mismatch(path, url, sha256, actual, fix)
