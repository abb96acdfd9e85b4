"""Pins what hand mutation testing of the SRU kernels found unpinned (round 5): the compiled CPU recurrence
without a graph on non-contiguous inputs, against a loop over the paper's equations in Python floats; the Triton
backward (on its CPU interpreter) on a non-contiguous gradient, against autograd on the reference; and the kernel
cache's folder under an empty ``$XDG_CACHE_HOME``, its name per compiler command, and the compiler's last words in
the error of a failed build."""

import math
import os
import shutil

import pytest
import torch

from forecast.kernels import build, sru_cpu, sru_recurrence, sru_recurrence_reference

needs_compiler = pytest.mark.skipif(sru_cpu.cpu_library() is None, reason="needs the compiled CPU recurrence")


def paper_loop(u, highway, v, b, c0):
    """h (B, T, dirs, D) and c_last (B, dirs, D) of Lei et al. (2018) with the v2 peepholes and g the identity, one
    scalar at a time; direction 1 reads the window from its end."""
    batch, steps, dirs, _, size = u.shape
    u, highway, v, b, c0 = u.tolist(), highway.tolist(), v.tolist(), b.tolist(), c0.tolist()
    h = torch.zeros(batch, steps, dirs, size, dtype=torch.float64)
    c_last = torch.zeros(batch, dirs, size, dtype=torch.float64)
    for row in range(batch):
        for d in range(dirs):
            for j in range(size):
                c = c0[row][d][j]
                for t in range(steps) if d == 0 else range(steps - 1, -1, -1):
                    x_tilde, f_pre, r_pre = (u[row][t][d][part][j] for part in range(3))
                    f = 1 / (1 + math.exp(-(f_pre + v[0][d][j] * c + b[0][d][j])))
                    r = 1 / (1 + math.exp(-(r_pre + v[1][d][j] * c + b[1][d][j])))
                    c = f * c + (1 - f) * x_tilde
                    h[row, t, d, j] = r * c + (1 - r) * highway[row][t][d][j]
                c_last[row, d, j] = c
    return h, c_last


def transposed(*shape):
    """A float64 tensor of ``shape`` stored in reverse order of its dimensions: a non-contiguous view."""
    return torch.randn(*reversed(shape), dtype=torch.float64).permute(*reversed(range(len(shape))))


@needs_compiler
def test_sru_without_a_graph_reads_non_contiguous_inputs_by_their_strides():
    """Under ``no_grad`` the dispatcher calls the compiled forward directly, which reads raw memory in the reference
    layout: strided views (a slice of a window, a transposed state) must be made contiguous first."""
    torch.manual_seed(0)
    u, highway = transposed(2, 3, 2, 3, 2), transposed(2, 3, 2, 2)
    v, b, c0 = transposed(2, 2, 2), transposed(2, 2, 2), transposed(2, 2, 2)
    with torch.no_grad():
        h, c_last = sru_recurrence(u, highway, v, b, c0)
    expected_h, expected_c = paper_loop(u, highway, v, b, c0)
    torch.testing.assert_close(h, expected_h, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(c_last, expected_c, rtol=1e-12, atol=1e-12)


def test_kernel_cache_under_an_empty_xdg_cache_home_is_the_home_folders(monkeypatch, tmp_path):
    """``export XDG_CACHE_HOME=`` sets no cache folder (XDG Base Directory): ``~/.cache``, not the working folder."""
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert build.cache_dir() == tmp_path / ".cache" / "forecast" / "kernels"


@needs_compiler
def test_kernel_cache_builds_anew_for_another_compiler_command(monkeypatch, tmp_path):
    """A library built by one ``$CC`` (here, with another ``-D``) is not loaded for another: each builds its own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    built = []

    def fake_compile(compiler, source, library):  # a whole library without running a compiler: the SRU kernels'
        built.append(compiler)
        library.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sru_cpu.cpu_library()._name, library)
        return library

    monkeypatch.setattr(build, "_compile", fake_compile)
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return ANSWER; }\n")
    for cc in ["cc -DANSWER=1", "cc -DANSWER=2", "cc -DANSWER=1"]:
        monkeypatch.setenv("CC", cc)
        build.load_library(source)
    assert built == [["cc", "-DANSWER=1"], ["cc", "-DANSWER=2"]]
    assert len(list((tmp_path / "cache" / "forecast" / "kernels").glob("*.so"))) == 2


def test_kernel_build_error_ends_with_the_compilers_last_words(monkeypatch, tmp_path):
    """A compiler's output past 2000 characters is cut from its start: the message keeps its end, where the
    compiler sums up."""
    compiler = tmp_path / "noisy-cc"
    compiler.write_text(
        "#!/bin/sh\nfor i in $(seq 300); do echo 'warning: line of noise' >&2; done\necho 'fatal: last' >&2\nexit 1\n"
    )
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    source = tmp_path / "answer.c"
    source.write_text("int answer(void) { return 42; }\n")
    with pytest.raises(OSError, match=r"(?s)failed on answer\.c: .*fatal: last$") as error:
        build.load_library(source)
    assert len(str(error.value)) < 2200


def test_sru_triton_backward_reads_a_non_contiguous_gradient_by_its_strides():
    """The gradient reaching ``h`` is strided when the loss reads ``h`` through a view (here, time first); the
    Triton backward reads it by ``h``'s contiguous layout, so it must be made contiguous first."""
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("set TRITON_INTERPRET=1 before Triton is imported to run its kernels on the CPU")
    triton_path = pytest.importorskip("forecast.kernels.sru_triton", exc_type=ImportError).SRURecurrenceTriton
    torch.manual_seed(0)
    inputs = [torch.randn(*shape, dtype=torch.float64, requires_grad=True) for shape in
              [(2, 3, 2, 3, 2), (2, 3, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2)]]  # fmt: skip
    weights = torch.randn(3, 2, 2, 2, dtype=torch.float64)  # (T, B, dirs, D): the loss reads h time first
    gradients = []
    for recurrence in (sru_recurrence_reference, triton_path.apply):
        h, c_last = recurrence(*inputs, False)
        gradients.append(torch.autograd.grad((h.transpose(0, 1) * weights).sum() + c_last.sum(), inputs))
    for got, want in zip(*reversed(gradients), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
