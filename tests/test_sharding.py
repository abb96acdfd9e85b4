"""Sharded training data (``data.shard: series``): two gloo processes against one that reads everything."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sharded_run import build

from forecast import Columns, Forecaster, Scaling, TimeSeriesDataModule
from forecast.data import DateSplit, FractionSplit
from forecast.data.sharding import (
    assign_shards,
    check_predict_shares,
    check_read_shares,
    check_shares,
    global_scaling,
    series_index,
)
from forecast.errors import ForecastDataError
from forecast.predict import HistorySplit

pytestmark = pytest.mark.ddp
ROOT = Path(__file__).resolve().parents[1]


def test_shards_are_balanced_by_rows_and_do_not_depend_on_the_order_of_the_data():
    ids, rows = ["a", "b", "c", "d", "e"], np.array([100, 10, 60, 50, 10])
    ranks = assign_shards(ids, rows, 2)
    loads = [rows[ranks == r].sum() for r in range(2)]
    assert sorted(loads) == [110, 120]
    reordered = assign_shards(ids[::-1], rows[::-1], 2)[::-1]
    assert reordered.tolist() == ranks.tolist()


def test_shares_give_every_process_windows_of_every_part_that_enough_series_have():
    """By rows alone both series with validation and test windows (a, d) would go to process 0."""
    ids, rows = ["a", "b", "c", "d"], np.array([150, 80, 70, 60])
    parts = np.array([[1, 1, 1], [1, 0, 0], [1, 0, 0], [0, 1, 1]], dtype=bool)  # train, val, test windows
    assert assign_shards(ids, rows, 2).tolist() == [0, 1, 1, 0]
    for order in (slice(None), slice(None, None, -1)):
        ranks = assign_shards(ids[order], rows[order], 2, parts[order])[order]
        assert ranks.tolist() == [0, 1, 1, 1]


@settings(max_examples=30, deadline=None)
@given(data=st.data(), world_size=st.integers(2, 4))
def test_shares_by_parts_leave_no_process_without_series(data, world_size):
    """Each with windows of one part, a, b and c would all go to process 0, and process 1 would read nothing
    (refused as an empty ``data.series``) rather than be refused for the parts its series lack."""
    count = data.draw(st.integers(world_size, 6))
    parts = np.array(
        data.draw(st.lists(st.lists(st.booleans(), min_size=3, max_size=3), min_size=count, max_size=count))
    )
    rows = np.array(data.draw(st.lists(st.integers(1, 100), min_size=count, max_size=count)))
    ranks = assign_shards([f"s{i}" for i in range(count)], rows, world_size, parts)
    assert sorted(set(ranks.tolist())) == list(range(world_size))


def test_the_series_index_of_a_parquet_file_with_category_columns_equals_that_of_its_frame(tmp_path):
    """pyarrow aggregates no dictionary column, which a pandas ``category`` column is written as."""
    times = np.tile(pd.date_range("2024-01-01", periods=3, freq="h"), 2)
    frame = pd.DataFrame({"id": np.repeat(["b", "a"], 3), "time": times, "y": np.arange(6.0)})
    frame = frame.assign(store=pd.Categorical(np.repeat(["x", "y"], 3)), size=np.repeat([2.5, 1.5], 3))
    frame["id"] = frame["id"].astype("category")
    frame.to_parquet(tmp_path / "series.parquet")
    columns = Columns(targets=["y"], static_covariates=["store", "size"])
    index = series_index(tmp_path / "series.parquet", columns)
    assert index.to_dict("list") == {"id": ["a", "b"], "store": ["y", "x"], "size": [1.5, 2.5], "rows": [3, 3]}
    assert index.to_dict("list") == series_index(frame, columns).astype({"store": object}).to_dict("list")


@pytest.mark.parametrize(
    "series, message",
    [
        ([1, 0], r"only 1 series has them, so process 1 would have none; use at most 1 device \(trainer.devices\)"),
        ([2, 0, 0], r"only 2 series have them, so processes 1, 2 would have none; use at most 2 devices"),
        ([3, 0, 0], r"its shares of the 3 series that have them leave processes 1, 2 without one; use fewer devices"),
    ],
)
def test_a_part_without_windows_in_some_processes_shares_is_refused_naming_them(series, message):
    with pytest.raises(ForecastDataError, match=r"each needs some with windows of the val part, but " + message):
        check_shares("val", series)
    check_shares("val", [0] * len(series))  # none anywhere: the data's fault, which the part's own check says


@pytest.mark.parametrize(
    "series, world_size, message",
    [(1, 2, "1 series, .* which 2 processes .* at most 1 device "), (2, 3, "2 series, .* 3 processes .* 2 devices ")],
)
def test_predicting_fewer_series_than_processes_is_refused_naming_both(series, world_size, message):
    with pytest.raises(ForecastDataError, match=f"predict forecasts {message}" + r"\(trainer.devices\)"):
        check_predict_shares(series, world_size)
    check_predict_shares(world_size, world_size)  # one window each


def test_a_distributed_predict_of_fewer_series_than_processes_is_refused_before_lightning_deals_them_out():
    """Lightning deals predict windows (one per series) out without repeats: with 1 series on 2 processes the
    second got none and failed in Lightning's sampler with a bare AssertionError, the first with a message
    about evaluation strides. The model's setup, which Lightning runs on every process after the data's and
    before any loader is built, refuses alike on both."""
    frame = hourly_series([("a", "2024-01-01", 40)])
    data = TimeSeriesDataModule(frame, lookback=12, horizon=4, columns=Columns(targets=["y"]), split=HistorySplit())
    data.setup("predict")
    model = Forecaster(lookback=12, horizon=4, input_size=1, target_size=1)
    trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", logger=False)  # not launched: one process
    trainer.datamodule, model.trainer = data, trainer  # as trainer.predict(model, data) attaches them
    with pytest.raises(ForecastDataError, match=r"predict forecasts 1 series, .* at most 1 device \(trainer.devices\)"):
        model.setup("predict")


@pytest.mark.parametrize("scaler", ["StandardScaler", "MinMaxScaler"])
def test_global_scaling_of_one_process_equals_scikit_learns(scaler):
    from sklearn import preprocessing

    rng = np.random.default_rng(0)
    columns = [rng.normal(5, 2, 40), rng.uniform(-1, 3, 40)]
    columns[0][[3, 17]] = np.nan  # missing values are left out, as scikit-learn does
    columns[1][5] = np.inf  # an infinite one too, as fit_scaling does (scikit-learn would refuse it)
    starts, ends = np.array([0, 20]), np.array([15, 35])
    rows = np.r_[0:15, 20:35]
    stacked = np.stack(columns, 1)
    fitted = getattr(preprocessing, scaler)().fit(np.where(np.isfinite(stacked), stacked, np.nan)[rows])
    affine = global_scaling(getattr(preprocessing, scaler), columns, starts, ends)
    probe = np.stack([columns[0], np.nan_to_num(columns[1], posinf=0.0)], 1)[rows]
    np.testing.assert_allclose(affine.transform(probe), fitted.transform(probe), rtol=1e-5, atol=1e-6)


def test_global_standard_scaling_keeps_its_precision_when_the_mean_is_large_against_the_spread():
    """A sum of squares less the squared mean loses the spread of values at 1e7 (0.992 for 0.99915)."""
    from sklearn.preprocessing import StandardScaler

    column = 1e7 + np.random.default_rng(0).normal(0, 1, 10_000)
    fitted = StandardScaler().fit(column[:, None])
    affine = global_scaling(StandardScaler, [column], np.array([0, 6000]), np.array([6000, 10_000]))
    np.testing.assert_allclose(affine.scale[0], fitted.scale_, rtol=1e-9)
    np.testing.assert_allclose(affine.offset[0], fitted.mean_, rtol=1e-12)


@pytest.mark.parametrize("scaler", ["StandardScaler", "MinMaxScaler"])
def test_global_scaling_of_a_share_without_rows_takes_part_in_the_sums(scaler):
    """A process whose series only test has no training rows: it adds nothing to the summed statistics rather
    than failing before the reduction (numpy's "need at least one array to concatenate", while the other
    processes waited for it); alone, it is refused as ``fit_scaling`` refuses."""
    from sklearn import preprocessing

    none = np.array([], dtype=np.int64)
    with pytest.raises(ForecastDataError, match="column 'size' has no value on the training rows of any series"):
        global_scaling(getattr(preprocessing, scaler), [np.array([1.5, 2.0])], none, none, names=["size"])


def run_sharded(*runs: tuple[Path | str, ...]) -> subprocess.CompletedProcess:
    """``tests/sharded_run.py`` on 2 processes, for each of ``runs`` in turn: its run directory, its source and the
    ``DateSplit`` times to split that at, if any."""
    with socket.socket() as probe:  # a free port for the process group
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    args = [str(arg) for run in runs for arg in (",", *run)][1:]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
               str(ROOT / "tests/sharded_run.py"), *args]  # fmt: skip
    env = os.environ | {"OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def hourly_series(spans: list[tuple[str, str, int]]) -> pd.DataFrame:
    """Long data with the columns of ``sharded_run``: per series its id, first time and rows."""
    rng = np.random.default_rng(0)
    parts = []
    for i, (name, start, rows) in enumerate(spans):
        steps = np.arange(rows)
        parts.append(
            pd.DataFrame(
                {
                    "id": name,
                    "time": pd.date_range(start, periods=rows, freq="h"),
                    "y": 10 * i + np.sin(steps / (3 + i)) + 0.1 * rng.standard_normal(rows),
                    "load": rng.normal(i, 1, rows),
                    "region": "north" if i % 2 else "south",
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def seven_series(root: Path) -> tuple[pd.DataFrame, Path]:
    """Seven series of different lengths and starts, and the Parquet file under ``root`` that holds them."""
    rng = np.random.default_rng(0)
    parts = []
    for i, rows in enumerate([150, 60, 90, 120, 70, 110, 80]):
        steps = np.arange(rows)
        parts.append(
            pd.DataFrame(
                {
                    "id": f"s{i}",
                    "time": pd.date_range(f"2024-01-0{1 + i % 3} 0{i}:00", periods=rows, freq="h"),
                    "y": 10 * i + np.sin(steps / (3 + i)) + 0.1 * rng.standard_normal(rows),
                    "load": rng.normal(i, 1, rows),
                    "region": "north" if i % 2 else "south",
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    source = root / "series.parquet"
    frame.to_parquet(source, index=False)
    return frame, source


SPLIT = ("2024-01-05 12:00", "2024-01-06 12:00")  # DateSplit's val_start and test_start


def four_uneven_series(root: Path) -> Path:
    """Of four series only a and d have validation and test windows (b and c end before val_start, d starts
    there): the CSV file under ``root`` that holds them."""
    spans = [("a", "2024-01-01", 150), ("b", "2024-01-01", 80), ("c", "2024-01-01", 70), ("d", SPLIT[0], 60)]
    source = root / "series.csv"
    hourly_series(spans).to_csv(source, index=False)
    return source


@pytest.fixture(scope="module")
def sharded_runs(tmp_path_factory) -> dict:
    """The run directories of ``sharded`` and ``uneven``, run one after the other in one start of 2 processes,
    and the frame of ``sharded``."""
    roots = {"sharded": tmp_path_factory.mktemp("sharded"), "uneven": tmp_path_factory.mktemp("uneven")}
    frame, source = seven_series(roots["sharded"])
    uneven_source = four_uneven_series(roots["uneven"])
    result = run_sharded((roots["sharded"], source), (roots["uneven"], uneven_source, *SPLIT))
    assert result.returncode == 0, result.stderr[-3000:]
    return {**roots, "frame": frame}


def ranks(root: Path) -> list[dict]:
    """What each of the 2 processes of the run in ``root`` held and warned of."""
    return [json.loads((root / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def sharded(sharded_runs) -> dict:
    """Seven series of different lengths and starts in a Parquet file, run on 2 processes with shard: series."""
    root = sharded_runs["sharded"]
    return {"frame": sharded_runs["frame"], "source": str(root / "series.parquet"), "ranks": ranks(root),
            "root": root, "checkpoint": root / "sharded.ckpt"}  # fmt: skip


def test_shards_are_disjoint_cover_every_series_and_hold_about_half_the_rows(sharded):
    first, second = (set(rank["series"]) for rank in sharded["ranks"])
    assert not first & second and first | second == set(sharded["frame"]["id"])
    rows = [rank["rows"] for rank in sharded["ranks"]]
    assert sum(rows) == len(sharded["frame"]) and 0.4 < rows[0] / sum(rows) < 0.6


def test_sharded_global_scaler_and_validation_loss_equal_one_process_reading_everything(sharded):
    data, model = build(sharded["source"], "none")
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    val_loss = trainer.validate(model, data, verbose=False)[0]["val/loss"]
    for rank in sharded["ranks"]:
        np.testing.assert_allclose(rank["offset"], data.scalings[0].offset, rtol=1e-6)
        np.testing.assert_allclose(rank["scale"], data.scalings[0].scale, rtol=1e-6)
        assert rank["val_loss"] == pytest.approx(val_loss, rel=1e-5)  # every window once, over both processes
    assert sharded["ranks"][0]["steps"] == sharded["ranks"][1]["steps"] > 0  # as many steps: no process waits


def test_sharded_test_report_counts_every_test_window_once(sharded):
    data, _ = build(sharded["source"], "none")
    data.setup("test")
    report = json.loads((sharded["root"] / "metrics.json").read_text())
    assert report["windows"] == len(data.dataset("test"))
    assert report["metrics"]["mse"] == pytest.approx(sharded["ranks"][0]["test_mse"], rel=1e-5)
    assert sorted(report["data"]["series"]) == sorted(data.series_names)


def test_sharded_checkpoint_carries_every_series_and_predicts_them(sharded):
    state = torch.load(sharded["checkpoint"], map_location="cpu", weights_only=True)["TimeSeriesDataModule"]
    assert sorted(state["series"]) == sorted(sharded["frame"]["id"].unique()) and len(state["borders"]) == 7
    forecasts = Forecaster.load(sharded["checkpoint"]).predict(sharded["frame"])
    assert sorted(forecasts["id"].unique()) == sorted(state["series"]) and len(forecasts) == 7 * 4


@pytest.fixture(scope="module")
def uneven(sharded_runs) -> dict:
    """Of four series only a and d have validation and test windows (b and c end before val_start, d starts
    there), which shares by rows alone would both give to process 0: the shares give process 1 d instead."""
    root = sharded_runs["uneven"]
    return {"source": str(root / "series.csv"), "ranks": ranks(root), "root": root}


def test_sharded_run_whose_rows_alone_leave_a_process_without_validation_windows_equals_one_process(uneven):
    assert [sorted(rank["series"]) for rank in uneven["ranks"]] == [["a"], ["b", "c", "d"]]
    data, model = build(uneven["source"], "none", DateSplit(*SPLIT))
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    val_loss = trainer.validate(model, data, verbose=False)[0]["val/loss"]
    for rank in uneven["ranks"]:  # a's 21 windows on one process, d's 9 on the other
        assert rank["val_loss"] == pytest.approx(val_loss, rel=1e-5)
    assert uneven["ranks"][0]["steps"] == uneven["ranks"][1]["steps"] > 0
    data.setup("test")
    report = json.loads((uneven["root"] / "metrics.json").read_text())
    assert report["windows"] == len(data.dataset("test")) == 15 + 33
    assert report["metrics"]["mse"] == pytest.approx(uneven["ranks"][0]["test_mse"], rel=1e-5)


def test_a_process_other_than_0_warns_of_its_own_series(uneven):
    """d, the only series without training rows, is process 1's: it says that MASE leaves d out."""
    first, second = (rank["warnings"] for rank in uneven["ranks"])
    untrained = "series ['d'] have no training rows (they only test), so MASE has no scale for them"
    assert f"[rank: 1] {untrained}" in " ".join(second) and untrained not in " ".join(first)


