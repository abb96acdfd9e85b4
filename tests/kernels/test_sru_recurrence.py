import os
import sys
import warnings

import pytest
import torch

import forecast.kernels as kernels
from forecast.kernels import sru_cpu, sru_recurrence, sru_recurrence_reference
from forecast.kernels.sru_cpu import SRURecurrenceCPU
from forecast.kernels.sru_tensor_ops import SRURecurrenceTensorOps

CASES = [  # (directions, components): 3 = the highway carries the input, 4 = a projection of it
    pytest.param(1, 3, id="uni"),
    pytest.param(1, 4, id="uni-projected"),
    pytest.param(2, 3, id="bi"),
    pytest.param(2, 4, id="bi-projected"),
]


CPU_PATHS = [  # the compiled kernels (sru_cpu.c) and the tensor-op fallback
    pytest.param(SRURecurrenceCPU, id="compiled"),
    pytest.param(SRURecurrenceTensorOps, id="tensor-ops"),
]


def make_inputs(directions, components, dtype=torch.float32, batch=3, steps=7, size=5, device="cpu"):
    torch.manual_seed(0)

    def leaf(*shape):
        return torch.randn(*shape, dtype=dtype, device=device, requires_grad=True)

    highway = leaf(batch, steps, directions, size) if components == 3 else None
    return (
        leaf(batch, steps, directions, components, size),
        highway,
        leaf(2, directions, size),
        leaf(2, directions, size),
        leaf(batch, directions, size),
    )


def outputs_and_gradients(recurrence, inputs, use_tanh):
    """h, c_last and the gradients of a random projection of both, for every input."""
    h, c_last = recurrence(*inputs, use_tanh=use_tanh)
    generator = torch.Generator(device=h.device).manual_seed(1)
    weights_h = torch.randn(h.shape, generator=generator, dtype=h.dtype, device=h.device)
    weights_c = torch.randn(c_last.shape, generator=generator, dtype=h.dtype, device=h.device)
    leaves = [tensor for tensor in inputs if tensor is not None]
    gradients = torch.autograd.grad((h * weights_h).sum() + (c_last * weights_c).sum(), leaves)
    return [h, c_last, *gradients]


