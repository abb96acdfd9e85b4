"""A refusal of numbers written with commas offers what the user can run on the source they gave: the
``pandas.read_csv`` options for a CSV file, the conversion of the column for a DataFrame or a Parquet file
(which ``pandas.read_csv`` cannot read)."""

import re

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit

TIMES = pd.date_range("2024-01-01", periods=12, freq="h")
WRITTEN = {"thousands": ("1,{step:03d}.5", 1000.5), "decimal comma": ("{step},5", 0.5)}


def refusal(source) -> str:
    with pytest.raises(ForecastDataError) as caught:
        TimeSeriesDataModule(source, lookback=4, horizon=2, split=FractionSplit(val=0.2, test=0.2))
    return str(caught.value)


def conversions(message: str) -> list[str]:
    """The statements converting column 'y' that ``message`` offers."""
    return re.findall(r"frame\['y'\] = pandas\.to_numeric\(.*?\)\)", message)


def run_fix(code: str, frame: pd.DataFrame) -> np.ndarray:
    """Column 'y' of ``frame`` after the statement ``code``, run with ``frame`` and ``pandas`` in scope."""
    scope = {"frame": frame.copy(), "pandas": pd}
    exec(code, scope)
    return scope["frame"]["y"].to_numpy()


def commas(written: str) -> pd.DataFrame:
    return pd.DataFrame({"time": TIMES, "y": [written.format(step=step) for step in range(12)]})


@pytest.mark.parametrize(("written", "offset"), WRITTEN.values(), ids=WRITTEN.keys())
def test_a_frame_of_numbers_with_commas_is_offered_the_conversion_of_its_column_not_read_csv(written, offset):
    """A DataFrame was told to read it with ``pandas.read_csv(path, ...)``: there is no file to read."""
    frame = commas(written)
    message = refusal(frame)
    assert "read_csv" not in message, message
    assert "convert them with frame['y'] = " in message
    [code] = conversions(message)
    np.testing.assert_array_equal(run_fix(code, frame), np.arange(12) + offset)


def test_a_frame_of_commas_of_either_meaning_is_offered_a_conversion_for_each():
    frame = commas("1,{step:03d}")  # 1,000 to 1,011: a thousand and more, or one and a fraction
    message = refusal(frame)
    assert "read_csv" not in message, message
    thousands, decimals = conversions(message)
    np.testing.assert_array_equal(run_fix(thousands, frame), np.arange(12) + 1000.0)
    np.testing.assert_allclose(run_fix(decimals, frame), 1 + np.arange(12) / 1000)


def test_a_parquet_file_of_numbers_with_commas_is_offered_the_conversion_of_its_column(tmp_path):
    path = tmp_path / "export.parquet"
    commas(WRITTEN["thousands"][0]).to_parquet(path)
    message = refusal(path)
    assert "read_csv" not in message, message
    [code] = conversions(message)
    np.testing.assert_array_equal(run_fix(code, pd.read_parquet(path)), np.arange(12) + 1000.5)


def test_a_csv_file_of_numbers_with_commas_is_offered_read_csv_and_the_conversion(tmp_path):
    path = tmp_path / "export.csv"
    commas(WRITTEN["decimal comma"][0]).to_csv(path, index=False)
    message = refusal(path)
    assert "read them with pandas.read_csv(path, decimal=',') or frame['y'] = " in message, message
    np.testing.assert_array_equal(pd.read_csv(path, decimal=",")["y"].to_numpy(), np.arange(12) + 0.5)
    [code] = conversions(message)
    np.testing.assert_array_equal(run_fix(code, pd.read_csv(path)), np.arange(12) + 0.5)
