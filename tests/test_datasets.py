import dataclasses
import errno
import gzip
import hashlib
import http.server
import importlib
import io
import json
import os
import re
import socket
import stat
import struct
import threading
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import ForecastDataError, TimeSeriesDataModule, datasets
from forecast.data import ETTSplit, FractionSplit
from forecast.data.splits import default_split
from forecast.datasets import registry

ETT_COLUMNS = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files``; a path in ``server.cut`` gets half its body, then the connection closes, one
    in ``server.unsized`` the same without a Content-Length (nothing tells the client it was cut), and one in
    ``server.reset`` half its body, then the connection is reset (a TCP RST, as a crashed proxy sends)."""

    def do_GET(self) -> None:
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        if self.path not in self.server.unsized:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = self.path in self.server.cut or self.path in self.server.unsized or self.path in self.server.reset
        self.wfile.write(body[: len(body) // 2] if cut else body)
        if self.path in self.server.reset:
            time.sleep(0.25)  # the client reads the headers first: the reset comes while it reads the body
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.rfile.close()  # closed here, with no FIN first: the socket server would shut it down cleanly
            self.wfile.close()
            self.connection.close()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def server():
    """A local HTTP server on 127.0.0.1: the real download code, and no internet."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.cut, httpd.unsized, httpd.reset = {}, set(), set(), set()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _serve(
    server, monkeypatch, name: str, body: bytes, cut: bool = False, unsized: bool = False, reset: bool = False
) -> str:
    """Serve ``body`` as data set ``name``'s file and point the registry's URL at it."""
    path = f"/{name}/{datasets.info(name).file}"
    server.files[path] = body
    (server.cut.add if cut else server.cut.discard)(path)
    (server.unsized.add if unsized else server.unsized.discard)(path)
    (server.reset.add if reset else server.reset.discard)(path)
    url = f"http://127.0.0.1:{server.server_port}{path}"
    monkeypatch.setitem(registry.DATASETS, name, dataclasses.replace(datasets.info(name), url=url))
    return url


def _ett_csv(rows: int, freq: str = "15min") -> bytes:
    values = np.arange(rows * 7, dtype=np.float64).reshape(rows, 7) / 8
    frame = pd.DataFrame(values, columns=ETT_COLUMNS, index=pd.date_range("2016-07-01", periods=rows, freq=freq))
    return frame.rename_axis("date").to_csv().encode()


def test_etth1_is_packaged_unmodified():
    data = gzip.decompress((resources.files("forecast.datasets") / "etth1.csv.gz").read_bytes())
    assert hashlib.sha256(data).hexdigest() == datasets.info("etth1").sha256


def test_load_etth1_has_hourly_datetime_index():
    frame = datasets.load("ETTh1")
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.freqstr == "h"
    assert (frame.index[0], frame.index[-1]) == (pd.Timestamp("2016-07-01 00:00"), pd.Timestamp("2018-06-26 19:00"))
    assert list(frame.columns) == ETT_COLUMNS
    assert frame.iloc[0]["OT"] == pytest.approx(30.5310001373291)


def test_load_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match="'etth1'"):
        datasets.load("etth9")


@pytest.mark.parametrize("name", datasets.names())
def test_info_split_preset_fits_the_frequency(name):
    record = datasets.info(name)
    split = record.split["init_args"]
    if record.split["class_path"] == "forecast.data.ETTSplit":  # the ETT borders count 30-day months of hours
        step = pd.Timedelta(pd.tseries.frequencies.to_offset(record.freq))
        assert step * split["rows_per_hour"] == pd.Timedelta("1h")
    else:
        assert (record.split["class_path"], split) == ("forecast.data.FractionSplit", {"val": 0.1, "test": 0.2})
    assert record.licence and record.citation


