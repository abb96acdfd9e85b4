"""``data.shard: series`` deals the series out by the training windows that training keeps (those with an observed
target; ``nan_policy`` repairs the rest), so that every process has some to train on where enough series have them.

Each process of a deal is a thread here: ``world`` gives each its rank, and ``gather_objects`` hands every thread the
values of all, as ``torch.distributed`` hands every process, so a deal runs every process's reads and checks without
starting any. Also: when ``partition.predict_batches`` hands a table back, against a hand count.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pandas as pd
import pytest

from forecast import Columns, TimeSeriesDataModule
from forecast.data import FractionSplit
from forecast.data.parts import kept_counts
from forecast.errors import ForecastDataError
from forecast.partition import predict_batches

LOOKBACK, HORIZON = 12, 3
SPANS = [("A", 120), ("B", 120), ("C", 120), ("D", 60)]  # training ends at row 72 (D: 36): 58 windows (D: 22)
# The modules that ask for the rank or exchange values with the other processes while a share is read and trained.
WORLD = ("sharding", "shares", "loaders")
GATHER = ("sharding", "shares", "parts", "scaled", "loaders")


def frame(gaps: dict[str, slice], spans: list[tuple[str, int]] = SPANS) -> pd.DataFrame:
    """Hourly long data, one target ``y``, of the series ``spans`` (id, rows); the rows ``gaps`` of a series miss it."""
    parts = []
    for i, (name, rows) in enumerate(spans):
        y = np.sin(np.arange(rows) / (4 + i))
        y[gaps.get(name, slice(0))] = np.nan
        parts.append(pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"), "y": y}))
    return pd.concat(parts, ignore_index=True)


def module(raw: pd.DataFrame, shard: str = "series") -> TimeSeriesDataModule:
    columns, split = Columns(targets=["y"]), FractionSplit(0.2, 0.2)
    return TimeSeriesDataModule(
        raw, LOOKBACK, HORIZON, columns=columns, split=split, batch_size=8, shard=shard, nan_policy="ffill"
    )


def deal(raw: pd.DataFrame, size: int, monkeypatch) -> list[TimeSeriesDataModule | str]:
    """Each of ``size`` processes' data module of ``raw`` after ``setup("fit")`` and its training loader, or its
    error as text: a refusal's message (``ForecastDataError``), else the error's type and message."""
    local, ready, gathered = threading.local(), threading.Condition(), {}

    def world() -> tuple[int, int]:  # outside the deal's threads, one process
        return (local.rank, size) if hasattr(local, "rank") else (0, 1)

    def gather(value):  # the values of every process at its n-th gather
        if not hasattr(local, "rank"):
            return [value]
        local.calls += 1
        with ready:
            box = gathered.setdefault(local.calls, {})
            box[local.rank] = value
            ready.notify_all()
            if not ready.wait_for(lambda: len(box) == size, timeout=10):
                raise TimeoutError(f"process {local.rank} waited alone at gather {local.calls}")
        return [box[rank] for rank in range(size)]

    for name in WORLD:
        monkeypatch.setattr(f"forecast.data.{name}.world", world)
    for name in GATHER:
        monkeypatch.setattr(f"forecast.data.{name}.gather_objects", gather)
    results: list = [None] * size

    def run(rank: int) -> None:
        local.rank, local.calls = rank, 0
        data = module(raw)
        try:
            data.setup("fit")
            data.loader = data.train_dataloader()
            results[rank] = data
        except ForecastDataError as error:
            results[rank] = str(error)
        except Exception as error:  # named by the test, not left in a thread's traceback alone
            results[rank] = f"{type(error).__name__}: {error}"

    threads = [threading.Thread(target=run, args=(rank,)) for rank in range(size)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def kept(raw: pd.DataFrame, series: list[str], end: dict[str, int]) -> int:
    """The training windows of ``series`` with a target value in ``raw``, by a loop over every origin before
    ``end`` (per series, the first validation row)."""
    count = 0
    for name in series:
        y = raw.loc[raw["id"] == name, "y"].to_numpy()
        count += sum(
            np.isfinite(y[origin : origin + HORIZON]).any() for origin in range(LOOKBACK, end[name] - HORIZON + 1)
        )
    return count


def validation_starts(raw: pd.DataFrame) -> dict[str, int]:
    whole = module(raw, shard="none")
    return dict(zip(whole.series_names, whole.borders[:, 0].tolist(), strict=True))


# B and D miss all but their first two values (D's repaired up to its end): only A and C keep training windows. By
# rows alone process 1 held B and D, and every process refused the run ("... of process 1 has an observed value").
KEEP_A_C = {"B": slice(2, 120), "D": slice(2, 60)}
# Five series, of which A, C and D keep windows: by rows alone process 0 held A, process 1 B and E, 2 C and D.
FIVE = [("A", 130), ("B", 125), ("C", 120), ("D", 60), ("E", 55)]
KEEP_A_C_D = {"B": slice(2, 125), "E": slice(2, 55)}


@pytest.mark.parametrize(
    "gaps, spans, size, keeping",
    [(KEEP_A_C, SPANS, 2, {"A", "C"}), (KEEP_A_C_D, FIVE, 3, {"A", "C", "D"}),
     (KEEP_A_C_D, FIVE[::-1], 3, {"A", "C", "D"})],
)  # fmt: skip
def test_every_process_trains_where_as_many_series_as_processes_keep_a_training_window(
    gaps, spans, size, keeping, monkeypatch
):
    raw = frame(gaps, spans)
    processes = deal(raw, size, monkeypatch)
    refused = [process for process in processes if isinstance(process, str)]
    assert not refused, refused[0]
    shares = [list(process.series_names) for process in processes]
    assert sorted(name for share in shares for name in share) == sorted(name for name, _ in spans)
    assert all(len(set(share) & keeping) == 1 for share in shares)
    ends = validation_starts(raw)
    for process, share in zip(processes, shares, strict=True):
        assert len(process.dataset("train")) == kept(raw, share, ends) > 0
    longest = max(len(process.dataset("train")) for process in processes)
    assert [len(process.loader.sampler) for process in processes] == [longest] * size  # as many steps each


def test_the_deal_of_series_that_keep_training_windows_does_not_depend_on_their_order(monkeypatch):
    forward = [sorted(process.series_names) for process in deal(frame(KEEP_A_C_D, FIVE), 3, monkeypatch)]
    backward = [sorted(process.series_names) for process in deal(frame(KEEP_A_C_D, FIVE[::-1]), 3, monkeypatch)]
    assert forward == backward


@pytest.mark.parametrize("gaps", [{}, {"B": slice(80, 120), "D": slice(40, 60)}], ids=["none", "val-and-test"])
def test_data_whose_training_targets_are_all_given_are_dealt_by_rows(gaps, monkeypatch):
    """Longest first to the process with the fewest rows (ties by id): A and B to 0 and 1, C to 0 (tied), D to 1.
    Validation and test keep every window, so gaps in their rows alone leave the deal and their windows alike."""
    raw = frame(gaps)
    processes = deal(raw, 2, monkeypatch)
    assert [list(process.series_names) for process in processes] == [["A", "C"], ["B", "D"]]
    whole = module(raw, shard="none")
    whole.setup("fit")
    validation = whole._windows("val").counts  # per series, A to D
    assert [len(process.dataset("val")) for process in processes] == [
        validation[[0, 2]].sum(),
        validation[[1, 3]].sum(),
    ]


def test_fewer_series_that_keep_a_training_window_than_processes_are_refused_by_every_process(monkeypatch):
    processes = deal(frame({"B": slice(2, 120), "C": slice(2, 120), "D": slice(2, 60)}), 2, monkeypatch)
    assert processes[0] == processes[1]
    assert "none of the training windows of the series of process 1 has an observed value" in processes[0]


# Each of two gloo processes reads its share of the data of ``sys.argv[2]`` and builds its training loader.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import pandas as pd, torch
    from forecast import Columns, TimeSeriesDataModule
    from forecast.data import FractionSplit

    torch.distributed.init_process_group("gloo")
    data = TimeSeriesDataModule(pd.read_csv(sys.argv[2], parse_dates=["time"]), 12, 3, columns=Columns(targets=["y"]),
                                split=FractionSplit(0.2, 0.2), batch_size=8, shard="series", nan_policy="ffill")
    try:
        data.setup("fit")
        facts = {"series": list(data.series_names), "steps": len(data.train_dataloader().sampler)}
    except Exception as error:
        facts = {"refused": f"{type(error).__name__}: {error}"}
    (Path(sys.argv[1]) / f"rank{torch.distributed.get_rank()}.json").write_text(json.dumps(facts))
    torch.distributed.destroy_process_group()  # a gloo group left to the interpreter's exit aborts it now and then
    """
)


