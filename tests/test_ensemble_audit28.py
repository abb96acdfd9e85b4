"""Ensembles, checkpoints and exports against hand references: an ensemble forecasts the mean of its members'
own forecasts (float64 members, a moved file, the CLI's ``predict`` and ``backtest``); ``combine`` names what
keeps a checkpoint out; a checkpoint saves again as it was read; and the steps ``forecast.export``'s docstring
lists around a program, done here in numpy and pandas, give what ``predict`` gives."""

import functools
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from ensemble_members import write_member
from sklearn.preprocessing import MinMaxScaler

from forecast import Columns, Forecaster, TimeSeriesDataModule
from forecast.cli import main
from forecast.data import FractionSplit
from forecast.data.calendar import calendar_features
from forecast.data.options import Calendar, Scaling
from forecast.ensemble import _difference, combine
from forecast.export import to_onnx, to_program
from forecast.nn import GRUEncoder, IdentityEncoder, LastValueNormalization, LinearHead, LSTMEncoder

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
HORIZON = 4
COLUMNS = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"])
GRU = {
    "normalization": LastValueNormalization,
    "encoder": functools.partial(GRUEncoder, hidden_size=4, num_layers=1),
    "head": functools.partial(LinearHead, from_sequence=True),
}
LSTM = {"encoder": functools.partial(LSTMEncoder, hidden_size=4)}
LINEAR = {"encoder": IdentityEncoder}  # a linear map of the window: quick to export


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Two hourly series of other levels in long format: a target, a past and a future covariate."""
    rng = np.random.default_rng(28)
    parts = []
    for name, level, rows in [("A", 10.0, 120), ("B", -3.0, 100)]:
        steps = np.arange(rows)
        parts.append(
            pd.DataFrame(
                {
                    "id": name,
                    "time": pd.date_range("2024-03-01", periods=rows, freq="h"),
                    "y": level + np.sin(steps / 4) + 0.3 * rng.standard_normal(rows),
                    "load": rng.normal(2, 1, rows),
                    "price": 50 + 5 * np.cos(steps / 5),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def history(frame) -> pd.DataFrame:
    """The last 16 rows of each series as history, then ``HORIZON`` rows that hold only the planned ``price``."""
    rows = frame.groupby("id").tail(16 + HORIZON).reset_index(drop=True)
    rows.loc[rows.groupby("id").cumcount() >= 16, ["y", "load"]] = np.nan
    return rows


def member_data(source: str | pd.DataFrame, lookback: int) -> TimeSeriesDataModule:
    """The data settings of a member on ``source``: per-series scaling and an hourly calendar feature."""
    return TimeSeriesDataModule(
        source, lookback, HORIZON, columns=COLUMNS, calendar=Calendar(features=["hour"]),
        scaling=Scaling(per_series=True), split=FractionSplit(),
    )  # fmt: skip


@pytest.fixture(scope="module")
def members(tmp_path_factory, frame) -> dict[str, Path]:
    """Members of other encoders and lookbacks on one frame: a GRU (12 steps), an LSTM (8), two linear maps (12, 6),
    and float64 copies of a GRU and an LSTM."""
    root = tmp_path_factory.mktemp("members")
    return {
        "gru": write_member(root / "gru.ckpt", member_data(frame, 12), 0, **GRU),
        "lstm": write_member(root / "lstm.ckpt", member_data(frame, 8), 1, **LSTM),
        "linear12": write_member(root / "linear12.ckpt", member_data(frame, 12), 2, **LINEAR),
        "linear6": write_member(root / "linear6.ckpt", member_data(frame, 6), 3, **LINEAR),
        "gru64": write_member(root / "gru64.ckpt", member_data(frame, 12), 4, torch.float64, **GRU),
        "lstm64": write_member(root / "lstm64.ckpt", member_data(frame, 8), 5, torch.float64, **LSTM),
    }


def hand_mean(checkpoints: list[Path], history: pd.DataFrame) -> np.ndarray:
    """The mean of the members' own forecasts of ``history``, each loaded alone."""
    return np.mean([Forecaster.load(path).predict(history)["y"].to_numpy() for path in checkpoints], axis=0)


