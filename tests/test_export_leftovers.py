"""An export's path: its suffix matched in any case, a refused path leaving nothing behind, a program under an
upper-case suffix loading as the eager model, and an ONNX file that runs alone."""

import logging
import shutil

import numpy as np
import pytest
import torch

from forecast import Forecaster
from forecast.export import example_inputs, to_onnx, to_program


@pytest.fixture(scope="module")
def model() -> Forecaster:
    torch.manual_seed(0)
    return Forecaster(
        lookback=6, horizon=2, input_size=2, target_size=1, static_size=1, static_cardinalities=[3]
    ).eval()


def test_to_program_refuses_an_onnx_path_in_upper_case(model, tmp_path):
    """``model.ONNX`` got a torch.export program, which neither onnxruntime nor ``torch.export.load`` by name
    expects there."""
    with pytest.raises(
        ValueError, match=r"'.*model\.ONNX' names a \.onnx file, but this export writes \.pt2: .*to_onnx"
    ):
        to_program(model, tmp_path / "model.ONNX")
    assert not (tmp_path / "model.ONNX").exists()


def test_to_onnx_refuses_a_pt2_path_in_upper_case(model, tmp_path):
    with pytest.raises(
        ValueError, match=r"'.*model\.PT2' names a \.pt2 file, but this export writes \.onnx: .*to_prog"
    ):
        to_onnx(model, tmp_path / "model.PT2")
    assert not (tmp_path / "model.PT2").exists()


def test_a_refused_export_path_makes_no_folder(model, tmp_path):
    with pytest.raises(ValueError, match="names a .onnx file"):
        to_program(model, tmp_path / "exports" / "today" / "model.onnx")
    assert not (tmp_path / "exports").exists()


@pytest.mark.slow
def test_a_program_saved_under_an_upper_case_suffix_loads_as_the_eager_model_at_any_batch_size(model, tmp_path):
    """torch logged "Expect archive file to be a file ending in .pt2" for ``model.PT2``, a path it takes."""
    logged, factory = [], logging.getLogRecordFactory()

    def record(*args, **kwargs) -> logging.LogRecord:
        """Every record any logger makes, whichever handlers torch sets up and whether or not they propagate."""
        logged.append(factory(*args, **kwargs))
        return logged[-1]

    logging.setLogRecordFactory(record)
    try:
        to_program(model, tmp_path / "model.PT2")
    finally:
        logging.setLogRecordFactory(factory)
    assert [entry.getMessage() for entry in logged if ".pt2" in entry.getMessage()] == []
    program = torch.export.load(tmp_path / "model.PT2").module()
    for batch_size in (1, 3, 7):
        inputs = example_inputs(model, batch_size)
        torch.testing.assert_close(program(*inputs), model(*inputs))


@pytest.mark.slow
def test_an_onnx_file_runs_alone_in_onnxruntime(model, tmp_path):
    """A server given the ``.onnx`` file alone could not run it: its weights were in a ``.onnx.data`` file beside."""
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    (tmp_path / "server").mkdir()
    served = shutil.copy(to_onnx(model, tmp_path / "model.onnx"), tmp_path / "server" / "model.onnx")
    session = onnxruntime.InferenceSession(str(served))
    for batch_size in (1, 3, 7):
        inputs = example_inputs(model, batch_size)
        (params,) = session.run(
            None, {name: value.numpy() for name, value in zip(("past", "future", "static"), inputs, strict=True)}
        )
        np.testing.assert_allclose(params, model(*inputs).detach().numpy(), rtol=1e-4, atol=1e-5)
