"""Every path that reads training windows reads exactly those with an observed target (training leaves out the
windows whose targets were all repaired, ``nan_policy``): the loaders of either sampling across epochs, a pass
resumed mid-epoch, a backtest's refits, tune's lookback search and the learning-rate finder. Each is checked
against a brute-force list of the kept windows: a loop over every (series, origin) pair and the raw values."""

import functools
import warnings

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Columns, ForecastDataError, Forecaster, TimeSeriesDataModule, study_checks
from forecast.data import FractionSplit
from forecast.data.loaders import training_loader
from forecast.nn import IdentityEncoder, LookbackLinearHead
from forecast.reports import EvaluationReport
from forecast.search_space import SearchSpace
from forecast.trainer import ForecastTrainer

LOOKBACK, HORIZON, ROWS = 4, 3, 40
QUIET = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)


def frame(gaps: dict[tuple[str, str], slice], series: tuple[str, ...] = ("a", "b", "c")) -> pd.DataFrame:
    """Hourly series of ``ROWS`` rows in long form, two targets ``y`` and ``z`` and a covariate ``x``; the values of
    ``gaps`` ((series, column) -> rows) are missing."""
    times = pd.date_range("2024-01-01", periods=ROWS, freq="h")
    rng = np.random.default_rng(0)
    frames = []
    for name in series:
        columns = {column: rng.normal(size=ROWS).cumsum() for column in ("y", "z", "x")}
        for (gap_series, column), rows in gaps.items():
            if gap_series == name:
                columns[column][rows] = np.nan
        frames.append(pd.DataFrame({"id": name, "time": times, **columns}))
    return pd.concat(frames, ignore_index=True)


# 'a' misses both targets in rows 8-21 (windows from 8 to 19 see none), 'b' only y in rows 10-30 (z stays), and
# 'c' both in rows 2-27: no training window (targets from row 4, rows before 28) has an observed one.
GAPS = {("a", "y"): slice(8, 22), ("a", "z"): slice(8, 22), ("b", "y"): slice(10, 31), ("c", "y"): slice(2, 28),
        ("c", "z"): slice(2, 28)}  # fmt: skip


def data(raw: pd.DataFrame, nan_policy: str = "ffill", **options) -> TimeSeriesDataModule:
    options = dict(split=FractionSplit(val=0.15, test=0.15), batch_size=4) | options
    columns = Columns(targets=["y", "z"], past_covariates=["x"])
    module = TimeSeriesDataModule(raw, LOOKBACK, HORIZON, columns=columns, nan_policy=nan_policy, **options)
    module.setup("fit")
    return module


def brute_force(
    module: TimeSeriesDataModule, raw: pd.DataFrame, stride: int = 1, end: int | None = None
) -> set[tuple[int, int]]:
    """(series, first target row) of every training window with a target value in the raw data; training ends at
    the split's validation start, or at row ``end``."""
    kept = set()
    for series, name in enumerate(module.series_names):
        targets = raw.loc[raw["id"] == name, ["y", "z"]].to_numpy()
        for origin in range(LOOKBACK, (end or int(module.borders[series, 0])) - HORIZON + 1, stride):
            if np.isfinite(targets[origin : origin + HORIZON]).any():
                kept.add((series, origin))
    return kept


def pairs(batches) -> list[tuple[int, int]]:
    """(series, time) of every window of ``batches``, in order."""
    return [pair for batch in batches for pair in zip(batch.series.tolist(), batch.time.tolist(), strict=True)]


@pytest.mark.parametrize("nan_policy", ["zero", "ffill", "interpolate"])
@pytest.mark.parametrize("stride", [1, 2])
def test_uniform_sampling_reads_every_kept_window_once_an_epoch(nan_policy, stride):
    raw = frame(GAPS)
    module = data(raw, nan_policy, train_stride=stride)
    expected = brute_force(module, raw, stride)
    assert len(expected) < int(module._windows("train").counts.sum())  # some windows are left out
    loader = module.train_dataloader()
    epochs = [pairs(loader), pairs(loader)]
    for read in epochs:
        assert sorted(read) == sorted(expected)
    assert epochs[0] != epochs[1]  # a new shuffle each epoch


