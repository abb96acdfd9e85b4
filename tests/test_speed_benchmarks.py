"""benchmarks/encoders.py in a small form: every row timed, and timed on the work a model's encoder does."""

import runpy
from pathlib import Path

import pytest
import torch

from forecast.nn import GRUEncoder

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
encoders = runpy.run_path(str(BENCHMARKS / "encoders.py"), run_name="encoders")


def test_encoders_benchmark_times_every_encoder_and_both_bounds():
    rows = encoders["shape_rows"](6, 2, 8, 1, torch.device("cpu"))
    assert set(rows) == {*encoders["ENCODERS"], "SRU bound", "Bi-SRU bound"}
    for name, (forward, both, bound, reference) in rows.items():
        assert forward > 0 and both > 0, name
        assert (bound, reference) == (("Bi-SRU bound", "Bi-GRU") if name.startswith("Bi-") else ("SRU bound", "GRU"))


def test_encoders_benchmark_backward_computes_the_input_gradient_as_its_bound_does():
    """The bound times the input's gradient product; an encoder timed without it would be flattered."""
    encoder = GRUEncoder(8, hidden_size=8)
    received = []
    encoder.register_forward_pre_hook(lambda module, args: received.append(args[0]))
    _, forward_backward = encoders["encoder_runs"](encoder, torch.randn(2, 6, 8))
    forward_backward()
    (inputs,) = set(received)
    first = inputs.grad.clone()
    forward_backward()  # cleared before each backward, not summed
    torch.testing.assert_close(inputs.grad, first)
    assert all(parameter.grad is not None for parameter in encoder.parameters())


def test_sru_bandwidth_benchmark_counts_the_bytes_the_recurrence_must_move(monkeypatch):
    """Forward: u read once (4 components), h and the cell states written once; backward: u, the cell states
    and h's gradient read, u's gradient written."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python benchmarks/sru_bandwidth.py` has it, for encoders.py
    bandwidth = runpy.run_path(str(BENCHMARKS / "sru_bandwidth.py"), run_name="sru_bandwidth")
    steps, batch, size, dirs = 6, 2, 8, 2
    fwd, fwd_rate, both, both_rate = bandwidth["recurrence_row"](steps, batch, size, dirs, 1, torch.device("cpu"))
    state = 4 * batch * steps * dirs * size  # bytes of one float32 (B, T, dirs, D) tensor
    assert fwd_rate * fwd * 1e6 == pytest.approx(6 * state)
    assert both_rate * both * 1e6 == pytest.approx(6 * state + 10 * state)
