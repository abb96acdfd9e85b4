"""From pandas frames to batches of windows."""

from .datamodule import TimeSeriesDataModule
from .splits import ETTSplit, FractionSplit, RowSplit, Split

__all__ = ["TimeSeriesDataModule", "Split", "RowSplit", "ETTSplit", "FractionSplit"]
