"""Where a data set's window factors and their torch copies are looked up.

Every lookup goes through a *content key*: a hash of everything a window's factors depend on
(the LD it reads, its core beta-hats, the precompute settings, the format version). The key
of a window is computed once per data set and remembered by the window's position in that
data set, which never changes; factors and tensors are then found by key, never by the
identity of a Python object (``id()`` values are reused after an object is freed, so a cache
keyed by them can hand one window another window's factors).
"""
from __future__ import annotations

import dataclasses
import logging
import threading

import numpy as np

from .config import get_config
from .memory_pool import POOL
from .precision_windows import PrecisionFactors, PrecisionWindow, precision_factors
from .windows import FactorCache

log = logging.getLogger(__name__)

__all__ = ["WindowStore", "WindowTensors", "flush_tiny"]


#: the pool part of a precision window's solver (:class:`PrecisionWindow`): one for every
#: device and dtype, as it is computed in float64 on the CPU
_PRECISION = ("tensors", "precision")


class WindowTensors:
    """A window's factors as torch tensors (``G``, ``y``, and ``d`` for the mismatch model)
    plus its scalars."""

    __slots__ = ("G", "y", "d", "q", "logdet_R", "rank", "n_core")

    def __init__(self, G, y, q, logdet_R, rank, n_core, d=None):
        self.G, self.y, self.q, self.logdet_R, self.rank, self.n_core = (G, y, q, logdet_R, rank,
                                                                         n_core)
        self.d = d


def flush_tiny(G, dtype):
    """Zero the entries of G below 1e-12 of its largest for dtypes narrower than float64.

    Far-apart variants can have correlations of 1e-20 and less (exponentially decaying LD);
    in float32 their products fall into the subnormal range, where CPU arithmetic is ~10x
    slower (measured: G^T F G at m = 3,000, r = 1,000 took 0.70 s in float32 against 0.08 s in
    float64). Entries this small change no sum by more than 1e-12 relative, far below float32's
    resolution.
    """
    import torch

    if dtype == torch.float64 or G.size == 0:
        return G
    cut = 1e-12 * float(np.abs(G).max())
    return np.where(np.abs(G) < cut, 0.0, G)


