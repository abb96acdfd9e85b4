"""benchmarks/ltsf.py on a held-out named data set served from a generated ``$FORECAST_DATA`` cache: origins that a
fit could not train at are refused before any fit, naming the most that work."""

import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
ltsf = runpy.run_path(str(ROOT / "benchmarks" / "ltsf.py"), run_name="ltsf")
CONFIG = ROOT / "configs/etth1/linear.yaml"
ROWS = 203  # FractionSplit 70/10/20: validation at [142, 163), moved back 10 rows per origin


@pytest.fixture
def illness(tmp_path, monkeypatch) -> None:
    """A generated weekly ``national_illness.csv`` of ``ROWS`` rows placed by hand in a cache of its own."""
    monkeypatch.setenv("FORECAST_DATA", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    steps = np.arange(ROWS)
    frame = pd.DataFrame(
        {"date": pd.date_range("2002-01-01", periods=ROWS, freq="W-TUE"), "a": np.sin(steps / 3), "OT": np.cos(steps)}
    )
    frame.to_csv(tmp_path / "data/national_illness.csv", index=False)


def test_ltsf_refuses_origins_whose_earliest_fit_has_no_training_window_before_any_fit(illness, tmp_path, monkeypatch):
    """Lookback 8 and horizon 4 need 12 training rows: 14 origins start the last validation part at row 12, 15
    at row 2, which the row check alone let through (the fit failed after 14 others)."""

    def fit(args: list[str], directory: Path) -> dict:
        raise AssertionError(f"a fit ran, into {directory}, before the origins were refused")

    monkeypatch.setitem(ltsf["main"].__globals__, "fit", fit)
    args = ["--datasets", "illness", "--configs", str(CONFIG), "--horizons", "4", "--seeds", "1", "--lookbacks", "8"]
    args += ["--root", str(tmp_path / "runs"), "--out", str(tmp_path / "board"), "--origins", "15"]
    with pytest.raises(ValueError, match=r"--origins 15: the fit of .*linear.yaml \(L8\) on illness at horizon 4 .*"
                       r"train part has no window.*; use --origins 14 or fewer$"):  # fmt: skip
        ltsf["main"](args)


def test_ltsf_origins_that_leave_every_fit_a_training_window_pass_the_check(illness):
    ltsf["check_origins"]("illness", CONFIG, 4, [], ltsf["candidates"]([8]), 14)
