"""Every SRU recurrence path against a plain loop over the paper's equations, written here in Python floats.

Lei et al., EMNLP 2018, eqs. (3)-(5) with the v2 peephole terms, as ``forecast.kernels`` documents them: per
lane, ``f = σ(f' + v_f c + b_f)``, ``r = σ(r' + v_r c + b_r)``, ``c = f c + (1 - f) x~``,
``h = r g(c) + (1 - r) x'``, direction 1 reading the window from its end. Gradients are held to finite
differences (``gradcheck``); only the compiled path over its own temporary, which can be walked back once and
so not by ``gradcheck``, is held to the gradients of the same path without it.
"""

import math
import os

import pytest
import torch

from forecast.kernels import sru_recurrence
from forecast.kernels.sru_cpu import SRURecurrenceCPU, cpu_library
from forecast.kernels.sru_tensor_ops import SRURecurrenceTensorOps

needs_compiler = pytest.mark.skipif(cpu_library() is None, reason="needs the compiled CPU recurrence (a C compiler)")


def paper_loop(u, highway, v, b, c0, use_tanh):
    """h (B, T, dirs, D) and c_last (B, dirs, D), one scalar at a time."""
    batch, steps, dirs, _, size = u.shape
    u, v, b = u.tolist(), v.tolist(), b.tolist()
    highway = None if highway is None else highway.tolist()
    c0 = None if c0 is None else c0.tolist()
    h = [[[[0.0] * size for _ in range(dirs)] for _ in range(steps)] for _ in range(batch)]
    c_last = [[[0.0] * size for _ in range(dirs)] for _ in range(batch)]
    for row in range(batch):
        for d in range(dirs):
            for j in range(size):
                c = 0.0 if c0 is None else c0[row][d][j]
                for t in range(steps) if d == 0 else range(steps - 1, -1, -1):
                    x_tilde, f_pre, r_pre = (u[row][t][d][part][j] for part in range(3))
                    x_highway = u[row][t][d][3][j] if highway is None else highway[row][t][d][j]
                    f = 1 / (1 + math.exp(-(f_pre + v[0][d][j] * c + b[0][d][j])))
                    r = 1 / (1 + math.exp(-(r_pre + v[1][d][j] * c + b[1][d][j])))
                    c = f * c + (1 - f) * x_tilde
                    h[row][t][d][j] = r * (math.tanh(c) if use_tanh else c) + (1 - r) * x_highway
                c_last[row][d][j] = c
    return torch.tensor(h, dtype=torch.float64), torch.tensor(c_last, dtype=torch.float64)


def leaf(*shape, transposed=False):
    """A float64 leaf; with ``transposed``, a non-contiguous view (the transpose of a reversed-shape tensor)."""
    if not transposed:
        return torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    stored = torch.randn(*reversed(shape), dtype=torch.float64)
    return stored.permute(*reversed(range(len(shape)))).requires_grad_()


def make_inputs(batch, steps, dirs, components, size=2, transposed=False):
    torch.manual_seed(batch * 100 + steps * 10 + dirs + components)
    highway = leaf(batch, steps, dirs, size, transposed=transposed) if components == 3 else None
    u = leaf(batch, steps, dirs, components, size, transposed=transposed)
    v, b = leaf(2, dirs, size, transposed=transposed), leaf(2, dirs, size, transposed=transposed)
    return u, highway, v, b, leaf(batch, dirs, size, transposed=transposed)


def interpreted_triton():
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("set TRITON_INTERPRET=1 before Triton is imported to run its kernels on the CPU")
    return pytest.importorskip("forecast.kernels.sru_triton", exc_type=ImportError)


def triton_path(u, highway, v, b, c0, use_tanh):
    return interpreted_triton().SRURecurrenceTriton.apply(u, highway, v, b, c0, use_tanh)


def compiled_path(u, highway, v, b, c0, use_tanh):
    return SRURecurrenceCPU.apply(u, highway, v, b, c0, use_tanh)


def tensor_ops_path(u, highway, v, b, c0, use_tanh):
    return SRURecurrenceTensorOps.apply(u, highway, v, b, c0, use_tanh)


def dispatch_path(u, highway, v, b, c0, use_tanh):
    return sru_recurrence(u, highway, v, b, c0, use_tanh)


PATHS = [
    pytest.param(compiled_path, id="compiled", marks=needs_compiler),
    pytest.param(dispatch_path, id="dispatch"),
    pytest.param(tensor_ops_path, id="tensor-ops"),
    pytest.param(triton_path, id="triton-interpreted"),
]
SHAPES = [  # (B, T, dirs, components): a single step, a single row, both directions, both highways
    (1, 1, 1, 3),
    (1, 1, 2, 4),
    (2, 3, 2, 3),
    (2, 3, 1, 4),
]


