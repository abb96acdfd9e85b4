"""The network parts a Forecaster composes: normalizations, encoders and heads."""

from .encoders import Encoder, EncoderOutput, GRUEncoder, LSTMEncoder, RNNEncoder, StackedEncoder
from .heads import Head, LinearHead
from .normalization import InstanceNormalization, LastValueNormalization, NoNormalization, Normalization
from .sru import SRUEncoder, SRULayer

__all__ = [
    "Encoder",
    "EncoderOutput",
    "RNNEncoder",
    "LSTMEncoder",
    "GRUEncoder",
    "SRUEncoder",
    "SRULayer",
    "StackedEncoder",
    "Head",
    "LinearHead",
    "Normalization",
    "NoNormalization",
    "LastValueNormalization",
    "InstanceNormalization",
]
