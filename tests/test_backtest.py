import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecast import Columns, ForecastDataError, Forecaster, TimeSeriesDataModule
from forecast.backtest import backtest_windows, refit_groups
from forecast.cli import main
from forecast.data import FractionSplit
from forecast.data.splits import Windows
from forecast.nn import IdentityEncoder, LastValueHead, LookbackLinearHead, LookbackMeanHead
from forecast.trainer import ForecastTrainer

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_backtest_of_three_origins_writes_three_horizons_of_forecasts(wide_frame, wide_csv, tmp_path, tiny_cli):
    args = ["backtest", "--config", str(ROOT / "configs/etth1/last_value.yaml"), *tiny_cli(wide_csv, tmp_path),
            "--start", "2024-01-06 00:00", "--stride", "10", "--num_windows", "3"]  # fmt: skip
    main(args)
    run = tmp_path / "lightning_logs" / "version_0"
    table = pd.read_csv(run / "forecasts.csv", parse_dates=["origin", "time"])
    assert len(table) == 3 * 6
    origins = pd.to_datetime(["2024-01-05 23:00", "2024-01-06 09:00", "2024-01-06 19:00"])
    assert list(table["origin"].unique()) == list(origins)
    expected_times = [origin + pd.Timedelta(hours=step) for origin in origins for step in range(1, 7)]
    assert list(table["time"]) == expected_times
    assert list(table["step"]) == list(range(1, 7)) * 3
    # The last value before each origin, repeated; the actuals are the frame's rows.
    frame = wide_frame
    np.testing.assert_allclose(table["a"], np.repeat(frame.loc[origins, "a"].to_numpy(), 6), rtol=1e-6)
    np.testing.assert_allclose(table["b_actual"], frame.loc[expected_times, "b"].to_numpy(), rtol=1e-6)
    report = (run / "metrics.json").read_text()
    assert '"split": "backtest"' in report and '"windows": 3' in report
    mae = np.abs(table[["a", "b", "c"]].to_numpy() - table[["a_actual", "b_actual", "c_actual"]].to_numpy()).mean()
    by_target = pd.read_csv(run / "metrics_by_target.csv")
    assert by_target[by_target["units"] == "original"]["mae"].mean() == pytest.approx(mae, rel=1e-5)
    for plot in ("forecast.png", "error_by_horizon.png"):
        assert (run / plot).read_bytes()[:8] == PNG_SIGNATURE


def test_backtest_of_many_series_gives_each_series_its_origins(long_frame, tmp_path):
    columns = Columns(
        targets=["y"], past_covariates=["load"], future_covariates=["price"], static_covariates=["region"]
    )
    data = TimeSeriesDataModule(long_frame, 12, 4, columns=columns, split=FractionSplit(val=0.1, test=0.3))
    model = Forecaster(lookback=12, horizon=4, input_size=data.input_size, target_size=1, future_size=data.future_size,
                       static_size=data.static_size, encoder=IdentityEncoder, head=LastValueHead)  # fmt: skip
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    trainer.backtest(model, data, stride=5, num_windows=3)
    table = pd.read_csv(tmp_path / "forecasts.csv", parse_dates=["origin", "time"])
    assert table.groupby("id").size().to_dict() == {"A": 12, "B": 12, "C": 12}
    for name, series in long_frame.groupby("id"):
        rows = table[table["id"] == name]
        test_start = len(series) - int(len(series) * 0.3)
        first = series["time"].iloc[test_start]  # the first origin's first step: the test part's first row
        expected = [first + pd.Timedelta(hours=5 * k + step) for k in range(3) for step in range(4)]
        assert list(rows["time"]) == expected


