"""Hand mutation testing, round 5: tests for the mutants of ``forecast.runs`` (where ``last`` is found, which
``--ckpt_path`` is looked up before the build) and ``forecast.locks`` (an exclusive lock, taken afresh after its file
is removed; none without ``flock``) that the default suite let through. Each fails under its mutant and passes on the
real code."""

import errno
import fcntl
import os
import threading
import time
from importlib.metadata import version
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from forecast import locks
from forecast.runs import check_checkpoint_exists, resolve_checkpoint


def _shared_lock_free(lock: Path) -> bool:
    """Whether another open file description gets a shared ``flock`` on ``lock`` at once."""
    handle = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(handle)


def test_holding_locks_the_file_exclusively_and_removes_it_on_release(tmp_path):
    """While held, not even a shared lock is granted to another holder; afterwards the lock file is gone."""
    lock = tmp_path / "cache" / "data.csv.lock"
    with locks.holding(lock) as held:
        assert held is True
        assert not _shared_lock_free(lock)
    assert not lock.exists()


def test_holding_yields_false_and_locks_nothing_on_a_file_system_without_flock(tmp_path, monkeypatch):
    """Lustre without flock answers ENOLCK: the caller learns that nothing is locked, and no error escapes."""

    def no_flock(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with locks.holding(tmp_path / "data.csv.lock") as held:
        assert held is False


def test_a_waiter_whose_lock_file_was_removed_by_its_holder_locks_the_file_at_the_path(
    tmp_path,
):
    """A waits in ``holding`` while the test holds the lock; the test's release removes the file, so the waiter
    must lock a new file at the path, which a third process then finds locked, not the removed one."""
    lock = tmp_path / "data.csv.lock"
    entered, leave, seen = threading.Event(), threading.Event(), []

    def waiter() -> None:
        with locks.holding(lock):
            seen.append(lock.exists() and not _shared_lock_free(lock))
            entered.set()
            leave.wait(5)

    with locks.holding(lock):
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.2)  # the waiter blocks in flock on this file
        assert not entered.is_set()
    assert entered.wait(5)
    leave.set()
    thread.join(5)
    assert seen == [True]


def test_last_is_found_under_a_logger_called_trials_whose_versions_are_no_tune_trials(
    tmp_path,
):
    """``--trainer.logger.name trials`` puts a fit's checkpoints in ``trials/version_0/``: no tune trial
    (``trials/N/`` with N a number) and so the newest run's ``last.ckpt``."""
    folder = tmp_path / "trials" / "version_0" / "checkpoints"
    folder.mkdir(parents=True)
    checkpoint = {
        "state_dict": {},
        "hyper_parameters": {},
        "forecast_version": version("forecast"),
        "callbacks": {},
    }
    torch.save(checkpoint, folder / "last.ckpt")
    assert resolve_checkpoint("last", tmp_path) == str(folder / "last.ckpt")


@pytest.mark.parametrize("path", ["s3://bucket/runs/last.ckpt", "hpc", "registry:forecast:latest"])
def test_a_remote_ckpt_path_or_lightnings_keyword_is_left_to_lightning(path, tmp_path, monkeypatch):
    """Only local paths are looked up before the build: no local file is called ``s3://...`` or ``hpc``."""
    monkeypatch.chdir(tmp_path)
    assert check_checkpoint_exists(path, tmp_path) is None


def test_a_local_ckpt_path_that_names_no_file_is_refused_naming_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ckpt_path='runs/gone.ckpt' names no checkpoint file"):
        check_checkpoint_exists("runs/gone.ckpt", tmp_path)


def test_last_is_the_newest_of_the_runs_under_the_root_and_in_checkpoint_dirpath(tmp_path):
    """``checkpoint.dirpath`` adds its ``last.ckpt`` to the runs under the root: a later fit under the root wins."""
    checkpoint = {"state_dict": {}, "hyper_parameters": {}, "forecast_version": version("forecast"), "callbacks": {}}
    mine, run = tmp_path / "mine", tmp_path / "runs" / "lightning_logs" / "version_0" / "checkpoints"
    for folder in (mine, run):
        folder.mkdir(parents=True)
        torch.save(checkpoint, folder / "last.ckpt")
    os.utime(mine / "last.ckpt", (0, 0))  # the older fit
    callback = SimpleNamespace(dirpath=str(mine), state_key="ModelCheckpoint")
    assert resolve_checkpoint("last", tmp_path / "runs", callback) == str(run / "last.ckpt")
