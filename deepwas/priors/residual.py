"""A flexible network on top of a linear one: ``eta = GLM(features) + network(features)``.

The flexible network's output layer starts at zero, so an untrained :class:`ResidualNet` is
exactly its linear part: started from a fitted GLM it is that GLM, and training can only add
to it. :meth:`ResidualNet.linear_only` switches the flexible part off (not evaluated, not
trained) while the linear part is fitted alone (the estimator fits it by L-BFGS first).
"""
from __future__ import annotations

import contextlib

from torch import nn

from .glm import GLMNet

__all__ = ["ResidualNet"]


class ResidualNet(nn.Module):
    """``linear(func, pred) + flexible(func, pred)``, both on the log f scale (exp link).

    Parameters
    ----------
    linear : GLMNet
        The linear part (link "exp"); its ``intercept`` is the network's intercept.
    flexible : nn.Module
        ``flexible(func, pred) -> (n,)`` whose output is 0 at initialisation (the
        :class:`~deepwas.priors.TransformerNet` zeroes its output layer and intercept).
    """

    def __init__(self, linear, flexible):
        super().__init__()
        if not isinstance(linear, GLMNet) or linear.link != "exp":
            raise ValueError("the linear part of a ResidualNet must be a GLMNet with link='exp'")
        # registered first: the linear part's parameters lead the flat parameter vector
        self.linear = linear
        self.flexible = flexible
        self.flexible_on = True
        # the frozen flexible part's output for the rows of the next forward call, computed
        # once by a caller that evaluates the prior many times with it frozen (the linear
        # part's refit): used in place of evaluating the flexible part, then cleared
        self.flexible_output = None

    @property
    def intercept(self):
        """The linear part's intercept (:meth:`PriorModule.set_intercept` sets the scale)."""
        return self.linear.intercept

    @contextlib.contextmanager
    def linear_only(self):
        """Inside the block the flexible part is neither evaluated nor trainable."""
        grads = [p.requires_grad for p in self.flexible.parameters()]
        self.flexible_on = False
        for p in self.flexible.parameters():
            p.requires_grad_(False)
        try:
            yield self
        finally:
            self.flexible_on = True
            for p, g in zip(self.flexible.parameters(), grads):
                p.requires_grad_(g)

    @contextlib.contextmanager
    def linear_trainable(self):
        """Inside the block the linear part is trainable and the flexible part evaluated but
        frozen (the linear part refitted under a trained flexible part)."""
        flex = [p.requires_grad for p in self.flexible.parameters()]
        lin = [p.requires_grad for p in self.linear.parameters()]
        for p in self.flexible.parameters():
            p.requires_grad_(False)
        for p in self.linear.parameters():
            p.requires_grad_(True)
        try:
            yield self
        finally:
            for p, g in zip(self.flexible.parameters(), flex):
                p.requires_grad_(g)
            for p, g in zip(self.linear.parameters(), lin):
                p.requires_grad_(g)

    def freeze_linear(self):
        """Stop training the linear part (the flexible part learns what it misses)."""
        for p in self.linear.parameters():
            p.requires_grad_(False)

    def forward(self, func=None, pred=None, n=None):
        out = self.linear(func, pred, n=n)
        if self.flexible_on:
            # (getattr: a ResidualNet pickled before the attribute existed has none)
            given, self.flexible_output = getattr(self, "flexible_output", None), None
            if given is None:
                out = out + self.flexible(func, pred)
            elif given.shape != out.shape:
                raise RuntimeError(f"the flexible part's output given for {given.shape[0]} rows"
                                   f" in a forward call on {out.shape[0]}")
            else:
                out = out + given.to(out.dtype)
        return out
