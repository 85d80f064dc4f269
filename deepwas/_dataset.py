"""What a :class:`~deepwas.SummaryStats` is built from, and its constructors.

:class:`Dataset` holds the state a SummaryStats and all its slices share; the ``from_*``
constructors (inherited by SummaryStats from :class:`Constructors`) check the inputs, match
summary statistics to the LD (:mod:`deepwas.io.harmonise`) and cut the windows.
"""
from __future__ import annotations

import logging
import numbers
import os

import numpy as np
import pandas as pd

from .features.base import ArrayFeatures, FeatureProvider, as_provider, take_rows
from .io.arrays import table_from_arrays
from .io.harmonise import check_sample_size, harmonise
from .ld import read_plink_reference
from .utils.validation import check_scalar, check_sigma2
from .ld_model import LDModel, resolve_share, thinned_core_size
from .window_store import WindowStore
from .windows import DEFAULT_EIG_RTOL, make_windows, thin_windows, window_units
from .ld_blocks import BLOCK_DEFAULTS, detect_ld_blocks, read_ld_blocks, windows_from_blocks

__all__ = ["Dataset", "Constructors", "AUTO_BLOCKS_MAX_PANEL"]

log = logging.getLogger(__name__)

#: ``ld_blocks="auto"`` cuts LD at blocks for panels smaller than this (docs "LD from a
#: reference panel": the flank noise of a panel of n people costs about (unlinked flank
#: variants) / n of the core's signal, 2 % for UK Biobank's 337,000, 80 % and more for 5,000)
AUTO_BLOCKS_MAX_PANEL = 50_000


class Dataset:
    """State shared by a SummaryStats and all its slices (never modified after creation)."""

    def __init__(self, table, ld, n, sigma2, features, windows, window_chrom, ld_model,
                 cache_dir, drop_counts, genome_builds=None, ld_blocks=None, ld_in_sample=False):
        self.ld_blocks = ld_blocks
        self.ld_in_sample = bool(ld_in_sample)
        self.table = table
        self.genome_builds = dict(genome_builds or {"sumstats": None, "reference": None,
                                                    "status": None, "lifted": False})
        self.ld = ld
        self.n = n
        self.sigma2 = sigma2
        self.features = features
        self.windows = windows
        self.window_chrom = window_chrom
        self.ld_model = ld_model
        self.drop_counts = drop_counts
        self.store = WindowStore(ld, windows, table["beta_hat"].to_numpy(), ld_model,
                                 table["freq"].to_numpy(dtype=np.float64), cache_dir)

    @property
    def cache(self):
        """The factor cache (memory and disk) behind the store."""
        return self.store.cache


