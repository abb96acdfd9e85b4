"""The evaluation report: what ``test`` and ``backtest`` leave in the run directory.

- ``metrics.json``: the overall metrics (scaled and ``_orig``), per target column, the number of
  windows, the model's hyperparameters (as its checkpoint records them: a part or loss by its ``class_path``
  and ``init_args``) and the data state (standard JSON: a metric with no value is null);
- ``metrics_by_horizon.csv`` and ``metrics_by_target.csv``: every metric per horizon step and column;
- ``forecast.png`` (a few windows, forecast against actual, with the quantile band) and
  ``error_by_horizon.png``;
- ``forecasts.csv`` (with ``write_forecasts``, and always for ``backtest``): every window's forecasts
  and actual values in original units (an actual value the data module repaired is left empty: it is
  no observation, and no metric counts it). The actual values are the data's own, as read (an integer
  count stays that integer); the ``_orig`` metrics are computed from the scaled float32 windows mapped
  back to original units, so they agree with the file's values to float32 rounding of the scaled values:
  within 6e-8 of a value's distance from its scaler's offset (the training mean, for a ``StandardScaler``),
  not of the value itself (a count of 0 may come back as 1.7e-07).
"""

import copy
import importlib.util
import json
import math
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.utilities.rank_zero import rank_zero_info

from .batch import Batch
from .callbacks import gather_windows, run_directory
from .data.datamodule import TimeSeriesDataModule
from .errors import ForecastDataError, warn_on_rank_zero, whole_number
from .metrics import HorizonMetrics
from .plotting import plot_error_by_horizon, plot_forecasts, save_png
from .predict import forecast_columns
from .specs import to_record

__all__ = ["EvaluationReport", "metric_tables"]

_UNITS = {"scaled": "", "original": "_orig"}  # the report's units, and the suffix of their logged names
_KEYS = ("window", "id", "origin", "time", "step")  # the columns of forecasts.csv before the targets'


def _spaced(total: int, count: int) -> set[int]:
    """``count`` window indices spread evenly over ``range(total)``."""
    return set(np.linspace(0, total - 1, min(count, total)).round().astype(int).tolist())


def _json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite float (a metric with no value to count: MASE of series without
    a scale, a column whose test targets were all repaired) as ``None``, so the file is standard JSON, which
    ``jq`` and JavaScript read; Python's ``json`` would write ``NaN``, which only Python reads."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    return value


def _actual_values(data: TimeSeriesDataModule, batch: Batch) -> torch.Tensor:
    """The target values of each window of ``batch`` as the data module read them, in float64; NaN where it
    repaired one (``batch.observed``): that is no observation, and no metric counts it.

    From the data module's table, not mapped back from the batch: the batch's float32 scaled values come back
    with rounding errors (6 as 5.999999922, 0 as 1.7e-07).

    Shapes:
        -> (B, H, C_out)
    """
    series, time = batch.series.cpu().numpy(), batch.time.cpu().numpy()
    rows = data.table.offsets[series, None] + time[:, None] + np.arange(batch.target.shape[1])  # -> (B, H)
    values = torch.from_numpy(np.stack([data.table.values[target][rows] for target in data.targets], axis=-1))
    return values if batch.observed is None else values.where(batch.observed.cpu(), torch.nan)


def _check_forecast_columns(targets: Sequence[str], levels: Sequence[float]) -> None:
    """Refuse target columns whose forecasts.csv columns would share a name with another of its columns.

    Raises:
        ForecastDataError: naming the names taken twice, e.g. a target ``step`` (its forecast would overwrite the
            step number) or the targets ``x`` and ``x_actual``.
    """
    columns = [*_KEYS, *forecast_columns(list(targets), tuple(levels)), *(f"{t}_actual" for t in targets)]
    taken = sorted({column for column in columns if columns.count(column) > 1})
    if taken:
        raise ForecastDataError(
            f"report: forecasts.csv would hold the columns {taken} twice: its columns are {', '.join(_KEYS)}, then "
            "per target column its forecast, {target}_actual and {target}_q{level}; rename those target columns "
            "in the data (e.g. frame.rename(columns={'step': 'step_count'})), or set report.write_forecasts false "
            "and report.num_plots 0"
        )


