"""The SRU recurrence alone: its time and the memory bandwidth it achieves, against a plain copy's.

The recurrence is element-wise, so its floor is memory traffic, not arithmetic: forward it reads the
pre-activations ``u`` (and the highway input, where it is not in ``u``) and writes ``h``, and in training
also the cell states kept for the backward (the forward row is timed without a gradient, as in inference,
so it is credited with ``u`` and ``h`` only); backward it reads those, ``u`` and ``h``'s gradient, and
writes ``u``'s (and the highway's). Achieved bandwidth is those bytes over the median time; the reference is a
device-to-device copy of a large tensor in the same run (bytes read plus written). On the GPU this is
the Triton kernel, on the CPU the compiled recurrence (or its tensor-op fallback). fp32; medians of
``--repeats`` turns after a warm-up.

    python benchmarks/sru_bandwidth.py --device cuda
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import torch  # noqa: E402
from encoders import device_named, medians_ms, shape_options  # noqa: E402  (benchmarks/encoders.py: this script's folder is on the path)

from forecast.kernels import sru_recurrence  # noqa: E402


def copy_gbps(repeats: int, device: torch.device, megabytes: int = 1024) -> float:
    """GB/s of copying one tensor into another (bytes read plus bytes written)."""
    source = torch.empty(megabytes * 2**18, device=device)
    target = torch.empty_like(source)
    return 2 * source.nbytes / medians_ms({"copy": lambda: target.copy_(source)}, repeats, device)["copy"] / 1e6


def recurrence_row(steps: int, batch: int, size: int, dirs: int, repeats: int, device: torch.device) -> tuple:
    """(fwd ms, fwd GB/s, fwd+bwd ms, fwd+bwd GB/s) of one layer's recurrence, the highway inside ``u``."""
    torch.manual_seed(0)
    u = torch.randn(batch, steps, dirs, 4, size, device=device, requires_grad=True)
    v = torch.randn(2, dirs, size, device=device, requires_grad=True)
    b = torch.randn(2, dirs, size, device=device, requires_grad=True)
    grad_h = torch.randn(batch, steps, dirs, size, device=device)
    states = grad_h.nbytes  # one (B, T, dirs, D) tensor: h, the cell states, or h's gradient

    def forward():
        with torch.no_grad():
            sru_recurrence(u, None, v, b)

    def forward_backward():
        u.grad = v.grad = b.grad = None
        h, _ = sru_recurrence(u, None, v, b)
        h.backward(grad_h)

    inference_bytes = u.nbytes + states  # read u; write h (no gradient: nothing is kept for a backward)
    training_bytes = inference_bytes + states  # and write the cell states the backward reads
    backward_bytes = 2 * u.nbytes + 2 * states  # read u, the cell states and h's gradient; write u's gradient
    times = medians_ms({"fwd": forward, "fwd+bwd": forward_backward}, repeats, device)
    fwd, both = times["fwd"], times["fwd+bwd"]
    return fwd, inference_bytes / fwd / 1e6, both, (training_bytes + backward_bytes) / both / 1e6


def main() -> None:
    args = shape_options(__doc__.splitlines()[0]).parse_args()
    device, name = device_named(args)
    copy = copy_gbps(args.repeats, device)
    print(f"SRU recurrence alone, fp32, {name}, median of {args.repeats}; copy bandwidth {copy:.0f} GB/s")
    print(f"{'T':>4} {'B':>3} {'hidden':>6} {'dirs':>4}{'fwd ms':>9}{'GB/s':>8}{'/copy':>7}"
          f"{'fwd+bwd ms':>12}{'GB/s':>8}{'/copy':>7}")  # fmt: skip
    for shape in args.shapes.split(","):
        steps, batch, size = map(int, shape.split("x"))
        for dirs in (1, 2):
            fwd, fwd_rate, both, both_rate = recurrence_row(steps, batch, size, dirs, args.repeats, device)
            print(f"{steps:>4} {batch:>3} {size:>6} {dirs:>4}{fwd:>9.3f}{fwd_rate:>8.0f}{fwd_rate / copy:>7.2f}"
                  f"{both:>12.3f}{both_rate:>8.0f}{both_rate / copy:>7.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
