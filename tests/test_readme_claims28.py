"""README claims about how the command line refuses or takes a key, each held to what the parser does."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

from forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")


@pytest.fixture(autouse=True)
def bare_argv(monkeypatch):
    """No pytest flags in ``sys.argv`` for LightningCLI to warn about beside the ``args`` given to it."""
    monkeypatch.setattr(sys, "argv", ["forecast"])


def claim(pattern: str) -> tuple[str, ...]:
    """The groups of the README's one passage that ``pattern`` matches."""
    found = re.search(pattern, README)
    assert found, f"README says nothing matching {pattern!r}"
    return found.groups()


def refusal(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str]:
    """The exit status and the standard error of the CLI refusing ``args`` while it parses them."""
    with pytest.raises(SystemExit) as exited:
        main(args, run=False)
    return exited.value.code, capsys.readouterr().err


def test_a_flag_that_begins_one_flag_is_that_flag(tmp_path):
    """README, Fit, test and predict: argparse takes a flag that begins one accepted flag and no other as that
    flag (`--trainer.max_epoch 1` sets `trainer.max_epochs`), so it is no misspelling the parser refuses."""
    flag, value, key = claim(r"\(`(--[\w.]+) (\d+)` sets `([\w.]+)`\)")
    root = ["--trainer.default_root_dir", str(tmp_path), "--trainer.logger", "false"]
    cli = main(["--config", QUICKSTART, flag, value, *root], run=False)
    assert key == "trainer.max_epochs" and cli.trainer.max_epochs == int(value)


def test_the_readme_misspelt_key_and_flag_are_refused_naming_the_nearest(tmp_path, capsys):
    """README, Fit, test and predict: its misspelt config key and flag are refused with the hint it quotes."""
    key, section, value, key_hint = claim(r"`(\w+): \{(\w+): (\d+)\}` \.\.\. (did you mean '[\w.]+'\?)")
    flag, flag_value, flag_hint = claim(r"`(--[\w.]+) (\d+)` \.\.\. (did you mean --[\w.]+\?)")
    config = tmp_path / "misspelt.yaml"
    config.write_text(f"{key}:\n  {section}: {value}\n")
    status, err = refusal(["--config", QUICKSTART, "--config", str(config)], capsys)
    assert status == 2 and key_hint in err.splitlines()[-1]
    status, err = refusal(["--config", QUICKSTART, flag, flag_value], capsys)
    assert status == 2 and flag_hint in err.splitlines()[-1]


def test_a_value_of_another_type_prints_a_usage_and_exits_with_the_status_the_readme_gives(capsys):
    """README, Config layout: a value not of its key's type prints a usage, then `error: ...` naming the key, with
    the exit status it names (argparse's 2, not the 1 of a setting forecast refuses)."""
    status = int(claim(r"then `error: \.\.\.` naming the key \(exit status (\d)\)")[0])
    code, err = refusal(["--config", QUICKSTART, "--data.lookback", "abc"], capsys)
    assert code == status
    assert err.startswith("usage:") and "data.lookback" in err.splitlines()[-2]


def test_the_notebooks_the_default_run_and_the_slow_run_execute_are_those_the_readme_names():
    """README, Notebooks: `tests/test_notebooks.py` executes one notebook in the default run and the other two under
    `-m slow` (which runs only the tests marked slow), so that the two runs together execute every notebook."""
    default = claim(
        r"`tests/test_notebooks\.py` executes `(\w+)` so in the default run and the other two\s+under `-m slow`"
    )
    spec = importlib.util.spec_from_file_location("notebook_tests", ROOT / "tests" / "test_notebooks.py")
    notebook_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(notebook_tests)
    notebooks = {path.stem for path in notebook_tests.NOTEBOOKS}
    assert default[0] in notebooks and len(notebooks) == 3
    assert notebook_tests.SLOW == notebooks - {default[0]}
