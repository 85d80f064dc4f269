"""Pseudo-panels: the LD of Gaussian pseudo-people drawn from a reference panel's own LD.

A panel of ``n`` people estimates the GWAS population's LD ``R`` as ``R_hat = X X^T / n`` with
sampling noise of order ``1 / n`` per entry. ``n'`` pseudo-people ``Z = X W`` (``W`` an
``n x n'`` matrix of independent standard normals), each variant's row standardised over them,
are a panel of ``n'`` draws from ``N(0, R_hat)``: their LD ``Z Z^T / n'`` scatters around
``R_hat`` as ``R_hat`` scatters around ``R``, so a fit on it sees the panel's noise variance
``1 / n + 1 / n'``. With ``n' = n`` that is twice the panel's: the second point of the
simulation-extrapolation (SIMEX, Cook and Stefanski 1994) that
:mod:`deepwas.estimators._panel_correction` extrapolates back to a noise-free panel.

``W`` is the same for every variant, so any subset of variants sees the same pseudo-people
(windows, slices and precompute workers agree), and it is drawn from ``seed`` alone: a
pseudo-panel is a deterministic function of (panel, ``n'``, ``seed``). Nothing is stored per
variant; a window's rows of ``Z`` cost one ``(rows x n) @ (n x n')`` product.
"""
from __future__ import annotations

import numpy as np

from .ld import StandardisedRowsLD, _hash_arrays

__all__ = ["PseudoPanelLD", "supports_pseudo_panel"]


def supports_pseudo_panel(source):
    """Whether pseudo-panels can be drawn from ``source`` (it holds people's genotypes)."""
    return isinstance(source, StandardisedRowsLD)


class PseudoPanelLD(StandardisedRowsLD):
    """LD of ``n_people`` Gaussian pseudo-people drawn from a genotype panel's LD.

    Parameters
    ----------
    panel : StandardisedRowsLD
        The reference panel (e.g. :class:`~deepwas.ld.GenotypeLD`).
    n_people : int
        Pseudo-people to draw (>= 4).
    seed : int
        Seeds the mixing matrix ``W``.
    rows : array of int, optional
        The panel's variants this source holds (default: all), in order.
    """

    def __init__(self, panel, n_people, seed, rows=None):
        if not supports_pseudo_panel(panel):
            raise TypeError(f"pseudo-panels need the panel's genotypes; {type(panel).__name__} "
                            "holds none (read the panel with SummaryStats.from_plink)")
        if isinstance(n_people, bool) or int(n_people) != n_people or n_people < 4:
            raise ValueError(f"n_people must be an integer >= 4, got {n_people!r}")
        self.panel, self.seed, self.n_ref = panel, int(seed), int(n_people)
        self.rows = (np.arange(len(panel)) if rows is None
                     else np.asarray(rows, dtype=np.int64))
        self.variants = panel.variants.iloc[self.rows].reset_index(drop=True)
        self.W = np.random.default_rng(self.seed).standard_normal((panel.n_ref, self.n_ref))
        self._fingerprint = _hash_arrays(
            np.frombuffer(panel._fingerprint.encode(), dtype=np.uint8),
            np.frombuffer(b"pseudo-panel", dtype=np.uint8),
            np.array([self.n_ref, self.seed], dtype=np.int64), self.rows)

    def standardised(self, rows):
        z = self.panel.standardised(self.rows[np.asarray(rows, dtype=np.int64)]) @ self.W
        z -= z.mean(axis=1, keepdims=True)
        scale = np.sqrt((z * z).mean(axis=1, keepdims=True))
        # a variant without variation in the panel stays without it (a zero row)
        return z / np.where(scale > 0, scale, 1.0)

    def subset(self, keep):
        return PseudoPanelLD(self.panel, self.n_ref, self.seed,
                             rows=self.rows[np.asarray(keep, dtype=np.int64)])
