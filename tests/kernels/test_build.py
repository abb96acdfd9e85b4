import pytest

from forecast.kernels import build


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "forecast" / "kernels"


def write_source(folder, text):
    source = folder / "answer.c"
    source.write_text(text)
    return source


def test_build_cache_dir_follows_xdg_cache_home(empty_cache):
    assert build.cache_dir() == empty_cache


def test_build_compiles_once_then_loads_from_the_cache(empty_cache, tmp_path, monkeypatch):
    source = write_source(tmp_path, "int answer(void) { return 42; }\n")
    assert build.load_library(source).answer() == 42

    def compile_again(*args):
        raise AssertionError("compiled a second time")

    monkeypatch.setattr(build, "_compile", compile_again)
    assert build.load_library(source).answer() == 42
    assert [path.suffix for path in empty_cache.iterdir()] == [".so"]  # no temporary file left behind


def test_build_rebuilds_when_the_source_changes(empty_cache, tmp_path):
    assert build.load_library(write_source(tmp_path, "int answer(void) { return 42; }\n")).answer() == 42
    assert build.load_library(write_source(tmp_path, "int answer(void) { return 43; }\n")).answer() == 43
    assert len(list(empty_cache.iterdir())) == 2


def test_build_reports_the_compiler_error_and_leaves_no_file(empty_cache, tmp_path):
    source = write_source(tmp_path, "int answer(void) { return }\n")
    with pytest.raises(OSError, match="(?s)failed on answer.c: .*error"):
        build.load_library(source)
    assert list(empty_cache.iterdir()) == []


def test_build_without_a_compiler_raises_os_error(empty_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("CC", "forecast-test-no-such-compiler")
    with pytest.raises(OSError, match="no C compiler `forecast-test-no-such-compiler`.* install one"):
        build.load_library(write_source(tmp_path, "int answer(void) { return 42; }\n"))


@pytest.mark.parametrize("cc", ["", " "], ids=["empty", "blank"])
def test_build_with_an_empty_cc_uses_cc_as_when_it_is_unset(empty_cache, tmp_path, monkeypatch, cc):
    """``CC=`` (as ``export CC=`` leaves it) names no compiler: it raised IndexError, not the OSError that
    ``cpu_library`` turns into its warning, so every SRU forward on CPU failed."""
    monkeypatch.setenv("CC", cc)
    assert build.load_library(write_source(tmp_path, "int answer(void) { return 42; }\n")).answer() == 42


def test_build_rebuilds_a_cached_library_that_does_not_load(empty_cache, tmp_path, monkeypatch):
    source = write_source(tmp_path, "int answer(void) { return 42; }\n")
    build.load_library(source)  # its file's name; the file itself is loaded now, so it is left alone
    (built,) = empty_cache.iterdir()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other"))
    cached = build.cache_dir() / built.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"")  # cut short, as by a crash while it was written
    assert build.load_library(source).answer() == 42
    assert cached.stat().st_size > 0


def test_build_in_a_cache_folder_that_cannot_be_written_uses_a_folder_of_its_own(monkeypatch, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # the cache folder would be under a file: it cannot be made
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    assert build.load_library(write_source(tmp_path, "int answer(void) { return 42; }\n")).answer() == 42


def test_build_without_a_home_folder_uses_a_folder_of_its_own(monkeypatch, tmp_path):
    """No $XDG_CACHE_HOME, no $HOME and no home in the user database (a container run under an arbitrary user
    id): ``Path.home()`` raised RuntimeError, which ``cpu_library`` does not catch, so every SRU forward on CPU
    failed."""
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home():
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(build.Path, "home", no_home)
    assert build.load_library(write_source(tmp_path, "int answer(void) { return 42; }\n")).answer() == 42


def test_build_leaves_a_library_every_user_of_a_shared_cache_can_load(empty_cache, tmp_path):
    build.load_library(write_source(tmp_path, "int answer(void) { return 42; }\n"))
    (cached,) = empty_cache.iterdir()
    assert cached.stat().st_mode & 0o555 == 0o555  # read and execute for the owner, the group and others
