"""Claims of the docstrings and benchmarks that no other test pinned, each against an independent reference."""

import numpy as np
import pandas as pd
import pytest

from forecast import Columns, TimeSeriesDataModule

LOOKBACK, HORIZON = 24, 12


@pytest.fixture(scope="module")
def tested() -> TimeSeriesDataModule:
    """Hourly integer counts (zeros among them) and a channel at a level of 1e6, set up for ``test``."""
    rng = np.random.default_rng(0)
    rows = 300
    frame = pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=rows, freq="h"),
            "count": rng.poisson(2, rows).astype(float),
            "level": 1e6 + rng.normal(0, 3, rows).round(2),
        }
    )
    data = TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=Columns(time_column="time"))
    data.setup("test")
    return data


def test_the_original_units_of_the_scaled_windows_are_within_float32_rounding_of_the_offset_distance(tested):
    """reports.py: the ``_orig`` metrics read the scaled float32 windows mapped back to original units, which lie
    within 6e-8 (2**-24) of each value's distance from its scaler's offset of the values the data module read."""
    worst = 0.0
    for batch in tested.test_dataloader():
        mapped = batch.to_original(batch.target).numpy()  # (B, H, C_out)
        rows = tested.table.offsets[batch.series.numpy(), None] + batch.time.numpy()[:, None] + np.arange(HORIZON)
        read = np.stack([tested.table.values[column][rows] for column in tested.targets], axis=-1)
        distance = np.abs(read - batch.target_offset.numpy()[:, None, :])
        assert (read == np.round(read, 2)).all()  # the data's own values: counts and cents
        worst = max(worst, float((np.abs(mapped - read) - 2**-24 * distance).max()))
    assert worst <= 1e-9  # float64 rounding of the mapping, at the level of 1e6
