"""The SRU recurrence exactly as the paper writes it, one time step at a time: the test oracle.

Lei et al., "Simple Recurrent Units for Highly Parallelizable Recurrence", EMNLP 2018, eqs. (3)-(5)
with the v2 peephole terms ``v ⊙ c_{t-1}``. Autograd differentiates it; it is never the fast path.
"""

import torch

__all__ = ["check_recurrence_inputs", "refuse_second_derivative", "sru_recurrence_reference"]


def sru_recurrence_reference(
    u: torch.Tensor,
    highway: torch.Tensor | None,
    v: torch.Tensor,
    b: torch.Tensor,
    c0: torch.Tensor | None = None,
    use_tanh: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the recurrence given the projected inputs of every step.

    Direction 0 reads the window forwards, direction 1 (when present) backwards.

    Args:
        u: the product ``x W`` split into ``[x~, f, r]`` pre-activations, and optionally a 4th component x'.
        highway: x', what the highway connection carries (the layer's input); ``None`` when x' is u's
            4th component, a projection of the input.
        v: peephole weights ``[v_f, v_r]``.
        b: biases ``[b_f, b_r]``.
        c0: the initial cell state; zeros when ``None``.
        use_tanh: ``g = tanh`` in ``h_t = r_t ⊙ g(c_t) + (1 - r_t) ⊙ x'_t``; identity otherwise.

    Shapes:
        u: (B, T, dirs, 3 or 4, D), highway: (B, T, dirs, D), v and b: (2, dirs, D), c0: (B, dirs, D)
        -> h: (B, T, dirs, D), c_last: (B, dirs, D)
    """
    batch, steps, dirs, _, size = u.shape
    c0 = u.new_zeros(batch, dirs, size) if c0 is None else c0
    highway = u[:, :, :, 3] if highway is None else highway
    outputs, finals = [], []
    for direction in range(dirs):
        c = c0[:, direction]
        h = [None] * steps
        order = range(steps) if direction == 0 else reversed(range(steps))
        for t in order:
            x_tilde, f_pre, r_pre = u[:, t, direction, 0], u[:, t, direction, 1], u[:, t, direction, 2]
            f = torch.sigmoid(f_pre + v[0, direction] * c + b[0, direction])
            r = torch.sigmoid(r_pre + v[1, direction] * c + b[1, direction])
            c = f * c + (1 - f) * x_tilde
            g = torch.tanh(c) if use_tanh else c
            h[t] = r * g + (1 - r) * highway[:, t, direction]
        outputs.append(torch.stack(h, dim=1))  # -> (B, T, D)
        finals.append(c)
    return torch.stack(outputs, dim=2), torch.stack(finals, dim=1)


def check_recurrence_inputs(
    u: torch.Tensor, highway: torch.Tensor | None, v: torch.Tensor, b: torch.Tensor, c0: torch.Tensor | None
) -> None:
    """Raise ``ValueError`` unless the inputs have the shapes above and share ``u``'s device.

    The compiled kernels read and write raw memory by these shapes, so a mismatch must stop here:
    unchecked, a 3-component ``u`` without ``highway`` would make them read and write past its end.
    """
    if u.dim() != 5 or u.shape[3] not in (3, 4):
        raise ValueError(f"u must be (B, T, dirs, 3 or 4, D), got {tuple(u.shape)}")
    batch, steps, dirs, components, size = u.shape
    if steps == 0:  # as torch.nn.RNN refuses one: the paths would disagree (an IndexError, or c0 returned)
        raise ValueError(f"u has no time steps, shape {tuple(u.shape)}: the recurrence needs T >= 1")
    if components == 3 and highway is None:
        raise ValueError("u has 3 components [x~, f, r]: pass the highway x' (B, T, dirs, D), or give u a 4th")
    if components == 4 and highway is not None:  # two highways: the kernels would leave u[..., 3]'s gradient unset
        raise ValueError("u has 4 components [x~, f, r, x']: its 4th is the highway, so pass highway=None")
    expected = {"highway": (batch, steps, dirs, size), "v": (2, dirs, size), "b": (2, dirs, size)}
    expected["c0"] = (batch, dirs, size)
    for name, tensor in {"highway": highway, "v": v, "b": b, "c0": c0}.items():
        if tensor is None:
            continue
        if tuple(tensor.shape) != expected[name]:
            got = tuple(tensor.shape)
            raise ValueError(f"{name} must be {expected[name]} for u of shape {tuple(u.shape)}, got {got}")
        if tensor.device != u.device:
            raise ValueError(f"{name} is on {tensor.device} and u on {u.device}: move them to one device")


def refuse_second_derivative() -> None:
    """Raise ``RuntimeError`` in a hand-written backward that autograd runs with ``create_graph=True``.

    The hand-written backwards (compiled, Triton, tensor-op) compute their gradients outside autograd, which
    would take them for constants: a second derivative through them (a gradient penalty, a Hessian-vector
    product) would silently lack the recurrence's share. Autograd enables grad mode in a backward exactly when
    it records one.
    """
    if torch.is_grad_enabled():
        raise RuntimeError(
            "the SRU recurrence's hand-written backward is differentiable once: for a second derivative "
            "(create_graph=True) run sru_recurrence_reference, which autograd differentiates"
        )
