"""Every benchmark script in its smallest form: it runs, and prints the table or ratios its docstring names.

The timings themselves are noise at these sizes: the tests read what each script prints (its rows, columns and
the ratios between figures printed together), and compare the accuracy figures with a numpy reference.
"""

import contextlib
import functools
import io
import json
import re
import runpy
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture
def script(monkeypatch):
    """Load a benchmark script as ``python benchmarks/NAME.py`` has it (its folder on the path), with cuDNN's TF32
    setting, which the encoder scripts turn off, restored afterwards."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", torch.backends.cudnn.allow_tf32)

    def load(name: str) -> dict:
        return runpy.run_path(str(BENCHMARKS / f"{name}.py"), run_name=name)

    return load


def _main(namespace: dict, monkeypatch, capsys, *argv: str) -> list[str]:
    """Run a script's ``main`` with ``argv``; its printed lines."""
    monkeypatch.setattr(sys, "argv", ["script.py", *argv])
    namespace["main"]()
    return capsys.readouterr().out.splitlines()


def _rows(lines: list[str], first: str) -> dict[str, list[str]]:
    """The table rows of ``lines`` from the one starting with ``first`` on, keyed by their first field."""
    rows = {}
    for line in lines[next(i for i, line in enumerate(lines) if line.split()[:1] == [first]) + 1 :]:
        fields = line.split()
        if fields:
            rows.setdefault(fields[0], fields[1:])
    return rows


THREADS = str(torch.get_num_threads())  # what every script sets: the process's own, so that no test changes it


def test_baselines_benchmark_prints_the_naive_errors_of_every_test_window(script, monkeypatch, capsys):
    lines = _main(script("baselines"), monkeypatch, capsys, "--lookback", "48", "--horizon", "24", "--period", "12")
    values = pd.read_csv(ROOT / "forecast/datasets/etth1.csv.gz", index_col=0).to_numpy()
    scaled = (values - values[:8640].mean(0)) / values[:8640].std(0)  # StandardScaler on the training rows
    test = scaled[11520 - 48 : 14400]  # the test part with its lookback
    windows = np.lib.stride_tricks.sliding_window_view(test, 48 + 24, axis=0).transpose(0, 2, 1)
    past, future = windows[:, :48], windows[:, 48:]
    assert lines[0] == f"ETTh1 test, L=48 H=24, {len(windows)} windows, standardized scale" and len(windows) == 2857
    printed = {line[:24].strip(): [float(value) for value in line[24:].split()] for line in lines[2:]}
    for name, period in [("seasonal naive (12)", 12), ("last value", 1)]:
        steps = 48 - period + np.arange(24) % period  # the last season, repeated
        error = past[:, steps] - future
        np.testing.assert_allclose(printed[name], [np.square(error).mean(), np.abs(error).mean()], atol=5e-4)


def test_epoch_benchmark_times_each_encoder_in_the_peer_setting(script, monkeypatch, capsys):
    """Its forecaster took the encoder as a lambda, which ``Forecaster`` refuses (a checkpoint cannot rebuild one):
    the script stopped with "model.encoder is a function" before its first epoch. Each epoch is cut to 2 batches."""
    epoch = script("epoch")
    timed = epoch["epoch_seconds"]
    monkeypatch.setitem(epoch["main"].__globals__, "epoch_seconds", functools.partial(timed, batches=2))
    lines = _main(epoch, monkeypatch, capsys, "--repeats", "1", "--threads", THREADS)
    assert lines[0].startswith("one training epoch, 8521 windows, cpu, ")  # ETTh1's training windows at L=96, H=24
    rows = _rows(lines, "encoder")
    assert list(rows) == ["GRU", "LSTM", "SRU"]
    rates = {name: float(rate) for name, (_, rate, _) in rows.items()}  # printed in more digits than the seconds
    for name, (seconds, rate, ratio) in rows.items():
        assert 8521 / float(rate) == pytest.approx(float(seconds), abs=0.006)
        assert float(ratio) == pytest.approx(rates[name] / rates["GRU"], abs=0.006)
    assert rows["GRU"][2] == "1.00"


