"""Pseudo-panels: LD as noisy around a reference panel's own LD as the panel's is around the
population's.

Two kinds. **Gaussian** (:class:`PseudoPanelLD`, and :class:`BlockPseudoPanelLD` for an LD
matrix), what the panel correction uses for an LD matrix and for LD score regression, and
**bootstrap** (:class:`BootstrapPanelLD`, for a panel's genotypes, what it uses for the
likelihood on them: ``FunctionalPrior(pseudo_panels="auto")``): the panel's own people drawn
with replacement. The bootstrap keeps the
genotypes' higher moments, so it comes closer to the noise of correlations between variants
in strong LD, which for 0/1/2 genotypes is about twice what Gaussian pseudo-people with the
same LD give (``benchmarks/study_pseudo_panel_noise.py``, shipped 1000 Genomes genotypes,
pairs with ``|r| > 0.3``, ``n`` times the mean squared deviation: a real panel of 150 / 244 of
the 489 people 1.03 / 1.03 against the 489, a bootstrap 0.78 / 0.94 against the panel,
Gaussian pseudo-people 0.54 / 0.55; unlinked pairs of common variants about 1 for all three).
It cannot redraw a rare variant's carriers: unlinked pairs with a variant under 5 % get
0.72 / 0.84, and a variant none of whose carriers is drawn has no variation there, a zero
row (2.1 % / 1.3 % of the variants). Docs "LD from a reference panel" say what each does to
the correction.

**Gaussian.** A panel of ``n`` people estimates the GWAS population's LD ``R`` as
``R_hat = X X^T / n`` with sampling noise of order ``1 / n`` per entry. ``n'`` pseudo-people
``Z = X W`` (``W`` an ``n x n'`` matrix of independent standard normals), each variant's row
standardised over them, are a panel of ``n'`` draws from ``N(0, R_hat)``: their LD
``Z Z^T / n'`` scatters around ``R_hat`` as ``R_hat`` scatters around ``R``, so a fit on it
sees the panel's noise variance ``1 / n + 1 / n'``. With ``n' = n`` that is twice the
panel's: the second point of the simulation-extrapolation (SIMEX, Cook and Stefanski 1994)
that :mod:`deepwas.estimators._panel_correction` extrapolates back to a noise-free panel.

``W`` is the same for every variant, so any subset of variants sees the same pseudo-people
(windows, slices and precompute workers agree), and it is drawn from ``seed`` alone: a
pseudo-panel is a deterministic function of (panel, ``n'``, ``seed``). Nothing is stored per
variant; a window's rows of ``Z`` cost one ``(rows x n) @ (n x n')`` product.

An LD *matrix* of a panel (no genotypes: :class:`BlockPseudoPanelLD`) gives the same draws
block by block, where the LD is cut at blocks (thinned cores never read LD across blocks):
``Z_B = V_B Lambda_B^{1/2} W_B`` from the eigendecomposition of the block's LD ``R_B``, its
non-zero eigenvalues kept (a panel's block LD has rank below ``n``), ``W_B`` drawn from
(``seed``, block); ``Z_B Z_B^T`` then has the distribution of ``X W W^T X^T`` above. Blocks
are independent; only the factor of the block last asked for is kept (windows come block by
block).
"""
from __future__ import annotations

import numpy as np

from .ld import LDSource, StandardisedRowsLD, _hash_arrays

__all__ = ["BootstrapPanelLD", "PseudoPanelLD", "BlockPseudoPanelLD", "PSEUDO_DRAWS",
           "holds_people", "supports_pseudo_panel", "weighted_standardised"]

#: kinds of pseudo-panel (:meth:`deepwas.SummaryStats.with_pseudo_panel`)
PSEUDO_DRAWS = ("gaussian", "bootstrap")


def holds_people(source):
    """Whether ``source`` holds people's (standardised) genotypes: what a bootstrap redraws
    and Gaussian pseudo-people are drawn through; an LD matrix holds none."""
    return isinstance(source, StandardisedRowsLD)


def supports_pseudo_panel(source):
    """Whether pseudo-panels can be drawn from ``source``: it holds people's genotypes, or it
    is an LD matrix of a panel of known size (drawn block by block)."""
    return holds_people(source) or source.panel_size is not None


