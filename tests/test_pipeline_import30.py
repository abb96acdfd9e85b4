"""A checkpoint and a DataFrame in, a DataFrame of forecasts in original units out, for the configs' models.

Each config is fitted through the CLI in-process, shrunk (hidden sizes of 4, lookback 24, horizon 6, one epoch of
a frame generated with ETTh1's columns), then loaded with ``Forecaster.load`` as a pipeline would. Its table is
checked against a reference computed by hand: the last ``lookback`` rows scaled with the checkpoint's scalers,
the model's own forward pass, and the point forecast (and quantiles) inverse-scaled with those scalers. The
default run fits one config (the probabilistic GRU, on a long frame of two series scaled per series); every
config is swept under ``slow``.
"""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import ForecastDataError, Forecaster
from forecast.cli import main
from forecast.export import to_onnx, to_program

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]  # ETTh1's, the configs' data
LOOKBACK, HORIZON = 24, 6


def ett_frame(rows: int, seed: int, ids: tuple[int, ...] = ()) -> pd.DataFrame:
    """Hourly rows of ETTh1's columns at distinct levels: wide (a ``date`` index) without ``ids``, else long
    (``id``, ``time``) with one series per id, each at its own level."""
    rng = np.random.default_rng(seed)
    steps = np.arange(rows)
    times = pd.date_range("2024-03-01", periods=rows, freq="h")

    def values(shift: float) -> dict[str, np.ndarray]:
        return {
            column: shift + 10 * (i + 1) + (i + 1) * np.sin(steps / (3 + i)) + 0.3 * rng.standard_normal(rows)
            for i, column in enumerate(COLUMNS)
        }

    if not ids:
        return pd.DataFrame(values(0.0), index=times.rename("date"))
    parts = [pd.DataFrame({"id": sid, "time": times, **values(25.0 * n)}) for n, sid in enumerate(ids)]
    return pd.concat(parts, ignore_index=True)


