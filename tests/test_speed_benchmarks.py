"""The benchmark scripts in a small form: what they time, and that they time it as their docstrings say."""

import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from forecast.batch import Batch
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


def _synchronize_calls(monkeypatch) -> list:
    """Replace ``torch.cuda.synchronize`` with a recorder, so that a GPU timer's synchronization is seen on a CPU."""
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: calls.append(args))
    return calls


def test_train_throughput_benchmark_synchronizes_the_gpu_around_the_cli_steps(monkeypatch):
    """The plain loop synchronizes after every step; the CLI side, unsynchronized, would stop its clock early."""
    throughput = runpy.run_path(str(BENCHMARKS / "train_throughput.py"), run_name="train_throughput")
    calls = _synchronize_calls(monkeypatch)
    timer, on_gpu, batch = throughput["_StepTimer"](warmup=1), SimpleNamespace(device=torch.device("cuda")), [0] * 64
    timer.on_train_batch_start(None, on_gpu, batch, 1)
    timer.on_train_batch_end(None, on_gpu, None, batch, 1)
    assert len(calls) == 2 and timer.windows == 64


class _TinyModel(torch.nn.Module):
    """The model interface the plain loop uses: forward of a batch's tensors, and ``loss``."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(1))

    def forward(self, past, future, static, target):
        return past[:, -1:] * self.weight

    def loss(self, forecast, target):
        return (forecast - target).square().mean()


def test_train_throughput_benchmark_plain_loop_loads_no_batch_past_its_last():
    """A batch loaded after the timed steps would count its loading against the plain loop."""
    throughput = runpy.run_path(str(BENCHMARKS / "train_throughput.py"), run_name="train_throughput")
    loaded = []

    def train_dataloader():
        for index in range(10):
            loaded.append(index)
            yield Batch(*(torch.zeros(4, 1, 1) for _ in range(4)), *(torch.zeros(4) for _ in range(5)))

    rate = throughput["plain_rate"](_TinyModel(), SimpleNamespace(train_dataloader=train_dataloader), 3, 1, "cpu")
    assert loaded == [0, 1, 2] and rate > 0


def test_epoch_benchmark_synchronizes_the_gpu_at_both_ends_of_an_epoch(monkeypatch):
    epoch = runpy.run_path(str(BENCHMARKS / "epoch.py"), run_name="epoch")
    calls = _synchronize_calls(monkeypatch)
    timer, on_gpu = epoch["EpochTimer"](), SimpleNamespace(device=torch.device("cuda"))
    timer.on_train_epoch_start(None, on_gpu)
    timer.on_validation_epoch_start(None, on_gpu)
    assert len(calls) == 2 and len(timer.seconds) == 1


def test_epoch_benchmark_refuses_configs_with_one_epoch_before_fitting(monkeypatch):
    """The first epoch is not timed: with one, the median of none would fail after the whole fit."""
    epoch = runpy.run_path(str(BENCHMARKS / "epoch.py"), run_name="epoch")

    def fit(*args):
        raise AssertionError("fitted")

    monkeypatch.setitem(epoch["main"].__globals__, "compare_configs", fit)
    monkeypatch.setattr(sys, "argv", ["epoch.py", "--configs", "configs/etth1/gru.yaml", "--epochs", "1"])
    with pytest.raises(SystemExit) as exit_:
        epoch["main"]()
    assert exit_.value.code == 2


def test_data_throughput_benchmark_loads_batches_past_one_epoch():
    """``--repeats 14`` times more loads than ETTh1's 133 training batches of 64: they must not run out."""
    throughput = runpy.run_path(str(BENCHMARKS / "data_throughput.py"), run_name="data_throughput")
    batches = throughput["endless"](SimpleNamespace(train_dataloader=lambda: iter([1, 2])))
    assert [next(batches) for _ in range(5)] == [1, 2, 1, 2, 1]