def test_compiled_float32_tanh_is_within_2_ulp_everywhere_and_keeps_nan_and_infinities():
    """With f = 0 and r = 1 the step's output is tanh(x~): the kernel's own vectorized tanh, checked
    against float64 over [-12, 12] and small magnitudes down to 1e-8, where a naive 1 - 2 / (e^2x + 1) loses
    every digit."""
    values = [torch.linspace(-12, 12, 400_001), torch.logspace(-8, 0, 100_001), -torch.logspace(-8, 0, 100_001)]
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), 0.0, -0.0])
    x = torch.cat([*values, special, torch.zeros(-(sum(map(len, values)) + 5) % 1000)])  # rows of 1000 lanes
    u = torch.zeros(len(x) // 1000, 1, 1, 4, 1000)
    u[:, 0, 0, 0] = x.view(-1, 1000)  # x~ = x; the highway, u's 4th component, is 0
    gates = torch.tensor([-100.0, 100.0]).view(2, 1, 1).expand(2, 1, 1000).contiguous()  # f = 0, r = 1
    h, _ = SRURecurrenceCPU.apply(u, None, torch.zeros(2, 1, 1000), gates, torch.zeros(len(x) // 1000, 1, 1000), True)
    h, exact = h.flatten(), torch.tanh(x.double())
    finite = exact.isfinite()
    ulp = (torch.nextafter(exact.float(), torch.tensor(float("inf"))) - exact.float()).abs().double()
    assert ((h.double() - exact).abs()[finite] / ulp[finite]).max() <= 2
    start = sum(map(len, values))
    torch.testing.assert_close(h[start : start + 5], torch.tensor([float("nan"), 1.0, -1.0, 0.0, -0.0]), equal_nan=True)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("use_tanh", [False, True], ids=["identity", "tanh"])
@pytest.mark.parametrize(("directions", "components"), CASES)
@pytest.mark.parametrize("path", CPU_PATHS)
def test_sru_cpu_matches_reference(path, directions, components, use_tanh, dtype):
    # the compiled kernel's blocks of 256 units (256 + 4) and segments of 16 steps (16 + 16 + 5)
    inputs = make_inputs(directions, components, dtype, steps=37, size=260)
    expected = outputs_and_gradients(sru_recurrence_reference, inputs, use_tanh)

    def recurrence(*inputs, use_tanh):
        return path.apply(*inputs, use_tanh)

    actual = outputs_and_gradients(recurrence, inputs, use_tanh)
    # float32: the tensor-op path's rounding (lerp, addcmul) grows over 37 steps of gradients
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5 if path is SRURecurrenceCPU else 1e-4
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize(("directions", "components"), CASES)
def test_sru_compiled_keeps_its_gates_over_u_only_when_allowed(directions, components):
    """Overwriting u (a caller's temporary: gates forward, u's own gradient backward) gives the reference's
    outputs and gradients; by default u stays."""
    inputs = make_inputs(directions, components, steps=37, size=260)
    expected = outputs_and_gradients(sru_recurrence_reference, inputs, False)
    before = inputs[0].detach().clone()
    outputs_and_gradients(lambda *inputs, use_tanh: SRURecurrenceCPU.apply(*inputs, use_tanh), inputs, False)
    assert torch.equal(inputs[0], before)
    temporary = inputs[0] * 1  # what a layer's matrix product hands over
    actual = outputs_and_gradients(
        lambda *inputs, use_tanh: SRURecurrenceCPU.apply(*inputs, use_tanh, True), (temporary, *inputs[1:]), False
    )
    assert not torch.equal(temporary, before)  # the gates are in it now
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want)


def test_sru_compiled_over_u_refuses_a_second_backward_instead_of_a_wrong_gradient():
    """Its backward writes u's gradient over u, which a retained graph's second backward would read again."""
    u, _, v, b, c0 = make_inputs(1, 4)
    h, _ = SRURecurrenceCPU.apply(u * 1, None, v, b, c0, False, True)
    h.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="retain_graph"):
        h.sum().backward()
    h, _ = SRURecurrenceCPU.apply(u.detach().clone(), None, v, b, c0, False)  # u kept: twice is fine
    first = torch.autograd.grad(h.sum(), v, retain_graph=True)[0]
    torch.testing.assert_close(torch.autograd.grad(h.sum(), v)[0], first)


def penalty_gradient(recurrence, u, v, b, c0):
    """v's gradient of the penalty |dL/du|^2 on L = sum(h) + |u|^2 / 2: a second derivative, through v's share
    of dL/du (the |u|^2 term, like a layer's weights, makes dL/du need a gradient with or without that share)."""
    h, _ = recurrence(u, None, v, b, c0, False)
    (grad_u,) = torch.autograd.grad(h.sum() + u.square().sum() / 2, u, create_graph=True)
    return torch.autograd.grad(grad_u.square().sum(), v, allow_unused=True)[0]


@pytest.mark.parametrize("path", CPU_PATHS)
def test_sru_fused_backward_refuses_a_second_derivative_instead_of_missing_its_share(path):
    """The hand-written backwards run outside autograd: under create_graph=True their gradients were constants,
    so a gradient penalty's gradient silently lacked the recurrence's share (v's was None, the reference's not)."""
    u, _, v, b, c0 = make_inputs(1, 4, torch.float64, batch=2, steps=4, size=3)
    assert penalty_gradient(lambda *inputs: sru_recurrence_reference(*inputs), u, v, b, c0).abs().sum() > 0
    with pytest.raises(RuntimeError, match="differentiable once.*sru_recurrence_reference"):
        penalty_gradient(path.apply, u, v, b, c0)


@pytest.mark.parametrize(("directions", "components"), CASES)
@pytest.mark.parametrize("path", CPU_PATHS)
def test_sru_cpu_backward_passes_gradcheck(path, directions, components):
    u, highway, v, b, c0 = make_inputs(directions, components, torch.float64, batch=2, steps=19, size=3)
    leaves = (u, v, b, c0) if highway is None else (u, highway, v, b, c0)

    def recurrence(*leaves):
        if highway is None:
            return path.apply(leaves[0], None, *leaves[1:], True)
        return path.apply(*leaves, True)

    assert torch.autograd.gradcheck(recurrence, leaves)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("directions", "components"), CASES)
def test_sru_dispatch_without_initial_state_matches_reference(directions, components, dtype):
    u, highway, v, b, _ = make_inputs(directions, components, dtype)
    expected = outputs_and_gradients(sru_recurrence_reference, (u, highway, v, b), False)
    actual = outputs_and_gradients(sru_recurrence, (u, highway, v, b), False)
    assert actual[0].grad_fn.name() == "SRURecurrenceCPUBackward"
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize(("directions", "components"), CASES)
def test_sru_dispatch_without_gradients_matches_reference(directions, components):
    inputs = make_inputs(directions, components)
    with torch.no_grad():
        h, c_last = sru_recurrence(*inputs)
    expected_h, expected_c = sru_recurrence_reference(*inputs)
    assert h.grad_fn is None
    torch.testing.assert_close(h, expected_h)
    torch.testing.assert_close(c_last, expected_c)


