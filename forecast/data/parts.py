"""The data module's split parts as its loaders read them: each part's ``WindowDataset`` of the scaled series, the
maps of its targets back to original units, and the ``DataLoader`` settings of every loader of these data."""

from typing import Any

import numpy as np
import torch

from ..errors import ForecastDataError
from .buffer import SeriesBuffer
from .frames import SeriesTable
from .scaled import ScaledSeries
from .sharding import gather_objects
from .splits import Windows
from .validate import check_future_rows
from .windows import WindowDataset, collate_batch, window_origins

__all__ = [
    "given_target_rows", "has_observed_target", "kept_counts", "loader_options", "observed_windows", "part_dataset",
    "target_maps",
]  # fmt: skip


def part_dataset(
    scaled: ScaledSeries, windows: Windows, part: str, lookback: int, horizon: int, sizes: tuple[int, int, int]
) -> WindowDataset:
    """The ``WindowDataset`` of ``windows``, the windows of ``part`` (``train``, ``val``, ``test`` or ``predict``).

    A ``predict`` window forecasts the ``horizon`` steps after its series' data, so it has no target. Every
    window, training windows too, reads its inputs from the rows before its origin alone
    (``ScaledSeries.before_origins``), so that a model learns from inputs as it will be given them at
    forecast time. Training leaves out the windows whose targets were all repaired (``nan_policy``): they have
    no loss, and a batch of them alone would still step the optimizer (its momentum moves the weights).

    Args:
        scaled: the series, scaled.
        windows: the windows of ``part``.
        part: the split part.
        lookback: L, past steps a window reads.
        horizon: H, future steps it forecasts.
        sizes: C_out, C_in and C_fut.

    Raises:
        ForecastDataError: (predict) a series lacks the future covariates of the steps after its data, or (train)
            no training window has an observed target, or (``data.shard: series``) none of some process's has.
    """
    buffer = scaled.buffer
    if part == "predict" and scaled.roles.future:
        check_future_rows(buffer, scaled.table, scaled.roles.future, horizon)
    arguments = dict(
        buffer=buffer,
        windows=windows,
        lookback=lookback,
        horizon=horizon,
        sizes=sizes,
        static=scaled.static,
        **target_maps(scaled),
        with_target=part != "predict",
    )
    if part == "train":
        arguments["keep"] = observed_windows(buffer, windows, horizon, scaled.roles.targets)
    return scaled.before_origins(arguments)


def observed_windows(buffer: SeriesBuffer, windows: Windows, horizon: int, targets: list[str]) -> np.ndarray | None:
    """The indices of the windows of ``windows`` with at least one observed target value (``buffer.observed``), in
    ``window_origins``' order; ``None`` where every window has one.

    Under distributed training every process builds its training loader, so every one calls it, and all refuse
    alike: under ``data.shard: series`` a process whose series have no such window while the others' have some
    would fail alone, and leave the others at their next collective (gloo's "Connection closed by peer").

    Raises:
        ForecastDataError: none has one, or (``data.shard: series``) none of some process's windows has one.
    """
    has = None if buffer.observed is None else has_observed_target(buffer.offsets, buffer.observed, windows, horizon)
    total = int(windows.counts.sum())
    kept = total if has is None else int(np.count_nonzero(has))
    _check_observed(gather_objects((kept, total)), targets)
    return None if has is None or has.all() else np.flatnonzero(has)


def has_observed_target(
    offsets: np.ndarray, observed: torch.Tensor | np.ndarray, windows: Windows, horizon: int
) -> np.ndarray:
    """Whether each window of ``windows`` (in ``window_origins``' order) has at least one observed target value.

    Args:
        offsets: per series its first row in ``observed``, shape (N,).
        observed: which target values were in the data, not repaired, shape (rows, C_out) or (rows,).
        windows: per series the first window's first target row, the window counts, and the stride.
        horizon: H, the target rows of a window.

    Shapes:
        -> (W,)
    """
    rows = np.asarray(observed).reshape(len(observed), -1).any(1)  # -> (rows,)
    series, origins = window_origins(windows)
    starts = np.asarray(offsets, dtype=np.int64)[series] + origins  # -> (W,) row of each window's first target
    seen = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])  # -> (rows + 1,)
    return seen[starts + horizon] > seen[starts]


