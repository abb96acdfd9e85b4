"""Hand mutation testing, round 4: tests for the mutants of the code the last two sessions added (training windows
with an observed target, the teacher-forced decoder's repaired targets, float64 metrics, tune's lookback check)
that the suite let through. Each fails under its mutant and passes on the real code."""

import functools

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Columns, ForecastDataError, Forecaster, TimeSeriesDataModule, study_checks
from forecast.batch import Batch
from forecast.data import FractionSplit
from forecast.model_metrics import PassMetrics
from forecast.nn import AutoregressiveHead, GRUEncoder
from forecast.search_space import SearchSpace

pytestmark = pytest.mark.filterwarnings("ignore")  # the scalers' notes on targets of few training values


def hourly(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    rows = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range("2024-01-01", periods=rows, freq="h", name="time"))


def test_the_refusal_of_training_data_without_an_observed_target_counts_the_windows_of_every_process(monkeypatch):
    """A second process (simulated at the gather) holds 7 more training windows, none with an observed target: the
    refusal counts the windows of both, not this process's alone."""
    y = np.full(40, np.nan)
    y[:2] = [1.0, 2.0]  # both before the first training target
    module = TimeSeriesDataModule(hourly({"y": y}), 4, 3, split=FractionSplit(0.2, 0.2), nan_policy="ffill")
    module.setup("fit")
    own = int(module._windows("train").counts.sum())
    monkeypatch.setattr("forecast.data.parts.gather_objects", lambda value: [value, (0, 7)])
    with pytest.raises(ForecastDataError, match=rf"none of the {own + 7} training windows has an observed value"):
        module.dataset("train")


def _decoder(teacher_forcing: float) -> Forecaster:
    torch.manual_seed(0)
    return Forecaster(
        lookback=6, horizon=4, input_size=1, target_size=1, encoder=functools.partial(GRUEncoder, hidden_size=4),
        head=functools.partial(AutoregressiveHead, step=1, teacher_forcing=teacher_forcing),
    ).train()  # fmt: skip


def _gradients(model: Forecaster, past: torch.Tensor, target: torch.Tensor | None) -> list[torch.Tensor]:
    model.zero_grad()
    params = model(past, torch.zeros(2, 4, 0), torch.zeros(2, 0), target)
    params.square().sum().backward()
    return [parameter.grad.clone() for parameter in model.parameters() if parameter.grad is not None]


def test_a_teacher_forced_decoder_whose_targets_are_all_repaired_trains_as_one_that_reads_its_own_forecasts():
    """Every target NaN: the teacher-forced decoder reads its own forecasts, and the gradient flows through them as
    it does without teacher forcing (the same forecasts and gradients, not a detached copy)."""
    past = torch.randn(2, 6, 1, generator=torch.Generator().manual_seed(1))
    forced = _gradients(_decoder(1.0), past, torch.full((2, 4, 1), float("nan")))
    free = _gradients(_decoder(0.0), past, None)
    assert len(forced) == len(free)
    for first, second in zip(forced, free, strict=True):
        torch.testing.assert_close(first, second, rtol=0, atol=0)


def _batch(dtype: torch.dtype) -> Batch:
    target = torch.arange(6, dtype=dtype).reshape(2, 3, 1)
    ones = torch.ones(2, 1, dtype=dtype)
    return Batch(
        past=torch.zeros(2, 4, 1, dtype=dtype), future=torch.zeros(2, 3, 0, dtype=dtype),
        static=torch.zeros(2, 0, dtype=dtype), target=target, series=torch.zeros(2, dtype=torch.long),
        time=torch.arange(2), target_scale=ones.double(), target_offset=0 * ones.double(), naive_scale=ones,
    )  # fmt: skip


def test_a_validation_after_the_model_is_cast_back_to_float32_logs_float32_metrics():
    """A float64 pass and then a float32 one of the same metrics: the second logs float32 values, as its forecasts."""
    metrics = PassMetrics(horizon=3, target_size=1, levels=())
    for dtype in (torch.float64, torch.float32):
        metrics.start("val")
        batch = _batch(dtype)
        metrics.add("val", batch, torch.tensor(0.5, dtype=dtype), batch.target + 1, None)
        means = metrics.overall_means("val")
        assert {value.dtype for value in means.values()} == {dtype}
        assert means["val/mae"].item() == 1.0


def _module(y: np.ndarray, lookback: int, train_stride: int, *extra: np.ndarray) -> TimeSeriesDataModule:
    columns = {"y": y} | {f"z{i}": column for i, column in enumerate(extra)}
    frame = hourly(columns)
    return TimeSeriesDataModule(
        frame, lookback, 1, columns=Columns(targets=list(columns)), split=FractionSplit(0.15, 0.15),
        train_stride=train_stride, nan_policy="ffill",
    )  # fmt: skip


def _trains(y: np.ndarray, lookback: int, train_stride: int, *extra: np.ndarray) -> bool:
    module = _module(y, lookback, train_stride, *extra)
    try:
        module.setup("fit")
        return len(module.dataset("train")) > 0
    except (ForecastDataError, ValueError):
        return False


def test_at_a_longer_stride_the_longest_lookback_with_windows_is_returned_where_it_trains():
    """40 rows, the target missing in rows 0-4 only (training rows 0-27): at stride 2 the lookbacks that train are
    not known to be monotone, and the longest with windows, which trains here, is the longest lookback."""
    y = np.arange(40.0)
    y[:5] = np.nan
    longest = study_checks.longest_lookback(_module(y, 4, 2))
    assert _trains(y, longest, 2) and not _trains(y, longest + 1, 2) and not _trains(y, longest + 2, 2)


def test_a_row_where_one_target_of_two_is_given_counts_as_observed_for_the_longest_lookback():
    """Two targets: 'y' misses rows 1-27 (every training target), 'z0' only row 21. Every training window has a
    given target value, so every lookback with windows trains; counting only the rows where both are given left none."""
    y, z = np.arange(40.0), np.arange(40.0)
    y[1:28] = np.nan
    z[21] = np.nan
    longest = study_checks.longest_lookback(_module(y, 4, 1, z))
    assert longest > 0 and _trains(y, longest, 1, z) and not _trains(y, longest + 1, 1, z)


def test_a_searched_range_whose_highest_lookback_leaves_no_window_to_train_is_refused():
    """Stride 2, the target given at training row 21 alone: lookback 1 trains, 2 does not (its windows' origins
    step over row 21). A range up to 2 is refused, naming lookback 2."""
    y = np.arange(40.0)
    y[0:21] = np.nan
    y[22:28] = np.nan
    module = _module(y, 1, 2)
    assert _trains(y, 1, 2) and not _trains(y, 2, 2)
    with pytest.raises(ValueError, match=r"lookback 2 leaves the data no training window .*data.train_stride 1"):
        study_checks.check_lookbacks(SearchSpace({"data.lookback": {"int": [1, 2]}}), {}, module)
