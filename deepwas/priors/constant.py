"""The constant prior: one number for every variant (before the frequency term)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConstantNet"]


class ConstantNet(nn.Module):
    """Returns its ``intercept`` for every variant; ignores features.

    Parameters
    ----------
    d_func, width, d_pred : int, optional
        Accepted (and ignored) so all networks share one constructor signature.
    """

    def __init__(self, d_func=0, width=0, d_pred=0):
        super().__init__()
        self.intercept = nn.Parameter(torch.zeros(()))

    def forward(self, func=None, pred=None, n=None):
        if n is None:
            n = (func if func is not None else pred).shape[0]
        return self.intercept.expand(int(n))
