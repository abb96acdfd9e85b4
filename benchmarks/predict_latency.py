"""Library prediction latency: 1,000 series x lookback 96 through the default GRU config, DataFrame to DataFrame.

Trains ``configs/etth1/gru.yaml`` for a few batches (accuracy is not the point), loads the checkpoint
with ``Forecaster.load``, and times ``predict`` on a long frame of 1,000 series (each the 96 last rows
of ETTh1's 7 channels, shifted so no two are alike). In the same run it times the network's forward
pass alone on the same windows, so the share spent outside it (pandas in and out, windowing,
scaling) is a ratio of two figures measured together. Medians of ``--repeats`` runs after a warm-up.

    python benchmarks/predict_latency.py
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from forecast import Forecaster, datasets  # noqa: E402
from forecast.cli import main as cli  # noqa: E402
from forecast.predict import history_module  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "etth1" / "gru.yaml"


def many_series(count: int, rows: int) -> pd.DataFrame:
    """``count`` series in long format, each ETTh1's last ``rows`` rows plus a per-series offset."""
    tail = datasets.load("etth1").tail(rows)
    offsets = np.random.default_rng(0).normal(size=(count, 1, tail.shape[1]))
    values = (tail.to_numpy()[None] + offsets).reshape(count * rows, -1)
    frame = pd.DataFrame(values, columns=tail.columns)
    frame.insert(0, "time", np.tile(tail.index.to_numpy(), count))
    frame.insert(0, "id", np.repeat([f"series{i:04d}" for i in range(count)], rows))
    return frame


def median_seconds(run, repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch_size", type=int, default=1024)
    args = parser.parse_args()
    for flag in ("series", "threads", "repeats", "batch_size"):
        if getattr(args, flag) < 1:  # refused before the fit, not after it
            parser.error(f"--{flag} {getattr(args, flag)}: give at least 1")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        quick = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "5", "--trainer.limit_val_batches", "2"]
        quick += ["--trainer.default_root_dir", root, "--trainer.enable_progress_bar", "false"]
        cli(["fit", "--config", str(CONFIG), *quick])
        model = Forecaster.load(next(Path(root).rglob("last.ckpt")))
    frame = many_series(args.series, model.hparams["lookback"])

    def predict() -> pd.DataFrame:
        return model.predict(frame, batch_size=args.batch_size)

    data = history_module(model.data_config, model.data_state, frame, args.batch_size)
    batches = list(data.predict_dataloader())

    def forward() -> None:
        with torch.inference_mode():
            for batch in batches:
                model(batch.past, batch.future, batch.static)

    total, network = median_seconds(predict, args.repeats), median_seconds(forward, args.repeats)
    rows = len(predict())
    print(f"\npredict: {args.series} series x lookback {model.hparams['lookback']}, configs/etth1/gru.yaml network, "
          f"{args.threads} threads, batch {args.batch_size}, median of {args.repeats}")  # fmt: skip
    print(f"end to end (DataFrame in, {rows:,} forecast rows out)  {total:8.3f} s   (target < 1 s)")
    print(f"network forward alone, same windows                {network:8.3f} s")
    print(f"share outside the forward pass                     {1 - network / total:8.1%}   (target < 30%)")


if __name__ == "__main__":
    main()
