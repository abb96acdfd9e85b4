"""Audit of the speed and memory benchmarks: each reference measured in the same run does the work it stands for."""

import runpy
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


class _CopySizes(TorchDispatchMode):
    """Records the elements of every tensor copy (``aten.copy_``) run inside it."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        self.sizes = sizes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten.copy_.default:
            self.sizes.append(args[0].numel())
        return func(*args, **(kwargs or {}))


def test_data_throughput_copy_bound_copies_the_epoch_a_batch_at_a_time(monkeypatch):
    """The loader writes each batch into memory that the freed batch before it used, in cache; one copy of the
    whole epoch streamed its 45 MB through main memory instead, and the loader outran its own "bound"."""
    throughput = runpy.run_path(str(BENCHMARKS / "data_throughput.py"), run_name="data_throughput")
    contenders = {}

    def capture(functions: dict, repeats: int) -> dict[str, float]:
        contenders.update(functions)
        return dict.fromkeys(functions, 1.0)

    monkeypatch.setitem(throughput["throughput"].__globals__, "interleaved", capture)
    throughput["throughput"](1)
    (bound,) = (run for name, run in contenders.items() if name.startswith("(b)"))
    sizes = []
    copyto = np.copyto
    monkeypatch.setattr(np, "copyto", lambda target, source: (sizes.append(target.size), copyto(target, source)))
    with _CopySizes(sizes):
        bound()
    window = 96 * 7 + 96 * 7  # ETTh1's past and target floats at L = H = 96
    assert sizes == [256 * window] * 33 + [1 * window]  # 8449 training windows in batches of 256


def test_encoders_benchmark_runs_cudnn_recurrences_in_full_float32(monkeypatch):
    """torch lets cuDNN's RNNs use TF32 tensor cores by default, not the matrix products of the SRU and its bound:
    on a GPU the "fp32" GRU ran its products with 10-bit mantissas against an SRU in float32."""
    encoders = runpy.run_path(str(BENCHMARKS / "encoders.py"), run_name="encoders")
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", True)  # torch's default, restored after the test
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device: "a GPU")
    cudnn_tf32 = []

    def shape_rows(steps, batch, size, repeats, device):
        cudnn_tf32.append(torch.backends.cudnn.allow_tf32)
        return {"GRU": (1.0, 1.0, "GRU", "GRU")}

    monkeypatch.setitem(encoders["main"].__globals__, "shape_rows", shape_rows)
    threads = str(torch.get_num_threads())
    monkeypatch.setattr(sys, "argv", ["encoders.py", "--device", "cuda", "--shapes", "6x2x8", "--threads", threads])
    encoders["main"]()
    assert cudnn_tf32 == [False]