class Constructors:
    """The ``from_*`` class methods of :class:`deepwas.SummaryStats`."""

    @classmethod
    def from_arrays(cls, beta_hat, n, chrom, pos, ld, *, freq=None, snp=None, a1=None, a2=None,
                    features=None, sigma2=1.0, window_bp=1_000_000, flank_bp=1_000_000,
                    ld_regularisation="auto", ld_share="auto", eig_rtol=DEFAULT_EIG_RTOL,
                    cache_dir=None, ld_blocks="auto", n_ref=None, ld_core_size="auto",
                    ld_in_sample=False):
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
            Noise variance of ``beta_hat`` times N, in (0, 2]: the residual variance of the
            standardised phenotype (1 - h2 of all SNPs), or above 1 for statistics whose noise
            is inflated (an LD score regression intercept above 1; graphREML's
            ``--intercept``).
        window_bp, flank_bp : int, default 1_000_000
            Core window size and flank of the extended set, in base pairs.
        ld_regularisation : {"auto", "thinned", "mismatch", "truncate", "none"}, default "auto"
            How the LD enters the likelihood (:mod:`deepwas.ld_model`). "thinned" is the exact
            likelihood on small interleaved cores of each LD block, the whole block as their
            extended set (needs LD blocks and the panel's size); "mismatch" a mismatch
            variance beside a truncated R_II; "none" the exact likelihood on the windows as
            they are, right only when the LD is the GWAS sample's own (in-sample), and then
            the most accurate (thinned cores' composite likelihood had 2.3x its enrichment
            RMSE in-sample). "auto" takes "none" for LD declared in-sample
            (``ld_in_sample``), "thinned" when the LD is cut at blocks (``ld_blocks``) of a
            panel of known size (or ``ld_core_size`` is given), "mismatch" otherwise: the
            choice of the reference-panel study (docs "LD from a reference panel": h2 -43 %
            with "mismatch", +0 % with "thinned", 200-person panel, 20 replicates).
        ld_share : "auto" or float in (0, 1], default "auto"
            Share of trace(R_II) the kept eigenvectors reach ("truncate", "mismatch"):
            "auto" is 0.98, or 0.95 when the LD comes from a genotype panel smaller than a
            tenth of the GWAS.
        eig_rtol : float, default 1e-10
            Relative threshold below which eigenvalues of R_II are zero (see
            :mod:`deepwas.windows`).
        cache_dir : path, optional
            Directory to keep window factors on disk.
        ld_blocks : {"auto", "detect", "none"}, path, DataFrame or None, default "auto"
            Cut the LD at approximately independent blocks (:mod:`deepwas.ld_blocks`): one
            window per block, core = extended set, no LD across blocks. A BED file or table
            (``chrom start end``, e.g. LDetect's) gives the blocks; "detect" finds them in the
            LD (needs the panel size); "auto" detects them when the LD comes from a panel of
            fewer than :data:`AUTO_BLOCKS_MAX_PANEL` people and otherwise keeps the fixed
            windows of ``window_bp`` and ``flank_bp``; "none" (or None) always keeps them.
            Why: a panel of n people shows correlations of about 1/sqrt(n) between unlinked
            variants, which fixed windows with flanks read as tagging (h2 -37 to -54 % in the
            study of docs "LD from a reference panel"). Ignored when the LD source defines its
            own windows (UK Biobank LD files, LDGM and SBayesRC blocks).
        n_ref : int, optional
            Number of people the matrix ``ld`` was computed from (for an LDSource: checked
            against its ``panel_size``). Needed for ``ld_blocks="auto"`` to cut blocks, for LD
            score regression's small-panel r^2 correction and the LD diagnostics. None means
            the LD is the GWAS sample's own or from a panel as large (a warning is logged).
        ld_core_size : "auto" or int, default "auto"
            Variants per core for ``ld_regularisation="thinned"`` (ignored otherwise): "auto"
            takes :func:`deepwas.ld_model.thinned_core_size` of the panel size.
        ld_in_sample : bool, default False
            Declare that ``ld`` is the GWAS sample's own LD (statistics and LD computed from
            the same people; simulations drawn through this LD). Nothing in the numbers tells
            it, so the package never assumes it. Then ``ld_regularisation="auto"`` takes the
            exact likelihood ("none"), ``panel_correction="auto"`` corrects nothing and LD
            score regression keeps the sample's own r^2. In-sample the exact likelihood is the
            most accurate model (docs "LD from a reference panel", realistic design, 20-40
            replicates: enrichment RMSE 0.19 / 0.33 at h2 0.2 / 0.05 against thinned cores'
            0.44 / 0.68); with a panel's LD it runs away (h2 at its bound), so declare only
            what is true.

        Returns
        -------
        SummaryStats
        """
        table, source, features = table_from_arrays(beta_hat, chrom, pos, ld, freq=freq, snp=snp,
                                                    a1=a1, a2=a2, features=features, n_ref=n_ref)
        n = check_sample_size(n)
        sigma2 = check_sigma2(sigma2)
        settings = _settings(window_bp, flank_bp, ld_regularisation, ld_share, eig_rtol,
                             cache_dir, ld_blocks, ld_core_size, ld_in_sample)
        return cls._build(table, source, n, sigma2, features, settings, {})

    @classmethod
    def from_plink(cls, bfile_prefixes, sumstats, **kw):
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
        **kw
            Everything :meth:`from_ld_source` takes (``n``, ``keep_ambiguous``, ``chain``,
            ``format``, ``sigma2``, ``features``, the window and LD settings). The panel's
            size is known here, so ``ld_share="auto"`` can tell a panel much smaller than the
            GWAS.

        Returns
        -------
        SummaryStats
        """
        return cls.from_ld_source(read_plink_reference(bfile_prefixes), sumstats, **kw)

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
    def from_ldgm(cls, ldgm, sumstats, *, population="EUR", chromosomes=None,
                  block_windows=True, ld_regularisation="none", **kw):
        """Summary statistics with LD from LD graphical models (graphld's LDGM files).

        ``ldgm``: a ``metadata.csv``, a folder or ``.edgelist`` files
        (:class:`deepwas.io.LDGMSource`); every other keyword is as in
        :meth:`from_ld_source`.

        With the default ``ld_regularisation="none"`` and one window per block
        (``block_windows=True``) the likelihood is computed from the sparse precision
        matrices themselves (:mod:`deepwas.precision_windows`; graphREML's likelihood, no
        dense matrix of a block's size): an LDGM is already a regularised estimate of the
        panel's LD (its precision is sparse by construction, so it carries no spurious
        long-range correlation), and graphREML uses it as it is. ``"mismatch"`` or
        ``"truncate"`` take the dense eigen-decomposed path instead.
        """
        from .io.ldgm import LDGMSource

        source = LDGMSource(ldgm, population=population, chromosomes=chromosomes,
                            block_windows=block_windows)
        return cls.from_ld_source(source, sumstats, ld_regularisation=ld_regularisation, **kw)

    @classmethod
    def from_sbayesrc(cls, ld_folder, sumstats, *, var_prop=None, genome_build=None, **kw):
        """Summary statistics with SBayesRC eigen-decomposed LD blocks
        (:class:`deepwas.io.SBayesRCLD`); every other keyword is as in :meth:`from_ld_source`.
        """
        from .io.sbayesrc import SBayesRCLD

        source = SBayesRCLD(ld_folder, var_prop=var_prop, genome_build=genome_build)
        return cls.from_ld_source(source, sumstats, **kw)

    @classmethod
    def from_ld_source(cls, source, sumstats, *, n=None, sigma2=1.0, features=None,
                       window_bp=1_000_000, flank_bp=1_000_000, keep_ambiguous=False,
                       chain=None, format="auto", match_by="auto", check_build=True,
                       ld_regularisation="auto", ld_share="auto", eig_rtol=DEFAULT_EIG_RTOL,
                       cache_dir=None, ld_blocks="auto", ld_core_size="auto",
                       ld_in_sample=False):
        """Summary statistics aligned to any :class:`deepwas.ld.LDSource`.

        Windows come from the source when it defines them (UK Biobank LD files, LDGM
        blocks), otherwise they tile each chromosome (see :func:`deepwas.windows.make_windows`).

        Parameters
        ----------
        source : LDSource
        sumstats : str, path or DataFrame
            A file for :func:`deepwas.io.read_sumstats` or a DataFrame with columns SNP, A1,
            A2 and Z (or BETA and SE), and N unless ``n`` is given (names case-insensitive).
        n : float, optional
            GWAS sample size. An explicit ``n`` overrides the N column of a file or DataFrame
            (a conflict is logged with both values); without it the per-SNP N column is used
            (see :mod:`deepwas.io.harmonise`).
        keep_ambiguous : bool, default False
            Keep strand-ambiguous (A/T, C/G) SNPs.
        chain : str, optional
            UCSC chain file from the statistics' genome build to the LD's; applied when the
            build check finds they differ (:mod:`deepwas.io.build`).
        format : str, default "auto"
            Format of a statistics file (:func:`deepwas.io.read_sumstats`).
        match_by : {"auto", "rsid", "position"}, default "auto"
        check_build : bool, default True
            See :func:`deepwas.io.harmonise`.
        sigma2, features, window_bp, flank_bp, ld_regularisation, ld_share, eig_rtol, cache_dir
        ld_core_size, ld_in_sample
            As in :meth:`from_arrays`.
        ld_blocks : {"auto", "detect", "none"}, path, DataFrame or None, default "auto"
            As in :meth:`from_arrays`; the panel size is the source's ``panel_size`` (PLINK
            genotypes know it).

        Returns
        -------
        SummaryStats
        """
        sigma2 = check_sigma2(sigma2)
        settings = _settings(window_bp, flank_bp, ld_regularisation, ld_share, eig_rtol,
                             cache_dir, ld_blocks, ld_core_size, ld_in_sample)
        h = harmonise(source, sumstats, n=n, keep_ambiguous=keep_ambiguous, chain=chain,
                      format=format, match_by=match_by, check_build=check_build)
        return cls._build(h.table, h.source, h.n, sigma2, _features_for(features, h, source),
                          settings, h.drop_counts, h.genome_builds)

    @classmethod
    def _build(cls, table, source, n, sigma2, features, settings, drop_counts,
               genome_builds=None):
        chrom, pos = table["chrom"].to_numpy(), table["pos"].to_numpy()
        natural = source.natural_windows()
        blocks = None if natural is not None else _resolve_blocks(
            settings["ld_blocks"], source, chrom, pos)
        if blocks is not None:
            windows, wchrom, outside = windows_from_blocks(chrom, pos, blocks)
            if len(outside):
                drop_counts = dict(drop_counts, outside_ld_blocks=int(len(outside)))
                log.warning("%d variants lie in no LD block and are left out (e.g. %s)",
                            len(outside), ", ".join(f"{chrom[i]}:{pos[i]}" for i in outside[:3]))
            if not windows:
                raise ValueError("no variant lies in any of the LD blocks (check that the "
                                 "blocks' chromosome names and genome build match the data)")
        else:
            windows, wchrom = make_windows(chrom, pos, settings["window_bp"],
                                           settings["flank_bp"], natural=natural)
        if settings["ld_regularisation"] == "auto":
            settings = dict(settings, ld_regularisation=_auto_regularisation(
                settings, source, natural, blocks))
        if settings["ld_regularisation"] == "thinned":
            windows, wchrom = _thinned(windows, wchrom, settings, source, natural, blocks)
        share = resolve_share(settings["ld_share"], source.panel_size, n)
        ld_model = LDModel(settings["ld_regularisation"], share, settings["eig_rtol"])
        data = Dataset(table, source, n, sigma2, features, windows, wchrom, ld_model,
                       settings["cache_dir"], drop_counts, genome_builds, ld_blocks=blocks,
                       ld_in_sample=settings["ld_in_sample"])
        return cls(data, np.arange(len(windows)))


def _auto_regularisation(settings, source, natural, blocks):
    """What ``ld_regularisation="auto"`` takes: the exact likelihood for LD declared in-sample,
    thinned cores for LD cut at blocks of a panel of known size, the mismatch model otherwise
    (docs "LD from a reference panel", "How the default decides")."""
    if settings["ld_in_sample"]:
        return "none"
    thin = natural is None and blocks is not None and (
        source.panel_size is not None or settings["ld_core_size"] != "auto")
    return "thinned" if thin else "mismatch"


def _thinned(windows, wchrom, settings, source, natural, blocks):
    """The block windows cut into thinned cores (``ld_regularisation="thinned"``)."""
    if natural is not None:
        raise ValueError("ld_regularisation='thinned' cuts LD blocks of a genotype panel or an "
                         "LD matrix into small cores; this LD source defines its own windows "
                         f"({type(source).__name__}): use its default ld_regularisation")
    if blocks is None:
        raise ValueError("ld_regularisation='thinned' needs LD blocks: pass ld_blocks='detect' "
                         "or a BED file of blocks (ld_blocks='auto' cuts them only for a panel "
                         "of known size under %d people)" % AUTO_BLOCKS_MAX_PANEL)
    size = settings["ld_core_size"]
    if size == "auto":
        if source.panel_size is None:
            raise ValueError("ld_regularisation='thinned' with ld_core_size='auto' needs the "
                             "LD panel's size: pass n_ref= (from_arrays) or ld_core_size=")
        size = thinned_core_size(source.panel_size)
    thinned = thin_windows(windows, size)
    log.info("thinned cores: %d LD blocks cut into %d windows of about %d core variants",
             len(windows), len(thinned), size)
    # the cores of block b form unit b (thin_windows keeps them consecutive)
    return thinned, np.asarray(wchrom, dtype=object)[window_units(thinned)]


def _resolve_blocks(spec, source, chrom, pos):
    """The LD blocks a data set is cut at, or None for fixed windows (``ld_blocks=``)."""
    if spec is None or (isinstance(spec, str) and spec == "none"):
        return None
    panel = source.panel_size
    if isinstance(spec, str) and spec in ("auto", "detect"):
        if spec == "auto" and panel is None:
            log.warning("the LD panel's size is not known: fixed windows with flanks, the LD "
                        "treated as the GWAS sample's own; for LD from a reference panel pass "
                        "n_ref= (or ld_blocks=) (docs: 'LD from a reference panel')")
            return None
        if spec == "auto" and panel >= AUTO_BLOCKS_MAX_PANEL:
            return None
        if panel is None:
            raise ValueError("ld_blocks='detect' needs the LD panel's size: pass n_ref= "
                             "(from_arrays) or use a source that knows it (from_plink)")
        blocks = detect_ld_blocks(source, chrom, pos, panel, **BLOCK_DEFAULTS)
        spans = (blocks["end"] - blocks["start"]).to_numpy()
        log.info("LD blocks: %d found in the %d-person panel (span median %.2f Mb, "
                 "%.2f-%.2f Mb)", len(blocks), panel, np.median(spans) / 1e6,
                 spans.min() / 1e6, spans.max() / 1e6)
        return blocks
    return read_ld_blocks(spec)


def _features_for(features, h, source):
    """Features aligned with the harmonised variants.

    Arrays given with one row per *reference* variant (the natural alignment for a user who
    knows the panel) are taken at the rows that were kept; arrays with one row per kept
    variant are used as they are; anything else is refused rather than misaligned.
    """
    if features is None or (isinstance(features, FeatureProvider)
                            and not isinstance(features, ArrayFeatures)):
        return features
    features = as_provider(features, None)
    n_rows = features.n_rows
    if n_rows == len(source):
        return take_rows(features, h.reference_rows)
    if n_rows == len(h.table):
        return features
    raise ValueError(f"feature arrays have {n_rows} rows: give one row per variant of the LD "
                     f"reference ({len(source)}) or per matched variant ({len(h.table)}, "
                     "stats.variants), or a provider that reads positions (e.g. BigWigTracks)")


def _settings(window_bp, flank_bp, ld_regularisation, ld_share, eig_rtol, cache_dir,
              ld_blocks="auto", ld_core_size="auto", ld_in_sample=False):
    """The window and LD settings of a constructor, checked before any work is done."""
    from .ld_model import LD_REGULARISATIONS

    if ld_regularisation != "auto" and ld_regularisation not in LD_REGULARISATIONS:
        raise ValueError(f"ld_regularisation must be 'auto' or one of "
                         f"{', '.join(LD_REGULARISATIONS)}, got {ld_regularisation!r}")
    if ld_share != "auto":
        check_scalar("ld_share", ld_share, 0.0, 1.0)
    if isinstance(ld_blocks, str) and ld_blocks not in ("auto", "detect", "none") \
            and not os.path.exists(ld_blocks):
        raise ValueError(f"ld_blocks must be 'auto', 'detect', 'none', None, a BED file or a "
                         f"DataFrame; no file {ld_blocks!r}")
    if not (ld_blocks is None or isinstance(ld_blocks, (str, os.PathLike, pd.DataFrame))):
        raise TypeError(f"ld_blocks: cannot use {type(ld_blocks).__name__}")
    if not (isinstance(ld_core_size, str) and ld_core_size == "auto"):
        if isinstance(ld_core_size, bool) or not isinstance(ld_core_size, numbers.Integral) \
                or ld_core_size < 2:
            raise ValueError(f"ld_core_size must be 'auto' or an integer >= 2, got "
                             f"{ld_core_size!r}")
        ld_core_size = int(ld_core_size)
    if not isinstance(ld_in_sample, (bool, np.bool_)):
        raise TypeError(f"ld_in_sample must be True or False, got {ld_in_sample!r}")
    return dict(window_bp=window_bp, flank_bp=flank_bp, ld_regularisation=ld_regularisation,
                ld_share=ld_share, cache_dir=cache_dir, ld_blocks=ld_blocks,
                ld_core_size=ld_core_size, ld_in_sample=bool(ld_in_sample),
                eig_rtol=check_scalar("eig_rtol", eig_rtol, 0.0, 1.0, hi_open=True))
