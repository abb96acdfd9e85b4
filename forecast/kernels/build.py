"""Compile a C source shipped with the package into a shared library on first use, and load it with ctypes.

No compiler is needed to install forecast: the C compiler (``$CC``, else or if empty ``cc``) runs the first
time a kernel is called, which takes about a second for a plain C file without torch headers. The library is
cached under ``$XDG_CACHE_HOME/forecast/kernels`` (else ``~/.cache/forecast/kernels``), named by a hash
of the source, the compiler command, the flags and the CPU, so an edited source, another compiler or
another machine sharing the home folder builds anew. Processes that need one library at once (DDP ranks,
DataLoader workers, parallel tests) build it once where the file system has ``flock``: the first holds a lock
(``<library>.lock`` beside it, removed on release: ``forecast.locks``, which downloads take too) while it
compiles, and the others wait for it, then load its library. The library is written to a temporary file and
renamed into place, so that a process never loads one half written (nor, without ``flock``, where each
process compiles its own). A cached file cut short (by a crash, a full disk, a partial copy of the cache), which the
loader would map past its end (the process would die of SIGBUS), or that does not load, is built again, and
a cache folder that cannot be written (a read-only home) or named (no home folder) gives way to a temporary
folder of the process's own, removed once the library built there is loaded.

``-fopenmp`` links the system's ``libgomp.so.1``; when torch ships its own ``libgomp.so.1`` and has been
imported first (``forecast.kernels`` imports it), the loader reuses that one by its name, so the kernels
and torch share one OpenMP thread pool and one wait policy.
"""

import contextlib
import ctypes
import hashlib
import os
import platform
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..locks import holding

__all__ = ["FLAGS", "LIBRARIES", "cache_dir", "load_library"]

# -march=native: the kernels' loops run 4x faster in AVX-512 than in the SSE2 every x86-64 has (the
# library is built on, and cached for, the CPU that runs it). -fno-trapping-math lets the compiler turn
# the branches of the kernels' exp into vector selects (no code here reads floating-point exception
# flags); -ffast-math is avoided, as it would change NaN handling.
FLAGS = ["-O3", "-march=native", "-fno-trapping-math", "-fopenmp", "-shared", "-fPIC", "-std=c11"]
LIBRARIES = ["-lm"]


