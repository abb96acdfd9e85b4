"""The base of the project's metrics: states that keep their dtypes wherever the module holding them is cast."""

from collections.abc import Callable, Sequence

from torch import Tensor
from torchmetrics import Metric

__all__ = ["ExactSums"]


class ExactSums(Metric):
    """A ``Metric`` whose states keep their dtypes (float64 sums, int64 counts) wherever its module is cast.

    torchmetrics leaves the states alone under ``half``, ``float``, ``double``, ``bfloat16`` and ``type`` (the
    metric's or a module's holding it); ``.to(dtype)`` casts them, and so do ``Forecaster.bfloat16()`` (which
    calls ``to``), Lightning's ``16-true`` and ``bf16-true`` precision (``module.to(dtype)``) and DeepSpeed
    (Lightning-AI/torchmetrics#2314). A bfloat16 sum keeps 8 significant bits, so past 2**15 it drops every
    batch's term below 128: a model's test MSE of 1.0 read 0.57. ``set_dtype`` still casts them, as asked.
    """

    def _apply(self, fn: Callable[[Tensor], Tensor], exclude_state: Sequence[str] = "") -> "ExactSums":
        if self._dtype_convert:  # set by torchmetrics' set_dtype
            return super()._apply(fn, exclude_state)

        def to_device(tensor: Tensor) -> Tensor:
            moved = fn(tensor)
            return moved if moved.dtype == tensor.dtype else tensor.to(moved.device)

        return super()._apply(to_device, exclude_state)
