"""What a :class:`~deepwas.SummaryStats` is built from, and its constructors.

:class:`Dataset` holds the state a SummaryStats and all its slices share; the ``from_*``
constructors (inherited by SummaryStats from :class:`Constructors`) check the inputs, match
summary statistics to the LD (:mod:`deepwas.io.harmonise`) and cut the windows.
"""
from __future__ import annotations

import numpy as np

from .features.base import as_provider
from .io.arrays import table_from_arrays
from .io.harmonise import check_sample_size, harmonise
from .ld import read_plink_reference
from .utils.validation import check_scalar
from .window_store import WindowStore
from .windows import DEFAULT_EIG_RTOL, make_windows

__all__ = ["Dataset", "Constructors"]


class Dataset:
    """State shared by a SummaryStats and all its slices (never modified after creation)."""

    def __init__(self, table, ld, n, sigma2, features, windows, window_chrom, eig_rtol,
                 cache_dir, drop_counts):
        self.table = table
        self.ld = ld
        self.n = n
        self.sigma2 = sigma2
        self.features = features
        self.windows = windows
        self.window_chrom = window_chrom
        self.eig_rtol = eig_rtol
        self.drop_counts = drop_counts
        self.store = WindowStore(ld, windows, table["beta_hat"].to_numpy(), eig_rtol, cache_dir)

    @property
    def cache(self):
        """The factor cache (memory and disk) behind the store."""
        return self.store.cache