def test_download_reads_the_served_file_and_records_its_hash(server, monkeypatch, data_cache):
    body = _ett_csv(50)
    url = _serve(server, monkeypatch, "ettm1", body)
    frame = datasets.load("ettm1")
    assert frame.index.freqstr == "15min" and list(frame.columns) == ETT_COLUMNS
    np.testing.assert_array_equal(frame.to_numpy(), np.arange(350).reshape(50, 7) / 8)
    record = json.loads((data_cache / "ETTm1.csv.sha256.json").read_text())
    assert record == {"url": url, "sha256": hashlib.sha256(body).hexdigest()}
    assert sorted(path.name for path in data_cache.iterdir()) == ["ETTm1.csv", "ETTm1.csv.sha256.json"]


def test_load_refuses_a_file_changed_after_its_hash_was_recorded(server, monkeypatch, data_cache):
    _serve(server, monkeypatch, "ettm2", _ett_csv(20))
    datasets.load("ettm2")
    (data_cache / "ETTm2.csv").write_bytes(_ett_csv(19))
    with pytest.raises(ForecastDataError, match="ETTm2.csv has sha256 .* delete .*ETTm2.csv and"):
        datasets.load("ettm2")


def test_download_with_a_wrong_checksum_keeps_nothing(server, monkeypatch, data_cache):
    _serve(server, monkeypatch, "etth2", _ett_csv(20, freq="h"))  # ETTh2's recorded sha256 is not this file's
    with pytest.raises(ForecastDataError, match="not the recorded a3dc2c59"):
        datasets.load("etth2")
    assert list(data_cache.iterdir()) == []


def _interrupted(url: str, data_cache: Path, cause: str) -> str:
    """The message of a download of ``url`` that stopped part-way: interrupted, the cause, the path, the retry."""
    path = re.escape(str(data_cache / "ETTm1.csv"))
    return rf"the download of {re.escape(url)} was interrupted \({cause}.*nothing kept at {path}: .*again to retry"


def test_interrupted_download_keeps_nothing(server, monkeypatch, data_cache):
    url = _serve(server, monkeypatch, "ettm1", _ett_csv(50), cut=True)
    with pytest.raises(
        FileNotFoundError, match=_interrupted(url, data_cache, "the server closed the connection after")
    ):
        datasets.load("ettm1")
    assert list(data_cache.iterdir()) == []


def test_a_connection_reset_mid_download_says_it_was_interrupted_and_keeps_nothing(server, monkeypatch, data_cache):
    """A reset while reading the body was told as being offline ("without internet, fetch that file elsewhere")."""
    url = _serve(server, monkeypatch, "ettm1", _ett_csv(2000), reset=True)
    with pytest.raises(FileNotFoundError, match=_interrupted(url, data_cache, r"\[Errno \d+\] Connection reset")):
        datasets.load("ettm1")
    assert list(data_cache.iterdir()) == []


def test_a_network_lost_mid_download_is_not_taken_for_a_full_disk(server, monkeypatch, data_cache):
    """A socket error while reading the body other than a reset (the route to the server lost) was reported
    as a failed write: "cannot write the download ... free some space there"."""
    url = _serve(server, monkeypatch, "ettm1", _ett_csv(2000), cut=True)
    recv_into = socket.socket.recv_into

    def losing_the_route(sock, *args, **kwargs):  # the client's end, once the server has stopped sending
        received = recv_into(sock, *args, **kwargs)
        if received == 0 and sock.getpeername()[1] == server.server_port:
            raise OSError(errno.EHOSTUNREACH, os.strerror(errno.EHOSTUNREACH))
        return received

    monkeypatch.setattr(socket.socket, "recv_into", losing_the_route)
    with pytest.raises(FileNotFoundError, match=_interrupted(url, data_cache, r"\[Errno \d+\] No route to host")):
        datasets.load("ettm1")
    assert list(data_cache.iterdir()) == []


