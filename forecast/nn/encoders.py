"""The encoder contract, and the recurrent encoders built on torch.nn (cuDNN on GPU)."""

import functools
import operator
import warnings
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import user_stacklevel
from .checks import check_flag, check_range, check_size

__all__ = ["State", "EncoderOutput", "Encoder", "StackedEncoder", "RNNEncoder", "LSTMEncoder", "GRUEncoder"]


State = torch.Tensor | tuple[torch.Tensor, ...]


class EncoderOutput(NamedTuple):
    """What every encoder returns.

    ``last`` summarises the window: heads that read the window as a whole read it. ``state`` is what a
    decoder that continues the recurrence starts from. They differ for the SRU, whose state is the cell
    state ``c``: its highway and reset gate shape the output ``h`` but never touch ``c``.

    Shapes:
        sequence: (B, T, D) with D = ``output_size``, the top layer's output at every step.
        last: (B, D), the top layer's output at the end of the window: the forward direction's last
            step and, when bidirectional, the backward direction's first step (each has read it all).
        state: the final recurrent state a decoder can start from; (num_layers * directions, B, hidden)
            for RNN, GRU and SRU (the cell state), a tuple ``(h, c)`` of those for LSTM.
    """

    sequence: torch.Tensor
    last: torch.Tensor
    state: State


class Encoder(nn.Module):
    """The contract every encoder keeps, so that swapping one is one line of YAML.

    Subclasses set ``output_size`` and implement ``forward(x, state=None) -> EncoderOutput``; ``state``,
    when given, is a state this encoder returned (a recurrent decoder starts from the encoder's).
    ``state_holds_last`` says whether ``state`` already carries ``last`` (the top layer's hidden state
    of a ``torch.nn`` layer is its output): a decoder started from such a state sees the window's end,
    while one started from an SRU's cell state must also read ``last`` to see the top layer's highway.

    Shapes:
        x: (B, T, D_in) -> EncoderOutput(sequence (B, T, output_size), last (B, output_size), state)
    """

    output_size: int
    state_holds_last: bool = True

    def forward(self, x: torch.Tensor, state: State | None = None) -> EncoderOutput:
        raise NotImplementedError

    def broadcast_step(self, inputs: list[torch.Tensor], state: State) -> torch.Tensor:
        """One step from each row's state for every (row, position) pair: what a parallel decoder runs.

        The input of pair (b, s) is the concatenation over ``inputs`` of ``part[b, s]``, each part
        broadcast over the dimensions where it has size 1 (a position embedding (1, S, F) is the same
        for every row, a static feature (B, 1, F) for every position); every position of row b starts
        from row b's state. This reference builds that grid and runs ``forward`` on B * S one-step
        sequences; ``StackedEncoder`` gives the same numbers without the grid, applying each input
        matrix to each part on its own shape and each recurrent matrix to each row's state once.

        Shapes:
            inputs: each (B or 1, S or 1, F_i); state: as ``forward`` returns it, with B rows
            -> (B, S, output_size)
        """
        rows = (state[0] if isinstance(state, tuple) else state).shape[1]
        positions = max(part.shape[1] for part in inputs)
        grid = torch.cat([part.expand(rows, positions, -1) for part in inputs], dim=-1)  # -> (B, S, sum F_i)
        repeated = _repeat_state(state, positions)  # -> (layers * dirs, B * S, hidden)
        sequence = self(grid.reshape(rows * positions, 1, -1), repeated).sequence  # -> (B * S, 1, D)
        return sequence.view(rows, positions, -1)  # -> (B, S, D)


def _repeat_state(state: State, times: int) -> State:
    """Each batch row's state ``times`` times over, row-major: (N, B, D) -> (N, B * times, D)."""
    if isinstance(state, tuple):
        return tuple(part.repeat_interleave(times, dim=1) for part in state)
    return state.repeat_interleave(times, dim=1)


