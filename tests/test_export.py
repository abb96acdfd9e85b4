import functools

import numpy as np
import pandas as pd
import pytest
import torch

import forecast
from forecast import Columns, Forecaster
from forecast.export import example_inputs, to_onnx, to_program
from forecast.nn import (
    GRUEncoder,
    InstanceNormalization,
    LastValueNormalization,
    LSTMEncoder,
    RNNEncoder,
    SegmentHead,
    SRUEncoder,
)

ENCODERS = {"rnn": RNNEncoder, "lstm": LSTMEncoder, "gru": GRUEncoder, "sru": SRUEncoder}


def build(encoder: str, **options) -> Forecaster:
    torch.manual_seed(0)
    return Forecaster(
        lookback=12,
        horizon=4,
        input_size=3,
        target_size=2,
        future_size=1,
        static_size=1,
        encoder=functools.partial(ENCODERS[encoder], hidden_size=8, bidirectional=True),
        **({"normalization": LastValueNormalization} | options),
    ).eval()


@pytest.mark.parametrize("encoder", sorted(ENCODERS))
def test_exported_program_matches_the_eager_model_at_any_batch_size(encoder, tmp_path):
    model = build(encoder, head=functools.partial(SegmentHead, seg_len=2))
    if encoder == "sru":
        with pytest.warns(UserWarning, match="exporting its reference recurrence"):
            to_program(model, tmp_path / "model.pt2")
    else:
        to_program(model, tmp_path / "model.pt2")
    program = torch.export.load(tmp_path / "model.pt2").module()
    inputs = example_inputs(model, batch_size=5)
    torch.testing.assert_close(program(*inputs), model(*inputs))


def test_example_inputs_give_a_categorical_static_feature_one_of_its_categories():
    model = build("gru", static_cardinalities=[3])  # the static feature is a category of 3
    past, future, static = example_inputs(model, batch_size=64)
    assert set(static[:, 0].tolist()) <= {0.0, 1.0, 2.0}
    assert model(past, future, static).shape == (64, 4, 2, 1)  # an index outside the embedding would raise


def test_a_checkpoint_that_fell_back_exports_its_naive_forecast(tmp_path):
    model = build("gru")
    model.naive_fallback = 2  # as Forecaster.load sets it from a checkpoint that lost to the seasonal naive
    with pytest.warns(UserWarning, match="falls back to it"):
        to_program(model, tmp_path / "model.pt2")
    program = torch.export.load(tmp_path / "model.pt2").module()
    past, future, static = example_inputs(model, batch_size=5)
    expected = past[:, [10, 11, 10, 11], :2].unsqueeze(-1)  # the last season of the 2 targets, repeated
    torch.testing.assert_close(program(past, future, static), expected)


@pytest.mark.parametrize("export", [to_program, to_onnx], ids=["program", "onnx"])
def test_export_leaves_the_callers_model_training(export, tmp_path):
    if export is to_onnx:
        pytest.importorskip("onnxscript")
    model = build("gru").train()
    export(model, tmp_path / "model")
    assert model.training and all(module.training for module in model.modules())


def test_export_leaves_a_part_the_caller_froze_in_eval_mode():
    model = build("gru").train()
    model.encoder.eval()  # frozen while the rest trains: its dropout stays off
    to_program(model)
    assert not model.encoder.training and model.head.training and model.training


@pytest.mark.parametrize("export", [to_program, pytest.param(to_onnx, marks=pytest.mark.slow)], ids=["program", "onnx"])
def test_export_writes_into_a_directory_that_does_not_exist_yet(export, tmp_path):
    if export is to_onnx:
        pytest.importorskip("onnxscript")
    path = str(tmp_path / "exports" / "today" / "model.bin")  # a str, as a user types it
    export(build("gru"), path)
    assert (tmp_path / "exports" / "today" / "model.bin").stat().st_size > 0


ONNX_ENCODERS = ["gru", pytest.param("lstm", marks=pytest.mark.slow), pytest.param("rnn", marks=pytest.mark.slow)]