# The refusal's message is checked without processes above (test_a_part_without_windows_in_some_processes_...);
# this runs it on 2 processes, at the cost of a third start of them.
@pytest.mark.slow
def test_fewer_series_with_validation_windows_than_processes_are_refused_alike_on_every_process(tmp_path):
    """Only a has validation windows; b and c end before val_start. Both processes refuse, naming the counts."""
    frame = hourly_series([("a", "2024-01-01", 150), ("b", "2024-01-01", 80), ("c", "2024-01-01", 70)])
    frame.to_csv(tmp_path / "series.csv", index=False)
    result = run_sharded((tmp_path, tmp_path / "series.csv", *SPLIT))
    refusal = (
        "ForecastDataError: data.shard: series gives each of the 2 processes its own series, and each needs some "
        "with windows of the val part, but only 1 series has them, so process 1 would have none; use at most 1 "
        "device (trainer.devices), or data.shard: none"
    )
    assert result.returncode != 0 and result.stderr.count(refusal) == 2, result.stderr[-3000:]


@pytest.mark.parametrize("fitted_first", [False, True])
def test_predict_with_series_shards_is_refused_also_after_a_fit_read_the_share(monkeypatch, fitted_first):
    """Under ``shard: series`` each process holds its own series, numbered in its share: a predict gathered from the
    shares took different series for one (a 2-process run wrote only series a of a and b). After a fit on the same
    data module, which had read its share, the refusal was skipped."""
    frame = pd.DataFrame(
        {"id": np.repeat(["a", "b"], 40), "time": np.tile(pd.date_range("2024-01-01", periods=40, freq="h"), 2),
         "y": np.arange(80.0)}
    )  # fmt: skip
    monkeypatch.setattr("forecast.data.shares.world", lambda: (0, 2))  # the first of two processes: a
    data = TimeSeriesDataModule(frame, lookback=6, horizon=3, shard="series", split=FractionSplit(val=0.25, test=0.25))
    if fitted_first:
        monkeypatch.setattr("forecast.data.shares.gather_objects", lambda value: [value, value])
        data.setup("fit")
    with pytest.raises(
        ValueError, match=r"data.shard: series is for fit, validate and test; predict with data.shard: none"
    ):
        data.setup("predict")