def given_target_rows(given: dict[str, np.ndarray], targets: list[str]) -> np.ndarray:
    """Per row whether some target value was in the data, ``given`` being per column its values as read (NaN or
    infinite: missing), before any repair.

    Shapes:
        -> (rows,)
    """
    values = np.stack([np.asarray(given[column], dtype=np.float64) for column in targets], axis=1)  # -> (rows, C_out)
    return np.isfinite(values).any(1)


def kept_counts(
    table: SeriesTable, given: dict[str, np.ndarray], targets: list[str], windows: Windows, horizon: int
) -> np.ndarray:
    """Per series, how many of its windows in ``windows`` (training windows) training keeps: those with at least one
    target value in the data, ``given`` being the values as read, before any repair.

    The windows ``observed_windows`` keeps of the same series, counted before anything is scaled: under
    ``data.shard: series`` the series are dealt out to the processes by it, before the scalers are fitted.

    Args:
        table: the series read.
        given: per column its values as read (NaN or infinite: missing), shape (rows,) each.
        targets: the target columns.
        windows: the windows of ``table``'s series.
        horizon: H, the target rows of a window.

    Shapes:
        -> (N,)
    """
    has = has_observed_target(table.offsets[:-1], given_target_rows(given, targets), windows, horizon)  # -> (W,)
    series, _ = window_origins(windows)
    return np.bincount(series[has], minlength=len(windows.counts))


def _check_observed(counts: list[tuple[int, int]], targets: list[str]) -> None:
    """Refuse, on every process alike, training data where some process keeps no window: ``counts`` per process,
    its windows with an observed target and all its training windows.

    Raises:
        ForecastDataError: no process keeps one (the data's fault), or some do and others not (the shares').
    """
    kept, total = [count for count, _ in counts], sum(windows for _, windows in counts)
    if all(kept):
        return
    if not any(kept):
        raise ForecastDataError(
            f"none of the {total} training windows has an observed value of the targets {targets}: every one "
            "was repaired (data.nan_policy); give data with target values in the training part, or a later "
            "validation start (data.split), so that the training part reaches some"
        )
    empty = [rank for rank, count in enumerate(kept) if count == 0]
    which = f"process{'es' if len(empty) > 1 else ''} {', '.join(map(str, empty))}"
    raise ForecastDataError(
        f"data.shard: series gives each of the {len(kept)} processes its own series, and none of the training "
        f"windows of the series of {which} has an observed value of the targets {targets}: every one was repaired "
        "(data.nan_policy), so it would have no batch to train on; use fewer devices (trainer.devices), or "
        "data.shard: none"
    )


def target_maps(scaled: ScaledSeries) -> dict[str, torch.Tensor]:
    """Per series, the maps of its scaled targets back to original units and its MASE scale:
    ``WindowDataset``'s ``target_scale`` and ``target_offset`` (float64, so that values far from zero keep
    their units' digits) and ``naive_scale``, each (series, C_out)."""
    shape = (len(scaled.table.names), len(scaled.roles.targets))  # one map for all series, or one per series
    targets = scaled.scalings[0]
    scale, offset = (np.broadcast_to(array, shape) for array in (targets.scale, targets.offset))
    return {
        "target_scale": torch.tensor(scale, dtype=torch.float64),
        "target_offset": torch.tensor(offset, dtype=torch.float64),
        "naive_scale": scaled.naive_scale,
    }


def loader_options(num_workers: int, pin_memory: bool) -> dict[str, Any]:
    """The ``DataLoader`` settings of every loader of a data module's windows, also of a backtest's: ``num_workers``,
    ``pin_memory``, the collate function of ``Batch``, and the generator that seeds the workers."""
    return dict(
        num_workers=num_workers,
        collate_fn=collate_batch,
        pin_memory=pin_memory,
        # Each pass draws its workers' seed from a copy of the global generator, with or without workers: from
        # the global one, a pass without workers shifted the shuffle's and dropout's draws, so that a fit with
        # num_workers 0 trained on other batches than with 1; and a resumed run's new workers would shift them
        # where a run never stopped keeps its workers, seeded once.
        generator=torch.Generator().set_state(torch.get_rng_state()),
    )
