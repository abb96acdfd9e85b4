"""Messy CSV files as users export them, read by the data module and by pandas: ids padded with spaces, numbers
written with commas, a header repeated among the rows, a series of another step than the others; and the
mess that reads as pandas reads it (a byte order mark, trailing empty lines, the same time in two series)."""

import numpy as np
import pandas as pd
import pytest

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit

TIMES = pd.date_range("2024-01-01", periods=12, freq="h")


def data(source, **options) -> TimeSeriesDataModule:
    return TimeSeriesDataModule(source, lookback=4, horizon=2, split=FractionSplit(val=0.2, test=0.2), **options)


def long_csv(ids=("a", "b"), values=None, times=TIMES) -> str:
    """A long CSV of one hourly series per id, ``y`` written by ``values(series, step)`` (default: a number)."""
    write = values or (lambda series, step: str(10 * series + step))
    lines = [
        f"{name},{time},{write(series, step)}" for series, name in enumerate(ids) for step, time in enumerate(times)
    ]
    return "\n".join(["id,time,y", *lines]) + "\n"


def test_ids_that_differ_only_in_spaces_around_them_are_refused_naming_both(tmp_path):
    """'a' and 'a ' in turn were read as two series of two-hour steps each, silently, the frequency inferred as 2h."""
    path = tmp_path / "sales.csv"
    lines = long_csv().splitlines()
    lines[1:] = [line.replace(",", " ,", 1) if step % 2 else line for step, line in enumerate(lines[1:])]
    path.write_text("\n".join(lines) + "\n")
    assert pd.read_csv(path)["id"].nunique() == 4  # pandas keeps 'a ' apart from 'a'
    with pytest.raises(ForecastDataError, match=r"the ids 'a' \(row 0\) and 'a ' \(row 1\) of column 'id' differ only"):
        data(path)


@pytest.mark.parametrize(
    ("written", "reading", "expected"),
    [("1,{step:03d}.5", "thousands=','", 1000.5), ("{step},5", "decimal=','", 0.5)],
    ids=["thousands", "decimal comma"],
)
def test_quoted_numbers_with_commas_are_refused_with_the_reading_that_reads_them(tmp_path, written, reading, expected):
    path = tmp_path / "export.csv"
    path.write_text(long_csv(values=lambda series, step: '"' + written.format(step=step) + '"'))
    with pytest.raises(ForecastDataError, match=rf"numbers are written with commas: read them with .*{reading}"):
        data(path)
    given = pd.read_csv(path, **{reading.split("=")[0]: ","})  # the reading the message gives
    np.testing.assert_allclose(given["y"].to_numpy(), np.tile(np.arange(12.0), 2) + expected)


def test_commas_of_both_meanings_are_offered_both_readings(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(long_csv(values=lambda series, step: f'"1,{step:03d}"'))
    message = r"thousands=','\).* where the commas separate thousands; or .*decimal=','\).* where the commas mark dec"
    with pytest.raises(ForecastDataError, match=message):
        data(path)


def test_semicolons_with_thousands_points_are_refused_with_the_reading_that_reads_them(tmp_path):
    """'1.000,5' is no decimal comma to a pattern of digits, comma, digits: the reading lacked decimal and thousands."""
    path = tmp_path / "export.csv"
    lines = [
        f"{time};{1000 + step:,}.5".replace(",", " ").replace(".", ",").replace(" ", ".")
        for step, time in enumerate(TIMES)
    ]
    path.write_text("\n".join(["time;y", *lines]) + "\n")
    with pytest.raises(ForecastDataError, match=r"pandas.read_csv\(path, sep=';', decimal=',', thousands='.'\)$"):
        data(path)
    given = pd.read_csv(path, sep=";", decimal=",", thousands=".")  # the fix the message gives reads it
    np.testing.assert_array_equal(given["y"].to_numpy(), np.arange(12.0) + 1000.5)


def test_a_comma_that_splits_a_number_of_the_first_row_is_named(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("time,y\n" + "".join(f"{time},{1000 + step:,}\n" for step, time in enumerate(TIMES)))
    with pytest.raises(ForecastDataError, match=r"or, if '1,000' is one number, the comma splits it: write"):
        data(path)


def test_a_comma_that_splits_a_number_of_a_later_line_is_named_by_the_line(tmp_path):
    """pandas' "Error tokenizing data" came with the fix "give a CSV file with a header row", which it had."""
    path = tmp_path / "wide.csv"
    path.write_text("time,y\n" + "".join(f"{time},{995 + step:,}\n" for step, time in enumerate(TIMES)))
    line = next(number for number, text in enumerate(path.read_text().splitlines(), 1) if text.count(",") > 1)
    with pytest.raises(
        ForecastDataError, match=rf"wide.csv': line {line} .* holds 3 values, and the header 2 names; quote"
    ):
        data(path)


@pytest.mark.parametrize("long", [True, False], ids=["long", "wide"])
def test_a_header_repeated_among_the_rows_is_named_so(tmp_path, long):
    path = tmp_path / "joined.csv"
    text = long_csv() if long else "time,y\n" + "".join(f"{time},{step}\n" for step, time in enumerate(TIMES))
    lines = text.splitlines()
    path.write_text("\n".join([*lines[:7], lines[0], *lines[7:]]) + "\n")
    with pytest.raises(
        ForecastDataError, match=r"holds its own name 'time' at column 'time', row 6: the header repeated"
    ):
        data(path)


def test_a_series_of_another_step_than_the_others_is_refused_as_such_not_as_a_gap(tmp_path):
    path = tmp_path / "sales.csv"
    hourly = long_csv(ids=("a",)).splitlines()
    two_hourly = long_csv(ids=("b",), times=pd.date_range("2024-01-01", periods=12, freq="2h")).splitlines()
    path.write_text("\n".join([*hourly, *two_hourly[1:]]) + "\n")
    with pytest.raises(ForecastDataError, match=r"series 'b' steps 2h from its first row to its last, not by .* 'h'"):
        data(path)


def test_a_gap_in_a_series_is_still_a_gap_to_fill(tmp_path):
    path = tmp_path / "sales.csv"
    lines = long_csv().splitlines()
    path.write_text("\n".join(lines[:7] + lines[8:]) + "\n")
    with pytest.raises(
        ForecastDataError, match=r"series 'a', row 6, .* does not follow frequency 'h' .*; fill the gap"
    ):
        data(path)


def test_a_byte_order_mark_trailing_empty_lines_and_a_time_shared_by_two_series_read_as_pandas_reads_them(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(long_csv().encode("utf-8-sig") + b"\n\n")
    module = data(path, columns=Columns(targets=["y"]))
    given = pd.read_csv(path, encoding="utf-8-sig", parse_dates=["time"])
    assert module.table.names == ["a", "b"]
    np.testing.assert_array_equal(module.table.times, given["time"])
    np.testing.assert_array_equal(module.table.values["y"], given["y"].to_numpy(float))


def test_a_series_of_two_rows_with_one_gap_is_a_gap_not_a_frequency_of_its_own(tmp_path):
    """Rows at 00:00 and 02:00 among hourly series: one step says nothing of a frequency."""
    path = tmp_path / "sales.csv"
    hourly = long_csv(ids=("a",)).splitlines()
    short = long_csv(ids=("b",), times=pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 02:00"])).splitlines()
    path.write_text("\n".join([*hourly, *short[1:]]) + "\n")
    with pytest.raises(ForecastDataError, match=r"series 'b'.* does not follow frequency 'h' .*; fill the gap"):
        data(path)
