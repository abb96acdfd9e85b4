"""Hand mutation testing, round 5: tests for the mutants of the input path (how a user's frame or file becomes
series: ``frames``, ``times``, ``files``, ``validate``, ``options``, ``buffer``) that the suite let through. Each
fails under its mutant and passes on the real code."""

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Columns, ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.data.buffer import SeriesBuffer, season_means
from forecast.data.sources import read_source
from forecast.data.validate import check_naive_scale

pytestmark = pytest.mark.filterwarnings("ignore")  # the scalers' notes on targets of few training values

HOURS = pd.date_range("2024-01-01", periods=10, freq="h")


def long(**series: dict[str, np.ndarray]) -> pd.DataFrame:
    """A long frame of hourly series, each given by its columns."""
    parts = [
        pd.DataFrame({"id": name, "time": HOURS[: len(next(iter(cols.values())))], **cols})
        for name, cols in series.items()
    ]
    return pd.concat(parts, ignore_index=True)


def test_a_series_without_any_target_is_refused_as_having_zero_rows_not_fewer():
    """Series B holds only future covariates, no target: it has 0 rows to train on, which the refusal states (a
    count below zero would be no count)."""
    frame = long(A={"y": np.arange(10.0), "f": np.arange(10.0)}, B={"y": np.full(10, np.nan), "f": np.arange(10.0)})
    columns = Columns(targets=["y"], future_covariates=["f"])
    with pytest.raises(ForecastDataError, match=r"1 series shorter than lookback \+ horizon = 5 rows: 'B' \(0 rows\)"):
        TimeSeriesDataModule(frame, lookback=3, horizon=2, columns=columns)


def test_an_infinite_value_is_left_to_the_nan_policy_not_refused_as_beyond_float32():
    """An infinite target is a bad value that ``nan_policy: ffill`` repairs (as pandas' ffill does), not a finite
    number too large for float32."""
    y = np.arange(10.0)
    y[5] = np.inf
    frame = pd.DataFrame({"y": y}, index=HOURS.rename("time"))
    module = TimeSeriesDataModule(frame, lookback=3, horizon=2, nan_policy="ffill")
    expected = pd.Series(y).replace(np.inf, np.nan).ffill().to_numpy()
    np.testing.assert_array_equal(module.table.values["y"], expected)
    with pytest.raises(ForecastDataError, match=r"value inf at column 'y', row 5.*set data.nan_policy"):
        TimeSeriesDataModule(frame, lookback=3, horizon=2)


def test_a_missing_value_on_the_first_row_of_a_later_series_names_that_series():
    """Row 10 is series B's first row: the refusal names B, not A, whose rows end at row 9."""
    frame = long(A={"y": np.arange(10.0)}, B={"y": np.arange(10.0)})
    frame.loc[10, "y"] = np.nan
    with pytest.raises(ForecastDataError, match=r"value nan at column 'y', series 'B', row 10, time 2024-01-01 00:00"):
        TimeSeriesDataModule(frame, lookback=3, horizon=2)


def test_a_text_column_is_refused_naming_its_first_value_that_is_no_number_not_a_missing_one():
    """Row 0 is empty (a missing value, for the nan_policy), row 3 holds 'x': the refusal names 'x' at row 3."""
    values = np.array([None, "1", "2", "x", "4", "5", "6", "7", "8", "9"], dtype=object)
    frame = pd.DataFrame({"y": values}, index=HOURS.rename("time"))
    with pytest.raises(ForecastDataError, match=r"it holds 'x' at column 'y', row 3"):
        TimeSeriesDataModule(frame, lookback=3, horizon=2, nan_policy="ffill")


def test_ids_python_takes_as_equal_are_refused_naming_both_even_when_only_two_texts_meet():
    """The ids 1 and 1.0 read '1' and '1.0', yet pandas groups them as one series: refused, naming both."""
    ids = pd.Series([1] * 5 + [1.0] * 5, dtype=object)
    frame = pd.DataFrame({"id": ids, "time": HOURS, "y": np.arange(10.0)})
    with pytest.raises(ForecastDataError, match=r"the ids 1 \(int, row 0\) and 1.0 \(float, row 5\) of column 'id'"):
        TimeSeriesDataModule(frame, lookback=3, horizon=2)