def test_backtest_forecasts_of_integer_series_ids_join_back_onto_the_history(long_frame, tmp_path, tiny_cli):
    """Series ids that are integers in the data's file are integers in forecasts.csv, each window under its
    own series: the forecasts join back onto the history read from that file."""
    history = long_frame.assign(id=long_frame["id"].map({"A": 10, "B": 11, "C": 12}))[["id", "time", "y"]]
    source = tmp_path / "long.csv"
    history.to_csv(source, index=False)
    args = ["backtest", "--config", str(ROOT / "configs/etth1/last_value.yaml"),
            *tiny_cli(source, tmp_path, lookback=12, horizon=4), "--stride", "5", "--num_windows", "2"]  # fmt: skip
    main(args)
    history = pd.read_csv(source, parse_dates=["time"])
    table = pd.read_csv(tmp_path / "lightning_logs" / "version_0" / "forecasts.csv", parse_dates=["origin", "time"])
    assert table["id"].dtype == history["id"].dtype
    joined = table.merge(history.rename(columns={"y": "given"}), on=["id", "time"], validate="many_to_one")
    assert len(joined) == len(table) == 3 * 2 * 4 and sorted(joined["id"].unique()) == [10, 11, 12]
    np.testing.assert_allclose(joined["y_actual"], joined["given"], rtol=1e-6)  # each window under its own series


def test_backtest_forecasts_of_date_series_ids_join_back_onto_the_history_as_written(tmp_path):
    """Series ids that are dates keep their type in forecasts.csv, so pandas writes them as it writes the
    user's own frame ("2024-03-01", not their text "2024-03-01 00:00:00"): the two files join on id and time."""
    times = pd.date_range("2024-01-01", periods=40, freq="h")
    days = pd.to_datetime(["2024-03-01", "2024-03-02"])  # one series per day, say a batch of a process
    frame = pd.concat([pd.DataFrame({"id": day, "time": times, "y": k + np.arange(40.0)}) for k, day in
                       enumerate(days)], ignore_index=True)  # fmt: skip
    frame.to_csv(tmp_path / "history.csv", index=False)
    data = TimeSeriesDataModule(frame, 6, 3, split=FractionSplit(val=0.2, test=0.2))
    model = Forecaster(lookback=6, horizon=3, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    trainer.backtest(model, data, stride=3, num_windows=2, verbose=False)
    history = pd.read_csv(tmp_path / "history.csv")
    table = pd.read_csv(tmp_path / "forecasts.csv")
    joined = table.merge(history.rename(columns={"y": "given"}), on=["id", "time"], validate="many_to_one")
    assert len(joined) == len(table) == 2 * 2 * 3 and sorted(joined["id"].unique()) == ["2024-03-01", "2024-03-02"]
    np.testing.assert_allclose(joined["y_actual"], joined["given"])  # each window under its own series


@pytest.mark.parametrize("freq", ["ME", "B"])
def test_backtest_origins_of_calendar_frequencies_are_the_last_observed_times(freq, tmp_path):
    times = pd.date_range("2020-01-31", periods=60, freq=freq)
    frame = pd.DataFrame({"id": "s", "time": times, "y": np.arange(60.0)})
    data = TimeSeriesDataModule(frame, 6, 3, split=FractionSplit(val=0.2, test=0.2))
    model = Forecaster(lookback=6, horizon=3, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    trainer.backtest(model, data, stride=3, num_windows=2, verbose=False)
    table = pd.read_csv(tmp_path / "forecasts.csv", parse_dates=["origin", "time"])
    # A last-value forecast repeats the value at the origin: the row before the window's first step.
    assert list(table["origin"]) == list(times[table["y"].round().astype(int)])


def test_backtest_start_time_is_read_in_the_time_zone_of_the_data():
    times = pd.date_range("2020-01-01", periods=100, freq="h", tz="Europe/Berlin")
    data = TimeSeriesDataModule(pd.DataFrame({"id": "s", "time": times, "y": np.arange(100.0)}), 6, 3)
    for start in ("2020-01-03 00:00", "2020-01-03 00:00+01:00", "2020-01-02 23:00Z"):
        assert backtest_windows(data, start, stride=3, num_windows=2).first.tolist() == [48]
    with pytest.raises(ValueError, match="--start 'next week' is no time of the data .*such as '2018-02-01 00:00'"):
        backtest_windows(data, "next week")


def test_backtest_start_with_a_time_zone_is_refused_for_data_without_one(wide_csv):
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6)
    with pytest.raises(ValueError, match="--start '2024-01-06 00:00Z' .*the data's times have none"):
        backtest_windows(data, "2024-01-06 00:00Z")


def test_backtest_windows_refuse_more_origins_than_fit(wide_csv):
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6)
    data.setup("test")
    windows = backtest_windows(data, start=-30, stride=6)
    assert windows.first.tolist() == [170] and windows.counts.tolist() == [5]
    with pytest.raises(ForecastDataError, match="room for 5 windows .*fewer than --num_windows 6; choose a smaller"):
        backtest_windows(data, start=-30, stride=6, num_windows=6)
    with pytest.raises(ForecastDataError, match="row 10 .*needs lookback 24 rows before it; choose a later --start"):
        backtest_windows(data, start=10)


