"""The long-horizon benchmark's data sets by name: ETTh1 ships in the package, the rest download on first use.

``load("ettm1")`` downloads ``ETTm1.csv`` once into :func:`cache_dir` (``$FORECAST_DATA``, default
``~/.cache/forecast``) and reads it from there afterwards, checking its sha256 each time;
``--data.source ettm1`` does the same through the data module. ``info(name)`` gives a data set's
source, frequency, split preset, licence and citation. ETTh1 is redistributed unmodified under
CC BY-ND 4.0 (``LICENSE.md`` beside this module), so the main job needs no network.
"""

from importlib import resources

import pandas as pd

from .download import cache_dir, check, download
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

    Example:
        >>> record = info("ettm1")
        >>> record.freq, record.split["init_args"]
        ('15min', {'rows_per_hour': 4})
    """
    dataset = DATASETS.get(name.lower())
    if dataset is None:
        raise ValueError(f"unknown data set {name!r}; the known ones are {names()}")
    return dataset


def load(name: str) -> pd.DataFrame:
    """Load a data set as a wide DataFrame with a DatetimeIndex, downloading it on first use.

    A file already in :func:`cache_dir` under the name ``info(name).file`` is used as it is (after
    its hash check), also one put there by hand.

    Args:
        name: one of :func:`names` (case-insensitive), e.g. ``"etth1"``.

    Raises:
        ValueError: the name is not a known data set.
        FileNotFoundError: the file is not in the cache and cannot be downloaded (offline, or no
            stable source, as for ``weather`` and ``illness``); the message names the URL, if any,
            and the path where a file put there by hand is picked up.
        ForecastDataError: the file's sha256 differs from the recorded one.

    Example:
        >>> frame = load("etth1")
        >>> frame.shape, frame.index.freqstr, list(frame.columns)[-1]
        ((17420, 7), 'h', 'OT')
    """
    dataset = info(name)
    if dataset.name in _SHIPPED:
        with resources.as_file(resources.files(__name__) / _SHIPPED[dataset.name]) as path:
            return read_dated_csv(path, dataset.freq)
    path = cache_dir() / dataset.file
    if path.is_file():
        check(path, dataset.sha256, dataset.url)
    elif dataset.url is None:
        raise FileNotFoundError(
            f"data set {dataset.name!r} has no stable download; put the literature's {dataset.file} "
            f"(the CSV bundle of Autoformer, Wu et al. 2021) at {path}, where it is picked up"
        )
    else:
        download(dataset.url, path, dataset.sha256)
    if dataset.start is None:
        return read_dated_csv(path, dataset.freq)
    return read_headerless(path, dataset.start, dataset.freq)
