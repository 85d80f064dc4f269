"""Window features that carry a residual prior's frozen flexible output (the linear part's refit).

After a residual transformer keeps its flexible part, its linear part is refitted by L-BFGS
on the training and validation windows under the frozen flexible part
(:func:`deepwas.estimators._fitting._train_residual`). Every L-BFGS evaluation passes every
window through the prior; the transformer's forward pass is the same each time and took about
two thirds of the refit's time on the demo. :class:`FrozenFlexibleFetch` computes it once per
extended set and hands it to the prior (:attr:`deepwas.priors.ResidualNet.flexible_output`)
with each window's features.
"""
from __future__ import annotations

import torch

from ..fitting._chunking import chunked_forward

__all__ = ["FrozenFlexibleFetch"]


class FrozenFlexibleFetch:
    """``fetch(k)`` and ``fetch.chunk(k, lo, hi)`` of ``fetch`` that also arm ``prior``'s
    next forward call with the flexible part's output on those rows.

    Parameters
    ----------
    prior : PriorModule
        Whose network is a :class:`~deepwas.priors.ResidualNet` with its flexible part
        frozen, in the dtype and mode (eval: no dropout) of the evaluations to come.
    fetch : WindowFeatures
    ids : array of int
        The windows that will be evaluated.
    units : sequence of int
        Per window, its unit (:attr:`deepwas.SummaryStats.window_units`): the windows of one
        unit share their extended set, whose output is computed and kept once.
    chunk : int or None
        Variants per evaluation of the network while computing.
    """

    def __init__(self, prior, fetch, ids, units, chunk=None):
        self.fetch, self.net, self.units = fetch, prior.network, units

        def flexible(func, pred, freq=None, n=None):    # the prior's signature, its part
            return self.net.flexible(*prior.standardise(func, pred))

        self.out = {}
        with torch.no_grad():
            for k in ids:
                u = int(units[k])
                if u in self.out:
                    continue
                if chunk is not None and fetch.size(k) > chunk:   # as the fit evaluates it
                    self.out[u] = chunked_forward(flexible, lambda lo, hi: fetch.chunk(k, lo, hi),
                                                  fetch.size(k), chunk)
                else:
                    self.out[u] = flexible(*fetch(k))

    def __call__(self, k):
        self.net.flexible_output = self.out[int(self.units[k])]
        return self.fetch(k)

    def chunk(self, k, lo, hi):
        self.net.flexible_output = self.out[int(self.units[k])][lo:hi]
        return self.fetch.chunk(k, lo, hi)

    def size(self, k):
        return self.fetch.size(k)