def metric_tables(metrics: dict[str, HorizonMetrics], targets: Sequence[str]) -> dict[str, Any]:
    """The per-step and per-column tables, and the overall metrics, of the test's ``HorizonMetrics``.

    Args:
        metrics: the metrics of each unit: ``{"scaled": metric, "original": metric}``.
        targets: the names of the C target columns.

    Returns:
        ``by_horizon``: a frame with columns units, target (a name, or ``all``), step (from 1), metrics;
        ``by_target``: units, target, metrics over all steps; ``overall``: ``{metric[_orig]: value}``.
    """
    by_horizon, by_target, totals = [], [], {}
    for units, metric in metrics.items():
        cells = metric.overall(())  # -> {metric: (H, C)}; compute() squeezes the one cell of H = C = 1 to a scalar
        horizon = next(iter(cells.values())).shape[0]
        names = list(cells)
        per_step = metric.overall(1)  # -> {metric: (H,)}
        rows = {"units": units, "target": "all", "step": np.arange(1, horizon + 1)}
        by_horizon.append(pd.DataFrame(rows | {name: per_step[name].cpu().numpy() for name in names}))
        for column, target in enumerate(targets):
            rows = {"units": units, "target": target, "step": np.arange(1, horizon + 1)}
            by_horizon.append(pd.DataFrame(rows | {name: cells[name][:, column].cpu().numpy() for name in names}))
        per_column = metric.overall(0)  # -> {metric: (C,)}
        by_target.append(
            pd.DataFrame({"units": units, "target": list(targets)} | {n: per_column[n].cpu().numpy() for n in names})
        )
        totals |= {f"{name}{_UNITS[units]}": float(value) for name, value in metric.overall().items()}
    return {
        "by_horizon": pd.concat(by_horizon, ignore_index=True),
        "by_target": pd.concat(by_target, ignore_index=True),
        "overall": totals,
    }


