"""Naive baselines on the ETTh1 long-horizon test windows, the floor every model's test MSE must beat.

Uses the same data module, split and scaling as the configs, so the figures sit next to
``python -m forecast test`` output on the same windows.

    python benchmarks/baselines.py --horizon 96
"""

import argparse

from forecast.data import ETTSplit, TimeSeriesDataModule
from forecast.nn.baselines import seasonal_naive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--period", type=int, default=24)
    args = parser.parse_args()
    if not 1 <= args.period <= args.lookback:  # the last season must lie in the window
        parser.error(f"--period {args.period} must lie in [1, --lookback {args.lookback}]")

    data = TimeSeriesDataModule("etth1", lookback=args.lookback, horizon=args.horizon, split=ETTSplit())
    data.setup("test")
    test = data.dataset("test")
    batch = test.__getitems__(list(range(len(test))))
    past, target = batch.past[..., : data.target_size], batch.target  # the targets come first

    print(f"ETTh1 test, L={args.lookback} H={args.horizon}, {len(test)} windows, standardized scale")
    print(f"{'baseline':<24}{'MSE':>8}{'MAE':>8}")
    for name, period in [(f"seasonal naive ({args.period})", args.period), ("last value", 1)]:
        error = seasonal_naive(past, args.horizon, period) - target
        print(f"{name:<24}{error.square().mean():>8.3f}{error.abs().mean():>8.3f}")


if __name__ == "__main__":
    main()
