"""Refusals and results of ``forecast tune`` that a review found wrong: choices Optuna records as one value, a study
whose trials never validate, and the importance plot of trials that all sampled one setting."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast.search_space import SearchSpace
from forecast.tune import main

QUICKSTART = str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")


@pytest.mark.parametrize(("choices", "named"), [([1, 1.0], "1 and 1.0"), ([0, False], "0 and False")])
def test_choices_that_optuna_records_as_one_value_are_refused(tmp_path, choices, named):
    """Optuna stores a choice as the index of the first equal one: trials that fitted 1.0 (the whole epoch) were
    recorded as 1 (one batch) in trial.params, best_params and trials.csv, and the sampler learned from them so."""
    with pytest.raises(ValueError, match=rf"`choice` lists {named}, which Optuna records as one value"):
        SearchSpace({"trainer.limit_train_batches": {"choice": choices}})


def test_a_study_whose_trials_never_validate_is_refused_before_any_trial_trains(tune_fit_args, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("space:\n  model.optimizer.init_args.lr: {float: [1.0e-4, 1.0e-2], log: true}\n")
    args = [*tune_fit_args, "--trainer.max_epochs", "2", "--trainer.check_val_every_n_epoch", "3"]
    with pytest.raises(ValueError, match=r"check_val_every_n_epoch is 3, above trainer.max_epochs 2, so no trial"):
        main([*args, "--trainer.default_root_dir", str(tmp_path), "--search", str(space), "--n_trials", "2"])
    assert not list(tmp_path.rglob("*.ckpt"))


def test_trials_of_one_sampled_setting_write_their_results_without_an_importance_plot(tune_fit_args, tmp_path):
    """Each trial's own seed gives two trials of the one choice two scores: fANOVA raised "zero total variance"
    after every trial had run, and tune failed without its plots."""
    space = tmp_path / "space.yaml"
    space.write_text("space:\n  model.encoder: {choice: [forecast.nn.GRUEncoder]}\n")
    main([*tune_fit_args, "--trainer.default_root_dir", str(tmp_path), "--search", str(space), "--n_trials", "2"])
    run = next(Path(tmp_path).rglob("trials.csv")).parent
    assert pd.read_csv(run / "trials.csv")["state"].tolist() == ["COMPLETE", "COMPLETE"]
    assert (run / "optimization_history.png").exists() and not (run / "param_importances.png").exists()


def test_lookbacks_that_leave_a_series_other_validation_windows_are_refused(tiny_cli, tmp_path):
    """On long data a longer lookback leaves a series whose validation part starts before it fewer windows: trials
    scored on 17 and on 22 windows were ranked against each other."""
    parts = [
        pd.DataFrame({"id": name, "time": pd.date_range(start, periods=rows, freq="h"), "y": np.sin(np.arange(rows))})
        for name, start, rows in [("A", "2024-01-01 00:00", 120), ("B", "2024-01-02 05:00", 90),
                                  ("C", "2023-12-30 10:00", 150)]
    ]  # fmt: skip
    pd.concat(parts).to_csv(tmp_path / "long.csv", index=False)
    space = tmp_path / "space.yaml"
    space.write_text("space:\n  data.lookback: {choice: [12, 84]}\n")
    args = ["--config", QUICKSTART, *tiny_cli(tmp_path / "long.csv", lookback=12), "--data.columns.targets", "[y]"]
    with pytest.raises(ValueError, match=r"takes 84, which scores trials on 17 validation windows where lookback 12 "
                       r"scores 22 .* give lookbacks of 12 to 62"):  # fmt: skip
        main([*args, "--trainer.default_root_dir", str(tmp_path), "--search", str(space), "--n_trials", "2"])
    assert not list(tmp_path.rglob("*.ckpt"))
