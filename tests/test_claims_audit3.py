"""Guards for claims of the README, the configs and the CLI's help that a third audit checked by running them."""

import itertools
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
import torch

from forecast.__main__ import main as forecast_main
from forecast.study_results import write_results
from forecast.study_trials import TrialPruning
from forecast.tune import _study
from forecast.tune_args import TuneArgs, parse_args

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    "fit_args",
    [
        ["-c", "configs/mine.yaml"],
        ["--config", "configs/base.yaml", "--config=configs/mine.yaml"],
        ["--config=configs/base.yaml", "--config", "configs/mine.yaml", "--trainer.max_epochs", "2"],
    ],
)
def test_a_study_is_named_after_the_last_config_file_on_the_command_line(fit_args, tmp_path):
    """README, Tuning: ``--study_name`` defaults to the last ``--config`` file's stem, in the order the flags come,
    and ``-c`` is ``--config`` (as ``fit --help`` shows it); its run directory is ``<default_root_dir>/tune/<name>``."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = {"trainer": {"default_root_dir": str(tmp_path)}}
    study, run_dir = _study(TuneArgs(), fit_args, config, set())
    assert study.study_name == "mine"
    assert run_dir == (tmp_path / "tune" / "mine").resolve()


def _validations_until_pruned(study: optuna.Study, losses: list[float]) -> int | None:
    """Runs a trial whose validations log ``losses`` through tune's ``TrialPruning``: the validation (1-based) at
    which the study's pruner stopped it, or ``None`` where it completed."""
    trial = study.ask()
    pruning = TrialPruning(trial, "val/loss")
    for validation, loss in enumerate(losses, start=1):
        trainer = SimpleNamespace(sanity_checking=False, state=SimpleNamespace(fn="fit"),
                                  callback_metrics={"val/loss": torch.tensor(loss)})  # fmt: skip
        try:
            pruning.on_validation_end(trainer, None)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return validation
    study.tell(trial, min(losses))
    return None


def test_the_search_yamls_pruner_lets_every_trial_train_the_epochs_its_comment_says():
    """configs/tune/segrnn_gru_search.yaml: its comment on `min_resource` says how many epochs every trial trains
    before the pruner may stop it; tune reports validation N as step N - 1, so min_resource 2 is 3 epochs."""
    path = ROOT / "configs" / "tune" / "segrnn_gru_search.yaml"
    comment = next(line for line in path.read_text().splitlines() if "min_resource:" in line).partition("#")[2]
    claimed = re.search(r"trains (\d+) epochs before it can be pruned", comment)
    assert claimed, comment
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    args, _, _ = parse_args(["--search", str(path)])
    # Named: Hyperband puts a trial in a bracket by a hash of the study's name, which is random when not given
    study = optuna.create_study(study_name="claims", pruner=args.pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    for trial in range(6):  # good trials, each reaching every rung
        assert _validations_until_pruned(study, [1.0 - 0.01 * trial - 0.001 * step for step in range(10)]) is None
    pruned = [_validations_until_pruned(study, [5.0 + step for step in range(10)]) for _ in range(12)]
    assert min(validation for validation in pruned if validation is not None) == int(claimed.group(1))


def _saved_figures(monkeypatch) -> dict[str, object]:
    """The matplotlib figures saved from now on, by the name of the file they were saved to."""
    from matplotlib.figure import Figure

    saved, savefig = {}, Figure.savefig

    def record(figure, path, *args, **kwargs):
        saved[Path(path).name] = figure
        return savefig(figure, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", record)
    return saved


def test_param_importances_png_ranks_the_keys_by_the_share_of_the_losss_variance_each_explains(tmp_path, monkeypatch):
    """README, Tuning: `param_importances.png` ranks the keys by how much of the loss's variation each explains.
    On a full 5 x 5 grid of trials the share of each key is Var(E[loss | key]) over the sum of both, computed here
    with numpy; Optuna's default evaluator of Optuna 5 (PED-ANOVA, which ranks by the best trials alone) gives x
    0.88 where x explains 0.96 of the variation."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    grid = np.array([[4.0 * (x - 2) ** 2 + y for y in range(5)] for x in range(5)])
    study = optuna.create_study()
    for x, y in itertools.product(range(5), range(5)):
        study.enqueue_trial({"x": x, "y": y})
    study.optimize(lambda trial: grid[trial.suggest_int("x", 0, 4), trial.suggest_int("y", 0, 4)], n_trials=25)
    explained = {"x": grid.mean(axis=1).var(), "y": grid.mean(axis=0).var()}
    saved = _saved_figures(monkeypatch)
    write_results(study, tmp_path, study.best_trial, "seed_everything: 0\n")
    (axes,) = next(figure for name, figure in saved.items() if "param_importances" in name).axes
    labels = [label.get_text() for label in axes.get_yticklabels()]
    shown = dict(zip(labels, (bar.get_width() for bar in axes.patches), strict=True))
    assert shown["x"] == pytest.approx(explained["x"] / sum(explained.values()), abs=0.02)


def test_a_study_whose_complete_trials_score_alike_writes_its_results_without_an_importance_plot(tmp_path):
    """README, Tuning: `param_importances.png` comes from two complete trials of different values; trials that all
    fell back to one naive forecast score alike, and leave no variation to explain (nor fail the results)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    study.optimize(lambda trial: trial.suggest_float("lr", 1e-4, 1e-2) * 0 + 0.5, n_trials=3)
    files = write_results(study, tmp_path, study.best_trial, "seed_everything: 0\n")
    assert sorted(path.name for path in files) == ["best.yaml", "optimization_history.png", "trials.csv"]


def test_tune_without_optuna_says_which_extra_installs_it(monkeypatch, capsys):
    """README, Tuning: `python -m forecast tune` needs `pip install -e ".[tune]"`; without Optuna it prints one
    `error: ...` line naming that extra (exit status 1), as for a setting forecast refuses, not an import traceback."""
    monkeypatch.setitem(sys.modules, "optuna", None)  # as if not installed: importing it fails
    monkeypatch.delitem(sys.modules, "forecast.tune")  # imported afresh, as by a new process
    monkeypatch.setattr(sys, "argv", ["forecast", "tune", "--config", "configs/quickstart.yaml"])
    with pytest.raises(SystemExit) as exit_:
        forecast_main()
    error = capsys.readouterr().err
    assert exit_.value.code == 1
    assert error.startswith("error: python -m forecast tune needs Optuna") and 'pip install -e ".[tune]"' in error


def test_a_study_writes_its_results_without_matplotlib_and_says_the_plots_are_left_out(tmp_path, monkeypatch):
    """README, Tuning: a study's `trials.csv` and `best.yaml` do not depend on matplotlib, which only its plots need:
    without it they are written, and a warning names what to install."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    study.optimize(lambda trial: trial.suggest_float("lr", 1e-4, 1e-2), n_trials=2)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.warns(UserWarning, match="no plots .* without matplotlib; pip install matplotlib"):
        files = write_results(study, tmp_path, study.best_trial, "seed_everything: 0\n")
    assert sorted(path.name for path in files) == ["best.yaml", "trials.csv"]