def fit_config(config: Path, root: Path, frame: pd.DataFrame, *extra: str) -> Forecaster:
    """``config`` fitted through the CLI on ``frame`` (one epoch of two batches), shrunk; its last checkpoint
    loaded afresh with ``Forecaster.load``."""
    source = root / "data.csv"
    frame.to_csv(source, index=not {"id", "time"} <= set(frame.columns))
    text = config.read_text()
    args = ["fit", "--config", str(config), "--data.source", str(source), "--data.lookback", str(LOOKBACK),
            "--data.horizon", str(HORIZON), "--data.split", "forecast.data.FractionSplit",
            "--trainer.default_root_dir", str(root), "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--trainer.logger", "false", "--trainer.max_epochs", "1",
            "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "1", *extra]  # fmt: skip
    shrink = {
        "hidden_size": ["--model.encoder.init_args.hidden_size", "4"],
        "embedding_size": ["--model.embedding.init_args.embedding_size", "4"],
        "seg_len": ["--model.embedding.init_args.seg_len", "6", "--model.head.init_args.seg_len", "6"],
        "channel_embedding_size: 256": ["--model.channel_embedding_size", "3"],
        "moving_average: 25": ["--model.head.init_args.moving_average", "5"],
        "batch_channels": ["--data.batch_channels", "56"],
        "max_iter": ["--model.optimizer.init_args.max_iter", "3"],
        # the network itself, not the naive forecast a one-epoch fit falls back to
        "naive_comparison": ["--naive_comparison.fallback", "false"],
    }
    args += [arg for key, more in shrink.items() if key in text for arg in more]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cli = main(args)
    return Forecaster.load(cli.trainer.checkpoint_callback.last_model_path)


def by_hand(model: Forecaster, history: pd.DataFrame, series: str = "0") -> tuple[np.ndarray, np.ndarray | None]:
    """The point forecast (H, C) and quantiles (H, C, Q) of the last window of ``history`` (one series, named
    ``series`` as the checkpoint names it), scaled and inverse-scaled by hand in float64 with the checkpoint's
    scalers, through the model's forward pass."""
    state = model.data_state
    row = state["series"].index(series) if state["scale_per_series"] else 0
    scale = np.asarray(state["scaling"]["targets"]["scale"])[row]
    offset = np.asarray(state["scaling"]["targets"]["offset"])[row]
    window = (history[state["targets"]].to_numpy()[-model.hparams["lookback"] :] - offset) / scale
    past = torch.tensor(window, dtype=torch.float32)[None]
    with torch.no_grad():
        params = model(past, torch.zeros(1, model.hparams["horizon"], 0), torch.zeros(1, 0))
    point = model.loss.point(params)[0].double().numpy() * scale + offset
    if not model.loss.levels:
        return point, None
    quantiles = model.loss.quantiles(params, model.loss.levels)[0].double().numpy()
    return point, quantiles * scale[:, None] + offset[:, None]


def quantile_columns(levels: tuple[float, ...]) -> list[str]:
    return [f"{column}_q{level:g}" for column in COLUMNS for level in levels]


@pytest.fixture(scope="module")
def quantile_gru(tmp_path_factory) -> Forecaster:
    """configs/etth1/gru_quantile.yaml on a long frame of the series 7 and 11, scaled per series."""
    root = tmp_path_factory.mktemp("quantile_gru")
    frame = ett_frame(160, seed=0, ids=(7, 11))
    return fit_config(CONFIGS / "etth1/gru_quantile.yaml", root, frame, "--data.scaling.per_series", "true")


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    """40 rows of each of the series 7 and 11, other values than those trained on."""
    return ett_frame(40, seed=5, ids=(7, 11))


def test_forecasts_are_the_forward_pass_of_each_series_window_in_its_own_original_units(quantile_gru, history):
    forecasts = quantile_gru.predict(history)
    levels = quantile_gru.loss.levels
    assert levels == (0.1, 0.5, 0.9)
    for sid in (7, 11):
        point, quantiles = by_hand(quantile_gru, history[history.id == sid], series=str(sid))
        rows = forecasts[forecasts.id == sid]
        np.testing.assert_allclose(rows[COLUMNS].to_numpy(), point, rtol=1e-5, atol=1e-5)
        got = rows[quantile_columns(levels)].to_numpy().reshape(HORIZON, len(COLUMNS), len(levels))
        np.testing.assert_allclose(got, quantiles, rtol=1e-5, atol=1e-5)
    # the two series' scalers differ: a forecast scaled with the other's would differ by their level (25)
    assert not np.allclose(*quantile_gru.data_state["scaling"]["targets"]["offset"], atol=5)


def test_forecast_table_has_the_ids_times_and_columns_of_the_history(quantile_gru, history):
    forecasts = quantile_gru.predict(history)
    assert list(forecasts.columns) == ["id", "time", *COLUMNS, *quantile_columns((0.1, 0.5, 0.9))]
    assert forecasts.id.dtype == history.id.dtype and forecasts.id.tolist() == [7] * HORIZON + [11] * HORIZON
    last = history.time.max()
    expected = pd.date_range(last + pd.Timedelta(hours=1), periods=HORIZON, freq="h")
    for sid in (7, 11):
        assert forecasts.loc[forecasts.id == sid, "time"].tolist() == expected.tolist()
    assert forecasts.time.dtype == history.time.dtype


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda frame: frame.assign(note="x", extra=1.5), id="extra-columns"),
        pytest.param(lambda frame: frame[["OT", "time", *COLUMNS[:-1][::-1], "id"]], id="columns-reordered"),
        pytest.param(lambda frame: frame.sort_values("time", kind="stable"), id="series-interleaved"),
        pytest.param(lambda frame: frame.iloc[::-1].sort_values("time", kind="stable"), id="series-in-other-order"),
        pytest.param(lambda frame: frame.set_index(["time", "id"]), id="index-levels"),
    ],
)
def test_a_frame_laid_out_otherwise_gives_the_same_forecasts(quantile_gru, history, change):
    expected = quantile_gru.predict(history).sort_values(["id", "time"], ignore_index=True)
    got = quantile_gru.predict(change(history)).sort_values(["id", "time"], ignore_index=True)
    pd.testing.assert_frame_equal(got, expected)


@pytest.mark.parametrize("dtype", ["int32", "str", "category"])
def test_ids_of_another_dtype_are_the_same_series_and_keep_their_dtype(quantile_gru, history, dtype):
    expected = quantile_gru.predict(history)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an id matched as a new series would be scaled on its own, with a warning
        got = quantile_gru.predict(history.astype({"id": dtype}))
    assert got.id.dtype == history.astype({"id": dtype}).id.dtype
    assert got.id.astype(str).tolist() == expected.id.astype(str).tolist()
    pd.testing.assert_frame_equal(got.drop(columns="id"), expected.drop(columns="id"))


def test_rows_out_of_time_order_are_refused_naming_the_series_and_the_fix(quantile_gru, history):
    shuffled = history.sample(frac=1, random_state=0)
    with pytest.raises(ForecastDataError, match=r"time goes backwards at series '\d+'.*sort the frame by time"):
        quantile_gru.predict(shuffled)


