"""Guards for README claims checked by hand (fast)."""

import numpy as np
import optuna
import pandas as pd

from forecast import Columns, TimeSeriesDataModule
from forecast.study_results import trials_table


def test_trials_csv_names_the_naive_fallback_column_as_the_readme_says():
    """README, Tuning: a trial scored by its naive fallback is named in trials.csv's `user_attrs_naive_fallback`."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    trial = study.ask()
    trial.set_user_attr("naive_fallback", "last_value")
    study.tell(trial, 0.5)
    assert trials_table(study)["user_attrs_naive_fallback"].tolist() == ["last_value"]


def test_under_nan_policy_zero_inputs_before_a_channels_first_value_are_the_repaired_zero_scaled():
    """README, Your own data: only under ffill and interpolate do inputs before a channel's first value read the
    scaled zero; under `zero` they read the repaired 0 in the data's units, scaled."""
    rows = 300
    y = 50 + np.arange(rows, dtype=float) ** 2 / 100
    y[:20] = np.nan
    frame = pd.DataFrame({"y": y}, index=pd.date_range("2024-01-01", periods=rows, freq="h"))
    data = TimeSeriesDataModule(frame, 12, 4, columns=Columns(targets=["y"]), nan_policy="zero")
    data.setup("fit")
    dataset = data.dataset("train")
    batch = dataset.__getitems__([int(i) for i in dataset.index_of(np.array([0]), np.array([12]))])
    original = batch.to_original(batch.past[:, :, :1])[0, :, 0].numpy()
    np.testing.assert_allclose(original, 0.0, atol=1e-4)
    assert (batch.past[0, :, 0] != 0).all()
