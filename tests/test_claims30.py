"""The fixes that refusals of messy data suggest, run as a user would paste them: each must make the data read,
with the values that were meant."""

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit

TIMES = pd.date_range("2024-01-01", periods=12, freq="h")
CHECKPOINT = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"  # a quantile GRU: y; load past, price future


def data(source: pd.DataFrame) -> TimeSeriesDataModule:
    module = TimeSeriesDataModule(source, lookback=4, horizon=2, split=FractionSplit(val=0.2, test=0.2))
    module.setup("fit")
    return module


def refusal(source: pd.DataFrame) -> str:
    with pytest.raises(ForecastDataError) as caught:
        data(source)
    return str(caught.value)


def run_fix(code: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` after the statement ``code`` of a message, run with ``frame`` and ``pandas`` in scope."""
    scope = {"frame": frame.copy(), "pandas": pd}
    exec(code, scope)
    return scope["frame"]


@pytest.mark.parametrize(
    "values",
    [
        pd.array([f"1,{step:03d}.5" for step in range(12)], dtype="str"),  # as pandas.read_csv gives quoted numbers
        np.array([*np.arange(6) + 1000.5, *[f"1,{step:03d}.5" for step in range(6, 12)]], dtype=object),  # mixed
    ],
    ids=["text", "numbers and text"],
)
def test_the_frame_conversion_a_comma_refusal_gives_keeps_every_number(values):
    """A column of numbers among text written with commas (a frame joined from two sources) was made NaN where it
    held numbers by the suggested ``frame[...].str.replace``: ``.str`` gives NaN for each value that is no text."""
    frame = pd.DataFrame({"time": TIMES, "y": values})
    message = refusal(frame)
    code = re.search(r"frame\['y'\] = pandas\.to_numeric\(.*?\)\)", message)
    assert code is not None, message
    fixed = run_fix(code[0], frame)
    np.testing.assert_array_equal(fixed["y"].to_numpy(), np.arange(12) + 1000.5)
    assert len(data(fixed).dataset("train")) > 0


def test_ids_with_spaces_around_them_read_as_one_series_after_the_strip_the_refusal_gives():
    ids = np.where(np.arange(12) % 2, "a ", "a")  # 'a' and 'a ' in turn: one hourly series, padded by hand
    frame = pd.DataFrame({"id": ids, "time": TIMES, "y": np.arange(12.0)})
    code = re.search(r"\((frame\['id'\] = .*?\(\))\)$", refusal(frame))
    assert code is not None
    module = data(run_fix(code[1], frame))
    assert module.series_names == ["a"]


def test_a_header_repeated_among_the_rows_reads_after_the_rows_the_refusal_drops():
    """A file joined with its header repeated: the refusal's filter, then ``pandas.to_numeric`` of the values."""
    frame = pd.DataFrame({"time": TIMES.astype(str), "y": np.arange(12).astype(str)})
    frame = pd.concat([frame[:7], pd.DataFrame({"time": ["time"], "y": ["y"]}), frame[7:]], ignore_index=True)
    code = re.search(r"\((frame = frame\[.*?\])\)", refusal(frame))
    assert code is not None
    fixed = run_fix(code[1], frame)
    fixed["y"] = pd.to_numeric(fixed["y"])
    module = data(fixed)
    assert module.series_names == ["0"] and len(module.dataset("train")) > 0


@pytest.mark.slow  # a local Spark session: about 10 s to start
@pytest.mark.parametrize("kind", ["boolean", "timestamp", "date"])
def test_a_spark_covariate_of_no_numbers_becomes_numbers_by_a_conversion_the_refusal_gives(session, kind):
    """A date covariate was refused with ``.cast('double')`` as the fix, which Spark refuses for dates
    ("cannot cast DATE to DOUBLE"): one of the conversions the message gives must make the column numbers."""
    from pyspark.sql import functions
    from pyspark.sql.types import NumericType

    from forecast import spark

    values = {"boolean": "true", "timestamp": "timestamp'2024-01-31 06:00:00'", "date": "date'2024-01-31'"}
    frame = session.sql(
        f"select 'a' as id, timestamp'2024-01-01' as time, 1.0d as y, {values[kind]} as load, 2.0d as price"
    )
    with pytest.raises(ForecastDataError, match="column 'load' holds values of type") as caught:
        spark.predict(frame, CHECKPOINT)
    made = []
    for code in re.findall(r"frame\.withColumn\('load', .*?\)\)(?=\s|$)", str(caught.value)):
        try:
            converted = eval(code, {"frame": frame, "functions": functions})
        except Exception:  # Spark's AnalysisException: a conversion that this type has not
            continue
        made.append(isinstance(converted.schema["load"].dataType, NumericType))
    assert any(made), str(caught.value)
