"""Where an encoder's forward+backward spends its time: torch.profiler's operators, and on a GPU the kernels
launched per batch against the wall time, which tells launch-bound from compute-bound.

The encoders and shapes of ``benchmarks/encoders.py`` (its ``--shapes`` and ``--device`` options); a few
warm-up batches, then ``--repeats`` profiled ones per encoder and shape. The table is sorted by the
device's time on a GPU, by the processor's on the CPU.

    python benchmarks/profile_encoders.py --device cuda --shapes 96x64x64 --encoders SRU GRU Bi-SRU
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import time  # noqa: E402

import torch  # noqa: E402
from encoders import ENCODERS, device_named, encoder_runs, shape_options  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402


def profiled(run, repeats: int, device: torch.device) -> tuple[float, int, str]:
    """Milliseconds a ``run()`` takes (mean of ``repeats`` while profiled), the GPU kernels it launches per
    run (0 on the CPU) and the profiler's table of its ten costliest operators."""
    for _ in range(3):
        run()
    if device.type == "cuda":
        torch.cuda.synchronize()  # the warm-up's queued kernels are neither timed nor traced
    activities = [ProfilerActivity.CPU] + [ProfilerActivity.CUDA] * (device.type == "cuda")
    with profile(activities=activities) as trace:
        start = time.perf_counter()
        for _ in range(repeats):
            run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    kernels = sum(1 for event in trace.events() if event.device_type == torch.autograd.DeviceType.CUDA)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    table = trace.key_averages().table(sort_by=sort, row_limit=10)
    return 1e3 * seconds / repeats, kernels // repeats, table


def main() -> None:
    parser = shape_options(__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=["GRU", "SRU", "Bi-SRU"], choices=list(ENCODERS))
    args = parser.parse_args()
    device, name = device_named(args)
    for shape in args.shapes.split(","):
        steps, batch, size = map(int, shape.split("x"))
        torch.manual_seed(0)
        inputs = torch.randn(batch, steps, size, device=device)
        for encoder in args.encoders:
            _, forward_backward = encoder_runs(ENCODERS[encoder](size).to(device), inputs)
            ms, kernels, table = profiled(forward_backward, args.repeats, device)
            print(f"\n{encoder} fwd+bwd at T={steps}, B={batch}, hidden={size}, {name}: {ms:.2f} ms a batch "
                  f"while profiled, {kernels} GPU kernels a batch\n{table}")  # fmt: skip


if __name__ == "__main__":
    main()
