"""ETTh1 accuracy table: fit each config on the training split, test its best-validation checkpoint.

The protocol of benchmarks/README.md (lookback 96, ETT borders, StandardScaler on the training rows, MSE/MAE on
the standardized scale over every test window). Each run is a `fit` then a `test --ckpt_path best`
through the real CLI, so the figures are what a user gets from the configs.

    python benchmarks/etth1_table.py                                  # the default runs below
    python benchmarks/etth1_table.py --runs segrnn_sru:96 segrnn_sru:192 gru:96
    python benchmarks/etth1_table.py --runs segrnn_sru:24:OT          # univariate OT, horizon 24
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from forecast.cli import main as cli  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "etth1"
DEFAULT_RUNS = ["segrnn_gru:96", "segrnn_sru:96", "segrnn_gru:192", "segrnn_sru:192"]


def run(spec: str, root: Path, seed: int) -> dict:
    """Fit and test one ``config:horizon[:target]``; returns its test metrics and times."""
    name, horizon, *target = spec.split(":")
    args = ["--config", str(CONFIGS / f"{name}.yaml"), "--data.horizon", horizon, "--seed_everything", str(seed)]
    args += ["--trainer.default_root_dir", str(root / spec.replace(":", "-")), "--trainer.enable_progress_bar", "false"]
    if target:
        args += ["--data.targets", f"[{target[0]}]"]
    if "SegmentHead" in (CONFIGS / f"{name}.yaml").read_text():  # its 48-step output segments must divide H
        args += ["--model.head.init_args.seg_len", str(math.gcd(int(horizon), 48))]
    start = time.perf_counter()
    fit = cli(["fit", *args])
    fit_seconds = time.perf_counter() - start
    scores = cli(["test", *args, "--ckpt_path", "best"]).trainer.callback_metrics
    return {
        "run": spec,
        "epochs": fit.trainer.current_epoch,
        "fit_s": fit_seconds,
        **{key: float(value) for key, value in scores.items() if key.startswith("test/")},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=DEFAULT_RUNS, help="config:horizon[:target]")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--root", default="runs/etth1-table")
    args = parser.parse_args()
    rows = [run(spec, Path(args.root), args.seed) for spec in args.runs]
    print(f"\nETTh1, lookback 96, seed {args.seed}, test on the best-validation checkpoint, standardized scale")
    print(f"{'run':<22}{'MSE':>8}{'MAE':>8}{'coverage':>10}{'epochs':>8}{'fit s':>8}")
    for row in rows:
        coverage = f"{row['test/coverage']:.3f}" if "test/coverage" in row else "-"
        print(f"{row['run']:<22}{row['test/mse']:>8.4f}{row['test/mae']:>8.4f}{coverage:>10}{row['epochs']:>8}"
              f"{row['fit_s']:>8.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
