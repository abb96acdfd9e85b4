"""Caches that several processes share at once (DDP ranks, ``benchmarks/ltsf.py --jobs``, test workers): the
data sets' downloads in ``$FORECAST_DATA`` and the compiled kernels in ``$XDG_CACHE_HOME/forecast/kernels``.

Downloads are served by a local HTTP server on 127.0.0.1; the processes are forked (no second import of torch).
"""

import dataclasses
import errno
import fcntl
import hashlib
import http.server
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_datasets import _ett_csv

from forecast import ForecastDataError, datasets, locks
from forecast.datasets import registry
from forecast.kernels import build

FIRST, SECOND = _ett_csv(40), _ett_csv(41)  # two versions of a source that changes between two requests


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.bodies[path]`` in turn, one per request (a source that changes between requests),
    half the body first, then the rest after ``server.pause`` seconds, so that downloads overlap; counts the
    requests in ``server.requests``. A request while ``server.stall`` is set gets half its body, then waits."""

    def do_GET(self) -> None:
        with self.server.counting:
            bodies, served = self.server.bodies[self.path], self.server.requests.get(self.path, 0)
            self.server.requests[self.path] = served + 1
        body = bodies[served % len(bodies)]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if self.server.stall.is_set():
            self.server.released.wait(10)
            return
        time.sleep(self.server.pause)
        self.wfile.write(body[len(body) // 2 :])

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.bodies, httpd.requests, httpd.counting, httpd.pause = {}, {}, threading.Lock(), 0.1
    httpd.stall, httpd.released = threading.Event(), threading.Event()
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield httpd
    httpd.released.set()
    httpd.shutdown()
    httpd.server_close()


def _serve(server, monkeypatch, *bodies: bytes) -> str:
    """Serve ``bodies`` in turn as ETTm1 (no hash in the registry: its first download records one)."""
    path = "/ETTm1.csv"
    server.bodies[path] = bodies
    url = f"http://127.0.0.1:{server.server_port}{path}"
    monkeypatch.setitem(registry.DATASETS, "ettm1", dataclasses.replace(datasets.info("ettm1"), url=url))
    return path


def _frame(body: bytes) -> pd.DataFrame:
    return pd.read_csv(pd.io.common.BytesIO(body), index_col=0, parse_dates=[0])


def _settled(folder: Path, body: bytes) -> None:
    """``folder`` holds the data set's file, ``body``, and its hash recorded beside it, and nothing else."""
    assert sorted(path.name for path in folder.iterdir()) == ["ETTm1.csv", "ETTm1.csv.sha256.json"]
    assert (folder / "ETTm1.csv").read_bytes() == body
    assert json.loads((folder / "ETTm1.csv.sha256.json").read_text())["sha256"] == hashlib.sha256(body).hexdigest()