def test_series_sampling_draws_kept_windows_of_every_series_with_one_alike():
    """'c' keeps no window and is never drawn; 'a' and 'b' keep 10 and 22: each draws about half of an epoch."""
    raw = frame(GAPS)
    module = data(raw, sampling="series")
    expected = brute_force(module, raw)
    kept = [sum(series == i for series, _ in expected) for i in range(3)]
    assert kept == [10, 22, 0] and module.dataset("train").counts.tolist() == kept
    loader = module.train_dataloader()
    drawn = [pairs(loader) for _ in range(40)]  # 40 epochs of 32 draws
    assert all(len(epoch) == 32 and set(epoch) <= expected for epoch in drawn)
    assert {pair for epoch in drawn for pair in epoch} == expected  # every kept window drawn at some point
    share = np.mean([series == 0 for epoch in drawn for series, _ in epoch])
    assert abs(share - 0.5) < 3 * np.sqrt(0.25 / (40 * 32))


@pytest.mark.parametrize("sampling", ["windows", "series"])
@pytest.mark.parametrize("consumed", [1, 5])
def test_a_pass_resumed_mid_epoch_reads_the_kept_windows_one_never_stopped_read(sampling, consumed):
    """A resumed pass (the seed of the checkpoint, ``consumed`` batches taken) is the rest of the stopped one."""
    raw = frame(GAPS)
    module = data(raw, sampling=sampling)
    dataset = module.dataset("train")

    def loader(taken: int):
        made = training_loader(dataset, 4, sampling, False, lambda: taken, **module.loader_options())
        if sampling == "series":
            made.sampler.set_epoch(3)  # as Lightning sets it on resume
        return made

    straight = loader(0)
    whole = list(straight)
    resumed = loader(consumed)
    resumed.load_state_dict(straight.state_dict())
    rest = list(resumed)
    assert pairs(rest) == pairs(whole[consumed:])
    assert set(pairs(whole)) <= brute_force(module, raw)


@pytest.mark.parametrize(
    "gaps, nan_policy",
    [({}, "error"), ({}, "ffill"), ({("a", "x"): slice(5, 30)}, "ffill"), ({("a", "y"): slice(5, 30)}, "zero")],
    ids=["error", "no-gap", "covariate-gap", "every-window-keeps-z"],
)
def test_data_whose_every_training_window_has_a_target_value_keep_all_of_them(gaps, nan_policy):
    raw = frame(gaps)
    module = data(raw, nan_policy)
    train = module.dataset("train")
    assert train.keep is None
    assert len(train) == int(module._windows("train").counts.sum()) == len(brute_force(module, raw))
    assert set(pairs(module.train_dataloader())) == brute_force(module, raw)


class Trained(L.Callback):
    """Records (series, time) of every training batch of the fits it is copied into (a refit copies it)."""

    seen: list[tuple[int, int]] = []  # noqa: RUF012 - shared by the copies

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        Trained.seen += pairs([batch])


def linear(lookback: int = LOOKBACK) -> Forecaster:
    return Forecaster(lookback=lookback, horizon=HORIZON, input_size=3, target_size=2, encoder=IdentityEncoder,
                      head=LookbackLinearHead, optimizer=functools.partial(torch.optim.SGD, lr=0.0))  # fmt: skip


