"""Every notebook in notebooks/ runs top to bottom in FAST mode (a few seconds of training each) and imports only
forecast's public names."""

import ast
import importlib
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_notebooks_are_found():
    assert {"01_quickstart", "02_compare_encoders", "03_pipeline"} <= {path.stem for path in NOTEBOOKS}


# 03 (the pipeline: long table, load + predict, backtest, export) runs by default. 01 (forecast.fit and
# predict with intervals, as tests/test_predict.py) and 02 (five encoders through the CLI, as
# tests/test_configs.py) run under `-m slow`.
SLOW = {"01_quickstart", "02_compare_encoders"}


@pytest.mark.parametrize(
    "path",
    [pytest.param(path, marks=pytest.mark.slow) if path.stem in SLOW else path for path in NOTEBOOKS],
    ids=lambda path: path.stem,
)
def test_notebook_runs_in_fast_mode_and_draws_figures(path, tmp_path, monkeypatch):
    monkeypatch.setenv("FAST", "1")
    monkeypatch.setenv("FORECAST_RUNS", str(tmp_path))  # runs, checkpoints and exports go to tmp_path
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    notebook = nbformat.read(path, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), "commit it stripped"
    # Jupyter runs a notebook in its own directory; a failing cell raises CellExecutionError, naming it.
    client = NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": path.parent}})
    client.execute()
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    figures = [output for cell in code for output in cell.outputs if "image/png" in output.get("data", {})]
    assert len(figures) >= 4


def _submodule(module: ModuleType, name: str) -> bool:
    """Whether ``name`` is a submodule of ``module``, not a name defined in it."""
    return isinstance(getattr(module, name, None), ModuleType)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebooks_import_only_public_names(path):
    """What a notebook imports from forecast is public: named in its module's ``__all__``, as README shows it."""
    notebook = nbformat.read(path, as_version=4)
    private = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "forecast":
                module = importlib.import_module(node.module)
                public = getattr(module, "__all__", [])
                names = [alias.name for alias in node.names]  # a submodule (from forecast import datasets) is public
                private += [
                    f"{node.module}.{name}" for name in names if name not in public and not _submodule(module, name)
                ]
    assert not private, f"{path.name} imports names outside their module's __all__: {private}"


def _pairs(flags: list[str]) -> dict[str, str]:
    """Command-line flags ``["--a", "1", "--b", "2"]`` as ``{"--a": "1", "--b": "2"}``."""
    return dict(zip(flags[::2], flags[1::2], strict=True))


def test_each_introduction_states_the_fast_budget_its_first_cell_sets(monkeypatch):
    """What a notebook's first cell says FAST=1 trains is what its settings cell sets, so the prose cannot drift."""
    monkeypatch.setenv("FAST", "1")
    intro, settings = {}, {}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        intro[path.stem] = " ".join(notebook.cells[0].source.split())
        first_code = next(cell.source for cell in notebook.cells if cell.cell_type == "code")
        exec(first_code, settings.setdefault(path.stem, {}))  # constants only: paths, sizes, budgets
    quick, pipeline = settings["01_quickstart"], settings["03_pipeline"]
    assert quick["MAX_EPOCHS"] == 1 and f"{quick['TRAIN_BATCHES']} batches of one epoch" in intro["01_quickstart"]
    assert pipeline["MAX_EPOCHS"] == 1 and f"trains for {pipeline['TRAIN_BATCHES']} batches" in intro["03_pipeline"]
    fit, test = (_pairs(settings["02_compare_encoders"][name]) for name in ("FIT_LIMITS", "TEST_LIMITS"))
    assert fit["--trainer.max_epochs"] == "1"
    budget = (
        f"one epoch of {fit['--trainer.limit_train_batches']} batches (validating on "
        f"{fit['--trainer.limit_val_batches']}) and tests on {test['--trainer.limit_test_batches']} batches"
    )
    assert budget in intro["02_compare_encoders"]
