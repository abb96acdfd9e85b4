"""The long-horizon benchmark's data sets by name: ETTh1 ships in the package, weather and illness are put
into the cache by hand (they have no stable download), the rest download on first use.

``load("ettm1")`` downloads ``ETTm1.csv`` once into :func:`cache_dir` (``$FORECAST_DATA``, default
``~/.cache/forecast``) and reads it from there afterwards, checking its sha256 each time;
``--data.source ettm1`` does the same through the data module. ``info(name)`` gives a data set's
source, frequency, split preset, licence and citation. ETTh1 is redistributed unmodified under
CC BY-ND 4.0 (``LICENSE.md`` beside this module), so the main job needs no network.
"""

import copy
import dataclasses
import stat
import zlib
from importlib import resources
from pathlib import Path

import pandas as pd

from ..errors import ForecastDataError
from .download import cache_dir, check, download, downloading, record, recorded_sha256
from .readers import read_dated_csv, read_headerless
from .registry import DATASETS, Dataset

__all__ = ["load", "info", "names", "cache_dir", "Dataset"]

_SHIPPED = {"etth1": "etth1.csv.gz"}


def names() -> list[str]:
    """Names accepted by :func:`load` and ``--data.source``."""
    return sorted(DATASETS)


def info(name: str) -> Dataset:
    """The record of a data set: source URL, sha256, frequency, split preset, licence, citation.

    Args:
        name: one of :func:`names` (case-insensitive).

    Raises:
        ValueError: the name is not a known data set.
        TypeError: the name is not a string.

    Example:
        >>> record = info("ettm1")
        >>> record.freq, record.split["init_args"]
        ('15min', {'rows_per_hour': 4})
    """
    if not isinstance(name, str):
        raise TypeError(f"a data set is named by a string, one of {names()}; got {name!r}")
    dataset = DATASETS.get(name.lower())
    if dataset is None:
        raise ValueError(f"unknown data set {name!r}; the known ones are {names()}")
    return dataclasses.replace(dataset, split=copy.deepcopy(dataset.split))  # the caller's to change


def load(name: str) -> pd.DataFrame:
    """Load a data set as a wide DataFrame with a DatetimeIndex, downloading it on first use.

    A file already in :func:`cache_dir` under the name ``info(name).file`` is used as it is (after
    its hash check), also one put there by hand. A file whose times skip or repeat a step (the
    literature's weather CSV repeats one) keeps every row, stamped every ``info(name).freq`` from its
    first time, with a warning: the literature reads these files by row, and the split presets count rows.
    Processes that load a data set missing from the cache at once (DDP ranks, parallel jobs) download it
    once where the file system has ``flock``: one downloads it while the others wait, then read its file.

    Args:
        name: one of :func:`names` (case-insensitive), e.g. ``"etth1"``.

    Raises:
        ValueError: the name is not a known data set.
        TypeError: the name is not a string.
        FileNotFoundError: the file is not in the cache and cannot be downloaded (offline, an HTTP error
            such as 404 or 500, or no stable source, as for ``weather`` and ``illness``); the message names
            the URL, if any, and the path where a file put there by hand is picked up.
        ForecastDataError: the file's sha256 differs from the recorded one, the file (or what was
            downloaded, which is then not kept) is not the data set's layout, or the cache folder
            cannot be created, reached or written (or is a file), or the hash of a file without a registry
            hash cannot be recorded in it.

    Example:
        >>> frame = load("etth1")
        >>> frame.shape, frame.index.freqstr, list(frame.columns)[-1]
        ((17420, 7), 'h', 'OT')
    """
    dataset = info(name)
    if dataset.name in _SHIPPED:
        with resources.as_file(resources.files(__name__) / _SHIPPED[dataset.name]) as path:
            return read_dated_csv(path, dataset.freq)
    path = _cache_folder() / dataset.file
    if path.is_file() or dataset.url is None:
        return _load_cached(dataset, path)
    with downloading(path):  # processes that load it at once: one downloads, the others wait for its file
        if path.is_file():
            return _load_cached(dataset, path)
        return _download(dataset, path)


def _cache_folder() -> Path:
    """:func:`cache_dir`, refused by name when it cannot hold a data set.

    Raises:
        ForecastDataError: the folder is a file, or this user may not enter a folder on its way.
    """
    folder = cache_dir()
    try:
        mode = folder.stat().st_mode  # one look: another process may make the folder at any moment
    except (FileNotFoundError, NotADirectoryError):  # made when a download needs it
        return folder
    except OSError as error:  # a folder on the way that this user may not enter
        raise ForecastDataError(
            f"cannot reach the data cache folder {folder} ({error.strerror or error}); point FORECAST_DATA at a "
            "folder you can read and write"
        ) from None
    if not stat.S_ISDIR(mode):
        raise ForecastDataError(
            f"cannot create the data cache folder {folder}: it is a file, not a folder (FORECAST_DATA, default "
            "~/.cache/forecast); point FORECAST_DATA at a folder you can write"
        )
    return folder


def _load_cached(dataset: Dataset, path: Path) -> pd.DataFrame:
    """The data set's file at ``path``, checked against its hash, which is recorded now if it has none."""
    expected = recorded_sha256(path, dataset.sha256)
    if not path.is_file():
        raise FileNotFoundError(
            f"data set {dataset.name!r} has no stable download; put the literature's {dataset.file} "
            f"(the CSV bundle of Autoformer, Wu et al. 2021) at {path}, where it is picked up"
        )
    sha256 = check(path, expected, dataset.url)
    fix = f"delete it to download it again from {dataset.url}" if dataset.url else "put the literature's file there"
    frame = _read(dataset, path, path, fix)
    if expected is None:
        record(path, dataset.url, sha256)
    return frame


def _download(dataset: Dataset, path: Path) -> pd.DataFrame:
    """The data set downloaded to ``path``, checked against its recorded hash, which is recorded now if it has none."""
    expected = recorded_sha256(path, dataset.sha256)
    fix = f"nothing kept; if the source has moved, fetch the file elsewhere and put it at {path}"
    frame, sha256 = download(dataset.url, path, expected, lambda part: _read(dataset, part, dataset.url, fix))
    if expected is None:
        record(path, dataset.url, sha256)
    return frame


_UNREADABLE = (ValueError, OSError, EOFError, zlib.error)  # pandas' parser errors, gzip's, a file cut short


def _read(dataset: Dataset, path: Path, source: object, fix: str) -> pd.DataFrame:
    """The data set's file at ``path`` as a frame; ``source`` (the file or its URL) and ``fix`` go into the error.

    Raises:
        ForecastDataError: the file is not the data set's layout.
    """
    try:
        if dataset.start is None:
            return read_dated_csv(path, dataset.freq)
        return read_headerless(path, dataset.start, dataset.freq)
    except _UNREADABLE as error:
        layout = "CSV with a time column" if dataset.start is None else "gzip file of comma-separated numbers"
        raise ForecastDataError(f"{source} is not {dataset.name}'s {layout} ({error}); {fix}") from None
