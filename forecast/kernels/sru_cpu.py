"""The SRU recurrence on CPU, fused: one compiled call per layer forward and one backward (``sru_cpu.c``).

Each call runs every time step of both directions, parallel over batch rows and hidden units on torch's
threads (``torch.get_num_threads()``). The kernels read ``u`` where the matrix product wrote it and write
``h`` and the gradients in the reference layout, so no tensor is flipped, stacked or transposed. The C
source is compiled on first use (``build.load_library``); without a working compiler ``cpu_library()``
warns once and returns ``None``, and the dispatcher takes the tensor-op path.
"""

import ctypes
import functools
import warnings
from pathlib import Path

import torch

from ..errors import user_stacklevel
from .build import load_library
from .sru_reference import check_recurrence_inputs, refuse_second_derivative

__all__ = ["DTYPES", "SRURecurrenceCPU", "cpu_library", "sru_recurrence_cpu"]

DTYPES = {torch.float32: "f32", torch.float64: "f64"}
_SOURCE = Path(__file__).with_name("sru_cpu.c")
_POINTER, _INDEX, _FLAG = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int
# (u, highway, highway_stride, v, b, c0, h, c_all, gates, gates_stride, c_last, B, T, dirs, k, D, use_tanh,
#  num_threads)
_FORWARD_ARGS = [_POINTER, _POINTER, _INDEX, *[_POINTER] * 6, _INDEX, _POINTER, *[_INDEX] * 5, _FLAG, _FLAG]
# (u, highway, highway_stride, gates, gates_stride, v, c_all, grad_h, grad_c_last, grad_u, grad_highway,
#  grad_highway_stride, grad_c0, grad_vb, B, T, dirs, k, D, use_tanh, num_threads)
_BACKWARD_ARGS = [_POINTER, _POINTER, _INDEX, _POINTER, _INDEX, *[_POINTER] * 6, _INDEX, *[_POINTER] * 2,
                  *[_INDEX] * 5, _FLAG, _FLAG]  # fmt: skip


@functools.cache
def cpu_library() -> ctypes.CDLL | None:
    """The compiled kernels, built on the first call; ``None``, with one warning, when they cannot be built."""
    try:
        library = load_library(_SOURCE)
    except OSError as error:
        warnings.warn(
            f"The SRU's compiled CPU kernel is not available ({error}); it runs through its slower tensor-op path.",
            stacklevel=user_stacklevel(),
        )
        return None
    for suffix in DTYPES.values():
        getattr(library, f"sru_forward_{suffix}").argtypes = _FORWARD_ARGS
        getattr(library, f"sru_backward_{suffix}").argtypes = _BACKWARD_ARGS
    return library


def _kernel(direction: str, dtype: torch.dtype):
    return getattr(cpu_library(), f"sru_{direction}_{DTYPES[dtype]}")


