"""The encoder contract, and the recurrent encoders built on torch.nn (cuDNN on GPU)."""

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["EncoderOutput", "Encoder", "RNNEncoder", "LSTMEncoder", "GRUEncoder"]


class EncoderOutput(NamedTuple):
    """What every encoder returns.

    Shapes:
        sequence: (B, T, D) with D = ``output_size``, the top layer's output at every step.
        state: the final recurrent state a decoder can start from; (num_layers * directions, B, hidden)
            for RNN and GRU, a tuple ``(h, c)`` of those for LSTM.
    """

    sequence: torch.Tensor
    state: torch.Tensor | tuple[torch.Tensor, torch.Tensor]


class Encoder(nn.Module):
    """The contract every encoder keeps, so that swapping one is one line of YAML.

    Subclasses set ``output_size`` and implement ``forward(x) -> EncoderOutput``.

    Shapes:
        x: (B, T, D_in) -> EncoderOutput(sequence (B, T, output_size), state)
    """

    output_size: int

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        raise NotImplementedError


class _TorchRecurrentEncoder(Encoder):
    """A stack of ``torch.nn`` recurrent layers (the class attribute ``cell`` says which).

    Args:
        input_size: D_in, features per step (given by the Forecaster, not the config).
        hidden_size: features of each layer's state, per direction.
        num_layers: stacked recurrent layers.
        dropout: dropout between layers (not after the last one).
        bidirectional: also read the window backwards; the whole window is past data, so this
            leaks nothing, and ``output_size`` doubles.
    """

    cell: type[nn.RNNBase]

    def __init__(
        self,
        input_size: int,
        *,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ):
        super().__init__()
        self.rnn = self.cell(
            input_size,
            hidden_size,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.output_size = hidden_size * (2 if bidirectional else 1)

    def forward(self, x: torch.Tensor) -> EncoderOutput:
        # x: (B, T, D_in)
        sequence, state = self.rnn(x)  # -> (B, T, output_size)
        return EncoderOutput(sequence, state)


class RNNEncoder(_TorchRecurrentEncoder):
    """Elman recurrent network with tanh (``torch.nn.RNN``): the simplest recurrent baseline."""

    cell = nn.RNN


class LSTMEncoder(_TorchRecurrentEncoder):
    """Long short-term memory (``torch.nn.LSTM``); its state is the tuple ``(h, c)``."""

    cell = nn.LSTM


class GRUEncoder(_TorchRecurrentEncoder):
    """Gated recurrent unit (``torch.nn.GRU``); ``bidirectional=True`` makes the Bi-GRU."""

    cell = nn.GRU
