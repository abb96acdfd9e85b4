"""Backtests against hand computations on tiny frames: counts that are no whole number, the default start."""

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecast import Forecaster, TimeSeriesDataModule
from forecast.backtest import backtest_windows, refit_groups
from forecast.cli import main
from forecast.data import DateSplit
from forecast.data.splits import Windows
from forecast.nn import IdentityEncoder, LastValueHead
from forecast.reports import EvaluationReport
from forecast.trainer import ForecastTrainer


@pytest.fixture
def data() -> TimeSeriesDataModule:
    """50 hourly rows of one series, lookback 4, horizon 2."""
    frame = pd.DataFrame({"y": np.arange(50.0)}, index=pd.date_range("2024-01-01", periods=50, freq="h"))
    return TimeSeriesDataModule(frame, lookback=4, horizon=2)


@pytest.mark.parametrize(
    "counts, named",
    [({"stride": 2.5}, "stride=2.5"), ({"stride": True}, "stride=True"), ({"num_windows": 2.5}, "num_windows=2.5")],
)
def test_backtest_windows_refuse_a_stride_or_window_count_of_no_whole_number(data, counts, named):
    """A stride of 2.5 gave 8.0 windows 2.5 rows apart (fractional rows), ``num_windows=2.5`` two windows, and
    ``stride=True`` one row between origins: each refused, naming the option, as the command line would."""
    assert backtest_windows(data, start=-20, stride=np.int64(3), num_windows=np.int64(2)).counts.tolist() == [2]
    with pytest.raises(ValueError, match=rf"stride >= 1 and num_windows >= 1, whole numbers .*{named}"):
        backtest_windows(data, start=-20, **counts)


@pytest.mark.parametrize("refit_every", [1.5, True])
def test_refit_groups_refuse_a_refit_every_of_no_whole_number(refit_every):
    """``refit_every=1.5`` failed in ``range`` ("'float' object cannot be interpreted as an integer") and
    ``True`` refitted before every origin: both refused, naming the option."""
    windows = Windows(first=np.array([30]), counts=np.array([4]), stride=2)
    assert [group.counts.tolist() for group in refit_groups(windows, np.int64(3))] == [[3], [1]]
    with pytest.raises(ValueError, match=rf"refit_every must be >= 1 .*a whole number .*got {refit_every}"):
        refit_groups(windows, refit_every)


def _date_split_frame() -> pd.DataFrame:
    """Hourly series A (60 rows), B (35 rows, ending before the test part) and C (20 rows, starting after
    test_start: its test part starts at row 0, before its lookback)."""
    rng = np.random.default_rng(0)
    return pd.concat(
        [
            pd.DataFrame({"id": name, "time": pd.date_range(start, periods=rows, freq="h"), "y": rng.normal(size=rows)})
            for name, start, rows in [("A", "2024-01-01", 60), ("B", "2024-01-01", 35), ("C", "2024-01-02 14:00", 20)]
        ],
        ignore_index=True,
    )


@pytest.mark.parametrize(
    ("test_end", "windows"), [(None, {"A": 60 - 36 - 1, "C": 20 - 4 - 1}), ("2024-01-02 20:00", {"A": 7, "C": 1})]
)
def test_backtest_by_default_forecasts_the_windows_that_test_evaluates(tmp_path, test_end, windows):
    """With no --start the backtest starts at the test part, as ``test`` does: a series whose test part holds no
    window (B) is left out, not refused with "choose an earlier --start"; one whose test part starts before its
    lookback (C) starts at row lookback. With stride 1 its windows are those of ``test``: also where a ``test_end``
    holds out the rows after it (the backtest ran on to each series' end, into them)."""
    split = DateSplit("2024-01-01 20:00", "2024-01-02 12:00", test_end=test_end)
    data = TimeSeriesDataModule(_date_split_frame(), 4, 2, split=split)
    model = Forecaster(lookback=4, horizon=2, input_size=1, target_size=1, encoder=IdentityEncoder, head=LastValueHead)
    settings = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}
    report = EvaluationReport(num_plots=0, write_forecasts=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # C has no training rows for MASE's scale; Lightning's notes
        ForecastTrainer(default_root_dir=tmp_path / "test", callbacks=[report], **settings).test(
            model, data, verbose=False
        )
        ForecastTrainer(default_root_dir=tmp_path / "backtest", **settings).backtest(
            model, data, stride=1, verbose=False
        )
    tested, backtested = (pd.read_csv(tmp_path / run / "forecasts.csv") for run in ("test", "backtest"))
    assert backtested.groupby("id")["window"].nunique().to_dict() == windows
    keys = ["id", "origin", "time", "y", "y_actual"]
    pd.testing.assert_frame_equal(backtested[keys], tested[keys])


def test_a_backtest_of_sharded_data_from_a_checkpoint_is_the_backtest_of_all_series(long_frame, tmp_path, tiny_cli):
    """Under ``data.shard: series`` the rows a checkpoint was fitted on were counted before the data module read its
    share (one series' worth): the backtest failed with "IndexError: index 1 is out of bounds for axis 0 with
    size 1". Of one process's share of every series, it is the backtest of the data unsharded."""
    long_frame.to_csv(tmp_path / "long.csv", index=False)
    config = ["--config", str(Path(__file__).resolve().parents[1] / "configs/quickstart.yaml")]
    config += ["--data.columns.targets", "[y]", "--data.columns.static_covariates", "[region]"]
    small = [*tiny_cli(tmp_path / "long.csv", lookback=12, horizon=4), "--trainer.accelerator", "cpu"]
    fit = ["fit", *config, *small, "--trainer.max_epochs", "1", "--data.shard", "series"]
    fitted = main([*fit, "--trainer.default_root_dir", str(tmp_path / "fit")]).trainer.checkpoint_callback
    forecasts = {}
    for shard in ("series", "none"):
        main(["backtest", *config, *small, "--data.shard", shard, "--ckpt_path", fitted.last_model_path,
              "--stride", "4", "--num_windows", "2", "--trainer.default_root_dir", str(tmp_path / shard)])  # fmt: skip
        forecasts[shard] = pd.read_csv(tmp_path / shard / "lightning_logs/version_0/forecasts.csv")
    assert len(forecasts["none"]) == 3 * 2 * 4  # every series, two origins, four steps
    pd.testing.assert_frame_equal(forecasts["series"], forecasts["none"])
