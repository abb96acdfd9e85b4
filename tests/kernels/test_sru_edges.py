"""Edge cases of the SRU recurrence's dispatch: inputs of mixed dtypes, empty batches and windows, and a
``$CC`` that is not a command."""

import warnings

import pytest
import torch

from forecast.kernels import build, sru_cpu, sru_recurrence, sru_recurrence_reference
from forecast.nn.sru import SRUEncoder, SRULayer


def make_inputs(dtype=torch.float64, batch=2, steps=5, directions=2, size=3):
    torch.manual_seed(0)

    def leaf(*shape):
        return torch.randn(*shape, dtype=dtype, requires_grad=True)

    return (
        leaf(batch, steps, directions, 4, size),
        None,
        leaf(2, directions, size),
        leaf(2, directions, size),
        leaf(batch, directions, size),
    )


@pytest.mark.parametrize("weights_dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_sru_weights_of_another_dtype_than_u_run_in_u_dtype_with_the_reference_gradients(weights_dtype):
    """float32 ``u`` beside float64 ``v`` and ``b`` stopped the tensor-op fallback with a dtype error."""
    u, _, v, b, c0 = make_inputs()
    u32, c0_32 = (t.detach().float().requires_grad_() for t in (u, c0))
    v_other, b_other = (t.detach().to(weights_dtype).requires_grad_() for t in (v, b))
    h, c = sru_recurrence(u32, None, v_other, b_other, c0_32)
    assert h.dtype == c.dtype == torch.float32
    expected_h, expected_c = sru_recurrence_reference(u, None, v, b, c0)
    torch.testing.assert_close(h, expected_h.float())
    torch.testing.assert_close(c, expected_c.float())
    (h.sum() + c.sum()).backward()
    (expected_h.sum() + expected_c.sum()).backward()
    for got, want in [(u32, u), (v_other, v), (b_other, b), (c0_32, c0)]:
        assert got.grad.dtype == got.dtype
        torch.testing.assert_close(got.grad.double(), want.grad, rtol=1e-4, atol=1e-4)


def test_sru_gradcheck_of_v_b_and_c0_through_the_dispatch_across_segments():
    """17 steps: one whole segment of 16 kept states and one of a single step, both directions."""
    u, _, v, b, c0 = make_inputs(batch=2, steps=17, size=2)
    u = u.detach()
    assert torch.autograd.gradcheck(lambda v, b, c0: sru_recurrence(u, None, v, b, c0), (v, b, c0))


def test_sru_refuses_a_window_without_time_steps():
    """T = 0 gave an IndexError on the tensor-op path and c0 back on the compiled one."""
    u, _, v, b, c0 = make_inputs(steps=0)
    with pytest.raises(ValueError, match=r"no time steps.*T >= 1"):
        sru_recurrence(u, None, v, b, c0)


@pytest.mark.parametrize("input_size", [2, 4], ids=["highway-input", "projected"])
def test_sru_layer_and_encoder_take_a_batch_of_no_rows(input_size):
    """A view with -1 over 0 elements is ambiguous: an empty batch raised instead of giving empty outputs."""
    layer = SRULayer(input_size, 1, bidirectional=True)
    h, state = layer(torch.randn(0, 3, input_size))
    assert h.shape == (0, 3, 2) and state.shape == (2, 0, 1)
    output = SRUEncoder(input_size, hidden_size=2, num_layers=2)(torch.randn(0, 3, input_size))
    assert output.sequence.shape == (0, 3, 2)


def test_sru_with_an_unparsable_cc_warns_once_and_runs_the_tensor_ops(monkeypatch, tmp_path):
    """``CC='gcc "'`` (an unclosed quote) raised shlex's ValueError on every forward instead of falling back."""
    monkeypatch.setenv("CC", 'gcc "')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 42; }\n")
    with pytest.raises(OSError, match=r"\$CC='gcc \"' is not a command"):
        build.load_library(source)
    inputs = make_inputs(steps=3)
    sru_cpu.cpu_library.cache_clear()
    try:
        with pytest.warns(UserWarning, match="compiled CPU kernel is not available"):
            h, _ = sru_recurrence(*inputs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            again, _ = sru_recurrence(*inputs)
    finally:
        sru_cpu.cpu_library.cache_clear()
    assert h.grad_fn.name() == again.grad_fn.name() == "SRURecurrenceTensorOpsBackward"
    torch.testing.assert_close(h, sru_recurrence_reference(*inputs)[0])
