"""The SRU recurrence as Triton kernels for GPU training, forward and backward.

One program owns a block of lanes (a lane is one batch row, direction and hidden unit) and walks
time, keeping ``c`` in registers; both directions run in the same launch, each lane reading time in
its own direction. The backward kernel walks time the other way, recomputing the gates from the
saved ``c`` rather than storing them. Imported only by ``forecast.kernels.sru_recurrence`` for CUDA
tensors, and by the tests under ``TRITON_INTERPRET=1`` (Triton's CPU interpreter).
"""

import torch
import triton
import triton.language as tl

from .sru_reference import refuse_second_derivative

__all__ = ["SRURecurrenceTriton"]

BLOCK = 128


@triton.jit
def _tanh(x, ACC: tl.constexpr):
    """tanh to a few units in the last place of ``ACC`` also near 0 (at most 2 on Triton's CPU interpreter). Triton
    has no tanh but CUDA's libdevice one, which the interpreter cannot run; so: below |x| = 0.625, Cephes' odd
    rational function (float64) or polynomial (float32, as ``sru_cpu.c``), else ``1 - 2 / (e^{2|x|} + 1)``. Not
    ``2 sigmoid(2x) - 1``: its error, up to about 1.9e-7 in float32, is all of tanh near 0 (it gives tanh(1e-8) = 0)."""
    z = x * x
    if ACC == tl.float64:
        p = (-9.64399179425052238628e-1 * z - 9.92877231001918586564e1) * z - 1.61468768441708447952e3
        q = ((z + 1.12811678491632931402e2) * z + 2.23548839060100448583e3) * z + 4.84406305325125486048e3
        small = x + x * z * (p / q)
    else:
        p = ((-5.70498872745e-3 * z + 2.06390887954e-2) * z - 5.37397155531e-2) * z + 1.33314422036e-1
        small = (p * z - 3.33332819422e-1) * z * x + x
    a = tl.abs(x)
    large = 1 - 2 / (tl.exp(2 * a) + 1)
    return tl.where(a < 0.625, small, tl.where(x < 0, -large, large))