@pytest.mark.parametrize("start", [195, -5, 400, "2024-01-09 03:00", "2025-01-01"])
def test_backtest_start_too_close_to_the_end_of_the_data_asks_for_an_earlier_start(wide_csv, start):
    """200 rows, horizon 6: the last window's first forecast step is row 194 (2024-01-09 02:00); a later start
    (a row, from the end, a time) leaves no window, and the fix is an earlier start, not a later one."""
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6)
    assert backtest_windows(data, start=194).counts.tolist() == [1]
    assert backtest_windows(data, start="2024-01-09 02:00").first.tolist() == [194]
    with pytest.raises(ForecastDataError, match=r"fewer than horizon 6 rows .*row 194\); choose an earlier --start"):
        backtest_windows(data, start=start)


def test_backtest_refuses_a_stride_of_zero(wide_csv):
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6)
    with pytest.raises(ValueError, match="stride >= 1 .*got stride=0"):
        backtest_windows(data, start=-30, stride=0)


def _missing_frame() -> pd.DataFrame:
    """200 hourly rows of a curve, rows 168 to 171 missing."""
    values = np.arange(200.0) ** 2 / 100
    values[168:172] = np.nan
    return pd.DataFrame({"y": values}, index=pd.date_range("2024-01-01", periods=200, freq="h"))


@pytest.mark.parametrize("nan_policy", ["interpolate", "ffill"])
def test_backtest_inputs_are_repaired_from_the_rows_before_the_origin_only(nan_policy, tmp_path):
    """The window forecasting from row 172 has rows 168-171 missing at the end of its lookback: ``interpolate``
    would draw them towards row 172, its own first target. Each window's inputs are those of the series
    repaired as if it ended at its origin; the window from row 176 interpolates to row 172, before it."""
    frame = _missing_frame()
    data = TimeSeriesDataModule(frame, 12, 4, split=FractionSplit(), nan_policy=nan_policy)
    model = Forecaster(lookback=12, horizon=4, input_size=1, target_size=1, encoder=IdentityEncoder,
                       head=LookbackMeanHead)  # fmt: skip
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    trainer.backtest(model, data, start=172, num_windows=2, verbose=False)
    table = pd.read_csv(tmp_path / "forecasts.csv")
    repair = {"interpolate": lambda known: known.interpolate(), "ffill": lambda known: known.ffill()}[nan_policy]
    for window, origin in enumerate([172, 176]):
        inputs = repair(frame["y"].iloc[:origin])[-12:]  # the series cut at the origin, repaired
        np.testing.assert_allclose(table["y"].iloc[4 * window : 4 * window + 4], inputs.mean(), rtol=1e-5)
    # By hand: rows 160-167 as given, rows 168-171 the value of row 167.
    assert table["y"].iloc[0] == pytest.approx((frame["y"].iloc[160:168].sum() + 4 * frame["y"].iloc[167]) / 12)