def test_leftover_part_file_of_a_killed_download_is_not_taken_as_the_data(server, monkeypatch, data_cache):
    body = _ett_csv(50)
    _serve(server, monkeypatch, "ettm1", body)
    data_cache.mkdir()
    (data_cache / "ETTm1.csv.k1ll3d.part").write_bytes(body[: len(body) // 2])  # what a SIGKILL mid-download leaves
    assert len(datasets.load("ettm1")) == 50


def test_offline_load_names_the_url_and_the_path(monkeypatch, data_cache):
    with socket.socket() as closed:  # a port that nothing listens on: the download is refused, as offline
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}/ETTm1.csv"
    monkeypatch.setitem(registry.DATASETS, "ettm1", dataclasses.replace(datasets.info("ettm1"), url=url))
    with pytest.raises(FileNotFoundError, match=f"cannot download {url} .*put it at {data_cache / 'ETTm1.csv'}, where"):
        datasets.load("ettm1")


def test_file_put_by_hand_at_the_named_path_is_loaded(data_cache):
    with pytest.raises(
        FileNotFoundError, match=f"no stable download; put the literature's weather.csv .* at {data_cache}"
    ):
        datasets.load("weather")
    data_cache.mkdir()
    (data_cache / "weather.csv").write_bytes(_ett_csv(30, freq="10min"))
    frame = datasets.load("weather")
    assert (len(frame), frame.index.freqstr) == (30, "10min")
    assert (data_cache / "weather.csv.sha256.json").is_file()


def test_headerless_file_gets_the_literature_times_and_columns(server, monkeypatch, data_cache):
    values = np.arange(12, dtype=np.float64).reshape(4, 3) / 4
    body = gzip.compress(pd.DataFrame(values).to_csv(header=False, index=False).encode())
    _serve(server, monkeypatch, "electricity", body)
    frame = datasets.load("electricity")
    assert list(frame.columns) == ["0", "1", "OT"]
    assert list(frame.index) == list(pd.date_range("2016-07-01 02:00", periods=4, freq="h"))
    np.testing.assert_array_equal(frame.to_numpy(), values)


def test_data_source_ettm1_from_the_cache_takes_the_ett_preset(data_cache):
    data_cache.mkdir()
    (data_cache / "ETTm1.csv").write_bytes(_ett_csv(20 * 30 * 24 * 4))  # the ETT borders' 20 months of 15 minutes
    split = ETTSplit(**datasets.info("ettm1").split["init_args"])
    data = TimeSeriesDataModule(source="ettm1", lookback=96, horizon=96, split=split)
    assert (data.freq, data.input_size) == ("15min", 7)
    assert data.borders.tolist() == [[34560, 46080, 57600]]


ERROR_PAGE = b"<html><body>429 Too Many Requests</body></html>"


@pytest.mark.parametrize("name", ["ettm1", "electricity"])
def test_an_error_page_served_as_the_file_keeps_nothing_and_records_no_hash(server, monkeypatch, data_cache, name):
    url = _serve(server, monkeypatch, name, ERROR_PAGE)
    with pytest.raises(ForecastDataError, match=f"{url} is not {name}'s .* nothing kept"):
        datasets.load(name)
    assert list(data_cache.iterdir()) == []


def test_a_gzip_file_cut_short_without_a_length_keeps_nothing(server, monkeypatch, data_cache):
    # exchange_rate's recorded sha256 is the real file's: without it, only the reader can tell
    monkeypatch.setitem(
        registry.DATASETS, "exchange_rate", dataclasses.replace(datasets.info("exchange_rate"), sha256=None)
    )
    _serve(server, monkeypatch, "exchange_rate", gzip.compress(b"0.5,0.25\n" * 200), unsized=True)
    with pytest.raises(ForecastDataError, match="is not exchange_rate's gzip file .* nothing kept"):
        datasets.load("exchange_rate")
    assert list(data_cache.iterdir()) == []


def test_a_second_download_is_checked_against_the_hash_recorded_at_the_first(server, monkeypatch, data_cache):
    first = _ett_csv(20)
    _serve(server, monkeypatch, "ettm1", first)
    datasets.load("ettm1")
    (data_cache / "ETTm1.csv").unlink()  # the record stays
    _serve(server, monkeypatch, "ettm1", _ett_csv(19))
    with pytest.raises(
        ForecastDataError, match="not the recorded .* nothing kept .delete .*ETTm1.csv.sha256.json to accept"
    ):
        datasets.load("ettm1")
    assert sorted(path.name for path in data_cache.iterdir()) == ["ETTm1.csv.sha256.json"]
    _serve(server, monkeypatch, "ettm1", first)
    assert len(datasets.load("ettm1")) == 20


def test_a_file_placed_by_hand_is_recorded_only_once_it_reads(data_cache):
    data_cache.mkdir()
    (data_cache / "weather.csv").write_bytes(ERROR_PAGE)
    with pytest.raises(ForecastDataError, match="weather.csv is not weather's CSV .* put the literature's file"):
        datasets.load("weather")
    assert not (data_cache / "weather.csv.sha256.json").exists()
    (data_cache / "weather.csv").write_bytes(_ett_csv(30, freq="10min"))
    assert len(datasets.load("weather")) == 30
    (data_cache / "weather.csv").write_bytes(_ett_csv(31, freq="10min"))
    with pytest.raises(ForecastDataError, match="put the literature's file back, or delete .*weather.csv.sha256.json"):
        datasets.load("weather")


def test_info_gives_a_copy_that_the_caller_may_change():
    datasets.info("traffic").split["init_args"]["test"] = 0.3
    assert datasets.info("traffic").split["init_args"] == {"val": 0.1, "test": 0.2}
    assert repr(default_split("electricity")) == repr(FractionSplit(val=0.1, test=0.2))


def test_bad_names_and_cache_folders_are_refused_by_name(tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="a data set is named by a string, one of .*'etth1'.*; got None"):
        datasets.load(None)
    (tmp_path / "afile").write_text("")
    monkeypatch.setenv("FORECAST_DATA", str(tmp_path / "afile"))
    with pytest.raises(ForecastDataError, match="cannot create the data cache folder .*afile.* point FORECAST_DATA"):
        datasets.load("ettm1")
    monkeypatch.setenv("FORECAST_DATA", "~/forecast-data")
    assert datasets.cache_dir() == Path.home() / "forecast-data"


def test_a_file_with_a_repeated_time_and_a_gap_is_stamped_by_row_as_the_literature_reads_it(data_cache):
    """The Autoformer bundle's weather.csv repeats 2020-05-12 06:00 and skips steps: every row is kept, in
    order, so the 70/10/20 borders are the published ones, and the data module takes the source."""
    times = pd.date_range("2020-01-01 00:10", periods=40, freq="10min")
    times = times[:10].append(times[9:20]).append(times[22:])  # row 10 repeats row 9's time; two steps skipped
    values = np.arange(len(times) * 3, dtype=np.float64).reshape(-1, 3)
    data_cache.mkdir()
    pd.DataFrame(values, index=times.rename("date"), columns=["p", "T", "OT"]).to_csv(data_cache / "weather.csv")
    with pytest.warns(UserWarning, match=r"weather.csv: 2 step\(s\) are not 10min .* row 10, 2020-01-01 01:40:00 then"):
        frame = datasets.load("weather")
    assert frame.index.equals(pd.date_range("2020-01-01 00:10", periods=len(times), freq="10min", name="date"))
    np.testing.assert_array_equal(frame.to_numpy(), values)
    with pytest.warns(UserWarning, match="stamped every 10min"):
        data = TimeSeriesDataModule(source="weather", lookback=4, horizon=2)
    assert data.borders.tolist() == [[int(len(times) * 0.7), len(times) - int(len(times) * 0.2), len(times)]]


@pytest.fixture
def umask_022():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_downloaded_files_get_the_permissions_of_any_new_file(server, monkeypatch, data_cache, umask_022):
    """They were moved into place from ``tempfile``'s files, readable by their owner only (0600): the other
    users of a shared ``FORECAST_DATA`` could not load the data set."""
    _serve(server, monkeypatch, "ettm1", _ett_csv(20))
    datasets.load("ettm1")
    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in data_cache.iterdir()}
    assert modes == {"ETTm1.csv": 0o644, "ETTm1.csv.sha256.json": 0o644}


