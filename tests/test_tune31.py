"""``forecast tune`` leftovers: the checkpoint a pruned trial records, and the sampler's seed that
``--print_config`` shows."""

from pathlib import Path

import optuna
import pytest
import torch
import yaml

from forecast.search_space import SearchSpace
from forecast.study_results import trials_table
from forecast.study_trials import TrialFits
from forecast.tune import main as tune_main
from forecast.tune_args import TuneArgs, parse_args

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
LR = {"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1], "log": True}}


def _pruned_trial(warmup: int, fit_args: list[str], run_dir: Path) -> optuna.trial.FrozenTrial:
    """One trial of an epoch of two batches validated after each, pruned at validation ``warmup`` (every
    val/loss is above the threshold 0, and the pruner waits ``warmup`` validations)."""
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0, n_warmup_steps=warmup))
    fit_args = [*fit_args, "--trainer.val_check_interval", "0.5"]
    study.optimize(TrialFits(SearchSpace(LR), TuneArgs(), fit_args, run_dir, None), n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    return study, trial


@pytest.mark.slow
def test_a_trial_pruned_after_a_saved_checkpoint_records_it_as_a_complete_trial_does(tune_fit_args, tmp_path):
    """Pruned at its second validation, the trial's folder held the checkpoint of its first, which neither its
    ``checkpoint`` attribute nor trials.csv recorded."""
    study, trial = _pruned_trial(1, tune_fit_args, tmp_path)
    path = Path(trial.user_attrs["checkpoint"])
    assert path.is_file() and path.is_relative_to(tmp_path / "trials" / "0")
    state = torch.load(path, weights_only=False)
    saved = next(value for key, value in state["callbacks"].items() if key.startswith("ModelCheckpoint"))
    assert float(saved["best_model_score"]) == pytest.approx(trial.intermediate_values[0])  # the first validation's
    assert trials_table(study)["user_attrs_checkpoint"].tolist() == [str(path)]


@pytest.mark.slow
def test_a_trial_pruned_at_its_first_validation_records_no_checkpoint(tune_fit_args, tmp_path):
    """No validation before the pruned one saved a checkpoint: there is none to record."""
    study, trial = _pruned_trial(0, tune_fit_args, tmp_path)
    assert "checkpoint" not in trial.user_attrs
    assert not list((tmp_path / "trials" / "0").rglob("epoch=*.ckpt"))


def _printed(capsys, argv: list[str]) -> dict:
    """The config ``tune ... --print_config`` prints, as YAML."""
    with pytest.raises(SystemExit):
        tune_main([*argv, "--print_config"])
    return yaml.safe_load(capsys.readouterr().out)


def _first_values(sampler: optuna.samplers.BaseSampler) -> list[float]:
    """The values ``sampler`` proposes for the first trials of a new study of one float (no fit)."""
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
    return [trial.params["x"] for trial in study.trials]


@pytest.mark.parametrize("sampler", ["optuna.samplers.TPESampler", "optuna.samplers.RandomSampler"])
def test_print_config_shows_the_sampler_seed_the_run_uses(sampler, capsys, tmp_path):
    """A sampler that names no seed is seeded with --seed; --print_config showed its seed as null, so the printed
    config did not say which trials the run samples."""
    argv = ["--config", QUICKSTART, "--sampler", sampler, "--seed", "7"]
    printed = _printed(capsys, argv)
    assert printed["sampler"]["init_args"]["seed"] == 7
    search = tmp_path / "printed.yaml"
    search.write_text(yaml.safe_dump(printed))
    run, rerun = parse_args(argv)[0], parse_args(["--config", QUICKSTART, "--search", str(search)])[0]
    assert _first_values(rerun.sampler) == _first_values(run.sampler)


def test_print_config_keeps_a_seed_the_sampler_names(capsys):
    """Only a sampler without a seed takes --seed's; one given keeps its own, in the print as in the run."""
    argv = ["--sampler", "optuna.samplers.RandomSampler", "--sampler.init_args.seed", "5", "--seed", "9"]
    assert _printed(capsys, argv)["sampler"]["init_args"]["seed"] == 5
    assert _first_values(parse_args(argv)[0].sampler) == _first_values(optuna.samplers.RandomSampler(seed=5))
