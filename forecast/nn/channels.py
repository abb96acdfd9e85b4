"""Channel independence (PatchTST, SegRNN): each target channel of a window as its own series through shared
weights, with the window's covariates alongside, and the forecasts of those series back as the window's channels.
"""

import torch

__all__ = ["merge_channels", "split_channels"]


def split_channels(
    past: torch.Tensor,
    future: torch.Tensor,
    static: torch.Tensor,
    target: torch.Tensor | None,
    channels: int,
    channel_embedding: torch.nn.Embedding | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Each of the ``channels`` target channels (the first of ``past``) as its own series, row ``b * C_out + c``,
    with the window's covariates and, given ``channel_embedding`` (a row per channel), its channel's embedding
    after the static features.

    Shapes:
        past: (B, L, C_in), future: (B, H, C_fut), static: (B, S), target: (B, H, C_out)
        -> (B * C_out, L, 1 + C_in - C_out), (B * C_out, H, C_fut), (B * C_out, S + embedding), (B * C_out, H, 1)
    """
    batch, lookback, _ = past.shape
    targets = past[..., :channels].transpose(1, 2).reshape(batch * channels, lookback, 1)  # -> (B * C_out, L, 1)
    covariates = past[..., channels:].repeat_interleave(channels, dim=0)  # -> (B * C_out, L, C_in - C_out)
    static = static.repeat_interleave(channels, dim=0)  # -> (B * C_out, S)
    if channel_embedding is not None:
        static = torch.cat([static, channel_embedding.weight.repeat(batch, 1)], dim=-1)
    if target is not None:
        target = target.transpose(1, 2).reshape(-1, future.shape[1], 1)  # -> (B * C_out, H, 1)
    future = future.repeat_interleave(channels, dim=0)  # -> (B * C_out, H, C_fut)
    return torch.cat([targets, covariates], dim=-1), future, static, target


def merge_channels(params: torch.Tensor, channels: int) -> torch.Tensor:
    """The loss parameters of each window's ``channels`` series as the window's channels.

    Shapes:
        params: (B * C_out, H, 1, P) -> (B, H, C_out, P)
    """
    _, horizon, _, num_params = params.shape
    params = params.view(-1, channels, horizon, num_params)  # -> (B, C_out, H, P)
    return params.transpose(1, 2).contiguous()  # -> (B, H, C_out, P)
