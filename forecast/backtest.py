"""Rolling-origin backtests: one model (or baseline) evaluated at forecast origins spaced through time.

``python -m forecast backtest --config ... --ckpt_path best --start 2018-02-01 --stride 24 --num_windows 30``
forecasts from each origin with the lookback before it, and runs the windows through ``test``: the
same metrics, the evaluation report, plus ``forecasts.csv`` with every window's forecasts and actuals.
With ``--refit_every k`` the model is trained anew, on the rows before them, for every k origins.
"""

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from lightning import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, SequentialSampler

from .data.datamodule import TimeSeriesDataModule
from .data.splits import Windows
from .data.windows import WindowBatchSampler, WindowDataset, collate_batch
from .errors import ForecastDataError, where
from .reports import EvaluationReport

__all__ = ["backtest_windows", "ForecastTrainer", "REFITS_DIRECTORY"]

REFITS_DIRECTORY = "refits"  # in the run directory, a subdirectory origin_G per refit


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
    # Under DDP each process reads its share of the windows, none repeated, as the data module's test part.
    batches = WindowBatchSampler(SequentialSampler(dataset), data.batch_size, drop_last=False, pad_shards=False)
    return DataLoader(dataset, batch_sampler=batches, collate_fn=collate_batch)


def refit_groups(windows: Windows, refit_every: int) -> list[Windows]:
    """The backtest's windows in groups of ``refit_every`` consecutive origins per series, in time order.

    Group ``g`` holds origins ``g * refit_every`` to ``(g + 1) * refit_every - 1`` of each series;
    a series with fewer origins has none in the last groups.
    """
    if refit_every < 1:
        raise ValueError(f"refit_every must be >= 1 (origins per refit); got {refit_every}")
    groups = []
    for start in range(0, int(windows.counts.max()), refit_every):
        counts = np.clip(windows.counts - start, 0, refit_every)
        groups.append(Windows(first=windows.first + start * windows.stride, counts=counts, stride=windows.stride))
    return groups


def refit_borders(data: TimeSeriesDataModule, origins: np.ndarray) -> np.ndarray:
    """Split borders for training on the rows before ``origins`` (per series, the first forecast row).

    Validation keeps the length it has in the data module's split and moves to just before the origin;
    training takes every row before that; the "test" part runs from the origin to the end of the series.
    """
    observed = data.table.observed
    origins = np.minimum(origins, observed)
    val_length = data.borders[:, 1] - data.borders[:, 0]
    return np.stack([np.maximum(origins - val_length, 0), origins, observed], axis=1)


