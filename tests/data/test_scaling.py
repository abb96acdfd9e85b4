import numpy as np
import pytest
from sklearn.preprocessing import MaxAbsScaler, MinMaxScaler, QuantileTransformer, RobustScaler, StandardScaler

from forecast import TimeSeriesDataModule
from forecast.data import RowSplit
from forecast.data.scaling import fit_scaling


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler, RobustScaler, MaxAbsScaler])
def test_scaling_matches_sklearn(scaler):
    rng = np.random.default_rng(1)
    train, other = rng.normal(5, 3, (50, 4)), rng.normal(2, 7, (20, 4))
    scaling = fit_scaling(scaler, train)
    np.testing.assert_allclose(scaling.transform(other), scaler().fit(train).transform(other), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(scaling.inverse_transform(scaling.transform(other)), other, rtol=1e-5, atol=1e-5)


def test_no_scaler_is_identity():
    values = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(fit_scaling(None, values).transform(values), values)


def test_non_affine_scaler_is_refused():
    with pytest.raises(ValueError, match="QuantileTransformer is not a per-channel affine map"):
        fit_scaling(lambda: QuantileTransformer(n_quantiles=10), np.random.default_rng(0).normal(size=(40, 2)))


def test_scaler_ignores_test_rows(wide_frame):
    split = RowSplit(val_start=120, test_start=160)
    changed = wide_frame.copy()
    changed.iloc[170:] *= 1000  # only test targets change

    def fitted(frame):
        data = TimeSeriesDataModule(frame, lookback=10, horizon=5, split=split)
        data.setup("fit")
        return data.scaling.state_dict()

    assert fitted(changed) == fitted(wide_frame)
    expected = StandardScaler().fit(wide_frame.iloc[:120].to_numpy())
    np.testing.assert_allclose(fitted(wide_frame)["offset"], expected.mean_)
    np.testing.assert_allclose(fitted(wide_frame)["scale"], expected.scale_)
