import pandas as pd
import pytest
import yaml
from lightning.pytorch.callbacks import EarlyStopping, LambdaCallback

from forecast import Columns, Forecaster, study_checks
from forecast.data import TimeSeriesDataModule
from forecast.errors import ForecastDataError
from forecast.fit_config import print_config
from forecast.losses import GaussianNLLLoss, QuantileLoss
from forecast.search_space import SearchSpace
from forecast.tune import tune
from forecast.tune_args import TuneArgs

LR = {"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}}
LOSSES = ["forecast.losses.MSELoss", "forecast.losses.QuantileLoss"]
# wide_frame and tune_fit_args' data: 200 rows, FractionSplit (training targets are rows [0, 140)), horizon 6.
LONGEST = 140 - 6


def check_fits(space: dict, fit_args: list[str], metric: str = "val/loss") -> None:
    config = yaml.safe_load(print_config(["fit", *fit_args]))
    study_checks.check_fits(SearchSpace(space, "search.yaml"), fit_args, config, metric)


def model(loss=None) -> Forecaster:
    return Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, loss=loss)


@pytest.mark.parametrize("metric, nearest", [("val/los", "val/loss"), ("val/crsp", "val/rmse")])
def test_a_metric_that_no_model_logs_is_refused_naming_the_nearest_and_all_it_logs(metric, nearest):
    logged = "val/loss, val/mae, val/mae_orig, val/mape, val/mape_orig, val/mase, val/mase_orig, val/mse, " \
             "val/mse_orig, val/rmse, val/rmse_orig, val/smape, val/smape_orig"  # fmt: skip
    message = f"--metric '{metric}' is no metric that a fit logs (did you mean '{nearest}'?): a trial's fit with its " \
              f"loss logs {logged}"  # fmt: skip
    with pytest.raises(ValueError) as refused:
        study_checks.check_metric(metric, [model()], [])
    assert str(refused.value) == message


def test_a_metric_that_one_of_the_searched_losses_logs_is_accepted():
    """A quantile loss logs crps, which MSE does not: a space that may choose it may be scored by it."""
    study_checks.check_metric("val/crps", [model(), model(QuantileLoss())], [])
    study_checks.check_metric("val/coverage_orig", [model(GaussianNLLLoss())], [])
    with pytest.raises(ValueError, match="--metric 'val/crps' is no metric that a fit logs .* the losses the space"):
        study_checks.check_metric("val/crps", [model(), model()], [])


def test_a_metric_is_left_to_the_fit_where_a_callback_of_the_users_may_log_it():
    study_checks.check_metric("val/mine", [model()], [LambdaCallback()])
    with pytest.raises(ValueError, match="'val/mine' is no metric"):
        study_checks.check_metric("val/mine", [model()], [EarlyStopping("val/loss")])


@pytest.mark.slow  # 5 s: it parses the config and builds a model per loss
def test_tune_refuses_a_metric_no_model_of_the_space_logs_before_any_trial_trains(tune_fit_args, tmp_path):
    """Every trial of the study ran, each failing after its first validation with "metric='val/nope' was not
    logged"."""
    args = TuneArgs(space=LR, metric="val/nope", n_trials=2, run_dir=str(tmp_path), study_name="nope")
    with pytest.raises(ValueError, match=r"--metric 'val/nope' is no metric that a fit logs \(did you mean 'val/"):
        tune(args, tune_fit_args)
    assert not (tmp_path / "trials").exists() and not (tmp_path / "study.db").exists()
    check_fits({"model.loss": {"choice": LOSSES}}, tune_fit_args, "val/crps")


def data_module(frame: pd.DataFrame, lookback: int, horizon: int = 6, **options) -> TimeSeriesDataModule:
    return TimeSeriesDataModule(frame, lookback=lookback, horizon=horizon, **options)


@pytest.mark.parametrize("horizon", [6, 20])
def test_longest_lookback_is_the_longest_the_data_module_fits_with(horizon, wide_frame):
    """Against the data module's own check of the parts (setup("fit")) at the answer and one above."""
    longest = study_checks.longest_lookback(data_module(wide_frame, 4, horizon))
    assert longest == 140 - horizon
    data_module(wide_frame, longest, horizon).setup("fit")
    with pytest.raises(ForecastDataError, match="the train part has no window"):
        data_module(wide_frame, longest + 1, horizon).setup("fit")


