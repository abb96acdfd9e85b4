"""forecast: recurrent time series forecasting on PyTorch Lightning."""

import os

# With 2 torch threads and any other busy process on the cores, OpenMP's busy-waiting made one GRU
# step 50x slower on our CI machines (benchmarks/README.md); passive waiting avoids it. Only a default:
# it takes effect when torch has not been imported yet, and never overrides the user's setting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from .batch import Batch, ModelDims  # noqa: E402
from .data import TimeSeriesDataModule  # noqa: E402
from .errors import ForecastDataError  # noqa: E402
from .model import Forecaster  # noqa: E402
from .train import fit  # noqa: E402

__all__ = ["Forecaster", "TimeSeriesDataModule", "fit", "Batch", "ModelDims", "ForecastDataError"]
