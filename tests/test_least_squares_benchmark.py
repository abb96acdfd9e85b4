"""benchmarks/least_squares.py: the closed-form linear map it scores, against scikit-learn's ridge."""

import runpy
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from forecast.data import FractionSplit, TimeSeriesDataModule

script = runpy.run_path(str(Path(__file__).resolve().parents[1] / "benchmarks/least_squares.py"), run_name="ls")


@pytest.mark.parametrize("normalization", ["none", "last", "instance"])
@pytest.mark.parametrize("penalty", [3.0, 0.0])
def test_the_validation_mse_is_that_of_scikit_learns_ridge_on_the_same_windows(wide_frame, normalization, penalty):
    """Each channel's window one row, the intercept unpenalized; ``last`` maps the window less its last value (whose
    last step, always 0, left no solution without a penalty), ``instance`` the window standardized by its own mean
    and deviation (RevIN's eps 1e-5 on the variance) to the target standardized by the same, mapped back."""
    data = TimeSeriesDataModule(wide_frame, 16, 4, split=FractionSplit())
    data.setup("fit")
    inputs, targets = script["windows"](data, "train")
    val_inputs, val_targets = script["windows"](data, "val")
    batch = data.dataset("train").__getitems__([0])
    assert np.allclose(inputs[0], batch.past[0, :, 0].double().numpy())  # window 0, channel 0
    assert np.allclose(targets[1], batch.target[0, :, 1].double().numpy())  # window 0, channel 1

    def statistics(rows):
        if normalization == "instance":
            return rows.mean(axis=1, keepdims=True), rows.std(axis=1, keepdims=True, ddof=0) ** 2
        return (rows[:, -1:] if normalization == "last" else 0 * rows[:, -1:]), None

    (level, variance), (val_level, val_variance) = statistics(inputs), statistics(val_inputs)
    scale, val_scale = (1.0 if v is None else np.sqrt(v + 1e-5) for v in (variance, val_variance))
    reference = Ridge(alpha=penalty) if penalty else LinearRegression()
    reference.fit((inputs - level) / scale, (targets - level) / scale)
    expected = np.mean(
        (reference.predict((val_inputs - val_level) / val_scale) * val_scale + val_level - val_targets) ** 2
    )
    assert script["validation_mse"](data, normalization, penalty) == pytest.approx(expected, rel=1e-9)


def test_the_origins_move_the_preset_back_half_a_validation_part_each():
    starts = [(split.val_start, split.test_start, split.test_end) for split in script["splits"]("etth1", 3)]
    assert starts == [(8640, 11520, 14400), (7200, 10080, 12960), (5760, 8640, 11520)]
