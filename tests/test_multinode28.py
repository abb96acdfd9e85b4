"""DDP across two "nodes" on this machine: one torchrun (or one SLURM-launched process) per node on 127.0.0.1, each
node one CPU process (gloo), against the same fit on one node of two processes, which makes the same world of 2 ranks.

The nodes share one working directory (a shared filesystem, as on a cluster) or have one each (node-local disks).
"""

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # every test starts two to four processes of torch and Lightning (20-50 s)

RUN = Path("runs/lightning_logs")


def write_series(path: Path, lengths: list[int]) -> str:
    """A long CSV of one hourly sine series per length, of distinct levels and periods."""
    frames = []
    for number, rows in enumerate(lengths):
        steps = np.arange(rows)
        values = 3 * number + np.sin(steps / (4 + number))
        time = pd.date_range("2024-01-01", periods=rows, freq="h")
        frames.append(pd.DataFrame({"id": f"s{number}", "time": time, "y": values}))
    pd.concat(frames).to_csv(path, index=False)
    return str(path)


def cli_args(subcommand: str, source: str, *args: str) -> list[str]:
    """``subcommand`` of the quickstart config on a small CSV, CPU DDP of 2 ranks, its runs under ``runs``."""
    return [subcommand, "--config", str(ROOT / "configs/quickstart.yaml"), "--data.source", source,
            "--data.lookback", "24", "--data.horizon", "6", "--data.split", "forecast.data.FractionSplit",
            "--data.batch_size", "16", "--trainer.default_root_dir", "runs", "--trainer.enable_progress_bar", "false",
            "--trainer.enable_model_summary", "false", "--trainer.accelerator", "cpu", "--trainer.strategy", "ddp",
            *args]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def base_env() -> dict[str, str]:
    """This environment with one thread per process and without any launcher's variables of the test's own run."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SLURM_", "TORCHELASTIC_"))}
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK"):
        env.pop(key, None)
    return env | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def torchrun(node: int, port: int, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command of node ``node`` of 2, one process each, as the README starts it."""
    command = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
               "--node_rank", str(node), "--master_addr", "127.0.0.1", "--master_port", str(port),
               "-m", "forecast", *args, "--trainer.devices", "1", "--trainer.num_nodes", "2"]  # fmt: skip
    return command, base_env()


def srun(node: int, port: int, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The process of node ``node`` as ``srun --nodes 2 --ntasks-per-node 1`` starts it: its ``SLURM_*`` variables."""
    slurm = {"SLURM_NTASKS": "2", "SLURM_NTASKS_PER_NODE": "1", "SLURM_NNODES": "2", "SLURM_PROCID": str(node),
             "SLURM_NODEID": str(node), "SLURM_LOCALID": "0", "SLURM_NODELIST": "127.0.0.1", "SLURM_JOB_ID": "4242",
             "SLURM_JOB_NAME": "forecast", "MASTER_PORT": str(port)}  # fmt: skip
    command = [sys.executable, "-m", "forecast", *args, "--trainer.devices", "1", "--trainer.num_nodes", "2"]
    return command, base_env() | slurm


def run_nodes(folders: list[Path], args: list[str], launch=torchrun, timeout: int = 120) -> list[str]:
    """Start node 0 in ``folders[0]`` and node 1 in ``folders[1]`` at once, and wait for both; returns each one's
    exit status and output. Nodes still running after ``timeout`` seconds are killed and the test fails."""
    port, running = free_port(), []
    for node, folder in enumerate(folders):
        folder.mkdir(parents=True, exist_ok=True)
        command, env = launch(node, port, args)
        running.append(subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))  # fmt: skip
    try:
        outputs = [process.communicate(timeout=timeout)[0] for process in running]
    except subprocess.TimeoutExpired:
        for process in running:  # torchrun stops its workers, which run in sessions of their own, on SIGTERM
            process.terminate()
        for process in running:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
        pytest.fail(f"a node still ran after {timeout} s, waiting for the other")
    return [f"exit status {process.returncode}\n{output}" for process, output in zip(running, outputs, strict=True)]


def assert_finished(outputs: list[str]) -> None:
    for node, output in enumerate(outputs):
        assert output.startswith("exit status 0"), f"node {node}: {output[-3000:]}"


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=False)["state_dict"]


def assert_same_weights(path: Path, reference: Path) -> None:
    ours, theirs = weights(path), weights(reference)
    assert ours.keys() == theirs.keys()
    for name, value in ours.items():
        torch.testing.assert_close(value, theirs[name], atol=1e-6, rtol=0, msg=name)


def run_files(folder: Path) -> list[str]:
    """The files of every run under ``folder``, relative to its runs' folder."""
    runs = folder / RUN
    return sorted(str(path.relative_to(runs)) for path in runs.rglob("*") if path.is_file()) if runs.exists() else []


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> str:
    """Three series of 202 rows: 336 training windows, 11 steps an epoch of 2 ranks of 16."""
    return write_series(tmp_path_factory.mktemp("data") / "long.csv", [202, 202, 202])


@pytest.fixture(scope="module")
def one_node(tmp_path_factory, source) -> Path:
    """The checkpoints folder of one node's 3-epoch fit by 2 processes, one file per epoch (``epoch=E-...``)."""
    folder = tmp_path_factory.mktemp("one_node")
    args = cli_args("fit", source, "--trainer.devices", "2", "--trainer.num_nodes", "1", "--trainer.max_epochs", "3",
                    "--checkpoint.save_top_k", "-1")  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "forecast", *args], cwd=folder, env=base_env(), capture_output=True,
                            text=True, timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / RUN / "version_0/checkpoints"


def epoch_file(checkpoints: Path, epoch: int) -> Path:
    return next(checkpoints.glob(f"epoch={epoch}-*.ckpt"))


