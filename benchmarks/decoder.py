"""The parallel segment decoder: ``Encoder.broadcast_step`` against the grid of one-step sequences it replaces.

SegRNN-style heads (``forecast.nn.SegmentHead``) run one recurrent step for every (row, segment) pair,
each row's state with each segment's position embedding. The reference (``Encoder.broadcast_step``
of the base class) repeats the state and the inputs into B * S one-step sequences and runs the
encoder's ``forward``; the encoders' own ``broadcast_step`` meets each input part and each state with
its matrix once. Shapes are those of ``configs/etth1/segrnn_*.yaml``: batch 256 x 7 channels = 1792
rows, hidden 512, position 256 and channel embedding 256 features, ceil(H / 48) segments for H = 96 to 720.
Forward+backward per batch, medians of ``--repeats`` turns after a warm-up, both in the same run.

    python benchmarks/decoder.py
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import torch  # noqa: E402

from forecast.nn import GRUEncoder, LSTMEncoder, SRUEncoder  # noqa: E402
from forecast.nn.encoders import Encoder  # noqa: E402

ENCODERS = {"GRU": GRUEncoder, "LSTM": LSTMEncoder, "SRU": SRUEncoder}


def seconds(step, decoder: Encoder, inputs: list[torch.Tensor], state) -> float:
    """Wall time of one forward and backward of ``step(decoder, inputs, state)``."""
    start = time.perf_counter()
    step(decoder, inputs, state).square().mean().backward()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1792)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for flag, value, least in (("--rows", args.rows, 1), ("--hidden", args.hidden, 2), ("--threads", args.threads, 1)):
        if value < least:
            parser.error(f"{flag} {value}: give at least {least}")
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: give at least 1, the turns timed after the warm-up")
    if min(args.horizons) < 1:
        parser.error(f"--horizons {min(args.horizons)}: give at least 1 step")
    torch.set_num_threads(args.threads)
    print(f"fwd+bwd per batch, {args.rows} rows, hidden {args.hidden}, {args.threads} threads, "
          f"median of {args.repeats}")  # fmt: skip
    print(f"{'decoder':<8}{'H':>5}{'segments':>10}{'grid ms':>10}{'broadcast ms':>14}{'grid/broadcast':>16}")
    half = args.hidden // 2
    for name, encoder in ENCODERS.items():
        decoder = encoder(2 * half, hidden_size=args.hidden)
        for horizon in args.horizons:
            segments = -(-horizon // 48)  # as SegmentHead decodes it: the last segment may pass the horizon
            inputs = [
                torch.randn(1, segments, half, requires_grad=True),  # position embedding
                torch.randn(args.rows, 1, half, requires_grad=True),  # channel embedding
            ]
            state = decoder(torch.randn(args.rows, 2, 2 * half)).state
            state = tuple(part.detach() for part in state) if isinstance(state, tuple) else state.detach()
            times = {"grid": [], "broadcast": []}
            for turn in range(args.repeats + 1):
                grid = seconds(Encoder.broadcast_step, decoder, inputs, state)
                broadcast = seconds(type(decoder).broadcast_step, decoder, inputs, state)
                if turn:  # the first turn warms up
                    times["grid"].append(grid)
                    times["broadcast"].append(broadcast)
            grid, broadcast = (statistics.median(times[key]) * 1e3 for key in ("grid", "broadcast"))
            print(f"{name:<8}{horizon:>5}{segments:>10}{grid:>10.1f}{broadcast:>14.1f}{grid / broadcast:>16.2f}")


if __name__ == "__main__":
    main()
