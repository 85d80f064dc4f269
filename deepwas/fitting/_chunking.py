"""Variant chunking: a window's loss and gradient with the prior's graph bounded by a chunk.

The window loss depends on the prior only through ``log f`` on the window's extended set, so

    d loss / d theta = sum over chunks c of  (d loss / d log f_c)^T  d log f_c / d theta.

:func:`chunked_backward` evaluates the prior chunk by chunk without a graph, computes the
loss and ``g = d loss / d log f`` on the whole window (the likelihood couples all variants),
then evaluates each chunk again with a graph and back-propagates ``g[chunk]``. Only one
chunk's activations (and, when the window's features are not held in memory, one chunk's
features) exist at a time; the gradient is that of one pass, up to the order of floating-point
sums. Randomness (dropout) is made identical in both evaluations of a chunk by restoring the
random state each chunk started from; after the step the generator stands where the first pass
left it, as after one evaluation.

:func:`resolve_chunk_size` turns ``chunk_size="auto"`` into a number from a memory budget and
the prior's activation memory per variant, measured once with saved-tensor hooks.
"""
from __future__ import annotations

import torch

__all__ = ["chunked_forward", "chunked_backward", "activation_bytes_per_variant", "rng_state",
           "set_rng_state",
           "resolve_chunk_size", "SharedEvaluation", "AUTO_CHUNK_BYTES",
           "AUTO_CHUNK_DEVICE_FRACTION"]

#: memory budget of one chunk's activations and features with ``chunk_size="auto"`` on CPU
AUTO_CHUNK_BYTES = 1 << 30
#: with ``chunk_size="auto"`` on CUDA: this fraction of the device's free memory at fit start
AUTO_CHUNK_DEVICE_FRACTION = 0.25


def rng_state(device):
    device = torch.device(device)
    cuda = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    return torch.get_rng_state(), cuda


def set_rng_state(state, device):
    cpu, cuda = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, torch.device(device))


def _bounds(n, chunk):
    return [(lo, min(n, lo + chunk)) for lo in range(0, n, chunk)]


def chunked_forward(prior, fetch_chunk, n, chunk):
    """``log f`` of ``n`` variants evaluated ``chunk`` at a time (with the caller's grad mode).

    Parameters
    ----------
    prior : PriorModule or callable
        Called as a prior is, ``prior(func, pred, freq, n=m)`` (a callable: e.g. one part of
        the prior's network).
    fetch_chunk : callable
        ``fetch_chunk(lo, hi) -> (func, pred, freq, m)`` of variants ``lo:hi``.
    n, chunk : int

    Returns
    -------
    Tensor, shape (n,)
    """
    parts = []
    for lo, hi in _bounds(n, chunk):
        func, pred, freq, m = fetch_chunk(lo, hi)
        parts.append(prior(func, pred, freq, n=m))
    return torch.cat(parts) if parts else torch.zeros(0)


def chunked_backward(prior, fetch_chunk, n, chunk, loss_fn, scale=1.0, device="cpu"):
    """Loss of one window and the gradient of ``scale * loss`` added to the prior's ``.grad``.

    Parameters
    ----------
    prior : PriorModule
    fetch_chunk : callable
        ``fetch_chunk(lo, hi) -> (func, pred, freq, m)`` of the window's variants ``lo:hi``.
    n : int
        Variants in the window's extended set.
    chunk : int
        Variants per evaluation of the prior.
    loss_fn : callable
        ``loss_fn(log_f) -> scalar tensor`` on the whole window.
    scale : float
        The gradient accumulated is that of ``scale * loss`` (``1 / accumulate`` in training).
    device : str or torch.device
        Whose random generator dropout draws from (restored per chunk).

    Returns
    -------
    loss : Tensor
        Scalar, detached.
    log_f : Tensor
        Shape (n,), detached.
    """
    bounds = _bounds(n, chunk)
    states, parts = [], []
    with torch.no_grad():
        for lo, hi in bounds:
            states.append(rng_state(device))
            func, pred, freq, m = fetch_chunk(lo, hi)
            parts.append(prior(func, pred, freq, n=m))
    after = rng_state(device)
    log_f = torch.cat(parts).detach().requires_grad_(True)
    loss = loss_fn(log_f)
    (loss * scale).backward()
    upstream = log_f.grad
    for (lo, hi), state in zip(bounds, states):
        set_rng_state(state, device)
        func, pred, freq, m = fetch_chunk(lo, hi)
        out = prior(func, pred, freq, n=m)
        out.backward(upstream[lo:hi].to(out.dtype))
    set_rng_state(after, device)
    return loss.detach(), log_f.detach()


