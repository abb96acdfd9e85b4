import copy
import functools
import subprocess
import sys
import zipfile
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

import forecast
from forecast import Calendar, Columns, ForecastDataError, Forecaster, Scaling
from forecast.losses import Loss, QuantileLoss
from forecast.nn import GRUEncoder, IdentityEncoder, LastValueHead, LastValueNormalization, ResidualCycle
from forecast.nn.encoders import Encoder

TINY = {"encoder": functools.partial(GRUEncoder, hidden_size=8), "normalization": LastValueNormalization}


def quiet_trainer(root) -> dict:
    return {"max_epochs": 2, "default_root_dir": str(root), "enable_progress_bar": False, "logger": False}


def long_series(periods: int = 200, freq: str = "h", names=("s0", "s1", "s2")) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for i, name in enumerate(names):
        values = 10 * (i + 1) + np.sin(np.arange(periods) / 3) + 0.1 * rng.standard_normal(periods)
        frames.append(
            pd.DataFrame({"id": name, "time": pd.date_range("2024-01-31", periods=periods, freq=freq), "y": values})
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny global GRU over three hourly series, scaled per series, with calendar features."""
    root = tmp_path_factory.mktemp("fit")
    data = {"scaling": Scaling(per_series=True), "calendar": Calendar(features=["hour"]), "batch_size": 32}
    model = forecast.fit(long_series(), lookback=24, horizon=6, data=data, model=TINY, trainer=quiet_trainer(root))
    return model, root


def test_fit_returns_a_loaded_model_that_predicts_after_each_series(trained):
    model, _ = trained
    history = long_series()
    table = model.predict(history)
    assert list(table.columns) == ["id", "time", "y"] and len(table) == 3 * 6
    last = history["time"].max()
    for _, rows in table.groupby("id"):
        assert list(rows["time"]) == list(pd.date_range(last + pd.Timedelta(hours=1), periods=6, freq="h"))


def test_fit_links_the_calendar_season_into_a_residual_cycle(tmp_path):
    data = {"calendar": Calendar(features=["season"], encoding="integer"), "batch_size": 32}
    history = long_series(names=("s0",))
    options = {"model": TINY | {"cycle": ResidualCycle}, "trainer": quiet_trainer(tmp_path) | {"max_epochs": 1}}
    model = forecast.fit(history, lookback=24, horizon=6, data=data, **options)
    assert (model.season_channel, model.cycle.period) == (0, 24)  # the season of hourly data: a day
    assert len(model.predict(history)) == 6


def test_predict_in_a_fresh_process_equals_predict_in_this_one(trained, tmp_path):
    model, root = trained
    checkpoint = next(root.rglob("last.ckpt"))
    history = long_series().groupby("id").tail(30)
    history.to_parquet(tmp_path / "history.parquet")
    history_path, output = str(tmp_path / "history.parquet"), str(tmp_path / "out.parquet")
    code = (
        "import pandas as pd; from forecast import Forecaster; "
        f"model = Forecaster.load({str(checkpoint)!r}); "
        f"model.predict(pd.read_parquet({history_path!r})).to_parquet({output!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    expected = Forecaster.load(checkpoint).predict(history)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out.parquet"), expected)


def test_predict_does_not_depend_on_the_batch_size(trained):
    model, _ = trained
    history = long_series()
    pd.testing.assert_frame_equal(model.predict(history, batch_size=1), model.predict(history, batch_size=256))


def test_predict_takes_numpy_whole_numbers_for_horizon_and_batch_size(trained):
    """Counts from a grid (np.arange) are whole numbers, as the error messages promise."""
    model, _ = trained
    history = long_series()
    expected = model.predict(history, horizon=3, batch_size=2)
    pd.testing.assert_frame_equal(model.predict(history, horizon=np.int64(3), batch_size=np.int64(2)), expected)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-5), (torch.bfloat16, 2e-2)])
def test_a_model_in_float64_or_bfloat16_predicts_what_it_predicts_in_float32(trained, dtype, tolerance):
    """The data's windows are float32: a model moved to another dtype reads them in its own."""
    model, _ = trained
    history = long_series()
    expected = model.predict(history)
    table = copy.deepcopy(model).to(dtype).predict(history)
    pd.testing.assert_frame_equal(table, expected, rtol=tolerance)


def test_predict_that_fails_leaves_a_model_in_training_mode_in_it(trained, monkeypatch):
    model, _ = trained
    was_training = model.training
    model.train()

    def refuse(batch, batch_idx):
        raise ForecastDataError("a window the loader refuses")

    monkeypatch.setattr(model, "predict_step", refuse)
    with pytest.raises(ForecastDataError, match="refuses"):
        model.predict(long_series())
    assert model.training and all(module.training for module in model.modules())
    model.train(was_training)


def test_predict_leaves_a_part_the_caller_froze_in_eval_mode_in_eval_mode(trained):
    """Fine-tuning with a frozen encoder: a predict between steps must not turn the encoder's dropout back on."""
    model, _ = trained
    model.train()
    model.encoder.eval()
    try:
        model.predict(long_series())
        assert model.training and model.head.training and not model.encoder.training
    finally:
        model.eval()


def test_predict_of_a_frame_the_checkpoints_options_refuse_says_those_options_apply(trained):
    """The data module's fixes name options (nan_policy, data.freq) that predict takes from the checkpoint."""
    model, _ = trained
    history = long_series()
    history.loc[5, "y"] = np.nan
    applies = r"\(predict reads the frame with the checkpoint's data options, nan_policy 'error' and frequency 'h'"
    with pytest.raises(ForecastDataError, match=r"nan_policy.*" + applies + ": change the frame to fit them"):
        model.predict(history)


def test_predict_of_a_series_too_short_names_it_and_the_rows_it_needs(trained):
    model, _ = trained
    history = long_series()
    short = history[(history["id"] != "s0") | (history["time"] >= history["time"].max() - pd.Timedelta(hours=19))]
    with pytest.raises(ForecastDataError, match=r"'s0' \(20 rows\); give each at least 24 rows of history"):
        model.predict(short)


def test_unseen_series_are_scaled_by_their_own_history(trained):
    """Per-series standard scaling is affine-equivariant: u2 = 3 u1 + 7 gives forecasts 3 f(u1) + 7."""
    model, _ = trained
    base = long_series(names=("u1",)).tail(40)
    shifted = base.assign(id="u2", y=3 * base["y"] + 7)
    with pytest.warns(UserWarning, match="2 series the checkpoint does not know .'u1', 'u2'. are scaled on their own"):
        table = model.predict(pd.concat([base, shifted]))
    u1, u2 = (table.loc[table["id"] == name, "y"].to_numpy() for name in ("u1", "u2"))
    np.testing.assert_allclose(u2, 3 * u1 + 7, rtol=1e-4)


def test_the_warning_about_unseen_series_points_at_the_callers_predict(trained):
    """The warning names the line that called ``predict``, so a user can find and filter it by their own module."""
    model, _ = trained
    with pytest.warns(UserWarning, match="1 series the checkpoint does not know") as caught:
        model.predict(long_series(names=("u1",)).tail(30))
    assert [Path(warning.filename) for warning in caught] == [Path(__file__)]


def test_forecasts_join_back_onto_a_history_with_integer_ids(trained):
    model, _ = trained
    history = long_series().assign(id=lambda rows: rows["id"].map({"s0": 10, "s1": 11, "s2": 12}))
    table = model.predict(history)
    assert table["id"].dtype == history["id"].dtype
    last = history.groupby("id")["y"].last().rename("last")
    joined = table.merge(last, left_on="id", right_index=True, validate="many_to_one")
    assert len(joined) == len(table) and sorted(joined["id"].unique()) == [10, 11, 12]
    texts = model.predict(history.assign(id=lambda rows: rows["id"].astype(str)))
    assert texts["id"].tolist() == table["id"].astype(str).tolist()
    np.testing.assert_array_equal(table["y"], texts["y"])  # the same series, only typed otherwise


def test_predict_of_a_frame_without_the_id_column_names_it(trained):
    """Three series stacked without their ids would be read as one wide series: refused, naming the column."""
    model, _ = trained
    with pytest.raises(ForecastDataError, match="the frame repeats times but has no series id column 'id'"):
        model.predict(long_series().rename(columns={"id": "series"}))


def test_predict_of_a_long_frame_without_the_time_column_names_it(trained):
    """The checkpoint reads times under its own name: the message says to rename, not to set data.columns."""
    model, _ = trained
    history = long_series()
    message = r"the frame has series ids 'id' but no time column 'time' .*; give the frame its times under that name"
    for frame in (history.rename(columns={"time": "date"}), history.set_index("time").rename_axis(None)):
        with pytest.raises(ForecastDataError, match=message):
            model.predict(frame)
    pd.testing.assert_frame_equal(model.predict(history.set_index("time")), model.predict(history))


def test_a_checkpoint_scaled_by_a_factory_predicts_the_series_it_knows(tmp_path, monkeypatch):
    """``data.scaling.scaler`` may be a factory; predict builds none from a file (it could name any function),
    and needs none for the series whose fitted scalers the checkpoint carries."""
    (tmp_path / "my_scalers.py").write_text(
        "from sklearn.preprocessing import StandardScaler\n\ndef standard():\n    return StandardScaler()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_scalers

    data = {"scaling": Scaling(scaler=my_scalers.standard, per_series=True), "batch_size": 32}
    model = forecast.fit(long_series(), lookback=24, horizon=6, data=data, model=TINY, trainer=quiet_trainer(tmp_path))
    table = model.predict(long_series())
    assert len(table) == 3 * 6 and np.isfinite(table["y"]).all()
    with pytest.raises(ForecastDataError, match="series 'u1' is not one the checkpoint knows, .* data.scaling.scaler"):
        model.predict(long_series(names=("u1",)))


def test_predict_a_shorter_horizon_keeps_the_first_steps(trained):
    model, _ = trained
    history = long_series()
    full, short = model.predict(history), model.predict(history, horizon=2)
    pd.testing.assert_frame_equal(short.reset_index(drop=True), full.groupby("id").head(2).reset_index(drop=True))
    pd.testing.assert_frame_equal(model.predict(history, horizon=np.int64(2)), short)  # numpy's ints are ints
    with pytest.raises(ValueError, match="forecasts 1 to 6 steps"):
        model.predict(history, horizon=7)


@pytest.mark.parametrize(
    ("freq", "expected"),
    [("D", ["2024-08-18", "2024-08-19"]), ("ME", ["2040-09-30", "2040-10-31"])],
    ids=["daily", "month-end"],
)
def test_forecast_times_continue_at_the_data_frequency(freq, expected, tmp_path):
    history = long_series(periods=200, freq=freq, names=("s0",))
    model = forecast.fit(history, lookback=12, horizon=2, model=TINY, trainer=quiet_trainer(tmp_path))
    table = model.predict(history)
    assert list(table["time"]) == list(pd.to_datetime(expected))


@pytest.mark.parametrize(
    ("last", "zone", "expected"),
    [
        ("2018-11-04", "America/Sao_Paulo", ["2018-11-05 00:00:00-02:00", "2018-11-06 00:00:00-02:00"]),
        ("2024-11-02 01:30", "America/New_York", ["2024-11-03 01:30:00-04:00", "2024-11-04 01:30:00-05:00"]),
    ],
    ids=["after a skipped midnight", "to a repeated 01:30"],
)
def test_forecast_times_continue_on_the_wall_clock_across_daylight_saving(last, zone, expected, tmp_path):
    """Sao Paulo skipped midnight of 2018-11-04 (pandas stores that row at 01:00); New York has 01:30 of
    2024-11-03 twice (the forecast takes the first)."""
    naive = pd.date_range(end=last, periods=100, freq="D")
    times = naive.tz_localize(zone, nonexistent="shift_forward")
    history = pd.DataFrame({"id": "s0", "time": times, "y": np.sin(np.arange(100) / 3)})
    model = forecast.fit(history, lookback=12, horizon=2, model=TINY, trainer=quiet_trainer(tmp_path))
    assert [str(time) for time in model.predict(history)["time"]] == expected


def test_probabilistic_model_predicts_quantile_columns(tmp_path):
    history = long_series(names=("s0",))
    model = forecast.fit(
        history,
        lookback=24,
        horizon=4,
        model={**TINY, "loss": QuantileLoss([0.1, 0.5, 0.9])},
        trainer=quiet_trainer(tmp_path),
    )
    table = model.predict(history)
    assert list(table.columns) == ["id", "time", "y", "y_q0.1", "y_q0.5", "y_q0.9"]
    assert (table["y_q0.1"] <= table["y_q0.9"]).all()


def test_missing_future_covariates_are_named(tmp_path):
    history = long_series(names=("s0",)).assign(temp=lambda frame: np.cos(np.arange(len(frame))))
    model = forecast.fit(
        history,
        lookback=24,
        horizon=4,
        data={"columns": Columns(future_covariates=["temp"])},
        model=TINY,
        trainer=quiet_trainer(tmp_path),
    )
    with pytest.raises(ForecastDataError, match="temp"):
        model.predict(history)  # no rows with the horizon's temperatures after the data
    future = pd.DataFrame(
        {"id": "s0", "time": pd.date_range(history["time"].max(), periods=5, freq="h")[1:], "temp": 0.5}
    )
    assert len(model.predict(pd.concat([history, future]))) == 4


def test_predict_needs_a_loaded_model():
    with pytest.raises(ValueError, match="Forecaster.load"):
        Forecaster(lookback=4, horizon=2, input_size=1, target_size=1).predict(long_series())


def test_load_refuses_what_is_not_a_forecast_checkpoint(tmp_path, trained):
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a forecast checkpoint"):
        Forecaster.load(text)
    torch.save({"state_dict": {}}, tmp_path / "weights.ckpt")
    with pytest.raises(ValueError, match=r"it has no \['hyper_parameters', 'forecast_version'\]"):
        Forecaster.load(tmp_path / "weights.ckpt")
    checkpoint = torch.load(next(trained[1].rglob("last.ckpt")), weights_only=True)
    checkpoint["forecast_version"] = "99.0.0"
    torch.save(checkpoint, tmp_path / "future.ckpt")
    with pytest.raises(ValueError, match="written by forecast 99.0.0"):
        Forecaster.load(tmp_path / "future.ckpt")


STATICS = {"columns": Columns(targets=["y"], static_covariates=["region", "size"]), "batch_size": 32}


def with_statics(frame: pd.DataFrame) -> pd.DataFrame:
    """``long_series`` with a categorical and a numeric static covariate per series."""
    region = {"s0": "north", "s1": "south", "s2": "north"}
    size = {"s0": 1.5, "s1": 2.0, "s2": 0.5}
    return frame.assign(region=frame["id"].map(region), size=frame["id"].map(size))


def fit_with_statics(frame: pd.DataFrame, root) -> tuple[Forecaster, pd.DataFrame]:
    L.seed_everything(0)  # the same initial weights and batch order for every variant of the data
    trainer = quiet_trainer(root) | {"max_epochs": 1}
    model = forecast.fit(frame, lookback=12, horizon=3, data=STATICS, model=TINY, trainer=trainer)
    return model, model.predict(frame)


@pytest.fixture(scope="module")
def static_fit(tmp_path_factory):
    """A tiny GRU trained with a categorical static (north/south) and a numeric one, and its forecasts."""
    return fit_with_statics(with_statics(long_series()), tmp_path_factory.mktemp("statics"))


def test_relabelled_categories_give_the_same_forecasts(static_fit, tmp_path):
    """Categories are names: zeta/alpha for north/south (alpha now sorts first) must change nothing."""
    frame = with_statics(long_series())
    frame["region"] = frame["region"].map({"north": "zeta", "south": "alpha"})
    _, forecasts = fit_with_statics(frame, tmp_path)
    pd.testing.assert_frame_equal(forecasts, static_fit[1], rtol=1e-5)


def test_numeric_static_in_millions_trains_as_the_same_static_in_units(static_fit, tmp_path):
    frame = with_statics(long_series())
    frame["size"] *= 1e6
    _, forecasts = fit_with_statics(frame, tmp_path)
    pd.testing.assert_frame_equal(forecasts, static_fit[1], rtol=1e-4)


def test_predict_scales_numeric_statics_as_training_did(static_fit):
    """One series alone would standardize its size to 0; the checkpoint's scaling (over s0, s1, s2) is used."""
    model, forecasts = static_fit
    alone = model.predict(with_statics(long_series()).query("id == 's0'"))
    expected = forecasts[forecasts["id"] == "s0"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected, rtol=1e-5)
    assert model.data_state["scaling"]["statics"]["offset"] == [[pytest.approx((1.5 + 2.0 + 0.5) / 3)]]


def test_predict_refuses_a_category_the_model_was_not_trained_on(static_fit):
    model, _ = static_fit
    history = with_statics(long_series(names=("s0",))).assign(region="east")
    with pytest.raises(
        ForecastDataError,
        match=r"static covariate 'region' of series 's0' is 'east', a category the model was not trained on "
        r"\(it knows \['north', 'south'\]\); map it to a known one",
    ):
        model.predict(history)


def tampered(checkpoint: Path, target: Path, key: str, spec) -> Path:
    """A copy of ``checkpoint`` whose hyperparameter ``key`` is ``spec``."""
    contents = torch.load(checkpoint, weights_only=True)
    contents["hyper_parameters"][key] = spec
    torch.save(contents, target)
    return target


def run_command(ran: Path) -> dict:
    """A spec that jsonargparse would call: ``os.system`` creating ``ran``."""
    return {"class_path": "os.system", "init_args": {"command": f"touch {ran}"}}


# The hyperparameter, the spec given the path of a file that building it would create, and what
# the message names: the key, the class path and the base.
UNTRUSTED = {
    "class-outside-the-base": ("encoder", lambda ran: "subprocess.Popen", "encoder", "subprocess.Popen", Encoder),
    "function-called-by-jsonargparse": ("encoder", run_command, "encoder", "os.system", Encoder),
    "class-with-arguments": (
        "loss",
        lambda ran: {"class_path": "subprocess.Popen", "init_args": {"args": ["touch", str(ran)]}},
        "loss",
        "subprocess.Popen",
        Loss,
    ),
    "nested-in-init-args": (
        "lr_scheduler",
        lambda ran: {
            "class_path": "torch.optim.lr_scheduler.SequentialLR",
            "init_args": {"schedulers": [run_command(ran)]},
        },
        "lr_scheduler.init_args.schedulers[0]",
        "os.system",
        torch.optim.lr_scheduler.LRScheduler,
    ),
}


@pytest.mark.parametrize(("hparam", "make_spec", "key", "named", "base"), UNTRUSTED.values(), ids=UNTRUSTED.keys())
def test_load_refuses_a_checkpoint_naming_a_class_outside_the_parts_base(
    trained, tmp_path, hparam, make_spec, key, named, base
):
    ran = tmp_path / "ran"
    path = tampered(next(trained[1].rglob("last.ckpt")), tmp_path / "untrusted.ckpt", hparam, make_spec(ran))
    base_name = f"{base.__module__}.{base.__qualname__}"
    expected = f"{path}: its hyperparameter {key!r} names {named}, which is not a subclass of {base_name}; "
    with pytest.raises(ValueError) as refused:
        Forecaster.load(path)
    assert str(refused.value) == expected + f"only subclasses of {base_name} are built"
    assert not ran.exists()


@pytest.mark.parametrize(("key", "where"), [("scaling", "data.scaling.scaler"), ("split", "data.split")])
def test_load_refuses_a_checkpoint_whose_data_options_name_a_class_outside_their_base(trained, tmp_path, key, where):
    contents = torch.load(next(trained[1].rglob("last.ckpt")), weights_only=True)
    options = contents["datamodule_hyper_parameters"]
    spec = {"class_path": "subprocess.Popen", "init_args": {"args": ["true"]}}
    options[key] = {**options[key], "scaler": spec} if key == "scaling" else spec
    path = tmp_path / "untrusted.ckpt"
    torch.save(contents, path)
    with pytest.raises(ValueError, match=rf"{path}: its data hyperparameter '{where}' names subprocess.Popen"):
        Forecaster.load(path)


def test_load_names_the_file_when_a_part_refuses_its_arguments(trained, tmp_path):
    source = next(trained[1].rglob("last.ckpt"))
    spec = {"class_path": "forecast.nn.encoders.GRUEncoder", "init_args": {"hidden_size": 8, "bogus": 1}}
    path = tampered(source, tmp_path / "unknown-argument.ckpt", "encoder", spec)
    with pytest.raises(ValueError, match=rf"{path}: its hyperparameters do not build a Forecaster: .*'bogus'"):
        Forecaster.load(path)


def test_load_refuses_a_truncated_checkpoint(trained, tmp_path):
    whole = next(trained[1].rglob("last.ckpt")).read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=rf"{truncated} is not a forecast checkpoint .*: it is truncated"):
        Forecaster.load(truncated)


def test_load_refuses_a_checkpoint_with_a_flipped_byte_in_a_weight(trained, tmp_path):
    """torch's reader skips the archive's checksums: the flipped weight would load silently."""
    source = next(trained[1].rglob("last.ckpt"))
    with zipfile.ZipFile(source) as archive:
        weight = next(info for info in archive.infolist() if "/data/" in info.filename and info.file_size >= 4)
    raw = bytearray(source.read_bytes())
    header = weight.header_offset  # local header: 30 bytes, then the name and the extra field
    start = header + 30 + int.from_bytes(raw[header + 26 : header + 28], "little")
    start += int.from_bytes(raw[header + 28 : header + 30], "little")
    raw[start + 3] ^= 0x01  # the lowest exponent bit of the first float32
    damaged = tmp_path / "damaged.ckpt"
    damaged.write_bytes(bytes(raw))
    message = rf"{damaged} is not a forecast checkpoint .*{weight.filename} fails its checksum"
    with pytest.raises(ValueError, match=message):
        Forecaster.load(damaged)


def test_predict_with_too_little_history_says_it_needs_the_lookback(trained):
    model, _ = trained  # lookback 24, horizon 6, no future covariates: a forecast needs 24 rows
    with pytest.raises(ForecastDataError, match=r"3 series shorter than lookback = 24 rows: 's0' \(20 rows\)"):
        model.predict(long_series().groupby("id").tail(20))
    one = long_series(names=("s0",)).tail(20).set_index("time").drop(columns="id")
    with pytest.raises(ForecastDataError, match=r"the data has 20 rows, fewer than lookback = 24; give at least 24"):
        model.predict(one)


def test_predict_leaves_out_columns_the_checkpoint_did_not_read(trained):
    model, _ = trained  # trained with no targets named: every column without a role was a target
    history = long_series()
    pd.testing.assert_frame_equal(model.predict(history.assign(extra=1.0)), model.predict(history))
    with pytest.raises(
        ForecastDataError, match=r"the frame has no column 'y', one of the targets \['y'\] the checkpoint"
    ):
        model.predict(history.rename(columns={"y": "z"}))
    with pytest.raises(ForecastDataError, match=r"the frame has no rows; predict needs lookback = 24 rows per series"):
        model.predict(history.iloc[:0])


@pytest.mark.parametrize(
    ("history", "options", "error", "message"),
    [
        (lambda: long_series().to_numpy(), {}, TypeError, "predict reads a pandas DataFrame .* got a ndarray"),
        (long_series, {"horizon": 2.5}, ValueError, r"horizon=2.5: this model forecasts 1 to 6 steps \(an int\)"),
        (long_series, {"horizon": True}, ValueError, r"horizon=True: this model forecasts 1 to 6 steps \(an int\)"),
        (long_series, {"batch_size": 0}, ValueError, r"^batch_size=0: predict runs batches of 1 or more windows"),
        (long_series, {"batch_size": 2.5}, ValueError, r"^batch_size=2.5: predict runs batches of 1 or more windows"),
        (long_series, {"batch_size": True}, ValueError, r"^batch_size=True: predict runs batches of 1 or more"),
    ],
    ids=["array", "fractional-horizon", "bool-horizon", "zero-batch", "fractional-batch", "bool-batch"],
)
def test_predict_refuses_what_is_not_a_frame_or_a_whole_horizon_or_batch_size(
    trained, history, options, error, message
):
    with pytest.raises(error, match=message):
        trained[0].predict(history(), **options)


def test_predict_reads_history_in_another_time_zone_at_the_checkpoints(tmp_path):
    """Trained on Berlin times with hour features: the same history in UTC gives the same forecasts at the same
    times (the hour features are computed in Berlin, as in training); history without a time zone is refused."""
    history = long_series(periods=100).assign(time=lambda frame: frame["time"].dt.tz_localize("Europe/Berlin"))
    data = {"calendar": Calendar(features=["hour"]), "batch_size": 32}
    trainer = quiet_trainer(tmp_path) | {"max_epochs": 1}
    model = forecast.fit(history, lookback=24, horizon=6, data=data, model=TINY, trainer=trainer)
    expected = model.predict(history)
    pd.testing.assert_frame_equal(model.predict(history.assign(time=history["time"].dt.tz_convert("UTC"))), expected)
    with pytest.raises(
        ForecastDataError, match="trained on times in time zone Europe/Berlin, but the data's have none"
    ):
        model.predict(history.assign(time=history["time"].dt.tz_localize(None)))


def test_fit_stops_at_a_non_finite_loss_and_writes_no_checkpoint_of_its_weights(tmp_path):
    model = TINY | {"optimizer": functools.partial(torch.optim.SGD, lr=1e30)}
    with pytest.raises(FloatingPointError, match="training loss is (nan|inf) at epoch 0"):
        forecast.fit(long_series(), lookback=24, horizon=6, model=model, trainer=quiet_trainer(tmp_path))
    assert list(tmp_path.glob("**/*.ckpt")) == []


@pytest.mark.parametrize("loss", [QuantileLoss, functools.partial(QuantileLoss, levels=[0.1, 0.9])])
def test_fit_names_a_loss_given_as_a_class_or_partial(loss, tmp_path):
    with pytest.raises(TypeError, match="loss must be a forecast.losses.Loss instance.*call it"):
        forecast.fit(
            long_series(), lookback=24, horizon=6, model=TINY | {"loss": loss}, trainer=quiet_trainer(tmp_path)
        )


def test_forecasts_far_from_zero_keep_their_units_digits(tmp_path):
    """Original units are restored in float64: at a level of 1e9 a float32 offset alone is 64 units apart
    from its neighbours, so the last value's forecast came back up to 32 units off."""
    history = long_series(periods=120, names=("far",)).assign(y=lambda rows: 1e9 + 1000 * rows["y"])
    model = forecast.fit(
        history,
        lookback=24,
        horizon=6,
        data={"batch_size": 32},
        model={"encoder": IdentityEncoder, "head": LastValueHead},
        trainer=quiet_trainer(tmp_path) | {"max_epochs": 1},
    )
    table = model.predict(history)
    assert table["y"].dtype == np.float64
    np.testing.assert_allclose(table["y"].to_numpy(), history["y"].iloc[-1], rtol=0, atol=1e-3)


def test_daily_forecasts_in_a_time_zone_stay_at_midnight_across_a_daylight_saving_change(tmp_path):
    """A day in Berlin is 23 hours on 2024-03-31: the forecasts continue at midnight, as ``date_range`` steps
    calendar days, whether the change falls in the forecast or in the history before it (under pandas 2
    ``Day`` is a fixed 24-hour ``Tick``: forecasts came at 01:00 after the change)."""
    history = long_series(periods=60, freq="D", names=("s0",))
    history = history.assign(time=history["time"].dt.tz_localize("Europe/Berlin"))  # 2024-01-31 to 2024-03-30
    trainer = quiet_trainer(tmp_path) | {"max_epochs": 1}
    model = forecast.fit(history, lookback=12, horizon=3, data={"batch_size": 32}, model=TINY, trainer=trainer)
    assert list(model.predict(history)["time"]) == list(
        pd.date_range("2024-03-31", periods=3, freq="D", tz="Europe/Berlin")
    )
    later = history.assign(time=history["time"] + pd.DateOffset(days=10))  # 2024-02-10 to 2024-04-09
    assert list(model.predict(later)["time"]) == list(
        pd.date_range("2024-04-10", periods=3, freq="D", tz="Europe/Berlin")
    )


def test_a_wide_frame_with_a_repeated_time_is_refused_naming_the_row_not_an_id_column(tmp_path, wide_frame):
    """A checkpoint of one wide series had no ids: a repeated time (a daylight-saving hour written twice) is
    the data's duplicate, named by its row, not a stack of series lacking their id column."""
    trainer = quiet_trainer(tmp_path) | {"max_epochs": 1}
    model = forecast.fit(wide_frame, lookback=24, horizon=6, data={"batch_size": 32}, model=TINY, trainer=trainer)
    repeated = pd.concat([wide_frame.iloc[:100], wide_frame.iloc[[99]], wide_frame.iloc[100:]])
    with pytest.raises(ForecastDataError, match=r"^duplicate time at row 100, time 2024-01-05 03:00:00: .*remove one"):
        model.predict(repeated)
