"""``predict_batches`` against ``Forecaster.predict`` on the whole frame, for ids that ``!=`` misreads."""

from pathlib import Path

import pandas as pd

from forecast.partition import load_cached, predict_batches

CHECKPOINT = Path(__file__).parent / "data" / "frozen_v0.1.0.ckpt"


def test_predict_batches_forecasts_series_with_tuple_ids_as_predict_does():
    """A key of several fields as a tuple: NumPy compared the tuple's items to the batch and failed to broadcast."""
    frame = pd.read_csv(Path(__file__).parent / "data" / "frozen_v0.1.0_history.csv", parse_dates=["time"])
    frame["id"] = frame["id"].map({"A": ("north", 1), "B": ("south", 2)})  # A then B, 36 rows each
    # A split inside itself, B starting a batch, then split too.
    batches = [frame.iloc[:20], frame.iloc[20:36], frame.iloc[36:50], frame.iloc[50:]]
    tables = list(predict_batches(batches, CHECKPOINT, rows_per_call=30))
    assert [table["id"].unique().tolist() for table in tables] == [[("north", 1)], [("south", 2)]]
    pd.testing.assert_frame_equal(pd.concat(tables, ignore_index=True), load_cached(CHECKPOINT).predict(frame))
