"""The SRU encoder on every path against the paper's equations, written here from the module's docstring.

``paper_encoder`` is a plain float64 loop over time steps built from the layers' raw parameters, differentiated
by autograd: ``[x~, f', r'(, x')] = x W``, ``f = σ(f' + v_f c + b_f)``, ``r = σ(r' + v_r c + b_r)``,
``c = f c + (1 - f) x~``, ``h = r g(c) + (1 - r) x'``, the backward direction reading the window from its end.
Each path (the compiled C kernel, the tensor-op fallback, the exported recurrence, Triton on its CPU interpreter)
runs through ``SRUEncoder`` itself, with ``forecast.kernels._fastest`` pointed at it.
"""

import copy
import os
import re

import numpy as np
import pytest
import torch

import forecast.kernels as kernels
from forecast.kernels import sru_cpu
from forecast.kernels.sru_tensor_ops import SRURecurrenceTensorOps, sru_recurrence_unrolled
from forecast.nn import SRUEncoder, SRULayer

HIDDEN = 4


def paper_layer(layer: SRULayer, x: torch.Tensor, state: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """One layer in float64, one step at a time: (B, T, D_in), (dirs, B, D) -> (B, T, dirs * D), (dirs, B, D)."""
    x = x.double()
    factors = [module.weight.double() for module in layer.weight.modules() if isinstance(module, torch.nn.Linear)]
    weight = factors[0].T if len(factors) == 1 else factors[0].T @ factors[1].T  # (D_in, dirs * k * D)
    v, b = layer.v.double(), layer.b.double()
    batch, steps, _ = x.shape
    dirs, size, components = layer.directions, layer.hidden_size, layer.components
    u = (x @ weight).reshape(batch, steps, dirs, components, size)
    outputs, finals = [], []
    for direction in range(dirs):
        c = x.new_zeros(batch, size) if state is None else state[direction].double()
        h = [None] * steps
        for t in range(steps) if direction == 0 else range(steps - 1, -1, -1):
            f = torch.sigmoid(u[:, t, direction, 1] + v[0, direction] * c + b[0, direction])
            r = torch.sigmoid(u[:, t, direction, 2] + v[1, direction] * c + b[1, direction])
            c = f * c + (1 - f) * u[:, t, direction, 0]
            g = torch.tanh(c) if layer.use_tanh else c
            x_prime = x[:, t, direction * size : (direction + 1) * size] if components == 3 else u[:, t, direction, 3]
            h[t] = r * g + (1 - r) * x_prime
        outputs.append(torch.stack(h, dim=1))
        finals.append(c)
    return torch.cat(outputs, dim=-1), torch.stack(finals)


def paper_encoder(encoder: SRUEncoder, x: torch.Tensor, state: torch.Tensor | None):
    """The stack of ``paper_layer``s (dropout off), the states stacked as (num_layers * dirs, B, D)."""
    dirs = encoder.directions
    sequence, states = x, []
    for index, layer in enumerate(encoder.layers):
        if index > 0:
            sequence = encoder.between[index - 1](sequence)
        start = None if state is None else state[index * dirs : (index + 1) * dirs]
        sequence, last = paper_layer(layer, sequence, start)
        states.append(last)
    return sequence, torch.cat(states)


def _triton(u, highway, v, b, c0, use_tanh, overwrite_u):
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("set TRITON_INTERPRET=1 before Triton is imported to run its kernels on the CPU")
    triton = pytest.importorskip("forecast.kernels.sru_triton", exc_type=ImportError)
    return triton.SRURecurrenceTriton.apply(u, highway, v, b, c0, use_tanh)


def _compiled(u, highway, v, b, c0, use_tanh, overwrite_u):
    assert u.device.type == "cpu" and u.dtype in sru_cpu.DTYPES
    return sru_cpu.sru_recurrence_cpu(u, highway, v, b, c0, use_tanh, overwrite_u)


PATHS = {
    "compiled": _compiled,
    "tensor-ops": lambda u, highway, v, b, c0, use_tanh, _: SRURecurrenceTensorOps.apply(
        u, highway, v, b, c0, use_tanh
    ),
    "exported": lambda u, highway, v, b, c0, use_tanh, _: sru_recurrence_unrolled(u, highway, v, b, c0, use_tanh),
    "triton-interpreted": _triton,
}


@pytest.fixture(params=list(PATHS))
def path(request, monkeypatch):
    """Every ``SRULayer`` of the test runs its recurrence on this path."""
    if request.param == "compiled" and sru_cpu.cpu_library() is None:
        pytest.skip("needs the compiled CPU recurrence (a C compiler)")
    monkeypatch.setattr(kernels, "_fastest", PATHS[request.param])
    return request.param


def build(input_size, bidirectional=True, projection_size=0, use_tanh=False, dtype=torch.float64, layers=2):
    """A seeded encoder whose gates are far from their initial values: v and b random, not zero."""
    torch.manual_seed(0)
    encoder = SRUEncoder(
        input_size, hidden_size=HIDDEN, num_layers=layers, bidirectional=bidirectional,
        projection_size=projection_size, use_tanh=use_tanh,
    )  # fmt: skip
    with torch.no_grad():
        for layer in encoder.layers:
            layer.v.normal_()
            layer.b.normal_()
    return encoder.to(dtype)


def assert_outputs_and_gradients(encoder, leaves, inputs, tolerance):
    """Sequence, state, and the gradients of a random loss of both for ``leaves`` and every parameter, against
    ``paper_encoder`` of a float64 copy of ``encoder``; ``inputs(*leaves)`` gives x and the initial state."""
    reference = copy.deepcopy(encoder).double()
    ref_leaves = [leaf.detach().double().requires_grad_() for leaf in leaves]
    ref_x, ref_state = inputs(*ref_leaves)
    ref_state = None if ref_state is None else ref_state.double()
    expected_sequence, expected_state = paper_encoder(reference, ref_x.double(), ref_state)
    generator = torch.Generator().manual_seed(1)
    weight_sequence = torch.randn(expected_sequence.shape, generator=generator, dtype=torch.float64)
    weight_state = torch.randn(expected_state.shape, generator=generator, dtype=torch.float64)
    expected = torch.autograd.grad(
        (expected_sequence * weight_sequence).sum() + (expected_state * weight_state).sum(),
        [*ref_leaves, *reference.parameters()],
    )
    output = encoder(*inputs(*leaves))
    dtype = encoder.layers[0].v.dtype
    assert output.sequence.dtype == output.state.dtype == dtype
    loss = (output.sequence * weight_sequence.to(dtype)).sum() + (output.state * weight_state.to(dtype)).sum()
    actual = torch.autograd.grad(loss, [*leaves, *encoder.parameters()])
    close = dict(rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(output.sequence.double(), expected_sequence, **close)
    torch.testing.assert_close(output.state.double(), expected_state, **close)
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got.double(), want, **close)


def transposed(x_leaf, state_leaf):
    """x (B, T, F) and the state (layers * dirs, B, D) as transposed views of (T, B, F) and (B, layers * dirs, D)."""
    return x_leaf.transpose(0, 1), state_leaf.transpose(0, 1)


CONFIGS = [  # (input_size, bidirectional, projection_size, use_tanh)
    pytest.param(4, False, 0, False, id="uni-highway-x"),
    pytest.param(5, False, 3, True, id="uni-lowrank-tanh"),
    pytest.param(8, True, 0, True, id="bi-highway-x-tanh"),
    pytest.param(5, True, 3, False, id="bi-lowrank"),
]


@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float64, 1e-10), (torch.float32, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize(("input_size", "bidirectional", "projection_size", "use_tanh"), CONFIGS)
def test_sru_encoder_on_every_path_is_the_paper_loop_forward_and_backward(
    path, dtype, tolerance, input_size, bidirectional, projection_size, use_tanh
):
    """Batch 3, 7 steps, 2 layers, an initial state: outputs, final states and the gradients of the input, the
    state and every parameter. x and the state are transposed views (non-contiguous)."""
    encoder = build(input_size, bidirectional, projection_size, use_tanh, dtype)
    dirs = 2 if bidirectional else 1
    x_leaf = torch.randn(7, 3, input_size, dtype=dtype, requires_grad=True)
    state_leaf = torch.randn(3, 2 * dirs, HIDDEN, dtype=dtype, requires_grad=True)
    x, state = transposed(x_leaf, state_leaf)
    assert not x.is_contiguous() and not state.is_contiguous()
    assert_outputs_and_gradients(encoder, [x_leaf, state_leaf], transposed, tolerance)


@pytest.mark.parametrize(("batch", "steps"), [(1, 1), (3, 1), (1, 7)], ids=["B1-T1", "B3-T1", "B1-T7"])
def test_sru_encoder_on_every_path_takes_one_step_and_one_row(path, batch, steps):
    encoder = build(8, bidirectional=True, use_tanh=True)
    x_leaf = torch.randn(steps, batch, 8, dtype=torch.float64, requires_grad=True)
    state_leaf = torch.randn(batch, 4, HIDDEN, dtype=torch.float64, requires_grad=True)
    assert_outputs_and_gradients(encoder, [x_leaf, state_leaf], transposed, 1e-10)


def test_sru_encoder_on_every_path_reads_a_strided_slice_from_no_state(path):
    """x every other step of a wider tensor (strides in time and features), the state left to zeros; a frozen
    input, as a batch of data is: only the parameters' gradients."""
    encoder = build(8, bidirectional=True)
    x = torch.randn(3, 14, 11, dtype=torch.float64)[:, ::2, 2:10]
    assert not x.is_contiguous()
    assert_outputs_and_gradients(encoder, [], lambda: (x, None), 1e-10)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode], ids=["no_grad", "inference_mode"])
