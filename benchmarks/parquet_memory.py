"""Memory of a long Parquet data set read by TimeSeriesDataModule, against pandas reading the whole file.

    python benchmarks/parquet_memory.py                       # 10,000 series x 1,000 steps (about a minute)
    python benchmarks/parquet_memory.py --series 2000 --steps 500

The file holds, per row, an id, a time, a target ``y``, a past covariate ``x`` and four columns the model
does not use. Each case runs in a process of its own, and reports what it adds to the process's
resident memory after the imports: at its peak, and still held when set up (the data module keeps its
series table and the scaled float32 buffer; the pandas frame is gone by then).

1. ``pd.read_parquet(path)``: the whole file in one frame, what one would hold without the data module;
2. the data module with ``targets``/``past_covariates`` named: only the id, time, y and x columns are read;
3. the same with ``series`` naming a tenth of the series: pyarrow reads only their rows.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
UNUSED = ["u1", "u2", "u3", "u4"]


def write_file(path: Path, num_series: int, steps: int) -> None:
    rng = np.random.default_rng(0)
    rows = num_series * steps
    starts = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 24 * 365, num_series), unit="h")
    times = np.repeat(starts.to_numpy(), steps) + np.tile(np.arange(steps) * np.timedelta64(1, "h"), num_series)
    columns = {"id": np.repeat(np.arange(num_series), steps), "time": times}
    columns |= {name: rng.standard_normal(rows) for name in ["y", "x", *UNUSED]}
    pd.DataFrame(columns).to_parquet(path, row_group_size=100_000)


def resident(key: str) -> int:
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(key))
    return int(line.split()[1]) * 1024


def child(case: str, path: str, num_series: int) -> None:
    import torch  # noqa: F401  the imports a training process has, before the baseline

    from forecast import TimeSeriesDataModule

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current resident size
    before = resident("VmRSS:")
    if case == "pandas":
        held = pd.read_parquet(path)
    else:
        series = [str(i) for i in range(0, num_series, 10)] if case == "series" else None
        held = TimeSeriesDataModule(path, 96, 24, targets=["y"], past_covariates=["x"], series=series)
        held.setup("fit")
        held.dataset("train")
    print(json.dumps({"peak": resident("VmHWM:") - before, "held": resident("VmRSS:") - before}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    rows, mib = args.series * args.steps, 2**20
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "long.parquet"
        write_file(path, args.series, args.steps)
        size = path.stat().st_size
        shape = f"{args.series:,} series x {args.steps:,} steps = {rows:,} rows, 8 columns"
        print(f"{shape}; Parquet file {size / mib:.0f} MiB")
        print(f"{'case':<48}{'peak MiB':>10}{'held MiB':>10}{'held B/row':>12}")
        cases = {
            "pandas": "pd.read_parquet, whole file",
            "columns": "data module, role columns",
            "series": "data module, role columns, 10% of series",
        }
        for case, label in cases.items():
            command = [sys.executable, __file__, "--child", case, str(path), str(args.series)]
            output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
            result = json.loads(output.strip().splitlines()[-1])
            read_rows = rows // 10 if case == "series" else rows
            peak, held = result["peak"] / mib, result["held"] / mib
            print(f"{label:<48}{peak:>10.0f}{held:>10.0f}{result['held'] / read_rows:>12.1f}")


if __name__ == "__main__":
    main()
