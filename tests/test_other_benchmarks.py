"""The scale, data, decoder, predict and Parquet benchmarks in a small form: what they measure, and that
they refuse bad arguments before any long run."""

import json
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from forecast.data.windows import WindowDataset

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(script: str) -> dict:
    return runpy.run_path(str(BENCHMARKS / f"{script}.py"), run_name=script)


@pytest.mark.parametrize(
    ("script", "argv", "named", "work"),
    [
        ("decoder", ["--repeats", "0"], "--repeats 0", "Encoder"),
        ("decoder", ["--horizons", "96", "0"], "--horizons 0", "Encoder"),
        ("decoder", ["--hidden", "1"], "--hidden 1", "Encoder"),
        ("data_throughput", ["--repeats", "0"], "--repeats 0", "throughput"),
        ("data_throughput", ["--steps", "400"], "--steps 400", "throughput"),
        ("predict_latency", ["--repeats", "0"], "--repeats 0", "cli"),
        ("predict_latency", ["--series", "0"], "--series 0", "cli"),
        ("scale", ["--series", "10", "0"], "--series 0", "measure"),
        ("scale", ["--partitions", "0"], "--partitions 0", "measure"),
        ("scale_fit", ["--series", "1"], "--series 1", "write_series"),
        ("parquet_memory", ["--steps", "0"], "--steps 0", "write_file"),
    ],
)  # fmt: skip
def test_benchmarks_refuse_bad_arguments_before_any_work(monkeypatch, capsys, script, argv, named, work):
    """A count too small failed only after the warm-up, the fit or a first run (the median of no runs, an
    empty tensor, a child process's exit status): now argparse refuses it first, naming the flag."""
    namespace = _load(script)

    def worked(*args, **kwargs):
        raise AssertionError(f"{script}.py started its work with {argv}")

    monkeypatch.setitem(
        namespace["main"].__globals__, work, SimpleNamespace(broadcast_step=worked) if work == "Encoder" else worked
    )
    monkeypatch.setattr(sys, "argv", [f"{script}.py", *argv])
    with pytest.raises(SystemExit) as exit_:
        namespace["main"]()
    assert exit_.value.code == 2
    assert named in capsys.readouterr().err


class _FakeProc:
    """``/proc/self/status`` with a peak that the test raises, and a ``clear_refs`` that does nothing."""

    peak_kib = 1000

    def __init__(self, path: str):
        self.path = path

    def read_text(self) -> str:
        return f"VmRSS:\t 400 kB\nVmHWM:\t {_FakeProc.peak_kib} kB\n"

    def write_text(self, text: str) -> None:
        pass


def test_data_throughput_long_frame_peak_is_setups_not_the_gather_after_it(monkeypatch, capsys):
    """The docstring's figure is the peak RSS that setup adds: the gather timed after setup (its index of
    every training window, its batches) must not raise it."""
    throughput = _load("data_throughput")
    monkeypatch.setitem(throughput["memory_child"].__globals__, "Path", _FakeProc)
    monkeypatch.setattr(_FakeProc, "peak_kib", 1000)
    gather = WindowDataset.__getitems__

    def gather_and_grow(self, index):
        _FakeProc.peak_kib += 10**6  # a gather that allocates a gigabyte more
        return gather(self, index)

    monkeypatch.setattr(WindowDataset, "__getitems__", gather_and_grow)
    throughput["memory_child"](2, 2000)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["windows"] > 0 and result["rate"] > 0
    assert (result["before"], result["peak"]) == (400 * 1024, 1000 * 1024)


def test_parquet_memory_bytes_per_row_count_the_rows_of_the_series_read(monkeypatch, capsys):
    """Every tenth series of 15 is 2 series, 2 x 4 = 8 rows, not 15 x 4 // 10 = 6."""
    memory = _load("parquet_memory")

    def child(command, **kwargs):
        return SimpleNamespace(stdout=json.dumps({"peak": 800, "held": 800}))

    monkeypatch.setattr(subprocess, "run", child)
    monkeypatch.setattr(sys, "argv", ["parquet_memory.py", "--series", "15", "--steps", "4"])
    memory["main"]()
    rows = {line[:44].strip(): line[44:].split() for line in capsys.readouterr().out.splitlines()}
    assert rows["pd.read_parquet, the 4 used columns"][2] == "13.3"  # 800 bytes / 60 rows
    assert rows["pd.read_parquet, 4 columns, 10% of series"][2] == "100.0"  # 800 bytes / 8 rows
    assert rows["data module, role columns, 10% of series"][2:] == ["100.0", "1.00", "1.00"]


def test_scale_benchmark_failure_says_why(monkeypatch):
    """The engine's process ran with its stderr discarded, and the advice to rerun its command named input
    files that were deleted with their temporary folder: the reason must come with the error."""
    scale = _load("scale")
    popen = subprocess.Popen

    def failing(command, **kwargs):
        return popen(
            [sys.executable, "-c", "import sys; sys.exit('ForecastDataError: series s0000003 too short')"], **kwargs
        )

    monkeypatch.setattr(subprocess, "Popen", failing)
    arguments = SimpleNamespace(threads=1, partitions=1)
    with pytest.raises(RuntimeError, match=r"local failed \(exit 1\):\nForecastDataError: series s0000003 too short"):
        scale["measure"]("local", "history.parquet", "warm_up.parquet", arguments)
