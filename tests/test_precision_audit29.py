"""Precisions from fit to forecast: a checkpoint of each ``trainer.precision`` loads in its weights' dtype and
predicts what its network computes in it, in original units; an ensemble forecasts its members' mean in their
precision (members of two dtypes in the wider); exported programs take the float32 windows a server gives them and
reproduce ``predict``. References are the network's own forward on windows scaled in numpy."""

import functools
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import forecast
from forecast import Forecaster
from forecast.ensemble import combine
from forecast.export import to_onnx, to_program
from forecast.nn import GRUEncoder, IdentityEncoder, SRUEncoder

LOOKBACK, HORIZON = 16, 4
TARGETS = ["a", "b"]
ENCODERS = {"gru": GRUEncoder, "sru": SRUEncoder}
# The dtype of the weights that a fit in each precision checkpoints: the mixed precision trains float32 weights.
WEIGHTS = {"32-true": torch.float32, "64-true": torch.float64, "bf16-mixed": torch.float32}
# Relative tolerance of a forecast computed twice in a dtype, in two orders of its operations.
RTOL = {torch.float32: 1e-5, torch.float64: 1e-12, torch.bfloat16: 1e-2}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """120 hourly rows of two channels, one about a level of 1000 (float32 keeps 4 digits after its point there)."""
    rng = np.random.default_rng(29)
    steps = np.arange(120)
    index = pd.date_range("2024-01-01", periods=120, freq="h", name="date")
    values = {"a": 1000 + np.sin(steps / 4) + 0.1 * rng.standard_normal(120), "b": -5 + np.cos(steps / 6)}
    return pd.DataFrame(values, index=index)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory, frame):
    """``fitted(encoder, precision, seed) -> (model, last.ckpt)``: ``forecast.fit`` of one training and one
    validation batch in that ``trainer.precision``, each fit once per module."""
    root, done = tmp_path_factory.mktemp("fits"), {}

    def fit(encoder: str, precision: str, seed: int = 0) -> tuple[Forecaster, Path]:
        key = (encoder, precision, seed)
        if key not in done:
            folder = root / "-".join(map(str, key))
            trainer = {"max_epochs": 1, "limit_train_batches": 1, "limit_val_batches": 1, "precision": precision,
                       "default_root_dir": str(folder), "enable_progress_bar": False, "enable_model_summary": False,
                       "logger": False}  # fmt: skip
            torch.manual_seed(seed)
            model = {"encoder": functools.partial(ENCODERS[encoder], hidden_size=4)}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Lightning's advice on workers and the bfloat16 GRU's on CPUs
                returned = forecast.fit(frame, lookback=LOOKBACK, horizon=HORIZON, model=model, trainer=trainer)
            done[key] = returned, next(folder.rglob("last.ckpt"))
        return done[key]

    return fit


