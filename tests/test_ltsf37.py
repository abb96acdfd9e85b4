"""The leaderboard compares one measure on one set of validation windows, or refuses, naming why: a fit without a
validation score, another checkpoint monitor, a run config's own split, and lookbacks that leave a series that
starts late other validation windows (a choice compared scores of 278 and 260 windows). What ``run`` refuses after
its fits, the command refuses before any fit."""

import json
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")
LINEAR = str(ROOT / "configs/etth1/linear.yaml")
TINY = ["--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2", "--trainer.limit_val_batches", "2"]
TINY += ["--trainer.limit_test_batches", "2", "--report.num_plots", "0"]


def _main(tmp_path, *args: str):
    return ltsf["main"]([*args, "--horizons", "24", "--seeds", "1", "--root", str(tmp_path / "runs"),
                         "--out", str(tmp_path / "board")])  # fmt: skip


def test_a_fit_without_a_validation_score_is_refused_naming_the_settings(tmp_path):
    with pytest.raises(ValueError, match=r"kept no validation score.*check_val_every_n_epoch above"):
        _main(tmp_path, "--configs", LINEAR, *TINY, "--trainer.check_val_every_n_epoch", "2")


def test_another_checkpoint_monitor_is_refused_before_the_fit(tmp_path):
    with pytest.raises(ValueError, match=r"keeps the min val/mse_orig, but ltsf.py chooses .* on the least val/loss"):
        _main(tmp_path, "--configs", LINEAR, *TINY, "--checkpoint.monitor", "val/mse_orig")
    assert not list((tmp_path / "runs").rglob("*.ckpt"))


def test_a_run_config_of_its_own_split_is_refused(tmp_path, capsys):
    config = tmp_path / "own_split.yaml"
    config.write_text(
        "data:\n  split: {class_path: forecast.data.RowSplit, init_args: {val_start: 6000, test_start: 8000}}\n"
    )
    with pytest.raises(SystemExit):
        _main(tmp_path, "--configs", LINEAR, "--members", str(config), *TINY)
    assert f"{config} sets data.split, which ltsf.py replaces" in capsys.readouterr().err


def _late_series(tmp_path) -> tuple[str, list[str]]:
    """Two hourly series, one starting 30 rows before the validation part: lookback 24 validates on it at once, 48
    later. Returns the file and the arguments that read and split it."""
    times = pd.date_range("2020-01-01", periods=400, freq="h")
    late = times[250:]
    rng = np.random.default_rng(0)
    frame = pd.concat([pd.DataFrame({"id": name, "time": t, "y": rng.normal(size=len(t))})
                       for name, t in [("A", times), ("B", late)]])  # fmt: skip
    frame.to_csv(tmp_path / "two.csv", index=False)
    split = {"class_path": "forecast.data.DateSplit", "init_args": {"val_start": str(times[280]),
                                                                     "test_start": str(times[340])}}  # fmt: skip
    columns = ["--data.columns.id_column", "id", "--data.columns.time_column", "time", "--data.columns.targets", "[y]"]
    return str(tmp_path / "two.csv"), ["--data.split", json.dumps(split), *columns, *TINY]


def test_lookbacks_that_leave_a_late_series_other_validation_windows_are_refused_before_any_fit(tmp_path):
    source, args = _late_series(tmp_path)
    with pytest.raises(ValueError, match=r"scored on other validation windows \(\d+ and \d+"):
        _main(tmp_path, "--datasets", source, "--configs", LINEAR, "--lookbacks", "24", "48", *args,
              "--validation-only")  # fmt: skip
    assert not list(tmp_path.rglob("fit.json")) and not list(tmp_path.rglob("*.ckpt"))


def test_a_run_records_each_fits_validation_windows_and_refuses_to_choose_among_other_ones(tmp_path):
    """``run`` itself (a leaderboard whose fits were made before) compares the windows that each fit records."""
    source, args = _late_series(tmp_path)
    choices = ltsf["candidates"]([24, 48])
    with pytest.raises(ValueError, match=r"scored on other validation windows \(\d+ and \d+"):
        ltsf["run"](source, Path(LINEAR), 24, 0, tmp_path / "runs", args, choices, test=False)
    recorded = [
        json.loads(path.read_text())["fit"]["val_windows"] for path in sorted((tmp_path / "runs").rglob("fit.json"))
    ]
    assert [sum(counts) for _, counts in recorded] == [
        2 * (340 - 280 - 24 + 1),
        (340 - 280 - 24 + 1) + (340 - 298 - 24 + 1),
    ]


def test_a_member_of_another_measure_is_refused_before_any_fit(tmp_path):
    """A member validated on every 24th window, or trained on another loss, is refused before anything is
    fitted, naming the member and the setting: after the fits, hours of them on a long benchmark, was too late."""
    stride = tmp_path / "strided.yaml"
    stride.write_text("data:\n  eval_stride: 24\n")
    with pytest.raises(ValueError, match=r"the fits linear and strided .*data.eval_stride 1 vs 24"):
        _main(tmp_path, "--configs", LINEAR, "--members", str(stride), *TINY)
    pinball = tmp_path / "pinball.yaml"
    pinball.write_text("model:\n  loss:\n    class_path: forecast.losses.QuantileLoss\n"
                       "    init_args: {levels: [0.5]}\n")  # fmt: skip
    with pytest.raises(ValueError, match=r"the fits linear and pinball train with other losses"):
        _main(tmp_path, "--configs", LINEAR, "--members", str(pinball), *TINY)
    assert not list(tmp_path.rglob("fit.json")) and not list(tmp_path.rglob("*.ckpt"))
