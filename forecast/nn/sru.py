"""The Simple Recurrent Unit: one matrix product for all time steps, then a cheap element-wise recurrence.

Lei et al., "Simple Recurrent Units for Highly Parallelizable Recurrence", EMNLP 2018, §2, with the
v2 peephole terms:

    [x~_t, f'_t, r'_t] = x_t W                         (every t in one product)
    f_t = σ(f'_t + v_f ⊙ c_{t-1} + b_f)
    r_t = σ(r'_t + v_r ⊙ c_{t-1} + b_r)
    c_t = f_t ⊙ c_{t-1} + (1 - f_t) ⊙ x~_t
    h_t = r_t ⊙ g(c_t) + (1 - r_t) ⊙ x'_t              (highway; x' = x, or a 4th column block of x W)

Only the last four lines are sequential, and they are element-wise: ``forecast.kernels`` runs them, every
step of both directions, in one Triton kernel launch on CUDA and in one call of a compiled C kernel on
CPU (and the backward in one more), reading ``u`` where the product wrote it (a half-precision ``u`` is
first copied to float32); without Triton or a C compiler, a Python loop over time steps of tensor ops runs
them instead. In training on CPU the forward writes the gates ``f_t`` and ``r_t`` over ``u``'s ``f'`` and
``r'``, so that the backward computes no sigmoid, and the backward writes ``u``'s gradient over ``u``, so
that it allocates nothing of ``u``'s size: a graph through a layer can be walked back once only (a second
``backward`` with ``retain_graph`` raises). Where ``x' = x``, the input's width is ``dirs * hidden_size``
and direction ``d`` carries its ``d``-th block of ``hidden_size`` features.
"""

import math

import torch
from torch import nn

from ..kernels import sru_recurrence
from .checks import check_finite, check_flag, check_size
from .encoders import StackedEncoder, check_stack, split_linear

__all__ = ["SRULayer", "SRUEncoder"]


class SRULayer(nn.Module):
    """One SRU layer, one or both directions.

    Args:
        input_size: D_in, features per step.
        hidden_size: features of the cell state, per direction.
        bidirectional: also read the window backwards.
        projection_size: if > 0, ``W`` is the product of two matrices through this rank (fewer
            parameters and flops when ``input_size`` is large).
        highway_bias: initial ``b_r``; negative values start the layer close to passing its input through,
            which helps deep stacks train (paper §3.3).
        use_tanh: ``g = tanh``; otherwise ``g`` is the identity (SRU v2's default).

    Shapes:
        x: (B, T, D_in), state: (dirs, B, hidden_size) or None -> (B, T, dirs * hidden_size), state

    Raises:
        TypeError: ``bidirectional`` or ``use_tanh`` is no bool: the text ``"false"`` would be taken as on by the
            tensor-op recurrence and fail the compiled one's call with a ctypes error.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        bidirectional: bool = False,
        projection_size: int = 0,
        highway_bias: float = 0.0,
        use_tanh: bool = False,
    ):
        check_flag("bidirectional", bidirectional)
        check_flag("use_tanh", use_tanh)
        super().__init__()
        self.hidden_size = hidden_size
        self.directions = 2 if bidirectional else 1
        # x' is the input itself only when its width is the output's; otherwise W projects it too.
        self.components = 3 if input_size == self.directions * hidden_size else 4
        width = self.directions * self.components * hidden_size
        if projection_size > 0:
            self.weight = nn.Sequential(
                nn.Linear(input_size, projection_size, bias=False), nn.Linear(projection_size, width, bias=False)
            )
        else:
            self.weight = nn.Linear(input_size, width, bias=False)
        self.v = nn.Parameter(torch.empty(2, self.directions, hidden_size))
        self.b = nn.Parameter(torch.zeros(2, self.directions, hidden_size))
        self.use_tanh = use_tanh
        self.highway_bias = highway_bias
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise as built: unit-variance pre-activations for unit-variance inputs (paper §3.3), zero
        forget bias, and the reset gate's bias at the layer's ``highway_bias``."""
        for linear in self.weight.modules():
            if isinstance(linear, nn.Linear):
                bound = math.sqrt(3 / linear.in_features)
                nn.init.uniform_(linear.weight, -bound, bound)
        nn.init.uniform_(self.v, -1 / math.sqrt(self.hidden_size), 1 / math.sqrt(self.hidden_size))
        with torch.no_grad():
            self.b.zero_()
            self.b[1].fill_(self.highway_bias)

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        # x: (B, T, D_in), state: (dirs, B, hidden) as this layer returns it, or None for zeros
        batch, steps, _ = x.shape
        c0 = None if state is None else state.transpose(0, 1).contiguous()  # -> (B, dirs, D)
        u = self.weight(x).view(batch, steps, self.directions, self.components, self.hidden_size)  # (B, T, dirs, k, D)
        highway = x.reshape(batch, steps, self.directions, self.hidden_size) if self.components == 3 else None
        # u is this call's own temporary: the recurrence may keep its gates there, and its gradient.
        h, c = sru_recurrence(u, highway, self.v, self.b, c0, self.use_tanh, overwrite_u=True)  # (B, T, dirs, D)
        return h.flatten(2), c.transpose(0, 1)  # -> (B, T, dirs * D), (dirs, B, D)

    def step(self, inputs: list[torch.Tensor], state: torch.Tensor) -> torch.Tensor:
        """``Encoder.broadcast_step`` for this layer: ``W`` meets each input part on its own shape, and
        one step of the recurrence runs element-wise on every (row, position) pair.

        Shapes:
            inputs: each (B or 1, S or 1, F_i); state: (dirs, B, D) -> (B, S, dirs * D)
        """
        if isinstance(self.weight, nn.Sequential):  # low rank: the first factor on the parts, the second after
            u = self.weight[1](split_linear(inputs, self.weight[0].weight))
        else:
            u = split_linear(inputs, self.weight.weight)
        u = u.unflatten(-1, (self.directions, self.components, self.hidden_size))  # -> (B or 1, S, dirs, k, D)
        if self.components == 4:
            highway = u[..., 3, :]
        else:  # x' is the input itself
            rows = torch.broadcast_shapes(*(part.shape[:-1] for part in inputs))
            highway = torch.cat([part.expand(*rows, -1) for part in inputs], dim=-1).unflatten(-1, u.shape[-3::2])
        c = state.transpose(0, 1)[:, None]  # -> (B, 1, dirs, D)
        f = torch.sigmoid(u[..., 1, :] + self.v[0] * c + self.b[0])  # -> (B, S, dirs, D)
        r = torch.sigmoid(u[..., 2, :] + self.v[1] * c + self.b[1])
        c = f * c + (1 - f) * u[..., 0, :]
        g = torch.tanh(c) if self.use_tanh else c
        return (r * g + (1 - r) * highway).flatten(-2)  # -> (B, S, dirs * D)


