"""Leftovers of the last audits: the run folder of a refused evaluation, the benchmark scripts' one way of running
the CLI, and one build of a kernel for processes that need it at once."""

import os
import runpy
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lightning.pytorch.callbacks import Callback

from forecast.cli import main
from forecast.errors import ForecastDataError
from forecast.kernels import build

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def hourly_csv(folder: Path, rows: int = 80, **columns: np.ndarray) -> Path:
    """A CSV of ``rows`` hourly rows (time index ``date``) of the ``columns`` given, and ``y`` a sine wave unless
    given."""
    index = pd.date_range("2024-01-01", periods=rows, freq="h", name="date")
    frame = pd.DataFrame({"y": np.sin(np.arange(rows) / 3.0), **columns}, index=index)
    path = folder / "series.csv"
    frame.to_csv(path)
    return path


def versions(root: Path) -> list[str]:
    return sorted(path.name for path in (root / "lightning_logs").glob("version_*"))


def earlier_run(root: Path) -> Path:
    """A run folder of an earlier run under ``root``, ``version_0`` with its metrics, which a refusal must leave."""
    folder = root / "lightning_logs" / "version_0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text("epoch,val/loss\n0,0.5\n")
    return folder


def test_a_refused_predict_leaves_no_new_run_folder(tmp_path, tiny_cli):
    """A series whose last target is missing while its past covariate goes on (``check_history_end``) is refused
    in ``setup("predict")``, once the logger made ``version_1``: the folder was left, empty, as if a run."""
    rows = 80
    target, load = np.sin(np.arange(rows) / 3.0), np.cos(np.arange(rows) / 5.0)
    target[-3:], load[-2:] = np.nan, np.nan  # the load of the first of three future rows: it is history
    source = hourly_csv(tmp_path, rows, y=target, load=load, price=np.arange(rows) / rows)
    root = tmp_path / "runs"
    earlier = earlier_run(root)
    roles = ["--data.columns.targets", "[y]", "--data.columns.past_covariates", "[load]",
             "--data.columns.future_covariates", "[price]"]  # fmt: skip
    with pytest.raises(ForecastDataError, match="series '0' holds past covariate 'load'"):
        main(["predict", *tiny_cli(source, root, lookback=8, horizon=2), *roles])
    assert versions(root) == ["version_0"]
    assert (earlier / "metrics.csv").is_file()


def test_a_refused_validate_leaves_no_new_run_folder(tmp_path, tiny_cli):
    """A validation part without a window of the lookback is refused in ``setup("validate")``."""
    root = tmp_path / "runs"
    earlier_run(root)
    with pytest.raises(ForecastDataError, match="the val part has no window"):
        main(["validate", *tiny_cli(hourly_csv(tmp_path), root, lookback=70, horizon=2)])
    assert versions(root) == ["version_0"]


class FailInSecondEpoch(Callback):
    """Fails a fit at the start of its second epoch, after the first epoch's checkpoints."""

    def on_train_epoch_start(self, trainer, pl_module):
        if trainer.current_epoch == 1:
            raise RuntimeError("failed in the second epoch")


@pytest.mark.slow  # a fit of one epoch through the CLI: about 3 s
def test_a_fit_that_fails_mid_training_keeps_its_run_folder_and_checkpoints(tmp_path, tiny_cli):
    root = tmp_path / "runs"
    args = ["fit", *tiny_cli(hourly_csv(tmp_path), root, lookback=8, horizon=2), "--trainer.max_epochs", "3"]
    with pytest.raises(RuntimeError, match="failed in the second epoch"):
        main(args, trainer_defaults={"callbacks": [FailInSecondEpoch()]})
    assert versions(root) == ["version_0"]
    assert (root / "lightning_logs/version_0/checkpoints/last.ckpt").is_file()


TINY_CONFIG = """\
data:
  source: {source}
  lookback: 8
  horizon: 2
  split: forecast.data.FractionSplit
"""