def test_a_hash_that_cannot_be_recorded_is_refused_by_name_and_leaves_no_part_file(data_cache, monkeypatch):
    """In a read-only folder, a file put there by hand failed with a bare PermissionError of a temporary name."""
    data_cache.mkdir()
    (data_cache / "weather.csv").write_bytes(_ett_csv(30, freq="10min"))
    replace = os.replace

    def read_only(source, target):
        if str(target).endswith(".sha256.json"):
            raise PermissionError(13, "Permission denied", str(target))
        replace(source, target)

    monkeypatch.setattr(os, "replace", read_only)
    with pytest.raises(ForecastDataError, match=r"cannot record the sha256 of .*weather.csv .*Permission denied.*"
                       r"load it once where .*cache is writable"):  # fmt: skip
        datasets.load("weather")
    assert sorted(path.name for path in data_cache.iterdir()) == ["weather.csv"]


def _unwritable(monkeypatch, folder: Path) -> None:
    """Make ``open`` in the download module refuse to create files in ``folder``, as a read-only folder of
    another user does (the tests run as root, whom no permission bit stops)."""
    module = importlib.import_module("forecast.datasets.download")

    def refusing(file, mode="r", *args, **kwargs):
        if Path(file).parent == folder and "x" in mode:
            raise PermissionError(13, "Permission denied", str(file))
        return open(file, mode, *args, **kwargs)

    monkeypatch.setattr(module, "open", refusing, raising=False)


