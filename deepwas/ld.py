"""LD sources: where the correlation blocks R[rows, cols] of a window come from.

An LD source owns a variant table (``variants``: columns chrom, pos, snp, a1, a2 and, when
known, freq) and answers :meth:`LDSource.block` with dense float64 blocks. Sources never hold
more than the blocks a window needs, so genome-scale panels work window by window.

* :class:`DenseLD` -- an in-memory (M, M) matrix;
* :class:`GenotypeLD` -- reference genotypes (PLINK .bed via bed-reader), standardised per
  variant, missing calls mean-imputed, ``R = X X^T / N_ref``.
"""
from __future__ import annotations

import hashlib
import logging
import os

import numpy as np
import pandas as pd

from .utils.chrom import normalise_chrom

__all__ = ["LDSource", "DenseLD", "StandardisedRowsLD", "GenotypeLD",
           "read_plink_reference"]

log = logging.getLogger(__name__)

VARIANT_COLUMNS = ["chrom", "pos", "snp", "a1", "a2"]


def _hash_arrays(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


class LDSource:
    """Base class of LD sources.

    Subclasses set ``self.variants`` and implement :meth:`block`. They may override
    :meth:`window_key` with something cheaper than hashing the blocks, as long as any change
    of the underlying data changes the key, and :meth:`natural_windows` when the source comes
    cut into windows (UK Biobank LD files).
    """

    variants: pd.DataFrame
    #: people the LD was computed from, when known (a genotype panel); None otherwise
    panel_size = None
    #: attributes that cache loaded data: emptied when the source is pickled (sent to a
    #: precompute worker), which then reads only what its windows need
    _TRANSIENT = ()

    @property
    def noise_panel_sizes(self):
        """The panel sizes whose sampling noise this LD carries: ``(n,)`` for a panel of ``n``
        people, ``()`` when unknown; a pseudo-panel drawn from a panel adds its own size
        (:mod:`deepwas.pseudo_panel`). LD score regression corrects its r^2 for each."""
        return () if self.panel_size is None else (int(self.panel_size),)

    def __getstate__(self):
        state = dict(self.__dict__)
        for name in self._TRANSIENT:
            if name in state:
                state[name] = type(state[name])()
        return state

    def __len__(self):
        return len(self.variants)

    def block(self, rows, cols):  # pragma: no cover - interface
        """Dense float64 array ``R[rows][:, cols]`` (indices into ``self.variants``)."""
        raise NotImplementedError

    def window_key(self, core, ext):
        """Content fingerprint of the LD a window uses (hex string)."""
        return _hash_arrays(self.block(core, core), self.block(ext, core))

    def natural_windows(self):
        """``None`` or a list of (core, ext) index arrays fixed by the source itself."""
        return None

    def precision_rows(self, core, ext):
        """``(b, W)`` when the window's LD is the inverse of a sparse precision block:
        ``R[core, core] = (precision(b)^-1)[W, W]`` (core = extended), for the sparse exact
        likelihood (:mod:`deepwas.precision_windows`); ``None`` (the default) otherwise.
        Cheap: it reads no matrix (window keys ask it for every window)."""
        return None

    def precision(self, b):  # pragma: no cover - interface
        """The sparse precision matrix of block ``b`` (sources with :meth:`precision_rows`)."""
        raise NotImplementedError

    def eigenbasis(self, core, ext, eig_rtol):
        """Kept eigenpairs of R_II and ``G = R_EI U_r lam_r^{-1/2}`` for one window.

        The default eigendecomposes the dense core block; sources with low-rank structure
        (genotypes) override this with something cheaper.

        Returns
        -------
        U_r : ndarray, shape (n, r)
        lam_r : ndarray, shape (r,)
        G : ndarray, shape (m, r)
        """
        from .windows import eigenbasis_from_blocks

        return eigenbasis_from_blocks(self.block(core, core), self.block(ext, core), eig_rtol)

    def subset(self, keep):
        """A source restricted to the variants ``keep`` (sorted indices)."""
        return _SubsetLD(self, np.asarray(keep, dtype=np.int64))


class _SubsetLD(LDSource):
    def __init__(self, parent, keep):
        self.parent = parent
        self.keep = keep
        self.variants = parent.variants.iloc[keep].reset_index(drop=True)

    def __getstate__(self):
        state = dict(self.__dict__)
        if isinstance(self.parent, DenseLD):
            # pickled (a precompute task for a worker): an in-memory parent travels as the kept
            # rows and columns only, not the whole matrix -- the same numbers, so the same
            # window keys and factors
            block = DenseLD.__new__(DenseLD)
            block.R, block.variants = self.parent.R[np.ix_(self.keep, self.keep)], self.variants
            state["parent"], state["keep"] = block, np.arange(len(self.keep))
        return state

    @property
    def panel_size(self):
        return self.parent.panel_size

    @property
    def noise_panel_sizes(self):
        return self.parent.noise_panel_sizes

    def block(self, rows, cols):
        return self.parent.block(self.keep[rows], self.keep[cols])

    def eigenbasis(self, core, ext, eig_rtol):
        return self.parent.eigenbasis(self.keep[core], self.keep[ext], eig_rtol)

    def precision_rows(self, core, ext):
        return self.parent.precision_rows(self.keep[core], self.keep[ext])

    def precision(self, b):
        return self.parent.precision(b)

    def window_key(self, core, ext):
        return self.parent.window_key(self.keep[core], self.keep[ext])

    def natural_windows(self):
        nat = self.parent.natural_windows()
        if nat is None:
            return None
        where = np.full(len(self.parent), -1, dtype=np.int64)
        where[self.keep] = np.arange(len(self.keep))
        out = []
        for core, ext in nat:
            c, e = where[core], where[ext]
            c, e = c[c >= 0], e[e >= 0]
            if len(c):
                out.append((c, e))
        return out


def check_ld_matrix(R, *, name="LD matrix", atol=1e-6):
    """Raise ``ValueError`` unless R is a finite, square, symmetric matrix with unit diagonal."""
    R = np.asarray(R)
    if R.ndim != 2 or R.shape[0] != R.shape[1]:
        raise ValueError(f"{name} must be square, got shape {R.shape}")
    if not np.all(np.isfinite(R)):
        raise ValueError(f"{name} contains NaN or inf entries "
                         f"({int((~np.isfinite(R)).sum())} of them)")
    asym = np.max(np.abs(R - R.T)) if R.size else 0.0
    if asym > atol:
        raise ValueError(f"{name} is not symmetric (max |R - R^T| = {asym:.3g})")
    diag_err = np.max(np.abs(np.diag(R) - 1.0)) if R.size else 0.0
    if diag_err > atol:
        raise ValueError(f"{name} diagonal is not 1 (max |diag - 1| = {diag_err:.3g}); "
                         "pass correlations, not covariances")
    return R


class DenseLD(LDSource):
    """An in-memory LD matrix over all variants.

    Entries between chromosomes are never read. The matrix is validated once (square,
    symmetric, unit diagonal, finite).

    Parameters
    ----------
    R : ndarray, shape (M, M)
    variants : DataFrame, optional
    n_ref : int, optional
        How many people the matrix was computed from (:attr:`panel_size`): what LD blocks
        (``ld_blocks="auto"``), the small-panel share of the LD models and LD score
        regression's r^2 correction need. Unknown (None) means "as large as the GWAS" (the
        LD is treated as in-sample or from a very large panel).
    """

    def __init__(self, R, variants=None, n_ref=None):
        R = np.asarray(R, dtype=np.float64)
        check_ld_matrix(R)
        if n_ref is not None:
            if isinstance(n_ref, bool) or not float(n_ref).is_integer() or int(n_ref) < 4:
                raise ValueError(f"n_ref must be an integer >= 4 (people in the LD panel), "
                                 f"got {n_ref!r}")
            n_ref = int(n_ref)
        self.panel_size = n_ref
        self.R = R
        if variants is None:
            variants = pd.DataFrame({"chrom": ["1"] * len(R), "pos": np.arange(len(R))})
        self.variants = variants.reset_index(drop=True)
        if len(self.variants) != len(R):
            raise ValueError(f"LD matrix has {len(R)} rows but there are "
                             f"{len(self.variants)} variants")

    def block(self, rows, cols):
        return self.R[np.ix_(rows, cols)]


class StandardisedRowsLD(LDSource):
    """LD ``R = X X^T / n_ref`` of people's standardised values ``X`` (one row per variant).

    Subclasses set ``n_ref`` and ``_fingerprint`` and implement :meth:`standardised`: the
    rows of ``X`` (each with mean 0 and mean square 1 over the ``n_ref`` people).
    """

    def standardised(self, rows):  # pragma: no cover - interface
        """``X[rows]``, shape (len(rows), n_ref)."""
        raise NotImplementedError

    @property
    def panel_size(self):
        """Number of people in the panel (``N_ref``)."""
        return self.n_ref

    def block(self, rows, cols):
        rows = np.asarray(rows)
        cols = np.asarray(cols)
        xr = self.standardised(rows)
        xc = xr if rows is cols else self.standardised(cols)
        return xr @ xc.T / self.n_ref

    def window_key(self, core, ext):
        return _hash_arrays(np.frombuffer(self._fingerprint.encode(), dtype=np.uint8),
                            np.asarray(core, dtype=np.int64), np.asarray(ext, dtype=np.int64))

    def eigenbasis(self, core, ext, eig_rtol):
        """Eigenpairs of R_II from the thin SVD of the core's rows of ``X``.

        With ``Xn = X / sqrt(N_ref)`` and ``Xn_I = U S V^T``: ``R_II = U S^2 U^T`` and
        ``G = R_EI U S^{-1} = Xn_E V``, at O(n N_ref^2 + m N_ref r) cost instead of O(n^3)
        for a dense eigendecomposition (n = 4,000 core variants: ~0.1 s instead of ~7 s here).
        """
        scale = 1.0 / np.sqrt(self.n_ref)
        xi = self.standardised(core) * scale
        U, S, Vt = np.linalg.svd(xi, full_matrices=False)
        lam = S * S
        keep = lam > eig_rtol * max(lam.max(initial=0.0), 0.0)
        if not np.any(keep):
            raise ValueError("core genotypes of this window have no variation")
        G = (self.standardised(ext) * scale) @ Vt[keep].T
        return U[:, keep], lam[keep], G


class GenotypeLD(StandardisedRowsLD):
    """LD computed on demand from reference genotypes.

    Parameters
    ----------
    dosages : ndarray, shape (M, N_ref), int8
        Allele counts of ``a1`` (0, 1, 2), ``-127`` for a missing call; one row per variant.
    variants : DataFrame
        The variant table (rows aligned with ``dosages``).
    fingerprint : str, optional
        Identifies the genotype files; defaults to a hash of ``dosages``.

    Notes
    -----
    Each variant is standardised with the reference panel's mean and population standard
    deviation after mean-imputing missing calls, so ``R`` has an exact unit diagonal and rank at
    most ``N_ref - 1``.
    """

    MISSING = -127

    def __init__(self, dosages, variants, fingerprint=None, _moments=None):
        self.dosages = np.asarray(dosages, dtype=np.int8)
        self.variants = variants.reset_index(drop=True)
        if len(self.variants) != len(self.dosages):
            raise ValueError("genotype rows and variant table disagree in length")
        if _moments is None:
            d = self.dosages.astype(np.float64)
            miss = self.dosages == self.MISSING
            d[miss] = 0.0
            n_obs = (~miss).sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = d.sum(1) / n_obs
                dev = np.where(miss, 0.0, d - mean[:, None])
                _moments = (mean, np.sqrt((dev ** 2).sum(1) / self.dosages.shape[1]))
        self.mean, self.std = _moments
        self.n_ref = self.dosages.shape[1]
        self._fingerprint = fingerprint or _hash_arrays(self.dosages)

    def people(self, index):
        """The same variants with LD from some of the people only (e.g. half of a panel).

        Parameters
        ----------
        index : array of int or bool mask
            Columns (people) to keep.

        Returns
        -------
        GenotypeLD
            Moments recomputed from those people; variants that become monomorphic among
            them are flagged in :attr:`monomorphic`.
        """
        index = np.arange(self.n_ref)[np.asarray(index)]
        fp = _hash_arrays(np.frombuffer(self._fingerprint.encode(), dtype=np.uint8),
                          np.frombuffer(b"people", dtype=np.uint8), index)
        return GenotypeLD(self.dosages[:, index], self.variants, fingerprint=fp)

    @property
    def monomorphic(self):
        """Boolean mask of variants with no variation in the reference panel."""
        return ~(self.std > 0)

    def standardised(self, rows):
        d = self.dosages[rows].astype(np.float64)
        miss = self.dosages[rows] == self.MISSING
        x = (d - self.mean[rows, None]) / self.std[rows, None]
        x[miss] = 0.0  # mean imputation, in standardised units
        return x

    def subset(self, keep):
        keep = np.asarray(keep, dtype=np.int64)
        # per-variant moments are row-wise: a subset takes its rows instead of recomputing them
        return GenotypeLD(self.dosages[keep], self.variants.iloc[keep],
                          fingerprint=_hash_arrays(
                              np.frombuffer(self._fingerprint.encode(), dtype=np.uint8), keep),
                          _moments=(self.mean[keep], self.std[keep]))


def _file_digest(path, chunk=1 << 22):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def read_plink_reference(bfile_prefixes):
    """Read PLINK .bed/.bim/.fam files into a :class:`GenotypeLD`.

    Parameters
    ----------
    bfile_prefixes : str or sequence of str
        Prefixes (without extension), e.g. one per chromosome. All must share the same people
        in the same order.

    Returns
    -------
    GenotypeLD
        Dosages count the bim file's first allele (column 5, ``a1``).
    """
    from bed_reader import open_bed

    if isinstance(bfile_prefixes, (str, os.PathLike)):
        bfile_prefixes = [bfile_prefixes]
    tables, dosages, digests, iids = [], [], [], None
    for prefix in bfile_prefixes:
        prefix = str(prefix)
        if prefix.endswith(".bed"):
            prefix = prefix[:-4]
        for ext in (".bed", ".bim", ".fam"):
            if not os.path.exists(prefix + ext):
                raise FileNotFoundError(f"PLINK file not found: {prefix + ext}")
        with open_bed(prefix + ".bed") as bed:
            if iids is None:
                iids = np.asarray(bed.iid)
            elif len(bed.iid) != len(iids) or np.any(np.asarray(bed.iid) != iids):
                raise ValueError(f"{prefix}.fam lists different people than "
                                 f"{bfile_prefixes[0]}.fam")
            g = bed.read(dtype="int8", order="C")  # (N, M), missing -> -127
            tables.append(pd.DataFrame({
                "chrom": normalise_chrom(bed.chromosome),
                "pos": np.asarray(bed.bp_position, dtype=np.int64),
                "snp": np.asarray(bed.sid, dtype=object),
                "a1": pd.Series(bed.allele_1).str.upper().to_numpy(dtype=object),
                "a2": pd.Series(bed.allele_2).str.upper().to_numpy(dtype=object),
            }))
            dosages.append(np.ascontiguousarray(g.T))
        digests.append(_file_digest(prefix + ".bed") + _file_digest(prefix + ".bim"))
    variants = pd.concat(tables, ignore_index=True)
    dos = np.concatenate(dosages, axis=0)
    fp = hashlib.sha256("".join(digests).encode()).hexdigest()
    return GenotypeLD(dos, variants, fingerprint=fp)
