"""The refusals of training data without an observed target offer fixes that work: tune's lookback check names the
targets and a later validation start, and a backtest's first refit a later ``--start`` or a shorter validation
part; each fix, applied, is accepted."""

import warnings

import numpy as np
import pandas as pd
import pytest

from forecast import Columns, ForecastDataError, Forecaster, TimeSeriesDataModule, study_checks
from forecast.data import FractionSplit
from forecast.nn import IdentityEncoder, LookbackLinearHead
from forecast.search_space import SearchSpace
from forecast.trainer import ForecastTrainer

ROWS, HORIZON = 40, 2
QUIET = dict(logger=False, enable_progress_bar=False, enable_model_summary=False, enable_checkpointing=False)


def frame(missing: slice) -> pd.DataFrame:
    """One hourly series of ``ROWS`` rows whose target ``y`` is missing at the rows ``missing``."""
    y = np.random.default_rng(0).normal(size=ROWS)
    y[missing] = np.nan
    return pd.DataFrame({"id": "a", "time": pd.date_range("2024-01-01", periods=ROWS, freq="h"), "y": y})


def data(raw: pd.DataFrame, val: float, test: float = 0.15) -> TimeSeriesDataModule:
    split = FractionSplit(val=val, test=test)
    return TimeSeriesDataModule(raw, 4, HORIZON, columns=Columns(targets=["y"]), nan_policy="zero", split=split)


def test_tunes_refusal_of_data_without_a_training_target_names_it_and_a_later_validation_start_fixes_it():
    """Only row 0 of the training part (rows before 28) has a target value, and no window's targets reach it: the
    refusal said there was no training window at all (there are 23) and offered nothing about the targets."""
    raw, space = frame(slice(1, 28)), SearchSpace({"data.lookback": {"choice": [4]}})
    with pytest.raises(ValueError) as refused:
        study_checks.check_lookbacks(space, {}, data(raw, val=0.15))
    message = str(refused.value)
    assert "observed value of the targets ['y']" in message and "data.split" in message, message
    assert "a later validation start" in message, message
    later = data(raw, val=0.1, test=0.1)  # validation from row 32: the training part reaches rows 28 to 31
    study_checks.check_lookbacks(space, {}, later)
    later.setup("fit")
    assert len(later.dataset("train")) > 0


@pytest.mark.slow  # 0.5 s a case: a backtest refit trains
@pytest.mark.parametrize(("start", "val"), [(36, 0.15), (33, 0.1)], ids=["later start", "shorter validation"])
def test_each_fix_a_backtests_first_refit_refusal_offers_runs(tmp_path, start, val):
    """Refused at --start 33 (training before row 27, the targets missing in rows 2 to 27): a later --start, or a
    shorter validation part (data.split), gives the first refit a training window with a target value."""
    raw = frame(slice(2, 28))
    model = Forecaster(lookback=4, horizon=HORIZON, input_size=1, target_size=1, encoder=IdentityEncoder,
                       head=LookbackLinearHead)  # fmt: skip
    trainer = ForecastTrainer(default_root_dir=tmp_path, max_epochs=1, **QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Lightning's notes on workers and logging intervals
        with pytest.raises(ForecastDataError, match=r"choose a later --start, or a shorter validation part"):
            trainer.backtest(model, data(raw, val=0.15, test=0.05), start=33, num_windows=1, refit_every=1)
        trainer.backtest(model, data(raw, val=val, test=0.05), start=start, num_windows=1, refit_every=1)
    assert list(tmp_path.rglob("refits/origin_*"))  # the refit trained
