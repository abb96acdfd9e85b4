"""Hand mutation testing, round 5: tests for the mutants of what the CLI, ``forecast.fit``, a backtest and
``forecast tune`` refuse or set up before a run (``forecast.model_checks``, ``forecast.specs``, ``forecast.cli``,
``forecast.train``, ``forecast.trainer``, ``forecast.tune``, ``forecast.study_checks``) that the suite let through.
Each fails under its mutant and passes on the real code."""

import functools
import io
from types import SimpleNamespace

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from lightning.fabric.utilities.seed import max_seed_value
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint

import forecast
from forecast import Calendar, Columns, Forecaster, TimeSeriesDataModule, losses, study_checks
from forecast.callbacks import FiniteLossCheck, RandomStateCheckpoint, ResumableModelCheckpoint
from forecast.cli import _cardinalities, main
from forecast.errors import ForecastDataError
from forecast.model_checks import check_data
from forecast.nn import GRUEncoder, IdentityEncoder, LastValueHead, ResidualCycle
from forecast.search_space import SearchSpace
from forecast.specs import from_spec, to_spec
from forecast.study_checks import _check_validates, _probe_values
from forecast.train import _own_callbacks, _written
from forecast.trainer import ForecastTrainer
from forecast.tune import _check_args
from forecast.tune_args import TuneArgs

pytestmark = pytest.mark.filterwarnings("ignore")


def gru_of(input_size: int) -> GRUEncoder:
    """A module-level function that builds an encoder: callable as a part, but no class a checkpoint rebuilds."""
    return GRUEncoder(input_size, hidden_size=4)


@pytest.mark.parametrize("encoder", [gru_of, functools.partial(gru_of)], ids=["function", "partial-of-function"])
def test_a_part_given_as_a_module_level_function_is_refused_naming_the_part(encoder):
    with pytest.raises(TypeError, match=r"model.encoder is a function, which a checkpoint cannot rebuild"):
        Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, encoder=encoder)


def test_a_part_given_as_a_class_defined_inside_a_function_is_refused_naming_the_part():
    class LocalEncoder(GRUEncoder):
        pass

    with pytest.raises(TypeError, match=r"model.encoder is a function, which a checkpoint cannot rebuild"):
        Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, encoder=LocalEncoder)


@pytest.mark.parametrize("cardinalities", [[3], [3, 0, 2]], ids=["fewer", "more"])
def test_static_cardinalities_of_another_length_than_the_static_features_are_refused(cardinalities):
    """Two static features and one entry (or three): the model would embed another count of columns than it reads."""
    with pytest.raises(ValueError, match=r"needs one entry per static feature \(static_size=2\)"):
        Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, static_size=2,
                   static_cardinalities=cardinalities)  # fmt: skip


def test_a_static_cardinality_of_minus_one_is_refused_naming_it():
    """-1, the border below 0 (a number's 0 is taken), is no count of categories."""
    with pytest.raises(ValueError, match=r"model.static_cardinalities=\[-1\] holds -1: give each static feature"):
        Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, static_size=1, static_cardinalities=[-1])


def _hourly(**columns: np.ndarray) -> pd.DataFrame:
    rows = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range("2024-01-01", periods=rows, freq="h", name="time"))


def test_a_baseline_forecasting_fewer_target_channels_than_the_data_holds_is_refused_naming_target_size():
    """A parameter-free baseline reads any window, but its forecast must have the data's target channels."""
    frame = _hourly(y=np.sin(np.arange(96) / 3.0), z=np.cos(np.arange(96) / 5.0))
    data = TimeSeriesDataModule(frame, 8, 4, columns=Columns(targets=["y", "z"]))
    assert (data.input_size, data.target_size) == (2, 2)
    baseline = Forecaster(
        lookback=8, horizon=4, input_size=2, target_size=1, encoder=IdentityEncoder, head=LastValueHead
    )
    with pytest.raises(ValueError, match=r"reads windows of target_size=1, but the data module gives target_size=2"):
        check_data(baseline, data)
    longer = Forecaster(
        lookback=30, horizon=4, input_size=2, target_size=2, encoder=IdentityEncoder, head=LastValueHead
    )
    check_data(longer, data)  # another lookback is a baseline's by design


def test_a_cycle_model_reading_another_season_channel_than_the_data_is_refused_naming_it():
    """The data's season positions follow its future covariate (channel 1); a cycle reading channel 0 would take the
    covariate for the hour of the day."""
    frame = _hourly(y=np.sin(np.arange(96) / 3.0), promo=np.arange(96) % 2 * 1.0)
    data = TimeSeriesDataModule(frame, 8, 4, columns=Columns(targets=["y"], future_covariates=["promo"]),
                                calendar=Calendar(features=["season"], encoding="integer"))  # fmt: skip
    assert (data.season_channel, data.season_length, data.future_size) == (1, 24, 2)
    model = Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, future_size=2, season_channel=0,
                       season_length=24, cycle=ResidualCycle, encoder=IdentityEncoder, head=LastValueHead)  # fmt: skip
    with pytest.raises(ValueError, match=r"season_channel=0, but the data module gives season_channel=1"):
        check_data(model, data)