def test_a_share_refused_by_one_process_is_refused_by_every_process_quoting_its_error(monkeypatch):
    """Each process reads and checks only its own series: process 1 refused its series (b has a duplicate time)
    while process 0, whose series (a) are fine, went on to its next collective, there to fail on the lost
    connection (gloo) or wait until the timeout (NCCL), its log saying nothing of why."""
    frame = pd.DataFrame(
        {"id": np.repeat(["a", "b"], 40), "time": np.tile(pd.date_range("2024-01-01", periods=40, freq="h"), 2),
         "y": np.arange(80.0)}
    )  # fmt: skip
    refusal = "duplicate time at series 'b', row 45, time 2024-01-01 04:00:00: the row before has the same time"
    for module in ("shares", "sharding"):  # the share is read in the one, refused alike in the other
        monkeypatch.setattr(f"forecast.data.{module}.world", lambda: (0, 2))  # the first of two processes: a
        # Process 1 sends its refusal; of anything else the processes exchange, what process 0 sends.
        monkeypatch.setattr(
            f"forecast.data.{module}.gather_objects", lambda value: [value, refusal if value is None else value]
        )
    data = TimeSeriesDataModule(frame, lookback=6, horizon=3, shard="series", split=FractionSplit(val=0.25, test=0.25))
    with pytest.raises(ForecastDataError) as raised:
        data.setup("fit")
    assert str(raised.value) == (
        "data.shard: series has each of the 2 processes read and check its own series, and process 1 refused its "
        f"share; {refusal}"
    )


