"""Which process trains which window (a fit under torchrun, :mod:`deepwas.distributed`).

Every process draws the same window order and so forms the same optimizer steps as a fit in
one process; the windows of each step are divided among the processes by their cost, each
process back-propagates its windows' losses, and the gradient is summed over the processes
before the step (:class:`StepReducer`). A process given no window of a step still joins its
sum, with zeros, so a world larger than a step never waits forever.

A window's cost is that of its exact likelihood and of the prior on its extended set:
``2 m r^2 + r^3 / 3`` flops for the likelihood (``m`` extended variants, ``r`` = the rank of
its LD: the core size, at most the panel size) plus ``m`` times the prior's flops per variant
(forward and backward, counted once by torch's flop counter).
"""
from __future__ import annotations

import heapq

import numpy as np
import torch

__all__ = ["window_costs", "prior_flops_per_variant", "balance", "split_run", "Sharding",
           "StepReducer"]


def prior_flops_per_variant(prior, sizes, device="cpu"):
    """Flops of one forward and backward pass of ``prior`` per variant (torch's counter over 4
    variants of zero features); ``6 x`` its parameter count where the counter fails."""
    from torch.utils.flop_counter import FlopCounterMode

    d_func, width, d_pred = sizes
    b = 4
    func = torch.zeros(b, d_func, width, device=device) if d_func else None
    pred = torch.zeros(b, d_pred, device=device) if d_pred else None
    freq = torch.full((b,), 0.3, device=device)
    devices = [device] if torch.device(device).type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.enable_grad(), \
                FlopCounterMode(display=False) as counter:
            prior(func, pred, freq, n=b).sum().backward()
        prior.zero_grad(set_to_none=True)
        return counter.get_total_flops() / b
    except Exception:           # noqa: BLE001 - a custom module the counter cannot trace
        prior.zero_grad(set_to_none=True)
        return 6.0 * sum(p.numel() for p in prior.parameters())


def window_costs(stats, ids, prior_flops=0.0):
    """Estimated flops of one training evaluation of each window in ``ids``."""
    panel = getattr(stats.ld, "panel_size", None)
    wins = stats.windows
    out = np.empty(len(ids))
    for j, k in enumerate(ids):
        core, ext = wins[int(k)]
        m = float(len(ext))
        r = float(len(core) if panel is None else min(len(core), panel))
        out[j] = 2.0 * m * r * r + r ** 3 / 3.0 + prior_flops * m
    return out


def balance(costs, world_size):
    """Owner rank of each item: the largest first, each to the least loaded rank (ties: the
    lower rank, so every process computes the same assignment)."""
    costs = np.asarray(costs, dtype=float)
    owner = np.zeros(len(costs), dtype=np.int64)
    heap = [(0.0, r) for r in range(world_size)]
    for j in sorted(range(len(costs)), key=lambda j: (-costs[j], j)):
        load, r = heapq.heappop(heap)
        owner[j] = r
        heapq.heappush(heap, (load + costs[j], r))
    return owner


def split_run(costs, world_size):
    """Owner rank of each item of an ordered run, in at most ``world_size`` consecutive
    pieces of least maximal cost (consecutive windows share variants: a process evaluates the
    prior once on its piece's union)."""
    costs = np.asarray(costs, dtype=float)
    n = len(costs)
    parts = min(world_size, n)
    if parts <= 1:
        return np.zeros(n, dtype=np.int64)
    prefix = np.concatenate([[0.0], np.cumsum(costs)])
    # best[p][i]: least maximal cost of cutting the first i items into p pieces
    best = np.full((parts + 1, n + 1), np.inf)
    cut = np.zeros((parts + 1, n + 1), dtype=np.int64)
    best[0][0] = 0.0
    for p in range(1, parts + 1):
        for i in range(1, n + 1):
            for j in range(p - 1, i):
                v = max(best[p - 1][j], prefix[i] - prefix[j])
                if v < best[p][i]:
                    best[p][i], cut[p][i] = v, j
    owner = np.zeros(n, dtype=np.int64)
    i = n
    for p in range(parts, 0, -1):
        j = cut[p][i]
        owner[j:i] = p - 1
        i = j
    return owner


class Sharding:
    """The owners of the windows of each optimizer step.

    Parameters
    ----------
    group : ProcessGroup
    costs : dict
        Window index -> cost (:func:`window_costs`).
    contiguous : bool
        Steps are runs of consecutive windows (``window_order="contiguous"``): each process
        gets one consecutive piece (:func:`split_run`); otherwise :func:`balance`.
    """

    def __init__(self, group, costs, contiguous=False):
        self.group, self.costs, self.contiguous = group, dict(costs), contiguous

    @property
    def rank(self):
        return self.group.rank

    def assign(self, steps):
        """``{window: rank}`` over ``steps`` (lists of window indices)."""
        split = split_run if self.contiguous else balance
        owner = {}
        for step in steps:
            ranks = split([self.costs[int(k)] for k in step], self.group.world_size)
            owner.update({int(k): int(r) for k, r in zip(step, ranks)})
        return owner


class StepReducer:
    """The gradient of one optimizer step, summed over its windows and the processes.

    Each window's gradient is moved into a float64 sum as soon as it is computed
    (:meth:`add`), so that the step's gradient does not depend on the order of the sum nor on
    how the windows were divided among processes: one process and several give the same
    float32 gradient (the sum of a few float32 numbers is exact in float64). :meth:`finish`
    sums the processes' partial sums (one all-reduce) with per-window numbers of the step
    (losses, prior evaluations: each reported by its window's process, zero elsewhere) and
    puts the result in the parameters' ``.grad``. A parameter that received no gradient
    anywhere keeps ``grad = None``, as in one process (AdamW then leaves it alone).
    """

    def __init__(self, group):
        self.group = group
        self._sum = None

    def add(self, params):
        """Move the parameters' ``.grad`` into the step's float64 sum."""
        params = list(params)
        if self._sum is None:
            self._sum = [None] * len(params)
        for i, p in enumerate(params):
            if p.grad is not None:
                g = p.grad.detach().double()
                self._sum[i] = g if self._sum[i] is None else self._sum[i].add_(g)
                p.grad = None

    def finish(self, params, values=()):
        """Set the step's summed gradient on ``params``; returns the summed ``values``."""
        params = list(params)
        sums, self._sum = self._sum or [None] * len(params), None
        if self.group.distributed and params:
            device = params[0].device
            flat = torch.cat([s.reshape(-1) if s is not None else
                              torch.zeros(p.numel(), dtype=torch.float64, device=device)
                              for p, s in zip(params, sums)]
                             + [torch.tensor([s is not None for s in sums],
                                             dtype=torch.float64, device=device)])
            self.group.all_reduce_sum(flat)
            i, n = 0, len(params)
            flags = flat[-n:].tolist()
            sums = []
            for p, seen in zip(params, flags):
                sums.append(flat[i:i + p.numel()].reshape(p.shape) if seen else None)
                i += p.numel()
        for p, s in zip(params, sums):
            p.grad = None if s is None else s.to(p.dtype).reshape(p.shape)
        return self.sum_values(values)

    def sum_values(self, values):
        """``values`` (numbers) summed over the processes, in float64."""
        values = np.asarray(values, dtype=float)
        if self.group.distributed and values.size:
            values = self.group.all_reduce_sum(torch.as_tensor(values)).numpy()
        return values