class Constructors:
    """The ``from_*`` class methods of :class:`deepwas.SummaryStats`."""

    @classmethod
    def from_arrays(cls, beta_hat, n, chrom, pos, ld, *, freq=None, snp=None, a1=None, a2=None,
                    features=None, sigma2=1.0, window_bp=1_000_000, flank_bp=1_000_000,
                    eig_rtol=DEFAULT_EIG_RTOL, cache_dir=None):
        """Summary statistics from arrays.

        Parameters
        ----------
        beta_hat : array-like, shape (M,)
            Standardised marginal effects (Z / sqrt(N)).
        n : float
            GWAS sample size N (> 0).
        chrom, pos : array-like, shape (M,)
            Chromosome labels ("chr" prefix optional) and base-pair positions.
        ld : array-like of shape (M, M) or LDSource
            LD among the variants. Entries between chromosomes are never read.
        freq : array-like, shape (M,), optional
            Frequency of the effect allele ``a1``.
        snp, a1, a2 : array-like, shape (M,), optional
            Identifiers and alleles (``a1`` is the allele the effects count).
        features : FeatureProvider, Features, array or (func, pred) tuple, optional
            Per-variant features; arrays are aligned with the M variants.
        sigma2 : float, default 1.0
            Residual variance, in (0, 1].
        window_bp, flank_bp : int, default 1_000_000
            Core window size and flank of the extended set, in base pairs.
        eig_rtol : float, default 1e-10
            Relative eigenvalue threshold of the LD pseudo-inverse (see :mod:`deepwas.windows`).
        cache_dir : path, optional
            Directory to keep window factors on disk.

        Returns
        -------
        SummaryStats
        """
        table, source, features = table_from_arrays(beta_hat, chrom, pos, ld, freq=freq, snp=snp,
                                                    a1=a1, a2=a2, features=features)
        n = check_sample_size(n)
        sigma2 = check_scalar("sigma2", sigma2, 0.0, 1.0)
        return cls._build(table, source, n, sigma2, features, window_bp, flank_bp, eig_rtol,
                          cache_dir, {})

    @classmethod
    def from_plink(cls, bfile_prefixes, sumstats, *, n=None, sigma2=1.0, features=None,
                   window_bp=1_000_000, flank_bp=1_000_000, keep_ambiguous=False,
                   eig_rtol=DEFAULT_EIG_RTOL, cache_dir=None):
        """Summary statistics with LD computed from reference genotypes (PLINK .bed/.bim/.fam).

        Genotypes are read with bed-reader, standardised per variant (missing calls
        mean-imputed); variants monomorphic in the reference are dropped and counted. Summary
        statistics are aligned to the reference alleles (:mod:`deepwas.io.alignment`).

        Parameters
        ----------
        bfile_prefixes : str or sequence of str
            PLINK prefixes (one per chromosome, say), sharing the same people.
        sumstats : str, path or DataFrame
            A file for :func:`deepwas.io.read_sumstats` or a DataFrame with columns SNP, A1,
            A2 and Z (or BETA and SE), and N unless ``n`` is given (names case-insensitive).
        n : float, optional
            GWAS sample size. An explicit ``n`` overrides the N column of a file or DataFrame
            (a conflict is logged with both values); without it the per-SNP N column is used
            (see :mod:`deepwas.io.harmonise`).
        sigma2, features, window_bp, flank_bp, eig_rtol, cache_dir
            As in :meth:`from_arrays`; ``features`` must be a provider here.
        keep_ambiguous : bool, default False
            Keep strand-ambiguous (A/T, C/G) SNPs.

        Returns
        -------
        SummaryStats
        """
        source = read_plink_reference(bfile_prefixes)
        return cls.from_ld_source(source, sumstats, n=n, sigma2=sigma2, features=features,
                                  window_bp=window_bp, flank_bp=flank_bp,
                                  keep_ambiguous=keep_ambiguous, eig_rtol=eig_rtol,
                                  cache_dir=cache_dir)

    @classmethod
    def from_ukbb(cls, ld_dir, sumstats, *, exclude_long_range=True, ld_options=None, **kw):
        """Summary statistics with UK Biobank / PolyFun LD windows (:class:`deepwas.io.UKBBLD`).

        One window per LD file: (i)+ = the file's variants, (i) = its middle ``window_bp``.
        ``ld_options`` go to :class:`~deepwas.io.UKBBLD` (e.g. ``max_shrink``); every other
        keyword is as in :meth:`from_ld_source`.
        """
        from .io.ukbb import UKBBLD

        source = UKBBLD(ld_dir, window_bp=kw.get("window_bp", 1_000_000),
                        exclude_long_range=exclude_long_range, **(ld_options or {}))
        return cls.from_ld_source(source, sumstats, **kw)

    @classmethod
    def from_ld_source(cls, source, sumstats, *, n=None, sigma2=1.0, features=None,
                       window_bp=1_000_000, flank_bp=1_000_000, keep_ambiguous=False,
                       eig_rtol=DEFAULT_EIG_RTOL, cache_dir=None):
        """Summary statistics aligned to any :class:`deepwas.ld.LDSource`.

        Windows come from the source when it defines them (UK Biobank LD files), otherwise
        they tile each chromosome (see :func:`deepwas.windows.make_windows`).

        Parameters
        ----------
        source : LDSource
        sumstats, n, sigma2, features, window_bp, flank_bp, keep_ambiguous, eig_rtol, cache_dir
            As in :meth:`from_plink`.

        Returns
        -------
        SummaryStats
        """
        sigma2 = check_scalar("sigma2", sigma2, 0.0, 1.0)
        h = harmonise(source, sumstats, n=n, keep_ambiguous=keep_ambiguous)
        table, sub = h.table, h.source
        return cls._build(table, sub, h.n, sigma2, as_provider(features, len(table)),
                          window_bp, flank_bp, eig_rtol, cache_dir, h.drop_counts)

    @classmethod
    def _build(cls, table, source, n, sigma2, features, window_bp, flank_bp, eig_rtol,
               cache_dir, drop_counts):
        windows, wchrom = make_windows(table["chrom"].to_numpy(), table["pos"].to_numpy(),
                                       window_bp, flank_bp, natural=source.natural_windows())
        eig_rtol = check_scalar("eig_rtol", eig_rtol, 0.0, 1.0, hi_open=True)
        data = Dataset(table, source, n, sigma2, features, windows, wchrom, eig_rtol,
                        cache_dir, drop_counts)
        return cls(data, np.arange(len(windows)))

