"""Data loading speed and memory of TimeSeriesDataModule, against references measured in the same run.

    python benchmarks/data_throughput.py            # everything (about a minute on 2 cores)
    python benchmarks/data_throughput.py --repeats 3

1. Windows per second of a full shuffled training epoch of ETTh1 (L=96, H=96, batch 256, 7 channels)
   through the DataLoader, against (a) a per-window ``__getitem__`` + ``default_collate`` over the
   same array and (b) the memory-copy bound: the same bytes copied batch by batch, one copy per batch
   on one thread (as the loader's gather runs) into a buffer that the next batch reuses.
2. ETTh1 setup time: read, check, split, fit the scaler, build the buffer and the training windows.
3. A synthetic long frame of 10,000 series x 1,000 steps (a target and a past covariate), in a
   subprocess of its own so that its peak RSS is its own: setup time, and the peak RSS that setup
   adds to the process (which already holds the frame), against the raw float32 size of the values.
4. The share of data loading in one training step of ``configs/etth1/gru.yaml``'s model.

The times of 1. and 2. are medians of ``--repeats`` runs after a warm-up, those of 4. of ten times as
many batch loads (at least 20) and twice as many steps; 3. is one run. The loaders of 1. are timed in
turns so that they share the machine's noise. The machine is shared: compare the ratios, not the figures.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch: benchmarks/README.md's thread trap

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

from forecast.data import Columns, ETTSplit, TimeSeriesDataModule  # noqa: E402
from forecast.errors import ForecastDataError  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOOKBACK, HORIZON, BATCH = 96, 96, 256


def median_time(function, repeats: int) -> float:
    """Median seconds of ``function()`` over ``repeats`` runs, after one warm-up run."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class PerWindowDataset(Dataset):
    """The straightforward reference: one window per ``__getitem__``, as slices of the same array."""

    def __init__(self, values: torch.Tensor, starts: torch.Tensor, target_size: int):
        self.values, self.starts, self.target_size = values, starts.tolist(), target_size

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        start = self.starts[index]
        past = self.values[start : start + LOOKBACK]
        target = self.values[start + LOOKBACK : start + LOOKBACK + HORIZON, : self.target_size]
        return past, target


def epoch(loader: DataLoader) -> int:
    return sum(len(batch) if not isinstance(batch, list) else len(batch[0]) for batch in loader)


def gather_all(dataset, batches: list[torch.Tensor]) -> None:
    for batch in batches:
        dataset.__getitems__(batch)


def throughput(repeats: int) -> list[tuple[str, float]]:
    """Windows per second of one shuffled training epoch of ETTh1, ours and the references."""
    data = TimeSeriesDataModule("etth1", LOOKBACK, HORIZON, split=ETTSplit(), batch_size=BATCH)
    data.setup("fit")
    train = data.dataset("train")
    windows = len(train)
    series, time_ = train.locate(np.arange(windows))
    starts = torch.from_numpy(train.series_rows[series] + time_ - LOOKBACK)
    ours = data.train_dataloader()
    per_window = DataLoader(PerWindowDataset(train.values, starts, data.target_size), BATCH, shuffle=True)
    assert epoch(ours) == epoch(per_window) == windows
    batches = torch.randperm(windows).split(BATCH)
    window_floats = LOOKBACK * data.input_size + HORIZON * data.target_size
    contenders = {
        "TimeSeriesDataModule DataLoader": lambda: epoch(ours),
        "(a) per-window __getitem__ + default_collate": lambda: epoch(per_window),
        "(b) memory-copy bound (a copy per batch)": batch_copies(windows, window_floats, BATCH),
        "__getitems__ outside a DataLoader": lambda: gather_all(train, batches),
    }
    seconds = interleaved(contenders, repeats)
    return [(name, windows / seconds[name]) for name in contenders]


def batch_copies(windows: int, window_floats: int, batch: int) -> Callable[[], None]:
    """The memory-copy bound of an epoch of ``windows`` windows of ``window_floats`` floats in batches of ``batch``.

    Each batch's floats are copied in one numpy copy (one thread, as the loader's gather runs) into a buffer that
    the next batch reuses, as the allocator reuses a loader's batch once it is freed. One copy of the whole
    epoch's bytes is no bound: it streams them through main memory, while the loader writes batch after batch
    into the same memory, in cache, and outran that copy (1.56x it in one run on 2 shared cores).
    """
    rng = np.random.default_rng(0)
    source = rng.standard_normal(batch * window_floats, dtype=np.float32)
    destination = np.empty_like(source)
    sizes = [min(batch, windows - start) * window_floats for start in range(0, windows, batch)]

    def copy() -> None:
        for size in sizes:
            np.copyto(destination[:size], source[:size])

    return copy


