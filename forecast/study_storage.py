"""A study's storage: Optuna's RDB storage shared by the processes of one study, and the trials of ended workers."""

import contextlib
import os
import socket
import time
from pathlib import Path

import optuna
import sqlalchemy

__all__ = ["fail_orphaned_trials", "rdb_storage"]


def rdb_storage(url: str, heartbeat_interval: int, attempts: int = 4) -> optuna.storages.RDBStorage:
    """Optuna's RDB storage at ``url``, with heartbeats and (for SQLite) a long lock wait.

    Workers started together on a new database race to create its tables, and all but one fail
    with a database error; they try again once the winner is done, since the tables then exist.

    Raises:
        ValueError: ``url`` is no database URL (a file path, say), or a SQLite file's directory does not exist.
    """
    _check_url(url)
    engine_kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else None
    for attempt in range(1, attempts + 1):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs, heartbeat_interval=heartbeat_interval)
        except sqlalchemy.exc.ArgumentError as error:  # a scheme no SQLAlchemy dialect takes (journal://, say)
            raise ValueError(_bad_url(url, str(error))) from None
        except sqlalchemy.exc.DBAPIError:
            if attempt == attempts:
                raise
            time.sleep(attempt)


def _check_url(url: str) -> None:
    """Refuses a ``--storage`` that is no database URL, or a SQLite file in a directory that does not exist
    (which SQLite reports only as "unable to open database file").

    Raises:
        ValueError: naming ``--storage`` and the URL forms it takes.
    """
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError as error:
        raise ValueError(_bad_url(url, str(error))) from None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    if not (folder := Path(parsed.database).parent).is_dir():
        raise ValueError(
            f"--storage {url}: the directory {folder} of the SQLite file does not exist; create it first, or "
            "leave --storage out for a study.db in the run directory"
        )


def _bad_url(url: str, reason: str) -> str:
    """The error for a ``--storage`` that Optuna's RDB storage does not take."""
    return (
        f"--storage {url!r} is no database URL Optuna's RDB storage takes ({reason}); give one such as "
        "sqlite:///path/to/study.db (three slashes, then the path; four for an absolute one) or "
        "postgresql://user:password@host/database"
    )


def fail_orphaned_trials(study: optuna.Study) -> None:
    """Marks failed the running trials whose worker (``host:pid``) is a process of this machine that no
    longer exists: a worker killed a moment ago, whose heartbeat has not yet gone stale."""
    host = socket.gethostname()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        worker_host, _, pid = trial.user_attrs.get("worker", "").rpartition(":")
        if worker_host != host or not pid.isdigit() or _process_exists(int(pid)):
            continue
        # The storage's own calls, as optuna.storages.fail_stale_trials makes them: no public call ends another
        # process's trial.
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # another worker failed it first
            study._storage.set_trial_user_attr(trial._trial_id, "error", f"its worker {host}:{pid} ended")
            study._storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)


def _process_exists(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (another user's too)."""
    try:
        os.kill(pid, 0)  # signal 0 sends nothing, it only checks
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True