def test_backtest_window_without_a_value_before_its_origin_names_the_start(tmp_path):
    """Rows 0-29 missing: the window from row 20 would take its inputs from row 30, which it forecasts past."""
    frame = _missing_frame()
    frame.iloc[:30] = np.nan
    data = TimeSeriesDataModule(frame, 12, 4, split=FractionSplit(), nan_policy="ffill")
    model = Forecaster(lookback=12, horizon=4, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    with pytest.raises(ForecastDataError, match="row 20 .*no value of column 'y' before it.*choose a later --start"):
        trainer.backtest(model, data, start=20, num_windows=1, verbose=False)


def test_backtest_leaves_the_data_modules_test_windows_as_they_were(wide_csv, tmp_path):
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6)
    model = Forecaster(lookback=24, horizon=6, input_size=3, target_size=3, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    metrics = trainer.backtest(model, data, num_windows=2)
    assert len(data.test_dataloader().dataset) == len(data.dataset("test")) > 2
    assert np.isfinite(metrics[0]["test/mse"])


def test_refit_groups_split_each_series_origins_in_time_order():
    windows = Windows(first=np.array([100, 40]), counts=np.array([5, 3]), stride=10)
    groups = refit_groups(windows, refit_every=2)
    assert [group.first.tolist() for group in groups] == [[100, 40], [120, 60], [140, 80]]
    assert [group.counts.tolist() for group in groups] == [[2, 2], [2, 1], [1, 0]]
    with pytest.raises(ValueError, match="refit_every must be >= 1"):
        refit_groups(windows, refit_every=0)


def test_backtest_with_refits_trains_each_refit_on_the_rows_before_its_origins(
    wide_frame, wide_csv, tmp_path, tiny_cli
):
    args = ["backtest", "--config", str(ROOT / "configs/etth1/linear.yaml"),
            *tiny_cli(wide_csv, tmp_path, batch_size=16), "--trainer.max_epochs", "2",
            "--start", "2024-01-06 00:00", "--stride", "12", "--num_windows", "5", "--refit_every", "2"]  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli = main(args)
    assert not [w for w in caught if "untrained weights" in str(w.message)]  # the refits train them
    run = tmp_path / "lightning_logs" / "version_0"
    table = pd.read_csv(run / "forecasts.csv", parse_dates=["origin", "time"])
    assert len(table) == 5 * 6
    first = pd.Timestamp("2024-01-06 00:00")
    assert list(table["time"].iloc[::6]) == [first + pd.Timedelta(hours=12 * k) for k in range(5)]
    # Three refits, for origins (0, 1), (2, 3) and (4); each validates on the 20 rows (10% of 200)
    # before its first origin, trains on the rows before those, and fits its scaler on them alone.
    # The report gives each refit's data state, as its checkpoint does, not the last refit's for all.
    report = json.loads((run / "metrics.json").read_text())
    origin_rows = [120 + 24 * g for g in range(3)]
    assert len(report["data"]) == len(origin_rows)
    for g, row in enumerate(origin_rows):
        checkpoints = sorted((run / "refits" / f"origin_{g}" / "checkpoints").glob("*.ckpt"))
        assert checkpoints, f"refit {g} left no checkpoint"
        data = torch.load(checkpoints[-1], map_location="cpu", weights_only=True)["TimeSeriesDataModule"]
        assert data["borders"] == [[row - 20, row, 200]]
        training_mean = wide_frame.iloc[: row - 20].mean()
        np.testing.assert_allclose(data["scaling"]["targets"]["offset"][0], training_mean, rtol=1e-5)
        assert report["data"][g] == json.loads(json.dumps(data))
    # The report covers every window of every refit, in original units as in forecasts.csv.
    assert report["windows"] == 5
    error = table[["a", "b", "c"]].to_numpy() - table[["a_actual", "b_actual", "c_actual"]].to_numpy()
    assert report["metrics"]["mae_orig"] == pytest.approx(np.abs(error).mean(), rel=1e-5)
    # The data module is left with its own split, and fits its scalers on its own training rows.
    assert cli.datamodule.borders.tolist() == [[140, 160, 200]]
    cli.datamodule.setup("test")
    np.testing.assert_allclose(cli.datamodule.scalings[0].offset[0], wide_frame.iloc[:140].mean(), rtol=1e-5)


def _test_rows(metrics_csv: Path) -> pd.DataFrame:
    """The rows of a CSVLogger's ``metrics.csv`` that hold test metrics."""
    table = pd.read_csv(metrics_csv)
    return table[table["test/mae_orig"].notna()] if "test/mae_orig" in table else table.iloc[:0]


def _refit_cli(wide_csv: str, tmp_path: Path, tiny_cli, *extra: str) -> list[str]:
    """A linear model's backtest of four origins, 12 rows apart, refitted for every two (one epoch each)."""
    return ["backtest", "--config", str(ROOT / "configs/etth1/linear.yaml"),
            *tiny_cli(wide_csv, tmp_path, batch_size=16), "--trainer.max_epochs", "1",
            "--start", "2024-01-06 00:00", "--stride", "12", "--num_windows", "4", "--refit_every", "2",
            *extra]  # fmt: skip


def test_backtest_with_refits_logs_the_pooled_result_to_the_run_and_each_refits_to_its_own_log(
    wide_csv, tmp_path, tiny_cli
):
    """The run's metrics.csv holds one test row, the result over every refit's windows (that of metrics.json),
    as a backtest without refits does; each refit's test row is in its own log, ``refits/origin_G/``,
    next to its training, not an unlabelled row of the run's that could pass for the result."""
    main(_refit_cli(wide_csv, tmp_path, tiny_cli))
    run = tmp_path / "lightning_logs" / "version_0"
    (pooled,) = _test_rows(run / "metrics.csv").to_dict(orient="records")
    report = json.loads((run / "metrics.json").read_text())["metrics"]
    assert pooled["test/mae_orig"] == pytest.approx(report["mae_orig"], rel=1e-6)
    assert pooled["test/mse"] == pytest.approx(report["mse"], rel=1e-6)
    table = pd.read_csv(run / "forecasts.csv")
    for g in range(2):
        (refit,) = _test_rows(run / "refits" / f"origin_{g}" / "metrics.csv").to_dict(orient="records")
        windows = table[table["window"].isin([2 * g, 2 * g + 1])]  # refit g forecasts origins 2g and 2g + 1
        error = windows[["a", "b", "c"]].to_numpy() - windows[["a_actual", "b_actual", "c_actual"]].to_numpy()
        assert refit["test/mae_orig"] == pytest.approx(np.abs(error).mean(), rel=1e-5)


def test_backtest_refits_keep_their_own_best_checkpoints_out_of_the_configured_dirpath(
    wide_frame, wide_csv, tmp_path, tiny_cli
):
    """``checkpoint.dirpath`` holds the checkpoints of the config's own fit; refits sharing it would mix their
    files with those and each other's. Each refit keeps its best in ``refits/origin_G/checkpoints``, where
    it survives the other refits, and forecasts the refit's windows with it."""
    configured = tmp_path / "checkpoints"
    configured.mkdir()
    (configured / "last.ckpt").write_bytes(b"the fit's")
    main(_refit_cli(wide_csv, tmp_path, tiny_cli, "--checkpoint.dirpath", str(configured)))
    assert [path.name for path in configured.iterdir()] == ["last.ckpt"]
    assert (configured / "last.ckpt").read_bytes() == b"the fit's"
    run = tmp_path / "lightning_logs" / "version_0"
    table = pd.read_csv(run / "forecasts.csv", parse_dates=["origin"])
    borders = []
    for g in range(2):
        (best,) = (run / "refits" / f"origin_{g}" / "checkpoints").glob("epoch*.ckpt")
        refitted = Forecaster.load(best)
        borders.append(refitted.data_state["borders"])
        window = table[table["window"] == 2 * g]
        expected = refitted.predict(wide_frame.loc[: window["origin"].iloc[0]])
        np.testing.assert_allclose(window[["a", "b", "c"]], expected[["a", "b", "c"]], rtol=1e-5)
    assert borders[0] != borders[1]  # two files, each of its own refit


def test_backtest_refuses_refits_of_a_checkpoint(wide_csv, tmp_path):
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6)
    model = Forecaster(lookback=24, horizon=6, input_size=3, target_size=3, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    with pytest.raises(ValueError, match="drop --ckpt_path"):
        trainer.backtest(model, data, ckpt_path=str(tmp_path / "model.ckpt"), num_windows=2, refit_every=1)


def test_refits_that_lost_to_a_naive_forecast_on_validation_forecast_it(wide_frame, wide_csv, tmp_path, tiny_cli):
    """A refit's best checkpoint records the naive forecast it falls back to; the refit must forecast that,
    as the same checkpoint does under ``test``, not its network."""
    args = ["backtest", "--config", str(ROOT / "configs/etth1/linear.yaml"),
            *tiny_cli(wide_csv, tmp_path, batch_size=16), "--trainer.max_epochs", "1",
            "--model.optimizer.init_args.lr", "1e-9", "--naive_comparison.fallback", "true",  # an untrained network
            "--start", "2024-01-06 00:00", "--stride", "12", "--num_windows", "4", "--refit_every", "2"]  # fmt: skip
    main(args)
    run = tmp_path / "lightning_logs" / "version_0"
    periods = []
    for g in range(2):
        (checkpoint,) = (run / "refits" / f"origin_{g}" / "checkpoints").glob("epoch*.ckpt")
        periods.append(torch.load(checkpoint, map_location="cpu", weights_only=True)["naive_fallback"])
    assert None not in periods  # the precondition: every refit lost to a naive forecast on validation
    table = pd.read_csv(run / "forecasts.csv", parse_dates=["origin", "time"])
    for window in range(4):
        rows = table.iloc[6 * window : 6 * window + 6]
        first, period = wide_frame.index.get_loc(rows["time"].iloc[0]), periods[window // 2]
        naive = wide_frame.iloc[first - period + np.arange(6) % period]
        np.testing.assert_allclose(rows[["a", "b", "c"]].to_numpy(), naive.to_numpy(), rtol=1e-5)


def test_backtest_loader_rebuilt_by_lightning_under_ddp_reads_every_window_once(wide_csv):
    """Lightning rebuilds a loader given to ``test`` around its ``DistributedSampler`` from the batch
    sampler's class alone (it was made outside a ``*_dataloader`` hook): no window may be read twice."""
    from lightning.pytorch.utilities.data import _update_dataloader
    from torch.utils.data import DistributedSampler

    from forecast.backtest import backtest_loader

    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6, batch_size=4)
    data.setup("test")
    loader = backtest_loader(data, backtest_windows(data, start=-30, stride=1, num_windows=10))
    read = []
    for rank in range(4):  # 10 windows over 4 processes: a DistributedSampler pads them to 12
        sampler = DistributedSampler(loader.dataset, num_replicas=4, rank=rank, shuffle=False)
        read += [int(i) for batch in _update_dataloader(loader, sampler).batch_sampler for i in batch]
    assert sorted(read) == list(range(10))


def test_backtest_refits_from_too_early_a_start_name_the_start(wide_csv, tmp_path):
    """Row 40 of 200: validation takes the 20 rows before it (10%), leaving 20 to train on, fewer than 24 + 6."""
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6, split=FractionSplit())
    model = Forecaster(lookback=24, horizon=6, input_size=3, target_size=3, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    with pytest.raises(
        ForecastDataError, match=r"train on the 20 rows .* fewer than lookback \+ horizon = 30: .*--start"
    ):
        trainer.backtest(model, data, start=40, num_windows=2, refit_every=1)


def test_backtest_from_the_training_rows_warns_that_it_is_in_sample(wide_csv, tmp_path):
    """Rows 0-139 train (FractionSplit of 200 rows): the scalers were fitted on the rows a window from row 100
    forecasts. From row 140 on, the validation part, nothing to warn of."""
    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6, split=FractionSplit())
    model = Forecaster(lookback=24, horizon=6, input_size=3, target_size=3, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    with pytest.warns(UserWarning, match=r"from row 100 forecast rows of its training part \(rows before 140\)"):
        trainer.backtest(model, data, start=100, num_windows=2, verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.backtest(model, data, start=140, num_windows=2, verbose=False)
    assert not [warning for warning in caught if "in-sample" in str(warning.message)]


def test_backtest_needs_no_test_windows_where_its_start_is_elsewhere(tmp_path):
    """The test part is too short for a window of the horizon; a backtest through the validation rows reads
    only its own windows (it built the test part's to borrow their maps back to original units)."""
    frame = pd.DataFrame({"id": "s", "time": pd.date_range("2020-01-01", periods=60, freq="h"), "y": np.arange(60.0)})
    data = TimeSeriesDataModule(frame, 6, 4, split=FractionSplit(val=0.3, test=0.05))  # test: 3 rows
    model = Forecaster(lookback=6, horizon=4, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    trainer = ForecastTrainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False)
    trainer.backtest(model, data, start=40, stride=4, num_windows=3, verbose=False)
    table = pd.read_csv(tmp_path / "forecasts.csv")
    np.testing.assert_allclose(
        table["y"], np.repeat([39.0, 43.0, 47.0], 4), atol=1e-5
    )  # the last value, original units


def test_a_report_over_refits_says_what_forecast_each_refits_windows(wide_csv, tmp_path):
    """metrics.json's ``naive_fallback`` was the last refit's alone: a first refit that fell back to the seasonal
    naive, and forecast its windows with it, read as the network's."""
    import lightning as L

    from forecast.backtest import backtest_loader, backtest_report

    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6, split=FractionSplit())
    data.setup("backtest")
    groups = refit_groups(backtest_windows(data, start=-30, stride=6, num_windows=4), refit_every=2)
    report, _ = backtest_report([], data, passes=len(groups))
    model = Forecaster(lookback=24, horizon=6, input_size=3, target_size=3, encoder=IdentityEncoder, head=LastValueHead)
    tester = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
                       callbacks=[report])  # fmt: skip
    for fallback, group in zip([24, None], groups, strict=True):
        model.naive_fallback = fallback  # as each refit's best checkpoint sets it
        tester.test(model, dataloaders=backtest_loader(data, group), verbose=False)
    assert json.loads((tmp_path / "metrics.json").read_text())["naive_fallback"] == [24, None]