@triton.jit
def _lanes(steps, lanes, size, dirs, BLOCK: tl.constexpr):
    """Which (batch row, direction, unit) each lane of this program is, and where its (B, T, dirs, D)
    rows start. In 64 bits: a batch of many channel-independent rows passes 2^31 values of ``u`` (or of
    ``h``) on one GPU, where 32-bit offsets wrap around."""
    lane = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = lane < lanes
    row = lane // (dirs * size)
    direction = (lane // size) % dirs
    unit = lane % size
    state_base = row * steps * dirs * size + direction * size + unit
    return lane, mask, row, direction, unit, state_base


@triton.jit
def _gate_gradient_offsets(lane, lanes):
    """Where this lane's gradients of v_f, v_r, b_f and b_r go in ``grad_vb`` of shape (4, lanes). In 64 bits:
    past 2^29 lanes (a batch of many channel-independent rows) the last, ``3 * lanes + lane``, passes 2^31 - 1 and
    32 bits wrap."""
    gate = lanes.to(tl.int64)
    return lane, gate + lane, 2 * gate + lane, 3 * gate + lane


@triton.jit
def _gate_parameters(v_ptr, b_ptr, gate, gates, mask, ACC: tl.constexpr):
    """This lane's v_f, v_r, b_f, b_r from v and b of shape (2, dirs, D)."""
    v_f = tl.load(v_ptr + gate, mask=mask).to(ACC)
    v_r = tl.load(v_ptr + gates + gate, mask=mask).to(ACC)
    b_f = tl.load(b_ptr + gate, mask=mask).to(ACC)
    b_r = tl.load(b_ptr + gates + gate, mask=mask).to(ACC)
    return v_f, v_r, b_f, b_r


@triton.jit
def _sru_forward_kernel(
    u_ptr, x_ptr, v_ptr, b_ptr, c0_ptr, h_ptr, c_ptr, c_last_ptr,
    steps, lanes, size, dirs, u_stride_b, u_stride_t, x_stride_b, x_stride_t, x_stride_d,
    K: tl.constexpr, USE_TANH: tl.constexpr, ACC: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    lane, mask, row, direction, unit, state_base = _lanes(steps, lanes, size, dirs, BLOCK)
    v_f, v_r, b_f, b_r = _gate_parameters(v_ptr, b_ptr, direction * size + unit, dirs * size, mask, ACC)
    c = tl.load(c0_ptr + lane, mask=mask).to(ACC)
    u_base = u_ptr + row * u_stride_b + direction * K * size + unit
    x_base = x_ptr + row * x_stride_b + direction * x_stride_d + unit
    for step in range(steps):
        t = tl.where(direction == 0, step, steps - 1 - step)
        u_t = u_base + t * u_stride_t
        x_tilde = tl.load(u_t, mask=mask).to(ACC)
        f = tl.sigmoid(tl.load(u_t + size, mask=mask).to(ACC) + v_f * c + b_f)
        r = tl.sigmoid(tl.load(u_t + 2 * size, mask=mask).to(ACC) + v_r * c + b_r)
        c = f * c + (1 - f) * x_tilde
        g = c
        if USE_TANH:
            g = _tanh(c, ACC)
        x_highway = tl.load(x_base + t * x_stride_t, mask=mask).to(ACC)
        out = state_base + t * dirs * size
        tl.store(h_ptr + out, r * g + (1 - r) * x_highway, mask=mask)
        tl.store(c_ptr + out, c, mask=mask)
    tl.store(c_last_ptr + lane, c, mask=mask)


@triton.jit
def _sru_backward_kernel(
    u_ptr, x_ptr, v_ptr, b_ptr, c0_ptr, c_ptr, grad_h_ptr, grad_c_last_ptr,
    grad_u_ptr, grad_x_ptr, grad_vb_ptr, grad_c0_ptr,
    steps, lanes, size, dirs, u_stride_b, u_stride_t, x_stride_b, x_stride_t, x_stride_d,
    K: tl.constexpr, USE_TANH: tl.constexpr, ACC: tl.constexpr, BLOCK: tl.constexpr,
):  # fmt: skip
    lane, mask, row, direction, unit, state_base = _lanes(steps, lanes, size, dirs, BLOCK)
    v_f, v_r, b_f, b_r = _gate_parameters(v_ptr, b_ptr, direction * size + unit, dirs * size, mask, ACC)
    c0 = tl.load(c0_ptr + lane, mask=mask).to(ACC)
    carry = tl.load(grad_c_last_ptr + lane, mask=mask).to(ACC)  # dL/dc_t from later steps
    grad_v_f = tl.zeros_like(carry)
    grad_v_r = tl.zeros_like(carry)
    grad_b_f = tl.zeros_like(carry)
    grad_b_r = tl.zeros_like(carry)
    u_base = u_ptr + row * u_stride_b + direction * K * size + unit
    x_base = x_ptr + row * x_stride_b + direction * x_stride_d + unit
    grad_u_base = grad_u_ptr + row * steps * dirs * K * size + direction * K * size + unit
    for back in range(steps):
        step = steps - 1 - back
        t = tl.where(direction == 0, step, steps - 1 - step)
        t_before = tl.where(direction == 0, t - 1, t + 1)
        has_before = (t_before >= 0) & (t_before < steps)
        c_before = tl.load(c_ptr + state_base + t_before * dirs * size, mask=mask & has_before).to(ACC)
        c_before = tl.where(has_before, c_before, c0)
        c = tl.load(c_ptr + state_base + t * dirs * size, mask=mask).to(ACC)
        u_t = u_base + t * u_stride_t
        x_tilde = tl.load(u_t, mask=mask).to(ACC)
        f = tl.sigmoid(tl.load(u_t + size, mask=mask).to(ACC) + v_f * c_before + b_f)
        r = tl.sigmoid(tl.load(u_t + 2 * size, mask=mask).to(ACC) + v_r * c_before + b_r)
        x_highway = tl.load(x_base + t * x_stride_t, mask=mask).to(ACC)
        grad_h = tl.load(grad_h_ptr + state_base + t * dirs * size, mask=mask).to(ACC)
        g = c
        grad_g = grad_h * r
        if USE_TANH:
            g = _tanh(c, ACC)
            grad_g = grad_g * (1 - g * g)
        grad_r_pre = grad_h * (g - x_highway) * r * (1 - r)
        grad_c = carry + grad_g
        grad_f_pre = grad_c * (c_before - x_tilde) * f * (1 - f)
        carry = grad_c * f + grad_f_pre * v_f + grad_r_pre * v_r
        grad_v_f += grad_f_pre * c_before
        grad_v_r += grad_r_pre * c_before
        grad_b_f += grad_f_pre
        grad_b_r += grad_r_pre
        grad_u_t = grad_u_base + t * dirs * K * size
        tl.store(grad_u_t, grad_c * (1 - f), mask=mask)
        tl.store(grad_u_t + size, grad_f_pre, mask=mask)
        tl.store(grad_u_t + 2 * size, grad_r_pre, mask=mask)
        tl.store(grad_x_ptr + row * x_stride_b + direction * x_stride_d + unit + t * x_stride_t,
                 grad_h * (1 - r), mask=mask)  # fmt: skip
    tl.store(grad_c0_ptr + lane, carry, mask=mask)
    v_f_at, v_r_at, b_f_at, b_r_at = _gate_gradient_offsets(lane, lanes)
    tl.store(grad_vb_ptr + v_f_at, grad_v_f, mask=mask)
    tl.store(grad_vb_ptr + v_r_at, grad_v_r, mask=mask)
    tl.store(grad_vb_ptr + b_f_at, grad_b_f, mask=mask)
    tl.store(grad_vb_ptr + b_r_at, grad_b_r, mask=mask)


def _launch_args(u: torch.Tensor, x_highway: torch.Tensor, use_tanh: bool) -> tuple[tuple, dict]:
    batch, steps, dirs, k, size = u.shape
    lanes = batch * dirs * size
    sizes = (steps, lanes, size, dirs, u.stride(0), u.stride(1), *x_highway.stride()[:3])
    acc = tl.float64 if u.dtype == torch.float64 else tl.float32
    return sizes, {"K": k, "USE_TANH": use_tanh, "ACC": acc, "BLOCK": BLOCK}


class SRURecurrenceTriton(torch.autograd.Function):
    """The recurrence of ``sru_recurrence_reference``: forward one kernel launch over all time steps, backward
    one launch and a sum over the batch for the gradients of ``v`` and ``b``."""

    @staticmethod
    def forward(ctx, u, highway, v, b, c0, use_tanh):
        # u: (B, T, dirs, k, D), highway: (B, T, dirs, D) or None, v, b: (2, dirs, D), c0: (B, dirs, D)
        u, v, b, c0 = u.contiguous(), v.contiguous(), b.contiguous(), c0.contiguous()
        batch, steps, dirs, k, size = u.shape
        x_highway = u[:, :, :, 3] if highway is None else highway.contiguous()
        h = u.new_empty(batch, steps, dirs, size)
        c = torch.empty_like(h)
        c_last = u.new_empty(batch, dirs, size)
        sizes, meta = _launch_args(u, x_highway, use_tanh)
        grid = (triton.cdiv(sizes[1], BLOCK),)
        _sru_forward_kernel[grid](u, x_highway, v, b, c0, h, c, c_last, *sizes, **meta)
        ctx.save_for_backward(u, x_highway, v, b, c0, c)
        ctx.use_tanh = use_tanh
        ctx.highway_in_u = highway is None
        return h, c_last

    @staticmethod
    def backward(ctx, grad_h, grad_c_last):
        refuse_second_derivative()
        u, x_highway, v, b, c0, c = ctx.saved_tensors
        batch, steps, dirs, k, size = u.shape
        grad_u = torch.empty_like(u)
        grad_x = grad_u[:, :, :, 3] if ctx.highway_in_u else torch.empty_like(x_highway)
        grad_vb = u.new_empty(4, batch, dirs, size)
        grad_c0 = torch.empty_like(c0)
        grad_c_last = torch.zeros_like(c0) if grad_c_last is None else grad_c_last.contiguous()
        sizes, meta = _launch_args(u, x_highway, ctx.use_tanh)
        grid = (triton.cdiv(sizes[1], BLOCK),)
        _sru_backward_kernel[grid](
            u, x_highway, v, b, c0, c, grad_h.contiguous(), grad_c_last, grad_u, grad_x, grad_vb, grad_c0,
            *sizes, **meta,
        )  # fmt: skip
        grad_vb = grad_vb.sum(1)  # -> (4, dirs, D)
        grad_highway = None if ctx.highway_in_u else grad_x
        return grad_u, grad_highway, grad_vb[:2], grad_vb[2:], grad_c0, None