def test_a_download_into_a_cache_folder_that_cannot_be_written_is_refused_by_name(server, monkeypatch, data_cache):
    """A shared, read-only FORECAST_DATA failed with a bare PermissionError naming a temporary ``.part`` file."""
    _serve(server, monkeypatch, "ettm1", _ett_csv(20))
    data_cache.mkdir()
    _unwritable(monkeypatch, data_cache)
    with pytest.raises(ForecastDataError, match=r"data cache folder .*cache.*Permission denied.*point FORECAST_DATA"):
        datasets.load("ettm1")
    assert list(data_cache.iterdir()) == []


@pytest.mark.parametrize("unreadable", ["weather.csv", "weather.csv.sha256.json"])
def test_a_cached_file_another_user_left_unreadable_is_refused_by_name(unreadable, data_cache, monkeypatch):
    """Files of a shared FORECAST_DATA that an earlier version downloaded were readable by their owner only:
    the other users' loads failed with a bare PermissionError."""
    data_cache.mkdir()
    (data_cache / "weather.csv").write_bytes(_ett_csv(30, freq="10min"))
    datasets.load("weather")  # records its hash
    refused = data_cache / unreadable
    module, read_text = importlib.import_module("forecast.datasets.download"), Path.read_text

    def refuse(file: Path) -> None:  # as a file of mode 0600 of another user refuses a reader other than root
        if Path(file) == refused:
            raise PermissionError(13, "Permission denied", str(file))

    def opening(file, *args, **kwargs):
        refuse(file)
        return open(file, *args, **kwargs)

    def reading(path, *args, **kwargs):
        refuse(path)
        return read_text(path, *args, **kwargs)

    monkeypatch.setattr(module, "open", opening, raising=False)
    monkeypatch.setattr(Path, "read_text", reading)
    with pytest.raises(ForecastDataError, match=rf"cannot read .*{unreadable} \(Permission denied\).*FORECAST_DATA"):
        datasets.load("weather")


