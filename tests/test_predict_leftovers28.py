"""Refusals that name the real cause: ids that pandas joins into one series, and a series with nothing to repair
from in the history given to predict.

The reference for the ids is Python's own equality (``1 == 1.0 == True``, as pandas groups them) against their
text (``str``, as series are named); for the repair, the parts a predict history has (no train, val or test part).
"""

import pickle
import re

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data.validate import UnrepairablePart

LOOKBACK, HORIZON, ROWS = 8, 3, 40


def hourly(ids: list, rows: int = ROWS) -> pd.DataFrame:
    """One series of ``rows`` hours per id, all from one start, the ids kept as given (an object column)."""
    times = pd.date_range("2024-01-01", periods=rows, freq="h")
    parts = [pd.DataFrame({"time": times, "y": np.sin(np.arange(rows) / 3) + k}) for k in range(len(ids))]
    frame = pd.concat(parts, ignore_index=True)
    frame.insert(0, "id", pd.Series([value for value in ids for _ in range(rows)], dtype=object))
    return frame


@pytest.fixture(scope="module")
def model(tmp_path_factory, fit_tiny_gru):
    """A tiny GRU fitted for one batch on series "a" and "b", repairing missing values by forward fill."""
    return fit_tiny_gru(hourly(["a", "b"]), tmp_path_factory.mktemp("fit"), LOOKBACK, HORIZON)


JOINED = [([1, 1.0], "1 (int, row 0) and 1.0 (float, row 40)"),
          ([True, 1], "True (bool, row 0) and 1 (int, row 40)"),
          ([np.int64(1), 1.0], "1 (int64, row 0) and 1.0 (float, row 40)"),
          ([(1, "x"), (1.0, "x")], "(1, 'x') (tuple, row 0) and (1.0, 'x') (tuple, row 40)")]  # fmt: skip


@pytest.mark.parametrize(("ids", "named"), JOINED, ids=["int-float", "bool-int", "numpy-float", "tuples"])
def test_a_data_module_refuses_ids_that_pandas_joins_naming_both_and_their_rows(ids, named):
    assert ids[0] == ids[1] and str(ids[0]) != str(ids[1])  # one group to pandas, two series by name
    message = rf"the ids {re.escape(named)} of column 'id' differ, yet pandas groups them as one series .*"
    message += re.escape("give the column one type of id: frame['id'] = frame['id'].astype(str)")
    with pytest.raises(ForecastDataError, match=message):
        TimeSeriesDataModule(hourly(ids), lookback=LOOKBACK, horizon=HORIZON)


def test_the_rows_named_are_the_first_of_each_id_in_the_frame_as_given():
    frame = hourly([1, 1.0]).sample(frac=1.0, random_state=0)  # shuffled: the module groups and sorts the rows
    frame = frame.sort_values("time", kind="stable").set_index(np.arange(len(frame))[::-1])  # labels are no rows
    first = {kind: int(np.flatnonzero([type(value) is kind for value in frame["id"]])[0]) for kind in (int, float)}
    named = [f"{value!r} ({kind.__name__}, row {row})" for row, kind, value in sorted([(first[int], int, 1),
             (first[float], float, 1.0)])]  # fmt: skip
    with pytest.raises(ForecastDataError, match=re.escape(f"the ids {named[0]} and {named[1]} of column 'id'")):
        TimeSeriesDataModule(frame, lookback=LOOKBACK, horizon=HORIZON)


def test_a_text_id_beside_joined_ones_does_not_hide_them():
    with pytest.raises(ForecastDataError, match=r"the ids 1 \(int, row 0\) and 1.0 \(float, row 40\)"):
        TimeSeriesDataModule(hourly([1, 1.0, "1.0"]), lookback=LOOKBACK, horizon=HORIZON)


def test_ids_equal_as_values_and_as_text_stay_one_series():
    frame = hourly([np.int64(7)]).assign(id=lambda rows: [np.int64(7) if i % 2 else 7 for i in range(len(rows))])
    data = TimeSeriesDataModule(frame, lookback=LOOKBACK, horizon=HORIZON)
    assert data.series_names == ["7"] and data.table.lengths.tolist() == [ROWS]


def test_predict_refuses_ids_that_pandas_joins_naming_both(model):
    with pytest.raises(ForecastDataError, match=r"the ids 1 \(int, row 0\) and 1.0 \(float, row 40\) of column 'id'"):
        model.predict(hourly([1, 1.0]))


def test_predict_says_a_series_without_values_has_none_in_the_history_it_was_given(model):
    history = hourly(["a", "b"], rows=30)
    history.loc[history["id"] == "b", "y"] = np.nan
    with pytest.raises(ForecastDataError) as refused:
        model.predict(history)
    message = str(refused.value)
    assert "column 'y', series 'b', row 30" in message
    assert "before the end of the history given to predict (30 rows into the series)" in message
    assert "train part" not in message and "set nan_policy" not in message  # predict has no train part, no option


def test_fit_still_says_which_part_a_series_has_nothing_to_repair_from():
    frame = hourly(["a", "b"])
    frame.loc[frame["id"] == "b", "y"] = np.nan
    train_rows = int(ROWS * 0.7)  # the default split's training rows of each series
    with pytest.raises(ForecastDataError, match=rf"before the end of the train part \({train_rows} rows into the "):
        TimeSeriesDataModule(frame, lookback=LOOKBACK, horizon=HORIZON, nan_policy="ffill")


def test_the_repair_refusal_survives_a_trip_between_processes():
    error = UnrepairablePart("column 'y', series 'b', row 30", 0, 30)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.in_history == error.in_history