def test_epoch_benchmark_times_a_configs_epochs(script, monkeypatch, capsys, tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(
        "trainer: {limit_train_batches: 2}\n"
        "model: {encoder: {class_path: forecast.nn.GRUEncoder, init_args: {hidden_size: 4}}}\n"
        "data: {source: etth1, lookback: 24, horizon: 8, split: forecast.data.ETTSplit, batch_size: 16}\n"
    )
    lines = _main(script("epoch"), monkeypatch, capsys, "--configs", str(config), "--epochs", "2")
    assert lines[0].endswith("median of epochs 2-2")
    assert lines[1].split() == ["config", "windows", "epoch", "s", "first/this"]
    name, windows, seconds, ratio = lines[2].split()
    assert (name, windows, ratio) == ("tiny.yaml", str(8640 - 24 - 8 + 1), "1.00") and float(seconds) > 0


def test_encoders_benchmark_prints_every_encoder_against_its_bound_and_its_gru(script, monkeypatch, capsys):
    """A ``Bi-`` row's last column is the Bi-GRU's time over its own, as the docstring says; the header named the
    GRU alone."""
    lines = _main(script("encoders"), monkeypatch, capsys, "--shapes", "4x2x4", "--repeats", "1", "--threads", THREADS)
    assert lines[1].split()[-3:] == ["fwd+bwd", "/bound", "(Bi-)GRU/this"]
    rows = {line[16:29].strip(): [float(value) for value in line[29:].split()] for line in lines[2:]}
    assert list(rows) == ["RNN", "LSTM", "GRU", "Bi-GRU", "SRU", "SRU tanh", "Bi-SRU", "SRU bound", "Bi-SRU bound"]
    assert all(value >= 0 for values in rows.values() for value in values)  # a bound of 4 x 2 x 4 prints 0.00 ms
    assert [rows[name][2] for name in ("SRU bound", "Bi-SRU bound")] == [1.0, 1.0]  # each bound's row against itself
    assert [rows[name][3] for name in ("GRU", "Bi-GRU")] == [1.0, 1.0]  # each reference's row against itself


def test_sru_bandwidth_benchmark_prints_both_directions_against_the_copy(script, monkeypatch, capsys):
    bandwidth = script("sru_bandwidth")
    copy = functools.partial(bandwidth["copy_gbps"], megabytes=1)  # not the GiB of the real run
    monkeypatch.setitem(bandwidth["main"].__globals__, "copy_gbps", copy)
    lines = _main(bandwidth, monkeypatch, capsys, "--shapes", "8x2x4", "--repeats", "1", "--threads", THREADS)
    assert "copy bandwidth" in lines[0]
    assert lines[1].split() == "T B hidden dirs fwd ms GB/s /copy fwd+bwd ms GB/s /copy".split()
    assert [line.split()[:4] for line in lines[2:]] == [["8", "2", "4", "1"], ["8", "2", "4", "2"]]


def test_profile_encoders_prints_each_encoders_operators(script, monkeypatch, capsys):
    profile = script("profile_encoders")
    argv = ["--shapes", "4x2x4", "--repeats", "1", "--threads", THREADS, "--encoders", "GRU", "Bi-SRU"]
    out = "\n".join(_main(profile, monkeypatch, capsys, *argv))
    for encoder in ("GRU", "Bi-SRU"):
        assert f"\n{encoder} fwd+bwd at T=4, B=2, hidden=4, CPU, {THREADS} threads: " in out
    assert out.count("ms a batch while profiled, 0 GPU kernels a batch") == 2
    assert out.count("Self CPU time total") == 2  # each encoder's operator table


def test_decoder_benchmark_decodes_the_segments_segment_head_does(script, monkeypatch, capsys):
    """A horizon that 48 does not divide has a last, cut segment: the benchmark timed one segment fewer."""
    argv = ["--rows", "4", "--hidden", "8", "--horizons", "24", "100", "--repeats", "1", "--threads", THREADS]
    lines = _main(script("decoder"), monkeypatch, capsys, *argv)
    assert lines[1].split() == ["decoder", "H", "segments", "grid", "ms", "broadcast", "ms", "grid/broadcast"]
    rows = [line.split() for line in lines[2:]]
    assert [row[:3] for row in rows] == [
        [name, h, s] for name in ("GRU", "LSTM", "SRU") for h, s in (("24", "1"), ("100", "3"))
    ]


def test_scale_fit_refuses_series_too_short_for_its_windows_before_the_fits(script, monkeypatch, capsys):
    """200 steps leave the validation part no window at lookback 48, horizon 24: the two-process fit failed after
    its launch, with the workers' tracebacks."""
    scale_fit = script("scale_fit")

    def written(*args):
        raise AssertionError("wrote the data and launched the fits")

    monkeypatch.setitem(scale_fit["main"].__globals__, "write_series", written)
    monkeypatch.setattr(sys, "argv", ["scale_fit.py", "--series", "4", "--steps", "200"])
    with pytest.raises(SystemExit) as exit_:
        scale_fit["main"]()
    assert exit_.value.code == 2
    assert "--steps 200: too few for the fit's windows (the val part has no window" in capsys.readouterr().err


def _in_process(run):
    """A stand-in for a child process: ``run()``'s printed JSON as a ``subprocess.run`` result's stdout."""
    with contextlib.redirect_stdout(io.StringIO()) as out:
        run()
    return SimpleNamespace(stdout=out.getvalue())


def test_parquet_memory_prints_each_case_against_its_reference(script, monkeypatch, capsys):
    """Each case runs in this process instead of its own, so its memory figures mean nothing here (and may be 0,
    which no ratio divides by): each case runs, and reports the figures 2 and 1 MiB."""
    memory = script("parquet_memory")

    def child(command, **kwargs):
        case, path, series = command[-3:]
        _in_process(lambda: memory["child"](case, path, int(series)))
        return SimpleNamespace(stdout=json.dumps({"peak": 2 * 2**20, "held": 2**20}))

    monkeypatch.setattr(memory["subprocess"], "run", child)
    lines = _main(memory, monkeypatch, capsys, "--series", "20", "--steps", "300")
    assert lines[0] == "20 series x 300 steps = 6,000 rows, 8 columns; Parquet file 0 MiB"
    assert lines[1].split() == "case peak MiB held MiB held B/row peak / ref held / ref".split()
    cases = [line[:44].strip() for line in lines[2:]]
    assert cases == [label for label, _ in memory["CASES"].values()]
    compared = [len(line[44:].split()) for line in lines[2:]]
    assert compared == [3, 5, 5, 3, 5]  # the ratios to a reference on the rows that have one


@pytest.mark.slow
def test_data_throughput_benchmark_prints_every_part(script, monkeypatch, capsys):
    throughput = script("data_throughput")
    argv = ["--repeats", "1", "--series", "3", "--steps", "2000"]
    memory = throughput["memory_child"]
    monkeypatch.setitem(
        throughput["main"].__globals__, "memory", lambda *args: json.loads(_in_process(lambda: memory(*args)).stdout)
    )
    monkeypatch.setattr(sys, "argv", ["data_throughput.py"])  # step_share cuts sys.argv to it
    out = "\n".join(_main(throughput, monkeypatch, capsys, *argv))
    for part in (
        "TimeSeriesDataModule DataLoader",
        "(a) per-window __getitem__ + default_collate",
        "(b) memory-copy bound (a copy per batch)",
        "ours vs (a): ",
        "ETTh1 setup (read, check, split, fit scaler, buffer, windows): ",
        "long frame, 3 series x 2,000 steps (target + past covariate), own process",
        "peak RSS added by setup: ",
        "configs/etth1/gru.yaml, one training step: load ",
        "data loading share: ",
    ):
        assert part in out


@pytest.mark.slow
def test_train_throughput_benchmark_prints_both_rates_and_their_ratio(script, monkeypatch, capsys, tmp_path):
    argv = ["--batches", "3", "--warmup", "1", "--repeats", "1", "--root", str(tmp_path)]
    lines = _main(script("train_throughput"), monkeypatch, capsys, *argv)[-4:]
    assert lines[0].startswith("GRU config gru.yaml, 2 timed batches of 64, ")
    plain, ours = (float(line.split(":")[1].split()[0]) for line in lines[1:3])
    overhead = re.fullmatch(r"overhead: (\d+\.\d{3})x the plain loop's time per window", lines[3])[1]
    assert float(overhead) == pytest.approx(plain / ours, rel=0.01)  # of the medians, which print rounded


@pytest.mark.slow
def test_predict_latency_benchmark_prints_the_share_outside_the_network(script, monkeypatch, capsys):
    lines = _main(script("predict_latency"), monkeypatch, capsys, "--series", "3", "--repeats", "1")[-3:]
    assert "(DataFrame in, 288 forecast rows out)" in lines[0]  # 3 series x horizon 96
    total, network, share = (float(re.search(r" (\d+\.\d+)(?: s|%)", line)[1]) for line in lines)
    rounding = 5e-4  # of the printed seconds
    low, high = (100 * (1 - (network + sign * rounding) / (total - sign * rounding)) for sign in (1, -1))
    assert low - 0.05 <= share <= high + 0.05


@pytest.mark.slow
def test_scale_fit_benchmark_prints_both_fits_per_process(script, monkeypatch, capsys):
    """Also beside a process that listens on the port the script once fixed (29511): two runs at once, or any other
    program there, failed its process group's start."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 29511))
        taken.listen()
        lines = _main(script("scale_fit"), monkeypatch, capsys, "--series", "4", "--steps", "400")
    rows = [line.split()[:3] for line in lines[2:6]]
    assert rows == [["none", "0", "4"], ["none", "1", "4"], ["series", "0", "2"], ["series", "1", "2"]]
    assert lines[6].startswith("sharded/unsharded per process: peak memory x") and lines[6].endswith("buffer x0.50")


@pytest.mark.slow
def test_scale_benchmark_prints_both_engines(script, monkeypatch, capsys):
    pytest.importorskip("pyspark")
    lines = _main(script("scale"), monkeypatch, capsys, "--series", "20", "--threads", "1", "--partitions", "1")
    rows = [line.split()[:2] for line in lines[3:5]]
    assert rows == [["20", "local"], ["20", "spark"]]
    assert lines[5].startswith("20 series: Spark/one process  series/s x")