def test_an_ensemble_of_float64_members_forecasts_their_mean_in_float64(members, history, tmp_path):
    """Members cast to float64 stay so in the ensemble: its forecast is their mean to float64's digits."""
    checkpoints = [members["lstm64"], members["gru64"]]
    ensemble = Forecaster.load(combine(checkpoints, tmp_path / "ensemble.ckpt"))
    assert {part.dtype for part in [ensemble, *ensemble.members]} == {torch.float64}
    expected = hand_mean(checkpoints, history)
    np.testing.assert_allclose(ensemble.predict(history)["y"].to_numpy(), expected, rtol=1e-12)


def test_an_ensemble_moved_without_its_members_forecasts_as_before(members, history, tmp_path):
    """The ensemble's file holds every network: moved to another folder, with the members' files gone, it loads
    and forecasts what it did where it was written."""
    for name in ("gru", "lstm"):
        shutil.copy(members[name], tmp_path / f"{name}.ckpt")
    written = combine([tmp_path / "gru.ckpt", tmp_path / "lstm.ckpt"], tmp_path / "written" / "ensemble.ckpt")
    before = Forecaster.load(written).predict(history)
    moved = tmp_path / "elsewhere" / "ensemble.ckpt"
    moved.parent.mkdir()
    shutil.move(written, moved)
    for name in ("gru", "lstm"):
        (tmp_path / f"{name}.ckpt").unlink()
    pd.testing.assert_frame_equal(Forecaster.load(moved).predict(history), before)
    np.testing.assert_allclose(before["y"], hand_mean([members["gru"], members["lstm"]], history), rtol=1e-6)


def resaved(path: Path) -> dict:
    """What saving the model that ``Forecaster.load`` reads from ``path`` writes of it (as a Trainer's
    ``save_checkpoint`` calls ``on_save_checkpoint``)."""
    model = Forecaster.load(path)
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    model.on_save_checkpoint(checkpoint)
    return checkpoint


MATTERS = ("state_dict", "hyper_parameters", "ensemble_members", "ensemble_hyper_parameters", "naive_fallback")


def test_a_loaded_checkpoint_saves_what_it_was_read_from(members):
    saved = torch.load(members["gru"], weights_only=True)
    again = resaved(members["gru"])
    assert [key for key in MATTERS if _difference(saved.get(key), again.get(key), key)] == []


def test_a_loaded_ensemble_saves_what_it_was_read_from(members, tmp_path):
    path = combine([members["gru"], members["lstm"]], tmp_path / "ensemble.ckpt")
    saved = torch.load(path, weights_only=True)
    again = resaved(path)
    assert [key for key in MATTERS if _difference(saved.get(key), again.get(key), key)] == []


def test_a_combine_that_fails_while_writing_leaves_the_previous_ensemble_and_no_partial_file(
    members, tmp_path, monkeypatch
):
    """A write cut short (a full disk) leaves the ensemble written before, whole, and nothing else."""
    path = combine([members["gru"], members["lstm"]], tmp_path / "ensemble.ckpt")
    before = path.read_bytes()

    def cut_short(contents: object, file: object, *args: object, **kwargs: object) -> None:
        with open(file, "wb") if isinstance(file, (str, Path)) else open(file.fileno(), "wb", closefd=False) as out:
            out.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", cut_short)
    with pytest.raises(OSError, match="No space left"):
        combine([members["gru"], members["linear12"]], path)
    assert sorted(file.name for file in tmp_path.iterdir()) == ["ensemble.ckpt"]
    assert path.read_bytes() == before


