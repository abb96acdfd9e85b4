from pathlib import Path

import optuna
import pytest
import yaml

from forecast.search_space import Param, SearchSpace
from forecast.study_results import trials_table
from forecast.study_trials import TrialFits
from forecast.tune import main as tune_main
from forecast.tune import tune
from forecast.tune_args import TuneArgs

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")
LR = {"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1], "log": True}}


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, tune_fit_args):
    """A study of one complete trial of the tiny fit, scored in original units."""
    args = TuneArgs(space=LR, metric="val/mse_orig", n_trials=1, run_dir=str(tmp_path_factory.mktemp("tuned")),
                    study_name="tiny")  # fmt: skip
    return tune(args, tune_fit_args), args, tune_fit_args


@pytest.mark.parametrize("metric", ["train/loss", "test/mse"])
def test_tune_refuses_a_metric_that_is_not_a_validation_one(metric, tune_fit_args, tmp_path):
    """Tuned on train/loss, the search would pick the trial that fits its training rows best."""
    args = TuneArgs(space=LR, metric=metric, n_trials=1, run_dir=str(tmp_path))
    with pytest.raises(ValueError, match=f"--metric '{metric}' is not a validation metric.* e.g. val/loss"):
        tune(args, tune_fit_args)
    assert not (tmp_path / "study.db").exists()


@pytest.mark.parametrize(
    "flags, tune_options, match",
    [
        (["--data.horizon", "4"], {}, "data.horizon=6, this run with 4, .* pass --data.horizon 6 to resume it"),
        ([], {"metric": "val/mae"}, "metric='val/mse_orig', this run with 'val/mae', .* pass --metric val/mse_orig"),
    ],
)
def test_a_rerun_scoring_its_trials_on_other_settings_is_refused(flags, tune_options, match, tuned):
    """Rerun with another horizon, the study counted its horizon-6 trial, ran none and wrote it as best.yaml."""
    study, args, fit_args = tuned
    best_yaml = Path(args.run_dir) / "best.yaml"
    before = best_yaml.read_text()
    rerun = TuneArgs(**(vars(args) | tune_options))
    with pytest.raises(ValueError, match=rf"study 'tiny' in sqlite:///.* scores its trials with {match}"):
        tune(rerun, [*fit_args, *flags])
    assert best_yaml.read_text() == before and len(study.trials) == 1


def test_a_rerun_may_search_a_scored_setting_it_held_fixed_before(tuned):
    """A key the rerun searches takes each trial's own value (scored in original units by --metric val/mse_orig),
    so the study's trials are compared as on any searched key."""
    study, args, fit_args = tuned
    space = LR | {"data.scaling.per_series": {"choice": [False, True]}}
    tune(TuneArgs(**(vars(args) | {"space": space})), [*fit_args, "--data.scaling.per_series", "true"])
    assert [trial.state for trial in study.trials] == [optuna.trial.TrialState.COMPLETE]
    assert yaml.safe_load((Path(args.run_dir) / "best.yaml").read_text())["data"]["scaling"]["per_series"] is False


def test_a_negative_seed_is_refused_naming_the_flag(tmp_path):
    """``--seed -1`` used to split as tune's ``--seed`` and fit's ``-1``, failing with "argument --seed: expected
    one argument"; a negative seed fails every trial's seed_everything (and the default sampler) anyway."""
    with pytest.raises(ValueError, match=r"--seed -1 is out of range: .* pass --seed 0 or more"):
        tune_main(["--config", QUICKSTART, "--seed", "-1", "--run_dir", str(tmp_path)])
    assert not (tmp_path / "study.db").exists()


