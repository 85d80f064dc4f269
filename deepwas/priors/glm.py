"""The generalised linear prior of the paper (App. A.2)."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["GLMNet"]


class GLMNet(nn.Module):
    """``log f = intercept + w_func @ mean_positions(C_func) + w_pred @ C_pred``.

    Each track is averaged over the ``avg_width`` positions at the centre of the window
    (all ``width`` positions by default), giving one value per track; the average and the
    scalar predictors enter linearly. Weights start at zero, so an untrained GLM is the
    constant prior.

    Parameters
    ----------
    d_func, width, d_pred : int
        Feature sizes (0 when absent).
    avg_width : int, optional
        Number of central positions averaged (default: all).
    """

    def __init__(self, d_func=0, width=0, d_pred=0, avg_width=None):
        super().__init__()
        self.d_func, self.width, self.d_pred = int(d_func), int(width), int(d_pred)
        self.avg_width = None if avg_width is None else int(avg_width)
        self.func_weight = nn.Parameter(torch.zeros(self.d_func))
        self.pred_weight = nn.Parameter(torch.zeros(self.d_pred))
        self.intercept = nn.Parameter(torch.zeros(()))

    def track_means(self, func):
        w = func.shape[-1]
        if self.avg_width is not None and self.avg_width < w:
            start = (w - self.avg_width) // 2
            func = func[..., start:start + self.avg_width]
        return func.mean(-1)

    def forward(self, func=None, pred=None, n=None):
        out = None
        if self.d_func and func is not None:
            out = self.track_means(func) @ self.func_weight
        if self.d_pred and pred is not None:
            t = pred @ self.pred_weight
            out = t if out is None else out + t
        if out is None:
            if n is None:
                raise ValueError("GLMNet got no features and no n")
            return self.intercept.expand(int(n))
        return out + self.intercept
