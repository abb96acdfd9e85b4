"""Heads: from the encoder's output to the loss parameters of every horizon step."""

import torch
from torch import nn

from ..batch import ModelDims
from .encoders import EncoderOutput

__all__ = ["Head", "LinearHead"]


class Head(nn.Module):
    """The contract every head keeps: encoder output (and covariates) in, loss parameters out.

    Shapes:
        encoded.sequence: (B, T, D), future: (B, H, C_fut), static: (B, S) -> (B, H, C_out, P)
    """

    def forward(self, encoded: EncoderOutput, future: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class LinearHead(Head):
    """Direct multi-horizon forecast: one linear map to all H steps at once, no recurrence.

    Args:
        dims: sizes from the Forecaster (encoder output size, horizon, targets, loss parameters).
        from_sequence: map the whole flattened output sequence (T x D features) instead of the last
            step's output only; more parameters, but every step of the window reaches every forecast.
        dropout: dropout on the features before the linear map.
    """

    def __init__(self, dims: ModelDims, *, from_sequence: bool = False, dropout: float = 0.0):
        super().__init__()
        self.from_sequence = from_sequence
        self.out_shape = (dims.horizon, dims.target_size, dims.num_params)
        in_features = dims.encoder_size * (dims.encoder_steps if from_sequence else 1)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, dims.horizon * dims.target_size * dims.num_params)

    def forward(self, encoded: EncoderOutput, future: torch.Tensor, static: torch.Tensor) -> torch.Tensor:
        # encoded.sequence: (B, T, D)
        if self.from_sequence:
            features = encoded.sequence.flatten(1)  # -> (B, T * D)
        else:
            features = encoded.sequence[:, -1]  # -> (B, D)
        params = self.linear(self.dropout(features))  # -> (B, H * C_out * P)
        return params.view(-1, *self.out_shape)  # -> (B, H, C_out, P)