def test_a_baseline_built_without_the_categories_of_the_data_statics_is_taken():
    """A parameter-free baseline reads no static column, so it is not refused for reading a categorical one as a
    number (a network is: ``tests/test_model_checks29.py``)."""
    frame = pd.concat(
        pd.DataFrame({"id": name, "time": pd.date_range("2024-01-01", periods=40, freq="h"),
                      "y": np.arange(40.0) * scale, "region": region})
        for name, region, scale in [("a", "north", 1.0), ("b", "south", 2.0)]
    )  # fmt: skip
    data = TimeSeriesDataModule(frame, 8, 4, columns=Columns(targets=["y"], static_covariates=["region"]))
    assert data.static_cardinalities == [2]
    baseline = Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, static_size=1,
                          encoder=IdentityEncoder, head=LastValueHead)  # fmt: skip
    check_data(baseline, data)


def test_numpy_numbers_in_a_spec_load_from_a_checkpoint_read_with_weights_only():
    """``np.float64`` is a float subclass that ``torch.load(weights_only=True)`` refuses: a spec holds plain floats."""
    spec = to_spec(functools.partial(torch.optim.Adam, lr=np.float64(1e-3), betas=np.array([0.9, 0.99])))
    assert type(spec["init_args"]["lr"]) is float
    buffer = io.BytesIO()
    torch.save({"optimizer": spec}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["optimizer"]
    assert loaded == {"class_path": "torch.optim.adam.Adam", "init_args": {"lr": 1e-3, "betas": [0.9, 0.99]}}
    assert from_spec(loaded, call=False).keywords == {"lr": 1e-3, "betas": [0.9, 0.99]}


def test_a_tuple_argument_of_a_part_is_recorded_as_a_list():
    """``betas=(0.9, 0.99)``, Adam's own form: recorded as plain data, not refused (nor kept as its repr)."""
    spec = to_spec(functools.partial(torch.optim.Adam, lr=0.01, betas=(0.9, 0.99)))
    assert spec == {"class_path": "torch.optim.adam.Adam", "init_args": {"lr": 0.01, "betas": [0.9, 0.99]}}


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [({"static_size": 2, "static_cardinalities": None}, [0, 0]),
     ({"static_size": 2, "static_cardinalities": (3, 0)}, [3, 0]),
     ({"static_size": 2}, None)],
    ids=["older-python-fit", "categories", "none-recorded"],
)  # fmt: skip
def test_a_checkpoints_categories_per_static_column_read_none_as_numbers(recorded, expected):
    """An older Python fit wrote ``static_cardinalities: None`` for static columns that are all numbers: zeros, which
    the CLI compares with the data's (``[0, 0]``), not a mismatch with ``None``."""
    assert _cardinalities(recorded) == expected


def test_channel_embedding_size_1_without_channel_independent_is_refused():
    """1 is the smallest size that sets the option, which only a channel-independent model reads."""
    with pytest.raises(ValueError, match=r"model.channel_embedding_size=1 needs model.channel_independent: true"):
        Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, channel_embedding_size=1)


@pytest.mark.slow  # the CLI's parser: about 1.5 s
def test_a_checkpoint_of_another_horizon_is_refused_naming_the_flag_before_anything_is_built(tmp_path):
    """Saved from an untrained model of horizon 6, read with ``--data.horizon 12``: refused as the lookback is."""
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1)
    trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "h6.ckpt")
    _hourly(y=np.sin(np.arange(200) / 3.0)).to_csv(tmp_path / "y.csv")
    args = ["validate", "--data.source", str(tmp_path / "y.csv"), "--data.lookback", "24", "--data.horizon", "12",
            "--ckpt_path", str(tmp_path / "h6.ckpt"), "--trainer.default_root_dir", str(tmp_path)]  # fmt: skip
    with pytest.raises(ValueError, match=r"trained on windows of horizon 6, not horizon 12: pass --data.horizon 6$"):
        main(args)


def test_fit_returns_the_best_checkpoint_rather_than_the_last():
    """``forecast.fit`` loads what ``_written`` names: the best checkpoint where the fit wrote one, its last
    otherwise (a ModelCheckpoint that monitors nothing)."""
    assert _written(SimpleNamespace(best_model_path="b.ckpt", last_model_path="last.ckpt")) == "b.ckpt"
    assert _written(SimpleNamespace(best_model_path="", last_model_path="last.ckpt")) == "last.ckpt"


