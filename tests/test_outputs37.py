"""Targets named like another target's quantile column: its forecast is never read or written as one."""

import functools

import numpy as np
import pandas as pd
import pytest

import forecast
from forecast.errors import ForecastDataError
from forecast.losses import QuantileLoss
from forecast.nn import GRUEncoder
from forecast.partition import forecast_columns as partition_columns
from forecast.plotting import plot_forecasts
from forecast.predict import forecast_columns


def _quarterly_forecasts(**quantiles: float) -> pd.DataFrame:
    """One window of the targets ``sales``, ``sales_q1`` and ``sales_q2`` (quarterly columns), with ``quantiles``
    of ``sales``."""
    times = pd.date_range("2024-01-01", periods=4, freq="h")
    table = pd.DataFrame({"window": 0, "id": "A", "origin": times[0] - pd.Timedelta("1h"), "time": times,
                          "step": np.arange(1, 5)})  # fmt: skip
    for name, value in [("sales", 10.0), ("sales_q1", 500.0), ("sales_q2", 900.0)]:
        table[name] = table[f"{name}_actual"] = value
    return table.assign(**quantiles)


def _bands(figure) -> list[tuple[str, float, float]]:
    """Each band drawn: its label and its lowest and highest value."""
    bands = [item for item in figure.axes[0].collections if item.get_label().startswith("q")]
    return [(band.get_label(), *(lambda y: (y.min(), y.max()))(band.get_paths()[0].vertices[:, 1])) for band in bands]


def test_a_point_forecast_draws_no_band_from_targets_named_like_quantiles():
    assert _bands(plot_forecasts(_quarterly_forecasts(), targets=["sales"])) == []


def test_the_band_spans_the_targets_own_outer_levels_not_another_targets_forecast():
    figure = plot_forecasts(_quarterly_forecasts(**{"sales_q0.1": 9.0, "sales_q0.9": 11.0}), targets=["sales"])
    assert _bands(figure) == [("q0.1-0.9", 9.0, 11.0)]


def test_forecast_columns_refuse_a_target_named_as_another_targets_quantile():
    assert forecast_columns(["y", "y_q0.5"]) == ["y", "y_q0.5"]  # a point forecast has no quantile columns
    with pytest.raises(ForecastDataError, match=r"columns \['y_q0.5'\] twice.*rename those target columns"):
        forecast_columns(["y", "y_q0.5"], (0.1, 0.5, 0.9))


def test_fit_refuses_such_targets_under_a_quantile_loss_before_training(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"y": rng.normal(size=120), "y_q0.5": rng.normal(size=120)},
                         index=pd.date_range("2024-01-01", periods=120, freq="h"))  # fmt: skip
    model = {"encoder": functools.partial(GRUEncoder, hidden_size=4), "loss": QuantileLoss((0.1, 0.5, 0.9))}
    trainer = {"max_epochs": 1, "default_root_dir": tmp_path, "logger": False, "enable_progress_bar": False}
    with pytest.raises(ForecastDataError, match=r"columns \['y_q0.5'\] twice"):
        forecast.fit(frame, lookback=8, horizon=2, model=model, trainer=trainer)
    assert not list(tmp_path.rglob("*.ckpt"))  # refused before a step was taken


def test_a_schema_of_such_targets_is_refused_as_the_table_would_be():
    class Model:  # what partition reads of a loaded model: the targets it was fitted on and its loss's levels
        data_state = {"targets": ["y", "y_q0.5"]}
        loss = QuantileLoss((0.5,))

    with pytest.raises(ForecastDataError, match=r"columns \['y_q0.5'\] twice"):
        partition_columns(Model())
