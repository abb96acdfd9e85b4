"""What a ``forecast tune`` study leaves in its run directory.

- ``trials.csv``: one row per trial: number, state, value (the metric of its best validation, or of
  the naive forecast its checkpoint forecasts instead when it fell back to one; of a pruned trial, Optuna's: the
  metric of the validation it was pruned at), ``datetime_start``,
  ``epochs`` (trained, whatever the validation schedule: a fraction where a validation within an epoch
  pruned it, 0 while it runs), ``duration`` (seconds), one ``params_<key>``
  column per searched key, and the ``user_attrs_`` columns: ``checkpoint`` (its best epoch's file; of a pruned
  trial, the best of those saved before the validation that pruned it, empty where none was),
  ``error`` (why a trial failed), ``naive_fallback`` (the naive forecast its checkpoint fell back to),
  ``fit_args`` (the fit flags it ran with), ``cwd`` (the directory it ran in, where their relative paths
  lead), ``overrides`` (its ``fit`` values, ``also`` keys included), ``seed`` (its ``seed_everything``) and
  ``worker`` (host:pid);
- ``best.yaml``: the best trial's complete config (the ``--print_config`` form), which
  ``python -m forecast fit --config best.yaml`` trains as it is, run in that trial's ``cwd``: relative paths
  (``data.source``, ``trainer.default_root_dir``) lead from the working directory, not from the YAML file;
- ``optimization_history.png`` (each trial's value and the best so far), ``intermediate_values.png``
  (every trial's metric at each of its validations: pruned trials end early) and, from two complete trials on,
  ``param_importances.png`` (Optuna's fANOVA importance of each key: the share of the metric's variance over the
  complete trials that it explains; none while those trials' values are all alike).

Files are replaced atomically, since every worker of a study writes them when it finishes.
"""

import math
import os
import shlex
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path

import optuna
import pandas as pd

__all__ = ["trials_table", "write_results"]

# The importance of param_importances.png: fANOVA's share of the metric's variance that each key explains, seeded so
# that a rerun draws the same plot (Optuna's own default evaluator is another, PED-ANOVA, from Optuna 5 on).
_IMPORTANCE = optuna.importance.FanovaImportanceEvaluator(seed=0)


def trials_table(study: optuna.Study) -> pd.DataFrame:
    """Every trial of ``study`` as a row, ordered by number (the columns of ``trials.csv``)."""
    if not study.get_trials(deepcopy=False):
        return pd.DataFrame(columns=["number", "state", "value", "duration", "epochs"])
    table = study.trials_dataframe(
        attrs=("number", "state", "value", "datetime_start", "duration", "params", "user_attrs")
    )
    table["duration"] = pd.to_timedelta(table["duration"]).dt.total_seconds()  # objects while all trials run
    # recorded when a trial's fit ends (TrialFits): none yet while it runs, nor for one that never fitted
    epochs = table.pop("user_attrs_epochs") if "user_attrs_epochs" in table else pd.Series(0.0, index=table.index)
    table.insert(4, "epochs", epochs.fillna(0.0))
    return table.sort_values("number").reset_index(drop=True)


def write_results(
    study: optuna.Study, run_dir: Path, best: optuna.trial.FrozenTrial | None, best_config: str | None
) -> list[Path]:
    """Writes ``trials.csv``, ``best.yaml`` (when a trial completed) and the plots into ``run_dir``.

    Args:
        study: the study.
        run_dir: the study's run directory.
        best: the best trial, read once (other processes may add a better one meanwhile), or ``None``.
        best_config: that trial's ``--print_config`` YAML, or ``None`` before any trial completed.

    Returns:
        The files written.
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    files = [_write(run_dir / "trials.csv", lambda path: trials_table(study).to_csv(path, index=False))]
    if best is not None and best_config is not None:
        cwd = best.user_attrs.get("cwd")  # where its relative paths lead; none recorded by an older study
        command = f"python -m forecast fit --config {shlex.quote(str(run_dir / 'best.yaml'))}"
        header = (
            f"# Best trial {best.number} of study {study.study_name!r}: {best.value:.6g}. Train it with\n"
            f"#   {f'cd {shlex.quote(cwd)} && ' if cwd else ''}{command}\n"
        )
        files.append(_write(run_dir / "best.yaml", lambda path: path.write_text(header + best_config)))
    return files + _write_plots(study, run_dir)


def _write_plots(study: optuna.Study, run_dir: Path) -> list[Path]:
    """Optuna's matplotlib plots of the study as PNG files (none before a trial completed, nor without matplotlib,
    which a warning says); the importances only from two complete trials of different (finite) values, as fANOVA
    explains the values' variance."""
    try:
        import matplotlib.pyplot as plt
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("matplotlib"):
            raise
        warnings.warn(
            f"tune: no plots in {run_dir} without matplotlib; pip install matplotlib (forecast[tune] installs it)",
            stacklevel=2,
        )
        return []
    from optuna.visualization import matplotlib as plots

    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    chosen = {"optimization_history.png": plots.plot_optimization_history} if complete else {}
    if any(trial.intermediate_values for trial in study.get_trials(deepcopy=False)):
        chosen["intermediate_values.png"] = plots.plot_intermediate_values
    finite = [trial for trial in complete if math.isfinite(trial.value)]
    # Optuna's importances read the settings of its intersection search space: one must vary to explain a variation.
    names = optuna.search_space.intersection_search_space(study.get_trials(deepcopy=False))
    varied = any(len({repr(trial.params.get(name)) for trial in finite}) > 1 for name in names)
    if len({trial.value for trial in finite}) >= 2 and varied:
        chosen["param_importances.png"] = partial(plots.plot_param_importances, evaluator=_IMPORTANCE)
    files = []
    for name, plot in chosen.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            figure = plot(study).figure
        figure.set_size_inches(8, 5)
        files.append(_write(run_dir / name, partial(figure.savefig, dpi=120, bbox_inches="tight")))
        plt.close(figure)
    return files


def _write(path: Path, write: Callable[[Path], object]) -> Path:
    """``write`` into a temporary file beside ``path``, then one rename: readers never see half a file."""
    temporary = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    write(temporary)
    os.replace(temporary, path)
    return path
