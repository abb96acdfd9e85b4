"""Naive baselines on the ETTh1 long-horizon test windows, the floor every model's test MSE must beat.

Uses the same data module, split and scaling as the configs, so the figures sit next to
``python -m forecast test`` output on the same windows.

    python benchmarks/baselines.py --horizon 96
"""

import argparse

import numpy as np

from forecast.data import ETTSplit, TimeSeriesDataModule


def seasonal_naive(past: np.ndarray, horizon: int, period: int) -> np.ndarray:
    """Repeat the last ``period`` steps of each window: (N, L, C) -> (N, H, C)."""
    steps = past.shape[1] - period + np.arange(horizon) % period
    return past[:, steps]


def last_value(past: np.ndarray, horizon: int) -> np.ndarray:
    return np.repeat(past[:, -1:], horizon, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lookback", type=int, default=96)
    parser.add_argument("--horizon", type=int, default=96)
    parser.add_argument("--period", type=int, default=24)
    args = parser.parse_args()

    data = TimeSeriesDataModule("etth1", lookback=args.lookback, horizon=args.horizon, split=ETTSplit())
    data.setup("test")
    test = data.dataset("test")
    batch = test.__getitems__(list(range(len(test))))
    past, target = batch.past.numpy(), batch.target.numpy()

    print(f"ETTh1 test, L={args.lookback} H={args.horizon}, {len(test)} windows, standardized scale")
    print(f"{'baseline':<24}{'MSE':>8}{'MAE':>8}")
    for name, forecast in [
        (f"seasonal naive ({args.period})", seasonal_naive(past, args.horizon, args.period)),
        ("last value", last_value(past, args.horizon)),
    ]:
        error = forecast - target
        print(f"{name:<24}{np.mean(error**2):>8.3f}{np.mean(np.abs(error)):>8.3f}")


if __name__ == "__main__":
    main()
