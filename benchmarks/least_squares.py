"""A linear map of each channel's lookback to its horizon in closed form (ridge least squares), on validation only.

The reference a linear model trained by gradient steps (``configs/ltsf/linear.yaml``) should reach, and the
quickest way to ask a data set how much of a window's level a forecast should keep: with ``last`` the map sees
the window less its last value and adds it back (the recurrent configs' ``LastValueNormalization``); with
``instance`` it sees the window standardized by its own mean and deviation and maps back with them (RevIN,
``InstanceNormalization``, without its learned per-channel affine map: the normalization FITS and RLinear put
around their linear maps); with ``none`` it sees the scaled window as it is, with an intercept. The windows are
the data module's (the split preset, the scalers fitted on the training rows); with ``--origins 3`` also the two
earlier validation parts that ``ltsf.py --origins`` scores, each with training rows that end where it begins. The
test part is never read.

    python benchmarks/least_squares.py --lookback 720 --horizons 96 336 720 --origins 3
"""

import argparse
import runpy
from pathlib import Path

import numpy as np

from forecast import datasets
from forecast.data import RowSplit, TimeSeriesDataModule

# ltsf.py, a script beside this one (benchmarks/ is no package): its origins and its way of refusing, shared.
ltsf = runpy.run_path(str(Path(__file__).with_name("ltsf.py")), run_name="ltsf")
NORMALIZATIONS = ("none", "last", "instance")  # the table's columns


def windows(data: TimeSeriesDataModule, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Every window of ``part`` as rows of one channel each: (windows x channels, L) inputs, (..., H) targets."""
    dataset = data.dataset(part)
    batch = dataset.__getitems__(list(range(len(dataset))))
    past = batch.past[..., : data.target_size].double().numpy()  # the targets come first
    target = batch.target.double().numpy()
    return past.transpose(0, 2, 1).reshape(-1, past.shape[1]), target.transpose(0, 2, 1).reshape(-1, target.shape[1])


def validation_mse(data: TimeSeriesDataModule, normalization: str, ridge: float) -> float:
    """The validation MSE of the ridge least-squares map fitted on the training windows (the intercept unpenalized)."""
    inputs, targets = windows(data, "train")
    val_inputs, val_targets = windows(data, "val")

    def design(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The map's inputs, and the level and scale that its outputs are given back with."""
        ones = np.ones((len(rows), 1))
        if normalization == "last":  # the last step less itself is 0: left out, so that no penalty is needed
            level = rows[:, -1:]
            return np.hstack([rows[:, :-1] - level, ones]), level, ones
        if normalization == "instance":  # RevIN's statistics: the population variance, eps 1e-5
            level, scale = rows.mean(axis=1, keepdims=True), np.sqrt(rows.var(axis=1, keepdims=True) + 1e-5)
            return np.hstack([(rows - level) / scale, ones]), level, scale
        return np.hstack([rows, ones]), 0 * ones, ones

    features, level, scale = design(inputs)
    penalty = ridge * np.eye(features.shape[1])
    penalty[-1, -1] = 0
    weights = np.linalg.solve(features.T @ features + penalty, features.T @ ((targets - level) / scale))
    val_features, val_level, val_scale = design(val_inputs)
    return float(np.mean((val_features @ weights * val_scale + val_level - val_targets) ** 2))


def splits(dataset: str, origins: int) -> list[RowSplit]:
    """The preset's validation part, then ``origins - 1`` each half a validation part earlier: ``ltsf.py``'s origins
    (its ``origin_rows``), each as the rows of a split.

    Raises:
        ValueError: ``origin_rows``'s refusals: ``origins`` below 1, more than 1 of a validation part of one row, or
            so many that an origin would leave no training rows (naming the most that leave some).
    """
    return [RowSplit(**rows) for rows in ltsf["origin_rows"](dataset, origins)]


def main(argv: list[str] | None = None) -> None:
    """Print the validation MSE of each map per horizon and origin, and with several origins their mean."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="etth1", choices=datasets.names())
    parser.add_argument("--lookback", type=int, default=720)
    parser.add_argument("--horizons", type=int, nargs="+", default=[96, 192, 336, 720])
    parser.add_argument("--origins", type=ltsf["count"], default=1)
    parser.add_argument("--ridge", type=float, default=1000.0, help="penalty on the squared weights (0: none)")
    args = parser.parse_args(argv)
    origins = splits(args.dataset, args.origins)  # refused before any table is printed
    print(f"{args.dataset}, lookback {args.lookback}, ridge {args.ridge:g}: validation MSE (scaled)")
    print(f"| H | validation from row | {' | '.join(NORMALIZATIONS)} |\n|---|---|{'---|' * len(NORMALIZATIONS)}")
    for horizon in args.horizons:
        scores = []
        for split in origins:
            data = TimeSeriesDataModule(args.dataset, args.lookback, horizon, split=split, nan_policy="ffill")
            data.setup("fit")
            scores.append([validation_mse(data, name, args.ridge) for name in NORMALIZATIONS])
            print(f"| {horizon} | {split.val_start} | {row(scores[-1])} |", flush=True)
        if len(scores) > 1:
            print(f"| {horizon} | mean | {row(np.mean(scores, axis=0))} |")


def row(scores: list[float]) -> str:
    """One table row's scores, one per map."""
    return " | ".join(f"{score:.4f}" for score in scores)


if __name__ == "__main__":
    ltsf["command"](main)