def test_sru_encoder_on_every_path_without_a_graph_is_the_paper_loop(path, mode):
    encoder = build(5, bidirectional=True, projection_size=3, use_tanh=True)
    x, state = torch.randn(3, 7, 5, dtype=torch.float64), torch.randn(4, 3, HIDDEN, dtype=torch.float64)
    expected_sequence, expected_state = paper_encoder(encoder, x, state)
    with mode():
        output = encoder(x, state)
    assert output.sequence.grad_fn is None
    torch.testing.assert_close(output.sequence, expected_sequence, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(output.state, expected_state, rtol=1e-10, atol=1e-10)


def test_sru_encoder_on_every_path_in_bfloat16_returns_bfloat16_close_to_the_paper_loop(path):
    """A bfloat16 encoder on bfloat16 inputs: its recurrence runs in float32 and it returns bfloat16, within
    bfloat16's rounding of the float64 loop on the same (bfloat16) values, and so are the gradients' dtypes."""
    encoder = build(8, bidirectional=True, use_tanh=True, dtype=torch.bfloat16)
    x = torch.randn(3, 7, 8).to(torch.bfloat16).requires_grad_()
    state = torch.randn(4, 3, HIDDEN).to(torch.bfloat16)
    expected_sequence, expected_state = paper_encoder(copy.deepcopy(encoder).double(), x.detach(), state)
    output = encoder(x, state)
    assert output.sequence.dtype == output.state.dtype == torch.bfloat16
    torch.testing.assert_close(output.sequence.double(), expected_sequence, rtol=0.03, atol=0.03)
    torch.testing.assert_close(output.state.double(), expected_state, rtol=0.03, atol=0.03)
    output.sequence.float().sum().backward()
    assert x.grad.dtype == torch.bfloat16 and encoder.layers[0].v.grad.dtype == torch.bfloat16


def test_sru_encoder_last_is_the_forward_end_and_the_backward_start_of_the_paper_loop(path):
    encoder = build(8, bidirectional=True)
    x = torch.randn(3, 7, 8, dtype=torch.float64)
    expected_sequence, _ = paper_encoder(encoder, x, None)
    last = encoder(x).last
    expected = torch.cat([expected_sequence[:, -1, :HIDDEN], expected_sequence[:, 0, HIDDEN:]], dim=-1)
    torch.testing.assert_close(last, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(("input_size", "bidirectional", "projection_size", "use_tanh"), CONFIGS)
def test_sru_broadcast_step_is_a_one_step_window_of_the_paper_loop(
    input_size, bidirectional, projection_size, use_tanh
):
    """``broadcast_step`` on a (1, S, F) part and a (B, 1, F) part: each (row, position) pair is the paper loop
    on a window of that one step, from the row's state."""
    encoder = build(input_size, bidirectional, projection_size, use_tanh)
    dirs = 2 if bidirectional else 1
    positions = torch.randn(1, 5, 2, dtype=torch.float64)
    rows = torch.randn(3, 1, input_size - 2, dtype=torch.float64)
    state = torch.randn(2 * dirs, 3, HIDDEN, dtype=torch.float64)
    output = encoder.broadcast_step([positions, rows], state)
    window = torch.cat([positions.expand(3, 5, 2), rows.expand(3, 5, input_size - 2)], dim=-1)
    expected = torch.stack([paper_encoder(encoder, window[:, [s]], state)[0][:, 0] for s in range(5)], dim=1)
    torch.testing.assert_close(output, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.skipif(sru_cpu.cpu_library() is None, reason="needs the compiled CPU recurrence (a C compiler)")
def test_sru_encoder_on_cpu_is_one_product_and_one_compiled_call_per_layer_forward_and_backward(monkeypatch):
    """The module docstring and README: each layer's W meets all time steps in one product, then one call of the
    C kernel forward and one backward; in float32 also for a bfloat16 encoder; under no_grad one forward call."""
    calls = []
    kernel = sru_cpu._kernel

    def counted(direction, dtype):
        calls.append((direction, dtype))
        return kernel(direction, dtype)

    monkeypatch.setattr(sru_cpu, "_kernel", counted)
    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        encoder = build(5, bidirectional=True, projection_size=3, dtype=dtype)
        products = []
        for layer in encoder.layers:
            layer.weight.register_forward_hook(lambda module, args, output, seen=products: seen.append(args[0].shape))
        calls.clear()
        encoder(torch.randn(3, 7, 5, dtype=dtype)).sequence.sum().backward()
        compute = torch.float32 if dtype == torch.bfloat16 else dtype
        assert calls == [("forward", compute)] * 2 + [("backward", compute)] * 2
        assert products == [(3, 7, 5), (3, 7, 2 * HIDDEN)]
        calls.clear()
        with torch.no_grad():
            encoder(torch.randn(3, 7, 5, dtype=dtype))
        assert calls == [("forward", compute)] * 2


def test_sru_encoder_without_the_compiled_kernel_runs_the_tensor_ops_on_the_paper_loop(monkeypatch):
    """Where ``cpu_library()`` gives ``None`` (no C compiler), the dispatcher takes ``SRURecurrenceTensorOps``."""
    applied = []

    class Counted(SRURecurrenceTensorOps):
        @classmethod
        def apply(cls, *args):
            applied.append(args[0].shape)
            return super().apply(*args)

    monkeypatch.setattr(kernels, "cpu_library", lambda: None)
    monkeypatch.setattr(kernels, "SRURecurrenceTensorOps", Counted)
    monkeypatch.setattr(sru_cpu, "_kernel", lambda *args: pytest.fail("the C kernel ran without its library"))
    encoder = build(5, bidirectional=True)
    x = torch.randn(3, 7, 5, dtype=torch.float64)
    assert_outputs_and_gradients(encoder, [], lambda: (x, None), 1e-10)
    assert applied == [(3, 7, 2, 4, HIDDEN), (3, 7, 2, 3, HIDDEN)]  # one call per layer: x W of all steps


@pytest.mark.parametrize("value", ["false", None, np.True_], ids=["text", "none", "numpy"])
def test_sru_encoder_refuses_a_use_tanh_that_is_no_bool_naming_its_key(value):
    """``use_tanh="false"`` built an encoder whose every CPU forward failed with ``ctypes.ArgumentError: argument
    17: TypeError: wrong type`` (and whose tensor-op path took the text as on)."""
    with pytest.raises(TypeError, match=re.escape(f"model.encoder.init_args.use_tanh={value!r} is not a bool")):
        SRUEncoder(4, hidden_size=HIDDEN, use_tanh=value)


@pytest.mark.parametrize("flag", ["bidirectional", "use_tanh"])
def test_sru_layer_refuses_a_flag_that_is_no_bool_naming_it(flag):
    """``SRULayer(bidirectional="false")`` silently built two directions, as the text is true to Python."""
    with pytest.raises(TypeError, match=f"{flag}='false' is not a bool"):
        SRULayer(4, HIDDEN, **{flag: "false"})


@pytest.mark.parametrize("projection_size", [0, 16], ids=["full", "low-rank"])
def test_sru_layer_starts_with_unit_variance_pre_activations_for_unit_variance_inputs(projection_size):
    """``reset_parameters``: x W of standard normal inputs has variance 1 (paper §3.3), also through two factors."""
    torch.manual_seed(0)
    layer = SRULayer(64, 32, projection_size=projection_size)
    with torch.no_grad():
        variance = layer.weight(torch.randn(4096, 64)).var().item()
    assert 0.9 < variance < 1.1
