"""Forecasting many series: Spark ``local[2]`` against one-process ``Forecaster.predict``, by series count.

Part (b) of the scale benchmark. For each count it writes hourly series of 24 to 60 observed rows
(plus the 6 rows of the horizon that hold the future covariate) to Parquet, in the format of the
frozen checkpoint ``tests/data/frozen_v0.1.0.ckpt`` (a quantile GRU, hidden size 8: the network is
small, so the figures are mostly the data handling around it). Each engine then runs in a fresh
process: Parquet in -> forecasts -> Parquet out, timed after a warm-up on 20 series (the Spark
session, the Python workers' imports and the checkpoint's loading are reported apart, as
"startup"). Peak memory is the largest sum of resident memory over the process and all its
descendants (the JVM and the Python workers for Spark), sampled every 50 ms.

    python benchmarks/scale.py                          # 1,000 and 10,000 series (about 2 minutes)
    python benchmarks/scale.py --series 10000 100000    # the sizes of issue 19
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parents[1] / "tests" / "data" / "frozen_v0.1.0.ckpt"
LOOKBACK, HORIZON = 24, 6
WARM_UP = 20  # series of the untimed first run


def history(count: int, seed: int = 0) -> pd.DataFrame:
    """``count`` series from different start times with the frozen checkpoint's columns."""
    rng = np.random.default_rng(seed)
    observed = rng.integers(LOOKBACK, 61, count)
    lengths = observed + HORIZON
    step = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # row within its series
    starts = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 2000, count), unit="h")
    future = step >= np.repeat(observed, lengths)
    y = np.repeat(rng.normal(0, 5, count), lengths) + np.sin(step / 4) + 0.1 * rng.standard_normal(len(step))
    return pd.DataFrame(
        {
            "id": np.repeat([f"s{i:07d}" for i in range(count)], lengths),
            "time": np.repeat(starts.to_numpy(), lengths) + step * np.timedelta64(1, "h"),
            "y": np.where(future, np.nan, y),
            "load": np.where(future, np.nan, rng.normal(3, 1, len(step))),
            "price": 50 + 5 * np.cos(step / 5) + rng.standard_normal(len(step)),
        }
    )


def run_local(source: str, warm_up: str, output: str, threads: int) -> dict:
    """One process: ``pd.read_parquet`` -> ``Forecaster.predict`` -> ``to_parquet``."""
    import torch

    from forecast.partition import load_cached

    start = time.perf_counter()
    torch.set_num_threads(threads)
    model = load_cached(CHECKPOINT)
    model.predict(pd.read_parquet(warm_up))
    startup = time.perf_counter() - start
    start = time.perf_counter()
    model.predict(pd.read_parquet(source)).to_parquet(output)
    return {"startup": startup, "seconds": time.perf_counter() - start}


def run_spark(source: str, warm_up: str, output: str, partitions: int) -> dict:
    """Spark ``local[2]``: ``read.parquet`` -> ``forecast.spark.predict`` -> ``write.parquet``."""
    from pyspark.sql import SparkSession

    from forecast import spark

    start = time.perf_counter()
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.log.level", "ERROR")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.pyspark.python", sys.executable)
        .getOrCreate()
    )

    def forecast(path: str, target: str) -> None:
        history = session.read.parquet(path)
        spark.predict(history, CHECKPOINT, num_partitions=partitions).write.mode("overwrite").parquet(target)

    forecast(warm_up, output)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    forecast(source, output)
    seconds = time.perf_counter() - start
    session.stop()
    return {"startup": startup, "seconds": seconds}


