"""The mean of several flexible networks: a residual transformer's ensemble of members.

:class:`MemberMean` holds ``k`` networks of one architecture, each initialised from its own
draw of the random generator, and outputs ``sum_j w_j net_j(func, pred) / k`` with
``w_j`` 1 for a member that is kept and 0 for one that is dropped. The estimator trains the
members one at a time (:meth:`MemberMean.only`), each from its own start and with its own
early stopping, and drops a member whose validation gain is below the keep margin: a dropped
member still counts in ``k``, so one kept member of three enters at a third of its size.
Averaging members trained from different starts cancels part of what each learned from the
noise of its training windows.
"""
from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["MemberMean"]


class MemberMean(nn.Module):
    """``sum_j w_j members[j](func, pred) / k`` (module docstring).

    Parameters
    ----------
    members : sequence of nn.Module
        ``k >= 2`` networks ``net(func, pred) -> (n,)``.
    """

    def __init__(self, members):
        super().__init__()
        members = list(members)
        if len(members) < 2:
            raise ValueError(f"MemberMean needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)
        # saved with the weights: which members the fit kept (1) or dropped (0)
        self.register_buffer("kept", torch.ones(len(members)))
        self.active = None

    def __len__(self):
        return len(self.members)

    @contextlib.contextmanager
    def only(self, j):
        """Inside the block the output is member ``j``'s alone (unscaled), and only its
        parameters are trainable."""
        grads = [[p.requires_grad for p in m.parameters()] for m in self.members]
        self.active = int(j)
        for i, m in enumerate(self.members):
            if i != j:
                for p in m.parameters():
                    p.requires_grad_(False)
        try:
            yield self
        finally:
            self.active = None
            for m, g in zip(self.members, grads):
                for p, was in zip(m.parameters(), g):
                    p.requires_grad_(was)

    def drop(self, j):
        """Leave member ``j`` out of the mean (it still counts in ``k``)."""
        self.kept[j] = 0.0

    def forward(self, func=None, pred=None, n=None):
        if self.active is not None:
            return self.members[self.active](func, pred)
        out = None
        for w, m in zip(self.kept.tolist(), self.members):
            if w:           # a dropped member is not evaluated
                y = m(func, pred) * w
                out = y if out is None else out + y
        if out is None:     # every member dropped: the linear part alone
            x = func if func is not None else pred
            return x.new_zeros(x.shape[0])
        return out / len(self.members)