def _check_people(n_people):
    if isinstance(n_people, bool) or int(n_people) != n_people or n_people < 4:
        raise ValueError(f"n_people must be an integer >= 4, got {n_people!r}")
    return int(n_people)


def _restandardised(z):
    """Each row of ``z`` centred and scaled to mean square 1 over the pseudo-people."""
    z = z - z.mean(axis=1, keepdims=True)
    scale = np.sqrt((z * z).mean(axis=1, keepdims=True))
    # a variant without variation in the panel stays without it (a zero row)
    return z / np.where(scale > 0, scale, 1.0)


def weighted_standardised(x, weights):
    """Rows of ``x`` (variants x people) centred and scaled with people's ``weights`` (mean 1),
    times ``sqrt(weights)``: ``Z Z^T / n`` is then the weighted correlation. A row without
    weighted variation (e.g. a variant none of whose carriers has weight) is a zero row."""
    z = (x - (x @ weights / len(weights))[:, None]) * np.sqrt(weights)
    scale = np.sqrt((z * z).mean(axis=1, keepdims=True))
    return z / np.where(scale > 1e-12, scale, np.inf)


class _DrawnLD(StandardisedRowsLD):
    """LD drawn from another source (``self.panel``): it carries its own noise, of a panel of
    ``panel_size`` people, on top of that source's."""

    @property
    def noise_panel_sizes(self):
        return (int(self.panel_size),) + tuple(self.panel.noise_panel_sizes)


class BootstrapPanelLD(_DrawnLD):
    """LD of a genotype panel's own people drawn with replacement (module docstring).

    Parameters
    ----------
    panel : StandardisedRowsLD
        The reference panel (e.g. :class:`~deepwas.ld.GenotypeLD`).
    n_people : int
        People to draw (>= 4); the noise added is that of a panel of ``n_people``.
    seed : int
        Seeds the draw.
    rows : array of int, optional
        The panel's variants this source holds (default: all), in order.

    Notes
    -----
    The draw is held as each panel person's count ``c_i`` and the LD as the correlation with
    weights ``c_i``: the columns stay the panel's people (``n_ref`` is the panel's size,
    ``panel_size`` is ``n_people``), and any subset of variants sees the same draw.
    """

    def __init__(self, panel, n_people, seed, rows=None):
        if not holds_people(panel):
            raise TypeError(f"a bootstrap pseudo-panel draws the panel's people; "
                            f"{type(panel).__name__} holds none (read the panel with "
                            "SummaryStats.from_plink, or draw Gaussian pseudo-people from its "
                            "LD: draw='gaussian')")
        self.panel, self.seed = panel, int(seed)
        self.n_people = _check_people(n_people)
        self.n_ref = panel.n_ref
        self.rows = (np.arange(len(panel)) if rows is None
                     else np.asarray(rows, dtype=np.int64))
        self.variants = panel.variants.iloc[self.rows].reset_index(drop=True)
        drawn = np.random.default_rng([self.seed, 1979]).integers(0, panel.n_ref, self.n_people)
        # weights of mean 1 over the panel's people
        self.weights = np.bincount(drawn, minlength=panel.n_ref) * (panel.n_ref / self.n_people)
        self._fingerprint = _hash_arrays(
            np.frombuffer(panel._fingerprint.encode(), dtype=np.uint8),
            np.frombuffer(b"bootstrap-panel", dtype=np.uint8),
            np.array([self.n_people, self.seed], dtype=np.int64), self.rows)

    @property
    def panel_size(self):
        """People drawn (``n_people``): the panel size whose noise the draw adds."""
        return self.n_people

    def standardised(self, rows):
        # X X^T / n_ref is the correlation over the people drawn; a variant none of whose
        # carriers was drawn has no variation there: a zero row
        return weighted_standardised(
            self.panel.standardised(self.rows[np.asarray(rows, dtype=np.int64)]), self.weights)

    def subset(self, keep):
        return BootstrapPanelLD(self.panel, self.n_people, self.seed,
                                rows=self.rows[np.asarray(keep, dtype=np.int64)])


