"""The benchmark scripts in a small form: what they time, and that they time it as their docstrings say."""

import os
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

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


def test_encoders_benchmark_backward_starts_from_a_dense_gradient_made_before_the_timed_runs():
    """As the bound's products start from a dense gradient made once: the gradient of a ``sum`` is a broadcast
    scalar, which an encoder copies into a dense tensor inside the timed backward, work the bound never does."""
    encoder = GRUEncoder(8, hidden_size=8)
    received = []

    def keep_gradient(module, args, output):
        if output.sequence.requires_grad:  # not the forward without gradients that sizes the gradient
            output.sequence.register_hook(received.append)

    encoder.register_forward_hook(keep_gradient)
    _, forward_backward = encoders["encoder_runs"](encoder, torch.randn(2, 6, 8))
    forward_backward()
    forward_backward()
    first, second = received
    assert first.shape == (2, 6, 8) and min(first.stride()) >= 1 and first.std() > 0.5  # dense, not one value
    assert first is second  # the same tensor each time: made once, outside the timed runs


class _CastCounter(TorchDispatchMode):
    """Counts the dtype casts (``aten._to_copy``) that the operations run inside it make."""

    def __init__(self):
        super().__init__()
        self.casts = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.casts += func is torch.ops.aten._to_copy.default
        return func(*args, **(kwargs or {}))


def _casts_per_call(run, calls: int = 3) -> list[int]:
    counts = []
    for _ in range(calls):
        with _CastCounter() as counter:
            run()
        counts.append(counter.casts)
    return counts


def test_encoders_benchmark_bound_times_the_products_alone_in_bf16():
    """Under autocast the bound's operands are already bf16: casting them in every call inflated the bound."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        forward, forward_backward = encoders["matmul_runs"](6, 2, 8, 24, torch.device("cpu"))
        assert forward().dtype == torch.bfloat16
        assert _casts_per_call(forward) == _casts_per_call(forward_backward) == [0, 0, 0]


def test_encoders_benchmark_in_bf16_casts_the_weights_in_every_timed_call(monkeypatch):
    """As in a bf16-mixed training step: autocast's cache kept the first call's casts of the weights and the
    input for every later call of the shape, work that the encoders then skipped and the bound did not."""
    counts = []

    def shape_rows(steps, batch, size, repeats, device):
        _, forward_backward = encoders["encoder_runs"](
            encoders["ENCODERS"]["SRU"](size), torch.randn(batch, steps, size)
        )
        counts.extend(_casts_per_call(forward_backward))
        return {"SRU": (1.0, 1.0, "SRU", "SRU")}

    monkeypatch.setitem(encoders["main"].__globals__, "shape_rows", shape_rows)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", torch.backends.cudnn.allow_tf32)  # main turns it off
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "encoders.py",
            "--dtype",
            "bf16",
            "--shapes",
            "6x2x8",
            "--repeats",
            "1",
            "--threads",
            str(torch.get_num_threads()),
        ],
    )
    encoders["main"]()
    assert counts[0] > 0 and len(set(counts)) == 1, counts


def test_sru_bandwidth_benchmark_counts_the_bytes_the_recurrence_must_move(monkeypatch):
    """Forward without a gradient (the timed forward row): u read once (4 components), h written once, nothing
    kept (the compiled CPU forward writes no cell states then); with one, the cell states written too;
    backward: u, the cell states and h's gradient read, u's gradient written."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python benchmarks/sru_bandwidth.py` has it, for encoders.py
    bandwidth = runpy.run_path(str(BENCHMARKS / "sru_bandwidth.py"), run_name="sru_bandwidth")
    steps, batch, size, dirs = 6, 2, 8, 2
    fwd, fwd_rate, both, both_rate = bandwidth["recurrence_row"](steps, batch, size, dirs, 1, torch.device("cpu"))
    state = 4 * batch * steps * dirs * size  # bytes of one float32 (B, T, dirs, D) tensor
    assert fwd_rate * fwd * 1e6 == pytest.approx(5 * state)
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


def test_profile_encoders_waits_for_the_warm_up_before_its_clock_starts(monkeypatch):
    """On a GPU the warm-up's kernels were still queued when the clock started: timed and traced as the runs'."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as `python benchmarks/profile_encoders.py` has it
    profile = runpy.run_path(str(BENCHMARKS / "profile_encoders.py"), run_name="profile_encoders")
    calls = []
    monkeypatch.setattr(torch.cuda, "synchronize", lambda *args: calls.append("synchronize"))
    profile["profiled"](lambda: calls.append("run"), 2, SimpleNamespace(type="cuda"))
    assert calls == ["run"] * 3 + ["synchronize"] + ["run"] * 2 + ["synchronize"]


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


def test_train_throughput_benchmark_header_counts_the_batches_an_epoch_has(monkeypatch, capsys):
    """A run stops at the epoch's end (ETTh1's 133 batches): the default 150 batches timed 123, not 140."""
    throughput = runpy.run_path(str(BENCHMARKS / "train_throughput.py"), run_name="train_throughput")
    data = SimpleNamespace(train_dataloader=lambda: range(133), batch_size=64)
    monkeypatch.setitem(throughput["main"].__globals__, "cli_rate", lambda *args: (1000.0, None, data))
    monkeypatch.setitem(throughput["main"].__globals__, "plain_rate", lambda *args: 1100.0)
    monkeypatch.setattr(sys, "argv", ["train_throughput.py", "--repeats", "1"])
    throughput["main"]()
    assert "123 timed batches of 64" in capsys.readouterr().out


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


@pytest.mark.parametrize(
    "script",
    ["encoders", "epoch", "sru_bandwidth", "decoder", "train_throughput", "data_throughput", "predict_latency",
     "profile_encoders"],
)  # fmt: skip
def test_timing_scripts_load_torch_under_the_passive_openmp_policy(script, tmp_path):
    """OpenMP reads its wait policy once, when torch loads it: set after ``import torch``, the timings ran
    with spinning threads (benchmarks/README.md's thread trap). A stand-in torch reports the policy it met."""
    (tmp_path / "torch.py").write_text(
        "import os, sys\nsys.stdout.write(os.environ.get('OMP_WAIT_POLICY', 'unset'))\n"
        "sys.stdout.flush()\nos._exit(0)\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"} | {"PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / f"{script}.py")], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "PASSIVE", done.stderr[-2000:]