def test_combine_names_the_setting_a_member_differs_in(frame, members, tmp_path):
    """Other columns (no past covariate), another scaler, scaling over all series, another horizon: each named by
    its key."""
    other_data = {
        "columns.past_covariates": {"columns": Columns(targets=["y"], future_covariates=["price"])},
        "scaling.scaler.class_path": {"scaling": Scaling(scaler=MinMaxScaler, per_series=True)},
        "scaling.per_series": {"scaling": Scaling(per_series=False)},
        "horizon": {"horizon": HORIZON + 1},
    }
    for key, settings in other_data.items():
        data = TimeSeriesDataModule(
            **{"source": frame, "lookback": 12, "horizon": HORIZON, "columns": COLUMNS, "split": FractionSplit(),
               "calendar": Calendar(features=["hour"]), "scaling": Scaling(per_series=True)} | settings
        )  # fmt: skip
        data.setup("fit")
        contents = torch.load(members["linear12"], weights_only=True)
        contents |= {"datamodule_hyper_parameters": dict(data.hparams), "TimeSeriesDataModule": data.state_dict()}
        torch.save(contents, tmp_path / "other.ckpt")
        with pytest.raises(
            ValueError, match=rf"other.ckpt differs from .*gru.ckpt in datamodule_hyper_parameters\.{key}"
        ):
            combine([members["gru"], tmp_path / "other.ckpt"], tmp_path / "ensemble.ckpt")
    assert not (tmp_path / "ensemble.ckpt").exists()


def test_combine_refuses_no_members_a_file_that_is_no_checkpoint_and_an_ensemble(members, tmp_path):
    with pytest.raises(ValueError, match="an ensemble needs two or more checkpoints; got 0"):
        combine([], tmp_path / "ensemble.ckpt")
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    with pytest.raises(ValueError, match=r"notes.txt is not a forecast checkpoint .* give a .ckpt file"):
        combine([members["gru"], tmp_path / "notes.txt"], tmp_path / "ensemble.ckpt")
    ensemble = combine([members["gru"], members["lstm"]], tmp_path / "ensemble.ckpt")
    with pytest.raises(
        ValueError, match="ensemble.ckpt is an ensemble already; combine the checkpoints of its members"
    ):
        combine([members["linear12"], ensemble], tmp_path / "bigger.ckpt")


def scaled(values: np.ndarray, scaling: dict, row: int, channels: slice) -> np.ndarray:
    """``(value - offset) / scale`` with the ``row`` of a data state's scaling, for its ``channels``."""
    scale, offset = (np.asarray(scaling[key], dtype=np.float64)[row, channels] for key in ("scale", "offset"))
    return (values - offset) / scale


def server_inputs(state: dict, history: pd.DataFrame, lookback: int, horizon: int) -> tuple:
    """Steps 2 and 3 of ``forecast.export``'s docstring, in numpy and pandas: each series scaled by its own row of
    the scalings (``scale_per_series``), the ``past`` and ``future`` windows with the calendar features of the
    planned times; and each series' last observed time (step 6). No static features."""
    targets = state["targets"]
    num_past = len(state["past_covariates"])
    past, future, last_times = [], [], []
    for series, rows in history.groupby("id", sort=False):
        row = state["series"].index(str(series)) if state["scale_per_series"] else 0
        observed = rows[rows[targets].notna().all(axis=1)]
        planned = rows[rows["time"] > observed["time"].iloc[-1]].iloc[:horizon]
        window = observed.iloc[-lookback:]
        past_covariates = window[state["past_covariates"]].to_numpy()
        past.append(
            np.hstack([
                scaled(window[targets].to_numpy(), state["scaling"]["targets"], row, slice(None)),
                scaled(past_covariates, state["scaling"]["covariates"], row, slice(0, num_past)),
            ])
        )  # fmt: skip
        calendar = calendar_features(
            pd.DatetimeIndex(planned["time"]), state["calendar"], state["calendar_encoding"], state["freq"]
        )
        future_covariates = planned[state["future_covariates"]].to_numpy()
        future.append(
            np.hstack([scaled(future_covariates, state["scaling"]["covariates"], row, slice(num_past, None)), calendar])
        )
        last_times.append(observed["time"].iloc[-1])
    static = np.zeros((len(past), 0))
    return tuple(torch.tensor(np.stack(part), dtype=torch.float32) for part in (past, future, static)), last_times


