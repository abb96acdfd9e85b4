import gzip
import hashlib
from importlib import resources

import pandas as pd
import pytest

from forecast import datasets

ETTH1_SHA256 = "f18de3ad269cef59bb07b5438d79bb3042d3be49bdeecf01c1cd6d29695ee066"


def test_etth1_is_packaged_unmodified():
    data = gzip.decompress((resources.files("forecast.datasets") / "etth1.csv.gz").read_bytes())
    assert hashlib.sha256(data).hexdigest() == ETTH1_SHA256


def test_load_etth1_has_hourly_datetime_index():
    frame = datasets.load("ETTh1")
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.freqstr == "h"
    assert (frame.index[0], frame.index[-1]) == (pd.Timestamp("2016-07-01 00:00"), pd.Timestamp("2018-06-26 19:00"))
    assert list(frame.columns) == ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    assert frame.iloc[0]["OT"] == pytest.approx(30.5310001373291)


def test_load_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="'etth1'"):
        datasets.load("etth9")
