"""SummaryStats: GWAS marginal effects, their LD and features, cut into windows.

One window is one sample for scikit-learn: ``len(stats)`` counts windows, ``stats.groups`` gives
each window's chromosome (so ``GroupKFold`` splits by chromosome) and ``stats[idx]`` keeps some
windows. Slices share the LD source, the features and the cache of window factors, so
cross-validation computes each window's eigendecomposition once.
"""
from __future__ import annotations

import logging
import numbers
import os

import numpy as np
import pandas as pd

from .features.base import ArrayFeatures, FeatureProvider, Features
from .io.alignment import align_alleles
from .ld import DenseLD, GenotypeLD, LDSource, normalise_chrom, read_plink_reference
from .windows import DEFAULT_EIG_RTOL, FactorCache, factors_from_basis, make_windows

__all__ = ["SummaryStats"]

log = logging.getLogger(__name__)


def _chrom_sort_key(c):
    c = str(c)
    return (0, int(c), "") if c.isdigit() else (1, 0, c)


def _genome_order(chrom, pos):
    """Stable permutation sorting variants by (chromosome in natural order, position)."""
    order_of = {c: i for i, c in enumerate(sorted(set(chrom), key=_chrom_sort_key))}
    rank = np.array([order_of[c] for c in chrom], dtype=np.int64)
    return np.lexsort((np.asarray(pos, dtype=np.int64), rank))