class _Failing(http.server.BaseHTTPRequestHandler):
    """Answers ``/moved`` with a redirect to ``/gone`` and every other path with the status its name gives."""

    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/gone")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(500 if self.path == "/broken" else 404)

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize(
    ("path", "status"),
    [("/gone", r"HTTP 404 Not Found"), ("/broken", r"HTTP 500 Internal Server Error"), ("/moved", r"HTTP 404 .*/gone")],
)
def test_an_http_error_names_its_status_and_where_a_redirect_led(monkeypatch, data_cache, path, status):
    """A 404 or 500 said only "(Not Found)", told to do without internet though the server had answered, and
    hid where a redirect led."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_port}{path}"
    monkeypatch.setitem(registry.DATASETS, "ettm1", dataclasses.replace(datasets.info("ettm1"), url=url))
    try:
        with pytest.raises(
            FileNotFoundError, match=rf"cannot download {url} \({status}.*put it at .*ETTm1.csv"
        ) as error:
            datasets.load("ettm1")
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert "internet" not in str(error.value)
    assert list(data_cache.iterdir()) == []


@pytest.mark.parametrize("recorded", [None, "", "not a hash", 7])
def test_a_hash_record_without_a_sha256_is_refused_by_name(data_cache, recorded):
    """A record of ``{"sha256": null}`` was taken as no record: any file was accepted and the record rewritten."""
    data_cache.mkdir()
    (data_cache / "weather.csv").write_bytes(_ett_csv(30, freq="10min"))
    (data_cache / "weather.csv.sha256.json").write_text(json.dumps({"url": None, "sha256": recorded}))
    with pytest.raises(ForecastDataError, match=r"weather.csv.sha256.json holds no sha256; delete it"):
        datasets.load("weather")


def test_without_a_home_folder_the_cache_asks_for_forecast_data(monkeypatch):
    """A container run under a user id without a home folder: pathlib's bare RuntimeError became a message."""

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.delenv("FORECAST_DATA", raising=False)
    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    with pytest.raises(ForecastDataError, match=r"no folder to keep downloaded data sets in .*: set FORECAST_DATA"):
        datasets.cache_dir()


def test_a_relative_cache_folder_is_named_by_its_absolute_path(tmp_path, monkeypatch):
    """``FORECAST_DATA=data`` named ``data/ETTm1.csv`` as the place to put a file by hand: relative to a working
    folder that the reader of the message (a cluster job's log, say) does not know."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FORECAST_DATA", "data")
    assert datasets.cache_dir() == tmp_path / "data"
    with pytest.raises(FileNotFoundError, match=f"put the literature's weather.csv .* at {tmp_path / 'data'}/"):
        datasets.load("weather")


@pytest.mark.parametrize(
    ("name", "rows", "last"),
    [
        ("exchange_rate", 7588, "2010-10-10"),
        ("electricity", 26304, "2019-07-02 01:00"),
        ("traffic", 17544, "2018-07-02 01:00"),
        ("solar", 52560, "2006-12-31 23:50"),
    ],
)
def test_headerless_sets_are_stamped_as_the_literature_csvs(name, rows, last):
    """The Autoformer bundle's CSVs of Lai et al.'s files: exchange rates daily from 1990-01-01, electricity
    and traffic hourly from 2016-07-01 02:00; solar (no CSV there) every 10 minutes through 2006."""
    record = datasets.info(name)
    assert pd.date_range(record.start, periods=rows, freq=record.freq)[-1] == pd.Timestamp(last)


class _FullDisk(io.FileIO):
    def write(self, data) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_disk_that_fills_mid_download_is_refused_by_name_and_keeps_nothing(server, monkeypatch, data_cache):
    """A full disk gave a bare ``OSError: [Errno 28]`` that named neither the download nor the folder."""
    url = _serve(server, monkeypatch, "ettm1", _ett_csv(20))
    module = importlib.import_module("forecast.datasets.download")
    monkeypatch.setattr(module, "open", lambda file, mode="r", *args, **kwargs: _FullDisk(file, mode), raising=False)
    with pytest.raises(ForecastDataError, match=rf"cannot write the download of {url} into .*cache \(No space left"):
        datasets.load("ettm1")
    assert list(data_cache.iterdir()) == []


def test_a_file_put_by_hand_over_a_recorded_download_is_told_how_to_be_accepted(server, monkeypatch, data_cache):
    """For a file whose hash was recorded at its download (not in the registry), the message told only how to
    download it again, not how to keep a file put there by hand, as it does for a set without a URL."""
    _serve(server, monkeypatch, "ettm1", _ett_csv(20))
    datasets.load("ettm1")
    (data_cache / "ETTm1.csv").write_bytes(_ett_csv(21))
    with pytest.raises(ForecastDataError, match=r"download it again, or only .*ETTm1.csv.sha256.json to accept"):
        datasets.load("ettm1")
    (data_cache / "ETTm1.csv.sha256.json").unlink()
    assert len(datasets.load("ettm1")) == 21
