"""Memory of a long Parquet data set read by TimeSeriesDataModule, against pandas reading the same columns.

    python benchmarks/parquet_memory.py                       # 10,000 series x 1,000 steps (about a minute)
    python benchmarks/parquet_memory.py --series 2000 --steps 500

The file holds, per row, an id, a time, a target ``y``, a past covariate ``x`` and four columns the model
does not use. Each case runs in a process of its own, and reports what it adds to the process's
resident memory after the imports: at its peak, and still held when set up (the data module keeps its
series table and the scaled float32 buffer; the pandas frame is gone by then).

1. ``pd.read_parquet(path, columns=[id, time, y, x])``: the columns the model uses, the fair reference;
2. ``pd.read_parquet(path)``: the whole file in one frame, what a naive reader holds;
3. the data module with ``columns.targets``/``past_covariates`` named: it reads only the id, time, y and x columns;
4. ``pd.read_parquet`` of those columns with a row filter keeping a tenth of the series, the reference of 5.;
5. the data module with ``series`` naming that tenth: pyarrow reads only their rows.

The last columns divide a case's peak and held memory by those of its reference (1. for 2. and 3.).
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads OpenMP: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
UNUSED = ["u1", "u2", "u3", "u4"]
USED = ["id", "time", "y", "x"]
# case: (label, the case it is compared with); every reference runs before the cases compared with it
CASES = {
    "pandas_columns": ("pd.read_parquet, the 4 used columns", None),
    "pandas": ("pd.read_parquet, whole file", "pandas_columns"),
    "module": ("data module, role columns", "pandas_columns"),
    "pandas_series": ("pd.read_parquet, 4 columns, 10% of series", None),
    "module_series": ("data module, role columns, 10% of series", "pandas_series"),
}


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

    from forecast import Columns, TimeSeriesDataModule

    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current resident size
    before = resident("VmRSS:")
    tenth = list(range(0, num_series, 10))
    if case == "pandas":
        held = pd.read_parquet(path)
    elif case == "pandas_columns":
        held = pd.read_parquet(path, columns=USED)
    elif case == "pandas_series":
        held = pd.read_parquet(path, columns=USED, filters=[("id", "in", tenth)])
    else:
        series = [str(i) for i in tenth] if case == "module_series" else None
        held = TimeSeriesDataModule(path, 96, 24, columns=Columns(targets=["y"], past_covariates=["x"]), series=series)
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
    if args.series < 1 or args.steps < 1:
        parser.error(f"--series {args.series} --steps {args.steps}: give at least 1 of each")
    rows, mib = args.series * args.steps, 2**20
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "long.parquet"
        write_file(path, args.series, args.steps)
        size = path.stat().st_size
        shape = f"{args.series:,} series x {args.steps:,} steps = {rows:,} rows, 8 columns"
        print(f"{shape}; Parquet file {size / mib:.0f} MiB")
        header = f"{'case':<44}{'peak MiB':>10}{'held MiB':>10}{'held B/row':>12}"
        print(f"{header}{'peak / ref':>12}{'held / ref':>12}")
        results = {}
        for case, (label, reference) in CASES.items():
            command = [sys.executable, __file__, "--child", case, str(path), str(args.series)]
            # stderr not captured: a failing case shows its error, not only its exit status
            output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
            result = results[case] = json.loads(output.strip().splitlines()[-1])
            read_rows = len(range(0, args.series, 10)) * args.steps if case.endswith("series") else rows
            row = f"{label:<44}{result['peak'] / mib:>10.0f}{result['held'] / mib:>10.0f}"
            row += f"{result['held'] / read_rows:>12.1f}"
            if reference:
                row += "".join(f"{result[key] / results[reference][key]:>12.2f}" for key in ("peak", "held"))
            print(row)


if __name__ == "__main__":
    main()