def cache_dir() -> Path:
    """Where compiled kernels are kept: ``$XDG_CACHE_HOME/forecast/kernels`` or ``~/.cache/forecast/kernels``."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "forecast" / "kernels"


def load_library(source: Path) -> ctypes.CDLL:
    """The shared library built from ``source``, compiled now unless an identical build is cached.

    Args:
        source: a C file that includes no other file of ours (the hash covers this one file; including
            itself, as ``sru_cpu.c`` does, is fine).

    Raises:
        OSError: no compiler (the message says how to get one), a ``$CC`` that cannot be split into words,
            a failed compilation (the message ends with the compiler's output) or a library the loader refuses.
    """
    compiler = _compiler()
    identity = [source.read_text(), *compiler, *FLAGS, *LIBRARIES, sys.platform, _cpu()]
    key = hashlib.sha256("\0".join(identity).encode()).hexdigest()
    name = f"{source.stem}-{key[:16]}.so"
    try:
        library = cache_dir() / name
    except RuntimeError:  # no home folder to cache in (a container run under an arbitrary user id)
        library = _own_folder() / name
    cached = _load_cached(library)
    if cached is not None:
        return cached
    with _building(library):
        cached = _load_cached(library)  # built by the process that held the lock while this one waited
        if cached is not None:
            return cached
        built = _compile(compiler, source, library)
    try:
        return ctypes.CDLL(str(built))
    finally:
        if _own(built.parent):  # loaded (the loader keeps its pages), and no other process looks there
            shutil.rmtree(built.parent, ignore_errors=True)


def _load_cached(library: Path) -> ctypes.CDLL | None:
    """``library`` loaded, or ``None`` where it is to be built: there is no such file, or it is cut short
    (``_cut_short``), not a library, or a file this user may not read."""
    if not library.exists():
        return None
    try:
        return None if _cut_short(library) else ctypes.CDLL(str(library))
    except OSError:
        return None


@contextlib.contextmanager
def _building(library: Path) -> Iterator[None]:
    """Hold the lock on building ``library`` (``<library>.lock``, ``forecast.locks.holding``), waiting while
    another process or thread holds it. Where the cache folder cannot be made or written, or its file system has
    no ``flock``, nothing is locked: ``_compile`` builds in a folder of this process's own, or each process into a
    temporary file of its own."""
    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):
            stack.enter_context(holding(library.with_name(library.name + ".lock")))
        yield


def _cut_short(library: Path) -> bool:
    """Whether ``library`` is an ELF file shorter than its header says: its section headers, which the linker
    writes last, end past the end of the file. The loader would map such a file's segments past its end, and
    the process would die of SIGBUS where they are read; a file that is not ELF it refuses with an OSError.
    """
    with open(library, "rb") as file:
        header = file.read(64)
    if header[:4] != b"\x7fELF":
        return False
    wide = header[4:5] == b"\x02"  # ELFCLASS64; its header is 64 bytes long, ELFCLASS32's 52
    if len(header) < (64 if wide else 52):
        return True
    order = "<" if header[5:6] == b"\x01" else ">"  # ELFDATA2LSB, else ELFDATA2MSB
    (offset,) = struct.unpack_from(order + ("Q" if wide else "I"), header, 0x28 if wide else 0x20)
    size, count = struct.unpack_from(order + "HH", header, 0x3A if wide else 0x2E)
    return library.stat().st_size < offset + size * count


def _compiler() -> list[str]:
    """The compiler command from ``$CC``, else ``cc`` (also when ``$CC`` is set empty: ``export CC=``).

    Raises:
        OSError: ``$CC`` cannot be split into words (an unclosed quote), so that the caller falls back
            as it does without a compiler instead of failing on every call.
    """
    try:
        return shlex.split(os.environ.get("CC", "")) or ["cc"]
    except ValueError as error:
        raise OSError(f"$CC={os.environ['CC']!r} is not a command ({error}): fix its quoting, or unset it") from None


_OWN = "forecast-kernels-"


def _own_folder() -> Path:
    """A new temporary folder for this process alone, where the cache folder cannot be made or written;
    ``load_library`` removes it once it has loaded the library built there."""
    return Path(tempfile.mkdtemp(prefix=_OWN))


def _own(folder: Path) -> bool:
    """Whether ``folder`` is one of ``_own_folder``'s."""
    return folder.parent == Path(tempfile.gettempdir()) and folder.name.startswith(_OWN)


def _cpu() -> str:
    """The CPU's model and instruction sets, as far as the system tells them (for ``-march=native``)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return f"{platform.machine()} {platform.processor()}"
    return "\n".join(sorted({line for line in lines if line.startswith(("model name", "flags", "Features"))}))


def _compile(compiler: list[str], source: Path, library: Path) -> Path:
    """Compile ``source`` into a temporary file renamed to ``library``, or to a file of the same name in a
    new temporary folder when ``library``'s folder cannot be written (a read-only home); returns where."""
    try:
        library.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(suffix=".so", prefix=f".{library.stem}-", dir=library.parent)
    except OSError:
        library = _own_folder() / library.name
        handle, partial = tempfile.mkstemp(suffix=".so", prefix=f".{library.stem}-", dir=library.parent)
    os.close(handle)
    try:
        command = [*compiler, *FLAGS, str(source), *LIBRARIES, "-o", partial]
        try:
            result = subprocess.run(command, capture_output=True, text=True)
        except FileNotFoundError:
            raise OSError(
                f"no C compiler `{compiler[0]}` on this machine: install one with OpenMP (e.g. gcc), or point $CC "
                "at one"
            ) from None
        if result.returncode != 0:
            raise OSError(f"`{shlex.join(compiler)}` failed on {source.name}: {result.stderr.strip()[-2000:]}")
        os.chmod(partial, 0o755)  # mkstemp's 0600 would keep the other users of a shared cache from loading it
        os.replace(partial, library)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return library