class SRUEncoder(StackedEncoder):
    """Stacked SRU layers: on CPU several times faster to train than a GRU of the same size.

    On a GPU it is faster at long windows and wide layers, and level with cuDNN's GRU at small sizes
    (README, "Encoders").

    Args:
        input_size: D_in, features per step (given by the Forecaster, not the config).
        hidden_size: features of each layer's state, per direction.
        num_layers: stacked SRU layers.
        dropout: dropout between layers (not after the last one).
        bidirectional: also read the window backwards; ``output_size`` doubles.
        layer_norm: layer normalization between layers.
        projection_size: rank of a low-rank input matrix (0: full rank).
        highway_bias: initial bias of the highway (reset) gate.
        use_tanh: ``g = tanh`` on the cell state; identity otherwise.

    Raises:
        TypeError: ``hidden_size``, ``num_layers`` or ``projection_size`` is no int, ``dropout`` or
            ``highway_bias`` no number, or ``bidirectional``, ``layer_norm`` or ``use_tanh`` no bool.
        ValueError: ``hidden_size`` or ``num_layers`` is below 1, ``dropout`` is outside [0, 1],
            ``projection_size`` is negative, or ``highway_bias`` is NaN or infinite (a NaN one makes the output
            of every step NaN).
    """

    state_holds_last = False  # the state is the cell state c; the highway shapes only the output h

    def __init__(
        self,
        input_size: int,
        *,
        hidden_size: int = 64,
        num_layers: int = 1,
        dropout: float = 0.0,
        bidirectional: bool = False,
        layer_norm: bool = False,
        projection_size: int = 0,
        highway_bias: float = 0.0,
        use_tanh: bool = False,
    ):
        check_stack(hidden_size, num_layers, dropout)
        check_size("model.encoder.init_args.projection_size", projection_size, 0)
        check_finite("model.encoder.init_args.highway_bias", highway_bias)
        check_flag("model.encoder.init_args.bidirectional", bidirectional)  # before the layers check it unnamed
        check_flag("model.encoder.init_args.use_tanh", use_tanh)
        output_size = hidden_size * (2 if bidirectional else 1)
        layers = [
            SRULayer(size, hidden_size, bidirectional, projection_size, highway_bias, use_tanh)
            for size in [input_size] + [output_size] * (num_layers - 1)
        ]
        super().__init__(layers, output_size, bidirectional, dropout, layer_norm)