@pytest.fixture(scope="module")
def shared(tmp_path_factory, source) -> Path:
    """The working directory of a 2-epoch fit of 2 torchrun nodes that share it."""
    folder = tmp_path_factory.mktemp("shared")
    assert_finished(run_nodes([folder, folder], cli_args("fit", source, "--trainer.max_epochs", "2")))
    return folder


def test_two_nodes_sharing_a_folder_write_one_run_equal_to_one_node_of_two_processes(shared, one_node):
    files = run_files(shared)
    assert {Path(name).parts[0] for name in files} == {"version_0"}, files
    assert {"version_0/config.yaml", "version_0/checkpoints/last.ckpt"} <= set(files)
    assert_same_weights(shared / RUN / "version_0/checkpoints/last.ckpt", epoch_file(one_node, 1))


def test_a_fit_resumed_from_last_across_two_nodes_goes_on_as_one_node_and_test_reads_it(
    shared, one_node, source, tmp_path
):
    folder = tmp_path / "shared"
    shutil.copytree(shared, folder)
    assert_finished(run_nodes([folder, folder], cli_args("fit", source, "--trainer.max_epochs", "3",
                                                         "--ckpt_path", "last")))  # fmt: skip
    resumed = folder / RUN / "version_1/checkpoints/last.ckpt"
    assert torch.load(resumed, weights_only=False)["global_step"] == 33
    assert_same_weights(resumed, epoch_file(one_node, 2))
    tested = run_nodes([folder, folder], cli_args("test", source, "--ckpt_path", "last"))
    assert_finished(tested)
    assert f"test: checkpoint {RUN / 'version_1/checkpoints/last.ckpt'}" in tested[0]
    assert "test/loss" in tested[0]


def test_two_nodes_on_disks_of_their_own_write_the_run_on_the_first_and_resume_from_its_copy(
    one_node, source, tmp_path
):
    nodes = [tmp_path / "node0", tmp_path / "node1"]
    assert_finished(run_nodes(nodes, cli_args("fit", source, "--trainer.max_epochs", "2")))
    assert run_files(nodes[1]) == []
    assert {Path(name).parts[0] for name in run_files(nodes[0])} == {"version_0"}
    assert_same_weights(nodes[0] / RUN / "version_0/checkpoints/last.ckpt", epoch_file(one_node, 1))
    shutil.copytree(nodes[0] / "runs", nodes[1] / "runs")  # the checkpoint copied to every node
    assert_finished(run_nodes(nodes, cli_args("fit", source, "--trainer.max_epochs", "3", "--ckpt_path", "last")))
    assert_same_weights(nodes[0] / RUN / "version_1/checkpoints/last.ckpt", epoch_file(one_node, 2))


def test_a_node_without_the_run_refuses_ckpt_path_last_on_every_node_at_once(shared, source, tmp_path):
    nodes = [tmp_path / "node0", tmp_path / "node1"]
    shutil.copytree(shared / "runs", nodes[0] / "runs")
    outputs = run_nodes(nodes, cli_args("fit", source, "--trainer.max_epochs", "3", "--ckpt_path", "last"), timeout=60)
    for output in outputs:
        assert output.startswith("exit status 1"), output[-3000:]
        assert "process 1 (node 1) of 2 found no checkpoint: ckpt_path='last'" in output
        assert "on a filesystem all nodes share, or copy the checkpoint" in output


def test_nodes_that_find_different_checkpoints_refuse_on_every_node_naming_both(shared, one_node, source, tmp_path):
    nodes = [tmp_path / "node0", tmp_path / "node1"]
    shutil.copytree(shared / "runs", nodes[0] / "runs")
    other = nodes[1] / RUN / "version_0/checkpoints"
    other.mkdir(parents=True)
    shutil.copy(epoch_file(one_node, 2), other / "last.ckpt")  # another fit's, an epoch further
    outputs = run_nodes(nodes, cli_args("fit", source, "--trainer.max_epochs", "4", "--ckpt_path", "last"), timeout=60)
    for output in outputs:
        assert output.startswith("exit status 1"), output[-3000:]
        assert "the processes found different checkpoints for --ckpt_path (process 0 (node 0): " in output
        assert "process 1 (node 1): " in output


def test_two_slurm_nodes_sharing_a_folder_write_one_run_equal_to_one_node_of_two_processes(one_node, source, tmp_path):
    assert_finished(run_nodes([tmp_path, tmp_path], cli_args("fit", source, "--trainer.max_epochs", "2"), launch=srun))
    assert {Path(name).parts[0] for name in run_files(tmp_path)} == {"version_0"}
    assert_same_weights(tmp_path / RUN / "version_0/checkpoints/last.ckpt", epoch_file(one_node, 1))


def test_two_nodes_fitting_series_shards_equal_one_node_of_two_processes_and_keep_every_series(tmp_path):
    source = write_series(tmp_path / "many.csv", [150, 180, 120, 200, 90, 160, 140, 110])
    args = cli_args("fit", source, "--trainer.max_epochs", "1", "--data.shard", "series")
    assert_finished(run_nodes([tmp_path / "nodes", tmp_path / "nodes"], args))
    alone = tmp_path / "alone"
    alone.mkdir()
    result = subprocess.run([sys.executable, "-m", "forecast", *args, "--trainer.devices", "2"], cwd=alone,
                            env=base_env(), capture_output=True, text=True, timeout=180)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    last = RUN / "version_0/checkpoints/last.ckpt"
    assert_same_weights(tmp_path / "nodes" / last, alone / last)
    state = torch.load(tmp_path / "nodes" / last, weights_only=False)["TimeSeriesDataModule"]
    assert sorted(map(str, state["series"])) == [f"s{number}" for number in range(8)]