def _pointer(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _highway(u: torch.Tensor, highway: torch.Tensor | None) -> tuple[int, int]:
    """Address and row stride of x': u's 4th component (rows of k D) or a tensor of its own (rows of D)."""
    size = u.shape[-1]
    if highway is None:
        return u.data_ptr() + 3 * size * u.element_size(), u.shape[3] * size
    return highway.data_ptr(), size


def _gates(u: torch.Tensor, gates: torch.Tensor | None) -> tuple[int, int]:
    """Address and row stride of the kept (f, r) pairs: over u's f' and r' (rows of k D), or in ``gates``
    (B, T, dirs, 2, D; rows of 2 D)."""
    size = u.shape[-1]
    if gates is None:
        return u.data_ptr() + size * u.element_size(), u.shape[3] * size
    return gates.data_ptr(), 2 * size


def _check_memory(
    u: torch.Tensor, highway: torch.Tensor | None, v: torch.Tensor, b: torch.Tensor, c0: torch.Tensor
) -> None:
    """Raise ``ValueError`` unless every tensor is in CPU memory in ``u``'s dtype, one of ``DTYPES``.

    The kernels read each pointer as an array of ``u``'s scalar type: a float32 ``v`` beside a float64 ``u``
    would be read past its end, and a CUDA or meta tensor's address is not host memory at all.
    """
    if u.device.type != "cpu" or u.dtype not in DTYPES:
        raise ValueError(
            f"the compiled CPU recurrence takes CPU tensors of {sorted(map(str, DTYPES))}, got u of {u.dtype} on "
            f"{u.device}: call forecast.kernels.sru_recurrence, which picks the path and the dtype"
        )
    for name, tensor in {"highway": highway, "v": v, "b": b, "c0": c0}.items():
        if tensor is not None and tensor.dtype != u.dtype:
            raise ValueError(
                f"{name} is {tensor.dtype} and u {u.dtype}: the compiled CPU recurrence reads every tensor in u's "
                "dtype, so cast them to one (forecast.kernels.sru_recurrence does)"
            )


def _forward(u, highway, v, b, c0, use_tanh: bool, keep: bool, gates: torch.Tensor | None = None):
    """h, c_last, and with ``keep`` what the backward reads: the c entering every segment of the kernel's
    ``sru_segment`` steps (returned as c_all, (B, segments, dirs, D)), and every (f_t, r_t) pair, written into
    ``gates`` (B, T, dirs, 2, D) when given, else over u's own f' and r'. Without ``keep`` (inference) nothing
    is kept and c_all is ``None``. Inputs contiguous, of one dtype.
    """
    check_recurrence_inputs(u, highway, v, b, c0)  # the kernel trusts these shapes with raw memory
    _check_memory(u, highway, v, b, c0)
    batch, steps, dirs, components, size = u.shape
    h = u.new_empty(batch, steps, dirs, size)
    segments = -(-steps // ctypes.c_int64.in_dll(cpu_library(), "sru_segment").value)
    c_all = u.new_empty(batch, segments, dirs, size) if keep else None
    c_last = u.new_empty(batch, dirs, size)
    _kernel("forward", u.dtype)(
        u.data_ptr(), *_highway(u, highway), v.data_ptr(), b.data_ptr(), c0.data_ptr(), h.data_ptr(),
        _pointer(c_all), *(_gates(u, gates) if keep else (None, 0)), c_last.data_ptr(), *u.shape, use_tanh,
        torch.get_num_threads(),
    )  # fmt: skip
    return h, c_last, c_all


def _contiguous(*tensors: torch.Tensor | None) -> list[torch.Tensor | None]:
    return [None if tensor is None else tensor.contiguous() for tensor in tensors]


class SRURecurrenceCPU(torch.autograd.Function):
    """``sru_recurrence_reference``'s maths in two compiled calls: forward, and its hand-written backward.

    Forward keeps every ``f_t`` and ``r_t`` and the ``c`` entering each segment of 16 steps; backward replays a
    segment's ``c_t`` from those (the forward's own arithmetic, so the same bits), walks its steps in reverse,
    segment by segment, and returns the gradients of ``v`` and ``b`` as per-batch-row partial sums that one
    ``sum`` reduces. With ``overwrite_u``, for a caller whose ``u`` is a temporary, ``u`` is the working
    memory: the forward writes ``f_t`` and ``r_t`` over its pre-activations ``f'`` and ``r'``, and the backward
    writes ``u``'s gradient over ``u`` itself (each value is read before its gradient replaces it). No memory
    is allocated for the gates nor for ``u``'s gradient, and such a graph can be walked back only once, even
    with ``retain_graph``.
    """

    @staticmethod
    def forward(ctx, u, highway, v, b, c0, use_tanh, overwrite_u=False):
        # u: (B, T, dirs, k, D), highway: (B, T, dirs, D) or None, v, b: (2, dirs, D), c0: (B, dirs, D)
        u, highway, v, b, c0 = _contiguous(u, highway, v, b, c0)
        batch, steps, dirs, _, size = u.shape
        gates = None if overwrite_u else u.new_empty(batch, steps, dirs, 2, size)
        h, c_last, c_all = _forward(u, highway, v, b, c0, use_tanh, keep=True, gates=gates)
        ctx.save_for_backward(u, highway, v, c_all, gates)
        ctx.use_tanh, ctx.overwrite_u, ctx.spent = use_tanh, overwrite_u, False
        return h, c_last  # -> (B, T, dirs, D), (B, dirs, D)

    @staticmethod
    def backward(ctx, grad_h, grad_c_last):
        refuse_second_derivative()
        if ctx.spent:
            raise RuntimeError(
                "this SRU recurrence wrote its gradient over its own working memory in an earlier backward, so "
                "it cannot be walked back again (retain_graph=True): run the forward again, or call "
                "sru_recurrence with overwrite_u=False"
            )
        u, highway, v, c_all, gates = ctx.saved_tensors
        grad_h, grad_c_last = _contiguous(grad_h, grad_c_last)
        batch, steps, dirs, components, size = u.shape
        grad_u = u if ctx.overwrite_u else torch.empty_like(u)
        ctx.spent = ctx.overwrite_u
        if highway is None:  # x' is u's 4th component: its gradient goes there
            grad_highway, grad_highway_at = None, _highway(grad_u, None)
        elif ctx.needs_input_grad[1]:
            grad_highway = torch.empty_like(highway)
            grad_highway_at = grad_highway.data_ptr(), size
        else:
            grad_highway, grad_highway_at = None, (None, 0)
        grad_c0 = u.new_empty(batch, dirs, size)
        grad_vb = u.new_empty(batch, 4, dirs, size)  # per batch row: [v_f, v_r, b_f, b_r]
        _kernel("backward", u.dtype)(
            u.data_ptr(), *_highway(u, highway), *_gates(u, gates), v.data_ptr(), c_all.data_ptr(),
            grad_h.data_ptr(), _pointer(grad_c_last), grad_u.data_ptr(), *grad_highway_at, grad_c0.data_ptr(),
            grad_vb.data_ptr(), *u.shape, ctx.use_tanh, torch.get_num_threads(),
        )  # fmt: skip
        grad_v, grad_b = grad_vb.sum(0).view(2, 2, dirs, size)  # -> (2, dirs, D) each
        return grad_u, grad_highway, grad_v, grad_b, grad_c0, None, None


def sru_recurrence_cpu(
    u: torch.Tensor,
    highway: torch.Tensor | None,
    v: torch.Tensor,
    b: torch.Tensor,
    c0: torch.Tensor,
    use_tanh: bool,
    overwrite_u: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The compiled recurrence: through autograd when a gradient is wanted, else one forward call keeping no states.

    Arguments and shapes as in ``sru_recurrence_reference``, all of one dtype in ``DTYPES``, on CPU,
    with ``cpu_library()`` available; ``overwrite_u`` as in ``SRURecurrenceCPU``.
    """
    inputs = (u, highway, v, b, c0)
    if torch.is_grad_enabled() and any(tensor is not None and tensor.requires_grad for tensor in inputs):
        return SRURecurrenceCPU.apply(*inputs, use_tanh, overwrite_u)
    h, c_last, _ = _forward(*_contiguous(*inputs), use_tanh, keep=False)
    return h, c_last
