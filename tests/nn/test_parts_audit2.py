"""Defects found by a second audit of the network's parts other than the encoders."""

import functools

import pytest
import torch

from forecast import Forecaster
from forecast.nn import GRUEncoder, SegmentHead


@pytest.mark.parametrize("future_size", [0, 1])
def test_segment_head_forecasts_an_empty_batch_as_no_rows(future_size):
    """A batch of 0 rows gives 0 rows of forecasts, as every other head and encoder does; reshaping the
    covariates with -1 over 0 elements raised instead."""
    model = Forecaster(
        lookback=6, horizon=5, input_size=2, target_size=2, future_size=future_size,
        encoder=functools.partial(GRUEncoder, hidden_size=4), head=functools.partial(SegmentHead, seg_len=2),
    ).eval()  # fmt: skip
    params = model(torch.zeros(0, 6, 2), torch.zeros(0, 5, future_size), torch.zeros(0, 0))
    assert params.shape == (0, 5, 2, 1)