class PseudoPanelLD(_DrawnLD):
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
        self.panel, self.seed, self.n_ref = panel, int(seed), _check_people(n_people)
        self.rows = (np.arange(len(panel)) if rows is None
                     else np.asarray(rows, dtype=np.int64))
        self.variants = panel.variants.iloc[self.rows].reset_index(drop=True)
        self.W = np.random.default_rng(self.seed).standard_normal((panel.n_ref, self.n_ref))
        self._fingerprint = _hash_arrays(
            np.frombuffer(panel._fingerprint.encode(), dtype=np.uint8),
            np.frombuffer(b"pseudo-panel", dtype=np.uint8),
            np.array([self.n_ref, self.seed], dtype=np.int64), self.rows)

    def standardised(self, rows):
        return _restandardised(
            self.panel.standardised(self.rows[np.asarray(rows, dtype=np.int64)]) @ self.W)

    def subset(self, keep):
        return PseudoPanelLD(self.panel, self.n_ref, self.seed,
                             rows=self.rows[np.asarray(keep, dtype=np.int64)])


class BlockPseudoPanelLD(_DrawnLD):
    """Pseudo-panel of an LD matrix cut at blocks: ``n_people`` Gaussian pseudo-people drawn
    from each block's LD, blocks independent (module docstring).

    Parameters
    ----------
    source : LDSource
        The panel's LD (e.g. :class:`~deepwas.ld.DenseLD` with ``n_ref``).
    blocks : array of int, shape (len(source),)
        LD block of each variant (variants of one block need not be contiguous).
    n_people : int
    seed : int
    """

    def __init__(self, source, blocks, n_people, seed):
        self.source, self.seed, self.n_ref = source, int(seed), _check_people(n_people)
        self.blocks = np.asarray(blocks, dtype=np.int64)
        if len(self.blocks) != len(source):
            raise ValueError(f"{len(self.blocks)} block labels for {len(source)} variants")
        self.variants = source.variants
        self._last = (None, None, None)     # (block, its variants, its rows of Z)
        self._last_key = (None, None)       # (block, content key of its LD)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_last"], state["_last_key"] = (None, None, None), (None, None)
        return state

    @property
    def panel(self):
        """The LD matrix the pseudo-people are drawn from (``source``)."""
        return self.source

    def window_key(self, core, ext):
        # a window's pseudo-LD depends on the whole LD of each block it reads, on the block
        # labels, the seed and the number of pseudo-people
        keys = []
        for b in np.unique(self.blocks[np.asarray(ext, dtype=np.int64)]):
            if self._last_key[0] != b:
                idx = np.flatnonzero(self.blocks == b)
                self._last_key = (b, self.source.window_key(idx, idx))
            keys.append(np.frombuffer(self._last_key[1].encode(), dtype=np.uint8))
        return _hash_arrays(np.frombuffer(b"block-pseudo-panel", dtype=np.uint8),
                            np.array([self.n_ref, self.seed], dtype=np.int64),
                            np.asarray(core, dtype=np.int64), np.asarray(ext, dtype=np.int64),
                            self.blocks, *keys)

    def _block_rows(self, b):
        if self._last[0] != b:
            idx = np.flatnonzero(self.blocks == b)
            lam, V = np.linalg.eigh(self.source.block(idx, idx))
            keep = lam > 1e-10 * max(lam.max(initial=0.0), 1e-300)
            rng = np.random.default_rng([self.seed, int(b) + 1])
            W = rng.standard_normal((int(keep.sum()), self.n_ref))
            self._last = (b, idx, _restandardised((V[:, keep] * np.sqrt(lam[keep])) @ W))
        return self._last[1], self._last[2]

    def standardised(self, rows):
        rows = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(rows), self.n_ref))
        lab = self.blocks[rows]
        for b in np.unique(lab):
            at = np.flatnonzero(lab == b)
            idx, z = self._block_rows(b)
            out[at] = z[np.searchsorted(idx, rows[at])]
        return out

    def subset(self, keep):
        # the generic restriction, not StandardisedRowsLD's: that one subsets genotype rows,
        # which this source does not hold (its rows are drawn per block of the whole source)
        return LDSource.subset(self, keep)
