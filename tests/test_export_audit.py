"""Exports across the model matrix at batch sizes other than the export's example: a diagonal in this process, and
(slow) the whole matrix served where forecast cannot be imported, by a subprocess that imports torch (the ``.pt2``
program) or onnxruntime (the ONNX file) only."""

import functools
import itertools
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from forecast import Forecaster
from forecast.export import example_inputs, to_onnx, to_program
from forecast.losses import GaussianNLLLoss, QuantileLoss, StudentTNLLoss
from forecast.nn import (
    AutoregressiveHead,
    GRUEncoder,
    InstanceNormalization,
    LastValueNormalization,
    LinearHead,
    LSTMEncoder,
    NoNormalization,
    ResidualCycle,
    RNNEncoder,
    SegmentHead,
    SRUEncoder,
)

BATCH_SIZES = (1, 3, 17)  # the export's example batch is 2
ENCODERS = {
    "rnn": functools.partial(RNNEncoder, hidden_size=6),
    "lstm": functools.partial(LSTMEncoder, hidden_size=6),
    "gru": functools.partial(GRUEncoder, hidden_size=6),
    "bigru": functools.partial(GRUEncoder, hidden_size=6, bidirectional=True),
    "sru": functools.partial(SRUEncoder, hidden_size=6, num_layers=2),  # the 2nd layer's highway is its input
    "sru_projected": functools.partial(SRUEncoder, hidden_size=6, projection_size=3),
    "bisru": functools.partial(SRUEncoder, hidden_size=6, bidirectional=True),
}
HEADS = {
    "linear": LinearHead,
    "segment": functools.partial(SegmentHead, seg_len=4),  # 4 does not divide the horizon 6: the last segment is cut
    "autoregressive": functools.partial(AutoregressiveHead, step=2),
}
NORMALIZATIONS = {"none": NoNormalization, "revin": InstanceNormalization, "last_value": LastValueNormalization}
EXTRAS = {
    "plain": {},
    "channel_independent": {"channel_independent": True, "channel_embedding_size": 3},
    "static_category_and_number": {"static_cardinalities": [3, 0]},
    "future_and_cycle": {"future_size": 2, "cycle": ResidualCycle, "season_channel": 1, "season_length": 5},
    "no_future_no_static": {"future_size": 0, "static_size": 0},
}

# The server: no forecast (a module set to None in sys.modules cannot be imported), the inputs and outputs as files.
SERVE = """
import sys
sys.modules["forecast"] = None
import numpy as np
kind, inputs, outputs, *artefacts = sys.argv[1:]
data, served = np.load(inputs), {}
for number, artefact in enumerate(artefacts):
    sizes = sorted({key.split("_")[-1] for key in data if key.startswith(f"{number}_")}, key=int)
    if kind == "pt2":
        import torch
        program = torch.export.load(artefact).module()
        for size in sizes:
            windows = (torch.from_numpy(data[f"{number}_{name}_{size}"]) for name in ("past", "future", "static"))
            served[f"{number}_{size}"] = program(*windows).detach().numpy()
    else:
        import onnxruntime
        session = onnxruntime.InferenceSession(artefact)
        names = [node.name for node in session.get_inputs()] + [node.name for node in session.get_outputs()]
        assert names == ["past", "future", "static", "params"], names
        nodes = session.get_inputs() + session.get_outputs()
        assert all(isinstance(node.shape[0], str) for node in nodes), [node.shape for node in nodes]  # a free batch
        for size in sizes:
            windows = {name: data[f"{number}_{name}_{size}"] for name in ("past", "future", "static")}
            served[f"{number}_{size}"] = session.run(["params"], windows)[0]
np.savez(outputs, **served)
"""


def build(encoder: str, head: str, normalization: str, extra: str, **options) -> Forecaster:
    """A model of the matrix, its weights moved off their start (the static embeddings start at zero)."""
    torch.manual_seed(0)
    sizes = {"lookback": 10, "horizon": 6, "input_size": 3, "target_size": 2, "future_size": 1, "static_size": 2}
    model = Forecaster(
        **sizes | EXTRAS[extra] | options,
        encoder=ENCODERS[encoder],
        head=HEADS[head],
        normalization=NORMALIZATIONS[normalization],
    ).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return model


