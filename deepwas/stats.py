"""SummaryStats: GWAS marginal effects, their LD and features, cut into windows.

One window is one sample for scikit-learn: ``len(stats)`` counts windows, ``stats.groups`` gives
each window's chromosome (so ``GroupKFold`` splits by chromosome) and ``stats[idx]`` keeps some
windows. Slices share the LD source, the features and the store of window factors, so
cross-validation computes each window's eigendecomposition once. Matching summary statistics
to an LD reference (alleles, frequencies, drops) lives in :mod:`deepwas.io.harmonise`.
"""
from __future__ import annotations

import logging
import numbers

import numpy as np

from ._dataset import Constructors, Dataset
from .cv import block_groups, region_mask
from .diagnostics import ld_diagnostics
from .features.base import as_provider, take_rows
from .io.harmonise import check_sample_size
from .precompute import precompute_windows
from .pseudo_panel import (PSEUDO_DRAWS, BlockPseudoPanelLD, BootstrapPanelLD, PseudoPanelLD,
                           holds_people, supports_pseudo_panel)
from .utils.validation import check_sigma2
from .windows import window_units

__all__ = ["SummaryStats"]

log = logging.getLogger(__name__)


class SummaryStats(Constructors):
    """Marginal associations, LD and features of GWAS variants, cut into windows.

    Build it with :meth:`from_arrays`, :meth:`from_plink` or :meth:`from_ld_source`; do not call
    the constructor directly.

    Attributes
    ----------
    variants : pandas.DataFrame
        The variants the selected windows touch (union of their extended sets), genome order:
        ``chrom, pos, snp, a1, a2, freq, beta_hat, row`` (``row`` indexes the full data set;
        identifier, position and alleles are the LD reference's). Data matched from summary
        statistics also hold ``sumstats_snp, sumstats_chrom, sumstats_pos, sumstats_a1,
        sumstats_a2``: the statistics' own names of the same variants (their build:
        :attr:`genome_builds`).
    windows : list of (ndarray, ndarray)
        (core, extended) index arrays into :attr:`variants`, one per window.
    groups : ndarray of str
        Chromosome of each window.
    n : float
        GWAS sample size N.
    sigma2 : float
        Residual variance of the standardised phenotype (1 - h2 when the phenotype has unit
        variance).
    drop_counts : dict
        Variants dropped or repaired while building the data, by reason.
    """

    def __init__(self, _data, _selected):
        # ``_data``: the Dataset all slices share; ``_selected``: this slice's windows
        self._data = _data
        self._selected = np.asarray(_selected, dtype=np.int64)
        union = (np.unique(np.concatenate([_data.windows[w][1] for w in self._selected]))
                 if len(self._selected) else np.array([], dtype=np.int64))
        self._rows = union
        self._windows = None     # local (core, extended) indices, built on first use
        self._table = None       # the variant table of this selection, built on first use

    def with_beta_hat(self, beta_hat, *, n=None, sigma2=None, features=None,
                      ld_in_sample=None):
        """A new data set with the same variants, LD and windows but new marginal effects.

        Parameters
        ----------
        beta_hat : array-like, shape (n_variants,)
            Aligned with :attr:`variants`.
        n, sigma2 : float, optional
            Replace the sample size / residual variance.
        features : optional
            Replace the features (arrays aligned with :attr:`variants`, or a provider).
        ld_in_sample : bool, optional
            Whether ``beta_hat`` was drawn through this very LD (:attr:`ld_in_sample`);
            default: as this object.

        Returns
        -------
        SummaryStats
            Holds only this object's windows and variants.
        """
        beta_hat = np.asarray(beta_hat, dtype=np.float64).ravel()
        if len(beta_hat) != self.n_variants:
            raise ValueError(f"beta_hat has {len(beta_hat)} values, expected {self.n_variants}")
        if not np.all(np.isfinite(beta_hat)):
            raise ValueError("beta_hat contains NaN or inf values")
        d = self._data
        if features is not None:
            features = as_provider(features, self.n_variants)
        return self._rebuilt(self.variants.drop(columns="row").assign(beta_hat=beta_hat),
                             d.ld.subset(self._rows), features,
                             d.n if n is None else check_sample_size(n),
                             d.sigma2 if sigma2 is None else check_sigma2(sigma2),
                             d.ld_in_sample if ld_in_sample is None else ld_in_sample)

    def with_pseudo_panel(self, seed, n_people=None, draw="gaussian"):
        """The same statistics and windows with the LD of a pseudo-panel drawn from the panel.

        LD as noisy around the panel's as the panel's is around the population's
        (:mod:`deepwas.pseudo_panel`), the second point of the panel correction
        (``FunctionalPrior(panel_correction=..., pseudo_panels=...)``): Gaussian pseudo-people
        drawn from the panel's LD (:class:`~deepwas.pseudo_panel.PseudoPanelLD`), or the
        panel's own people drawn with replacement
        (:class:`~deepwas.pseudo_panel.BootstrapPanelLD`).

        Parameters
        ----------
        seed : int
            Draws the pseudo-panel; the same seed gives the same LD on any slice.
        n_people : int, optional
            People to draw: the panel size whose noise the pseudo-panel adds. Default: the
            panel's size.
        draw : {"gaussian", "bootstrap"}, default "gaussian"
            "bootstrap" needs the panel's genotypes and comes closer to the noise of strongly
            linked pairs, which Gaussian pseudo-people under-state about twofold, but
            under-states rare variants' (docs "LD from a reference panel"). The panel
            correction draws a bootstrap from a genotype panel by default and Gaussian
            pseudo-people from an LD matrix and for LD score regression
            (``pseudo_panels="auto"``).

        Returns
        -------
        SummaryStats
            Holds only this object's windows and variants.

        Raises
        ------
        TypeError
            When the LD is neither a panel's genotypes nor a matrix of a panel of known size
            cut into thinned cores (pseudo-people of a matrix are drawn block by block,
            :class:`~deepwas.pseudo_panel.BlockPseudoPanelLD`), or a bootstrap is asked of a
            matrix.
        ValueError
            For an unknown ``draw``.
        """
        d = self._data
        if not supports_pseudo_panel(d.ld):
            raise TypeError("pseudo-panels need the reference panel's genotypes (from_plink) "
                            f"or its size (n_ref=); this LD is a {type(d.ld).__name__} of a "
                            "panel of unknown size")
        if draw not in PSEUDO_DRAWS:
            raise ValueError(f"draw must be one of {PSEUDO_DRAWS}, got {draw!r}")
        people = d.ld.panel_size if n_people is None else n_people
        if draw == "bootstrap":     # raises for a matrix, which has no people to draw
            ld = BootstrapPanelLD(d.ld, people, seed, rows=self._rows)
        elif holds_people(d.ld):
            ld = PseudoPanelLD(d.ld, people, seed, rows=self._rows)
        elif self.ld_model.regularisation == "thinned":
            # an LD matrix: pseudo-people drawn block by block (a block = a unit's extended set)
            blocks = np.full(self.n_variants, -1, dtype=np.int64)
            for (_, ext), unit in zip(self.windows, self.window_units):
                blocks[ext] = unit
            loose = np.flatnonzero(blocks < 0)
            blocks[loose] = blocks.max() + 1 + np.arange(len(loose))
            ld = BlockPseudoPanelLD(d.ld.subset(self._rows), blocks, people, seed)
        else:
            raise TypeError("pseudo-panels of an LD matrix are drawn block by block: they need "
                            "the LD cut at blocks into thinned cores (ld_regularisation="
                            f"'thinned'), not {self.ld_model.regularisation!r}")
        return self._rebuilt(self.variants.drop(columns="row"), ld, None, d.n, d.sigma2, False)

    def _rebuilt(self, table, ld, features, n, sigma2, ld_in_sample):
        """A data set of this selection's windows over ``table`` and ``ld`` (same rows)."""
        d = self._data
        if features is None:
            features = take_rows(d.features, self._rows)
        data = Dataset(table, ld, n, sigma2, features, self.windows, self.groups.copy(),
                       d.ld_model, d.cache.cache_dir, dict(d.drop_counts), d.genome_builds,
                       ld_blocks=d.ld_blocks, ld_in_sample=ld_in_sample)
        return SummaryStats(data, np.arange(len(self)))

    # --- scikit-learn sample protocol ------------------------------------------------------
    def __len__(self):
        return len(self._selected)

    @property
    def shape(self):
        return (len(self),)

    def __getitem__(self, idx):
        if isinstance(idx, tuple):
            if len(idx) == 2 and idx[1] is Ellipsis:
                idx = idx[0]
            else:
                raise IndexError("SummaryStats takes one index (windows), optionally with ...")
        if isinstance(idx, (numbers.Integral, np.integer)) and not isinstance(idx, bool):
            i = int(idx)
            if not -len(self) <= i < len(self):
                raise IndexError(f"window {i} out of range for {len(self)} windows")
            sel = self._selected[[i]]
        elif isinstance(idx, slice):
            sel = self._selected[idx]
        else:
            arr = np.asarray(idx)
            if arr.dtype == bool:
                if arr.shape != (len(self),):
                    raise IndexError(f"boolean mask of length {arr.shape} for {len(self)} windows")
                sel = self._selected[arr]
            elif arr.size == 0 or np.issubdtype(arr.dtype, np.integer):
                sel = self._selected[arr.astype(np.int64).ravel()]
            else:
                raise IndexError(f"cannot index windows with {type(idx).__name__} "
                                 f"of dtype {arr.dtype}")
        return SummaryStats(self._data, sel)

    def __repr__(self):
        return (f"SummaryStats({len(self)} windows on {len(set(self.groups))} chromosomes, "
                f"{self.n_variants} variants, N={self.n:g}, sigma2={self.sigma2:g})")

    # --- views -------------------------------------------------------------------------------
    @property
    def groups(self):
        return self._data.window_chrom[self._selected]

    @property
    def n(self):
        return self._data.n

    @property
    def sigma2(self):
        return self._data.sigma2

    @property
    def features(self):
        return self._data.features

    @property
    def ld(self):
        """The LD source over the full data set (index it with ``variants['row']``)."""
        return self._data.ld

    @property
    def ld_model(self):
        """How the LD enters the likelihood (:class:`deepwas.ld_model.LDModel`)."""
        return self._data.ld_model

    @property
    def ld_in_sample(self):
        """True when ``beta_hat`` was drawn through this very LD
        (:func:`deepwas.simulate.semi_synthetic`): the LD then carries no panel noise, and
        ``panel_correction="auto"`` corrects none."""
        return self._data.ld_in_sample

    @property
    def drop_counts(self):
        return dict(self._data.drop_counts)

    @property
    def genome_builds(self):
        """Builds of the statistics' own positions and of the LD reference's
        (:attr:`deepwas.io.Harmonised.genome_builds`; None where unknown)."""
        return dict(self._data.genome_builds)

    @property
    def n_variants(self):
        return len(self._rows)

    def _variant_table(self):
        """The variant table, built once per SummaryStats (callers must not modify it)."""
        if self._table is None:
            v = self._data.table.iloc[self._rows].reset_index(drop=True)
            v["row"] = self._rows
            self._table = v
        return self._table

    @property
    def variants(self):
        return self._variant_table().copy()

    @property
    def windows(self):
        if self._windows is None:
            self._windows = [
                (np.searchsorted(self._rows, core), np.searchsorted(self._rows, ext))
                for core, ext in (self._data.windows[w] for w in self._selected)]
        return list(self._windows)

    @property
    def window_units(self):
        """Unit label (0, 1, ...) of each window: the thinned cores of one LD block
        (``ld_regularisation="thinned"``) form one unit, every other window is its own
        (:func:`deepwas.windows.window_units`). Jackknife blocks and :meth:`block_groups` keep
        units whole: their windows share the block's LD and statistics. (Fixed windows whose
        extended sets happen to coincide stay units of their own, as they always were.)"""
        if self.ld_model.regularisation != "thinned":
            return np.arange(len(self))
        return window_units(self.windows)

    @property
    def windows_are_ld_blocks(self):
        """True when the data were cut at LD blocks (``ld_blocks=``, :mod:`deepwas.ld_blocks`):
        every unit of :attr:`window_units` is then one approximately independent LD block
        (one window whose core is its extended set, or the thinned cores of one block), and
        no LD joins two of them, so a jackknife can leave one out whole
        (:func:`deepwas.jackknife.plan_blocks`)."""
        return self._data.ld_blocks is not None

    @property
    def window_ids(self):
        """Indices of the selected windows in the full data set."""
        return self._selected.copy()

    def ld_diagnostics(self, h2=None, sigma2=None, warn=True):
        """Per-window check that beta-hat fits the LD (:func:`deepwas.diagnostics.ld_diagnostics`).

        Returns
        -------
        pandas.DataFrame
        """
        return ld_diagnostics(self, h2=h2, sigma2=sigma2, warn=warn)

    def block_groups(self, n_blocks):
        """Contiguous blocks of windows as CV groups (:func:`deepwas.cv.block_groups`)."""
        return block_groups(self, n_blocks)

    def region_mask(self, regions):
        """Windows whose core lies in ``regions`` (:func:`deepwas.cv.region_mask`)."""
        return region_mask(self, regions)

    def get_features(self, idx=None):
        """Features of some rows of :attr:`variants` (all rows by default).

        Returns
        -------
        Features or None
        """
        if self._data.features is None:
            return None
        v = self._variant_table()
        v = v if idx is None else v.iloc[np.asarray(idx)]
        return self._data.features.get(v.reset_index(drop=True))

    # --- LD and precompute --------------------------------------------------------------------
    def _global_window(self, k):
        return self._data.windows[self._selected[k]]

    def ld_block(self, k):
        """Dense LD blocks ``(R_II, R_EI)`` of window ``k`` (float64)."""
        core, ext = self._global_window(k)
        with self._data.store._ld_lock:       # shared with the prefetch thread
            return self._data.ld.block(core, core), self.ld_ext_core(k)

    def ld_ext_core(self, k):
        """Dense LD block ``R_EI`` (extended x core) of window ``k`` (float64)."""
        core, ext = self._global_window(k)
        with self._data.store._ld_lock:
            return self._data.ld.block(ext, core)

    def window_key(self, k):
        """Content key of window ``k`` (hex string): what its factors depend on."""
        return self._data.store.key(int(self._selected[k]))

    def prefetch(self, k):
        """Start loading window ``k``'s factors in a background thread (no-op when in memory)."""
        self._data.store.prefetch(int(self._selected[k]))

    def window_factors(self, k):
        """The theta-free factors of window ``k`` (computed once, then cached)."""
        return self._data.store.factors(int(self._selected[k]))

    def precompute(self, progress=False, n_jobs=1, executor=None):
        """Compute the factors of every selected window now (in parallel with ``n_jobs`` or an
        ``executor``), skipping those already in memory or in the cache folder
        (:func:`deepwas.precompute.precompute_windows`).

        Returns
        -------
        self
        """
        precompute_windows(self, n_jobs=n_jobs, executor=executor, progress=progress)
        return self

    def window_tensors(self, k, device=None, dtype=None):
        """Factors of window ``k`` as torch tensors (``G``, ``y``) plus scalars.

        Tensors are kept per (window content, device, dtype) so repeated training steps do not
        copy them.
        """
        import torch

        dtype = torch.float64 if dtype is None else dtype
        device = torch.device("cpu" if device is None else device)
        return self._data.store.tensors(int(self._selected[k]), device, dtype)
