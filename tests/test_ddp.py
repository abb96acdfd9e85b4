"""DDP on CPU (gloo) against one process with the same global batches.

The 2-process fit and test run in one pair of processes, started by Lightning's own launcher: a script that
calls ``forecast.__main__.main()`` for each command, as ``python -m forecast`` does. The 1-process runs use
this process.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch.distributed

from forecast.__main__ import main as forecast_main
from forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.ddp


def cli_args(subcommand: str, tiny: list[str], *args: str) -> list[str]:
    """``subcommand`` of the quickstart config on CPU, with ``tiny_cli``'s arguments ``tiny``, then ``args``."""
    return [subcommand, "--config", str(ROOT / "configs/quickstart.yaml"), *tiny, "--trainer.accelerator", "cpu", *args]


def run_python(args: list[str], root: Path) -> str:
    """``python ARGS`` in ``root`` with one thread; asserts that it succeeds and returns its standard output."""
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    root.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=root, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def run_cli(subcommand: str, root: Path, tiny: list[str], *args: str) -> None:
    run_python(["-m", "forecast", *cli_args(subcommand, tiny, *args)], root)


def run_commands_and_tell_the_group(commands: list[list[str]], root: Path) -> list[str]:
    """Each of ``commands`` (``cli_args`` lists) in turn through ``forecast.__main__.main()``, in a script that
    Lightning's launcher starts again for each further process of a DDP command; after each command, every
    process appends whether a process group is still ``"open"`` or ``"closed"`` to a file of its own rank:
    those lines, rank 0's first.

    Files, not standard output: both processes write to the one pipe, where their output can mix (once, CI kept
    2 of the script's 4 lines).
    """
    script = root / "commands.py"
    script.write_text(
        "import os, sys, torch.distributed\n"
        "from forecast.__main__ import main\n"
        f"for command in {commands!r}:\n"
        "    sys.argv[1:] = command\n"
        "    main()\n"
        "    with open(f\"group.{os.environ.get('LOCAL_RANK', 'none')}.txt\", 'a') as told:\n"
        "        print('open' if torch.distributed.is_initialized() else 'closed', file=told)\n"
    )
    run_python([str(script)], root)
    told = sorted(root.glob("group.*.txt"))
    assert [path.name for path in told] == ["group.0.txt", "group.1.txt"]
    return [line for path in told for line in path.read_text().splitlines()]


def run_main_here_and_tell_the_group(args: list[str]) -> str:
    """``forecast.__main__.main()`` on ``args`` in this process; whether it left a process group ``"open"`` or
    ``"closed"``. The process is then left with no group and the environment it had: Lightning's launcher sets
    ``MASTER_PORT``, ``LOCAL_RANK`` and ``WORLD_SIZE`` there, which would make later runs here take themselves
    for processes of a DDP run."""
    environ, argv = dict(os.environ), sys.argv
    sys.argv = ["forecast", *args]
    try:
        forecast_main()
        return "open" if torch.distributed.is_initialized() else "closed"
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
        sys.argv = argv
        os.environ.clear()
        os.environ.update(environ)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_cli) -> dict:
    """Two epochs with 2 processes of 16 windows and 1 process of 32; then test each way from the 2-process fit.

    The 1-process run also uses the DDP strategy, so that Lightning's distributed sampler draws the same
    permutation; its 32-window batches are then the union of the two ranks' 16-window batches. Three
    series of 202 rows give 336 training windows, which split evenly between 2 ranks, and, taking
    every 7th, 9 validation and 15 test windows, which do not: ranks evaluate 5 and 4, 8 and 7.
    """
    root = tmp_path_factory.mktemp("ddp")
    steps = np.arange(202)
    frame = pd.concat(
        pd.DataFrame(
            {
                "id": name,
                "time": pd.date_range("2024-01-01", periods=202, freq="h"),
                "y": level + np.sin(steps / period),
            }
        )  # fmt: skip
        for name, level, period in [("A", 10, 4), ("B", -5, 6), ("C", 0, 9)]
    )
    csv = str(root / "long.csv")
    frame.to_csv(csv, index=False)
    uneven = ["--data.eval_stride", "7"]
    two, one = tiny_cli(csv, root / "two"), tiny_cli(csv, root / "one")
    last = str(root / "two/lightning_logs/version_0/checkpoints/last.ckpt")
    tested = [*uneven, "--ckpt_path", last, "--report.write_forecasts", "true"]
    ddp = ["--trainer.devices", "2", "--trainer.strategy", "ddp"]
    groups = run_commands_and_tell_the_group(
        [cli_args("fit", two, *ddp, "--data.batch_size", "16", *uneven),
         cli_args("test", tiny_cli(csv, root / "test_two"), *tested, *ddp)],
        root,
    )  # fmt: skip
    one_process = ["--trainer.devices", "1", "--trainer.strategy", "ddp", "--data.batch_size", "32", *uneven]
    groups.append(run_main_here_and_tell_the_group(cli_args("fit", one, *one_process)))
    main(cli_args("test", tiny_cli(csv, root / "test_one"), *tested, "--trainer.devices", "1"))
    return {"root": root, "groups": groups, "two": two, "last": last}