def server_forecast(run, model: Forecaster, history: pd.DataFrame) -> pd.DataFrame:
    """Steps 2 to 6 of ``forecast.export``'s docstring around ``run`` (a program's module, an ONNX session's run),
    with what the server reads of ``model``: its data state, sizes and loss (point and quantile levels)."""
    state, lookback, horizon = model.data_state, model.hparams["lookback"], model.hparams["horizon"]
    inputs, last_times = server_inputs(state, history, lookback, horizon)
    with torch.no_grad():
        params = torch.as_tensor(run(*inputs)).double()  # -> (B, H, C_out, P)
    series = [str(name) for name in history["id"].unique()]
    rows = [state["series"].index(name) if state["scale_per_series"] else 0 for name in series]
    scale, offset = (np.asarray(state["scaling"]["targets"][key])[rows][:, None, :] for key in ("scale", "offset"))
    levels = model.loss.levels
    point = model.loss.point(params).numpy()  # -> (B, H, C_out)
    table = {"id": np.repeat(history["id"].unique(), horizon)}
    step = pd.tseries.frequencies.to_offset(state["freq"])
    table["time"] = [time + k * step for time in last_times for k in range(1, horizon + 1)]
    table["y"] = (point * scale + offset)[..., 0].ravel()
    if levels:
        quantiles = model.loss.quantiles(params, levels).numpy()  # -> (B, H, C_out, Q)
        for index, level in enumerate(levels):
            table[f"y_q{level:g}"] = (quantiles[..., index] * scale + offset)[..., 0].ravel()
    return pd.DataFrame(table)


@pytest.mark.slow
def test_an_exported_ensemble_with_the_documented_steps_forecasts_the_mean_of_its_members(members, history, tmp_path):
    """A program of an ensemble of two linear maps of other lookbacks, run between the docstring's steps."""
    checkpoints = [members["linear6"], members["linear12"]]
    ensemble = Forecaster.load(combine(checkpoints, tmp_path / "ensemble.ckpt"))
    program = to_program(ensemble, tmp_path / "ensemble.pt2")
    served = server_forecast(torch.export.load(tmp_path / "ensemble.pt2").module(), ensemble, history)
    expected = ensemble.predict(history)
    pd.testing.assert_frame_equal(served, expected, check_dtype=False, rtol=1e-5)
    np.testing.assert_allclose(served["y"], hand_mean(checkpoints, history), rtol=1e-5)
    assert program.module()(*server_inputs(ensemble.data_state, history, 12, HORIZON)[0]).shape == (2, HORIZON, 1, 1)