def test_sru_dispatch_warns_once_and_falls_back_without_a_compiler(monkeypatch, tmp_path):
    monkeypatch.setenv("CC", "forecast-test-no-such-compiler")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # no cached build to fall back on
    inputs = make_inputs(2, 4)
    expected = outputs_and_gradients(sru_recurrence_reference, inputs, False)
    sru_cpu.cpu_library.cache_clear()
    try:
        with pytest.warns(UserWarning, match="compiled CPU kernel is not available"):
            actual = outputs_and_gradients(sru_recurrence, inputs, False)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again = outputs_and_gradients(sru_recurrence, inputs, False)
    finally:
        sru_cpu.cpu_library.cache_clear()
    assert actual[0].grad_fn.name() == again[0].grad_fn.name() == "SRURecurrenceTensorOpsBackward"
    for got, second, want in zip(actual, again, expected, strict=True):
        torch.testing.assert_close(got, want)
        torch.testing.assert_close(second, want)


def test_sru_reference_matches_the_equations_by_hand():
    """One unit, one step from c0 = 0.5: the paper's equations written out in plain floats."""
    u = torch.tensor([0.3, -0.2, 0.4]).view(1, 1, 1, 3, 1)
    highway, v, b, c0 = torch.tensor([[[[0.7]]]]), torch.tensor([0.5, -1.0]).view(2, 1, 1), torch.zeros(2, 1, 1), None
    c0 = torch.tensor([[[0.5]]])
    h, c = sru_recurrence_reference(u, highway, v, b, c0)
    f = 1 / (1 + torch.exp(torch.tensor(-(-0.2 + 0.5 * 0.5))))
    r = 1 / (1 + torch.exp(torch.tensor(-(0.4 - 1.0 * 0.5))))
    c_expected = f * 0.5 + (1 - f) * 0.3
    torch.testing.assert_close(c.flatten(), c_expected.view(1))
    torch.testing.assert_close(h.flatten(), (r * c_expected + (1 - r) * 0.7).view(1))


def test_sru_backward_direction_reads_the_window_from_its_end():
    u, highway, v, b, c0 = make_inputs(2, 3)
    h, c_last = sru_recurrence(u, highway, v, b, c0)
    reversed_in_time = u.flip(1, 2), highway.flip(1, 2), v.flip(1), b.flip(1), c0.flip(1)  # and directions swapped
    flipped_h, flipped_c = sru_recurrence(*reversed_in_time)
    torch.testing.assert_close(h[:, :, 1], flipped_h.flip(1)[:, :, 0])
    torch.testing.assert_close(c_last[:, 1], flipped_c[:, 0])


def test_sru_dispatch_warns_once_and_falls_back_without_triton(monkeypatch):
    monkeypatch.setitem(sys.modules, "forecast.kernels.sru_triton", None)  # makes the import fail
    kernels._triton_recurrence.cache_clear()
    try:
        with pytest.warns(UserWarning, match="Triton is not available"):
            assert kernels._triton_recurrence() is None
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert kernels._triton_recurrence() is None
    finally:
        kernels._triton_recurrence.cache_clear()


def test_sru_in_half_precision_runs_its_recurrence_in_float32():
    u, highway, v, b, c0 = (t.detach() for t in make_inputs(1, 3, steps=500))
    u, highway, c0 = (0.5 * t.bfloat16() for t in (u, highway, c0))  # what an autocast matrix product gives
    h, c = sru_recurrence(u, highway, v, b, c0)
    assert h.dtype == c.dtype == torch.bfloat16
    h_fp32, c_fp32 = sru_recurrence_reference(u.float(), highway.float(), v, b, c0.float())
    torch.testing.assert_close(h.float(), h_fp32, rtol=8e-3, atol=8e-3)  # one rounding to bfloat16, at the end
    torch.testing.assert_close(c.float(), c_fp32, rtol=8e-3, atol=8e-3)
    h_bf16, _ = sru_recurrence_reference(u, highway, v.bfloat16(), b.bfloat16(), c0)
    assert (h_bf16.float() - h_fp32).abs().mean() > 2 * (h.float() - h_fp32).abs().mean()  # a bf16 state drifts


def test_sru_dispatch_uses_the_compiled_kernels_on_cpu():
    inputs = make_inputs(1, 3)
    h, _ = sru_recurrence(*inputs)
    assert h.grad_fn.name() == "SRURecurrenceCPUBackward"