def test_backtest_refits_log_under_the_backtests_run_directory_after_a_fit(wide_frame, tmp_path, capsys):
    """A trainer that has run before (``fit``: version_0) backtests in a run of its own (version_1): the refits
    went to the earlier run's ``refits/``, away from the report whose metrics they make. ``verbose`` prints the
    metrics of every refit's windows, as ``test`` does (it printed nothing with refits)."""
    data = TimeSeriesDataModule(wide_frame[["a"]], 24, 6, split=FractionSplit(), batch_size=64)
    model = Forecaster(lookback=24, horizon=6, input_size=1, target_size=1, encoder=IdentityEncoder,
                       head=LookbackLinearHead)  # fmt: skip
    trainer = ForecastTrainer(default_root_dir=tmp_path, enable_progress_bar=False, enable_model_summary=False,
                              enable_checkpointing=False, max_epochs=1, limit_train_batches=1,
                              limit_val_batches=1)  # fmt: skip
    trainer.fit(model, data)
    capsys.readouterr()
    with pytest.warns(UserWarning, match=r"model as given, which has taken 1 training steps: every refit starts"):
        (metrics,) = trainer.backtest(model, data, start=120, num_windows=1, refit_every=1)
    (report,) = tmp_path.rglob("metrics.json")
    assert [path.parents[2] for path in tmp_path.rglob("refits/origin_*/metrics.csv")] == [report.parent]
    printed = capsys.readouterr().out
    assert "test/mse" in printed and str(metrics["test/mse"]) in printed  # Lightning prints the value in full


def test_backtest_loader_reads_with_the_data_modules_workers_and_pinned_memory(wide_csv):
    """The backtest's loader read in the main process, unpinned, whatever data.num_workers and data.pin_memory said,
    while the test part's loader of the same data module took them."""
    from forecast.backtest import backtest_loader

    data = TimeSeriesDataModule(wide_csv, lookback=24, horizon=6, batch_size=4, num_workers=2, pin_memory=True)
    data.setup("test")
    loader = backtest_loader(data, backtest_windows(data, start=-30, stride=1, num_windows=10))
    tested = data.test_dataloader()
    assert (loader.num_workers, loader.pin_memory) == (tested.num_workers, tested.pin_memory) == (2, True)
