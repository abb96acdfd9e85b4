"""Peak resident memory per process of a 2-process DDP fit: sharded (``data.shard: series``) against unsharded.

Part (a) of the scale benchmark (part (b), forecasting on Spark, is ``scale.py``). It writes
``--series`` hourly series of ``--steps`` rows (a target and a past covariate) to one Parquet file,
then runs the same short fit (a tiny GRU, a few batches: the data, not the network, is measured)
under ``torch.distributed.run`` with 2 CPU processes, once with every process reading all series
and once sharded. Each process reports its peak resident memory (``ru_maxrss``), the bytes of its
window buffer and its series.

    python benchmarks/scale_fit.py                                # 2,000 series x 1,000 steps
    python benchmarks/scale_fit.py --series 10000 --steps 1000    # the size of issue 19
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from forecast import Columns, TimeSeriesDataModule  # noqa: E402
from forecast.errors import ForecastDataError  # noqa: E402


def series_frame(series: int, steps: int) -> pd.DataFrame:
    """``series`` hourly series of ``steps`` rows in the long layout."""
    rng = np.random.default_rng(0)
    rows = series * steps
    return pd.DataFrame(
        {
            "id": np.repeat([f"s{i:06d}" for i in range(series)], steps),
            "time": np.tile(pd.date_range("2024-01-01", periods=steps, freq="h").to_numpy(), series),
            "y": (np.repeat(rng.normal(0, 5, series), steps) + rng.standard_normal(rows)).astype(np.float32),
            "load": rng.normal(3, 1, rows).astype(np.float32),
        }
    )


def write_series(path: Path, series: int, steps: int) -> None:
    """``series_frame`` as Parquet."""
    series_frame(series, steps).to_parquet(path, index=False)


def data_module(source: str | pd.DataFrame, shard: str = "none") -> TimeSeriesDataModule:
    """The fit's data module: ``y`` the target, ``load`` a past covariate; lookback 48, horizon 24, default split."""
    columns = Columns(targets=["y"], past_covariates=["load"])
    return TimeSeriesDataModule(source, 48, 24, columns=columns, shard=shard, batch_size=256)


def run_quietly(command: list[str], env: dict[str, str]) -> None:
    """Run ``command`` with its output captured; if it fails, raise with the end of its stderr, which says why."""
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")


def worker(shard: str, source: str, output: str) -> None:
    """One DDP process: a short fit on ``shard``, then its peak memory and what it held, as JSON."""
    import functools

    import lightning as L
    import torch

    from forecast import Forecaster
    from forecast.nn import GRUEncoder

    torch.set_num_threads(1)
    start = time.perf_counter()
    data = data_module(source, shard)
    model = Forecaster(
        data.lookback, data.horizon, input_size=2, target_size=1, encoder=functools.partial(GRUEncoder, hidden_size=8)
    )
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp", max_epochs=1, limit_train_batches=5, limit_val_batches=5,
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, data)
    facts = {
        "shard": shard,
        "rank": trainer.global_rank,
        "series": len(data.series_names),
        "buffer_mib": data.buffer.values.numel() * 4 / 2**20,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "seconds": time.perf_counter() - start,
    }
    Path(output, f"{shard}-{trainer.global_rank}.json").write_text(json.dumps(facts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=2000, help="series in the data")
    parser.add_argument("--steps", type=int, default=1000, help="rows per series")
    parser.add_argument("--worker", nargs=3, metavar=("SHARD", "SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if args.series < 2 or args.steps < 1:  # refused here, not by the sharded fit after the unsharded one
        parser.error(f"--series {args.series} --steps {args.steps}: the sharded fit gives each of its 2 processes "
                     "a series; give at least 2 series and 1 step")  # fmt: skip
    try:  # here, not in the fit's processes after their launch
        data_module(series_frame(1, args.steps)).setup("fit")
    except ForecastDataError as error:
        parser.error(f"--steps {args.steps}: too few for the fit's windows ({error})")
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder, "series.parquet")
        write_series(source, args.series, args.steps)
        print(f"{args.series:,} series x {args.steps:,} steps ({args.series * args.steps:,} rows), 2 CPU processes")
        results = []
        for shard in ("none", "series"):
            command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone",
                       __file__, "--worker", shard, str(source), folder]  # fmt: skip
            run_quietly(command, os.environ | {"OMP_NUM_THREADS": "1"})
            results += [json.loads(Path(folder, f"{shard}-{rank}.json").read_text()) for rank in range(2)]
    print(f"{'shard':>7} {'rank':>4} {'series':>7} {'buffer MiB':>10} {'peak MiB':>9} {'seconds':>8}")
    for row in results:
        print(f"{row['shard']:>7} {row['rank']:>4} {row['series']:>7,} {row['buffer_mib']:>10.1f} "
              f"{row['peak_mib']:>9.0f} {row['seconds']:>8.1f}")  # fmt: skip
    peak = {shard: max(row["peak_mib"] for row in results if row["shard"] == shard) for shard in ("none", "series")}
    buffer = {shard: max(row["buffer_mib"] for row in results if row["shard"] == shard) for shard in ("none", "series")}
    print(f"sharded/unsharded per process: peak memory x{peak['series'] / peak['none']:.2f}, "
          f"buffer x{buffer['series'] / buffer['none']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
