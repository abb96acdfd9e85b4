"""TimeSeriesDataModule: a pandas frame in, windows of scaled float32 series out."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from sklearn.base import TransformerMixin
from sklearn.preprocessing import StandardScaler
from torch.utils.data import DataLoader

from ..errors import ForecastDataError
from .scaling import AffineScaling, fit_scaling
from .splits import FractionSplit, Split
from .validate import check_wide_frame, infer_frequency, read_source
from .windows import WindowDataset, collate_batch

__all__ = ["TimeSeriesDataModule"]


class TimeSeriesDataModule(L.LightningDataModule):
    """Windows a wide time series frame for training, validation, testing and forecasting.

    The frame is checked and its sizes are known once constructed; ``setup`` splits it by time and
    fits the scaler on the training rows only. The series is stored once as a float32 array, and each
    batch is gathered with one indexing step. ``state_dict()`` (columns, frequency, scaling, borders)
    travels in every checkpoint.

    Args:
        source: a built-in data set name (``"etth1"``), a CSV/Parquet path (first column the time),
            or a DataFrame with a DatetimeIndex, one column per channel.
        lookback: L, past steps the model sees.
        horizon: H, future steps it forecasts.
        targets: columns to forecast, in this order; ``None`` means every column.
        split: where train, validation and test lie; ``None`` means ``FractionSplit()`` (70/10/20).
        scaler: a scikit-learn scaler class (or factory), fitted per channel on training rows;
            ``None`` for no scaling.
        batch_size: windows per batch.
        num_workers: DataLoader worker processes (0 loads in the training process; batches are one
            gather, so workers rarely pay off and compete for CPU cores with the model).
        freq: the pandas frequency of the time index (e.g. ``"h"``), when it cannot be inferred.
    """

    def __init__(
        self,
        source: str | Path | pd.DataFrame = "etth1",
        lookback: int = 96,
        horizon: int = 96,
        targets: list[str] | None = None,
        split: Split | None = None,
        scaler: Callable[[], TransformerMixin] | None = StandardScaler,
        batch_size: int = 64,
        num_workers: int = 0,
        freq: str | None = None,
    ):
        super().__init__()
        if lookback < 1 or horizon < 1:
            raise ValueError(f"lookback and horizon must be >= 1; got lookback={lookback}, horizon={horizon}")
        self.save_hyperparameters(ignore=["source"] if isinstance(source, pd.DataFrame) else None)
        frame = read_source(source)
        self.targets = list(frame.columns) if targets is None else list(targets)
        frame = check_wide_frame(frame, self.targets)
        self.freq = infer_frequency(frame.index, freq)
        self.lookback = lookback
        self.horizon = horizon
        self.split = split or FractionSplit()
        self.scaler = scaler
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.input_size = len(self.targets)
        self.target_size = len(self.targets)
        self.future_size = 0
        self.static_size = 0
        self.series_names = ["0"]
        self.start_times = [frame.index[0]]
        self.raw = frame[self.targets].to_numpy(dtype=np.float64)
        self.borders = self.split.borders(len(frame), lookback, horizon)
        self.scaling: AffineScaling | None = None
        self._values: torch.Tensor | None = None

    def setup(self, stage: str) -> None:
        """Fit the scaling on the training rows (once; a checkpoint's scaling takes precedence)."""
        if self.scaling is None:
            start, end = self.borders["train"]
            self.scaling = fit_scaling(self.scaler, self.raw[start:end])

    @property
    def values(self) -> torch.Tensor:
        """The scaled series, float32, shape (rows, C_in)."""
        if self._values is None:
            if self.scaling is None:
                raise RuntimeError("call setup() (or load_state_dict) before reading values")
            self._values = torch.from_numpy(self.scaling.transform(self.raw))
        return self._values

    def dataset(self, part: str) -> WindowDataset:
        """The windows of ``"train"``, ``"val"``, ``"test"`` (stride 1), or ``"predict"``.

        ``"predict"`` is one window per series whose lookback ends at the last row: it forecasts the
        ``horizon`` steps after the data, so it has no target.
        """
        if part == "predict":
            starts = np.array([len(self.raw) - self.lookback])
            time = starts + self.lookback
        else:
            first, end = self.borders[part]
            starts = np.arange(first, end - self.lookback - self.horizon + 1)
            time = starts + self.lookback
        return WindowDataset(
            values=self.values,
            starts=torch.as_tensor(starts, dtype=torch.long),
            series=torch.zeros(len(starts), dtype=torch.long),
            time=torch.as_tensor(time, dtype=torch.long),
            lookback=self.lookback,
            horizon=self.horizon,
            target_size=self.target_size,
            target_scale=torch.tensor(self.scaling.scale[None, : self.target_size], dtype=torch.float32),
            target_offset=torch.tensor(self.scaling.offset[None, : self.target_size], dtype=torch.float32),
            with_target=part != "predict",
        )

    def _loader(self, part: str, shuffle: bool = False) -> DataLoader:
        return DataLoader(
            self.dataset(part),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            collate_fn=collate_batch,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> DataLoader:
        return self._loader("predict")

    def forecast_times(self, series: int, time: int) -> pd.DatetimeIndex:
        """The timestamps of the ``horizon`` steps starting at row ``time`` of ``series``."""
        start = self.start_times[series] + time * pd.tseries.frequencies.to_offset(self.freq)
        return pd.date_range(start, periods=self.horizon, freq=self.freq)

    def state_dict(self) -> dict[str, Any]:
        """Plain data that predict needs: columns, frequency, scaling, series, borders."""
        if self.scaling is None:
            return {}
        return {
            "targets": self.targets,
            "freq": self.freq,
            "lookback": self.lookback,
            "horizon": self.horizon,
            "series": self.series_names,
            "start_times": [str(time) for time in self.start_times],
            "scaling": self.scaling.state_dict(),
            "borders": {part: list(rows) for part, rows in self.borders.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take the scaling of a checkpoint, after checking it was trained on the same columns.

        Raises:
            ForecastDataError: the checkpoint was trained on other target columns.
        """
        if not state:
            return
        if state["targets"] != self.targets:
            raise ForecastDataError(
                f"the checkpoint was trained on target columns {state['targets']}, but the data module "
                f"has {self.targets}; set data.targets to match the checkpoint"
            )
        self.scaling = AffineScaling(**state["scaling"])
        self._values = None