def activation_bytes_per_variant(prior, sizes, device="cpu"):
    """Bytes of the prior's autograd graph per variant, plus its float32 features.

    Measured by the tensors saved for backward (``torch.autograd.graph.saved_tensors_hooks``)
    in forward passes over 2 and 4 variants of zero features: the difference over 2 variants
    leaves out what does not grow with the batch (the parameters the graph keeps).
    """
    d_func, width, d_pred = sizes

    def saved(b):
        total = [0]

        def pack(t):
            total[0] += t.numel() * t.element_size()
            return t

        func = torch.zeros(b, d_func, width, device=device) if d_func else None
        pred = torch.zeros(b, d_pred, device=device) if d_pred else None
        freq = torch.full((b,), 0.3, device=device)
        devices = [device] if torch.device(device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.enable_grad(), \
                torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            prior(func, pred, freq, n=b)
        return total[0]

    graph = max(0.0, (saved(4) - saved(2)) / 2.0)
    features = 4 * (d_func * max(width, 1) + d_pred + 1)
    return graph + features


def resolve_chunk_size(chunk_size, prior, sizes, device="cpu"):
    """The number of variants per prior evaluation, or None for whole windows.

    Parameters
    ----------
    chunk_size : None, int or "auto"
        None: no chunking; an int >= 1: that many variants; "auto": a memory budget divided by
        :func:`activation_bytes_per_variant` (at least 1). The budget is
        :data:`AUTO_CHUNK_BYTES` (1 GiB) on CPU and :data:`AUTO_CHUNK_DEVICE_FRACTION` of the
        free device memory on CUDA.
    prior : PriorModule
    sizes : (d_func, width, d_pred)
    device : str or torch.device

    Returns
    -------
    int or None
    """
    if chunk_size is None:
        return None
    if chunk_size != "auto":
        return int(chunk_size)
    device = torch.device(device)
    budget = AUTO_CHUNK_BYTES
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        budget = int(AUTO_CHUNK_DEVICE_FRACTION * free)
    per = activation_bytes_per_variant(prior, sizes, device)
    return max(1, int(budget // max(per, 1.0)))


class SharedEvaluation:
    """The prior evaluated once on the union of several windows' extended sets.

    With ``window_order="contiguous"`` one optimizer step takes consecutive windows of a
    chromosome, whose extended sets overlap; the prior runs once per distinct variant of the
    step. ``log_f`` is a leaf holding the union's log f: each window's loss is computed on its
    rows of it (``log_f[rows]``) and back-propagated, summing ``d loss / d log f`` over the
    windows into ``log_f.grad``; :meth:`backward` then pushes that sum through the prior once.
    The gradient is that of evaluating each window separately, up to the order of
    floating-point sums (and dropout: here a variant draws one mask per step).

    With ``chunk`` (an int smaller than the union) the union is evaluated in chunks without a
    graph, then again chunk by chunk with a graph in :meth:`backward`, with the random state of
    each chunk replayed (as :func:`chunked_backward`).

    ``evaluations`` counts the variants passed through the prior (a replayed chunk counts
    again).
    """

    def __init__(self, prior, fetch_chunk, n, chunk=None, device="cpu"):
        self.prior, self.fetch_chunk, self.n, self.device = prior, fetch_chunk, n, device
        self.bounds = None if chunk is None or n <= chunk else _bounds(n, chunk)
        self.evaluations = n
        if self.bounds is None:
            func, pred, freq, m = fetch_chunk(0, n)
            self.out = prior(func, pred, freq, n=m)
        else:
            self.states, parts = [], []
            with torch.no_grad():
                for lo, hi in self.bounds:
                    self.states.append(rng_state(device))
                    func, pred, freq, m = fetch_chunk(lo, hi)
                    parts.append(prior(func, pred, freq, n=m))
            self.after = rng_state(device)
            self.out = torch.cat(parts)
        self.log_f = self.out.detach().requires_grad_(True)

    def backward(self):
        """Back-propagate the summed ``log_f.grad`` through the prior (once)."""
        upstream, out, self.out = self.log_f.grad, self.out, None
        if upstream is None or out is None:
            return
        if self.bounds is None:
            out.backward(upstream.to(out.dtype))
            return
        for (lo, hi), state in zip(self.bounds, self.states):
            set_rng_state(state, self.device)
            func, pred, freq, m = self.fetch_chunk(lo, hi)
            part = self.prior(func, pred, freq, n=m)
            part.backward(upstream[lo:hi].to(part.dtype))
            self.evaluations += hi - lo
        set_rng_state(self.after, self.device)
