"""The notebooks' prose against what their cells set, and the plots the notebooks draw against their tables."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

from forecast.plotting import plot_error_by_horizon

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_error_by_horizon_plot_draws_each_line_in_step_order():
    """A per-step table sorted by its errors (to read the worst steps first) drew each line back and forth across
    the horizon: the steps in the table's order, not the horizon's."""
    steps = np.arange(1, 7)
    table = pd.DataFrame({"units": "scaled", "target": np.repeat(["all", "x"], 6), "step": np.tile(steps, 2),
                          "mae": np.concatenate([np.sqrt(steps), 2 * np.sqrt(steps)])})  # fmt: skip
    worst_first = table.sort_values("mae", ascending=False)
    drawn = {line.get_label(): line for line in plot_error_by_horizon(worst_first, "mae").axes[0].lines}
    for target, scale in [("all", 1.0), ("x", 2.0)]:
        np.testing.assert_array_equal(drawn[target].get_xdata(), steps)
        np.testing.assert_allclose(drawn[target].get_ydata(), scale * np.sqrt(steps))


def _settings(stem: str, monkeypatch, fast: str) -> tuple[str, dict]:
    """A notebook's prose, one line, and the constants its first code cell sets with ``FAST`` as given."""
    monkeypatch.setenv("FAST", fast)
    notebook = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    prose = " ".join(" ".join(cell.source.split()) for cell in notebook.cells if cell.cell_type == "markdown")
    settings: dict = {}
    exec(next(cell.source for cell in notebook.cells if cell.cell_type == "code"), settings)
    return prose, settings


def test_full_size_prose_states_the_budget_and_windows_the_first_cells_set(monkeypatch):
    """What the notebooks say they train and forecast at full size is what their settings cells set."""
    prose, quick = _settings("01_quickstart", monkeypatch, "0")
    assert f"at most {quick['MAX_EPOCHS']} epochs" in prose
    assert f"the last {quick['LOOKBACK']} hours" in prose and f"the next {quick['HORIZON']} hours" in prose
    prose, pipeline = _settings("03_pipeline", monkeypatch, "0")
    assert f"last {pipeline['HORIZON']} rows are the **plan**" in prose
    assert f"every {pipeline['BACKTEST_STRIDE']} days" in prose and f"--stride {pipeline['BACKTEST_STRIDE']}" in prose
    assert pipeline["LOOKBACK"] == 7 * 8 and "the stores' last eight weeks" in prose


# Runs a notebook's first code cells in a fresh interpreter and prints OMP_WAIT_POLICY as it is when torch is
# first imported (torch's OpenMP reads it then, once), stopping there: the rest of the import is not needed.
_POLICY_AT_TORCH_IMPORT = """
import json, os, sys

def hook(event, args):
    if event == "import" and args[0] == "torch":
        print(os.environ.get("OMP_WAIT_POLICY", "unset"), flush=True)
        os._exit(0)

sys.addaudithook(hook)
namespace = {}
for source in json.loads(sys.argv[1]):
    exec(source, namespace)
print("torch not imported", flush=True)
"""


@pytest.mark.slow  # a fresh interpreter per notebook, importing pandas and matplotlib before torch
@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.stem)
def test_notebooks_import_torch_with_threads_that_sleep_while_they_wait(path, tmp_path):
    """01 and 03 imported lightning or torch before forecast with OMP_WAIT_POLICY unset: forecast warned in the
    notebook ("torch was imported before forecast") and, with anything else on the 2 cores, 01's full training took
    227 s instead of 6-20 s. Run as a user runs them (no OpenMP settings), torch must start with PASSIVE."""
    notebook = nbformat.read(path, as_version=4)
    imports = [cell.source for cell in notebook.cells if cell.cell_type == "code"][:2]  # settings, then imports
    environment = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    environment |= {"FAST": "1", "FORECAST_RUNS": str(tmp_path)}
    run = subprocess.run([sys.executable, "-c", _POLICY_AT_TORCH_IMPORT, json.dumps(imports)], cwd=path.parent,
                         env=environment, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.stdout.strip() == "PASSIVE", run.stdout + run.stderr[-2000:]
