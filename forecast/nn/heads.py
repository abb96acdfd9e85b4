"""Heads: from the encoder's output to the loss parameters of every horizon step."""

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from ..batch import ModelDims
from .checks import check_flag, check_range, check_size
from .encoders import Encoder, EncoderOutput

__all__ = ["Decoding", "Head", "LinearHead", "SegmentHead", "AutoregressiveHead"]


class Decoding(NamedTuple):
    """What a recurrent head needs beyond sizes, given by the Forecaster beside ``ModelDims``.

    ``encoder`` is the encoder's own factory (a GRU decodes with a GRU); ``point`` maps a head's raw
    output (B, H, C_out, P) to the loss's point forecast (B, H, C_out) on the normalized scale, for
    heads that feed back their own forecasts.
    """

    encoder: Callable[[int], Encoder]
    point: Callable[[torch.Tensor], torch.Tensor]


class Head(nn.Module):
    """The contract every head keeps: encoder output (and covariates) in, loss parameters out.

    The Forecaster builds a head as ``head(dims, decoding)``: the model's sizes, and the
    ``Decoding`` factories that only recurrent heads read.

    ``history`` is the targets' own lookback on the normalized scale, for heads that continue it (an
    autoregressive decoder starts from its last values). ``target``, the normalized target with NaN where
    the data module repaired it (no observation), is given in training only, for heads that teacher-force;
    the others ignore it.

    Shapes:
        encoded: EncoderOutput with sequence (B, T, D), last (B, D); history: (B, L, C_out),
        future: (B, H, C_fut), static: (B, S), target: (B, H, C_out) -> (B, H, C_out, P)
    """

    def forward(
        self,
        encoded: EncoderOutput,
        history: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        raise NotImplementedError


class LinearHead(Head):
    """Direct multi-horizon forecast: one linear map to all H steps at once, no recurrence.

    The map reads the encoder's summary of the window, the static features and the whole horizon's
    future covariates.

    Args:
        dims: sizes from the Forecaster (encoder output size, horizon, targets, loss parameters).
        decoding: not read: a direct head has no decoder.
        from_sequence: map the whole flattened output sequence (T x D features) instead of the top
            layer's output at the end of the window (``EncoderOutput.last``: for a bidirectional
            encoder each direction's, having read the whole window); more parameters, but every step
            of the window reaches every forecast.
        dropout: dropout on the features before the linear map.

    Raises:
        TypeError: ``from_sequence`` is no bool (the text "false" is true to Python), or ``dropout`` no number.
        ValueError: ``dropout`` is outside [0, 1].
    """

    def __init__(
        self, dims: ModelDims, decoding: Decoding | None = None, *, from_sequence: bool = False, dropout: float = 0.0
    ):
        super().__init__()
        check_flag("model.head.init_args.from_sequence", from_sequence)
        check_range("model.head.init_args.dropout", dropout, 0, 1)
        self.from_sequence = from_sequence
        self.out_shape = (dims.horizon, dims.target_size, dims.num_params)
        in_features = dims.encoder_size * (dims.encoder_steps if from_sequence else 1)
        in_features += dims.static_size + dims.horizon * dims.future_size
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_features, dims.horizon * dims.target_size * dims.num_params)

    def forward(
        self,
        encoded: EncoderOutput,
        history: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # encoded.sequence: (B, T, D), encoded.last: (B, D)
        features = encoded.sequence.flatten(1) if self.from_sequence else encoded.last  # -> (B, T * D) or (B, D)
        features = torch.cat([features, static, future.flatten(1)], dim=-1)  # -> (B, features + S + H * C_fut)
        params = self.linear(self.dropout(features))  # -> (B, H * C_out * P)
        return params.view(-1, *self.out_shape)  # -> (B, H, C_out, P)


class SegmentHead(Head):
    """Parallel multi-step decoding (SegRNN's PMF): the horizon in segments, all decoded at once.

    Each of the ceil(H / seg_len) segments is one recurrent step from the encoder's final state, whose
    input says which segment it is (a learned position embedding, started at N(0, 1 / position_size) so
    that its vector has about unit norm, where SegRNN's starts at N(0, 1)), plus the static features
    (including a channel embedding under channel independence) and the segment's future covariates.
    A linear layer maps each step's output to the segment's values; when the encoder's state does
    not hold its output at the end of the window (``Encoder.state_holds_last``: the SRU's cell state
    does not), the map also reads ``EncoderOutput.last``, the only way the SRU's top-layer highway
    reaches the forecast. The decoder is built from the encoder's own factory,
    so a GRU decodes GRU and an SRU decodes SRU (Lin et al., "SegRNN", 2023, Section 3.3). It runs as
    ``Encoder.broadcast_step``: the position embeddings meet the input matrix once per segment and
    the state meets the recurrent matrix once per row, not once per (row, segment) pair.

    Args:
        dims: sizes from the Forecaster.
        decoding: from the Forecaster: the encoder's factory builds the decoder.
        seg_len: forecast steps per segment. When it does not divide the horizon, the last segment
            is cut to it (with zeros as the future covariates of the steps past the horizon), so one
            config serves every horizon of a data set (ILI's 24-60 with segments of 48).
        position_size: features of the position embedding; ``None`` means half the encoder's size.
        dropout: dropout on the decoder's output before the linear map.

    Raises:
        TypeError: ``seg_len`` or ``position_size`` is no int, or ``dropout`` no number.
        ValueError: ``seg_len`` or ``position_size`` is below 1, ``dropout`` is outside [0, 1], or the
            Forecaster gave no encoder factory.
    """

    def __init__(
        self,
        dims: ModelDims,
        decoding: Decoding | None = None,
        *,
        seg_len: int = 24,
        position_size: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_size("model.head.init_args.seg_len", seg_len, 1)
        if position_size is not None:
            check_size("model.head.init_args.position_size", position_size, 1)
        check_range("model.head.init_args.dropout", dropout, 0, 1)
        if decoding is None:
            raise ValueError("SegmentHead decodes with the encoder's own factory; build it through Forecaster")
        self.seg_len, self.segments = seg_len, -(-dims.horizon // seg_len)  # the last segment may pass the horizon
        self.horizon = dims.horizon
        self.out_shape = (self.segments * seg_len, dims.target_size, dims.num_params)
        position_size = max(dims.encoder_size // 2, 1) if position_size is None else position_size
        self.position = nn.Parameter(torch.randn(self.segments, position_size) / position_size**0.5)
        self.decoder = decoding.encoder(position_size + dims.static_size + seg_len * dims.future_size)
        self.dropout = nn.Dropout(dropout)
        self.reads_last = not self.decoder.state_holds_last  # the decoder is of the encoder's own class
        self.linear = nn.Linear(
            self.decoder.output_size + dims.encoder_size * self.reads_last,
            seg_len * dims.target_size * dims.num_params,
        )

    def forward(
        self,
        encoded: EncoderOutput,
        history: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # encoded.state: (layers * dirs, B, D) or a tuple of those, future: (B, H, C_fut), static: (B, S)
        # S_H = ceil(H / seg_len) segments
        batch = static.shape[0]
        future = nn.functional.pad(future, (0, 0, 0, self.out_shape[0] - self.horizon))  # -> (B, S_H * seg_len, C_fut)
        inputs = [
            self.position[None],  # -> (1, S_H, position_size): the same for every row
            static[:, None],  # -> (B, 1, S): the same for every segment
            # Sizes spelt out: -1 is ambiguous over 0 elements (no covariates, or an empty batch)
            future.reshape(batch, self.segments, self.seg_len * future.shape[-1]),  # -> (B, S_H, seg_len * C_fut)
        ]
        features = self.decoder.broadcast_step(inputs, encoded.state)  # one step per segment -> (B, S_H, D)
        if self.reads_last:
            window = encoded.last[:, None].expand(-1, self.segments, -1)  # -> (B, S_H, D)
            features = torch.cat([features, window], dim=-1)  # -> (B, S_H, 2 D)
        params = self.linear(self.dropout(features))  # -> (B, S_H, seg_len * C_out * P)
        return params.view(batch, *self.out_shape)[:, : self.horizon]  # -> (B, H, C_out, P)


class AutoregressiveHead(Head):
    """Sequence-to-sequence decoding: a recurrent decoder forecasts ``step`` steps at a time, reading
    its own previous forecast.

    The decoder starts from the encoder's final state; each of its steps reads the previous
    ``step`` values (before the first forecast: the last ``step`` values of ``history``, as the encoder
    reads them, repaired where missing), the future covariates of the ``step`` steps it forecasts and
    the static features; a linear layer
    maps its output (beside ``EncoderOutput.last`` when the encoder's state does not hold it, as for
    the SRU: see ``SegmentHead``) to the step's values. In training,
    ``teacher_forcing`` is the probability that a batch reads the true previous values instead
    (Williams and Zipser, 1989), which speeds training up but shows the decoder inputs it never
    sees at prediction time; where a true value is NaN (not observed), it reads its own forecast of
    that value. The decoder is built from the encoder's own factory.

    Args:
        dims: sizes from the Forecaster.
        decoding: from the Forecaster: the encoder's factory builds the decoder, and the loss's point
            forecast is what it reads back.
        step: forecast steps per decoder step (1: step by step; larger: segment by segment); must
            divide the horizon.
        teacher_forcing: probability, per training batch, of feeding the true previous values.
        dropout: dropout on the decoder's output before the linear map.

    Raises:
        TypeError: ``step`` is no int, or ``teacher_forcing`` or ``dropout`` no number.
        ValueError: ``step`` is below 1, does not divide the horizon or is longer than the lookback,
            ``teacher_forcing`` or ``dropout`` is outside [0, 1], or the Forecaster gave no encoder factory.
    """

    def __init__(
        self,
        dims: ModelDims,
        decoding: Decoding | None = None,
        *,
        step: int = 1,
        teacher_forcing: float = 0.0,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_size("model.head.init_args.step", step, 1)
        if dims.horizon % step:
            raise ValueError(
                f"model.head.init_args.step={step} must divide the horizon {dims.horizon}; "
                "choose a divisor of data.horizon"
            )
        check_range("model.head.init_args.teacher_forcing", teacher_forcing, 0, 1)
        check_range("model.head.init_args.dropout", dropout, 0, 1)
        if decoding is None:
            raise ValueError("AutoregressiveHead decodes with the encoder's own factory; build it through Forecaster")
        self.step, self.teacher_forcing, self.point = step, teacher_forcing, decoding.point
        self.out_shape = (step, dims.target_size, dims.num_params)
        if step > dims.lookback:
            raise ValueError(
                f"model.head.init_args.step={step} must be at most the lookback {dims.lookback}: the first "
                "decoder step reads the last `step` values of the lookback"
            )
        self.decoder = decoding.encoder(step * (dims.target_size + dims.future_size) + dims.static_size)
        self.dropout = nn.Dropout(dropout)
        self.reads_last = not self.decoder.state_holds_last  # the decoder is of the encoder's own class
        self.linear = nn.Linear(
            self.decoder.output_size + dims.encoder_size * self.reads_last, step * dims.target_size * dims.num_params
        )

    def forward(
        self,
        encoded: EncoderOutput,
        history: torch.Tensor,
        future: torch.Tensor,
        static: torch.Tensor,
        target: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # encoded.state: (layers * dirs, B, D) or a tuple, history: (B, L, C_out), future: (B, H, C_fut),
        # static: (B, S), target: (B, H, C_out)
        batch, horizon = future.shape[:2]
        teacher = target is not None and self.training and bool(torch.rand(()) < self.teacher_forcing)
        previous = history[:, -self.step :].flatten(1)  # -> (B, step * C_out), the lookback's last values
        state, outputs = encoded.state, []
        for start in range(0, horizon, self.step):
            window = slice(start, start + self.step)
            inputs = torch.cat([previous, future[:, window].flatten(1), static], dim=-1)[:, None]  # -> (B, 1, in)
            decoded = self.decoder(inputs, state)  # -> sequence (B, 1, D)
            state, features = decoded.state, decoded.sequence[:, 0]  # -> (B, D)
            if self.reads_last:
                features = torch.cat([features, encoded.last], dim=-1)  # -> (B, 2 D)
            params = self.linear(self.dropout(features)).view(batch, *self.out_shape)  # -> (B, step, C_out, P)
            outputs.append(params)
            previous = self.point(params)  # -> (B, step, C_out)
            if teacher:
                previous = _observed_or(target[:, window], previous)
            previous = previous.flatten(1)  # -> (B, step * C_out)
        return torch.cat(outputs, dim=1)  # -> (B, H, C_out, P)


def _observed_or(truth: torch.Tensor, forecast: torch.Tensor) -> torch.Tensor:
    """The true values where they are observed, the forecast where they are NaN: a teacher-forced decoder
    never continues from a value the data module made up. (B, step, C_out) twice -> (B, step, C_out)."""
    return torch.where(truth.isnan(), forecast, truth)
