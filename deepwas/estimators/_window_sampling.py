"""Which windows train and in what order: one window = one item, the shuffled and the
contiguous (``window_order``) samplers that prefetch the next window's factors, and the split
of training windows into fit and validation chromosomes."""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
import torch

from ..fitting._chunking import set_rng_state
from ..utils.chrom import normalise_chrom, sort_chroms

__all__ = ["WindowDataset", "PrefetchingSampler", "ContiguousSampler", "contiguous_groups",
           "WINDOW_ORDERS", "collate_window", "validation_split"]

#: values of ``window_order``
WINDOW_ORDERS = ("shuffled", "contiguous")


class WindowDataset(torch.utils.data.Dataset):
    """Items are window indices (into the training SummaryStats); X and y are both the index."""

    def __init__(self, ids):
        self.ids = np.asarray(ids, dtype=np.int64)

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        k = int(self.ids[i])
        return k, k


class PrefetchingSampler(torch.utils.data.Sampler):
    """A shuffled order of window positions that starts loading the next window's factors
    when it hands out the current one.

    The order is ``torch.randperm(n, generator=generator)``, as torch's ``RandomSampler``
    draws it, so a seeded run repeats exactly. ``epoch_state`` is the generator's state
    before the current epoch's order was drawn; :meth:`resume` makes the next epoch draw the
    order from a saved state, skip the windows already done and set torch's generators.
    """

    def __init__(self, ids, generator, prefetch, device="cpu", accumulate=1, sharding=None):
        self.ids, self.generator, self.prefetch = np.asarray(ids), generator, prefetch
        self.device, self.epoch_state, self._resume = device, None, None
        self.accumulate, self.sharding, self._owner = int(accumulate), sharding, {}

    def owner(self, k):
        """Rank of the process that trains window ``k`` in the current epoch (0 in a fit of
        one process)."""
        return self._owner.get(int(k), 0)

    def __len__(self):
        return len(self.ids)

    def resume(self, order_state, skip, rng):
        """Next epoch: order from ``order_state``, first ``skip`` windows left out, torch's
        generators set to ``rng`` (``(cpu, cuda or None)``) before the first window."""
        self._resume = (order_state, skip, rng)

    def __iter__(self):
        start, pending, self._resume = 0, self._resume, None
        if pending is not None:
            self.generator.set_state(pending[0])
        self.epoch_state = self.generator.get_state()
        order = self._order()
        if pending is not None:
            set_rng_state(pending[2], self.device)
            start = pending[1]
        windows = [int(self.ids[j]) for j in order]
        mine = list(range(len(order)))
        if self.sharding is not None:
            self._owner = self.sharding.assign(self._steps(windows))
            mine = [j for j, k in enumerate(windows) if self._owner[k] == self.sharding.rank]
        nxt = iter(mine)
        upcoming, fetched = next(nxt, None), None
        for j in range(start, len(order)):
            while upcoming is not None and upcoming <= j:
                upcoming = next(nxt, None)
            if upcoming is not None and upcoming != fetched:   # the next one this process trains
                self.prefetch(windows[upcoming])
                fetched = upcoming
            yield order[j]

    def _order(self):
        return torch.randperm(len(self.ids), generator=self.generator).tolist()

    def _steps(self, windows):
        """The windows of each optimizer step of an epoch in this order."""
        return [windows[i:i + self.accumulate] for i in range(0, len(windows), self.accumulate)]


def contiguous_groups(ids, chroms, accumulate):
    """Positions (into ``ids``) of consecutive windows, ``accumulate`` at a time per label
    (``chroms``: the windows' chromosomes, or their units for thinned cores).

    Windows keep their order in ``ids`` within a label (a SummaryStats lists them along the
    genome); the last group of a label may be smaller.
    """
    chroms = np.asarray(chroms)
    groups = []
    for c in pd.unique(chroms):
        pos = np.flatnonzero(chroms == c)
        groups += [pos[i:i + accumulate].tolist() for i in range(0, len(pos), accumulate)]
    return groups


class ContiguousSampler(PrefetchingSampler):
    """:class:`PrefetchingSampler` over groups of consecutive windows (``window_order=
    "contiguous"``): the order of the groups is ``torch.randperm(n_groups, generator=...)``,
    each group's windows are handed out in genomic order. ``group_of[k]`` is the tuple of
    window indices of the group window ``k`` belongs to (one optimizer step)."""

    def __init__(self, ids, groups, generator, prefetch, device="cpu", sharding=None):
        super().__init__(ids, generator, prefetch, device, sharding=sharding)
        self.groups = [list(g) for g in groups]
        self.group_of = {}
        for g in self.groups:
            members = tuple(int(self.ids[j]) for j in g)
            for k in members:
                self.group_of[k] = members

    def _order(self):
        perm = torch.randperm(len(self.groups), generator=self.generator).tolist()
        return [j for i in perm for j in self.groups[i]]

    def _steps(self, windows):
        steps, i = [], 0
        while i < len(windows):
            group = self.group_of[windows[i]]
            steps.append(list(group))
            i += len(group)
        return steps


def collate_window(batch):
    """One window per batch: returns the index as a shape-(1,) tensor (X) twice (X, y)."""
    if len(batch) != 1:
        raise ValueError("windows are processed one per batch (batch_size=1)")
    t = torch.tensor([batch[0][0]], dtype=torch.int64)
    return t, t


def validation_split(groups, validation, rs):
    """Chromosomes held out for validation (sorted list of str).

    ``validation``: None (none); a fraction in (0, 1) of the chromosomes, drawn with ``rs``
    (at least one each side); one chromosome label (a str is one label, never a sequence of
    characters); or a list of labels. Labels are compared after :func:`normalise_chrom`.
    """
    groups = normalise_chrom(np.asarray(groups).astype(str))
    chroms = list(pd.unique(groups))
    if validation is None:
        return []
    if isinstance(validation, numbers.Real) and not isinstance(validation, numbers.Integral):
        if len(chroms) < 2:
            raise ValueError("a validation split by chromosome needs at least 2 chromosomes")
        n_val = min(len(chroms) - 1, max(1, int(round(validation * len(chroms)))))
        return sort_chroms(rs.choice(chroms, size=n_val, replace=False).tolist())
    labels = [validation] if isinstance(validation, (str, int, np.integer)) else list(validation)
    chosen = sort_chroms(labels)
    missing = set(chosen) - set(chroms)
    if missing:
        raise ValueError(f"validation chromosomes {sort_chroms(missing)} are not in the data "
                         f"(chromosomes: {', '.join(sort_chroms(chroms))})")
    if set(chosen) >= set(chroms):
        raise ValueError("validation would leave no training chromosome")
    return chosen