def test_fit_takes_its_callbacks_as_a_tuple():
    """A tuple of callbacks is callbacks, not one item that is no callback: the fit goes on to read the data,
    whose error (a column missing) is the one raised."""
    frame = _hourly(y=np.arange(64.0))
    with pytest.raises(ForecastDataError, match="absent"):
        forecast.fit(frame, lookback=8, horizon=4, data={"columns": Columns(targets=["absent"])},
                     trainer={"callbacks": (EarlyStopping("val/loss"),)})  # fmt: skip


def test_tune_refuses_a_fit_that_never_validates():
    """No trial of a fit with ``limit_val_batches`` 0 validates, and a trial's score is its best validation;
    a fit that validates on some batches is taken."""
    with pytest.raises(ValueError, match="trainer.limit_val_batches is 0, so no trial validates"):
        _check_validates(L.Trainer(limit_val_batches=0, logger=False, enable_checkpointing=False))
    _check_validates(L.Trainer(limit_val_batches=0.5, logger=False, enable_checkpointing=False))


def test_a_backtest_that_refits_under_two_processes_is_refused_naming_the_count():
    """A refit trains in one process: two devices (a DDP trainer, built but not launched) are refused before any
    window is read."""
    data = TimeSeriesDataModule(_hourly(y=np.sin(np.arange(96) / 3.0)), 8, 4)
    model = Forecaster(lookback=8, horizon=4, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(accelerator="cpu", devices=2, strategy="ddp", logger=False, enable_progress_bar=False)
    assert trainer.world_size == 2
    with pytest.raises(ValueError, match=r"--refit_every trains in one process: run on one device \(got 2 processes\)"):
        trainer.backtest(model, data, refit_every=1)


def test_fit_adds_only_the_checkpointing_callbacks_the_users_callbacks_lack():
    """Lightning refuses two callbacks of one state key, so fit adds its ModelCheckpoint and RandomStateCheckpoint
    only where the user's callbacks hold none of the kind (a subclass counts); with both given, Lightning takes the
    list fit passes on."""
    own = ResumableModelCheckpoint(monitor="val/loss", mode="min", save_last=True)
    assert [type(callback) for callback in _own_callbacks([EarlyStopping("val/loss")], own)] == [
        ResumableModelCheckpoint,
        RandomStateCheckpoint,
    ]
    given = [ModelCheckpoint(monitor="val/mse")]
    assert [type(callback) for callback in _own_callbacks(given, own)] == [RandomStateCheckpoint]
    mine = [ResumableModelCheckpoint(monitor="val/loss", mode="min", save_last=True), RandomStateCheckpoint()]
    assert _own_callbacks(mine, own) == []
    L.Trainer(callbacks=[FiniteLossCheck(), *_own_callbacks(mine, own), *mine], logger=False)


@pytest.mark.parametrize(
    ("option", "refused"),
    [({"n_trials": -1}, r"--n_trials -1 is negative"), ({"n_trials": 0}, None), ({"n_jobs": 1}, None),
     ({"heartbeat_interval": 1}, None), ({"heartbeat_interval": 0}, r"--heartbeat_interval 0 is below 1"),
     ({"timeout": 0.5}, None), ({"seed": max_seed_value}, None),
     ({"seed": max_seed_value + 1}, rf"--seed {max_seed_value + 1} is out of range")],
    ids=["n_trials-1", "n_trials0", "n_jobs1", "heartbeat1", "heartbeat0", "timeout-half", "seed-max", "seed-above"],
)  # fmt: skip
def test_tune_options_at_the_edges_of_their_ranges(option, refused):
    """Each option's border against its documented range: n_trials 0 or more, n_jobs and heartbeat_interval 1 or
    more, a timeout above 0 (half a second is one), a seed from 0 to Lightning's ``max_seed_value``."""
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}}, **option)
    if refused is None:
        _check_args(args, ["tune"])
    else:
        with pytest.raises(ValueError, match=refused):
            _check_args(args, ["tune"])


LOSSES = {"choice": ["forecast.losses.MSELoss", "forecast.losses.QuantileLoss"]}