class WindowStore:
    """The factors (numpy) and tensors (torch) of a data set's windows, looked up by content.

    Memory is the process-wide :data:`deepwas.memory_pool.POOL` (bounded by
    ``factor_memory``); disk is the data set's :class:`~deepwas.windows.FactorCache`.

    Parameters
    ----------
    ld : LDSource
        LD of the data set's variants.
    windows : list of (ndarray, ndarray)
        Global (core, extended) index arrays of every window.
    beta_hat : ndarray
        Marginal effects of the data set's variants.
    ld_model : LDModel
        How the eigenbasis becomes factors (:mod:`deepwas.ld_model`).
    freq : ndarray
        Allele frequencies of the variants (NaN where unknown), for the mismatch diagnostic's
        weights ``(p(1-p))^0.7``.
    cache_dir : path or None
        Disk cache of the factors (default: ``deepwas.get_config()["cache_dir"]``).
    """

    def __init__(self, ld, windows, beta_hat, ld_model, freq, cache_dir=None):
        self.ld, self.windows, self.beta_hat, self.ld_model = ld, windows, beta_hat, ld_model
        p = np.clip(np.where(np.isfinite(freq), freq, 0.5), 1e-4, 1 - 1e-4)
        self.weights = (p * (1 - p)) ** 0.7
        self.cache = FactorCache(cache_dir if cache_dir is not None
                                 else get_config()["cache_dir"])
        self.storage = get_config()["factor_storage"]
        self._keys = {}       # window -> content key (fixed for the data set)
        self._pending = {}    # content key -> Future of a prefetch
        # LD sources keep small unsynchronised caches (open files, recent blocks): the
        # prefetch thread and this one read the LD one at a time
        self._ld_lock = threading.RLock()
        self._warned_recompute = False
        # content keys of the windows this store computed: a second computation of one is a
        # recompute (a global count of evictions would also flag a new data set's first
        # pass, as each pseudo-panel of the panel correction is: 46 warnings in a study)
        self._computed = set()

    def __getstate__(self):
        # prefetches belong to this process; the content keys travel (a precompute worker
        # holding a subset of the LD must store its factors under the data set's keys)
        state = dict(self.__dict__)
        state["_pending"] = {}
        state.pop("_ld_lock", None)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._ld_lock = threading.RLock()

    def key(self, w):
        """Content key of window ``w``: the LD it reads, its core beta-hats, the settings."""
        k = self._keys.get(w)
        if k is None:
            core, ext = self.windows[w]
            with self._ld_lock:
                ld_key = self.ld.window_key(core, ext)
            parts = [ld_key, self.beta_hat[core].tobytes(),
                     self.weights[ext].tobytes(), self.ld_model.key()]
            if self.storage != "float64":       # float64 keys as before: caches stay valid
                parts.append(self.storage)
            if self._precision_rows(w) is not None:
                parts.append("sparse-precision-v1")
            k = self._keys[w] = FactorCache.make_key(*parts)
        return k

    def describe(self, w):
        core, ext = self.windows[w]
        pos = self.ld.variants["pos"].to_numpy()
        chrom = self.ld.variants["chrom"].iat[int(core[0])]
        return (f"window {chrom}:{pos[core].min()}-{pos[core].max()} ({len(core)} core, "
                f"{len(ext)} extended variants)")

    def _precision_rows(self, w):
        """``(b, W)`` when window ``w`` takes the sparse precision path: the LD source gives
        its LD as a precision block and the LD model is the exact one ("none")."""
        if self.ld_model.regularisation != "none":
            return None
        core, ext = self.windows[w]
        return self.ld.precision_rows(core, ext)

    def compute(self, w):
        """The factors of window ``w``, computed from the LD (no cache involved)."""
        core, ext = self.windows[w]
        rows = self._precision_rows(w)
        if rows is not None:
            with self._ld_lock:
                P = self.ld.precision(rows[0])
            return precision_factors(P, rows[1], self.beta_hat[core], len(core))
        with self._ld_lock:
            U_r, lam_r, G = self.ld.eigenbasis(core, ext, self.ld_model.eig_rtol)
        wf = self.ld_model.factors(U_r, lam_r, G, self.beta_hat[core], len(core),
                                   self.weights[ext])
        if self.storage == "float32":
            # only G is large; y, d and the scalars stay float64 (q and log det exactly)
            wf = dataclasses.replace(wf, G=wf.G.astype(np.float32))
        return wf

    def _load_or_compute(self, w, key):
        wf = self.cache.load(key)
        if wf is not None:
            self.cache.hits["disk"] += 1
            return wf
        if key in self._computed and not self._warned_recompute:
            with self._ld_lock:     # the prefetch thread computes too: say it once, not twice
                if not self._warned_recompute:
                    self._note_recompute(w)
        wf = self.compute(w)
        self.cache.hits["computed"] += 1
        self._computed.add(key)
        self.cache.save(key, wf)
        return wf

    def _note_recompute(self, w):
        """Say once that factors dropped from memory are being recomputed, and what helps.

        A disk cache helps dense windows (an eigendecomposition each); precision windows are
        never written to it (``PrecisionFactors.cacheable``: a sparse factorisation rebuilds
        one in a fraction of a second), so for them only a larger ``factor_memory`` would
        keep them, and recomputing is not worth a warning.
        """
        if self._precision_rows(w) is not None:
            log.info("sparse precision window factors not in memory (dropped under "
                     "factor_memory) are rebuilt from the LD files (one sparse factorisation "
                     "each, a fraction of a second; they are never written to the disk cache)")
        elif not self.cache.cache_dir:
            log.warning("window factors dropped from memory (factor_memory) are recomputed: "
                        "give the data a cache_dir (or deepwas.set_config(cache_dir=...)) to "
                        "read them back from disk instead")
        else:
            return      # read back from the cache: nothing to say
        self._warned_recompute = True

    def factors(self, w):
        """:class:`~deepwas.windows.WindowFactors` of window ``w`` (from memory, disk, or
        computed)."""
        key = self.key(w)
        wf = POOL.get(key, "factors")
        if wf is not None:
            self.cache.hits["memory"] += 1
            return wf
        pending = self._pending.pop(key, None)
        wf = pending.result() if pending is not None else None
        if wf is None:
            wf = self._load_or_compute(w, key)
        return POOL.put(key, "factors", wf, describe=lambda: self.describe(w))

    def in_memory(self, w):
        """Whether the pool holds what window ``w``'s likelihood needs: its factors, or a
        precision window's solver (which replaces them, :meth:`tensors`)."""
        key = self.key(w)
        return POOL.get(key, "factors") is not None or POOL.get(key, _PRECISION) is not None

    def prefetch(self, w):
        """Start loading window ``w``'s factors in a background thread (no-op when in memory)."""
        key = self.key(w)
        if self.in_memory(w) or key in self._pending:
            return
        self._pending[key] = _prefetcher().submit(self._load_or_compute, w, key)

    def tensors(self, w, device, dtype):
        """:class:`WindowTensors` of window ``w`` on ``device`` in ``dtype``."""
        import torch

        key, part = self.key(w), ("tensors", str(device), str(dtype))
        hit = POOL.get(key, part)
        if hit is None:
            hit = POOL.get(key, _PRECISION)
        if hit is None:
            wf = self.factors(w)
            if isinstance(wf, PrecisionFactors):
                # computed in float64 on the CPU whatever the caller's dtype: one entry
                hit = PrecisionWindow(wf)
                POOL.put(key, _PRECISION, hit, describe=lambda: self.describe(w),
                         size=hit.nbytes)
                # the solver holds all the likelihood needs (its own copy of P's upper
                # triangle): the factors' full P is a second copy, rebuilt from the LD files
                # in a fraction of a second if asked for again
                POOL.discard(key, "factors")
                return hit
            as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
            hit = WindowTensors(as_t(flush_tiny(wf.G, dtype)), as_t(wf.y), wf.q, wf.logdet_R,
                                wf.rank, wf.n_core, d=None if wf.d is None else as_t(wf.d))
            # on the CPU in the factors' dtype the tensors are views of the numpy arrays
            own = [t for t, a in ((hit.G, wf.G), (hit.y, wf.y), (hit.d, wf.d)) if t is not None
                   and not (t.device.type == "cpu" and np.shares_memory(t.numpy(), a))]
            POOL.put(key, part, hit, describe=lambda: self.describe(w),
                     size=sum(t.element_size() * t.nelement() for t in own))
        return hit

    def clear_memory(self):
        """Forget this data set's windows held in memory (disk entries stay)."""
        for key in self._keys.values():
            POOL.discard(key)


_PREFETCH = []


def _prefetcher():
    """The single background thread that loads the next window while this one trains."""
    from concurrent.futures import ThreadPoolExecutor

    if not _PREFETCH:
        _PREFETCH.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="deepwas-prefetch"))
    return _PREFETCH[0]
