"""benchmarks/ltsf.py, least_squares.py and ensemble.py as commands: their own refusals are one line on stderr with
exit status 1 (as ``python -m forecast`` gives), a bug keeps its traceback, and the two scripts that score origins
move them by one arithmetic."""

import json
import runpy
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from forecast.errors import ForecastDataError

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks/ltsf.py"), run_name="ltsf")
least_squares = runpy.run_path(str(ROOT / "benchmarks/least_squares.py"), run_name="least_squares")
ensemble = runpy.run_path(str(ROOT / "benchmarks/ensemble.py"), run_name="ensemble")
TOO_MANY = (
    "error: --origins 9: the validation part of etth1 starts at row 8640, too early to move it back 8 times by 1440 "
    "rows; use --origins 6 or fewer\n"
)


def refused(script: dict, argv: list[str], capsys) -> str:
    """What ``script``'s ``main`` run as a command on ``argv`` prints on stderr, checked to exit with status 1."""
    with pytest.raises(SystemExit) as exit_:
        ltsf["command"](script["main"], argv)
    assert exit_.value.code == 1
    return capsys.readouterr().err


@pytest.mark.parametrize("script", [ltsf, least_squares], ids=["ltsf", "least_squares"])
def test_too_many_origins_are_refused_in_one_line(script, tmp_path, capsys):
    argv = ["--origins", "9", "--horizons", "24", "--root", str(tmp_path), "--out", str(tmp_path / "board")]
    assert refused(script, argv if script is ltsf else argv[:4], capsys) == TOO_MANY


def test_the_ensemble_script_refuses_a_missing_result_in_one_line(tmp_path, capsys):
    err = refused(ensemble, ["--root", str(tmp_path), "--horizons", "4", "--seeds", "2"], capsys)
    assert err.startswith(f"error: {tmp_path}/etth1/segrnn_l96/H4/seed0/result.json: no such file, so that ")
    assert err.count("\n") == 1


def test_the_ensemble_script_refuses_no_seeds_as_argparse_refuses_a_bad_option(tmp_path, capsys):
    """``--seeds 0`` scored nothing and failed on the empty table (``KeyError: 'model'``)."""
    with pytest.raises(SystemExit) as exit_:
        ensemble["main"](["--root", str(tmp_path), "--seeds", "0"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.endswith("error: argument --seeds: '0' is not a whole number of 1 or more\n")


def running_in_a_script(source: str):
    """A ``main`` that runs ``source`` as code of benchmarks/ltsf.py (its frames name that file)."""

    def main(argv: list[str]) -> None:
        exec(compile(source, str(ROOT / "benchmarks/ltsf.py"), "exec"), {"ForecastDataError": ForecastDataError})

    return main


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("int('x')", ValueError),  # a builtin's ValueError in a script's frame: a bug
        ("import json; json.loads('{')", ValueError),  # raised in the json module
        ("raise KeyError('model')", KeyError),  # no refusal's type
    ],
)
def test_an_error_that_no_raise_of_a_script_gave_keeps_its_traceback(source, error):
    with pytest.raises(error):
        ltsf["command"](running_in_a_script(source), [])


@pytest.mark.parametrize(
    "source", ["raise ValueError('--origins 9: use 6 or fewer')", "raise ForecastDataError('column x is missing')"]
)
def test_an_error_that_a_raise_of_a_script_gave_is_printed_alone(source, capsys):
    with pytest.raises(SystemExit) as exit_:
        ltsf["command"](running_in_a_script(source), [])
    assert exit_.value.code == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_an_error_raised_outside_benchmarks_and_the_package_keeps_its_traceback():
    def failing(argv: list[str]) -> None:
        raise ValueError("raised by a test, not by a script")

    with pytest.raises(ValueError, match="raised by a test"):
        ltsf["command"](failing, [])


def test_a_bug_in_a_script_keeps_its_traceback():
    """``--fit-one`` with arguments that are no JSON: the json module's error, not a refusal of ltsf.py's."""
    with pytest.raises(json.JSONDecodeError):
        ltsf["command"](ltsf["main"], ["--fit-one", "{"])


@pytest.mark.parametrize("origins", [1, 3, 6])
def test_least_squares_scores_the_validation_parts_that_ltsf_fits_on(origins):
    """ETTh1's preset: validation [8640, 11520), test [11520, 14400); each origin 1440 rows earlier."""
    starts = [(8640 - 1440 * k, 11520 - 1440 * k, 14400 - 1440 * k) for k in range(origins)]
    ours = [(split.val_start, split.test_start, split.test_end) for split in least_squares["splits"]("etth1", origins)]
    moved = [json.loads(split)["init_args"] for split in ltsf["origin_splits"]("etth1", origins)[1:]]
    assert ours == starts
    assert [(rows["val_start"], rows["test_start"], rows["test_end"]) for rows in moved] == starts[1:]


@pytest.mark.parametrize("origins", [0, 7])
def test_least_squares_refuses_the_origins_that_ltsf_refuses_with_its_message(origins):
    with pytest.raises(ValueError) as ours:
        least_squares["splits"]("etth1", origins)
    with pytest.raises(ValueError) as theirs:
        ltsf["origin_splits"]("etth1", origins)
    assert str(ours.value) == str(theirs.value)
    assert str(ours.value).startswith(f"--origins {origins}: ")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "argv", "message"),
    [
        ("ltsf.py", ["--origins", "9", "--horizons", "24"], TOO_MANY),
        ("least_squares.py", ["--origins", "9"], TOO_MANY),
        ("ensemble.py", ["--horizons", "4", "--seeds", "1"], "error: {root}/etth1/segrnn_l96/H4/seed0/result.json: "),
    ],
    ids=["ltsf", "least_squares", "ensemble"],
)
def test_each_script_run_from_the_shell_prints_its_refusal_alone(script, argv, message, tmp_path):
    root = ["--root", str(tmp_path)] + (["--out", str(tmp_path / "board")] if script == "ltsf.py" else [])
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / script),
        *argv,
        *(root if script != "least_squares.py" else []),
    ]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(message.format(root=tmp_path)) and done.stderr.count("\n") == 1
    assert done.returncode == 1


def test_the_cli_run_inside_a_command_reads_no_command_line_and_lightning_does_not_warn(monkeypatch):
    """The scripts' own flags stayed in ``sys.argv`` while their CLI runs were built: LightningCLI warned that both
    ``args`` and command line arguments were given, at every fit; ``sys.argv`` is whole again afterwards."""
    argv = ["ltsf.py", "--horizons", "24"]
    monkeypatch.setattr(sys, "argv", list(argv))
    seen = {}

    def main(given: list[str]) -> None:
        seen["argv"] = given
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ltsf["cli"](["--config", str(ROOT / "configs/ltsf/linear.yaml")], run=False)
        seen["warnings"] = [str(warning.message) for warning in caught if "provide both" in str(warning.message)]

    ltsf["command"](main)
    assert seen == {"argv": ["--horizons", "24"], "warnings": []}
    assert sys.argv == argv