def _check_scalar(name, value, lo, hi, lo_open=True, hi_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    ok_lo = value > lo if lo_open else value >= lo
    ok_hi = value < hi if hi_open else value <= hi
    if not (ok_lo and ok_hi):
        rng = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
        raise ValueError(f"{name} must lie in {rng}, got {value!r}")
    return float(value)


def _as_provider(features, n_rows):
    if features is None or isinstance(features, FeatureProvider):
        return features
    if isinstance(features, Features):
        features = ArrayFeatures(func=features.func, pred=features.pred,
                                 func_names=features.func_names or None,
                                 pred_names=features.pred_names or None)
    elif isinstance(features, tuple) and len(features) == 2:
        features = ArrayFeatures(func=features[0], pred=features[1])
    else:
        arr = np.asarray(features)
        features = ArrayFeatures(func=arr) if arr.ndim == 3 else ArrayFeatures(pred=arr)
    if features.n_rows != n_rows:
        raise ValueError(f"features have {features.n_rows} rows but there are {n_rows} variants")
    return features


class _Dataset:
    """State shared by a SummaryStats and all its slices (never modified after creation)."""

    def __init__(self, table, ld, n, sigma2, features, windows, window_chrom, eig_rtol,
                 cache, drop_counts):
        self.table = table
        self.ld = ld
        self.n = n
        self.sigma2 = sigma2
        self.features = features
        self.windows = windows
        self.window_chrom = window_chrom
        self.eig_rtol = eig_rtol
        self.cache = cache
        self.drop_counts = drop_counts
        self.tensors = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["tensors"] = {}
        return state


class SummaryStats:
    """Marginal associations, LD and features of GWAS variants, cut into windows.

    Build it with :meth:`from_arrays`, :meth:`from_plink` or :meth:`from_ld_source`; do not call
    the constructor directly.

    Attributes
    ----------
    variants : pandas.DataFrame
        The variants the selected windows touch (union of their extended sets), genome order:
        ``chrom, pos, snp, a1, a2, freq, beta_hat, row`` (``row`` indexes the full data set).
    windows : list of (ndarray, ndarray)
        (core, extended) index arrays into :attr:`variants`, one per window.
    groups : ndarray of str
        Chromosome of each window.
    n : float
        GWAS sample size N.
    sigma2 : float
        Residual variance of the standardised phenotype (1 - h2 when the phenotype has unit variance).
    drop_counts : dict
        Variants dropped or repaired while building the data, by reason.
    """

    def __init__(self, _data, _selected):
        self._data = _data
        self._selected = np.asarray(_selected, dtype=np.int64)
        union = np.unique(np.concatenate(
            [_data.windows[w][1] for w in self._selected])) if len(self._selected) else np.array([], dtype=np.int64)
        self._rows = union

    # --- construction -----------------------------------------------------------------------
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
        beta_hat = np.asarray(beta_hat, dtype=np.float64).ravel()
        M = len(beta_hat)
        if not np.all(np.isfinite(beta_hat)):
            bad = int((~np.isfinite(beta_hat)).sum())
            raise ValueError(f"beta_hat contains NaN or inf values ({bad} of {M})")
        n = _check_scalar("n (GWAS sample size)", n, 0.0, np.inf, hi_open=True)
        sigma2 = _check_scalar("sigma2", sigma2, 0.0, 1.0)
        chrom = normalise_chrom(chrom)
        pos = np.asarray(pos)
        lengths = {"beta_hat": M, "chrom": len(chrom), "pos": len(pos)}
        for name, arr in (("freq", freq), ("snp", snp), ("a1", a1), ("a2", a2)):
            if arr is not None:
                lengths[name] = len(arr)
        if isinstance(ld, LDSource):
            lengths["ld"] = len(ld)
        else:
            ld = np.asarray(ld, dtype=np.float64)
            if ld.ndim != 2 or ld.shape[0] != ld.shape[1]:
                raise ValueError(f"LD matrix must be square, got shape {ld.shape}")
            lengths["ld"] = ld.shape[0]
        if len(set(lengths.values())) != 1:
            raise ValueError(f"lengths disagree: {lengths}")
        if not np.issubdtype(pos.dtype, np.integer):
            if not np.all(np.isfinite(pos.astype(float))) or np.any(pos.astype(float) % 1):
                raise ValueError("pos must hold integer base-pair positions")
        pos = pos.astype(np.int64)
        if freq is not None:
            freq = np.asarray(freq, dtype=np.float64)
            if not np.all((freq >= 0) & (freq <= 1)):
                raise ValueError("freq must lie in [0, 1] (NaN not allowed)")
        else:
            freq = np.full(M, np.nan)
        table = pd.DataFrame({
            "chrom": chrom, "pos": pos,
            "snp": np.asarray(snp, dtype=object) if snp is not None else np.array([f"{c}:{p}" for c, p in zip(chrom, pos)], dtype=object),
            "a1": np.asarray(a1, dtype=object) if a1 is not None else np.full(M, "N", dtype=object),
            "a2": np.asarray(a2, dtype=object) if a2 is not None else np.full(M, "N", dtype=object),
            "freq": freq, "beta_hat": beta_hat,
        })
        source = ld if isinstance(ld, LDSource) else DenseLD(ld, table[["chrom", "pos"]])
        features = _as_provider(features, M)
        order = _genome_order(chrom, pos)
        if np.any(order != np.arange(M)):
            table = table.iloc[order].reset_index(drop=True)
            source = source.subset(order)
            if isinstance(features, ArrayFeatures):
                features = ArrayFeatures(
                    func=None if features.func is None else features.func[order],
                    pred=None if features.pred is None else features.pred[order],
                    func_names=features.func_names, pred_names=features.pred_names)
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
            GWAS sample size; overrides any N column.
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
        sigma2 = _check_scalar("sigma2", sigma2, 0.0, 1.0)
        ss = _standard_sumstats(sumstats, n)
        ref = source.variants
        counts = dict(ss.attrs.get("dropped", {}))

        dup = ss["SNP"].duplicated(keep=False)
        counts["duplicate_snp"] = counts.get("duplicate_snp", 0) + int(dup.sum())
        ss = ss[~dup]
        ref_dup = ref["snp"].duplicated(keep=False).to_numpy()
        counts["duplicate_snp_in_reference"] = int(ref_dup.sum())

        ref_pos = pd.Series(np.flatnonzero(~ref_dup), index=ref["snp"].to_numpy()[~ref_dup])
        ss = ss.assign(_ref=ss["SNP"].map(ref_pos))
        counts["not_in_reference"] = int(ss["_ref"].isna().sum())
        ss = ss[ss["_ref"].notna()]
        if len(ss) == 0:
            raise ValueError("the summary statistics share no SNP identifier with the LD "
                             f"reference ({len(ref)} reference variants, e.g. "
                             f"{list(ref['snp'][:3])}); check the SNP column and the build")
        ridx = ss["_ref"].to_numpy(dtype=np.int64)
        sign, acounts = align_alleles(ss["A1"], ss["A2"], ref["a1"].to_numpy()[ridx],
                                      ref["a2"].to_numpy()[ridx], keep_ambiguous=keep_ambiguous)
        counts.update(acounts)
        keep = sign != 0
        mono = np.zeros(len(ref), dtype=bool)
        if isinstance(source, GenotypeLD):
            mono = source.monomorphic
        counts["monomorphic_in_reference"] = int(mono[ridx[keep]].sum())
        keep &= ~mono[ridx]
        ss, ridx, sign = ss[keep], ridx[keep], sign[keep]
        if len(ss) == 0:
            raise ValueError("no SNP left after allele alignment against the reference "
                             f"(drops: {counts})")
        order = np.argsort(ridx, kind="stable")
        ss, ridx, sign = ss.iloc[order], ridx[order], sign[order]
        counts["reference_unused"] = int(len(ref) - len(ridx))
        beta_hat = sign * ss["Z"].to_numpy(dtype=np.float64) / np.sqrt(ss["N"].to_numpy(dtype=np.float64))
        n_scalar = float(np.median(ss["N"].to_numpy(dtype=np.float64)))
        if "FREQ" in ss:
            f = ss["FREQ"].to_numpy(dtype=np.float64)
            freq = np.where(sign > 0, f, 1.0 - f)
        elif isinstance(source, GenotypeLD):
            freq = source.mean[ridx] / 2.0
        elif "freq" in ref:
            freq = ref["freq"].to_numpy(dtype=np.float64)[ridx]
        else:
            freq = np.full(len(ridx), np.nan)
        sub = source.subset(ridx)
        table = pd.DataFrame({
            "chrom": sub.variants["chrom"].to_numpy(dtype=object),
            "pos": sub.variants["pos"].to_numpy(dtype=np.int64),
            "snp": sub.variants["snp"].to_numpy(dtype=object),
            "a1": sub.variants["a1"].to_numpy(dtype=object),
            "a2": sub.variants["a2"].to_numpy(dtype=object),
            "freq": freq, "beta_hat": beta_hat,
        })
        if not np.all(np.isfinite(beta_hat)):
            raise ValueError("beta_hat contains NaN or inf values after alignment")
        order = _genome_order(table["chrom"].to_numpy(), table["pos"].to_numpy())
        if np.any(order != np.arange(len(order))):
            table = table.iloc[order].reset_index(drop=True)
            sub = sub.subset(order)
        kept = {k: v for k, v in counts.items() if v}
        log.info("aligned %d SNPs to the LD reference; dropped/repaired: %s", len(table), kept)
        if any(v for k, v in counts.items() if k not in ("flipped", "strand_flipped")):
            log.warning("summary statistics: %d SNPs kept; %s", len(table),
                        ", ".join(f"{k}={v}" for k, v in kept.items()))
        return cls._build(table, sub, n_scalar, sigma2, _as_provider(features, len(table)),
                          window_bp, flank_bp, eig_rtol, cache_dir, counts)

    @classmethod
    def _build(cls, table, source, n, sigma2, features, window_bp, flank_bp, eig_rtol,
               cache_dir, drop_counts):
        natural = source.natural_windows()
        if natural is not None:
            windows = [(np.asarray(c, dtype=np.int64), np.asarray(e, dtype=np.int64))
                       for c, e in natural]
            wchrom = np.array([table["chrom"].iat[int(c[0])] for c, _ in windows], dtype=object)
        else:
            windows, wchrom = make_windows(table["chrom"].to_numpy(), table["pos"].to_numpy(),
                                           window_bp, flank_bp)
        if not windows:
            raise ValueError("no window holds any variant")
        eig_rtol = _check_scalar("eig_rtol", eig_rtol, 0.0, 1.0, hi_open=True)
        data = _Dataset(table, source, n, sigma2, features, windows, wchrom, eig_rtol,
                        FactorCache(cache_dir), drop_counts)
        return cls(data, np.arange(len(windows)))

    def with_beta_hat(self, beta_hat, *, n=None, sigma2=None, features=None):
        """A new data set with the same variants, LD and windows but new marginal effects.

        Parameters
        ----------
        beta_hat : array-like, shape (n_variants,)
            Aligned with :attr:`variants`.
        n, sigma2 : float, optional
            Replace the sample size / residual variance.
        features : optional
            Replace the features (arrays aligned with :attr:`variants`, or a provider).

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
        table = self.variants.drop(columns="row").assign(beta_hat=beta_hat)
        if features is None:
            features = d.features
            if isinstance(features, ArrayFeatures):
                features = ArrayFeatures(
                    func=None if features.func is None else features.func[self._rows],
                    pred=None if features.pred is None else features.pred[self._rows],
                    func_names=features.func_names, pred_names=features.pred_names)
            elif features is not None:
                features = _RowRemap(features, self._rows)
        else:
            features = _as_provider(features, self.n_variants)
        n = d.n if n is None else _check_scalar("n (GWAS sample size)", n, 0.0, np.inf, hi_open=True)
        sigma2 = d.sigma2 if sigma2 is None else _check_scalar("sigma2", sigma2, 0.0, 1.0)
        data = _Dataset(table, d.ld.subset(self._rows), n, sigma2, features, self.windows,
                        self.groups.copy(), d.eig_rtol, FactorCache(d.cache.cache_dir),
                        dict(d.drop_counts))
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
                raise IndexError(f"cannot index windows with {type(idx).__name__} of dtype {arr.dtype}")
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
    def drop_counts(self):
        return dict(self._data.drop_counts)

    @property
    def n_variants(self):
        return len(self._rows)

    @property
    def variants(self):
        v = self._data.table.iloc[self._rows].reset_index(drop=True)
        v["row"] = self._rows
        return v

    @property
    def windows(self):
        out = []
        for w in self._selected:
            core, ext = self._data.windows[w]
            out.append((np.searchsorted(self._rows, core), np.searchsorted(self._rows, ext)))
        return out

    @property
    def window_ids(self):
        """Indices of the selected windows in the full data set."""
        return self._selected.copy()

    def get_features(self, idx=None):
        """Features of some rows of :attr:`variants` (all rows by default).

        Returns
        -------
        Features or None
        """
        if self._data.features is None:
            return None
        v = self.variants if idx is None else self.variants.iloc[np.asarray(idx)]
        return self._data.features.get(v.reset_index(drop=True))

    # --- LD and precompute --------------------------------------------------------------------
    def _global_window(self, k):
        return self._data.windows[self._selected[k]]

    def ld_block(self, k):
        """Dense LD blocks ``(R_II, R_EI)`` of window ``k`` (float64)."""
        core, ext = self._global_window(k)
        return self._data.ld.block(core, core), self.ld_ext_core(k)

    def ld_ext_core(self, k):
        """Dense LD block ``R_EI`` (extended x core) of window ``k`` (float64)."""
        core, ext = self._global_window(k)
        return self._data.ld.block(ext, core)

    def window_factors(self, k):
        """The theta-free factors of window ``k`` (computed once, then cached)."""
        d = self._data
        core, ext = self._global_window(k)
        beta_I = d.table["beta_hat"].to_numpy()[core]
        key = FactorCache.make_key(d.ld.window_key(core, ext), beta_I.tobytes(), repr(d.eig_rtol))

        def compute():
            U_r, lam_r, G = d.ld.eigenbasis(core, ext, d.eig_rtol)
            return factors_from_basis(U_r, lam_r, G, beta_I, len(core))

        return d.cache.get(key, compute)

    def precompute(self, progress=False):
        """Compute (or load) the factors of every selected window now.

        Returns
        -------
        self
        """
        it = range(len(self))
        if progress:
            from tqdm.auto import tqdm
            it = tqdm(it, desc="precompute windows", unit="window")
        for k in it:
            self.window_factors(k)
        return self

    def window_tensors(self, k, device=None, dtype=None):
        """Factors of window ``k`` as torch tensors (``G``, ``y``) plus scalars.

        Tensors are kept per (device, dtype) so repeated training steps do not copy them.
        """
        import torch

        dtype = torch.float64 if dtype is None else dtype
        device = torch.device("cpu" if device is None else device)
        wf = self.window_factors(k)
        key = (id(wf), str(device), str(dtype))
        hit = self._data.tensors.get(key)
        if hit is None:
            hit = _WindowTensors(torch.as_tensor(_flush_tiny(wf.G, dtype), dtype=dtype, device=device),
                                 torch.as_tensor(wf.y, dtype=dtype, device=device),
                                 wf.q, wf.logdet_R, wf.rank, wf.n_core)
            self._data.tensors[key] = hit
        return hit


def _flush_tiny(G, dtype):
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


class _WindowTensors:
    __slots__ = ("G", "y", "q", "logdet_R", "rank", "n_core")

    def __init__(self, G, y, q, logdet_R, rank, n_core):
        self.G, self.y, self.q, self.logdet_R, self.rank, self.n_core = G, y, q, logdet_R, rank, n_core


class _RowRemap(FeatureProvider):
    """A provider seen through a subset of rows (keeps ``row`` pointing at the parent)."""

    def __init__(self, parent, rows):
        self.parent, self.rows = parent, np.asarray(rows)
        for a in ("d_func", "width", "d_pred", "func_names", "pred_names"):
            setattr(self, a, getattr(parent, a))

    def get(self, variants):
        v = variants.copy()
        v["row"] = self.rows[np.asarray(variants["row"], dtype=np.int64)]
        return self.parent.get(v)


def _standard_sumstats(sumstats, n):
    """Summary statistics as a DataFrame with SNP, A1, A2, Z, N (+ FREQ) columns."""
    if isinstance(sumstats, (str, os.PathLike)):
        from .io import read_sumstats

        df = read_sumstats(sumstats, n=n)
    elif isinstance(sumstats, pd.DataFrame):
        df = sumstats.copy()
        df.columns = [str(c).upper() for c in df.columns]
    else:
        raise TypeError(f"sumstats must be a path or a DataFrame, got {type(sumstats).__name__}")
    missing = [c for c in ("SNP", "A1", "A2") if c not in df]
    if missing:
        raise ValueError(f"summary statistics lack column(s) {missing}; have {list(df.columns)}")
    if "Z" not in df:
        if "BETA" in df and "SE" in df:
            df["Z"] = df["BETA"] / df["SE"]
        else:
            raise ValueError("summary statistics need a Z column or BETA and SE columns")
    if n is not None and not isinstance(sumstats, (str, os.PathLike)):
        # read_sumstats already applied n (for BOLT-LMM it turns n into an effective N)
        df["N"] = _check_scalar("n (GWAS sample size)", n, 0.0, np.inf, hi_open=True)
    if "N" not in df:
        raise ValueError("summary statistics have no N column: pass n= (the GWAS sample size)")
    nn = pd.to_numeric(df["N"], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(nn) & (nn > 0)):
        raise ValueError("N must be a positive finite sample size for every SNP")
    z = pd.to_numeric(df["Z"], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(z)
    if bad.any():
        raise ValueError(f"Z (or BETA/SE) is NaN or inf for {int(bad.sum())} SNPs, e.g. "
                         f"{list(df['SNP'][bad][:3])}")
    df["SNP"] = df["SNP"].astype(str)
    df["A1"] = df["A1"].astype(str).str.upper()
    df["A2"] = df["A2"].astype(str).str.upper()
    return df
