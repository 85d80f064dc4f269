"""Where a data set's window factors and their torch copies are looked up.

Every lookup goes through a *content key*: a hash of everything a window's factors depend on
(the LD it reads, its core beta-hats, the precompute settings, the format version). The key
of a window is computed once per data set and remembered by the window's position in that
data set, which never changes; factors and tensors are then found by key, never by the
identity of a Python object (``id()`` values are reused after an object is freed, so a cache
keyed by them can hand one window another window's factors).
"""
from __future__ import annotations

import numpy as np

from .windows import FactorCache

__all__ = ["WindowStore", "WindowTensors", "flush_tiny"]


class WindowTensors:
    """A window's factors as torch tensors (``G``, ``y``, and ``d`` for the mismatch model)
    plus its scalars."""

    __slots__ = ("G", "y", "d", "q", "logdet_R", "rank", "n_core")

    def __init__(self, G, y, q, logdet_R, rank, n_core, d=None):
        self.G, self.y, self.q, self.logdet_R, self.rank, self.n_core = G, y, q, logdet_R, rank, n_core
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
        Disk cache of the factors (:class:`~deepwas.windows.FactorCache`).
    """

    def __init__(self, ld, windows, beta_hat, ld_model, freq, cache_dir=None):
        self.ld, self.windows, self.beta_hat, self.ld_model = ld, windows, beta_hat, ld_model
        p = np.clip(np.where(np.isfinite(freq), freq, 0.5), 1e-4, 1 - 1e-4)
        self.weights = (p * (1 - p)) ** 0.7
        self.cache = FactorCache(cache_dir)
        self._keys = {}      # window -> content key (fixed for the data set)
        self._tensors = {}   # (content key, device, dtype) -> WindowTensors

    def __getstate__(self):
        # keys and tensors are recomputable; pickling (cross_validate with n_jobs) ships none
        state = dict(self.__dict__)
        state["_keys"], state["_tensors"] = {}, {}
        return state

    def key(self, w):
        """Content key of window ``w``: the LD it reads, its core beta-hats, the settings."""
        k = self._keys.get(w)
        if k is None:
            core, ext = self.windows[w]
            k = self._keys[w] = FactorCache.make_key(
                self.ld.window_key(core, ext), self.beta_hat[core].tobytes(),
                self.weights[ext].tobytes(), self.ld_model.key())
        return k

    def _compute(self, w):
        core, ext = self.windows[w]
        U_r, lam_r, G = self.ld.eigenbasis(core, ext, self.ld_model.eig_rtol)
        return self.ld_model.factors(U_r, lam_r, G, self.beta_hat[core], len(core),
                                     self.weights[ext])

    def factors(self, w):
        """:class:`~deepwas.windows.WindowFactors` of window ``w`` (computed once, then cached)."""
        return self.cache.get(self.key(w), lambda: self._compute(w))

    def tensors(self, w, device, dtype):
        """:class:`WindowTensors` of window ``w`` on ``device`` in ``dtype``."""
        import torch

        tkey = (self.key(w), str(device), str(dtype))
        hit = self._tensors.get(tkey)
        if hit is None:
            wf = self.factors(w)
            as_t = lambda a: torch.as_tensor(a, dtype=dtype, device=device)  # noqa: E731
            hit = WindowTensors(as_t(flush_tiny(wf.G, dtype)), as_t(wf.y), wf.q, wf.logdet_R,
                                wf.rank, wf.n_core, d=None if wf.d is None else as_t(wf.d))
            self._tensors[tkey] = hit
        return hit

    def clear_memory(self):
        """Forget the factors and tensors held in memory (disk entries stay)."""
        self.cache.clear_memory()
        self._tensors.clear()
