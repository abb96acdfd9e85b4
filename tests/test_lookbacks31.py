"""``tune``'s lookback check at a training stride above 1 on data with repaired targets: which lookbacks leave a
training window with an observed target is then not monotone in the lookback, so a bisection returned one too short
and let lookbacks through whose every trial the data module refuses. Checked against the data module itself."""

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule, study_checks
from forecast.data import FractionSplit
from forecast.search_space import SearchSpace

pytestmark = pytest.mark.filterwarnings("ignore")  # the scalers' notes on a target of one training value


def data(lookback: int, train_stride: int) -> TimeSeriesDataModule:
    """40 hourly rows whose target is missing in rows 0-20 and 22-27: of the training rows, 21 alone holds one."""
    y = np.arange(40.0)
    y[0:21] = np.nan
    y[22:28] = np.nan
    frame = pd.DataFrame({"y": y}, index=pd.date_range("2024-01-01", periods=40, freq="h", name="time"))
    return TimeSeriesDataModule(
        frame, lookback, 1, split=FractionSplit(0.15, 0.15), train_stride=train_stride, nan_policy="ffill"
    )


def trains(lookback: int, train_stride: int) -> bool:
    """Whether the data module gives a fit of ``lookback`` a training window to learn from."""
    module = data(lookback, train_stride)
    try:
        module.setup("fit")
        return len(module.dataset("train")) > 0
    except ForecastDataError:
        return False


@pytest.mark.parametrize("train_stride", [1, 2])
def test_the_longest_lookback_is_the_longest_the_data_module_trains(train_stride):
    trained = [lookback for lookback in range(1, 30) if trains(lookback, train_stride)]
    assert study_checks.longest_lookback(data(4, train_stride)) == max(trained)
    assert (train_stride == 2) == (trained != list(range(1, max(trained) + 1)))  # not monotone at stride 2 only


def test_a_searched_lookback_that_leaves_no_window_to_train_is_refused_at_a_longer_stride():
    module = data(4, 2)
    assert not trains(2, 2) and trains(3, 2)
    with pytest.raises(ValueError, match=r"ranges up to 7, and lookback 2 leaves the data no training window .*stride"):
        study_checks.check_lookbacks(SearchSpace({"data.lookback": {"int": [1, 7]}}), {}, module)
    study_checks.check_lookbacks(SearchSpace({"data.lookback": {"choice": [3, 5, 21]}}), {}, module)
