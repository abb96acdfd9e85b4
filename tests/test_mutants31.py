"""Tests that fail under small, realistic mutations of the network, losses, prediction and calendar code that the
rest of the default suite let pass (hand mutation testing, round 2)."""

from functools import partial
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.trainer.states import TrainerFn
from scipy import stats

from forecast import ForecastDataError, TimeSeriesDataModule
from forecast.data.calendar import step_times
from forecast.inference import forecast_frame
from forecast.losses import GaussianNLLLoss, StudentTNLLoss
from forecast.model import Forecaster
from forecast.model_state import record_state, restore_dtype
from forecast.nn import InstanceNormalization
from forecast.nn.heads import AutoregressiveHead
from forecast.nn.statics import StaticEmbedding
from forecast.predict import HistorySplit, check_horizon


def test_static_embedding_tables_start_at_zero_so_no_category_counts_before_training():
    """Every row of a category table starts at zero: relabelling the categories changes no forecast of a new model,
    and a category no training window shows contributes nothing."""
    embedding = StaticEmbedding([3, 0, 5], 2)
    static = torch.tensor([[0.0, 0.7, 4.0], [2.0, -1.0, 1.0]])
    expected = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.7], [0.0, 0.0, 0.0, 0.0, -1.0]])
    torch.testing.assert_close(embedding(static), expected, rtol=0, atol=0)


def test_static_embedding_looks_each_categorical_column_up_in_its_own_table():
    """Two categorical columns beside a number: each column's codes index its own table, numbers pass as they are."""
    embedding = StaticEmbedding([3, 0, 2], 2)
    with torch.no_grad():
        embedding.embeddings[0].weight.copy_(torch.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]))
        embedding.embeddings[1].weight.copy_(torch.tensor([[-1.0, -2.0], [-3.0, -4.0]]))
    static = torch.tensor([[2.0, 0.25, 1.0], [0.0, -0.5, 0.0]])
    expected = torch.tensor([[4.0, 5.0, -3.0, -4.0, 0.25], [0.0, 1.0, -1.0, -2.0, -0.5]])
    torch.testing.assert_close(embedding(static), expected)


@pytest.mark.parametrize("df", [10.0, 11.0, 15.0, 40.0])
def test_student_t_log_density_at_large_degrees_of_freedom_is_scipys(df):
    """From 10 degrees of freedom on the log normalizer is an asymptotic series; each of its terms counts at 1e-7."""
    loss = StudentTNLLoss(df=df)
    loc, scale = torch.tensor([0.5, -1.0], dtype=torch.float64), torch.tensor([2.0, 0.3], dtype=torch.float64)
    params = torch.stack([loc, scale], dim=-1)[None, None]  # -> (1, 1, 2, 2)
    target = torch.tensor([[[1.7, -0.2]]], dtype=torch.float64)
    expected = -stats.t.logpdf(target.numpy(), df, loc=loc.numpy(), scale=scale.numpy())
    np.testing.assert_allclose(loss.elementwise(params, target).numpy(), expected, rtol=0, atol=1e-9)


def test_teacher_forcing_reads_the_target_on_the_scale_the_head_forecasts_in():
    """Under instance normalization a window and its target scaled by 10 and shifted by 3 give the forecast scaled
    and shifted alike, also when the head is teacher-forced: it reads the target normalized as the window was."""
    torch.manual_seed(0)
    model = Forecaster(
        lookback=8, horizon=4, input_size=1, target_size=1,
        normalization=partial(InstanceNormalization, affine=False, eps=1e-12),
        head=partial(AutoregressiveHead, teacher_forcing=1.0),
    ).train()  # fmt: skip
    past, target = torch.randn(3, 8, 1), torch.randn(3, 4, 1)
    future, static = torch.zeros(3, 4, 0), torch.zeros(3, 0)
    with torch.no_grad():
        forecast = model(past, future, static, target)
        moved = model(10 * past + 3, future, static, 10 * target + 3)
    torch.testing.assert_close(moved, 10 * forecast + 3, rtol=1e-4, atol=1e-4)


def test_a_python_built_models_checkpoint_records_a_zero_cardinality_per_numeric_static_feature():
    """Built in Python, ``static_cardinalities=None`` means every static feature is a number: the checkpoint records
    the list the CLI links from such data, a 0 per feature, so that ``--ckpt_path`` accepts it on that data."""
    model = Forecaster(lookback=4, horizon=2, input_size=1, target_size=1, static_size=2)
    checkpoint = {"hyper_parameters": dict(model.hparams)}
    record_state(model, checkpoint)
    assert checkpoint["hyper_parameters"]["static_cardinalities"] == [0, 0]


