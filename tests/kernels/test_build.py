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
    with pytest.raises(OSError, match="forecast-test-no-such-compiler"):
        build.load_library(write_source(tmp_path, "int answer(void) { return 42; }\n"))
