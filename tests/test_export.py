import functools

import numpy as np
import pytest
import torch

from forecast import Forecaster
from forecast.export import example_inputs, to_onnx, to_program
from forecast.nn import GRUEncoder, LastValueNormalization, LSTMEncoder, RNNEncoder, SegmentHead, SRUEncoder

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
        normalization=LastValueNormalization,
        encoder=functools.partial(ENCODERS[encoder], hidden_size=8, bidirectional=True),
        **options,
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


ONNX_ENCODERS = ["gru", pytest.param("lstm", marks=pytest.mark.slow), pytest.param("rnn", marks=pytest.mark.slow)]


@pytest.mark.parametrize("encoder", ONNX_ENCODERS)
def test_onnx_export_matches_the_eager_model(encoder, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = build(encoder)
    session = onnxruntime.InferenceSession(str(to_onnx(model, tmp_path / "model.onnx")))
    inputs = example_inputs(model, batch_size=3)
    (params,) = session.run(
        None, {name: value.numpy() for name, value in zip(("past", "future", "static"), inputs, strict=True)}
    )
    np.testing.assert_allclose(params, model(*inputs).detach().numpy(), rtol=1e-4, atol=1e-5)
