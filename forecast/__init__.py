"""forecast: recurrent time series forecasting on PyTorch Lightning."""

import os
import sys
import warnings

# The thread trap (benchmarks/README.md). torch's OpenMP reads OMP_WAIT_POLICY once, when torch is first
# imported; unset, a waiting thread spins (GOMP_SPINCOUNT 300000) before it sleeps. With a torch thread on
# every core and any other busy process (a DataLoader worker, another job), a GRU forward+backward took
# 1.4-2.1 s instead of 0.15-0.18 s on our 2 cores, the compiled SRU 75-120 ms instead of 29-39 ms;
# PASSIVE avoids it. So `import forecast` before torch sets PASSIVE unless the user chose a policy (and
# processes started afresh from this one, such as spawned DDP ranks, inherit it). After torch (a
# notebook's `import torch` first) it is too late for this process: we set it for child processes only,
# and say so once if torch has a thread on every core.
if "OMP_WAIT_POLICY" not in os.environ:
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    if "torch" in sys.modules and sys.modules["torch"].get_num_threads() >= (os.cpu_count() or 1):
        from .errors import user_stacklevel  # here, as every import of ours: after OMP_WAIT_POLICY is set

        warnings.warn(
            "torch was imported before forecast without OMP_WAIT_POLICY: its threads spin while they wait, "
            "which slows training several times when anything else uses the cores; set OMP_WAIT_POLICY=PASSIVE "
            "(or ACTIVE to keep spinning) before importing torch, or import forecast first.",
            stacklevel=user_stacklevel(),
        )

from .batch import Batch, ModelDims  # noqa: E402
from .data import Calendar, Columns, Scaling, TimeSeriesDataModule  # noqa: E402
from .errors import ForecastDataError  # noqa: E402
from .model import Forecaster  # noqa: E402
from .train import fit  # noqa: E402

__all__ = [
    "Forecaster",
    "TimeSeriesDataModule",
    "Columns",
    "Scaling",
    "Calendar",
    "fit",
    "Batch",
    "ModelDims",
    "ForecastDataError",
]
