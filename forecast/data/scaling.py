"""Per-channel scaling fitted on training rows only, kept as plain numbers for the checkpoint."""

from collections.abc import Callable

import numpy as np
from sklearn.base import TransformerMixin

__all__ = ["AffineScaling", "fit_scaling"]


class AffineScaling:
    """A fitted per-channel affine map: ``scaled = (x - offset) / scale``.

    scikit-learn does the fitting; what it learned is kept as two lists, so the state loads with
    ``torch.load(weights_only=True)`` and the inverse runs on tensors inside the model.

    Args:
        scale: one factor per channel (original = scaled * scale + offset).
        offset: one offset per channel.
    """

    def __init__(self, scale: list[float], offset: list[float]):
        self.scale = np.asarray(scale, dtype=np.float64)
        self.offset = np.asarray(offset, dtype=np.float64)

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scale ``values`` of shape (rows, C) to float32."""
        return ((values - self.offset) / self.scale).astype(np.float32)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        """Map scaled ``values`` of shape (..., C) back to original units."""
        return values * self.scale + self.offset

    def state_dict(self) -> dict[str, list[float]]:
        """Plain lists, for checkpoints."""
        return {"scale": self.scale.tolist(), "offset": self.offset.tolist()}


def fit_scaling(scaler: Callable[[], TransformerMixin] | None, train: np.ndarray) -> AffineScaling:
    """Fit a scikit-learn scaler on the training rows and keep its per-channel affine map.

    Args:
        scaler: a factory of a scikit-learn scaler (``StandardScaler``, ``MinMaxScaler``,
            ``RobustScaler``, ``MaxAbsScaler``), or ``None`` for no scaling.
        train: training rows only, shape (rows, C).

    Raises:
        ValueError: the scaler is not a per-channel affine map (e.g. ``QuantileTransformer``).
    """
    num_channels = train.shape[1]
    if scaler is None:
        return AffineScaling([1.0] * num_channels, [0.0] * num_channels)
    fitted = scaler().fit(train)
    probe = np.repeat(np.array([[0.0], [1.0], [2.0]]), num_channels, axis=1)
    zero, one, two = fitted.inverse_transform(probe)
    if not np.allclose(two, 2 * one - zero, rtol=1e-6, atol=1e-9 * (np.abs(zero).max() + 1)):
        raise ValueError(
            f"scaler {type(fitted).__name__} is not a per-channel affine map, which the model needs to "
            "report original units; use StandardScaler, MinMaxScaler, RobustScaler or MaxAbsScaler"
        )
    return AffineScaling((one - zero).tolist(), zero.tolist())
