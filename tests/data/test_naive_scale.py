"""The scale of MASE (``buffer.naive_scale``) and the seasonal profile (``buffer.season_means``) against hand
computations on the values as given."""

import warnings

import numpy as np
import pandas as pd
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from forecast import Columns, Scaling, TimeSeriesDataModule
from forecast.data import RowSplit
from forecast.data.buffer import SeriesBuffer, naive_scale, season_means

TRAIN_ROWS = 14


def hand_scale(values: np.ndarray, period: int) -> float:
    """The mean ``|y[t] - y[t - m]|`` over the pairs of training rows whose two values were given (not NaN)."""
    train = values[:TRAIN_ROWS]
    change = np.abs(train[period:] - train[:-period])
    return float(np.nanmean(change)) if np.isfinite(change).any() else float("nan")


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.integers(-20, 20), min_size=24, max_size=24),
    missing=st.sets(st.integers(1, TRAIN_ROWS - 1), max_size=4),
    period=st.integers(1, 3),
    policy=st.sampled_from(["ffill", "interpolate", "zero"]),
)
def test_the_naive_scale_leaves_out_pairs_with_a_repaired_target(values, missing, period, policy):
    """A repaired target is no observation: a forward fill (a change of 0) or a zero (a jump) is no naive error."""
    given_values = np.asarray(values, dtype=np.float64)
    given_values[sorted(missing)] = np.nan
    frame = pd.DataFrame({"y": given_values}, index=pd.date_range("2024-01-01", periods=24, freq="h"))
    data = TimeSeriesDataModule(
        frame, lookback=4, horizon=2, columns=Columns(targets=["y"]), split=RowSplit(TRAIN_ROWS, 19),
        scaling=Scaling(None, None), nan_policy=policy, seasonal_period=period,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data.setup("fit")
    expected = hand_scale(given_values, period)
    got = data.target_maps()["naive_scale"][0, 0].item()
    if expected > 0:
        assert np.isclose(got, expected, rtol=1e-6)
    else:  # no pair of given values, or none that changes: no scale
        assert np.isnan(got)


def test_naive_scale_reads_only_pairs_of_observed_targets():
    values = torch.tensor([[0.0], [1.0], [0.0], [3.0], [4.0], [6.0]])
    observed = torch.tensor([[True], [True], [False], [True], [True], [True]])  # row 2 was repaired (to 0)
    buffer = SeriesBuffer(values, offsets=np.array([0]), future_rows=np.zeros(1, dtype=int), observed=observed)
    scale = naive_scale(buffer, np.array([6]), targets=1, seasonal_period=1)
    torch.testing.assert_close(scale, torch.tensor([[(1.0 + 1.0 + 2.0) / 3]]))  # pairs (0,1), (3,4), (4,5)


def test_the_seasonal_profile_leaves_out_repaired_targets():
    """A residual cycle starts at the training rows' seasonal profile; a zero-filled gap pulled its position down."""
    values = torch.tensor([[1.0, 0.0], [3.0, 1.0], [0.0, 0.0], [5.0, 1.0], [1.0, 0.0], [3.0, 1.0]])  # row 2: a repair
    observed = torch.tensor([[True], [True], [False], [True], [True], [True]])
    buffer = SeriesBuffer(values, offsets=np.array([0]), future_rows=np.zeros(1, dtype=int), observed=observed)
    profile = season_means(buffer, np.array([6]), targets=1, channel=1, period=2)
    np.testing.assert_allclose(profile[:, 0].numpy(), [-1.33333, 1.33333], rtol=1e-5)  # means 1 and 11/3 about 7/3
