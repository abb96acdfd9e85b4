"""The Python API a notebook calls: forecast.fit, Forecaster.load/predict, the plots and the report's arguments."""

import functools

import numpy as np
import pandas as pd
import pytest
import torch

import forecast
from forecast import Columns, Forecaster, Scaling
from forecast.losses import QuantileLoss
from forecast.nn import GRUEncoder
from forecast.plotting import plot_error_by_horizon, plot_forecasts
from forecast.reports import EvaluationReport

LOOKBACK, HORIZON, LEVELS = 12, 4, (0.1, 0.5, 0.9)


def _history() -> pd.DataFrame:
    """Two hourly series of different starts and levels, two targets each."""
    rng = np.random.default_rng(3)
    parts = []
    for name, start, rows, level in [("A", "2024-01-01 00:00", 60, 10.0), ("B", "2024-01-02 05:00", 50, -3.0)]:
        steps = np.arange(rows)
        parts.append(
            pd.DataFrame(
                {
                    "id": name,
                    "time": pd.date_range(start, periods=rows, freq="h"),
                    "y": level + np.sin(steps / 5) + 0.1 * rng.standard_normal(rows),
                    "z": rng.normal(2 * level, 1.0, rows),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A quantile GRU of ``forecast.fit``, scaled per series, one batch of training: (model, history, run folder)."""
    root = tmp_path_factory.mktemp("pyapi")
    trainer = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "default_root_dir": str(root),
               "enable_progress_bar": False, "enable_model_summary": False, "logger": False}  # fmt: skip
    model = {"encoder": functools.partial(GRUEncoder, hidden_size=4), "loss": QuantileLoss(levels=list(LEVELS))}
    data = {"columns": Columns(targets=["y", "z"]), "scaling": Scaling(per_series=True), "batch_size": 8}
    history = _history()
    model = forecast.fit(history, lookback=LOOKBACK, horizon=HORIZON, data=data, model=model, trainer=trainer)
    return model, history, root


def test_predict_is_the_network_on_the_last_lookback_rows_scaled_by_the_checkpoint(fitted):
    model, history, _ = fitted
    state = model.data_state
    scale, offset = (np.array(state["scaling"]["targets"][key]) for key in ("scale", "offset"))  # -> (S, C)
    past = np.stack(
        [(history[history["id"] == name].tail(LOOKBACK)[["y", "z"]].to_numpy() - offset[i]) / scale[i]
         for i, name in enumerate(state["series"])]
    )  # fmt: skip
    with torch.no_grad():
        params = model.eval()(torch.tensor(past, dtype=torch.float32), torch.zeros(2, HORIZON, 0), torch.zeros(2, 0))
    expected = params.numpy() * scale[:, None, :, None] + offset[:, None, :, None]  # -> (S, H, C, Q)
    table = model.predict(history)
    for i, name in enumerate(state["series"]):
        rows = table[table["id"] == name]
        for c, target in enumerate(["y", "z"]):
            quantiles = rows[[f"{target}_q{level:g}" for level in LEVELS]].to_numpy()
            np.testing.assert_allclose(quantiles, expected[i, :, c], rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(rows[target].to_numpy(), expected[i, :, c, 1], rtol=1e-5, atol=1e-6)


def test_predict_times_continue_each_series_and_a_shorter_horizon_is_the_first_steps(fitted):
    model, history, _ = fitted
    table = model.predict(history)
    for name, rows in table.groupby("id"):
        last = history.loc[history["id"] == name, "time"].max()
        expected = pd.date_range(last + pd.Timedelta(hours=1), periods=HORIZON, freq="h")
        np.testing.assert_array_equal(rows["time"].to_numpy(), expected.to_numpy())
    short = model.predict(history, horizon=2)
    pd.testing.assert_frame_equal(short, table.groupby("id").head(2).reset_index(drop=True))


def test_a_checkpoint_loaded_again_forecasts_as_fits_return(fitted):
    model, history, root = fitted
    (best,) = [path for path in (root / "checkpoints").glob("*.ckpt") if path.name != "last.ckpt"]
    pd.testing.assert_frame_equal(Forecaster.load(best).predict(history), model.predict(history))


@pytest.mark.parametrize(
    ("group", "options", "fix"),
    [
        ("data", {"targets": ["y"]}, r"data sets 'targets'.*give it in its group: data=\{'columns': forecast\.Columns"),
        ("data", {"per_series": True}, r"data=\{'scaling': forecast\.Scaling\(per_series=\.\.\.\)\}"),
        (
            "model",
            {"encodr": GRUEncoder},
            r"model sets 'encodr', which Forecaster does not take; did you mean 'encoder'",
        ),
        ("model", {"hidden_size": 8}, r"a part's own settings go in its factory.*functools\.partial"),
        ("trainer", {"epochs": 1}, r"trainer sets 'epochs', which Trainer does not take; .*'max_epochs'"),
    ],
)
def test_fit_refuses_a_key_its_group_does_not_take_naming_the_group_and_the_fix(group, options, fix):
    with pytest.raises(TypeError, match=fix):
        forecast.fit(_history(), lookback=LOOKBACK, horizon=HORIZON, **{group: options})


def _forecasts_table() -> pd.DataFrame:
    """A forecasts.csv table of two windows of three steps, one target."""
    time = pd.date_range("2024-01-02", periods=3, freq="h")
    windows = [
        pd.DataFrame({"window": w, "id": "A", "origin": time[0] + pd.Timedelta(hours=w - 1), "step": [1, 2, 3],
                      "time": time + pd.Timedelta(hours=w), "y": [1.0, 2.0, 3.0], "y_actual": [1.5, 2.5, 2.0]})
        for w in range(2)
    ]  # fmt: skip
    return pd.concat(windows, ignore_index=True)


@pytest.mark.parametrize("steps", [-1, 2.5])
def test_forecast_plot_refuses_a_history_steps_that_is_no_count(steps):
    history = pd.DataFrame({"id": "A", "time": pd.date_range("2024-01-01", periods=24, freq="h"), "y": 0.0})
    with pytest.raises(ValueError, match=rf"history_steps must be >= 0 \(steps of history .*; got {steps}"):
        plot_forecasts(_forecasts_table(), history=history, history_steps=steps)


def test_forecast_plot_refuses_a_fractional_max_windows_naming_it():
    with pytest.raises(ValueError, match=r"max_windows must be >= 1 \(windows drawn, an int\); got 1\.5"):
        plot_forecasts(_forecasts_table(), max_windows=1.5)


def test_plots_refuse_what_is_no_dataframe_naming_the_argument():
    with pytest.raises(TypeError, match=r"forecasts is a dict; give a pandas DataFrame: pd\.read_csv"):
        plot_forecasts(_forecasts_table().to_dict())
    with pytest.raises(TypeError, match=r"table is a str; .*metrics_by_horizon\.csv"):
        plot_error_by_horizon("metrics_by_horizon.csv")


def test_forecast_plot_of_a_table_without_actual_values_says_how_to_join_them():
    table = _forecasts_table().drop(columns="y_actual")
    with pytest.raises(ValueError, match=r"no '\{target\}_actual' column .* join the actual values: table\.merge"):
        plot_forecasts(table)


def test_error_by_horizon_plot_of_unknown_units_names_the_units_there_are():
    table = pd.DataFrame({"units": "scaled", "target": "all", "step": [1, 2], "mae": [0.1, 0.2]})
    with pytest.raises(ValueError, match=r"no metric 'mae' in 'orig' units; it has the units \['scaled'\]"):
        plot_error_by_horizon(table, units="orig")


@pytest.mark.parametrize(("options", "message"), [
    ({"num_plots": 1.5}, r"report\.num_plots must be >= 0 \(windows drawn, an int; .*got 1\.5"),
    ({"passes": 1.5}, r"report passes must be >= 1 \(test passes, an int\); got 1\.5"),
])  # fmt: skip
def test_report_refuses_counts_that_are_no_whole_numbers(options, message):
    with pytest.raises(ValueError, match=message):
        EvaluationReport(**options)


def test_a_loss_given_as_an_instance_builds_a_model_without_lightnings_advice_to_ignore_it():
    """Lightning warned on every fit and load of a probabilistic model to leave the loss out of the hyperparameters,
    which the checkpoint needs to rebuild it (it records the loss as a class path and its arguments)."""
    import warnings as python_warnings

    from forecast.losses import QuantileLoss

    with python_warnings.catch_warnings(record=True) as given:
        python_warnings.simplefilter("always")
        model = Forecaster(lookback=8, horizon=2, input_size=1, target_size=1, loss=QuantileLoss(levels=[0.1, 0.9]))
    assert [str(warning.message) for warning in given] == []
    assert model.hparams["loss"].levels == (0.1, 0.9)
