"""The network parts a Forecaster composes: encoders and heads."""

from .encoders import Encoder, EncoderOutput, GRUEncoder, LSTMEncoder, RNNEncoder
from .heads import Head, LinearHead
from .normalization import InstanceNormalization, LastValueNormalization, NoNormalization, Normalization

__all__ = [
    "Encoder",
    "EncoderOutput",
    "RNNEncoder",
    "LSTMEncoder",
    "GRUEncoder",
    "Head",
    "LinearHead",
    "Normalization",
    "NoNormalization",
    "LastValueNormalization",
    "InstanceNormalization",
]
