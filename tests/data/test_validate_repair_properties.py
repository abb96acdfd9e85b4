"""Property tests of the repair policies: a repaired value is what the policy says, read from the
series' own rows, and every value given stays as it is."""

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data import FractionSplit

ROWS = 10


@settings(max_examples=25, deadline=None)
@given(
    policy=st.sampled_from(["ffill", "interpolate", "zero"]),
    values=st.lists(
        st.one_of(st.floats(-100, 100), st.sampled_from([np.nan, np.inf, -np.inf])),
        min_size=2 * ROWS,
        max_size=2 * ROWS,
    ),
)
def test_a_repaired_value_is_the_policys_and_given_values_stay(policy, values):
    times = pd.date_range("2024-01-01", periods=ROWS, freq="D")
    frame = pd.DataFrame({"id": np.repeat(["a", "b"], ROWS), "time": np.tile(times, 2), "y": values})
    try:
        data = TimeSeriesDataModule(
            frame, lookback=2, horizon=1, split=FractionSplit(val=0.2, test=0.2), nan_policy=policy
        )
    except ForecastDataError as error:  # a part with nothing before it to repair from
        assert "no finite value to repair from at column 'y', series" in str(error)
        return
    given_values, repaired = np.asarray(values), data.table.values["y"]
    finite = np.isfinite(given_values)
    np.testing.assert_array_equal(repaired[finite], given_values[finite])
    assert np.isfinite(repaired).all()
    for series in range(2):
        rows = slice(series * ROWS, (series + 1) * ROWS)
        given_series, repaired_series, known = given_values[rows], repaired[rows], finite[rows]
        for row in np.flatnonzero(~known):
            before = np.flatnonzero(known[:row])
            if policy == "zero":
                assert repaired_series[row] == 0.0
            elif policy == "ffill" and before.size:
                assert repaired_series[row] == given_series[before[-1]]
            else:  # interpolate, or a leading value: between the series' given values
                low, high = given_series[known].min(), given_series[known].max()
                assert low - 1e-9 <= repaired_series[row] <= high + 1e-9
