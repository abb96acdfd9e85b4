"""The types that cross the boundary between data and model, and the dimension legend.

Legend used by every ``Shapes:`` block and ``# -> (...)`` comment in this package:
    B batch, L lookback, H horizon, T any time length, C channels (C_in inputs, C_fut known future
    covariates, C_out targets), S static features, D hidden or feature size, P loss parameters,
    Q quantile levels.
"""

from dataclasses import dataclass, fields

import torch

__all__ = ["Batch", "ModelDims"]


@dataclass
class Batch:
    """A batch of forecast windows, gathered in one indexing step by the data module.

    Not frozen: Lightning moves a batch to the device by rebuilding it field by field.
    The targets come first among the ``past`` channels: ``past[..., :C_out]`` are the targets' own
    history. ``target_scale`` and ``target_offset`` invert the target scaling per window
    (original = scaled * scale + offset), so the model reports metrics in original units without
    knowing how the data were scaled; ``naive_scale``, the in-sample seasonal-naive error of the
    window's series on its training rows (scaled), is the scale of MASE, which only the data know.
    ``observed`` marks the targets that were in the data: where the data module repaired a missing
    value (``nan_policy``), the target holds the repair, which feeds later windows' inputs but scores
    no forecast; ``None`` when no target of the data was repaired.
    A trainer precision of ``bf16-true`` or ``16-true`` would cast every float field to half precision, the
    scales, offsets, category codes (in ``static``) and season positions (in ``future``) too: the Forecaster
    refuses them; ``bf16-mixed`` or ``16-mixed`` runs the network in half precision and leaves the batch as it is.

    Shapes:
        past: (B, L, C_in), future: (B, H, C_fut), static: (B, S), target: (B, H, C_out),
        series: (B,) index of the series, time: (B,) row of the first forecast step in its series,
        target_scale: (B, C_out) float64, target_offset: (B, C_out) float64, naive_scale: (B, C_out),
        observed: (B, H, C_out) bool or None.
    """

    past: torch.Tensor
    future: torch.Tensor
    static: torch.Tensor
    target: torch.Tensor
    series: torch.Tensor
    time: torch.Tensor
    target_scale: torch.Tensor
    target_offset: torch.Tensor
    naive_scale: torch.Tensor
    observed: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.past.shape[0]

    def pin_memory(self) -> "Batch":
        """The batch in page-locked memory; a DataLoader with ``pin_memory=True`` calls this."""
        values = {field.name: getattr(self, field.name) for field in fields(self)}
        return Batch(**{name: value if value is None else value.pin_memory() for name, value in values.items()})

    def to_original(self, values: torch.Tensor) -> torch.Tensor:
        """Map target-scaled values (B, H, C_out, ...), e.g. forecasts or their quantiles, to original units.

        In float64, as the scale and offset are: at a level of 1e9 neighbouring float32 values lie 64 units
        apart, so a float32 result would lose the units' digits of every forecast there.
        """
        shape = (len(self), 1, self.target_scale.shape[-1]) + (1,) * (values.dim() - 3)
        return values.double() * self.target_scale.view(shape) + self.target_offset.view(shape)


@dataclass(frozen=True)
class ModelDims:
    """The sizes a head needs, known only once data, embedding, encoder and loss are chosen: sizes only.

    The Forecaster builds it, so no size is written twice in a config. Under channel independence
    the head sees one channel at a time: ``target_size`` is 1 and ``static_size`` includes the
    channel embedding.
    """

    lookback: int
    horizon: int
    input_size: int
    target_size: int
    future_size: int
    static_size: int
    encoder_steps: int
    encoder_size: int
    num_params: int
    season_length: int = 1  # the steps of the data's season (24 for hourly data); 1 where it has none or is unknown