def windows(model: Forecaster, frame: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The one window of ``frame``'s last ``LOOKBACK`` rows as ``forecast.export``'s docstring lays it out:
    scaled in float64 with the checkpoint's scalers, then float32 (the model reads no calendar or statics)."""
    state = model.data_state
    assert state["targets"] == TARGETS and model.hparams["future_size"] == model.hparams["static_size"] == 0
    scale, offset = scaling(model)
    past = (frame[TARGETS].to_numpy()[-LOOKBACK:] - offset) / scale
    return torch.tensor(past[None], dtype=torch.float32), torch.zeros(1, HORIZON, 0), torch.zeros(1, 0)


def scaling(model: Forecaster) -> tuple[np.ndarray, np.ndarray]:
    targets = model.data_state["scaling"]["targets"]
    return tuple(np.asarray(targets[key], dtype=np.float64).reshape(-1) for key in ("scale", "offset"))


def in_original_units(model: Forecaster, params: torch.Tensor) -> np.ndarray:
    """The point forecasts of one window's loss parameters (1, H, C, 1) in original units, in float64: (H, C)."""
    scale, offset = scaling(model)
    return params[0, ..., 0].detach().double().numpy() * scale + offset


def own_forecast(model: Forecaster, frame: pd.DataFrame) -> np.ndarray:
    """What ``model``'s network computes for ``frame``'s last window, in its own dtype, in original units."""
    with torch.no_grad():
        return in_original_units(model, model.eval()(*windows(model, frame)))


def predicted(model: Forecaster, frame: pd.DataFrame) -> np.ndarray:
    table = model.predict(frame)
    assert (table[TARGETS].dtypes == np.float64).all()  # in float64, as the scalers put them back
    return table[TARGETS].to_numpy()


@pytest.mark.parametrize(
    ("encoder", "precision"), [("gru", "32-true"), ("gru", "64-true"), ("gru", "bf16-mixed"), ("sru", "64-true")]
)
def test_a_checkpoint_loads_in_its_precision_and_predicts_its_networks_forecast(fitted, frame, encoder, precision):
    """``Forecaster.load`` gives the fit's model back in its weights' dtype (float64 for ``64-true``), whose
    ``predict`` is its network's own forward in that dtype, in original units; so is the model ``fit`` returns."""
    returned, checkpoint = fitted(encoder, precision)
    model = Forecaster.load(checkpoint)
    assert model.dtype == returned.dtype == WEIGHTS[precision]
    forecasts = predicted(model, frame)
    np.testing.assert_allclose(forecasts, own_forecast(model, frame), rtol=RTOL[model.dtype])
    np.testing.assert_array_equal(predicted(returned, frame), forecasts)


def test_a_bfloat16_copy_predicts_its_networks_bfloat16_forecast_near_the_float32_one(fitted, frame):
    """``model.bfloat16()`` predicts in bfloat16 (the README's ``predict`` runs in the model's dtype): its forward in
    bfloat16 to bfloat16's digits, which the float32 forecast differs from by more than float32's own rounding."""
    model = Forecaster.load(fitted("gru", "32-true")[1])
    single = predicted(model, frame)
    model.bfloat16()
    forecasts = predicted(model, frame)
    np.testing.assert_allclose(forecasts, own_forecast(model, frame), rtol=RTOL[torch.float32])
    scale = scaling(model)[0]
    assert 1e-5 < np.abs((forecasts - single) / scale).max() < 0.1  # in scaled units: bfloat16's, not float32's


@pytest.mark.parametrize("first", ["float32", "float64"])
def test_an_ensemble_of_a_float32_and_a_float64_member_keeps_the_float64_members_digits(fitted, frame, tmp_path, first):
    """An ensemble loads in one dtype: with the members stored as trained, every network loaded in float32, so the
    float64 member's forecast (rounded weights, float32 sums) moved from its own by float32's error. It loads in
    float64, the widest: the ensemble forecasts the mean of the float64 member's own forecast and the
    float32 member's exact weights computed in float64, to float64's digits."""
    members = {"float32": fitted("gru", "32-true")[1], "float64": fitted("gru", "64-true", seed=1)[1]}
    checkpoints = [members[first], *(path for name, path in members.items() if name != first)]
    ensemble = Forecaster.load(combine(checkpoints, tmp_path / "ensemble.ckpt"))
    double = Forecaster.load(members["float64"])
    widened = Forecaster.load(members["float32"]).double()
    expected = (predicted(double, frame) + predicted(widened, frame)) / 2
    forecasts = predicted(ensemble, frame)
    np.testing.assert_allclose(forecasts, expected, rtol=1e-12)
    alone = (predicted(double, frame) + predicted(Forecaster.load(members["float32"]), frame)) / 2
    np.testing.assert_allclose(forecasts, alone, rtol=1e-6)  # the float32 member within its own rounding
    assert {network.dtype for network in [ensemble, *ensemble.members]} == {torch.float64}


@pytest.mark.parametrize("precision", ["32-true", "64-true"])
def test_an_ensemble_of_one_precision_forecasts_its_members_mean_in_it(fitted, frame, tmp_path, precision):
    """Members of one precision (a GRU and an SRU) stay in it, silently, and the ensemble forecasts the mean of their
    own forecasts to that dtype's digits."""
    checkpoints = [fitted("gru", precision)[1], fitted("sru", precision, seed=1)[1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        ensemble = Forecaster.load(combine(checkpoints, tmp_path / "ensemble.ckpt"))
    assert {network.dtype for network in [ensemble, *ensemble.members]} == {WEIGHTS[precision]}
    expected = np.mean([predicted(Forecaster.load(path), frame) for path in checkpoints], axis=0)
    np.testing.assert_allclose(predicted(ensemble, frame), expected, rtol=RTOL[WEIGHTS[precision]])


def test_a_program_exported_under_a_float64_default_dtype_takes_float32_windows():
    """The exports' docstrings give a server float32 windows: under ``torch.set_default_dtype(torch.float64)`` the
    example windows were float64, and the program refused float32 ones ("Tensor dtype mismatch! Expected: Double")."""
    torch.manual_seed(0)
    model = Forecaster(lookback=LOOKBACK, horizon=HORIZON, input_size=2, target_size=2, encoder=IdentityEncoder)
    torch.set_default_dtype(torch.float64)  # restored by conftest's fixture
    program = to_program(model).module()
    past = torch.randn(3, LOOKBACK, 2, dtype=torch.float32)
    future, static = torch.zeros(3, HORIZON, 0, dtype=torch.float32), torch.zeros(3, 0, dtype=torch.float32)
    with torch.no_grad():
        torch.testing.assert_close(program(past, future, static), model.eval()(past, future, static))


@pytest.mark.slow
@pytest.mark.parametrize("precision", ["32-true", "64-true", "bf16-mixed"])
@pytest.mark.parametrize("encoder", ["gru", "sru"])
def test_exports_serve_predicts_forecast_to_their_dtypes_digits(fitted, frame, tmp_path, encoder, precision):
    """The ``.pt2`` program, and the ONNX file where onnxruntime runs it (float32; float64 without a GRU), fed the
    float32 window laid out as ``forecast.export``'s docstring says, give ``predict``'s forecast once the target
    scaling is inverted in float64, to the rounding of the model's dtype."""
    model = Forecaster.load(fitted(encoder, precision)[1])
    expected, inputs = predicted(model, frame), windows(model, frame)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the SRU's note that it exports its reference recurrence
        params = to_program(model).module()(*inputs)
    assert params.dtype == model.dtype
    np.testing.assert_allclose(in_original_units(model, params), expected, rtol=RTOL[model.dtype])
    if model.dtype == torch.float64 and encoder == "gru":
        return  # refused by to_onnx, as its docstring says (tests/test_export*.py)
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        session = onnxruntime.InferenceSession(str(to_onnx(model, tmp_path / "model.onnx")))
    (served,) = session.run(None, dict(zip(["past", "future", "static"], (x.numpy() for x in inputs), strict=True)))
    np.testing.assert_allclose(in_original_units(model, torch.from_numpy(served)), expected, rtol=RTOL[model.dtype])
