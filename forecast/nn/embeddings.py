"""Input embeddings: what the encoder reads at each of its steps.

A segment embedding lets the encoder take L / seg_len steps instead of L: Lin et al., "SegRNN:
Segment Recurrent Neural Network for Long-Term Time Series Forecasting", 2023, Section 3.2. Fewer
recurrent steps is both faster and, on long lookbacks, more accurate.
"""

import torch
from torch import nn

from .checks import check_size

__all__ = ["Embedding", "IdentityEmbedding", "LinearEmbedding", "SegmentEmbedding"]


class Embedding(nn.Module):
    """The contract: the window in, the encoder's input sequence out.

    Each embedding is built by the Forecaster from the window's size ``(input_size, lookback)`` and
    says what it produces: ``output_size`` features at each of ``steps`` steps.

    Shapes:
        past: (B, L, C) -> (B, steps, output_size)
    """

    output_size: int
    steps: int


class IdentityEmbedding(Embedding):
    """The encoder reads the window as it is, one step per time step."""

    def __init__(self, input_size: int, lookback: int):
        super().__init__()
        self.output_size, self.steps = input_size, lookback

    def forward(self, past: torch.Tensor) -> torch.Tensor:
        return past


class LinearEmbedding(Embedding):
    """One linear map, shared by every time step, from the step's channels to ``embedding_size`` features.

    Args:
        input_size: C, channels per step (given by the Forecaster).
        lookback: L (given by the Forecaster).
        embedding_size: features per step the encoder reads.

    Raises:
        TypeError: ``embedding_size`` is no int.
        ValueError: ``embedding_size`` is below 1.
    """

    def __init__(self, input_size: int, lookback: int, *, embedding_size: int = 64):
        super().__init__()
        check_size("model.embedding.init_args.embedding_size", embedding_size, 1)
        self.linear = nn.Linear(input_size, embedding_size)
        self.output_size, self.steps = embedding_size, lookback

    def forward(self, past: torch.Tensor) -> torch.Tensor:
        return self.linear(past)  # -> (B, L, embedding_size)


class SegmentEmbedding(Embedding):
    """The window cut into segments of ``seg_len`` steps, each mapped by one linear layer and a ReLU.

    Args:
        input_size: C, channels per step (given by the Forecaster).
        lookback: L (given by the Forecaster); a multiple of ``seg_len``.
        seg_len: steps per segment; the encoder then runs over L / seg_len steps.
        embedding_size: features per segment the encoder reads.

    Raises:
        TypeError: ``seg_len`` or ``embedding_size`` is no int.
        ValueError: ``seg_len`` or ``embedding_size`` is below 1, or ``lookback`` is not a multiple of ``seg_len``.
    """

    def __init__(self, input_size: int, lookback: int, *, seg_len: int = 24, embedding_size: int = 128):
        super().__init__()
        check_size("model.embedding.init_args.seg_len", seg_len, 1)
        if lookback % seg_len:
            raise ValueError(
                f"model.embedding.init_args.seg_len={seg_len} must divide the lookback {lookback}; "
                "choose a divisor of data.lookback"
            )
        check_size("model.embedding.init_args.embedding_size", embedding_size, 1)
        self.seg_len = seg_len
        self.linear = nn.Linear(seg_len * input_size, embedding_size)
        self.output_size, self.steps = embedding_size, lookback // seg_len

    def forward(self, past: torch.Tensor) -> torch.Tensor:
        """Segments of the window, embedded: (B, L, C) -> (B, L / seg_len, embedding_size).

        Raises:
            ValueError: the window is not of the lookback's L steps (torch would name a reshape only).
        """
        batch, steps, channels = past.shape
        if steps != self.steps * self.seg_len:
            raise ValueError(
                f"SegmentEmbedding cuts windows of its lookback, {self.steps * self.seg_len} steps, into segments of "
                f"{self.seg_len}; got a window of {steps} steps: give windows of the model's lookback"
            )
        segments = past.reshape(batch, self.steps, self.seg_len * channels)  # -> (B, L / seg_len, seg_len * C)
        return torch.relu(self.linear(segments))  # -> (B, L / seg_len, embedding_size)
