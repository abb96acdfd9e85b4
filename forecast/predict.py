"""pandas in, pandas out: forecasts of a trained model for a history frame, as a long table.

``Forecaster.predict`` and the CLI's prediction writer share ``forecast_table``, so library and CLI
forecasts have the same columns.
"""

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from sklearn.base import TransformerMixin

from .data import TimeSeriesDataModule
from .specs import from_spec

if TYPE_CHECKING:
    from .model import Forecaster

__all__ = ["forecast_table", "history_module", "predict_frame"]

# What a checkpoint's data configuration says that reading a history frame needs; the split, strides,
# sampling and loader settings belong to training.
_HISTORY_KEYS = (
    "lookback", "horizon", "targets", "past_covariates", "future_covariates", "static_covariates", "calendar",
    "calendar_encoding", "scale_per_series", "nan_policy", "id_column", "time_column",
)  # fmt: skip


def _times(data: TimeSeriesDataModule, series: np.ndarray, time: np.ndarray, horizon: int) -> pd.DatetimeIndex:
    """The timestamps of ``horizon`` steps from row ``time`` of each window's series, flattened."""
    offset = pd.tseries.frequencies.to_offset(data.freq)
    if isinstance(offset, pd.offsets.Tick):  # a fixed step: plain arithmetic for every window at once
        starts = pd.DatetimeIndex(data.start_times)[np.repeat(series, horizon)]
        steps = (time[:, None] + np.arange(horizon)).ravel()
        return starts + pd.to_timedelta(steps * offset.nanos, unit="ns")
    # Calendar offsets (month ends, business days) step irregularly: pandas counts them per window.
    times = [data.forecast_times(s, t)[:horizon] for s, t in zip(series.tolist(), time.tolist(), strict=True)]
    return times[0].append(times[1:])


def forecast_table(
    data: TimeSeriesDataModule,
    forecast: np.ndarray,
    series: np.ndarray,
    time: np.ndarray,
    quantiles: np.ndarray | None = None,
    levels: tuple[float, ...] = (),
) -> pd.DataFrame:
    """The long table: ``id``, ``time``, one column per target, then ``{target}_q{level}`` per level.

    Shapes:
        forecast: (N, H, C_out), series: (N,), time: (N,) first forecast row, quantiles: (N, H, C_out, Q)
    """
    windows, horizon, _ = forecast.shape
    columns, values = list(data.targets), forecast
    if quantiles is not None:
        values = np.concatenate([forecast, quantiles.reshape(windows, horizon, -1)], axis=-1)
        columns += [f"{target}_q{level:g}" for target in data.targets for level in levels]
    table = pd.DataFrame(values.reshape(windows * horizon, -1), columns=columns)
    table.insert(0, "id", np.asarray(data.series_names, dtype=object)[np.repeat(series, horizon)])
    table.insert(1, "time", _times(data, series, time, horizon))
    return table


def history_module(
    config: dict[str, Any], state: dict[str, Any], frame: pd.DataFrame, batch_size: int
) -> TimeSeriesDataModule:
    """A data module over ``frame`` read as a checkpoint's data were, with the checkpoint's scalers.

    Raises:
        ValueError: the model carries no data configuration (it was not loaded from a checkpoint).
    """
    if not config or not state:
        raise ValueError(
            "this model has no data state to predict with; load it with Forecaster.load(checkpoint) "
            "(forecast.fit returns a loaded model)"
        )
    options = {key: config[key] for key in _HISTORY_KEYS if key in config}
    scalers = {key: from_spec(config.get(key), TransformerMixin, call=False) for key in ("scaler", "covariate_scaler")}
    data = TimeSeriesDataModule(
        frame, **options, **scalers, freq=state["freq"], batch_size=batch_size, history_only=True
    )
    data.load_state_dict(state)
    return data


def predict_frame(model: "Forecaster", frame: pd.DataFrame, horizon: int | None, batch_size: int) -> pd.DataFrame:
    """``Forecaster.predict``: see there."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"predict reads a pandas DataFrame of history (wide or long); got a {type(frame).__name__}")
    trained = model.hparams["horizon"]
    if horizon is not None and not (isinstance(horizon, int) and 1 <= horizon <= trained):
        raise ValueError(
            f"horizon={horizon!r}: this model forecasts 1 to {trained} steps (an int); retrain for a longer horizon"
        )
    data = history_module(model.data_config, model.data_state, frame, batch_size)
    training = model.training
    model.eval()
    outputs = []
    with torch.inference_mode():
        for batch in data.predict_dataloader():
            outputs.append(model.predict_step(move_data_to_device(batch, model.device), len(outputs)))
    model.train(training)
    stacked = {key: torch.cat([output[key] for output in outputs]).cpu().numpy() for key in outputs[0]}
    steps = slice(0, horizon or trained)
    quantiles = stacked["quantiles"][:, steps] if "quantiles" in stacked else None
    return forecast_table(
        data, stacked["forecast"][:, steps], stacked["series"], stacked["time"], quantiles, model.loss.levels
    )
