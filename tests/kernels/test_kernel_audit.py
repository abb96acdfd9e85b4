"""Found in an audit of the SRU kernels: guards of the compiled CPU recurrence's raw-memory calls, and messages."""

import pytest
import torch

from forecast.kernels.sru_cpu import sru_recurrence_cpu
from forecast.kernels.sru_tensor_ops import SRURecurrenceTensorOps


def make_inputs(dtype=torch.float64, device="cpu"):
    torch.manual_seed(0)
    u = torch.randn(2, 3, 1, 4, 5, dtype=dtype, device=device)
    v, b, c0 = (torch.randn(*shape, dtype=dtype, device=device) for shape in [(2, 1, 5), (2, 1, 5), (2, 1, 5)])
    return u, None, v, b, c0


@pytest.mark.parametrize("name", ["v", "b", "c0"])
def test_sru_cpu_refuses_an_input_of_another_dtype_than_u_naming_it(name):
    """A float32 ``v`` beside a float64 ``u`` was read as float64, past its end: h came back 0.64 off the
    reference (3.7e19 off the other way round), without a word."""
    inputs = dict(zip(["u", "highway", "v", "b", "c0"], make_inputs(), strict=True))
    inputs[name] = inputs[name].float()
    with pytest.raises(ValueError, match=f"{name} is torch.float32 and u torch.float64: .* cast them to one"):
        sru_recurrence_cpu(*inputs.values(), use_tanh=False)


def test_sru_cpu_refuses_tensors_outside_cpu_memory():
    """A meta (or CUDA) tensor's address is no host memory: the kernel read address 0 and the process died."""
    with pytest.raises(ValueError, match="takes CPU tensors .* got u of torch.float64 on meta"):
        sru_recurrence_cpu(*make_inputs(device="meta"), use_tanh=False)


def test_sru_tensor_ops_second_derivative_error_names_its_backward_hand_written_not_fused():
    """The tensor-op path, a Python loop of tensor ops, refused a second derivative calling its backward "fused"."""
    u = torch.randn(1, 3, 1, 4, 2, dtype=torch.float64, requires_grad=True)
    v, b, c0 = (torch.randn(*shape, dtype=torch.float64) for shape in [(2, 1, 2), (2, 1, 2), (1, 1, 2)])
    h, _ = SRURecurrenceTensorOps.apply(u, None, v, b, c0, False)
    with pytest.raises(RuntimeError, match="hand-written backward is differentiable once"):
        torch.autograd.grad(h.sum(), u, create_graph=True)
