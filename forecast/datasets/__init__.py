"""Data sets that ship inside the package, so the main job needs no download and no path."""

from importlib import resources

import pandas as pd

__all__ = ["load", "names"]

_FILES = {"etth1": "etth1.csv.gz"}


def names() -> list[str]:
    """Names accepted by :func:`load`."""
    return sorted(_FILES)


def load(name: str) -> pd.DataFrame:
    """Load a built-in data set as a wide DataFrame with a DatetimeIndex.

    ETTh1 is redistributed unmodified under CC BY-ND 4.0; see ``LICENSE.md`` beside this module
    for the source and the credit (Zhou et al., "Informer", AAAI 2021).

    Args:
        name: one of :func:`names` (case-insensitive), e.g. ``"etth1"``.

    Raises:
        ValueError: the name is not a built-in data set.

    Example:
        >>> frame = load("etth1")
        >>> frame.shape, frame.index.freqstr, list(frame.columns)[-1]
        ((17420, 7), 'h', 'OT')
    """
    file = _FILES.get(name.lower())
    if file is None:
        raise ValueError(f"unknown data set {name!r}; the built-in ones are {names()}")
    with resources.as_file(resources.files(__name__) / file) as path:
        frame = pd.read_csv(path, index_col="date", parse_dates=["date"])
    return frame.asfreq(pd.DatetimeIndex(frame.index, freq="infer").freq)