class ForecastTrainer(Trainer):
    """Lightning's Trainer with one more entry point, ``backtest``, the CLI subcommand of that name.

    It keeps its settings, so that a backtest with ``refit_every`` can train the model anew with
    trainers like itself.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.settings = kwargs

    def backtest(
        self,
        model: LightningModule,
        datamodule: TimeSeriesDataModule,
        ckpt_path: str | None = None,
        start: int | str | None = None,
        stride: int | None = None,
        num_windows: int | None = None,
        refit_every: int | None = None,
        verbose: bool = True,
    ) -> list[dict[str, float]]:
        """Evaluate a trained model or a baseline over rolling forecast origins.

        Each window forecasts ``horizon`` steps from an origin with the ``lookback`` rows before it;
        the windows run through ``test``, so the metrics and the report are those of ``test``, and
        ``forecasts.csv`` holds each window's forecasts and actual values.

        With ``refit_every`` (k), a copy of ``model`` as given (untrained, under the CLI) is trained
        before every k-th origin of each series, with this trainer's settings and copies of its
        callbacks: validation on as many rows as the data module's split gives it, just before the
        origin, training on every row before those, and the scalers fitted on the training rows
        again. Each refit forecasts the k origins that follow it, and logs to ``refits/origin_G/``
        in the run directory. Pass ``start`` as a time so that every series is cut at the same
        moment. The ``_orig`` metrics compare across refits; the scaled ones are each on their
        refit's scale.

        Args:
            model: the model to evaluate.
            datamodule: the data; its series, scaling (a checkpoint's, when given) and test borders.
            ckpt_path: the checkpoint to evaluate: a path, ``best`` or ``last``; none for baselines.
            start: first forecast step of the first window: a row of each series (negative: from its
                end), a time such as ``2018-02-01``, or none for the start of the test part.
            stride: rows between origins; none means the horizon.
            num_windows: origins per series; none means as many as fit.
            refit_every: train the model anew before every this many origins; none evaluates it as it is.
            verbose: print the test metrics, as ``test`` does (never per refit: those cover one group).

        Returns:
            The logged test metrics; with ``refit_every``, those of the report, over all windows.

        Raises:
            ValueError: ``refit_every`` with a ``ckpt_path`` (a refit starts from the model as given),
                or under more than one process.
        """
        windows = backtest_windows(datamodule, start, stride, num_windows)
        report = next((callback for callback in self.callbacks if isinstance(callback, EvaluationReport)), None)
        if report is None:
            report = EvaluationReport()
            self.callbacks.append(report)
        settings = report.write_forecasts, report.split, report.accumulate
        report.write_forecasts, report.split = True, "backtest"
        try:
            if refit_every is None:
                return self._test_windows(model, datamodule, windows, ckpt_path, verbose)
            if ckpt_path is not None or self.world_size > 1:
                raise ValueError(
                    "backtest --refit_every trains the model anew in one process: drop --ckpt_path "
                    f"(got {ckpt_path!r}) and run on one device (got {self.world_size} processes)"
                )
            self._refit_and_test(model, datamodule, refit_groups(windows, refit_every), report)
            return [{f"test/{name}": value for name, value in report.metrics.items()}]
        finally:
            report.write_forecasts, report.split, report.accumulate = settings

    def _refit_and_test(
        self, model: LightningModule, datamodule: TimeSeriesDataModule, groups: list[Windows], report: EvaluationReport
    ) -> None:
        """Per group of origins, a refit and a test pass over its windows, into one report."""
        # Copied before the first test pass, which sets the originals up (a checkpoint's directory).
        callbacks = [
            copy.deepcopy(callback)
            for callback in self.settings.get("callbacks") or []
            if not isinstance(callback, (EvaluationReport, BasePredictionWriter))
        ]
        state = datamodule.borders, datamodule.scalings
        try:
            for g, group in enumerate(groups):
                refitted = self._refit(model, datamodule, group, copy.deepcopy(callbacks), g)
                report.accumulate = g < len(groups) - 1
                self._test_windows(refitted, datamodule, group, verbose=False)
        finally:
            datamodule.resplit(*state)

    def _test_windows(
        self,
        model: LightningModule,
        datamodule: TimeSeriesDataModule,
        windows: Windows,
        ckpt_path: str | None = None,
        verbose: bool = True,
    ) -> list[dict[str, float]]:
        """``test`` over ``windows`` instead of the data module's test part."""
        # The windows are read when the loop asks for them, after setup and any checkpoint's data state.
        datamodule.test_dataloader = lambda: _loader(datamodule, windows)
        try:
            return self.test(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=verbose)
        finally:
            del datamodule.test_dataloader

    def _refit(
        self,
        model: LightningModule,
        datamodule: TimeSeriesDataModule,
        group: Windows,
        callbacks: list[Callback],
        index: int,
    ) -> LightningModule:
        """A copy of ``model`` trained on each series' rows before the group's first origin; the best
        checkpoint on the monitored metric when there is one."""
        directory = Path(self.log_dir or self.default_root_dir)
        logger = CSVLogger(directory, name=REFITS_DIRECTORY, version=f"origin_{index}")
        trainer = ForecastTrainer(**self.settings | {"callbacks": callbacks, "logger": logger})
        datamodule.resplit(refit_borders(datamodule, group.first))  # scalers fitted again at setup
        refitted = copy.deepcopy(model)
        trainer.fit(refitted, datamodule=datamodule)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if best:
            refitted.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["state_dict"])
        return refitted
