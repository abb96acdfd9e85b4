"""From pandas frames to batches of windows."""

from .datamodule import TimeSeriesDataModule
from .sampling import SeriesBalancedSampler
from .splits import DateSplit, ETTSplit, FractionSplit, RowSplit, Split

__all__ = [
    "TimeSeriesDataModule",
    "Split",
    "RowSplit",
    "ETTSplit",
    "FractionSplit",
    "DateSplit",
    "SeriesBalancedSampler",
]
