"""The Triton recurrence's tanh held to float64's, near 0 above all (Triton's CPU interpreter: conftest.py), and the
recurrence that exports record held to a loop over the paper's equations in Python floats."""

import itertools
import math
import os

import pytest
import torch

from forecast.kernels.sru_tensor_ops import sru_recurrence_unrolled


@pytest.fixture(scope="module")
def interpreted_triton():
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("set TRITON_INTERPRET=1 before Triton is imported to run its kernels on the CPU")
    return pytest.importorskip("forecast.kernels.sru_triton", exc_type=ImportError)


def tanh_of_one_step(recurrence, x, dtype):
    """h of one step with f = 0, r = 1 and x' = 0 from c0 = 0: g(c) of c = x, which is tanh(x) with use_tanh."""
    lanes = len(x)
    u = torch.zeros(1, 1, 1, 4, lanes, dtype=dtype)
    u[0, 0, 0, 0] = x
    u[0, 0, 0, 1], u[0, 0, 0, 2] = -100.0, 100.0  # the forget and reset gates' pre-activations: f = 0, r = 1
    zeros = torch.zeros(2, 1, lanes, dtype=dtype)
    h, _ = recurrence(u, None, zeros, zeros, torch.zeros(1, 1, lanes, dtype=dtype), True)
    return h.flatten()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_sru_triton_tanh_is_within_2_ulp_also_near_zero_and_keeps_nan_and_infinities_interpreted(
    interpreted_triton, dtype
):
    """2 sigmoid(2x) - 1 was off by up to 1.9e-7 in float32 whatever tanh's size: h = tanh(1e-8) came out 0, and
    h within 1e-4 of 0 was wrong from its third or fourth digit."""
    tiny = torch.logspace(-8, 0, 201, dtype=torch.float64)
    special = [float("nan"), float("inf"), -float("inf"), 0.0]
    x = torch.cat([tiny, -tiny, torch.linspace(-12, 12, 201, dtype=torch.float64), torch.tensor(special)]).to(dtype)
    h = tanh_of_one_step(interpreted_triton.SRURecurrenceTriton.apply, x, dtype)
    exact = torch.tanh(x.double())
    finite = exact.isfinite()
    ulp = (torch.nextafter(exact.to(dtype), torch.tensor(float("inf"), dtype=dtype)) - exact.to(dtype)).abs().double()
    assert ((h.double() - exact).abs()[finite] / ulp[finite]).max() <= 2
    torch.testing.assert_close(h[-4:], torch.tensor([float("nan"), 1.0, -1.0, 0.0], dtype=dtype), equal_nan=True)


def paper_loop(u, highway, v, b, c0, use_tanh):
    """h (B, T, dirs, D) and c_last (B, dirs, D) of Lei et al. (2018), eqs. (3)-(5) with the v2 peepholes, one lane
    at a time; direction 1 reads the window from its end."""
    batch, steps, dirs, _, size = u.shape
    h = torch.zeros(batch, steps, dirs, size, dtype=torch.float64)
    c_last = torch.zeros(batch, dirs, size, dtype=torch.float64)
    for row, d, j in itertools.product(range(batch), range(dirs), range(size)):
        c = 0.0 if c0 is None else c0[row, d, j].item()
        for t in range(steps) if d == 0 else reversed(range(steps)):
            x_tilde, f_pre, r_pre = (u[row, t, d, part, j].item() for part in range(3))
            x_highway = (u[row, t, d, 3] if highway is None else highway[row, t, d])[j].item()
            f = 1 / (1 + math.exp(-(f_pre + v[0, d, j].item() * c + b[0, d, j].item())))
            r = 1 / (1 + math.exp(-(r_pre + v[1, d, j].item() * c + b[1, d, j].item())))
            c = f * c + (1 - f) * x_tilde
            h[row, t, d, j] = r * (math.tanh(c) if use_tanh else c) + (1 - r) * x_highway
        c_last[row, d, j] = c
    return h, c_last


def transposed(*shape):
    """A float64 tensor of ``shape`` stored in reverse order of dimensions: a non-contiguous view."""
    return torch.randn(*reversed(shape), dtype=torch.float64).permute(*reversed(range(len(shape))))


@pytest.mark.parametrize(("batch", "steps", "dirs", "components"), [(1, 1, 2, 3), (2, 4, 2, 4), (2, 3, 1, 3)])
def test_the_exported_recurrence_gives_the_paper_loop_on_non_contiguous_inputs(batch, steps, dirs, components):
    torch.manual_seed(0)
    u = transposed(batch, steps, dirs, components, 2)
    highway = transposed(batch, steps, dirs, 2) if components == 3 else None
    v, b, c0 = transposed(2, dirs, 2), transposed(2, dirs, 2), transposed(batch, dirs, 2)
    for use_tanh, start in [(False, None), (True, c0)]:
        h, c_last = sru_recurrence_unrolled(u, highway, v, b, start, use_tanh)
        expected_h, expected_c = paper_loop(u, highway, v, b, start, use_tanh)
        torch.testing.assert_close(h, expected_h, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(c_last, expected_c, rtol=1e-12, atol=1e-12)
