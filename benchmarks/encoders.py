"""Encoder speed: forward and forward+backward per batch, against the SRU's matrix-product lower bound.

Every encoder reads (B, T, hidden) and has hidden units per direction, so all rows of a shape do the same
job. The bound is the one product SRU cannot avoid, ``(T*B, d) x (d, 3d)``, and its two products backward,
timed in the same run. Medians of ``--repeats`` runs after a warm-up, fp32.

    python benchmarks/encoders.py                      # CPU, 2 threads, every shape
    python benchmarks/encoders.py --device cuda        # GPU (cuDNN for torch.nn, Triton for SRU)
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from forecast.nn import GRUEncoder, LSTMEncoder, RNNEncoder, SRUEncoder  # noqa: E402

SHAPES = [(96, 64, 64), (96, 64, 256), (336, 32, 128), (720, 64, 512)]
ENCODERS = {
    "RNN": lambda size: RNNEncoder(size, hidden_size=size),
    "LSTM": lambda size: LSTMEncoder(size, hidden_size=size),
    "GRU": lambda size: GRUEncoder(size, hidden_size=size),
    "Bi-GRU": lambda size: GRUEncoder(size, hidden_size=size, bidirectional=True),
    "SRU": lambda size: SRUEncoder(size, hidden_size=size),
    "Bi-SRU": lambda size: SRUEncoder(size, hidden_size=size, bidirectional=True),
}


def median_ms(run, repeats: int, device: torch.device) -> float:
    """Median wall time of ``run()`` in milliseconds, after one warm-up call."""
    times = []
    for index in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if index:
            times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def matmul_bound(steps: int, batch: int, size: int, repeats: int, device: torch.device) -> tuple[float, float]:
    """Forward and forward+backward time of the SRU's input product alone."""
    inputs = torch.randn(steps * batch, size, device=device)
    weight = torch.randn(size, 3 * size, device=device)
    grad = torch.randn(steps * batch, 3 * size, device=device)
    forward = median_ms(lambda: inputs @ weight, repeats, device)
    both = median_ms(lambda: (inputs @ weight, grad @ weight.T, inputs.T @ grad), repeats, device)
    return forward, both


def encoder_times(encoder, inputs: torch.Tensor, repeats: int, device: torch.device) -> tuple[float, float]:
    def forward():
        with torch.no_grad():
            encoder(inputs)

    def forward_backward():
        encoder(inputs).sequence.sum().backward()

    return median_ms(forward, repeats, device), median_ms(forward_backward, repeats, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", default=",".join("x".join(map(str, shape)) for shape in SHAPES),
                        help="T x B x hidden, comma separated")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"encoders, fp32, {name}, median of {args.repeats} after a warm-up; times in ms per batch")
    print(f"{'T':>4} {'B':>3} {'hidden':>6}  {'encoder':<13}{'fwd':>9}{'fwd+bwd':>10}{'/bound':>8}{'GRU/this':>10}")
    for shape in args.shapes.split(","):
        steps, batch, size = map(int, shape.split("x"))
        torch.manual_seed(0)
        inputs = torch.randn(batch, steps, size, device=device)
        bound_forward, bound_both = matmul_bound(steps, batch, size, args.repeats, device)
        rows = {
            name: encoder_times(make(size).to(device), inputs, args.repeats, device) for name, make in ENCODERS.items()
        }
        rows["matmul bound"] = (bound_forward, bound_both)
        for encoder, (forward, both) in rows.items():
            speedup = rows["GRU"][1] / both
            print(f"{steps:>4} {batch:>3} {size:>6}  {encoder:<13}{forward:>9.2f}{both:>10.2f}"
                  f"{both / bound_both:>8.2f}{speedup:>10.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