def split_linear(parts: list[torch.Tensor], weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear`` of the parts' concatenation, as the sum of each part's product on its own shape.

    A part of shape (1, S, F) costs S rows of product instead of B * S; the sum broadcasts.

    Shapes:
        parts: each (..., F_i) with broadcastable leading dimensions; weight: (G, sum F_i) -> (..., G)
    """
    columns = weight.split([part.shape[-1] for part in parts], dim=1)
    products = [F.linear(part, column) for part, column in zip(parts, columns, strict=True) if part.shape[-1]]
    total = functools.reduce(operator.add, products)
    return total if bias is None else total + bias


def _stack_states(states: list[State]) -> State:
    """Per-layer states (dirs, B, hidden), or tuples of them -> (num_layers * dirs, B, hidden), as in torch.nn."""
    if isinstance(states[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*states, strict=True))
    return torch.cat(states)


def _split_state(state: State | None, num_layers: int) -> list[State | None]:
    """The inverse of ``_stack_states``; ``None`` (start from zeros) for every layer when ``state`` is."""
    if state is None:
        return [None] * num_layers
    if isinstance(state, tuple):
        return list(zip(*(part.chunk(num_layers) for part in state), strict=True))
    return list(state.chunk(num_layers))


def _window_end(sequence: torch.Tensor, directions: int) -> torch.Tensor:
    """Each direction's output after reading the whole window: (B, T, dirs * D) -> (B, dirs * D)."""
    if directions == 1:
        return sequence[:, -1]  # -> (B, D)
    forward, backward = sequence.chunk(2, dim=-1)  # -> (B, T, D) each
    return torch.cat([forward[:, -1], backward[:, 0]], dim=-1)  # -> (B, 2 * D)


class StackedEncoder(Encoder):
    """Recurrent layers one above the other, with dropout and, optionally, layer normalization between them.

    The encoders below only say which layers to stack. Each layer maps ``(B, T, D)`` to
    ``((B, T, output_size), state)`` with its state's directions first, as ``torch.nn`` does, and its
    ``step(inputs, state)`` is ``Encoder.broadcast_step`` for that one layer.

    Args:
        layers: the recurrent layers, bottom first.
        output_size: features per step out of every layer (both directions side by side).
        bidirectional: the layers read the window both ways, forward direction first in the features.
        dropout: dropout between layers (not after the last one).
        layer_norm: normalize each layer's output before the next layer reads it.

    ``state_parts`` says what a state is: one tensor (1), or a tuple of that many (the LSTM's ``(h, c)``).

    Raises:
        TypeError: ``bidirectional`` or ``layer_norm`` is no bool, as ``check_flag`` says it.
    """

    state_parts: int = 1

    def __init__(
        self, layers: list[nn.Module], output_size: int, bidirectional: bool, dropout: float, layer_norm: bool
    ):
        check_flag("model.encoder.init_args.bidirectional", bidirectional)
        check_flag("model.encoder.init_args.layer_norm", layer_norm)
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.between = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(output_size) if layer_norm else nn.Identity(), nn.Dropout(dropout))
            for _ in layers[1:]
        )
        self.output_size = output_size
        self.directions = 2 if bidirectional else 1

    def forward(self, x: torch.Tensor, state: State | None = None) -> EncoderOutput:
        """Read the window ``x`` from ``state`` (``None``: zeros).

        Raises:
            ValueError: ``x`` is not (B, T, D_in) with T >= 1: a window of no steps has no last output (torch
                refuses it naming no shape), and one without its batch dimension, (T, D_in), would come out as
                (T, output_size) with a ``last`` of one feature per step.
        """
        # x: (B, T, D_in), state: (num_layers * dirs, B, hidden) or a tuple of those, or None
        if x.dim() != 3 or x.shape[1] < 1:
            raise ValueError(
                f"x must be a window (B, T, D_in) with T >= 1 steps, got shape {tuple(x.shape)}: give each window "
                "at least one step, and a batch dimension (x[None] for one window)"
            )
        initial = self._layer_states(state, x.shape[0])
        sequence, last = self.layers[0](x, initial[0])  # -> (B, T, output_size)
        states = [last]
        for between, layer, start in zip(self.between, self.layers[1:], initial[1:], strict=True):
            sequence, last = layer(between(sequence), start)  # -> (B, T, output_size)
            states.append(last)
        return EncoderOutput(sequence, _window_end(sequence, self.directions), _stack_states(states))

    def _layer_states(self, state: State | None, batch: int | None) -> list[State | None]:
        """Each layer's initial state from a state this encoder returned, for ``batch`` rows (any when ``None``).

        Raises:
            TypeError: ``state`` is not what this encoder returns: a tensor, or a tuple of ``state_parts``
                tensors (another encoder's state: the layers would fail on it with an error of their own).
            ValueError: a part of ``state`` is not (num_layers * dirs, B, hidden): split by layer, it would
                reach the layers as shapes the caller never wrote, or not reach the last layers at all.
        """
        if state is not None:
            self._check_state_kind(state)
        parts = () if state is None else state if isinstance(state, tuple) else (state,)  # LSTM: (h, c)
        for part in parts:
            rows = part.shape[1] if batch is None and part.dim() > 1 else batch
            expected = (len(self.layers) * self.directions, rows, self.output_size // self.directions)
            if tuple(part.shape) != expected:
                raise ValueError(
                    f"state must be (num_layers * directions, B, hidden) = {expected}, as this encoder returns it "
                    f"for {rows} rows, got {tuple(part.shape)}: pass the state of an encoder built alike, or None"
                )
        return _split_state(state, len(self.layers))

    def _check_state_kind(self, state: State) -> None:
        """Refuse a ``state`` of another kind than this encoder returns, as ``state_parts`` says it."""
        parts = state if isinstance(state, tuple) else (state,)
        tensors = all(isinstance(part, torch.Tensor) for part in parts)
        if tensors and isinstance(state, tuple) == (self.state_parts > 1) and len(parts) == self.state_parts:
            return
        expected = "a tensor" if self.state_parts == 1 else f"a tuple of {self.state_parts} tensors"
        kinds = ", ".join(type(part).__name__ for part in parts)
        given = f"a tuple ({kinds})" if isinstance(state, tuple) else f"a {kinds}"
        raise TypeError(
            f"state must be {expected}, as {type(self).__name__} returns it, got {given}: "
            "pass the state of an encoder built alike, or None"
        )

    def broadcast_step(self, inputs: list[torch.Tensor], state: State) -> torch.Tensor:
        # inputs: each (B or 1, S or 1, F_i), state: (num_layers * dirs, B, hidden) or a tuple of those
        initial = self._layer_states(state, None)
        output = self.layers[0].step(inputs, initial[0])  # -> (B, S, output_size)
        for between, layer, start in zip(self.between, self.layers[1:], initial[1:], strict=True):
            output = layer.step([between(output)], start)  # -> (B, S, output_size)
        return output


def check_stack(hidden_size: int, num_layers: int, dropout: float) -> None:
    """Refuse the options of a stacked encoder that build no working stack, naming each config key.

    Raises:
        TypeError: ``hidden_size`` or ``num_layers`` is no int, or ``dropout`` no number.
        ValueError: ``hidden_size`` or ``num_layers`` is below 1, or ``dropout`` is outside [0, 1].
    """
    check_size("model.encoder.init_args.hidden_size", hidden_size, 1)
    check_size("model.encoder.init_args.num_layers", num_layers, 1)
    check_range("model.encoder.init_args.dropout", dropout, 0, 1)


@functools.cache
def _say_float32_under_cpu_autocast() -> None:
    warnings.warn(
        "Under CPU autocast the torch.nn recurrent layers run in float32 (the projections around them keep "
        "the autocast dtype): oneDNN has no bfloat16 LSTM kernel on CPUs without bfloat16 instructions.",
        stacklevel=user_stacklevel(),
    )


def _state_to(state: State, dtype: torch.dtype) -> State:
    """``state``, or each part of an LSTM's ``(h, c)``, in ``dtype``."""
    return tuple(part.to(dtype) for part in state) if isinstance(state, tuple) else state.to(dtype)


class _NoCPUAutocast(nn.Module):
    """A ``torch.nn`` recurrent layer that runs in its weights' dtype under CPU autocast, as it does without.

    oneDNN has no bfloat16 LSTM kernel for CPUs without bfloat16 instructions (e.g. AMD EPYC without
    AVX512_BF16): under ``precision: bf16-mixed`` a float32 layer would fail there. So the inputs come to
    the weights' dtype and autocast is off inside: float32 for the usual float32 weights (the recurrence is
    a small share of the work, and float32 keeps its state from drifting over long windows, as for the
    SRU), and float64 or bfloat16 for a model moved there, which autocast would otherwise hand float32
    inputs that its weights refuse.
    """

    def __init__(self, layer: nn.RNNBase):
        super().__init__()
        self.layer = layer

    def _dtype_under_autocast(self, x: torch.Tensor) -> torch.dtype | None:
        """The weights' dtype when CPU autocast is on for ``x``; ``None`` (run as it is) otherwise."""
        if x.device.type != "cpu" or not torch.is_autocast_enabled("cpu"):
            return None
        dtype = self.layer.weight_ih_l0.dtype
        if dtype == torch.float32:
            _say_float32_under_cpu_autocast()
        return dtype

    def forward(self, x: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        dtype = self._dtype_under_autocast(x)
        if dtype is None:
            return self.layer(x, state)
        with torch.autocast("cpu", enabled=False):
            return self.layer(x.to(dtype), None if state is None else _state_to(state, dtype))

    def step(self, inputs: list[torch.Tensor], state: State) -> torch.Tensor:
        """``Encoder.broadcast_step`` for this layer, computed from its own weights, in their dtype."""
        dtype = self._dtype_under_autocast(inputs[0])
        if dtype is None:
            return _torch_step(self.layer, inputs, state)
        with torch.autocast("cpu", enabled=False):
            return _torch_step(self.layer, [part.to(dtype) for part in inputs], _state_to(state, dtype))


def _torch_step(layer: nn.RNNBase, inputs: list[torch.Tensor], state: State) -> torch.Tensor:
    """One step of a one-layer ``torch.nn`` RNN, GRU or LSTM with torch's equations and gate order, for
    broadcast inputs: each input matrix meets each part on its own shape, each recurrent matrix each
    row's state once, and only the element-wise gate arithmetic runs on every (row, position) pair.

    Shapes:
        inputs: each (B or 1, S or 1, F_i); state: (dirs, B, H), or ``(h, c)`` of those -> (B, S, dirs * H)
    """
    outputs = []
    for direction in range(2 if layer.bidirectional else 1):
        suffix = "_l0_reverse" if direction else "_l0"
        w_ih, w_hh = getattr(layer, "weight_ih" + suffix), getattr(layer, "weight_hh" + suffix)
        b_ih, b_hh = (getattr(layer, "bias_ih" + suffix, None), getattr(layer, "bias_hh" + suffix, None))
        x = split_linear(inputs, w_ih, b_ih)  # -> (B or 1, S, gates * H)
        h = (state[0] if layer.mode == "LSTM" else state)[direction, :, None]  # -> (B, 1, H)
        hidden = F.linear(h, w_hh, b_hh)  # -> (B, 1, gates * H)
        if layer.mode == "GRU":
            x_r, x_z, x_n = x.chunk(3, dim=-1)
            h_r, h_z, h_n = hidden.chunk(3, dim=-1)
            r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
            n = torch.tanh(x_n + r * h_n)
            outputs.append(n + z * (h - n))  # (1 - z) n + z h -> (B, S, H)
        elif layer.mode == "LSTM":
            i, f, g, o = (x + hidden).chunk(4, dim=-1)
            c = torch.sigmoid(f) * state[1][direction, :, None] + torch.sigmoid(i) * torch.tanh(g)
            outputs.append(torch.sigmoid(o) * torch.tanh(c))  # -> (B, S, H)
        else:
            outputs.append(torch.tanh(x + hidden) if layer.mode == "RNN_TANH" else torch.relu(x + hidden))
    return torch.cat(outputs, dim=-1)  # -> (B, S, dirs * H)


class _TorchRecurrentEncoder(StackedEncoder):
    """A stack of single-layer ``torch.nn`` recurrent modules (the class attribute ``cell`` says which).

    Args:
        input_size: D_in, features per step (given by the Forecaster, not the config).
        hidden_size: features of each layer's state, per direction.
        num_layers: stacked recurrent layers.
        dropout: dropout between layers (not after the last one).
        bidirectional: also read the window backwards; the whole window is past data, so this
            leaks nothing, and ``output_size`` doubles.
        layer_norm: layer normalization between layers.

    Raises:
        TypeError: ``hidden_size`` or ``num_layers`` is no int, ``dropout`` no number, or ``bidirectional`` or
            ``layer_norm`` no bool.
        ValueError: ``hidden_size`` or ``num_layers`` is below 1, or ``dropout`` is outside [0, 1].
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
        layer_norm: bool = False,
    ):
        check_stack(hidden_size, num_layers, dropout)
        hidden_size = int(hidden_size)  # torch.nn's layers refuse a NumPy integer (a grid from np.arange)
        output_size = hidden_size * (2 if bidirectional else 1)
        layers = [
            _NoCPUAutocast(self.cell(int(size), hidden_size, bidirectional=bidirectional, batch_first=True))
            for size in [input_size] + [output_size] * (num_layers - 1)
        ]
        super().__init__(layers, output_size, bidirectional, dropout, layer_norm)


class RNNEncoder(_TorchRecurrentEncoder):
    """Elman recurrent network with tanh (``torch.nn.RNN``): the simplest recurrent baseline."""

    cell = nn.RNN


class LSTMEncoder(_TorchRecurrentEncoder):
    """Long short-term memory (``torch.nn.LSTM``); its state is the tuple ``(h, c)``."""

    cell = nn.LSTM
    state_parts = 2


class GRUEncoder(_TorchRecurrentEncoder):
    """Gated recurrent unit (``torch.nn.GRU``); ``bidirectional=True`` makes the Bi-GRU."""

    cell = nn.GRU
