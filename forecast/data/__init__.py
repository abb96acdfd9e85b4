"""From pandas frames to batches of windows."""

from .datamodule import TimeSeriesDataModule
from .options import Calendar, Columns, Scaling
from .sampling import SeriesBalancedSampler
from .splits import DateSplit, ETTSplit, FractionSplit, RowSplit, Split

__all__ = [
    "TimeSeriesDataModule",
    "Columns",
    "Scaling",
    "Calendar",
    "Split",
    "RowSplit",
    "ETTSplit",
    "FractionSplit",
    "DateSplit",
    "SeriesBalancedSampler",
]
