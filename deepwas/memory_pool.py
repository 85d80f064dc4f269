"""The one place window data live in memory: a least-recently-used pool with a byte budget.

Window factors, their torch copies and LD score regression blocks are large (a 1000 Genomes
window at genome density holds ~20 MB of float64 factors; a UK Biobank window ~500 MB), and a
genome has ~2,700 windows, so nothing may keep all of them. Every such object is stored here
under its window's content key (:mod:`deepwas.window_store`), shared by all data sets and
slices; when the total exceeds ``deepwas.get_config()["factor_memory"]`` the least recently
used entries are dropped, to be read back from the disk cache (or recomputed) when needed.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict

from .config import factor_memory_bytes, on_factor_memory_change

__all__ = ["MemoryPool", "POOL", "nbytes"]

log = logging.getLogger(__name__)


def nbytes(obj):
    """Bytes held by numpy arrays / torch tensors inside ``obj`` (one level of attributes)."""
    total = 0
    values = obj.__dict__.values() if hasattr(obj, "__dict__") else (
        [getattr(obj, s) for s in getattr(obj, "__slots__", ())] or [obj])
    if isinstance(obj, (tuple, list)):
        values = obj
    for v in values:
        if hasattr(v, "nbytes") and not callable(v.nbytes):
            total += int(v.nbytes)
        elif hasattr(v, "element_size"):
            total += int(v.element_size() * v.nelement())
    return total


class MemoryPool:
    """Entries ``key -> {part name: object}`` with their bytes, evicted least recently used.

    ``budget`` is read from the configuration at every insertion, so
    ``deepwas.config_context(factor_memory=...)`` takes effect at once. The bytes held never
    exceed it after an insertion (``peak`` records the most held); beyond them, a process
    holds the window being computed or loaded and the one being prefetched. Thread-safe (the
    prefetch thread inserts while training reads).
    """

    def __init__(self):
        self._entries = OrderedDict()    # key -> dict(part -> object)
        self._bytes = OrderedDict()      # key -> bytes of the entry
        self._sizes = {}                 # (key, part) -> bytes counted for it
        self.total = 0
        self.peak = 0
        self.evictions = 0
        self._lock = threading.RLock()

    @staticmethod
    def budget():
        return factor_memory_bytes()

    def get(self, key, part):
        """The stored object or None; a hit makes the entry the most recently used."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or part not in entry:
                return None
            self._entries.move_to_end(key)
            self._bytes.move_to_end(key)
            return entry[part]

    def put(self, key, part, obj, describe=None, size=None):
        """Store ``obj`` as ``part`` of entry ``key``, then evict down to the budget.

        ``describe()`` names the window in the error raised when one entry alone exceeds the
        budget (nothing could then be kept: every step would recompute the window). ``size``
        overrides the bytes counted (e.g. tensors that share the factors' memory add none).
        """
        size = nbytes(obj) if size is None else int(size)
        budget = self.budget()
        with self._lock:
            entry = self._entries.setdefault(key, {})
            old = self._sizes.pop((key, part), 0)
            entry[part] = obj
            self._sizes[(key, part)] = size
            self._bytes[key] = self._bytes.get(key, 0) + size - old
            self.total += size - old
            self._entries.move_to_end(key)
            self._bytes.move_to_end(key)
            if self._bytes[key] > budget:
                self._drop(key)
                what = describe() if describe else f"entry {key[:12]}"
                raise ValueError(
                    f"{what} needs {_fmt(size)} in memory, more than factor_memory="
                    f"{_fmt(budget)}: raise it (deepwas.set_config(factor_memory=...))")
            self._trim(budget)
            self.peak = max(self.peak, self.total)
        return obj

    def trim(self):
        """Evict down to the current budget."""
        with self._lock:
            self._trim(self.budget())

    def _trim(self, budget):
        # the newest entry (last) stays: it is the one being used
        while self.total > budget and len(self._entries) > 1:
            key = next(iter(self._entries))
            self._drop(key)
            self.evictions += 1

    def _drop(self, key):
        for part in self._entries.pop(key, {}):
            self._sizes.pop((key, part), None)
        self.total -= self._bytes.pop(key, 0)

    def discard(self, key, part=None):
        """Forget an entry (or one part of it)."""
        with self._lock:
            if part is None:
                self._drop(key)
                return
            entry = self._entries.get(key)
            if entry and part in entry:
                entry.pop(part)
                size = self._sizes.pop((key, part), 0)
                self._bytes[key] -= size
                self.total -= size

    def clear(self):
        with self._lock:
            self._entries.clear()
            self._bytes.clear()
            self._sizes.clear()
            self.total = 0

    def __len__(self):
        return len(self._entries)


def _fmt(n):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} B"


#: the process-wide pool
POOL = MemoryPool()
# a new factor_memory budget trims the pool at once
on_factor_memory_change(POOL.trim)