@pytest.mark.slow  # an export takes seconds
def test_the_exported_program_with_the_checkpoints_scalers_gives_predicts_quantiles(quantile_gru, history):
    state = quantile_gru.data_state
    rows = [state["series"].index(str(sid)) for sid in (7, 11)]
    scale, offset = (np.asarray(state["scaling"]["targets"][key])[rows] for key in ("scale", "offset"))
    windows = np.stack([history[history.id == sid][COLUMNS].to_numpy()[-LOOKBACK:] for sid in (7, 11)])
    past = torch.tensor((windows - offset[:, None]) / scale[:, None], dtype=torch.float32)  # -> (2, L, C)
    with torch.no_grad():
        params = to_program(quantile_gru).module()(past, torch.zeros(2, HORIZON, 0), torch.zeros(2, 0))
    levels = quantile_gru.loss.levels
    quantiles = quantile_gru.loss.quantiles(params, levels).double().numpy()  # -> (2, H, C, Q)
    quantiles = quantiles * scale[:, None, :, None] + offset[:, None, :, None]
    expected = quantile_gru.predict(history)[quantile_columns(levels)].to_numpy()
    np.testing.assert_allclose(quantiles.reshape(expected.shape), expected, rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def last_value(tmp_path_factory) -> Forecaster:
    """configs/etth1/last_value.yaml (no weights to train) on a wide frame."""
    return fit_config(CONFIGS / "etth1/last_value.yaml", tmp_path_factory.mktemp("last_value"), ett_frame(160, 0))


def test_a_wide_frame_whose_arrow_times_lead_its_columns_gets_arrow_forecast_times(last_value):
    """The times of a wide frame with a default index are its first column (``reset_index()``'s, or a Parquet
    file's read with ``dtype_backend="pyarrow"``): forecasts continue them in their type, and merge onto them."""
    history = ett_frame(40, seed=5).reset_index().convert_dtypes(dtype_backend="pyarrow")
    assert isinstance(history.index, pd.RangeIndex) and isinstance(history.date.dtype, pd.ArrowDtype)
    forecasts = last_value.predict(history)
    assert forecasts.time.dtype == history.date.dtype
    expected = pd.date_range("2024-03-02 16:00", periods=HORIZON, freq="h")  # one hour after the last of 40 rows
    assert forecasts.time.tolist() == expected.tolist()
    np.testing.assert_allclose(forecasts[COLUMNS].to_numpy(), history[COLUMNS].tail(1).to_numpy(float)[[0] * HORIZON])
    both = pd.concat([history.rename(columns={"date": "time"}), forecasts.drop(columns="id")], ignore_index=True)
    assert both.time.dtype == history.date.dtype


def sweep_configs() -> list[Path]:
    return sorted((CONFIGS / "etth1").glob("*.yaml")) + sorted((CONFIGS / "ltsf").glob("*.yaml"))


@pytest.mark.slow
@pytest.mark.parametrize("config", sweep_configs(), ids=lambda path: f"{path.parent.name}-{path.stem}")
def test_every_config_forecasts_its_forward_pass_in_original_units_and_exports_it(config, tmp_path):
    model = fit_config(config, tmp_path, ett_frame(240, seed=0))
    assert model.naive_fallback is None
    history = ett_frame(60, seed=3)
    forecasts = model.predict(history)
    point, quantiles = by_hand(model, history)
    levels = model.loss.levels
    assert list(forecasts.columns) == ["id", "time", *COLUMNS, *quantile_columns(levels)]
    np.testing.assert_allclose(forecasts[COLUMNS].to_numpy(), point, rtol=1e-5, atol=1e-5)
    if levels:
        got = forecasts[quantile_columns(levels)].to_numpy().reshape(quantiles.shape)
        np.testing.assert_allclose(got, quantiles, rtol=1e-5, atol=1e-5)
    start = history.index[-1] + pd.Timedelta(hours=1)
    assert forecasts.time.tolist() == pd.date_range(start, periods=HORIZON, freq="h").tolist()
    reordered = history.assign(extra=0.0)[COLUMNS[::-1] + ["extra"]]
    pd.testing.assert_frame_equal(model.predict(reordered), forecasts)

    state = model.data_state
    scale, offset = (np.asarray(state["scaling"]["targets"][key])[0] for key in ("scale", "offset"))
    inputs = (
        torch.tensor((history[COLUMNS].to_numpy()[-LOOKBACK:] - offset) / scale, dtype=torch.float32)[None],
        torch.zeros(1, HORIZON, 0),
        torch.zeros(1, 0),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SRU's warning that it exports its tensor-op recurrence
        to_program(model, tmp_path / "model.pt2")
        to_onnx(model, tmp_path / "model.onnx")
    with torch.no_grad():
        program = torch.export.load(tmp_path / "model.pt2").module()(*inputs)
    onnxruntime = pytest.importorskip("onnxruntime")
    session = onnxruntime.InferenceSession(str(tmp_path / "model.onnx"))
    names = [node.name for node in session.get_inputs()]
    onnx = torch.from_numpy(session.run(None, {name: x.numpy() for name, x in zip(names, inputs, strict=True)})[0])
    for params in (program, onnx):
        exported = model.loss.point(params)[0].double().numpy() * scale + offset
        np.testing.assert_allclose(exported, forecasts[COLUMNS].to_numpy(), rtol=1e-5, atol=1e-5)
