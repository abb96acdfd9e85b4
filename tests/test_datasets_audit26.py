import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, datasets

COLUMNS = ["% WEIGHTED ILI", "ILITOTAL", "OT"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECAST_DATA", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    return tmp_path / "cache"


def _illness(cache, times: pd.DatetimeIndex) -> np.ndarray:
    """Write ``national_illness.csv`` by hand at ``times``; its values."""
    values = np.arange(len(times) * 3, dtype=np.float64).reshape(-1, 3)
    pd.DataFrame(values, index=times.rename("date"), columns=COLUMNS).to_csv(cache / "national_illness.csv")
    return values


def test_weekly_rows_on_another_weekday_are_refused_not_stamped_from_the_next_tuesday(cache):
    """A file of Sundays was stamped from the Tuesday after its first time, under a warning that every step
    was off and that the stamps began at that Sunday; its hash was recorded."""
    _illness(cache, pd.date_range("2002-01-06", periods=30, freq="W-SUN"))
    with pytest.raises(
        ForecastDataError,
        match=r"national_illness.csv is not illness's CSV with a time column \(its first time 2002-01-06 00:00:00 "
        r"\(Sunday\) is not a time of the data set's frequency W-TUE\); put the literature's file there",
    ):
        datasets.load("illness")
    assert not (cache / "national_illness.csv.sha256.json").exists()


def test_the_literatures_weekly_rows_with_a_skipped_week_are_stamped_every_tuesday_from_the_first(cache):
    times = pd.date_range("2002-01-01", periods=31, freq="W-TUE").delete(10)
    values = _illness(cache, times)
    with pytest.warns(UserWarning, match=r"1 step\(s\) are not W-TUE .*row 10, 2002-03-05 00:00:00 then 2002-03-19"):
        frame = datasets.load("illness")
    assert frame.index.equals(pd.date_range("2002-01-01", periods=30, freq="W-TUE", name="date"))
    np.testing.assert_array_equal(frame.to_numpy(), values)
