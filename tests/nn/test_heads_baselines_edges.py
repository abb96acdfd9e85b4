import pytest
import torch

from forecast.nn.baselines import seasonal_naive

# One window of three steps, one channel: 0, 1, 2.
HISTORY = torch.arange(3.0).view(1, 3, 1)


@pytest.mark.parametrize("period", [5, 7])
def test_seasonal_naive_refuses_a_period_longer_than_its_history_naming_both(period):
    """Period 5 over 3 steps read steps 1, 2, 0, 1 (torch wrapped the negative indices); 7 raised an IndexError."""
    with pytest.raises(ValueError, match=rf"period={period} is longer than the history's 3 steps.* at most 3"):
        seasonal_naive(HISTORY, horizon=4, period=period)


@pytest.mark.parametrize("period", [0, -1])
def test_seasonal_naive_refuses_a_period_below_one(period):
    """Period 0 raised torch's bare ZeroDivisionError, -1 an IndexError naming neither the period nor the fix."""
    with pytest.raises(ValueError, match=rf"period={period} must be at least 1 step"):
        seasonal_naive(HISTORY, horizon=4, period=period)


def test_seasonal_naive_with_the_period_of_the_whole_history_repeats_the_window():
    forecast = seasonal_naive(HISTORY, horizon=5, period=3)
    assert forecast.flatten().tolist() == [0.0, 1.0, 2.0, 0.0, 1.0]