@pytest.mark.parametrize(
    ("pruner", "epochs"),
    [(optuna.pruners.NopPruner(), 1.0), (optuna.pruners.ThresholdPruner(upper=0.0), 0.5)],
)
def test_the_epochs_of_trials_csv_count_epochs_trained_not_validations(pruner, epochs, tune_fit_args, tmp_path):
    """Two batches an epoch, validated after each: a complete trial of one epoch validated twice, one pruned at
    its first validation (val/loss > 0) half an epoch in. The column counted validations: 2 and 1."""
    study = optuna.create_study(pruner=pruner)
    fit_args = [*tune_fit_args, "--trainer.val_check_interval", "0.5"]
    study.optimize(TrialFits(SearchSpace(LR), TuneArgs(), fit_args, tmp_path, None), n_trials=1)
    assert trials_table(study)["epochs"].tolist() == [epochs]


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("data.horizon", "trials of other horizons forecast other lengths"),
        ("data.split.init_args.val", "it changes which validation windows a trial is scored on"),
        ("trainer.limit_val_batches", "it changes which validation windows a trial is scored on"),
        ("trainer.val_check_interval", "it changes when a trial validates"),
        ("trainer.check_val_every_n_epoch", "it changes when a trial validates"),
    ],
)
def test_a_space_searching_a_setting_whose_trials_do_not_rank_is_refused(key, why, tune_fit_args, tmp_path):
    """The best of two horizons' losses was the shorter horizon's, whatever else the trials tried."""
    args = TuneArgs(space=LR | {key: {"choice": [1, 2]}}, metric="val/mse_orig", n_trials=1, run_dir=str(tmp_path))
    with pytest.raises(ValueError, match=rf"--space: '{key}' may not be searched: {why}"):
        tune(args, tune_fit_args)
    assert not (tmp_path / "study.db").exists()


def test_a_space_searching_the_targets_scaling_needs_a_metric_in_original_units(tune_fit_args, tmp_path):
    """Each scaling's val/loss is in its own units; val/mse_orig ranks them (as the rerun above searches it)."""
    args = TuneArgs(
        space=LR | {"data.scaling.per_series": {"choice": [False, True]}}, n_trials=1, run_dir=str(tmp_path)
    )
    with pytest.raises(
        ValueError, match=r"'data.scaling.per_series' may not be searched with --metric val/loss: .* val/mse_orig"
    ):
        tune(args, tune_fit_args)
    assert not (tmp_path / "study.db").exists()


def test_tune_refuses_a_space_that_may_search_save_top_k_0(tune_fit_args, tmp_path):
    """A trial with checkpoint.save_top_k 0 keeps no checkpoint of its best validation, the one it is ranked
    by: the best trial could then be neither tested nor loaded. The range [-1, 2] holds 0."""
    args = TuneArgs(space=LR | {"checkpoint.save_top_k": {"int": [-1, 2]}}, n_trials=1, run_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"--space: 'checkpoint.save_top_k' may be 0 in a trial.* values of 1 or more"):
        tune(args, tune_fit_args)
    assert not (tmp_path / "study.db").exists()


def test_tune_refuses_a_config_that_sets_save_top_k_0_where_the_space_leaves_it(tune_fit_args, tmp_path):
    """The space searches save_top_k only for one encoder; the other's trials would run with the config's 0."""
    space = LR | {
        "model.encoder": {"choice": ["forecast.nn.GRUEncoder", "forecast.nn.LSTMEncoder"]},
        "checkpoint.save_top_k": {"choice": [1, 2], "when": {"model.encoder": "forecast.nn.LSTMEncoder"}},
    }
    args = TuneArgs(space=space, n_trials=1, run_dir=str(tmp_path))
    with pytest.raises(
        ValueError,
        match=r"checkpoint.save_top_k is 0 in the config .* so a trial where the space does not set it keeps no",
    ):
        tune(args, [*tune_fit_args, "--checkpoint.save_top_k", "0"])
    assert not (tmp_path / "study.db").exists()


@pytest.mark.parametrize(
    "param, takes_0",
    [
        (Param("k", "int", bounds=(-1, 3), step=2), False),
        (Param("k", "int", bounds=(-2, 2), step=2), True),
        (Param("k", "float", bounds=(-0.3, 0.3), step=0.1), True),
        (Param("k", "choice", choices=(1, -1)), False),
        (Param("k", "choice", choices=(1, 0)), True),
    ],
)
def test_param_may_take_a_value_only_on_its_grid(param, takes_0):
    assert param.may_take(0) is takes_0
