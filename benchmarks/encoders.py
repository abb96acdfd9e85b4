"""Encoder speed: forward and forward+backward per batch, against the SRU's matrix-product lower bound.

Every encoder reads (B, T, hidden) and has hidden units per direction, so all rows of a shape do the same
job. The bound is the one product an SRU layer cannot avoid, ``(T*B, d) x (d, width)`` with its layer's
``width`` (3d for one direction; both directions' column blocks, 2 x 4d, for two), and its two products
backward (the input's gradient and the weight's), timed in the same run. The encoders' input requires a
gradient, as it does inside a model, so every row's backward computes both too. One-direction rows are
compared with the GRU and the one-direction bound, ``Bi-`` rows with the Bi-GRU and the two-direction
bound. The encoders take turns within each repeat, so that a change in the machine's load shifts them all
alike; medians of ``--repeats`` turns after a warm-up, in fp32 (no TF32 anywhere, cuDNN's included) or, with
``--dtype bf16``, under bf16 autocast (the products in bf16, the SRU's recurrence in fp32, as in training
with ``bf16-mixed``).

    python benchmarks/encoders.py                      # CPU, 2 threads, every shape
    python benchmarks/encoders.py --device cuda        # GPU (cuDNN for torch.nn, Triton for SRU)
    python benchmarks/encoders.py --device cuda --dtype bf16
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import torch  # noqa: E402

from forecast.nn import GRUEncoder, LSTMEncoder, RNNEncoder, SRUEncoder  # noqa: E402

SHAPES = [(96, 64, 64), (96, 64, 256), (336, 32, 128), (720, 64, 512)]
ENCODERS = {
    "RNN": lambda size: RNNEncoder(size, hidden_size=size),
    "LSTM": lambda size: LSTMEncoder(size, hidden_size=size),
    "GRU": lambda size: GRUEncoder(size, hidden_size=size),
    "Bi-GRU": lambda size: GRUEncoder(size, hidden_size=size, bidirectional=True),
    "SRU": lambda size: SRUEncoder(size, hidden_size=size),
    "SRU tanh": lambda size: SRUEncoder(size, hidden_size=size, use_tanh=True),
    "Bi-SRU": lambda size: SRUEncoder(size, hidden_size=size, bidirectional=True),
}


def timed_ms(run: Callable[[], object], device: torch.device) -> float:
    """Wall time of one ``run()`` in milliseconds."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    run()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 1e3 * (time.perf_counter() - start)


def medians_ms(runs: dict[str, Callable[[], object]], repeats: int, device: torch.device) -> dict[str, float]:
    """Median wall time of each run in milliseconds: one warm-up each, then ``repeats`` turns of all runs."""
    for run in runs.values():
        run()
    times = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            times[name].append(timed_ms(run, device))
    return {name: statistics.median(values) for name, values in times.items()}


def matmul_runs(steps: int, batch: int, size: int, width: int, device: torch.device) -> tuple[Callable, Callable]:
    """Forward, and forward+backward, of an SRU layer's input product alone: ``(T*B, size) x (size, width)``.

    Under autocast the operands are made in its dtype, so that only the products are timed, not casts to it.
    """
    enabled = torch.is_autocast_enabled(device.type)
    dtype = torch.get_autocast_dtype(device.type) if enabled else torch.float32
    inputs = torch.randn(steps * batch, size, device=device, dtype=dtype)
    weight = torch.randn(size, width, device=device, dtype=dtype)
    grad = torch.randn(steps * batch, width, device=device, dtype=dtype)
    return lambda: inputs @ weight, lambda: (inputs @ weight, grad @ weight.T, inputs.T @ grad)


def encoder_runs(encoder: torch.nn.Module, inputs: torch.Tensor) -> tuple[Callable, Callable]:
    """Forward without gradients, and forward+backward, of one encoder on one batch.

    The input is made to require a gradient, as the output of the layer below does inside a model: the
    backward then computes the input's gradient as well as the weights', the work the bound's two
    products stand for. The backward starts from a dense gradient of the output sequence, made once
    outside the timed runs, as the bound's products start from theirs and as a head above passes one back
    (the gradient of a ``sum`` is a broadcast scalar, which every encoder would copy into a dense tensor
    first). Gradients are cleared before each backward, as ``optimizer.zero_grad()`` does.
    """
    inputs = inputs.detach().requires_grad_()
    with torch.no_grad():
        output_grad = torch.randn_like(encoder(inputs).sequence)

    def forward():
        with torch.no_grad():
            encoder(inputs)

    def forward_backward():
        inputs.grad = None
        encoder.zero_grad(set_to_none=True)
        encoder(inputs).sequence.backward(output_grad)

    return forward, forward_backward


def shape_rows(steps: int, batch: int, size: int, repeats: int, device: torch.device) -> dict[str, tuple]:
    """(fwd ms, fwd+bwd ms, bound, reference) per row of one shape."""
    torch.manual_seed(0)
    inputs = torch.randn(batch, steps, size, device=device)
    encoders = {name: make(size).to(device) for name, make in ENCODERS.items()}
    pairs = {name: encoder_runs(encoder, inputs) for name, encoder in encoders.items()}
    for name in ("SRU", "Bi-SRU"):
        width = encoders[name].layers[0].weight.out_features
        pairs[f"{name} bound"] = matmul_runs(steps, batch, size, width, device)
    forward = medians_ms({name: pair[0] for name, pair in pairs.items()}, repeats, device)
    both = medians_ms({name: pair[1] for name, pair in pairs.items()}, repeats, device)
    return {
        name: (forward[name], both[name], "Bi-SRU bound" if name.startswith("Bi-") else "SRU bound",
               "Bi-GRU" if name.startswith("Bi-") else "GRU")
        for name in pairs
    }  # fmt: skip


def shape_options(description: str) -> argparse.ArgumentParser:
    """The options of a benchmark over ``SHAPES``: ``--device``, ``--threads``, ``--repeats``, ``--shapes``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--shapes", default=",".join("x".join(map(str, shape)) for shape in SHAPES),
                        help="T x B x hidden, comma separated")  # fmt: skip
    return parser


def device_named(args: argparse.Namespace) -> tuple[torch.device, str]:
    """The device of ``shape_options``' arguments (the CPU's threads set) and how a table's header names it.

    cuDNN's recurrent layers are kept from TF32 tensor cores, which torch allows them by default but not the
    matrix products of the SRU and its bound: an "fp32" GRU would otherwise run its products with 10-bit
    mantissas against an SRU in full float32.
    """
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)
    return device, torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"


def main() -> None:
    parser = shape_options(__doc__.splitlines()[0])
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()
    device, name = device_named(args)
    print(f"encoders, {args.dtype}, {name}, median of {args.repeats} turns after a warm-up; times in ms per batch")
    print(
        f"{'T':>4} {'B':>3} {'hidden':>6}  {'encoder':<13}{'fwd':>9}{'fwd+bwd':>10}{'/bound':>8}{'(Bi-)GRU/this':>15}"
    )
    for shape in args.shapes.split(","):
        steps, batch, size = map(int, shape.split("x"))
        # No cast cache, as Lightning's bf16-mixed: each call casts the weights and its input as a training step does.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.dtype == "bf16", cache_enabled=False):
            rows = shape_rows(steps, batch, size, args.repeats, device)
        for encoder, (forward, both, bound, reference) in rows.items():
            print(f"{steps:>4} {batch:>3} {size:>6}  {encoder:<13}{forward:>9.2f}{both:>10.2f}"
                  f"{both / rows[bound][1]:>8.2f}{rows[reference][1] / both:>15.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
