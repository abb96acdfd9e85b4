"""README's user journeys run as written: its data-pipeline block takes a checkpoint and a DataFrame and gives
forecasts in the data's own units, and a model built in Python is one its checkpoint can rebuild.

The checkpoint is the naive forecast (``IdentityEncoder`` + ``LastValueHead``, no weights) trained on the last
rows of ETTh1, so every forecast is the history's last value, in the units of ``datasets.load("etth1")``.
"""

import re
from pathlib import Path

import pandas as pd
import pytest

from forecast import Forecaster, datasets
from forecast.nn import GRUEncoder

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
HORIZON = 4


def readme_block(heading: str) -> str:
    """The first Python block after the README's ``heading``."""
    section = README.split(f"\n## {heading}\n", 1)[1]
    return re.search(r"```python\n(.*?)```", section, flags=re.S).group(1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, fit_last_value) -> Path:
    """A last-value checkpoint of ETTh1's seven channels, lookback 96 as the README's ``tail(96)`` needs."""
    return fit_last_value(datasets.load("etth1").tail(1000), tmp_path_factory.mktemp("etth1-naive"), 96, HORIZON)


def test_the_readmes_pipeline_block_forecasts_etth1_after_its_end_in_original_units(checkpoint, tmp_path, monkeypatch):
    code = readme_block("In a data pipeline")
    named = re.search(r'Forecaster\.load\("([^"]+)"\)', code).group(1)
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(code.replace(named, str(checkpoint)), scope)

    etth1 = datasets.load("etth1")
    forecasts = scope["forecasts"]
    assert forecasts.columns.tolist() == ["id", "time", *etth1.columns]
    expected_times = pd.date_range(etth1.index[-1], periods=HORIZON + 1, freq="h")[1:]
    assert forecasts["time"].tolist() == expected_times.tolist()
    last = etth1.iloc[-1]  # the naive forecast, in the data set's own units (°C for OT)
    for column in etth1.columns:
        assert forecasts[column].tolist() == pytest.approx([last[column]] * HORIZON, rel=1e-5), column
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "forecasts.parquet"), forecasts)


def small_gru(input_size: int) -> GRUEncoder:
    """An encoder factory written as a plain function."""
    return GRUEncoder(input_size, hidden_size=4)


@pytest.mark.parametrize("encoder", [lambda size: GRUEncoder(size, hidden_size=4), small_gru], ids=["lambda", "def"])
def test_a_function_part_is_refused_when_the_model_is_built_naming_the_part(encoder):
    """README, Your own data: parts are classes or functools.partials of them, so that checkpoints record them.
    A function trained and wrote a checkpoint that Forecaster.load then refused: a lambda, which Lightning drops
    from the hyperparameters with a warning, for its weights' shapes, as an edited file; a function because
    only subclasses of Encoder are built."""
    with pytest.raises(TypeError, match=r"model\.encoder is a function.*functools\.partial"):
        Forecaster(lookback=8, horizon=2, input_size=1, target_size=1, encoder=encoder)
