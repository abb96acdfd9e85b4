import struct

import numpy as np
import pandas as pd
import pytest

from forecast.plotting import plot_error_by_horizon, plot_forecasts, save_png


def png_size(path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


@pytest.fixture
def forecasts() -> pd.DataFrame:
    """Four windows of three steps of two targets, with a 10%-90% band."""
    rows = []
    for window in range(4):
        origin = pd.Timestamp("2024-01-01") + pd.Timedelta(hours=10 * window)
        for step in range(1, 4):
            rows.append({"id": "A", "origin": origin, "time": origin + pd.Timedelta(hours=step), "step": step,
                         "x": step, "x_actual": step + 0.5, "x_q0.1": step - 1, "x_q0.9": step + 1,
                         "y": -step, "y_actual": -step})  # fmt: skip
    return pd.DataFrame(rows)


def test_forecast_plot_is_a_png_of_one_panel_per_window_and_target(forecasts, tmp_path):
    history = pd.DataFrame({"id": "A", "time": pd.date_range("2023-12-31", periods=24, freq="h"), "x": 1.0, "y": 2.0})
    path = save_png(plot_forecasts(forecasts, max_windows=2, history=history), tmp_path / "forecast.png")
    assert png_size(path) == (2 * 400, 2 * 250)  # two targets side by side, two windows stacked, 100 dpi


def test_forecast_plot_draws_each_history_time_once_when_windows_overlap(forecasts):
    # The histories of overlapping windows, as a report keeps them: the same rows once per window.
    times = pd.date_range("2023-12-31", periods=30, freq="h")
    history = pd.concat(
        [pd.DataFrame({"id": "A", "time": times[k : k + 24], "x": np.arange(k, k + 24)}) for k in range(6)]
    )
    figure = plot_forecasts(forecasts, targets=["x"], max_windows=1, history=history, history_steps=20)
    drawn = figure.axes[0].lines[0]  # the history line
    assert list(drawn.get_ydata()) == list(range(5, 25))  # the 20 hours before the window, each once, in order


def test_forecast_plot_draws_the_quantile_band_between_the_outer_levels(forecasts):
    figure = plot_forecasts(forecasts, targets=["x"], max_windows=1)
    ax = figure.axes[0]
    assert len(ax.collections) == 1  # the band
    assert "q0.1-0.9" in [text.get_text() for text in ax.get_legend().get_texts()]
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == pytest.approx(0.0) and band.max() == pytest.approx(4.0)


def test_forecast_plot_takes_no_other_target_for_a_quantile_level(forecasts):
    forecasts = forecasts.assign(x_qty=1.0, x_qty_actual=2.0)  # a target "x_qty" beside "x" and its "x_q0.1"
    figure = plot_forecasts(forecasts, targets=["x", "x_qty"], max_windows=1)
    assert [len(ax.collections) for ax in figure.axes] == [1, 0]  # x's 10%-90% band; none for x_qty
    assert "q0.1-0.9" in [text.get_text() for text in figure.axes[0].get_legend().get_texts()]


def test_error_by_horizon_plot_is_a_png_of_its_size(tmp_path):
    table = pd.DataFrame({"units": "scaled", "target": np.repeat(["all", "x"], 5), "step": np.tile(np.arange(1, 6), 2),
                          "mae": np.linspace(0.1, 1.0, 10)})  # fmt: skip
    figure = plot_error_by_horizon(table, "mae")
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["all", "x"]
    assert png_size(save_png(figure, tmp_path / "error.png", dpi=50)) == (400, 250)


def test_plots_name_what_the_table_lacks(forecasts):
    with pytest.raises(ValueError, match="'{target}_actual' columns; none for \\['z'\\]"):
        plot_forecasts(forecasts, targets=["z"])
    with pytest.raises(ValueError, match="no metric 'crps'"):
        plot_error_by_horizon(pd.DataFrame({"units": ["scaled"], "target": ["all"], "step": [1], "mae": [0.1]}), "crps")
    with pytest.raises(ValueError, match=r"lacks the columns \['units'\].*metrics_by_horizon\.csv"):
        plot_error_by_horizon(pd.DataFrame({"target": ["all"], "step": [1], "mae": [0.1]}))


def test_forecast_plot_takes_a_single_target_name_as_one_column(forecasts):
    """``targets="x_qty"`` was read as the columns "x", "_", "q", ...: refused, naming each letter."""
    forecasts = forecasts.assign(x_qty=1.0, x_qty_actual=2.0)
    figure = plot_forecasts(forecasts, "x_qty", max_windows=1)
    assert [ax.get_title().split(",")[0] for ax in figure.axes] == ["x_qty"]


def test_forecast_plot_refuses_a_history_without_its_columns_naming_them(forecasts):
    """A wide frame's history as given (a ``date`` column, no ``id``) failed with a bare ``KeyError: 'id'``."""
    wide = pd.DataFrame({"date": pd.date_range("2023-12-31", periods=24, freq="h"), "x": 1.0})
    with pytest.raises(ValueError, match=r"history lacks the columns \['id', 'time', 'y'\]: .*id, time and"):
        plot_forecasts(forecasts, history=wide)


def test_forecast_plot_of_forecasts_csv_across_a_daylight_saving_change_draws_in_time_order(tmp_path):
    """``pd.read_csv("forecasts.csv", parse_dates=["origin", "time"])``, as the README says, leaves as text
    times whose UTC offsets differ: the plot sorted the text (02:00+01:00 before 02:00+02:00, which is an hour
    earlier), drew the window out of order on a text axis, and with a history of datetimes failed in
    matplotlib ("'zoneinfo.ZoneInfo' object has no attribute 'update'")."""
    times = pd.DatetimeIndex(["2024-10-27 01:00", "2024-10-27 02:00", "2024-10-27 02:00", "2024-10-27 03:00"])
    times = times.tz_localize("Europe/Berlin", ambiguous=[True, True, False, False])  # the clocks go back at 03:00
    table = pd.DataFrame({"id": 0, "origin": times[0], "time": times[1:], "step": [1, 2, 3], "y": [0.0, 0.0, 0.0],
                          "y_actual": [1.0, 2.0, 3.0]})  # fmt: skip
    table.to_csv(tmp_path / "forecasts.csv", index=False)
    read = pd.read_csv(tmp_path / "forecasts.csv", parse_dates=["origin", "time"])
    history = pd.DataFrame({"id": 0, "time": pd.date_range(end=times[0], periods=3, freq="h"), "y": [5.0, 6.0, 7.0]})
    ax = plot_forecasts(read, "y", history=history).axes[0]
    history_line, actual_line = ax.lines[:2]
    assert list(actual_line.get_ydata()) == [1.0, 2.0, 3.0]  # in step order
    assert list(history_line.get_ydata()) == [5.0, 6.0, 7.0]
    assert pd.Timestamp(actual_line.get_xdata()[0]) == times[1]  # on the time axis, with the history


def test_forecast_plot_of_no_window_is_refused_naming_max_windows(forecasts):
    """``max_windows=0`` failed inside matplotlib: "Number of rows must be a positive integer, not 0"."""
    with pytest.raises(ValueError, match=r"max_windows must be >= 1 .*; got 0"):
        plot_forecasts(forecasts, max_windows=0)


def test_plots_of_one_step_ahead_forecasts_draw_each_step_as_a_point():
    """A line through a single point draws nothing: horizon 1's forecast, actual and error each get a marker."""
    forecasts = pd.DataFrame({"id": "A", "origin": pd.to_datetime(["2024-01-01 00:00", "2024-01-01 05:00"]),
                              "time": pd.to_datetime(["2024-01-01 01:00", "2024-01-01 06:00"]), "step": 1,
                              "y": [1.0, 2.0], "y_actual": [1.5, 1.0]})  # fmt: skip
    drawn = [line for ax in plot_forecasts(forecasts, "y", 2).axes for line in ax.get_lines()]
    assert sorted(line.get_label() for line in drawn) == ["actual", "actual", "forecast", "forecast"]
    assert all(line.get_marker() not in ("None", "", None) for line in drawn)
    table = pd.DataFrame({"units": "scaled", "target": ["all", "y"], "step": 1, "mae": [0.5, 0.5]})
    lines = plot_error_by_horizon(table).axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["all", "y"]
    assert all(line.get_marker() not in ("None", "", None) for line in lines)


@pytest.mark.parametrize("dropped", ["origin", "id"])
def test_forecast_plot_refuses_a_table_without_its_window_columns_naming_them(forecasts, dropped):
    """A predict table with its actual values joined on has no ``origin``: it failed with a bare ``KeyError``."""
    with pytest.raises(ValueError, match=rf"forecasts lacks the columns \['{dropped}'\]: .*groupby\('id'\)"):
        plot_forecasts(forecasts.drop(columns=dropped))