def tree_rss(root: int) -> int:
    """Bytes resident in process ``root`` and all its descendants (Linux ``/proc``)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (ValueError, OSError, IndexError):
            continue  # not a process, or it ended while we looked
        children.setdefault(parent, []).append(int(entry.name))
    total, pending = 0, [root]
    while pending:
        pid = pending.pop()
        pending += children.get(pid, [])
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            continue
    return total


def measure(engine: str, source: str, warm_up: str, args: argparse.Namespace) -> dict:
    """Run ``engine`` in a fresh process on ``source``; its timings and peak memory of its process tree."""
    with tempfile.TemporaryDirectory() as scratch:
        command = [sys.executable, __file__, "--run", engine, source, warm_up, str(Path(scratch) / "out")]
        command += ["--threads", str(args.threads), "--partitions", str(args.partitions)]
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = [0]

        def sample() -> None:
            while process.poll() is None:
                peak[0] = max(peak[0], tree_rss(process.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        stdout, stderr = process.communicate()
        sampler.join()
    if process.returncode:
        # its input files are gone by now, so the end of its stderr is what says why
        raise RuntimeError(f"{engine} failed (exit {process.returncode}):\n{stderr[-4000:]}")
    return json.loads(stdout.strip().splitlines()[-1]) | {"peak": peak[0]}


def report(results: dict[tuple[int, str], dict]) -> None:
    """The table, then Spark's ratios to one process and each engine's time per series against the smallest count."""
    header = ("series", "engine", "startup s", "seconds", "series/s", "us/series", "peak MiB")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (8, 7, 10, 8, 9, 10, 9), strict=True)))
    for (count, engine), result in sorted(results.items()):
        rate, per_series = count / result["seconds"], 1e6 * result["seconds"] / count
        print(f"{count:>8,} {engine:>7} {result['startup']:>10.1f} {result['seconds']:>8.2f} {rate:>9,.0f} "
              f"{per_series:>10.1f} {result['peak'] / 2**20:>9,.0f}")  # fmt: skip
    counts = sorted({count for count, _ in results})
    for count in counts:
        spark, local = results[count, "spark"], results[count, "local"]
        print(f"{count:,} series: Spark/one process  series/s x{local['seconds'] / spark['seconds']:.2f}, "
              f"peak memory x{spark['peak'] / local['peak']:.2f}")  # fmt: skip
    for engine in ("local", "spark"):
        first = results[counts[0], engine]["seconds"] / counts[0]
        growth = ", ".join(f"{count:,}: x{results[count, engine]['seconds'] / count / first:.2f}" for count in counts)
        print(f"{engine} time per series against {counts[0]:,} series: {growth}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, nargs="+", default=[1000, 10000], help="series counts to run")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the one-process predict")
    parser.add_argument("--partitions", type=int, default=4, help="Spark partitions of the series")
    parser.add_argument("--run", nargs=4, metavar=("ENGINE", "SOURCE", "WARM_UP", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    for flag, value in (("--series", min(args.series)), ("--threads", args.threads), ("--partitions", args.partitions)):
        if value < 1:  # refused here, not as a child's failure after the Spark session's startup
            parser.error(f"{flag} {value}: give at least 1")
    if args.run:  # the child process of measure()
        engine, source, warm_up, output = args.run
        if engine == "local":
            result = run_local(source, warm_up, output, args.threads)
        else:
            result = run_spark(source, warm_up, output, args.partitions)
        print(json.dumps(result))
        return
    results = {}
    with tempfile.TemporaryDirectory() as root:
        warm_up = str(Path(root) / "warm_up.parquet")
        history(WARM_UP, seed=1).to_parquet(warm_up)
        for count in args.series:
            source = str(Path(root) / f"history_{count}.parquet")
            history(count).to_parquet(source)
            for engine in ("local", "spark"):
                results[count, engine] = measure(engine, source, warm_up, args)
    print(f"\nfrozen_v0.1.0 checkpoint (quantile GRU, hidden 8, lookback {LOOKBACK}, horizon {HORIZON}); "
          f"one process: {args.threads} torch threads; Spark local[2]: {args.partitions} partitions, "
          f"1 thread per Python worker")  # fmt: skip
    report(results)


if __name__ == "__main__":
    main()