def test_a_column_of_numbers_written_with_commas_among_plain_numbers_gets_the_comma_hint():
    """'1,000' beside '5': every value reads as a number once its commas are read as thousands separators, which
    the refusal says, with the conversion that reads them (checked here against pandas itself)."""
    texts = ["1,000", "5", "2,500", "7", "8", "9", "1,100", "3", "4", "6"]
    frame = pd.DataFrame({"y": texts}, index=HOURS.rename("time"))
    converted = pd.to_numeric(frame["y"].astype(str).str.replace(",", ""))
    assert converted.notna().all() and converted.iloc[0] == 1000.0
    hint = r"its numbers are written with commas: convert them with frame\['y'\] = pandas.to_numeric\(frame\['y'\]"
    with pytest.raises(
        ForecastDataError, match=hint + r".*str.replace\(',', ''\)\) where the commas separate thousands"
    ):
        TimeSeriesDataModule(frame, lookback=3, horizon=2)


def test_a_future_covariate_missing_on_a_future_row_is_refused_and_repaired_by_the_nan_policy():
    """Rows 8 and 9 carry only the future covariate f (the horizon after the data); f is missing on row 9. Its
    targets are unknown there by design, but f is an input of the forecast: refused under ``nan_policy: error``,
    and forward filled (as pandas' ffill) under ``ffill``."""
    y = np.r_[np.arange(8.0), np.nan, np.nan]
    f = np.r_[np.arange(9.0), np.nan]
    frame = pd.DataFrame({"id": "A", "time": HOURS, "y": y, "f": f})
    columns = Columns(targets=["y"], future_covariates=["f"])
    with pytest.raises(ForecastDataError, match=r"value nan at column 'f', series 'A', row 9"):
        TimeSeriesDataModule(frame, lookback=3, horizon=2, columns=columns)
    module = TimeSeriesDataModule(frame, lookback=3, horizon=2, columns=columns, nan_policy="ffill")
    np.testing.assert_array_equal(module.table.values["f"], pd.Series(f).ffill().to_numpy())


def test_column_names_given_as_a_tuple_are_taken_in_their_order():
    """A tuple of names is an ordered list of them (``options._check_names`` takes a list or tuple): the target
    channels follow its order."""
    frame = pd.DataFrame({"a": np.arange(10.0), "b": np.arange(10.0) * 2}, index=HOURS.rename("time"))
    columns = Columns(targets=("b", "a"))
    module = TimeSeriesDataModule(frame, lookback=3, horizon=2, columns=columns)
    assert module.targets == ["b", "a"]


def test_a_history_that_ends_after_its_last_target_is_refused_naming_the_last_row_of_its_past_covariate():
    """Targets end at row 5; the past covariate p goes on to row 7: predict refuses, naming row 7's time, up to
    which the targets are to be filled."""
    y = np.r_[np.arange(6.0), np.full(4, np.nan)]
    p = np.r_[np.arange(8.0), np.nan, np.nan]
    frame = pd.DataFrame({"y": y, "p": p, "f": np.arange(10.0)}, index=HOURS.rename("time"))
    columns = Columns(targets=["y"], past_covariates=["p"], future_covariates=["f"])
    module = TimeSeriesDataModule(frame, lookback=3, horizon=2, columns=columns)
    last = HOURS[np.flatnonzero(~np.isnan(p))[-1]]
    with pytest.raises(ForecastDataError, match=rf"holds past covariate 'p' at {last} .*fill its targets up to {last}"):
        module.setup("predict")


def test_a_headerless_csv_column_that_holds_some_values_is_read_as_pandas_reads_it(tmp_path):
    """Only a headerless column without any value (a separator ending every line) is left out; one that holds
    values on some rows is data, read as pandas reads it."""
    path = tmp_path / "wide.csv"
    path.write_text("time,y,\n2024-01-01 00:00,1,5\n2024-01-01 01:00,2,\n2024-01-01 02:00,3,7\n")
    frame, _ = read_source(path, "id", "time")
    expected = pd.read_csv(path, index_col="time")
    assert list(frame.columns) == list(expected.columns) == ["y", "Unnamed: 2"]
    np.testing.assert_array_equal(frame["Unnamed: 2"].to_numpy(), expected["Unnamed: 2"].to_numpy())


def test_a_parquet_file_filtered_to_series_it_lacks_names_those_series_not_an_empty_file(tmp_path):
    path = tmp_path / "sales.parquet"
    long(a={"y": np.arange(10.0)}, b={"y": np.arange(10.0)}).to_parquet(path, index=False)
    with pytest.raises(ForecastDataError, match=r"data.series names series \['c'\] that column 'id' of the data lacks"):
        TimeSeriesDataModule(path, lookback=3, horizon=2, columns=Columns(targets=["y"]), series=["c"])