def test_epoch_and_ltsf_run_the_cli_with_the_program_name_alone_and_refuse_alike(tmp_path, monkeypatch, capsys):
    """``epoch.py --configs`` ran the CLI under a copy of ``ltsf.py``'s handling of ``sys.argv`` that held only the
    CLI's call, and raised a refusal of the config with its traceback, where ``ltsf.py`` prints ``error: ...``."""
    config = tmp_path / "missing.yaml"
    config.write_text(TINY_CONFIG.format(source=tmp_path / "no-such.csv"))
    epoch = runpy.run_path(str(BENCHMARKS / "epoch.py"), run_name="epoch")
    ltsf = runpy.run_path(str(BENCHMARKS / "ltsf.py"), run_name="ltsf")
    seen = []

    def cli(args, **kwargs):
        seen.append(list(sys.argv))
        return main(args, **kwargs)

    monkeypatch.setitem(epoch["config_epoch_seconds"].__globals__, "cli_main", cli)
    argv = ["epoch.py", "--configs", str(config), "--epochs", "2"]
    monkeypatch.setattr(sys, "argv", list(argv))
    with pytest.raises(SystemExit) as epoch_exit:
        epoch["config_epoch_seconds"](str(config), None, 2)
    epoch_error = capsys.readouterr().err
    with pytest.raises(SystemExit) as ltsf_exit:
        ltsf["command"](lambda args: cli(args, run=False), ["--config", str(config)])
    ltsf_error = capsys.readouterr().err
    assert seen == [["epoch.py"], ["epoch.py"]]
    assert sys.argv == argv
    assert epoch_exit.value.code == ltsf_exit.value.code == 1
    assert epoch_error.startswith("error: ") and "no-such.csv" in epoch_error
    assert epoch_error == ltsf_error


def counting_compiler(folder: Path, count: Path) -> str:
    """A ``$CC`` that appends a line to ``count`` for each compilation, and takes half a second longer than ``cc``,
    so that two builds started together overlap."""
    script = folder / "counting-cc"
    script.write_text(f'#!/bin/sh\necho run >> "{count}"\nsleep 0.5\nexec cc "$@"\n')
    script.chmod(0o755)
    return str(script)


def compilations(count: Path) -> int:
    return len(count.read_text().splitlines()) if count.exists() else 0


def test_two_threads_that_need_one_kernel_at_once_compile_it_once(tmp_path, monkeypatch):
    """Each caller that found no library compiled it: ``flock`` on separate opens excludes threads too."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    count = tmp_path / "count"
    monkeypatch.setenv("CC", counting_compiler(tmp_path, count))
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 42; }\n")
    start, answers = threading.Barrier(2), []

    def load() -> None:
        start.wait()
        answers.append(build.load_library(source).answer())

    threads = [threading.Thread(target=load) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [42, 42]
    assert compilations(count) == 1
    assert [path.suffix for path in build.cache_dir().iterdir()] == [".so"]  # no lock or temporary file left


LOAD_WHEN_TOLD = """\
import sys, time
from pathlib import Path
from forecast.kernels import build
Path(sys.argv[2]).touch()
go = Path(sys.argv[3])
while not go.exists():
    time.sleep(0.01)
print(build.load_library(Path(sys.argv[1])).answer())
"""


@pytest.mark.slow  # two processes that import forecast: several seconds
def test_two_processes_that_need_one_kernel_at_once_compile_it_once(tmp_path):
    """Two processes that start building into an empty cache together: one compiles, the other waits and loads."""
    count, go = tmp_path / "count", tmp_path / "go"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "CC": counting_compiler(tmp_path, count)}
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 42; }\n")
    script = tmp_path / "load.py"
    script.write_text(textwrap.dedent(LOAD_WHEN_TOLD))
    ready = [tmp_path / f"ready{i}" for i in range(2)]
    commands = [[sys.executable, str(script), str(source), str(each), str(go)] for each in ready]
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True) for command in commands]
    while not all(each.exists() for each in ready) and all(process.poll() is None for process in processes):
        time.sleep(0.01)
    go.touch()  # both imported forecast: their builds start together
    outputs = [process.communicate(timeout=300)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    assert outputs == ["42\n", "42\n"]
    assert compilations(count) == 1