def test_a_backtest_refit_trains_on_its_kept_windows_only(tmp_path):
    """The refit before row 34 trains on rows before 28 (its validation as long as the split's, 6 rows): the kept
    windows of a split at 28, which the brute force lists."""
    raw = frame(GAPS)
    module = data(raw)
    Trained.seen = []
    callbacks = [Trained(), EvaluationReport(num_plots=0)]
    trainer = ForecastTrainer(default_root_dir=tmp_path, max_epochs=1, callbacks=callbacks, **QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        trainer.backtest(linear(), module, start=34, num_windows=1, refit_every=1, verbose=False)
    assert sorted(Trained.seen) == sorted(brute_force(module, raw, end=28))


def test_a_backtest_refit_without_an_observed_training_target_names_the_start(tmp_path):
    """Only 'c' (no target value before row 28): the first refit's windows before its validation all lie in the
    gap. The refusal named the data module's split: an earlier validation start, which a backtest does not take
    (its refits validate just before --start)."""
    raw = frame({("c", "y"): slice(2, 34), ("c", "z"): slice(2, 34)}, series=("c",))
    module = data(raw, split=FractionSplit(val=0.15, test=0.05))
    trainer = ForecastTrainer(default_root_dir=tmp_path, max_epochs=1, **QUIET)
    with pytest.raises(ForecastDataError, match=r"first refit .* none has an observed value .* a later --start"):
        trainer.backtest(linear(), module, start=33, num_windows=1, refit_every=1, verbose=False)
    assert not list(tmp_path.rglob("refits"))  # refused before a refit trained


def test_a_fit_without_an_observed_training_target_is_advised_a_later_validation_start():
    """'a' has target values from row 30 on only: no training window before the validation start at row 28 has one.
    The refusal advised an earlier validation start, which leaves fewer training windows; the later one it advises
    now gives the fit windows with target values."""
    raw = frame({("a", "y"): slice(2, 30), ("a", "z"): slice(2, 30)}, series=("a",))
    with pytest.raises(
        ForecastDataError, match=r"every one was repaired .*, or a later validation start \(data.split\)"
    ):
        data(raw).dataset("train")
    later = data(raw, split=FractionSplit(val=0.1, test=0.05))  # validation from row 34
    train = later.dataset("train")
    read = pairs([train.__getitems__(list(range(len(train))))])
    assert sorted(read) == sorted(brute_force(later, raw)) == [(0, origin) for origin in range(28, 32)]


def brute_force_longest(raw: pd.DataFrame, borders: np.ndarray) -> int:
    """The longest lookback with a validation window and a training window with a target value, by trying all."""
    longest = 0
    for lookback in range(1, ROWS):
        train = val = False
        for series, name in enumerate(sorted(raw["id"].unique())):
            targets = raw.loc[raw["id"] == name, ["y", "z"]].to_numpy()
            for origin in range(lookback, int(borders[series, 0]) - HORIZON + 1):
                train |= bool(np.isfinite(targets[origin : origin + HORIZON]).any())
            val |= int(borders[series, 1]) - HORIZON >= max(int(borders[series, 0]), lookback)
        if train and val:
            longest = lookback
    return longest


def test_tunes_lookback_search_counts_only_training_windows_with_a_target_value():
    """'a' has target values up to row 9 only: a lookback from 10 on leaves training no window with one, and every
    trial of it would be refused. The search allowed 25 (the longest with a training window)."""
    raw = frame({("a", "y"): slice(10, 40), ("a", "z"): slice(10, 40)}, series=("a",))
    module = TimeSeriesDataModule(
        raw, LOOKBACK, HORIZON, columns=Columns(targets=["y", "z"], past_covariates=["x"]), nan_policy="ffill",
        split=FractionSplit(val=0.15, test=0.15),
    )  # fmt: skip
    assert study_checks.longest_lookback(module) == brute_force_longest(raw, module.borders) == 9
    with pytest.raises(ValueError, match=r"no training window at data.horizon 3 with an observed value .*at most 9"):
        study_checks.check_lookbacks(SearchSpace({"data.lookback": {"choice": [4, 12]}}), {}, module)
    study_checks.check_lookbacks(SearchSpace({"data.lookback": {"choice": [4, 9]}}), {}, module)
    with pytest.raises(ForecastDataError, match="none of the .* training windows has an observed value"):
        _fit_data(raw, 10).dataset("train")  # what a trial of lookback 10 meets


def _fit_data(raw: pd.DataFrame, lookback: int) -> TimeSeriesDataModule:
    module = TimeSeriesDataModule(
        raw, lookback, HORIZON, columns=Columns(targets=["y", "z"], past_covariates=["x"]), nan_policy="ffill",
        split=FractionSplit(val=0.15, test=0.15),
    )  # fmt: skip
    module.setup("fit")
    return module


def test_the_learning_rate_finder_steps_on_kept_windows_only(tmp_path):
    """The finder runs its steps in a fit of its own callbacks: the model's hook records the batches."""
    from lightning.pytorch.tuner import Tuner

    raw = frame(GAPS)
    module, model, seen = data(raw), linear(), []
    model.on_train_batch_start = lambda batch, batch_idx: seen.extend(pairs([batch]))
    trainer = L.Trainer(default_root_dir=tmp_path, max_epochs=5, **QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Tuner(trainer).lr_find(model, datamodule=module, num_training=12, early_stop_threshold=None, update_attr=False)
    kept = brute_force(module, raw)  # 32 windows: the 12 steps of 4 read them once, then 16 of them again
    assert len(seen) == 12 * 4 and sorted(seen[:32]) == sorted(kept) and set(seen) <= kept