def test_a_role_naming_a_csv_column_by_a_number_is_told_the_name_to_give(tmp_path):
    """The file's column is '5', the text; a role naming the number 5 is told to give '5'."""
    path = tmp_path / "wide.csv"
    pd.DataFrame({"time": HOURS, "5": np.arange(10.0)}).to_csv(path, index=False)
    with pytest.raises(
        ForecastDataError, match=r"targets column 5 is not in the data; .*\(names are read as text: give '5'\)"
    ):
        TimeSeriesDataModule(path, lookback=3, horizon=2, columns=Columns(targets=[5]))


def test_a_written_index_column_that_a_role_names_is_read_not_left_out(tmp_path):
    """``DataFrame.to_csv`` writes the index as a first column of empty header, 'Unnamed: 0' once read; left out
    unless a role names it, as here: then it is read, the row numbers as written."""
    path = tmp_path / "sales.csv"
    written = long(a={"y": np.arange(10.0)}, b={"y": np.arange(10.0)})
    written.to_csv(path)
    frame, _ = read_source(path, "id", "time", ["y", "Unnamed: 0"])
    assert "Unnamed: 0" in frame.columns
    np.testing.assert_array_equal(frame["Unnamed: 0"].to_numpy(), written.index.to_numpy())


def test_a_file_with_no_targets_named_forecasts_every_column_no_role_takes(tmp_path):
    """Columns naming only a past covariate: the file's other value columns are the targets, as for a frame."""
    path = tmp_path / "wide.csv"
    values = pd.DataFrame({"time": HOURS, "y": np.arange(10.0), "z": np.arange(10.0) * 2, "p": np.ones(10)})
    values.to_csv(path, index=False)
    columns = Columns(past_covariates=["p"])
    from_file = TimeSeriesDataModule(path, lookback=3, horizon=2, columns=columns)
    from_frame = TimeSeriesDataModule(values.set_index("time"), lookback=3, horizon=2, columns=columns)
    assert from_file.targets == from_frame.targets == ["y", "z"]


def test_a_bool_static_is_a_category_encoded_by_its_place_among_the_sorted_categories():
    """Series A, B, C have the static s True, False, True: categories 'False', 'True' (sorted as text), so the
    series' codes are 1, 0, 1; not the numbers 1.0, 0.0 scaled."""
    y = {"y": np.arange(10.0)}
    frame = long(A=y, B=y, C=y)
    frame["s"] = np.repeat([True, False, True], 10)
    columns = Columns(targets=["y"], static_covariates=["s"])
    module = TimeSeriesDataModule(frame, lookback=2, horizon=1, columns=columns, split=FractionSplit(0.3, 0.3))
    module.setup("fit")
    per_series = frame.groupby("id")["s"].first()
    categories = sorted({str(value) for value in per_series})
    assert module.vocabularies == {"s": categories}
    expected = [categories.index(str(value)) for value in per_series]
    np.testing.assert_array_equal(module.static[:, 0].numpy(), expected)


def test_season_means_centre_on_the_mean_over_the_positions_that_occur():
    """Period 3, training rows at positions 0 and 1 only (values 2 and 4): the profile is each position's mean
    less the mean over positions 0 and 1 (3), and 0 at position 2, which never occurs."""
    values = torch.tensor([[2.0, 0.0], [4.0, 1.0], [9.0, 2.0]])
    buffer = SeriesBuffer(values, offsets=np.array([0]), future_rows=np.zeros(1, dtype=int))
    means = pd.Series([2.0, 4.0]).groupby([0, 1]).mean()
    expected = np.r_[means - means.mean(), 0.0][:, None]
    np.testing.assert_allclose(season_means(buffer, np.array([2]), targets=1, channel=1, period=3), expected)


def test_a_series_with_no_more_training_rows_than_the_seasonal_period_is_refused():
    """MASE's scale is the mean of |y[t] - y[t - m]| over training rows: 4 rows and m = 4 give no pair."""
    scale = np.array([[np.nan], [1.0]])
    with pytest.raises(ForecastDataError, match=r"series 'A' \(4 training rows\) have too few for MASE with data"):
        check_naive_scale(np.array([4, 8]), 4, ["A", "B"], scale)


def test_wide_data_of_exactly_lookback_plus_horizon_rows_is_enough():
    frame = pd.DataFrame({"y": np.arange(5.0)}, index=HOURS[:5].rename("time"))
    module = TimeSeriesDataModule(frame, lookback=3, horizon=2)
    np.testing.assert_array_equal(module.table.values["y"], np.arange(5.0))