@pytest.mark.parametrize("path", PATHS)
def test_sru_paths_match_the_paper_loop_with_and_without_an_initial_state(path):
    for batch, steps, dirs, components in SHAPES:
        for use_tanh in (False, True):
            u, highway, v, b, c0 = make_inputs(batch, steps, dirs, components, transposed=steps > 1)
            given = path(u, highway, v, b, c0, use_tanh)
            zeros = c0.new_zeros(c0.shape)  # the kernels take c0; the dispatcher makes these zeros itself
            default = path(u, highway, v, b, None if path is dispatch_path else zeros, use_tanh)
            for (h, c_last), start in [(given, c0), (default, None)]:
                expected_h, expected_c = paper_loop(u, highway, v, b, start, use_tanh)
                torch.testing.assert_close(h, expected_h, rtol=1e-12, atol=1e-12)
                torch.testing.assert_close(c_last, expected_c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize(("batch", "steps", "dirs", "components"), [(1, 1, 2, 3), (2, 3, 2, 4)], ids=["T1-B1", "T3"])
def test_sru_paths_gradients_of_every_input_pass_gradcheck_on_transposed_views(path, batch, steps, dirs, components):
    """u, the highway, v, b and c0 all non-contiguous, g = tanh, through h and c_last: finite differences."""
    u, highway, v, b, c0 = make_inputs(batch, steps, dirs, components, transposed=True)
    assert not u.is_contiguous() and not v.is_contiguous() and not c0.is_contiguous()
    leaves = (u, v, b, c0) if highway is None else (u, v, b, c0, highway)

    def recurrence(u, v, b, c0, *highway):
        return path(u, highway[0] if highway else None, v, b, c0, True)

    # the interpreter runs each of gradcheck's evaluations step by step: there, one random direction
    assert torch.autograd.gradcheck(recurrence, leaves, fast_mode=path is triton_path)


def test_sru_dispatch_over_its_own_temporary_gives_the_paper_loop_and_its_gradients():
    """``overwrite_u``, as ``SRULayer`` calls it: the gates kept over u, u's gradient written over u."""
    u, _, v, b, c0 = make_inputs(2, 3, 2, 4)
    h, c_last = sru_recurrence(u * 1, None, v, b, c0, True, overwrite_u=True)
    expected_h, expected_c = paper_loop(u, None, v, b, c0, True)
    torch.testing.assert_close(h, expected_h, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c_last, expected_c, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(h)
    gradients = torch.autograd.grad((h * weights).sum() + c_last.sum(), (u, v, b, c0))
    kept = sru_recurrence(u, None, v, b, c0, True)  # u kept: what gradcheck above held to finite differences
    expected = torch.autograd.grad((kept[0] * weights).sum() + kept[1].sum(), (u, v, b, c0))
    for got, want in zip(gradients, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_sru_triton_lane_offsets_stay_exact_past_2_to_31_values(monkeypatch):
    """A lane's offset into (B, T, dirs, D), row * T * dirs * D, was a 32-bit product: from 2^31 values of h (or
    of u, k times more: SegRNN's channel-independent rows, 128 windows of 862 channels, hidden 512, 15 segments)
    it wrapped to a negative offset, and the GPU kernels read and wrote outside their tensors."""
    triton = pytest.importorskip("triton")
    tl = triton.language
    monkeypatch.setitem(globals(), "sru_triton", interpreted_triton())  # the interpreter reads the kernel's globals

    @triton.jit
    def offsets(out_ptr, steps, lanes, size, dirs, BLOCK: tl.constexpr):
        lane, mask, row, direction, unit, state_base = sru_triton._lanes(steps, lanes, size, dirs, BLOCK)  # noqa: F821
        sru_triton.tl.store(out_ptr + lane, state_base, mask=mask)  # noqa: F821

    block = interpreted_triton().BLOCK
    steps, dirs, size = 2**25, 2, 3  # one block of lanes: rows 0-21 of (B, 2^25, 2, 3), offsets up to 4.2e9
    out = torch.zeros(block, dtype=torch.int64)
    offsets[(1,)](out, steps, block, size, dirs, BLOCK=block)
    expected = [lane // (dirs * size) * steps * dirs * size + lane % (dirs * size) for lane in range(block)]
    assert out.tolist() == expected


def test_sru_triton_gate_gradient_offsets_stay_exact_past_2_to_31_values(monkeypatch):
    """The backward kernel stores each lane's gradients of v_f, v_r, b_f, b_r at ``k * lanes + lane`` of (4, lanes):
    in 32 bits, the last of them, ``3 * lanes + lane``, passed 2^31 - 1 beyond 2^29 lanes and wrapped."""
    triton = pytest.importorskip("triton")
    tl = triton.language
    monkeypatch.setitem(globals(), "sru_triton", interpreted_triton())  # the interpreter reads the kernel's globals

    @triton.jit
    def offsets(out_ptr, lanes, BLOCK: tl.constexpr):
        lane = sru_triton.tl.arange(0, BLOCK).to(sru_triton.tl.int64)  # noqa: F821
        v_f, v_r, b_f, b_r = sru_triton._gate_gradient_offsets(lane, lanes)  # noqa: F821
        sru_triton.tl.store(out_ptr + lane, v_f)  # noqa: F821
        sru_triton.tl.store(out_ptr + BLOCK + lane, v_r)  # noqa: F821
        sru_triton.tl.store(out_ptr + 2 * BLOCK + lane, b_f)  # noqa: F821
        sru_triton.tl.store(out_ptr + 3 * BLOCK + lane, b_r)  # noqa: F821

    block, lanes = 8, 2**30 + 8  # 3 * lanes is 3.2e9
    out = torch.zeros(4 * block, dtype=torch.int64)
    offsets[(1,)](out, lanes, BLOCK=block)
    assert out.tolist() == [k * lanes + lane for k in range(4) for lane in range(block)]
