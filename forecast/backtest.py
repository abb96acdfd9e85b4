"""Rolling-origin backtests: one model (or baseline) evaluated at forecast origins spaced through time.

``python -m forecast backtest --config ... --ckpt_path best --start 2018-02-01 --stride 24 --num_windows 30``
forecasts from each origin with the lookback before it, and runs the windows through ``test``: the
same metrics, the evaluation report, plus ``forecasts.csv`` with every window's forecasts and actuals.
"""

import numpy as np
import pandas as pd
from lightning import LightningModule, Trainer
from torch.utils.data import DataLoader

from .data.datamodule import TimeSeriesDataModule
from .data.splits import Windows
from .data.windows import WindowDataset, collate_batch
from .errors import ForecastDataError, where
from .reports import EvaluationReport

__all__ = ["backtest_windows", "ForecastTrainer"]


def _start_rows(data: TimeSeriesDataModule, start: int | str | None) -> np.ndarray:
    """Per series, the row of the first origin's first forecast step."""
    observed = data.table.observed
    if start is None:
        return data.borders[:, 1].copy()  # the test part's first target row
    if isinstance(start, str):
        stamp = pd.Timestamp(start)
        return np.array(
            [len(pd.date_range(first, stamp, freq=data.freq, inclusive="left")) for first in data.start_times]
        )
    return observed + start if start < 0 else np.full_like(observed, start)


def backtest_windows(
    data: TimeSeriesDataModule,
    start: int | str | None = None,
    stride: int | None = None,
    num_windows: int | None = None,
) -> Windows:
    """The backtest's windows: per series, ``num_windows`` origins from ``start``, ``stride`` rows apart.

    Args:
        data: the data module (its series, lookback, horizon and test borders).
        start: the first forecast step of the first window: a row of each series (negative: from its
            end), a time such as ``"2018-02-01 00:00"``, or ``None`` for the start of the test part.
        stride: rows between origins; ``None`` means the horizon (windows side by side).
        num_windows: origins per series; ``None`` means as many as fit before the end of each series.

    Raises:
        ForecastDataError: a series has no room for its lookback before ``start``, or for
            ``num_windows`` windows after it.
    """
    horizon, stride = data.horizon, stride or data.horizon
    if stride < 1 or (num_windows is not None and num_windows < 1):
        raise ValueError(f"backtest needs stride >= 1 and num_windows >= 1; got stride={stride}, {num_windows=}")
    first = _start_rows(data, start)
    observed = data.table.observed
    fits = np.where(observed - horizon >= first, (observed - horizon - first) // stride + 1, 0)
    wanted = fits if num_windows is None else np.full_like(fits, num_windows)
    bad = (first < data.lookback) | (fits < wanted) | (wanted < 1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ForecastDataError(
            f"the backtest from row {first[i]} ({where(series=data.series_names[i])}, {observed[i]} rows) fits "
            f"{fits[i]} windows of horizon {horizon} every {stride} rows, and needs lookback {data.lookback} rows "
            f"before it; asked for {wanted[i]}: choose a later --start, or a smaller --num_windows or --stride"
        )
    return Windows(first=first, counts=wanted, stride=stride)


def _loader(data: TimeSeriesDataModule, windows: Windows) -> DataLoader:
    """The backtest windows, gathered from the data module's scaled series (built after any checkpoint loads)."""
    test = data.dataset("test")  # its per-series maps back to original units
    dataset = WindowDataset(
        buffer=data.buffer,
        windows=windows,
        lookback=data.lookback,
        horizon=data.horizon,
        sizes=(data.target_size, data.input_size, data.future_size),
        static=data.static,
        target_scale=test.target_scale,
        target_offset=test.target_offset,
    )
    return DataLoader(dataset, batch_size=data.batch_size, collate_fn=collate_batch)


class ForecastTrainer(Trainer):
    """Lightning's Trainer with one more entry point, ``backtest``, the CLI subcommand of that name."""

    def backtest(
        self,
        model: LightningModule,
        datamodule: TimeSeriesDataModule,
        ckpt_path: str | None = None,
        start: int | str | None = None,
        stride: int | None = None,
        num_windows: int | None = None,
    ) -> list[dict[str, float]]:
        """Evaluate a trained model or a baseline over rolling forecast origins.

        Each window forecasts ``horizon`` steps from an origin with the ``lookback`` rows before it;
        the windows run through ``test``, so the metrics and the report are those of ``test``, and
        ``forecasts.csv`` holds each window's forecasts and actual values.

        Args:
            model: the model to evaluate.
            datamodule: the data; its series, scaling (a checkpoint's, when given) and test borders.
            ckpt_path: the checkpoint to evaluate: a path, ``best`` or ``last``; none for baselines.
            start: first forecast step of the first window: a row of each series (negative: from its
                end), a time such as ``2018-02-01``, or none for the start of the test part.
            stride: rows between origins; none means the horizon.
            num_windows: origins per series; none means as many as fit.
        """
        windows = backtest_windows(datamodule, start, stride, num_windows)
        report = next((callback for callback in self.callbacks if isinstance(callback, EvaluationReport)), None)
        if report is None:
            report = EvaluationReport()
            self.callbacks.append(report)
        settings = report.write_forecasts, report.split
        report.write_forecasts, report.split = True, "backtest"
        # The windows are read when the loop asks for them, after setup and any checkpoint's data state.
        datamodule.test_dataloader = lambda: _loader(datamodule, windows)
        try:
            return self.test(model, datamodule=datamodule, ckpt_path=ckpt_path)
        finally:
            del datamodule.test_dataloader
            report.write_forecasts, report.split = settings
