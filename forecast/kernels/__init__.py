"""The SRU recurrence, and the one place that picks how it runs.

Nothing compiles at import. CUDA tensors go to the Triton kernels (imported on first use): one kernel
launch runs the whole forward recurrence, every step and both directions, and one the backward (plus
a sum over the batch for ``v`` and ``b``'s gradients). CPU tensors go to ``sru_cpu``'s C kernels
(compiled on first use): likewise one call forward and one backward per layer, plus that sum. Where
those are missing (no Triton, no C compiler: one warning each) or for other dtypes, ``sru_tensor_ops``
runs: a Python loop over time steps of vectorised tensor ops, with a hand-written backward.
``sru_reference`` is the readable oracle the tests hold all three to. ``torch.export`` and TorchScript
tracing record ``sru_tensor_ops.sru_recurrence_unrolled``: the same maths in plain tensor ops that any
exporter can represent, few of them per time step, as an exporter unrolls the time loop.
"""

import functools
import warnings

import torch

from ..errors import user_stacklevel
from .sru_cpu import DTYPES, cpu_library, sru_recurrence_cpu
from .sru_reference import check_recurrence_inputs, sru_recurrence_reference
from .sru_tensor_ops import SRURecurrenceTensorOps, sru_recurrence_unrolled

__all__ = ["sru_recurrence", "sru_recurrence_reference"]


@functools.cache
def _triton_recurrence() -> type[torch.autograd.Function] | None:
    try:
        from .sru_triton import SRURecurrenceTriton
    except ImportError as error:
        warnings.warn(
            f"Triton is not available ({error}); the SRU runs on the GPU through its slower tensor-op path. "
            "`pip install triton` for its kernels (one launch for all time steps).",
            stacklevel=user_stacklevel(),
        )
        return None
    return SRURecurrenceTriton


def sru_recurrence(
    u: torch.Tensor,
    highway: torch.Tensor | None,
    v: torch.Tensor,
    b: torch.Tensor,
    c0: torch.Tensor | None = None,
    use_tanh: bool = False,
    overwrite_u: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The SRU recurrence on the fastest path for the tensors' device.

    Arguments and shapes as in ``sru_recurrence_reference``: ``u`` (B, T, dirs, 3 or 4, D) holds the
    pre-activations ``[x~, f, r(, x')]`` of every step from one matrix product; returns ``h``
    (B, T, dirs, D) and the final cell state (B, dirs, D) in ``u``'s dtype. It runs in that dtype, the other
    inputs cast to it, or in float32 for a half-precision ``u`` (autocast). With ``overwrite_u``, for a
    caller whose ``u`` is a temporary (as in ``SRULayer``), the compiled CPU path keeps the gates it
    computes for the backward in ``u``'s ``f`` and ``r`` components instead of in memory of their own, and
    writes ``u``'s gradient over ``u``; ``u`` must not be read afterwards, and the graph can be walked back
    only once (``SRURecurrenceCPU``).

    Raises:
        ValueError: shapes that do not fit together, a window of no time steps, or tensors on different devices
            (not checked while TorchScript traces).
    """
    if not torch.jit.is_tracing():  # there, each shape compared warns (TracerWarning) that the trace fixes it
        check_recurrence_inputs(u, highway, v, b, c0)
    if c0 is None:
        c0 = u.new_zeros(u.shape[0], u.shape[2], u.shape[4])
    dtype = u.dtype
    # Mixed precision: the matrix product ran in half precision; the recurrence runs in float32 on every
    # path, as a half-precision cell state would drift over hundreds of steps. Every input is brought to
    # that one dtype (float32 weights beside a float64 u, a bfloat16 state), as the kernels read one.
    compute = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    u, highway, v, b, c0 = (None if t is None else t.to(compute) for t in (u, highway, v, b, c0))
    if torch.compiler.is_exporting() or torch.jit.is_tracing():
        h, c = sru_recurrence_unrolled(u, highway, v, b, c0, use_tanh)
    else:
        h, c = _fastest(u, highway, v, b, c0, use_tanh, overwrite_u)
    return h.to(dtype), c.to(dtype)


def _fastest(u, highway, v, b, c0, use_tanh, overwrite_u):
    """The recurrence on the compiled path for the device when there is one, else on tensor ops; inputs of
    one dtype."""
    if u.is_cuda:
        return (_triton_recurrence() or SRURecurrenceTensorOps).apply(u, highway, v, b, c0, use_tanh)
    if u.device.type == "cpu" and u.dtype in DTYPES and cpu_library() is not None:
        return sru_recurrence_cpu(u, highway, v, b, c0, use_tanh, overwrite_u)
    return SRURecurrenceTensorOps.apply(u, highway, v, b, c0, use_tanh)