def test_predict_takes_every_horizon_from_one_to_the_trained_one_and_refuses_a_longer_one():
    """``Forecaster.predict(frame, horizon)``: 1 to the trained horizon steps, the trained one included."""
    for horizon in (None, 1, 6):
        check_horizon(horizon, 6)
    with pytest.raises(ValueError, match="horizon=7: this model forecasts 1 to 6 steps"):
        check_horizon(7, 6)


def test_a_shorter_horizon_of_a_probabilistic_forecast_keeps_the_first_steps_quantiles_too():
    """``forecast_frame`` (``Forecaster.predict``) for 2 of 4 trained steps: the first two rows of the full table,
    point and quantile columns alike."""
    frame = pd.DataFrame({"y": np.sin(np.arange(20) / 3)}, index=pd.date_range("2024-01-01", periods=20, freq="h"))
    data = TimeSeriesDataModule(frame, lookback=8, horizon=4, split=HistorySplit())
    data.setup("predict")
    model = Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, loss=GaussianNLLLoss(levels=(0.1, 0.9)))
    full, short = forecast_frame(model, data, None), forecast_frame(model, data, 2)
    assert list(short.columns) == ["id", "time", "y", "y_q0.1", "y_q0.9"]
    pd.testing.assert_frame_equal(short, full.head(2))


def test_steps_that_are_no_whole_number_of_the_times_unit_are_not_rounded_to_it():
    """Times in seconds (a Parquet file's ``timestamp[s]``) at a frequency of 1500 ms step 1.5 s, not 1 s."""
    starts = pd.DatetimeIndex(["2024-01-01", "2024-06-01"]).as_unit("s")
    times = step_times(starts, np.array([3, 2]), "1500ms")
    expected = pd.DatetimeIndex(["2024-01-01 00:00:00", "2024-01-01 00:00:01.5", "2024-01-01 00:00:03",
                                 "2024-06-01 00:00:00", "2024-06-01 00:00:01.5"])  # fmt: skip
    assert list(times) == list(expected)


def _hourly_beside(times: list[str]) -> pd.DataFrame:
    """Long data: series 'a' of ten hours, series 'b' at ``times``."""
    a = pd.DataFrame({"id": "a", "time": pd.date_range("2024-01-01", periods=10, freq="h"), "y": 1.0})
    return pd.concat([a, pd.DataFrame({"id": "b", "time": pd.DatetimeIndex(times), "y": 2.0})], ignore_index=True)


def test_a_daily_series_among_hourly_ones_is_named_as_stepping_one_day():
    """A series of three days among hourly ones has a frequency of its own; the message gives its step in words."""
    frame = _hourly_beside(["2024-01-01", "2024-01-02", "2024-01-03"])
    with pytest.raises(ForecastDataError, match="series 'b' steps 1 day from its first row to its last, not by"):
        TimeSeriesDataModule(frame, lookback=1, horizon=1, freq="h")


def test_a_series_of_two_rows_two_hours_apart_among_hourly_ones_is_told_to_fill_the_gap():
    """One step of two rows is a gap as likely as a frequency of its own: the message says to fill it."""
    frame = _hourly_beside(["2024-01-01 00:00", "2024-01-01 02:00"])
    with pytest.raises(
        ForecastDataError, match=r"does not follow frequency 'h' \(expected 2024-01-01 01:00:00\); fill"
    ):
        TimeSeriesDataModule(frame, lookback=1, horizon=1, freq="h")


@pytest.mark.parametrize(("precision", "dtype"), [("64-true", torch.float64), ("32-true", torch.float32)])
def test_a_fit_resumed_from_a_float64_checkpoint_trains_in_its_trainers_precision(precision, dtype):
    """Restored into a fit, a float32 model takes the dtype its ``trainer.precision`` trains in before the float64
    weights load: under ``64-true`` they keep their digits (Lightning casts the model only after loading them)."""
    model = Forecaster(lookback=4, horizon=2, input_size=1, target_size=1)
    weights = {name: value.double() for name, value in model.state_dict().items()}
    model._trainer = SimpleNamespace(state=SimpleNamespace(fn=TrainerFn.FITTING), precision=precision)
    restore_dtype(model, {"state_dict": weights})
    assert model.dtype == dtype
