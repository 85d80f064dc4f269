"""The skorch module of a fit: window index -> log f of the prior on its extended set."""
from __future__ import annotations

import torch

from ..fitting._chunking import SharedEvaluation, chunked_backward, chunked_forward

__all__ = ["WindowModule"]


class WindowModule(torch.nn.Module):
    """Wraps a :class:`deepwas.priors.PriorModule`: window index -> log f on its extended set.

    ``fetch`` (set during fit, not a submodule, removed afterwards) is a
    :class:`~._features.WindowFeatures`: ``fetch(k)`` gives ``(func, pred, freq, n)`` of
    window ``k``'s extended variants, ``fetch.chunk(k, lo, hi)`` those of variants ``lo:hi``.
    With ``chunk_size`` (an int), windows of more variants are evaluated that many at a time
    (:mod:`deepwas.fitting._chunking`): without a graph here, with bounded graphs in
    :meth:`backward_window`.

    With ``mixed_precision="bf16"`` the prior runs under ``torch.autocast`` in bfloat16 (its
    matrix products and convolutions; the parameters and their gradients stay float32) and
    hands log f to the likelihood in float32 at least: the likelihood never sees bfloat16.
    """

    def __init__(self, prior, chunk_size=None, mixed_precision=None):
        super().__init__()
        self.prior = prior
        self.chunk_size = chunk_size
        self.mixed_precision = mixed_precision
        self.fetch = None
        self.shared = None      # SharedEvaluation of the group being trained (contiguous)
        self._rows = None

    def evaluate(self, func, pred, freq, n=None):
        """The prior's log f (under autocast with ``mixed_precision``)."""
        if self.mixed_precision is None:
            return self.prior(func, pred, freq, n=n)
        device = next(self.prior.parameters()).device
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out = self.prior(func, pred, freq, n=n)
        return out.to(torch.promote_types(out.dtype, torch.float32))

    def begin_group(self, ks, device):
        """Evaluate the prior once on the union of windows ``ks``' extended sets; returns the
        number of variants evaluated."""
        n, self._rows, fetch_chunk = self.fetch.union(ks)
        self.shared = SharedEvaluation(self.evaluate, fetch_chunk, n, self.chunk_size, device)
        return n

    def shared_log_f(self, k):
        """Window ``k``'s log f, a slice of the shared evaluation (gradients reach it)."""
        return self.shared.log_f[self._rows[int(k)]]

    def end_group(self):
        """Back-propagate the group's summed gradient through the prior; returns the variants
        evaluated again (chunks replayed with a graph)."""
        shared, self.shared, self._rows = self.shared, None, None
        before = shared.evaluations
        shared.backward()
        return shared.evaluations - before

    def chunks(self, k):
        """Whether window ``k`` is evaluated in chunks."""
        return self.chunk_size is not None and self.fetch.size(k) > self.chunk_size

    def forward(self, k):
        k = int(k.reshape(-1)[0])
        if self.chunks(k) and not torch.is_grad_enabled():
            return chunked_forward(self.evaluate, lambda lo, hi: self.fetch.chunk(k, lo, hi),
                                   self.fetch.size(k), self.chunk_size)
        func, pred, freq, n = self.fetch(k)
        return self.evaluate(func, pred, freq, n=n)

    def backward_window(self, k, loss_fn, scale, device):
        """:func:`~._chunking.chunked_backward` of window ``k``: ``(loss, log_f)``."""
        return chunked_backward(self.evaluate, lambda lo, hi: self.fetch.chunk(k, lo, hi),
                                self.fetch.size(k), self.chunk_size, loss_fn, scale, device)