@pytest.mark.slow
def test_an_exported_ensemble_of_recurrent_members_forecasts_their_mean_in_onnxruntime(members, history, tmp_path):
    """The GRU and LSTM ensemble as a program and as an ONNX file, each between the docstring's steps."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    checkpoints = [members["lstm"], members["gru"]]
    ensemble = Forecaster.load(combine(checkpoints, tmp_path / "ensemble.ckpt"))
    expected = hand_mean(checkpoints, history)
    served = server_forecast(to_program(ensemble).module(), ensemble, history)
    np.testing.assert_allclose(served["y"], expected, rtol=1e-5)
    session = onnxruntime.InferenceSession(str(to_onnx(ensemble, tmp_path / "ensemble.onnx")))

    def run(*inputs: torch.Tensor) -> np.ndarray:
        return session.run(
            None, {name: value.numpy() for name, value in zip(("past", "future", "static"), inputs, strict=True)}
        )[0]

    np.testing.assert_allclose(server_forecast(run, ensemble, history)["y"], expected, rtol=1e-5)


@pytest.mark.slow
def test_the_frozen_checkpoints_program_with_the_documented_steps_forecasts_its_recorded_forecast():
    """The checkpoint forecast 0.1.0 wrote (a quantile GRU, per-series scalers, a future covariate and a calendar
    feature) exported today, between the docstring's steps, forecasts the point and the quantiles it recorded."""
    history = pd.read_csv(DATA / "frozen_v0.1.0_history.csv", parse_dates=["time"])
    recorded = pd.read_csv(DATA / "frozen_v0.1.0_forecast.csv", parse_dates=["time"])
    model = Forecaster.load(DATA / "frozen_v0.1.0.ckpt")
    served = server_forecast(to_program(model).module(), model, history)
    pd.testing.assert_frame_equal(served, recorded, check_dtype=False, rtol=1e-5)


@pytest.mark.slow
def test_the_cli_predicts_and_backtests_an_ensemble_as_the_mean_of_its_members(frame, tmp_path):
    """``predict`` and ``backtest --ckpt_path`` of an ensemble of a GRU (12 steps, whose config the CLI is given) and
    an LSTM (8 steps), each window against the members' own forecasts from the rows before its origin."""
    frame.to_csv(tmp_path / "frame.csv", index=False)
    source = str(tmp_path / "frame.csv")
    checkpoints = [write_member(tmp_path / "lstm.ckpt", member_data(source, 8), 1, **LSTM)]
    checkpoints.append(write_member(tmp_path / "gru.ckpt", member_data(source, 12), 0, **GRU))
    ensemble = combine(checkpoints, tmp_path / "ensemble.ckpt")
    args = ["--config", str(ROOT / "configs/etth1/gru.yaml"), "--data.source", source, "--data.lookback", "12",
            "--data.horizon", str(HORIZON), "--data.split", "forecast.data.FractionSplit", "--data.columns.targets",
            "[y]", "--data.columns.past_covariates", "[load]", "--data.columns.future_covariates", "[price]",
            "--data.calendar.features", "[hour]", "--data.scaling.per_series", "true",
            "--model.encoder.init_args.hidden_size", "4", "--trainer.logger", "false",
            "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
            "--ckpt_path", str(ensemble)]  # fmt: skip
    loaded = [Forecaster.load(path) for path in checkpoints]
    history = frame.copy()
    history.loc[history.groupby("id").cumcount(ascending=False) < HORIZON, ["y", "load"]] = np.nan  # planned rows
    history.to_csv(tmp_path / "history.csv", index=False)
    at = ["--trainer.default_root_dir", str(tmp_path / "predict"), "--data.source", str(tmp_path / "history.csv")]
    main(["predict", *args, *at])
    predicted = pd.read_csv(tmp_path / "predict" / "predictions.csv")
    np.testing.assert_allclose(predicted["y"], hand_mean(checkpoints, history), rtol=1e-5)
    main(["backtest", *args, "--trainer.default_root_dir", str(tmp_path / "backtest")])
    windows = pd.read_csv(tmp_path / "backtest" / "forecasts.csv", parse_dates=["origin", "time"])
    assert windows["window"].nunique() > 1
    for (series, _), rows in windows.groupby(["id", "window"]):
        known = frame[(frame["id"] == series) & (frame["time"] <= rows["origin"].iloc[0])]
        plan = frame[(frame["id"] == series) & frame["time"].isin(rows["time"])].assign(y=np.nan, load=np.nan)
        window_history = pd.concat([known, plan], ignore_index=True)
        expected = np.mean([model.predict(window_history)["y"].to_numpy() for model in loaded], axis=0)
        np.testing.assert_allclose(rows["y"], expected, rtol=1e-5)