def test_threads_loading_one_data_set_into_an_empty_cache_download_it_once_and_agree(server, monkeypatch, data_cache):
    """Each load downloaded the file for itself: N processes fetched it N times, and a source that changed in
    between left one process's bytes in place under another's recorded hash, refused by every later load."""
    path = _serve(server, monkeypatch, FIRST, SECOND)
    frames = [None] * 3

    def load(slot: int) -> None:
        try:
            frames[slot] = datasets.load("ettm1")
        except Exception as error:  # the test's failure names it
            frames[slot] = error

    threads = [threading.Thread(target=load, args=(slot,)) for slot in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [str(frame) for frame in frames if not isinstance(frame, pd.DataFrame)] == []
    assert server.requests[path] == 1
    for frame in frames:
        np.testing.assert_array_equal(frame.to_numpy(), _frame(FIRST).to_numpy())
    _settled(data_cache, FIRST)
    np.testing.assert_array_equal(datasets.load("ettm1").to_numpy(), _frame(FIRST).to_numpy())


def _load_into(queue, barrier) -> None:
    barrier.wait()
    try:
        queue.put(hashlib.sha256(datasets.load("ettm1").to_csv().encode()).hexdigest())
    except Exception as error:  # the parent reports it
        queue.put(repr(error))


@pytest.mark.slow
def test_processes_loading_one_data_set_into_an_empty_cache_download_it_once_and_agree(server, monkeypatch, data_cache):
    path = _serve(server, monkeypatch, FIRST, SECOND)
    context = multiprocessing.get_context("fork")
    queue, barrier = context.Queue(), context.Barrier(4)
    processes = [context.Process(target=_load_into, args=(queue, barrier)) for _ in range(4)]
    for process in processes:
        process.start()
    answers = [queue.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(10)
    expected = hashlib.sha256(_frame(FIRST).rename_axis("date").to_csv().encode()).hexdigest()
    assert answers == [expected] * 4
    assert server.requests[path] == 1
    _settled(data_cache, FIRST)


def test_a_leftover_part_of_a_killed_download_is_deleted_by_the_next_download(server, monkeypatch, data_cache):
    """What a SIGKILL mid-download leaves (``<file>.<random>.part``, up to the data set's size) stayed forever."""
    _serve(server, monkeypatch, FIRST)
    server.pause = 0
    data_cache.mkdir()
    (data_cache / f"ETTm1.csv.{'0' * 32}.part").write_bytes(FIRST[:100])
    np.testing.assert_array_equal(datasets.load("ettm1").to_numpy(), _frame(FIRST).to_numpy())
    _settled(data_cache, FIRST)


@pytest.mark.slow
def test_a_download_killed_mid_way_leaves_a_cache_the_next_load_downloads_into_cleanly(server, monkeypatch, data_cache):
    body = _ett_csv(40000)  # half of it is more than the megabyte the download reads at a time: written to disk
    _serve(server, monkeypatch, body)
    server.stall.set()
    process = multiprocessing.get_context("fork").Process(target=datasets.load, args=("ettm1",))
    process.start()
    deadline = time.monotonic() + 20
    while not any(path.suffix == ".part" and path.stat().st_size for path in data_cache.glob("*")):
        assert time.monotonic() < deadline, "the download never began"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.join(10)
    server.stall.clear()
    server.released.set()
    np.testing.assert_array_equal(datasets.load("ettm1").to_numpy(), _frame(body).to_numpy())
    _settled(data_cache, body)


as_root = pytest.mark.skipif(os.getuid() != 0, reason="switches to another user, as root only can")


def _as_another_user(work, *args) -> str:
    """``work(*args)``'s answer, or its error's text, from a forked process of user and group 65534 (nobody):
    root, who runs these tests, writes into read-only folders and enters every folder."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        try:
            os.setgid(65534)
            os.setuid(65534)
            answer = str(work(*args))
        except BaseException as error:
            answer = f"{type(error).__name__}: {error}"
        os.write(write, answer.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    return answer


@pytest.fixture
def shared_folder():
    """A folder every user may read, and only its owner write (``tmp_path`` is readable by root only)."""
    folder = Path(tempfile.mkdtemp(prefix="forecast-shared-"))
    folder.chmod(0o755)
    yield folder
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.unlink()
    folder.rmdir()


@as_root
def test_a_read_only_cache_folder_refuses_a_download_by_name_and_loads_what_it_holds(
    server, monkeypatch, shared_folder
):
    _serve(server, monkeypatch, FIRST)
    server.pause = 0
    monkeypatch.setenv("FORECAST_DATA", str(shared_folder))
    shared_folder.chmod(0o555)
    answer = _as_another_user(datasets.load, "ettm1")
    assert answer.startswith(f"ForecastDataError: cannot create the data cache folder {shared_folder} or write")
    assert "point FORECAST_DATA at a folder you can write" in answer
    assert list(shared_folder.iterdir()) == []
    shared_folder.chmod(0o755)
    datasets.load("ettm1")  # as its owner: downloaded, its hash recorded
    for path in shared_folder.iterdir():
        path.chmod(0o444)
    shared_folder.chmod(0o555)
    assert _as_another_user(lambda: len(datasets.load("ettm1"))) == "40"


@as_root
def test_a_lock_and_a_part_another_user_left_in_a_shared_folder_do_not_stop_a_download(
    server, monkeypatch, shared_folder
):
    """In a folder all users write and only their owners delete from (mode 1777), another user's lock file
    and ``*.part``, left by a killed download, are locked and left as they are."""
    _serve(server, monkeypatch, FIRST)
    server.pause = 0
    monkeypatch.setenv("FORECAST_DATA", str(shared_folder))
    shared_folder.chmod(0o1777)
    leftovers = {"ETTm1.csv.lock": b"", f"ETTm1.csv.{'0' * 32}.part": FIRST[:100]}
    for name, body in leftovers.items():
        (shared_folder / name).write_bytes(body)
        (shared_folder / name).chmod(0o644)
    assert _as_another_user(lambda: len(datasets.load("ettm1"))) == "40"
    assert sorted(path.name for path in shared_folder.iterdir()) == sorted(
        ["ETTm1.csv", "ETTm1.csv.sha256.json", *leftovers]
    )


def test_a_file_system_without_flock_still_downloads(server, monkeypatch, data_cache):
    """Lustre mounted without ``flock``, some FUSE file systems: the lock is refused with ENOLCK or ENOSYS."""
    _serve(server, monkeypatch, FIRST)
    server.pause = 0

    def no_flock(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    np.testing.assert_array_equal(datasets.load("ettm1").to_numpy(), _frame(FIRST).to_numpy())
    _settled(data_cache, FIRST)


@as_root
def test_a_cache_folder_this_user_may_not_reach_is_refused_by_name(monkeypatch):
    """Under a folder of another user (mode 700), every load failed with a bare PermissionError."""
    private = Path(tempfile.mkdtemp(prefix="forecast-private-"))  # mode 700, root's
    try:
        monkeypatch.setenv("FORECAST_DATA", str(private / "data"))
        answer = _as_another_user(datasets.load, "weather")
    finally:
        private.rmdir()
    assert answer == (
        f"ForecastDataError: cannot reach the data cache folder {private / 'data'} (Permission denied); "
        "point FORECAST_DATA at a folder you can read and write"
    )


def test_a_cache_folder_that_is_a_file_is_refused_by_name_for_a_data_set_put_there_by_hand(tmp_path, monkeypatch):
    """``weather`` (no download) was told to be put at ``<the file>/weather.csv``, a path that cannot exist."""
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("FORECAST_DATA", str(tmp_path / "afile"))
    with pytest.raises(
        ForecastDataError,
        match=r"data cache folder .*afile: it is a file, not a folder.*point FORECAST_DATA at a folder",
    ):
        datasets.load("weather")


# The kernel data_cache: ``build.py`` alone, with the one module it imports (``forecast.locks``), each loaded from its
# file in a fresh interpreter (no torch to import).
_BUILD = f"""
import importlib.util, sys
from pathlib import Path
files = {{"forecast.locks": {str(Path(locks.__file__))!r}, "forecast.kernels.build": {str(Path(build.__file__))!r}}}
for name, file in files.items():
    spec = importlib.util.spec_from_file_location(name, file)
    sys.modules[name] = module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
print(module.load_library(Path(sys.argv[1])).answer())
"""


@pytest.fixture
def source(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 42; }\n")
    return source


def _load_in_a_process(source: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _BUILD, str(source)], capture_output=True, text=True, timeout=60)


def test_a_truncated_library_in_the_kernel_cache_is_rebuilt_not_a_bus_error(source, tmp_path, monkeypatch):
    """A library cut short (a crash or a full disk while it was written, a cache copied in part) was handed to
    the loader, which maps pages past the file's end: the process died of SIGBUS at its first SRU forward."""
    build.load_library(source)
    (built,) = build.cache_dir().iterdir()
    whole = built.read_bytes()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other"))
    cached = build.cache_dir() / built.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(whole[: len(whole) // 2])
    result = _load_in_a_process(source)
    assert (result.returncode, result.stdout) == (0, "42\n"), result.stderr
    assert len(cached.read_bytes()) == len(whole)


@pytest.mark.slow
def test_processes_building_one_kernel_into_an_empty_cache_each_load_a_whole_library(source):
    processes = [
        subprocess.Popen([sys.executable, "-c", _BUILD, str(source)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    assert [process.communicate(timeout=60)[0] for process in processes] == ["42\n"] * 4
    assert [path.suffix for path in build.cache_dir().iterdir()] == [".so"]  # no temporary file left behind


def _no_home() -> Path:
    raise RuntimeError("Could not determine home directory.")


@pytest.mark.parametrize("where", ["cache under a file", "no home folder"])
def test_a_library_built_in_a_folder_of_its_own_leaves_no_folder_behind(source, tmp_path, monkeypatch, where):
    """A read-only or missing home: each process (every run, every DDP rank) left a folder with its library in
    the temporary folder, for good."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    if where == "no home folder":
        monkeypatch.delenv("XDG_CACHE_HOME")
        monkeypatch.setattr(build.Path, "home", _no_home)
    else:
        (tmp_path / "afile").write_text("")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "afile"))
    assert build.load_library(source).answer() == 42
    assert list((tmp_path / "tmp").iterdir()) == []