def interleaved(functions: dict, repeats: int) -> dict[str, float]:
    """Median seconds of each function, timed in turns so that they share the machine's noise."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for round_ in range(repeats + 1):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            if round_:  # the first round warms up
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def setup_seconds(repeats: int) -> float:
    def build():
        data = TimeSeriesDataModule("etth1", LOOKBACK, HORIZON, split=ETTSplit())
        data.setup("fit")
        data.dataset("train")

    return median_time(build, repeats)


def long_frame(num_series: int, steps: int) -> pd.DataFrame:
    """``num_series`` hourly series of ``steps`` rows with staggered starts, in long format."""
    rng = np.random.default_rng(0)
    rows = num_series * steps
    starts = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 24 * 365, num_series), unit="h")
    times = np.repeat(starts.to_numpy(), steps) + np.tile(np.arange(steps) * np.timedelta64(1, "h"), num_series)
    level = np.repeat(rng.normal(0, 10, num_series), steps)
    return pd.DataFrame(
        {
            "id": np.repeat(np.arange(num_series), steps),
            "time": times,
            "y": level + rng.standard_normal(rows),
            "x": rng.standard_normal(rows),
        }
    )


def long_module(frame: pd.DataFrame) -> TimeSeriesDataModule:
    """The data module of a ``long_frame``: ``y`` the target, ``x`` a past covariate, the default split."""
    columns = Columns(targets=["y"], past_covariates=["x"])
    return TimeSeriesDataModule(frame, LOOKBACK, HORIZON, columns=columns, batch_size=BATCH)


def memory_child(num_series: int, steps: int) -> None:
    """Run in a subprocess: build the frame, then time setup and measure the peak RSS it adds."""

    def status(key: str) -> int:
        line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(key))
        return int(line.split()[1]) * 1024

    frame = long_frame(num_series, steps)
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak RSS to the current RSS
    before = status("VmRSS:")
    start = time.perf_counter()
    data = long_module(frame)
    data.setup("fit")
    train = data.dataset("train")
    seconds = time.perf_counter() - start
    peak = status("VmHWM:")  # before the gather below, whose index and batches are not setup's
    index = torch.randperm(len(train))[: 200 * BATCH].split(BATCH)
    gather = time.perf_counter()
    for batch in index:
        train.__getitems__(batch)
    rate = len(index) * BATCH / (time.perf_counter() - gather)
    result = dict(
        seconds=seconds,
        before=before,
        peak=peak,
        raw=num_series * steps * 2 * 4,
        frame=int(frame.memory_usage(deep=True).sum()),
        windows=len(train),
        rate=rate,
    )
    print(json.dumps(result))


def memory(num_series: int, steps: int) -> dict:
    command = [sys.executable, __file__, "--memory-child", str(num_series), str(steps)]
    # stderr not captured: a failing child shows its error, not only its exit status
    output = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True, cwd=ROOT).stdout
    return json.loads(output.strip().splitlines()[-1])


def endless(data: TimeSeriesDataModule) -> Iterator:
    """Training batches epoch after epoch, so that ``next`` never runs out however many loads are timed."""
    while True:
        yield from data.train_dataloader()


def step_share(repeats: int) -> tuple[float, float]:
    """Seconds to load a batch, and seconds of one training step, of configs/etth1/gru.yaml."""
    from forecast.cli import ForecastCLI
    from forecast.model import Forecaster

    args = ["--config", str(ROOT / "configs/etth1/gru.yaml"), "--trainer.logger", "false"]
    sys.argv = sys.argv[:1]  # the CLI reads args only
    cli = ForecastCLI(Forecaster, TimeSeriesDataModule, args=args, run=False, auto_configure_optimizers=False)
    model, data = cli.model, cli.datamodule
    data.setup("fit")
    optimizer = model.configure_optimizers()
    optimizer = optimizer["optimizer"] if isinstance(optimizer, dict) else optimizer
    loader = endless(data)
    batch = next(loader)

    def train_step():
        optimizer.zero_grad()
        model.training_step(batch, 0).backward()
        optimizer.step()

    load = median_time(lambda: next(loader), max(repeats * 10, 20))
    return load, median_time(train_step, repeats * 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=1_000)
    parser.add_argument("--memory-child", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: give at least 1, the runs timed after the warm-up")
    if args.series < 1 or args.steps < 1:
        parser.error(f"--series {args.series} --steps {args.steps}: give at least 1 of each")
    torch.set_num_threads(2)
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    try:  # here, not in the long frame's process after the epochs and the setups
        long_module(long_frame(1, args.steps)).setup("fit")
    except ForecastDataError as error:
        parser.error(f"--steps {args.steps}: too few for the long frame's windows ({error})")
    threads, cpus = torch.get_num_threads(), os.cpu_count()
    print(f"torch {torch.__version__}, {threads} threads, {cpus} CPUs; medians of {args.repeats} runs")
    print(f"\nETTh1 training epoch, L={LOOKBACK} H={HORIZON}, batch {BATCH}, shuffled")
    rates = throughput(args.repeats)
    ours = rates[0][1]
    print(f"{'loader':<48}{'windows/s':>12}{'ours / this':>13}")
    for name, rate in rates:
        print(f"{name:<48}{rate:>12,.0f}{ours / rate:>13.2f}")
    print(
        f"ours vs (a): {ours / rates[1][1]:.1f}x (target >= 5x); ours vs (b): {ours / rates[2][1]:.0%} (target >= 40%)"
    )
    print(f"\nETTh1 setup (read, check, split, fit scaler, buffer, windows): {setup_seconds(args.repeats):.3f} s")
    result = memory(args.series, args.steps)
    print(f"\nlong frame, {args.series:,} series x {args.steps:,} steps (target + past covariate), own process")
    windows, rate = result["windows"], result["rate"]
    print(f"setup: {result['seconds']:.2f} s, {windows:,} training windows, gather {rate:,.0f} windows/s")
    mib = 2**20
    added = result["peak"] - result["before"]
    print(
        f"raw float32 values {result['raw'] / mib:.0f} MiB; the frame itself {result['frame'] / mib:.0f} MiB; "
        f"RSS before setup {result['before'] / mib:.0f} MiB, peak {result['peak'] / mib:.0f} MiB"
    )
    print(f"peak RSS added by setup: {added / mib:.0f} MiB = {added / result['raw']:.2f}x raw (target <= 3x)")
    load, step = step_share(args.repeats)
    print(f"\nconfigs/etth1/gru.yaml, one training step: load {load * 1e3:.2f} ms, step {step * 1e3:.1f} ms")
    print(f"data loading share: {load / (load + step):.1%} (target < 5%)")


if __name__ == "__main__":
    main()