def test_the_process_that_refused_its_share_says_so_in_the_words_of_all_and_its_own(monkeypatch):
    """Process 1 raises the message every process raises, caused by its own error with its own traceback."""
    frame = pd.DataFrame(
        {"id": np.repeat(["a", "b"], 40), "time": np.tile(pd.date_range("2024-01-01", periods=40, freq="h"), 2),
         "y": np.arange(80.0)}
    )  # fmt: skip
    frame.loc[45, "time"] = frame.loc[44, "time"]  # b: a duplicate time
    for module in ("shares", "sharding"):
        monkeypatch.setattr(f"forecast.data.{module}.world", lambda: (1, 2))  # the second of two processes: b
        monkeypatch.setattr(f"forecast.data.{module}.gather_objects", lambda value: [None, value])  # a is fine
    data = TimeSeriesDataModule(frame, lookback=6, horizon=3, shard="series", split=FractionSplit(val=0.25, test=0.25))
    with pytest.raises(
        ForecastDataError, match=r"and process 1 refused its share; duplicate time at series 'b'"
    ) as raised:
        data.setup("fit")
    assert str(raised.value).endswith(str(raised.value.__cause__))


def test_shares_refused_by_several_processes_are_named_quoting_the_first_ones_error():
    with pytest.raises(
        ForecastDataError,
        match=r"of the 3 processes read and check its own series, and processes 1, 2 refused their shares; "
        r"process 1's error: column 'y' has dtype object$",
    ):
        check_read_shares([None, "column 'y' has dtype object", "series 'c' is too short"])


