import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import StandardScaler

from forecast import TimeSeriesDataModule
from forecast.data import RowSplit

LOOKBACK, HORIZON = 10, 5
TARGETS = ["c", "a"]


@pytest.fixture
def data(wide_frame):
    module = TimeSeriesDataModule(
        wide_frame, lookback=LOOKBACK, horizon=HORIZON, targets=TARGETS, split=RowSplit(120, 160), batch_size=7
    )
    module.setup("fit")
    return module


@pytest.fixture
def scaled(wide_frame):
    """The scaled targets, computed independently with scikit-learn on the training rows."""
    values = wide_frame[TARGETS].to_numpy()
    return StandardScaler().fit(values[:120]).transform(values).astype(np.float32)


@pytest.mark.parametrize("part, starts", [("train", (0, 50, 105)), ("val", (110, 130, 145)), ("test", (150, 170, 185))])
def test_windows_equal_hand_computed_slices(data, scaled, part, starts):
    dataset = data.dataset(part)
    assert len(dataset) == starts[-1] - starts[0] + 1
    first = starts[0]
    batch = dataset.__getitems__([start - first for start in starts])
    for i, start in enumerate(starts):
        np.testing.assert_allclose(batch.past[i].numpy(), scaled[start : start + LOOKBACK], rtol=1e-5, atol=1e-6)
        target = scaled[start + LOOKBACK : start + LOOKBACK + HORIZON]
        np.testing.assert_allclose(batch.target[i].numpy(), target, rtol=1e-5, atol=1e-6)
    assert batch.time.tolist() == [start + LOOKBACK for start in starts]


def test_batch_maps_back_to_original_units(data, wide_frame):
    batch = data.dataset("test").__getitems__([0, 35])
    original = wide_frame[TARGETS].to_numpy()
    np.testing.assert_allclose(batch.to_original(batch.target)[1].numpy(), original[195:200], rtol=1e-5)


def test_dataloader_yields_every_window_once(data):
    batches = list(data.test_dataloader())
    assert [len(batch) for batch in batches] == [7] * 5 + [1]
    assert torch.cat([batch.time for batch in batches]).tolist() == list(range(160, 196))


def test_predict_window_ends_at_the_last_row(data, scaled, wide_frame):
    (batch,) = list(data.predict_dataloader())
    np.testing.assert_allclose(batch.past[0].numpy(), scaled[-LOOKBACK:], rtol=1e-5, atol=1e-6)
    assert torch.isnan(batch.target).all()
    times = data.forecast_times(0, batch.time.item())
    assert times[0] == wide_frame.index[-1] + pd.Timedelta(hours=1) and len(times) == HORIZON


@settings(max_examples=30, deadline=None)
@given(
    rows=st.integers(30, 120),
    lookback=st.integers(1, 8),
    horizon=st.integers(1, 6),
    cuts=st.tuples(st.floats(0.3, 0.6), st.floats(0.65, 0.9)),
)
def test_windows_property(rows, lookback, horizon, cuts):
    values = np.arange(rows * 2, dtype=np.float64).reshape(rows, 2)
    frame = pd.DataFrame(values, columns=["x", "y"], index=pd.date_range("2020", periods=rows, freq="D"))
    val_start, test_start = int(rows * cuts[0]), int(rows * cuts[1])
    if min(val_start, test_start - val_start + lookback, rows - test_start + lookback) < lookback + horizon:
        return  # too short for a window in some part: covered by the split tests
    data = TimeSeriesDataModule(frame, lookback, horizon, split=RowSplit(val_start, test_start), scaler=None)
    data.setup("fit")
    parts = {"train": (lookback, val_start), "val": (val_start, test_start), "test": (test_start, rows)}
    for part, (first_target, end) in parts.items():
        dataset = data.dataset(part)
        batch = dataset.__getitems__(list(range(len(dataset))))
        first_rows = batch.past[:, 0, 0].numpy() / 2  # row numbers, since value = 2 * row + channel
        target_rows = batch.target[:, :, 0].numpy() / 2
        np.testing.assert_array_equal(batch.past[..., 1].numpy(), batch.past[..., 0].numpy() + 1)
        np.testing.assert_array_equal(np.diff(batch.past[:, :, 0].numpy(), axis=1), 2)
        np.testing.assert_array_equal(target_rows[:, 0], first_rows + lookback)
        # every target row inside its own part; the windows are exactly the starts that fit
        assert target_rows.min() == first_target and target_rows.max() == end - 1
        assert len(dataset) == end - first_target - horizon + 1
