import runpy
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "baselines.py"


@pytest.mark.parametrize("period", ["0", "97"])
def test_the_baselines_benchmark_refuses_a_period_outside_its_lookback(period, monkeypatch, capsys):
    # Before, a period longer than the lookback wrapped round to the window's end: the wrong steps, silently.
    monkeypatch.setattr(sys, "argv", ["baselines.py", "--lookback", "96", "--period", period])
    with pytest.raises(SystemExit) as exit:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    assert exit.value.code == 2
    assert f"--period {period} must lie in [1, --lookback 96]" in capsys.readouterr().err