@pytest.mark.slow
def test_two_gloo_processes_deal_series_that_keep_training_windows_as_the_threads_do(tmp_path, monkeypatch):
    """By rows process 1 held B and D, which keep no training window, and both processes refused the run."""
    raw = frame(KEEP_A_C)
    raw.to_csv(tmp_path / "series.csv", index=False)
    (tmp_path / "run.py").write_text(SCRIPT)
    with socket.socket() as probe:  # a free port for the process group
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
               str(tmp_path / "run.py"), str(tmp_path), str(tmp_path / "series.csv")]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    facts = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    assert "refused" not in facts[0] and "refused" not in facts[1], facts[0].get("refused", facts[1].get("refused"))
    threads = deal(raw, 2, monkeypatch)
    assert [fact.get("series") for fact in facts] == [list(process.series_names) for process in threads]
    assert facts[0]["steps"] == facts[1]["steps"] == 58  # A's and C's 58 kept windows, one series each


def test_kept_counts_are_the_windows_training_reads_per_series():
    """Two targets: a window is kept where either has a value in it; an infinite value is missing, as NaN."""
    raw = frame({"A": slice(20, 50), "C": slice(0, 120)})
    raw["z"] = np.cos(np.arange(len(raw)) / 5)  # y: A misses rows 20 to 49, C every row
    raw.loc[(raw["id"] == "A") & raw.index.isin(range(25, 45)), "z"] = np.inf  # A misses both in rows 25 to 44
    raw.loc[raw["id"] == "C", "z"] = np.nan  # C misses both in every row
    data = TimeSeriesDataModule(raw, LOOKBACK, HORIZON, columns=Columns(targets=["y", "z"]),
                                split=FractionSplit(0.2, 0.2), nan_policy="zero")  # fmt: skip
    data.setup("fit")
    windows = data._windows("train")
    counts = kept_counts(data.table, data._given, ["y", "z"], windows, HORIZON)
    expected = []
    for name, end in zip(data.series_names, data.borders[:, 0], strict=True):
        targets = raw.loc[raw["id"] == name, ["y", "z"]].to_numpy()
        origins = range(LOOKBACK, int(end) - HORIZON + 1)
        expected.append(sum(np.isfinite(targets[origin : origin + HORIZON]).any() for origin in origins))
    assert counts.tolist() == expected == data.dataset("train").counts.tolist()
    assert expected[0] < windows.counts[0] and expected[2] == 0  # some windows of A and all of C left out


def test_predict_batches_hands_a_table_back_once_the_gathered_rows_reach_rows_per_call(monkeypatch):
    """A (4 rows), B (3) and C (5), a batch each: after B the 7 rows gathered reach rows_per_call 7, so A (complete)
    is handed back and B waits; after C, 3 + 5 rows, B; at the end C. With rows_per_call 8, A and B wait for C."""
    monkeypatch.setattr("forecast.partition.history_columns", lambda checkpoint: Columns())
    monkeypatch.setattr("forecast.partition.predict_partition", lambda rows, checkpoint, **options: rows)
    batches = [pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=rows, freq="h"), "y": 1.0})
               for name, rows in (("A", 4), ("B", 3), ("C", 5))]  # fmt: skip
    for rows_per_call, calls in ((7, [["A"], ["B"], ["C"]]), (8, [["A", "B"], ["C"]]), (12, [["A", "B"], ["C"]])):
        tables = list(predict_batches(batches, "unused.ckpt", rows_per_call=rows_per_call))
        assert [table["id"].unique().tolist() for table in tables] == calls, rows_per_call
        assert sum(len(table) for table in tables) == 12