@pytest.fixture(scope="module")
def predictions(runs) -> dict[str, pd.DataFrame]:
    """Predictions of the 2-process fit's last checkpoint on 2 processes, to the writer's default output (its run
    directory, which every process must join in finding), and on 1."""
    root, two, last = runs["root"], runs["two"], runs["last"]
    run_cli("predict", root / "two", two, "--ckpt_path", last, "--trainer.devices", "2", "--trainer.strategy", "ddp")
    main(cli_args("predict", two, "--ckpt_path", last, "--trainer.devices", "1",
                  "--prediction_writer.output", str(root / "predictions_one.csv")))  # fmt: skip
    return {
        "two": pd.read_csv(root / "two/lightning_logs/version_1/predictions.csv"),
        "one": pd.read_csv(root / "predictions_one.csv"),
    }


def logged(run_dir: Path, split: str) -> pd.DataFrame:
    metrics = pd.read_csv(run_dir / "lightning_logs/version_0/metrics.csv")
    return metrics.filter(regex=f"^{split}/").dropna().reset_index(drop=True)


def test_ddp_two_processes_match_one_with_the_same_global_batch(runs):
    two, one = logged(runs["root"] / "two", "val"), logged(runs["root"] / "one", "val")
    assert len(two) == 2 and "val/loss" in two.columns and list(two.columns) == list(one.columns)
    # Float32 all-reduce sums in another order than one process; 2 epochs of Adam keep it within 1e-5.
    np.testing.assert_allclose(two.to_numpy(), one.to_numpy(), rtol=1e-5, atol=1e-6)


# The default run's test report (below) checks the same for the windows of a test; this adds the prediction
# writer's processes, at the cost of two more process starts.
@pytest.mark.slow
def test_ddp_predict_writes_each_window_once_in_order(predictions):
    two, one = predictions["two"], predictions["one"]
    assert list(two["id"]) == ["A"] * 6 + ["B"] * 6 + ["C"] * 6  # 3 windows on 2 ranks
    pd.testing.assert_frame_equal(two, one, rtol=1e-6)


def test_ddp_test_over_uneven_shares_equals_one_process(runs):
    two, one = logged(runs["root"] / "test_two", "test"), logged(runs["root"] / "test_one", "test")
    assert len(one) == 1 and {"test/loss", "test/mase"} <= set(one.columns) and list(two.columns) == list(one.columns)
    np.testing.assert_allclose(two.to_numpy(), one.to_numpy(), rtol=1e-6)
    for name in ("test_two", "test_one"):
        assert json.loads((runs["root"] / name / "lightning_logs/version_0/metrics.json").read_text())["windows"] == 15


def test_ddp_test_report_writes_every_window_once(runs):
    two, one = (
        pd.read_csv(runs["root"] / name / "lightning_logs/version_0/forecasts.csv") for name in ("test_two", "test_one")
    )
    assert list(two["window"]) == np.repeat(np.arange(15), 6).tolist()  # 6 horizon steps per window
    pd.testing.assert_frame_equal(two, one, rtol=1e-6)


def test_the_command_closes_its_process_group_when_the_run_ends(runs):
    """A gloo group left open to the interpreter's shutdown aborted DDP runs now and then (exit status -6)."""
    assert runs["groups"] == ["closed"] * 5  # both processes after the 2-process fit and test, then the 1-process fit
