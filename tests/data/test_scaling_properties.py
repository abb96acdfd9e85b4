"""Properties of the scaler of all series fitted in chunks, against exact statistics of the training rows."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from forecast.data import scaling
from forecast.data.scaling import fit_scaling


@settings(max_examples=25, deadline=None)
@given(
    lengths=st.lists(st.integers(1, 60), min_size=1, max_size=5),
    level=st.sampled_from([0.0, 1e6, -1e9, 1e9]),
    spread=st.sampled_from([1e-3, 1e-2, 1.0]),
    chunk=st.integers(4, 64),
    missing=st.floats(0.0, 0.5),
    seed=st.integers(0, 2**16),
    scaler=st.sampled_from([StandardScaler, MinMaxScaler]),
)
def test_chunked_global_scaling_keeps_float32_precision_at_any_level(
    lengths, level, spread, chunk, missing, seed, scaler
):
    """Whatever the chunks, the scaled training values are ``(x - offset) / scale`` of the exact statistics
    (computed on the values less the level, which loses no digit) to float32 precision."""
    rng = np.random.default_rng(seed)
    y = level + spread * rng.standard_normal(sum(lengths))
    y[rng.random(len(y)) < missing] = np.nan
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    ends = starts + np.maximum(1, np.asarray(lengths) * 3 // 4)
    train = np.concatenate([y[s:e] for s, e in zip(starts, ends, strict=True)]) - level  # exact
    train = train[np.isfinite(train)]
    if len(train) == 0:
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scaling, "_CHUNK_CELLS", chunk)
        fitted = fit_scaling(scaler, [y], starts, ends)
    exact = scaler().fit(train[:, None])  # on values near zero: no digit lost to the level
    scaled = fitted.transform(y[:, None])[:, 0]
    expected = exact.transform((y - level)[:, None])[:, 0]
    offset_rounding = abs(np.spacing(level)) / fitted.scale[0, 0]  # a float64 offset near the level is no closer
    np.testing.assert_allclose(scaled, expected, rtol=1e-6, atol=1e-6 + offset_rounding)
