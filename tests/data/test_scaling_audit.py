"""Scalers whose transform the fitted affine map would not reproduce are refused, not silently replaced by it."""

from functools import partial

import numpy as np
import pytest
from sklearn.preprocessing import FunctionTransformer, MinMaxScaler

from forecast.data.scaling import fit_scaling


@pytest.mark.parametrize("per_series", [None, ["a"]], ids=["global", "per_series"])
@pytest.mark.parametrize(
    ("scaler", "name"),
    [
        # sklearn maps the rows above the training range to 1; the affine map gave them 1.25 ... 2.25.
        (partial(MinMaxScaler, clip=True), "MinMaxScaler"),
        # sklearn takes log1p; the inverse is the identity, so the affine map left the values unscaled.
        (partial(FunctionTransformer, np.log1p), "FunctionTransformer"),
    ],
    ids=["clip", "no_inverse_func"],
)
def test_fit_scaling_refuses_a_scaler_whose_transform_is_not_its_affine_map(scaler, name, per_series):
    column = np.arange(1.0, 11.0)  # trains on the first five rows; the later ones lie above them
    with pytest.raises(ValueError, match=f"{name}'s transform does not undo its inverse_transform"):
        fit_scaling(scaler, [column], np.array([0]), np.array([5]), per_series=per_series)