def windows(model: Forecaster, batch_size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``example_inputs`` of ``batch_size``, with a cycle's season positions as the calendar gives them (whole
    numbers, consecutive from each window's first forecast step)."""
    torch.manual_seed(batch_size)
    past, future, static = example_inputs(model, batch_size)
    if model.cycle is not None:
        first = torch.randint(model.cycle.period, (batch_size, 1))
        future[..., model.season_channel] = ((first + torch.arange(future.shape[1])) % model.cycle.period).float()
    return past, future, static


def eager_and_inputs(models: list[Forecaster]) -> tuple[dict[str, np.ndarray], list[dict[int, np.ndarray]]]:
    """The windows of every model at every batch size of ``BATCH_SIZES`` as the server reads them, and the eager
    model's params of them."""
    data, expected = {}, []
    for number, model in enumerate(models):
        expected.append({})
        for size in BATCH_SIZES:
            past, future, static = windows(model, size)
            data |= {f"{number}_past_{size}": past.numpy(), f"{number}_future_{size}": future.numpy()}
            data[f"{number}_static_{size}"] = static.numpy()
            with torch.no_grad():
                expected[number][size] = model(past, future, static).float().numpy()
    return data, expected


def served(kind: str, artefacts: list[Path], data: dict[str, np.ndarray], folder: Path) -> np.lib.npyio.NpzFile:
    """Each artefact's params of ``data``, run by a Python without forecast."""
    np.savez(folder / "inputs.npz", **data)
    command = [sys.executable, "-c", SERVE, kind, "inputs.npz", "outputs.npz", *map(str, artefacts)]
    environment = os.environ | {"OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True, env=environment, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    return np.load(folder / "outputs.npz")


def export_quietly(export, model: Forecaster, path: Path) -> Path:
    """``export(model, path)``, without the SRU's warning that it records its reference recurrence."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*exporting its reference recurrence")
        export(model, path)
    return path


def assert_as_eager(models: list[Forecaster], outputs: dict[str, np.ndarray], expected: list[dict]) -> None:
    for number, model in enumerate(models):
        for size in BATCH_SIZES:
            params = outputs[f"{number}_{size}"]
            assert params.shape == (size, 6, 2, model.loss.num_params)
            np.testing.assert_allclose(params, expected[number][size], rtol=1e-4, atol=1e-5, err_msg=f"batch {size}")


def assert_served_as_eager(kind: str, models: list[Forecaster], tmp_path: Path) -> None:
    """Export each model as ``kind`` and compare the artefact's params, served by a Python without forecast, with
    the eager model's at every batch size."""
    export = to_program if kind == "pt2" else to_onnx
    artefacts = [
        export_quietly(export, model, tmp_path / f"model{number}.{kind}") for number, model in enumerate(models)
    ]
    data, expected = eager_and_inputs(models)
    assert_as_eager(models, served(kind, artefacts, data, tmp_path), expected)


@pytest.mark.parametrize(
    "encoder, head, normalization, extra",
    [
        ("rnn", "segment", "none", "channel_independent"),
        pytest.param("lstm", "autoregressive", "revin", "static_category_and_number", marks=pytest.mark.slow),
        pytest.param("gru", "linear", "last_value", "future_and_cycle", marks=pytest.mark.slow),
    ],
)
def test_a_program_gives_the_eager_params_at_any_batch_size(encoder, head, normalization, extra):
    """A diagonal of the matrix, at batch sizes other than the example's."""
    model = build(encoder, head, normalization, extra)
    program = to_program(model).module()
    data, expected = eager_and_inputs([model])
    outputs = {}
    for size in BATCH_SIZES:
        inputs = (torch.from_numpy(data[f"0_{name}_{size}"]) for name in ("past", "future", "static"))
        outputs[f"0_{size}"] = program(*inputs).detach().numpy()
    assert_as_eager([model], outputs, expected)


@pytest.mark.parametrize(
    "dtype, part", [(torch.float64, r"encoder\.layers\.0\.layer \(GRU\)"), (torch.bfloat16, "bfloat16")]
)
def test_onnx_refuses_a_model_onnxruntime_cannot_run_naming_the_part_and_the_fix(dtype, part, tmp_path):
    """onnxruntime has no float64 GRU or LSTM ("GRU operator does not support double yet" on every run of the file)
    and an ONNX GRU of bfloat16 is an invalid graph; the export wrote such files without a word."""
    model = build("gru", "linear", "none", "plain").to(dtype)
    with pytest.raises(ValueError, match=rf"{part}.*to_onnx\(copy\.deepcopy\(model\)\.float\(\), path\)"):
        to_onnx(model, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.slow
def test_onnx_exports_a_float64_model_without_a_gru_or_lstm_and_a_float32_copy_of_one(tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    models = [build("rnn", "segment", "revin", "plain").double(), build("lstm", "linear", "none", "plain")]
    models.append(build("lstm", "linear", "none", "plain").double().float())
    assert_served_as_eager("onnx", models, tmp_path)


def diagonal() -> list[tuple[str, str, str, str]]:
    """Every encoder with every head, the normalizations and extras in turn (the whole product, 315 models, takes
    most of an hour to export on 2 cores)."""
    pairs = itertools.product(ENCODERS, HEADS)
    turns = zip(itertools.cycle(NORMALIZATIONS), itertools.cycle(EXTRAS))
    return [(encoder, head, *turn) for (encoder, head), turn in zip(pairs, turns, strict=False)]


@pytest.mark.slow
@pytest.mark.parametrize("encoder, head, normalization, extra", diagonal())
def test_programs_of_the_matrix_run_without_forecast_at_any_batch_size(encoder, head, normalization, extra, tmp_path):
    assert_served_as_eager("pt2", [build(encoder, head, normalization, extra)], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("encoder, head, normalization, extra", diagonal())
def test_onnx_files_of_the_matrix_run_in_onnxruntime_at_any_batch_size(encoder, head, normalization, extra, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    assert_served_as_eager("onnx", [build(encoder, head, normalization, extra)], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["pt2", "onnx"])
def test_an_ensemble_and_probabilistic_losses_are_served_as_eager(kind, tmp_path):
    """An ensemble's members as ``Forecaster.load`` builds them from ``forecast.ensemble.combine``'s checkpoint (one
    of a shorter lookback), and the losses whose params hold a scale and shape."""
    if kind == "onnx":
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnxscript")
    ensemble = build("gru", "segment", "last_value", "plain")
    ensemble.members = torch.nn.ModuleList(
        [build("sru", "linear", "revin", "plain"), build("lstm", "autoregressive", "none", "plain", lookback=7)]
    )
    probabilistic = [
        build("bisru", "segment", "revin", "channel_independent", loss=GaussianNLLLoss()),
        build("lstm", "autoregressive", "last_value", "future_and_cycle", loss=StudentTNLLoss()),
        build("gru", "linear", "none", "static_category_and_number", loss=QuantileLoss((0.1, 0.5, 0.8, 0.9))),
    ]
    assert_served_as_eager(kind, [ensemble, *probabilistic], tmp_path)


@pytest.mark.parametrize("export", [to_program, to_onnx], ids=["program", "onnx"])
def test_an_export_of_a_compiled_model_says_to_export_the_forecaster_it_wraps(export, tmp_path):
    """The message held torch.compile's wrapper's repr, every layer of the model on a line of its own, and said to
    load a checkpoint file."""
    compiled = torch.compile(build("gru", "linear", "none", "plain"))  # compiles nothing until it is called
    with pytest.raises(TypeError) as error:
        export(compiled, tmp_path / "model.out")
    assert str(error.value) == (
        "export takes a Forecaster, got OptimizedModule; export the Forecaster that torch.compile wrapped "
        "(model.compile() compiles it in place and exports)"
    )
