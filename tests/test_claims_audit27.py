"""Messages checked against what the code refuses: tune's lookback check names a series too short for a window,
which the data refuses as it reads it, where that and not a missing window is what a longer lookback runs into."""

import pytest

from forecast import Columns, study_checks
from forecast.data import TimeSeriesDataModule
from forecast.errors import ForecastDataError
from forecast.search_space import SearchSpace

COLUMNS = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"], static_covariates=["size"])


def test_a_lookback_too_long_for_a_series_is_refused_naming_that_series(long_frame):
    """Series A, B and C of 120, 90 and 150 rows: a lookback of 85 leaves B's 90 rows short of a window of 85 + 6,
    while C keeps training and validation windows; the message said the data had none."""
    with pytest.raises(ForecastDataError, match="shorter than lookback"):  # the data's own refusal
        TimeSeriesDataModule(long_frame, lookback=85, horizon=6, columns=COLUMNS)
    data = TimeSeriesDataModule(long_frame, lookback=24, horizon=6, columns=COLUMNS)
    with pytest.raises(ValueError) as refused:
        study_checks.check_lookbacks(SearchSpace({"data.lookback": {"choice": [24, 85]}}), {}, data)
    assert str(refused.value).endswith(
        "which leaves series 'B' (90 rows) shorter than a window at data.horizon 6 (data.drop_short is false): "
        "the longest lookback it allows is 84; give lookbacks of at most 84"
    )