class EvaluationReport(L.Callback):
    """Writes metrics tables, plots and (optionally) forecasts after ``test`` into the run directory.

    The tables are those of the model's own test metrics (``Forecaster.metrics``), the objects whose
    means ``test`` logs, so the report and the log agree. Under DDP torchmetrics syncs them, and the
    windows that the forecasts and plots show are gathered from every process to the first, which
    writes each once, in the order of one process.

    Args:
        num_plots: windows drawn in ``forecast.png``, evenly spaced over the test windows; 0 draws no plots.
        plot_targets: target columns drawn (a name alone is one column); ``None`` means the last three (ETTh1's
            last is OT).
        write_forecasts: also write every test window's forecasts and actual values to ``forecasts.csv``.
        split: the name ``metrics.json`` gives the evaluated windows (``backtest`` for a backtest's).
        passes: test passes the report covers; it writes after the last. A backtest with refits tests
            each refit's windows in a pass of its own, each with its own model and split: ``metrics.json``
            then gives the ``naive_fallback`` and the data state of each, in lists.
        data: the data module whose series the windows come from; ``None``: the trainer's. A backtest,
            which hands its windows to ``test`` as a dataloader, gives it.

    Raises:
        ValueError: ``num_plots`` not a whole number of 0 or more, or ``passes`` of 1 or more; at the start of
            ``test``, ``plot_targets`` naming a column that is no target.
        ForecastDataError: at the start of ``test`` with forecasts or plots, target columns whose forecasts.csv
            columns share a name with another (a target ``step``, or ``x`` beside ``x_actual``).
    """

    def __init__(
        self,
        num_plots: int = 3,
        plot_targets: str | list[str] | None = None,
        write_forecasts: bool = False,
        split: str = "test",
        passes: int = 1,
        data: TimeSeriesDataModule | None = None,
    ):
        if not (whole_number(passes) and passes >= 1):  # 1.5 would write after the second pass
            raise ValueError(f"report passes must be >= 1 (test passes, an int); got {passes!r}")
        if not (whole_number(num_plots) and num_plots >= 0):  # refused here, not by numpy at the start of the test
            raise ValueError(
                f"report.num_plots must be >= 0 (windows drawn, an int; 0 draws no plots); got {num_plots!r}"
            )
        self.num_plots = num_plots
        self.plot_targets = [plot_targets] if isinstance(plot_targets, str) else plot_targets  # not 'O', 'T'
        self.write_forecasts = write_forecasts
        self.split = split
        self.passes = passes
        self.data = data
        self.done = 0  # passes finished since the report last wrote

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        data = self.data or trainer.datamodule
        if self.num_plots and self.plot_targets is not None and data is not None:
            unknown = [name for name in self.plot_targets if name not in data.targets]
            if unknown:  # before the test, not after metrics.json is written
                raise ValueError(
                    f"report.plot_targets names {unknown}, which are not target columns; choose among "
                    f"{list(data.targets)}, or leave it unset for the last three"
                )
        if (self.write_forecasts or self.num_plots) and data is not None:  # before the test, as plot_targets
            _check_forecast_columns(data.targets, pl_module.loss.levels)
        if self.done == 0:
            self.tables: dict[str, HorizonMetrics] = {}
            self.kept: list[dict[str, torch.Tensor]] = []
            self.total = 0  # windows of all passes so far, on all processes
            self.fallbacks: list[int | None] = []  # per pass, the naive forecast its model fell back to
            self.states: list[dict[str, Any] | None] = []  # per pass, the data state its model was trained with
        loader = trainer.test_dataloaders
        self.dataset = (loader[0] if isinstance(loader, (list, tuple)) else loader).dataset
        # A window's number: its index in its pass's dataset, after the windows of the passes before.
        self.offset, self.total = self.total, self.total + len(self.dataset)
        self.picks = np.array(sorted(_spaced(len(self.dataset), self.num_plots))) + self.offset

    def on_test_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Batch, batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:  # fmt: skip
        data = self.data or trainer.datamodule
        if data is None or not (self.write_forecasts or self.num_plots):  # no windows to write or draw
            return
        forecast, quantiles = outputs["forecast"], outputs.get("quantiles")  # (B, H, C_out), (B, H, C_out, Q)
        original = {
            "forecast": batch.to_original(forecast),
            "target": _actual_values(data, batch),
            "quantiles": None if quantiles is None else batch.to_original(quantiles),
        }
        self._keep(batch, original)

    def _keep(self, batch: Batch, original: dict[str, torch.Tensor | None]) -> None:
        """Keep the windows to write or draw, on the CPU: all with ``write_forecasts``, else the plotted ones."""
        # From the window itself, not the batch's position: under DDP this process reads a share of them.
        index = self.offset + self.dataset.index_of(batch.series.cpu().numpy(), batch.time.cpu().numpy())
        mask = torch.from_numpy(self.write_forecasts | np.isin(index, self.picks))
        if not mask.any():
            return
        index = torch.from_numpy(index)
        targets = original["target"].shape[-1]
        past = batch.to_original(batch.past[..., :targets])  # -> (B, L, C_out)
        kept = {"past": past, "series": batch.series, "time": batch.time, "index": index} | original
        self.kept.append(
            {name: value[mask.to(value.device)].cpu() for name, value in kept.items() if value is not None}
        )

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException) -> None:
        self.done = 0  # the next test starts new tables

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for units, suffix in _UNITS.items():  # this pass's metrics, added to those of the passes before
            metric = pl_module.metrics[f"test{suffix}"]
            if units in self.tables:
                self.tables[units].merge_state(metric)
            else:
                self.tables[units] = copy.deepcopy(metric)
        self.fallbacks.append(getattr(pl_module, "naive_fallback", None))  # each refit's model its own
        # Each refit's borders and scalers, before the next refit moves them; on every process: a sharded one gathers.
        data = self.data or trainer.datamodule
        self.states.append(data.state_dict() if data is not None else None)
        self.done += 1
        if self.done < self.passes:
            return
        self.done = 0
        self._write(trainer, pl_module)

    def _write(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The tables, ``metrics.json``, forecasts and plots of all passes, into the run directory."""
        data = self.data or trainer.datamodule
        targets = list(data.targets) if data is not None else [f"y{c}" for c in range(pl_module.target_size)]
        tables = metric_tables(self.tables, targets)
        with self.tables["scaled"].sync_context():  # compute() leaves each process its own count
            windows = int(self.tables["scaled"].windows)
        self.metrics = tables["overall"]
        # A sharded process numbers its windows and series among its own: the tables cover all, the windows not.
        sharded = data is not None and data.shard == "series" and trainer.world_size > 1
        if sharded and (self.write_forecasts or self.num_plots):
            warn_on_rank_zero(
                "report: under data.shard: series it writes the metrics only; test with shard: none for plots"
            )
        wanted = data is not None and (self.write_forecasts or self.num_plots) and not sharded
        kept = self._gathered() if wanted else None
        directory = run_directory(trainer)  # on every process
        if not trainer.is_global_zero:
            return
        directory.mkdir(parents=True, exist_ok=True)
        tables["by_horizon"].to_csv(directory / "metrics_by_horizon.csv", index=False)
        tables["by_target"].to_csv(directory / "metrics_by_target.csv", index=False)
        report = {
            "split": self.split,
            "windows": windows,
            "metrics": self.metrics,
            "by_target": tables["by_target"].to_dict(orient="records"),
            "model": {name: to_record(value) for name, value in pl_module.hparams.items()},  # as checkpoints record
            # What forecast: the network, the naive forecast its checkpoint fell back to (a period), or an ensemble;
            # over several passes (a backtest's refits), what forecast the windows of each.
            "naive_fallback": self.fallbacks if self.passes > 1 else self.fallbacks[0],
            "ensemble_members": 1 + len(getattr(pl_module, "members", ())),
            "data": self.states if self.passes > 1 else self.states[0],  # over refits, as naive_fallback
        }
        (directory / "metrics.json").write_text(json.dumps(_json_safe(report), indent=2, default=str))
        written = ["metrics.json", "metrics_by_horizon.csv", "metrics_by_target.csv"]
        if kept is not None:
            forecasts, history = self._frames(kept, data, pl_module.loss.levels)
            if self.write_forecasts:
                forecasts.to_csv(directory / "forecasts.csv", index=False)
                written.append("forecasts.csv")
            if self.num_plots and importlib.util.find_spec("matplotlib") is None:
                warn_on_rank_zero(
                    "report: no plots without matplotlib; pip install matplotlib, or set report.num_plots 0"
                )
            elif self.num_plots:
                drawn = _spaced(self.total, self.num_plots)  # with every window kept: spread over all passes
                chosen = forecasts[forecasts["window"].isin(drawn)] if self.write_forecasts else forecasts
                shown = self.plot_targets or targets[-3:]
                save_png(plot_forecasts(chosen, shown, self.num_plots, history), directory / "forecast.png")
                save_png(plot_error_by_horizon(tables["by_horizon"]), directory / "error_by_horizon.png")
                written += ["forecast.png", "error_by_horizon.png"]
        rank_zero_info(f"{self.split} report: {', '.join(written)} in {directory}")

    def _gathered(self) -> dict[str, np.ndarray] | None:
        """The windows kept by every process, on rank 0, in window order; ``None`` elsewhere or for none."""
        if not self.kept:
            return gather_windows(None, ("index",))
        return gather_windows(
            {name: torch.cat([part[name] for part in self.kept]).numpy() for name in self.kept[0]}, ("index",)
        )

    def _frames(
        self, kept: dict[str, np.ndarray], data: TimeSeriesDataModule, levels: tuple[float, ...]
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The kept windows as a forecasts table and the history table of their lookbacks."""
        targets = list(data.targets)
        frames, histories = [], []
        lookback = kept["past"].shape[1]
        for i, (series, time) in enumerate(zip(kept["series"].tolist(), kept["time"].tolist(), strict=True)):
            times = data.forecast_times(series, time)
            first = data.table.offsets[series] + time  # the table's row of the first forecast step
            past_times = data.table.times[first - lookback : first]  # the lookback's own rows, as stored
            origin = past_times[-1]
            columns = {target: kept["forecast"][i, :, c] for c, target in enumerate(targets)}
            columns |= {f"{target}_actual": kept["target"][i, :, c] for c, target in enumerate(targets)}
            if "quantiles" in kept:
                columns |= {
                    f"{target}_q{level:g}": kept["quantiles"][i, :, c, q]
                    for c, target in enumerate(targets)
                    for q, level in enumerate(levels)
                }
            name = data.table.ids[series]  # the frame's ids, of their type, as forecast_table writes them
            frames.append(
                pd.DataFrame(
                    {"window": int(kept["index"][i]), "id": name, "origin": origin, "time": times,
                     "step": np.arange(1, len(times) + 1)} | columns
                )
            )  # fmt: skip
            past = dict(zip(targets, kept["past"][i].T, strict=True))
            histories.append(pd.DataFrame({"id": name, "time": past_times} | past))
        return pd.concat(frames, ignore_index=True), pd.concat(histories, ignore_index=True)
