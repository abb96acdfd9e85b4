"""Losses: each says how many parameters P per forecast value it needs, and how to read a point forecast."""

import torch
from torch import nn

__all__ = ["Loss", "MSELoss", "MAELoss"]


class Loss(nn.Module):
    """The contract every loss keeps; ``num_params`` sizes the head.

    Shapes:
        params: (B, H, C, P), target: (B, H, C) -> scalar; point(params) -> (B, H, C)
    """

    num_params: int

    def forward(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def point(self, params: torch.Tensor) -> torch.Tensor:
        """The point forecast, (B, H, C)."""
        raise NotImplementedError

    def rescale(self, params: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """The parameters of the same forecast after ``value * scale + loc``; loc, scale: (B, 1, C)."""
        raise NotImplementedError


class _PointLoss(Loss):
    """A loss on one value per forecast step: the head's output is the forecast itself."""

    num_params = 1

    def point(self, params: torch.Tensor) -> torch.Tensor:
        return params[..., 0]

    def rescale(self, params: torch.Tensor, loc: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        return params * scale[..., None] + loc[..., None]


class MSELoss(_PointLoss):
    """Mean squared error of a point forecast; its optimum is the conditional mean."""

    def forward(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.mse_loss(self.point(params), target)


class MAELoss(_PointLoss):
    """Mean absolute error of a point forecast; its optimum is the conditional median."""

    def forward(self, params: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return nn.functional.l1_loss(self.point(params), target)