@pytest.mark.parametrize("encoder", ONNX_ENCODERS)
def test_onnx_export_matches_the_eager_model(encoder, tmp_path, capsys):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = build(encoder)
    session = onnxruntime.InferenceSession(str(to_onnx(model, tmp_path / "model.onnx")))
    assert "[torch.onnx]" not in capsys.readouterr().out  # torch's exporter printed each of its steps
    inputs = example_inputs(model, batch_size=3)
    (params,) = session.run(
        None, {name: value.numpy() for name, value in zip(("past", "future", "static"), inputs, strict=True)}
    )
    np.testing.assert_allclose(params, model(*inputs).detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_onnx_export_of_instance_normalization_matches_the_eager_model(tmp_path):
    """RevIN's inverse takes the sign of a weight near zero (notebook 03 exports a model of it)."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = build("gru", normalization=InstanceNormalization)
    session = onnxruntime.InferenceSession(str(to_onnx(model, tmp_path / "model.onnx")))
    inputs = example_inputs(model, batch_size=3)
    (params,) = session.run(
        None, {name: value.numpy() for name, value in zip(("past", "future", "static"), inputs, strict=True)}
    )
    np.testing.assert_allclose(params, model(*inputs).detach().numpy(), rtol=1e-4, atol=1e-5)


def affine(scaling: dict) -> tuple[np.ndarray, np.ndarray]:
    """A checkpoint scaling's ``(scale, offset)`` of its one group, per channel."""
    return np.asarray(scaling["scale"])[0], np.asarray(scaling["offset"])[0]


def server_statics(state: dict, row: pd.Series) -> list[float]:
    """One series' static features as ``forecast.export``'s docstring says: category index or scaled number."""
    scale, offset = affine(state["scaling"]["statics"])
    numbers, values = iter(range(len(scale))), []
    for column in state["static_covariates"]:
        if column in state["vocabularies"]:
            values.append(state["vocabularies"][column].index(str(row[column])))
        else:
            number = next(numbers)
            values.append((row[column] - offset[number]) / scale[number])
    return values


def server_forecast(program, state: dict, history: pd.DataFrame, lookback: int, horizon: int) -> pd.DataFrame:
    """What ``forecast.export``'s docstring says a server does around the program, in numpy and pandas only."""
    (target_scale, target_offset), (covariate_scale, covariate_offset) = (
        affine(state["scaling"][kind]) for kind in ("targets", "covariates")
    )
    num_past = len(state["past_covariates"])
    past_scale = np.concatenate([target_scale, covariate_scale[:num_past]])
    past_offset = np.concatenate([target_offset, covariate_offset[:num_past]])
    past, future, static, last_times = [], [], [], []
    for _, rows in history.groupby("id", sort=True):
        observed = rows[rows[state["targets"]].notna().all(axis=1)]
        after = rows[rows["time"] > observed["time"].iloc[-1]]
        columns = state["targets"] + state["past_covariates"]
        past.append((observed[columns].to_numpy()[-lookback:] - past_offset) / past_scale)
        planned = after[state["future_covariates"]].to_numpy()[:horizon]
        future.append((planned - covariate_offset[num_past:]) / covariate_scale[num_past:])
        static.append(server_statics(state, rows.iloc[0]))
        last_times.append(observed["time"].iloc[-1])
    inputs = (torch.tensor(np.stack(values), dtype=torch.float32) for values in (past, future, static))
    params = program(*inputs)  # -> (B, H, C_out, P)
    forecast = params[..., 0].detach().numpy() * target_scale + target_offset  # MSELoss: the point is params[..., 0]
    step = pd.tseries.frequencies.to_offset(state["freq"])
    return pd.DataFrame(
        {
            "id": np.repeat(sorted(history["id"].unique()), horizon),
            "time": [time + k * step for time in last_times for k in range(1, horizon + 1)],
            state["targets"][0]: forecast[..., 0].ravel(),
        }
    )


def test_exported_program_with_the_documented_server_steps_forecasts_as_predict(long_frame, tmp_path):
    lookback, horizon = 12, 4
    columns = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"],
                      static_covariates=["region", "size"])  # fmt: skip
    trainer = {"max_epochs": 1, "limit_train_batches": 2, "limit_val_batches": 1, "default_root_dir": tmp_path,
               "logger": False, "enable_progress_bar": False, "enable_model_summary": False}  # fmt: skip
    model = forecast.fit(long_frame, lookback=lookback, horizon=horizon, data={"columns": columns}, trainer=trainer)
    history = long_frame.groupby("id").tail(lookback + horizon).reset_index(drop=True)
    history.loc[history.groupby("id").cumcount() >= lookback, ["y", "load"]] = np.nan  # the plan rows
    program = to_program(model).module()
    served = server_forecast(program, model.data_state, history, lookback, horizon)
    expected = model.predict(history)
    pd.testing.assert_frame_equal(served, expected, check_dtype=False, rtol=1e-5)


@pytest.mark.parametrize("export", [to_program, to_onnx], ids=["program", "onnx"])
def test_an_export_of_a_checkpoints_path_says_to_load_it_first(export, tmp_path):
    """A path where a model belongs failed with "'str' object has no attribute 'naive_fallback'"."""
    with pytest.raises(TypeError, match=r"export takes a Forecaster, got str 'x.ckpt'; .* Forecaster.load\(path\)"):
        export("x.ckpt", tmp_path / "model.out")