def test_a_series_without_training_rows_for_its_own_scaler_is_refused_by_every_process(monkeypatch):
    """Scaled per series under ``shard: series``, process 1's series c (it starts in the test part) has no training
    rows for its own scaler: process 1 refused alone, and process 0 went on to gather the statics, there to fail on the
    lost connection (gloo) or wait (NCCL). Process 1 now sends its refusal to the others, which refuse alike."""
    times = pd.date_range("2024-01-01", periods=40, freq="h")
    frame = pd.concat(
        [pd.DataFrame({"id": "a", "time": times, "y": np.arange(40.0)}),
         pd.DataFrame({"id": "c", "time": times[-8:], "y": np.arange(8.0)})]
    )  # fmt: skip
    sent = []

    def gather(value):  # process 0 (series a) refuses nothing and sends what process 1 does otherwise
        sent.append(value)
        return [None if value is None or isinstance(value, str) else value, value]

    for module in ("shares", "sharding"):  # the share is read in the one, refused alike in the other
        monkeypatch.setattr(f"forecast.data.{module}.world", lambda: (1, 2))  # the second of two processes: c
        monkeypatch.setattr(f"forecast.data.{module}.gather_objects", gather)
    monkeypatch.setattr("forecast.data.scaled.gather_objects", gather)  # the statics' values
    data = TimeSeriesDataModule(
        frame, lookback=4, horizon=2, shard="series", split=DateSplit("2024-01-01 20:00", "2024-01-02 06:00"),
        scaling=Scaling(per_series=True),
    )  # fmt: skip
    with pytest.raises(ForecastDataError, match=r"process 1 refused its share; series 'c' has no training rows"):
        data.setup("fit")
    assert data._shard == ["c"] and any(isinstance(value, str) and "'c'" in value for value in sent)


def test_global_standard_scaling_far_from_zero_equals_the_one_process_scaling():
    """At a level of 1e12, a spread of 5 over 100,000 rows passed scikit-learn's constant test on the raw sums: scale
    1 where one process (which fits the values less one of theirs) finds 5."""
    from sklearn.preprocessing import StandardScaler

    from forecast.data.scaling import fit_scaling

    column = 1e12 + np.random.default_rng(0).normal(0, 5, 100_000)
    starts, ends = np.array([0]), np.array([100_000])
    one = fit_scaling(StandardScaler, [column], starts, ends)
    affine = global_scaling(StandardScaler, [column], starts, ends)
    np.testing.assert_allclose(affine.scale, one.scale, rtol=1e-6)
    np.testing.assert_allclose(affine.offset, one.offset, rtol=1e-12)


def test_global_scaling_refuses_a_min_max_scaler_that_clips():
    from functools import partial

    from sklearn.preprocessing import MinMaxScaler

    with pytest.raises(ValueError, match=r"MinMaxScaler\(clip=True\) clips .*drop clip"):
        global_scaling(partial(MinMaxScaler, clip=True), [np.arange(10.0)], np.array([0]), np.array([5]))
