"""The network parts a Forecaster composes: normalizations, encoders and heads."""

from .baselines import IdentityEncoder, LastValueHead, LookbackLinearHead, LookbackMeanHead, SeasonalNaiveHead
from .cycle import ResidualCycle
from .embeddings import Embedding, IdentityEmbedding, LinearEmbedding, SegmentEmbedding
from .encoders import Encoder, EncoderOutput, GRUEncoder, LSTMEncoder, RNNEncoder, StackedEncoder
from .heads import AutoregressiveHead, Decoding, Head, LinearHead, SegmentHead
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
    "IdentityEncoder",
    "Head",
    "Decoding",
    "LinearHead",
    "SegmentHead",
    "AutoregressiveHead",
    "LastValueHead",
    "SeasonalNaiveHead",
    "LookbackMeanHead",
    "LookbackLinearHead",
    "Embedding",
    "IdentityEmbedding",
    "LinearEmbedding",
    "SegmentEmbedding",
    "ResidualCycle",
    "Normalization",
    "NoNormalization",
    "LastValueNormalization",
    "InstanceNormalization",
]