def test_longest_lookback_of_long_data_reads_every_series_unless_drop_short(long_frame):
    """Series of 120, 90 and 150 rows: without drop_short each needs lookback + horizon rows (84 + 6 for the 90);
    with it the 150 rows' training targets, its first 105 (FractionSplit's 70%), leave lookbacks up to 99."""
    columns = Columns(targets=["y"], past_covariates=["load"], future_covariates=["price"], static_covariates=["size"])
    strict = study_checks.longest_lookback(data_module(long_frame, 4, columns=columns))
    assert strict == 90 - 6
    data_module(long_frame, strict, columns=columns).setup("fit")
    with pytest.raises(ForecastDataError, match="shorter than lookback"):
        data_module(long_frame, strict + 1, columns=columns)
    dropping = study_checks.longest_lookback(data_module(long_frame, 4, columns=columns, drop_short=True))
    assert dropping == 105 - 6
    with pytest.warns(UserWarning, match="drop_short"):
        data_module(long_frame, dropping, columns=columns, drop_short=True).setup("fit")
        with pytest.raises(ForecastDataError, match="the train part has no window"):
            data_module(long_frame, dropping + 1, columns=columns, drop_short=True).setup("fit")


@pytest.mark.parametrize(
    "space, config_lookback, where",
    [
        ({"data.lookback": {"choice": [24, LONGEST + 1]}}, 24, f"search.yaml: 'data.lookback' takes {LONGEST + 1}"),
        ({"data.lookback": {"int": [24, 200]}}, 24, "search.yaml: 'data.lookback' ranges up to 200"),
        (LR, 150, "the config's data.lookback 150 (--config or --data.lookback)"),
        ({"data.lookback": {"int": [24, 48], "when": {"m": 1}}, "m": {"choice": [1, 2]}}, 150, "the config's"),
    ],
)
def test_a_lookback_that_leaves_no_window_is_refused_naming_the_longest(space, config_lookback, where, wide_frame):
    """The data's 200 rows take a lookback of 134 at most: a trial of a longer one failed with "the train part has
    no window" after its data was read (and counted towards n_trials)."""
    config = {"data": {"lookback": config_lookback}}
    with pytest.raises(ValueError) as refused:
        study_checks.check_lookbacks(SearchSpace(space, "search.yaml"), config, data_module(wide_frame, 24))
    assert str(refused.value).startswith(where)
    assert str(refused.value).endswith(
        f", which leaves the data no training or validation window at data.horizon 6: the longest lookback it "
        f"allows is {LONGEST}; give lookbacks of at most {LONGEST}"
    )


def test_lookbacks_the_data_allows_are_accepted(wide_frame):
    """The config's own lookback is unused where every trial sets one."""
    space = SearchSpace({"data.lookback": {"int": [24, LONGEST]}})
    study_checks.check_lookbacks(space, {"data": {"lookback": 1000}}, data_module(wide_frame, 24))


def test_no_lookback_at_all_names_the_horizon(wide_frame):
    with pytest.raises(ValueError, match="no lookback leaves the data a training and a validation window at "
                                         "data.horizon 140; use longer series"):  # fmt: skip
        study_checks.check_lookbacks(SearchSpace(LR), {"data": {"lookback": 24}}, data_module(wide_frame, 24, 140))


@pytest.mark.slow  # 3 s: it parses the config and builds a model
def test_tune_refuses_a_lookback_the_data_cannot_window_before_any_trial_trains(tune_fit_args, tmp_path):
    """The shortest lookback builds the data: with 400 (the first choice) 200 rows would be refused as read."""
    args = TuneArgs(space={"data.lookback": {"choice": [400, 24]}}, n_trials=2, run_dir=str(tmp_path))
    with pytest.raises(ValueError, match=f"--space: 'data.lookback' takes 400, .* allows is {LONGEST}"):
        tune(args, tune_fit_args)
    assert not (tmp_path / "trials").exists()


@pytest.mark.slow  # 3 s: it parses the config and builds a trainer
def test_a_fit_without_validation_is_refused_before_any_trial_trains(tune_fit_args, tmp_path, monkeypatch):
    """Every trial trained, then failed with "no validation ran". The check writes nothing (its trainers log
    nowhere)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="trainer.limit_val_batches is 0, so no trial validates"):
        check_fits(LR, [*tune_fit_args, "--trainer.limit_val_batches", "0", "--trainer.default_root_dir", "runs"])
    assert not list(tmp_path.iterdir())