@pytest.fixture(scope="module")
def interpreted_triton():
    """``sru_triton`` on Triton's CPU interpreter (conftest.py turns it on where there is no GPU)."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("set TRITON_INTERPRET=1 before Triton is imported to run its kernels on the CPU")
    return pytest.importorskip("forecast.kernels.sru_triton", exc_type=ImportError)


@pytest.mark.parametrize("use_tanh", [False, True], ids=["identity", "tanh"])
@pytest.mark.parametrize(("directions", "components"), CASES)
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.float64, 1e-12)], ids=["f32", "f64"])
def test_sru_triton_matches_reference_interpreted(
    interpreted_triton, directions, components, use_tanh, dtype, tolerance
):
    inputs = make_inputs(directions, components, dtype, batch=2, steps=5, size=70)  # 280 lanes: a partial last block
    expected = outputs_and_gradients(sru_recurrence_reference, inputs, use_tanh)

    def recurrence(*inputs, use_tanh):
        return interpreted_triton.SRURecurrenceTriton.apply(*inputs, use_tanh)

    actual = outputs_and_gradients(recurrence, inputs, use_tanh)
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance)


def test_sru_triton_refuses_a_second_derivative_interpreted(interpreted_triton):
    u, _, v, b, c0 = make_inputs(1, 4, torch.float64, batch=2, steps=4, size=3)
    with pytest.raises(RuntimeError, match="differentiable once"):
        penalty_gradient(interpreted_triton.SRURecurrenceTriton.apply, u, v, b, c0)


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.gpu
@cuda
@pytest.mark.parametrize(("directions", "components"), CASES)
@pytest.mark.parametrize("use_tanh", [False, True], ids=["identity", "tanh"])
# Float32 on an H200 summed in another order than the reference: 1 of 221,184 of u's gradients 3e-4 off (of
# values up to 3.8), 1 of 384 of v's 0.002 off (of up to 25); so an error relative to the tensor's largest value.
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-3), (torch.float64, 1e-10)], ids=["f32", "f64"])
def test_sru_triton_matches_reference_on_gpu(directions, components, use_tanh, dtype, tolerance):
    pytest.importorskip("triton")
    inputs = make_inputs(directions, components, dtype, batch=16, steps=48, size=96, device="cuda")
    expected = outputs_and_gradients(sru_recurrence_reference, inputs, use_tanh)
    actual = outputs_and_gradients(sru_recurrence, inputs, use_tanh)
    assert actual[0].grad_fn.name() == "SRURecurrenceTritonBackward"
    for got, want in zip(actual, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=tolerance, atol=tolerance * max(1.0, want.abs().max().item()))


def test_sru_rejects_shapes_the_kernels_would_read_past():
    """A 3-component u without its highway made the compiled kernel read and write past u's end (heap
    corruption, then an abort); every mismatched shape is now a ValueError naming the argument."""
    u, highway, v, b, c0 = make_inputs(1, 3)
    with pytest.raises(ValueError, match="pass the highway"):
        sru_recurrence(u, None, v, b, c0)
    with pytest.raises(ValueError, match="pass the highway"):
        SRURecurrenceCPU.apply(u, None, v, b, c0, False)
    with pytest.raises(ValueError, match=r"c0 must be \(3, 1, 5\)"):
        sru_recurrence(u, highway, v, b, c0[:, :, :4])
    with pytest.raises(ValueError, match=r"v must be \(2, 1, 5\)"):
        sru_recurrence(u, highway, v[:, :, :4], b, c0)
    with pytest.raises(ValueError, match="highway must be"):
        sru_recurrence(u, highway[:, :6], v, b, c0)
    with pytest.raises(ValueError, match=r"u must be \(B, T, dirs, 3 or 4, D\)"):
        sru_recurrence(u[:, :, 0], highway, v, b, c0)


def test_sru_rejects_a_highway_beside_a_fourth_component():
    """A 4-component u already carries x': with a highway passed as well, the kernels never wrote u[..., 3]'s
    gradient and returned what the memory held (1e+71, say) where the reference gives 0."""
    u, highway, v, b, c0 = make_inputs(1, 4)
    highway = torch.randn(u.shape[0], u.shape[1], 1, u.shape[4], dtype=u.dtype)
    with pytest.raises(ValueError, match="its 4th is the highway, so pass highway=None"):
        sru_recurrence(u, highway, v, b, c0)
    with pytest.raises(ValueError, match="its 4th is the highway"):
        SRURecurrenceCPU.apply(u, highway, v, b, c0, False)