def test_the_trials_tune_checks_take_the_lowest_value_and_each_loss_under_its_condition():
    """Before any trial trains, tune builds the trial of every key's first choice or lowest value, and one per loss
    the space may choose, under the condition that samples it."""
    lr, loss = {"float": [1e-3, 1e-1]}, {**LOSSES, "when": {"m": 2}}
    space = SearchSpace({"model.optimizer.init_args.lr": lr, "data.lookback": {"int": [12, 48]},
                         "m": {"choice": [1, 2]}, "model.loss": loss}, "search.yaml")  # fmt: skip
    first = {"model.optimizer.init_args.lr": 1e-3, "data.lookback": 12}
    assert _probe_values(space) == [
        {**first, "m": 1},
        {**first, "m": 2, "model.loss": "forecast.losses.MSELoss"},
        {**first, "m": 2, "model.loss": "forecast.losses.QuantileLoss"},
    ]


def test_tune_checks_its_metric_against_every_loss_at_the_shortest_lookback(monkeypatch):
    """``check_fits`` builds each trial it checks (``_build``, here without the CLI) at the shortest lookback of
    the space, and a metric that only a later loss choice logs (``val/crps``, a quantile loss's) is taken."""
    frame = _hourly(y=np.sin(np.arange(200) / 3.0))
    built = []

    def build(fit_args, overrides):
        built.append(overrides)
        loss = losses.QuantileLoss() if overrides.get("model.loss", "").endswith("QuantileLoss") else losses.MSELoss()
        lookback = overrides["data.lookback"]
        model = Forecaster(lookback=lookback, horizon=6, input_size=1, target_size=1, loss=loss)
        trainer = SimpleNamespace(limit_val_batches=1.0, callbacks=[], check_val_every_n_epoch=1, max_epochs=1)
        trainer.max_steps = -1
        return SimpleNamespace(model=model, trainer=trainer, datamodule=TimeSeriesDataModule(frame, lookback, 6))

    monkeypatch.setattr(study_checks, "_build", build)
    space = SearchSpace({"data.lookback": {"choice": [48, 24]}, "model.loss": LOSSES}, "search.yaml")
    study_checks.check_fits(space, [], {"data": {"lookback": 96}}, "val/crps")
    assert [(entry["data.lookback"], entry["model.loss"].rsplit(".", 1)[1]) for entry in built] == [
        (24, "MSELoss"),
        (24, "QuantileLoss"),
    ]
    with pytest.raises(ValueError, match=r"--metric 'val/crps' is no metric that a fit logs"):
        study_checks.check_fits(SearchSpace({"data.lookback": {"choice": [48, 24]}}), [], {}, "val/crps")


def test_tune_from_python_refuses_extra_processes_without_their_command_line():
    """``--n_jobs 2`` starts a second ``forecast tune`` with ``worker_argv``; without one it would start a bare
    ``forecast tune`` of no config."""
    args = TuneArgs(space={"model.optimizer.init_args.lr": {"float": [1e-3, 1e-1]}}, n_jobs=2)
    with pytest.raises(ValueError, match=r"n_jobs > 1 needs worker_argv, the `tune` command line"):
        _check_args(args, [])
    _check_args(args, ["--config", "fit.yaml", "--n_jobs", "2"])


@pytest.mark.slow  # a real two-epoch fit: about 3 s
def test_fit_returns_the_best_checkpoint_of_the_users_own_model_checkpoint(tmp_path):
    """A ModelCheckpoint among the callbacks takes the place of fit's own, and fit returns its best: here the
    epoch of the highest validation MSE (mode max), whose weights the returned model holds."""
    frame = _hourly(y=np.sin(np.arange(240) / 3.0) + np.arange(240) / 100.0)
    own = ModelCheckpoint(monitor="val/mse", mode="max", dirpath=tmp_path / "own", filename="{epoch}")
    trainer = {"callbacks": [own], "max_epochs": 2, "default_root_dir": str(tmp_path), "logger": False,
               "enable_progress_bar": False, "enable_model_summary": False}  # fmt: skip
    model = forecast.fit(frame, lookback=24, horizon=6, data={"split": forecast.data.FractionSplit()},
                         model={"encoder": functools.partial(GRUEncoder, hidden_size=8)}, trainer=trainer)  # fmt: skip
    assert own.best_model_path.startswith(str(tmp_path / "own"))
    best = torch.load(own.best_model_path, map_location="cpu", weights_only=True)["state_dict"]
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value, best[name], rtol=0, atol=0)


@pytest.mark.slow  # two parses of the CLI: about 2 s
def test_tune_names_the_clis_own_error_for_a_trial_that_does_not_build(tmp_path):
    """A trial's settings the CLI refuses (here a misspelt trainer key) are refused with the CLI's message, which
    names the key and the nearest one, not only the status jsonargparse exited with."""
    config = tmp_path / "bad.yaml"
    config.write_text("trainer:\n  max_epoch: 1\n")
    with pytest.raises(ValueError, match=r"max_epoch.*did you mean 'trainer.max_epochs'"):
        study_checks._build(["--config", str(config)], {})
