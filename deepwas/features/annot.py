"""Annotations as scalar predictors (C_pred): S-LDSC ``.annot`` files and BED regions.

* :class:`AnnotFeatures` -- S-LDSC ``.annot(.gz)`` files: ``CHR BP SNP CM`` then one column per
  annotation, one file per chromosome, named with ldsc's ``@`` placeholder
  (``baselineLD.@.annot.gz``: ``@`` is replaced by each chromosome and only the chromosomes a
  request needs are read); *thin* files (ldsc ``--thin-annot``: annotation columns only, rows
  in the order of the matching PLINK ``.bim``) with ``bim=``.
* :class:`BedAnnotations` -- BED files as binary annotations, as ldsc's ``make_annot.py``
  builds them: 1 for a variant inside one of the file's intervals (optionally widened by
  ``window_bp``), else 0. The interval join is bioframe's (open2c; pandas-native, pure Python:
  no compiled extension and no bedtools binary to install, unlike pyranges' ncls or
  pybedtools).

Coordinates: BED intervals are 0-based, half-open; a variant at 1-based position ``p`` is in
``[start, end)`` when ``start <= p - 1 < end``. Annotation files and BED files must be on the
build of the variants' positions (the LD reference's).
"""
from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd

from ..utils.chrom import normalise_chrom
from ..utils.text import listed_twice
from .base import FeatureProvider, Features, FeatureSet

__all__ = ["AnnotFeatures", "BedAnnotations", "annotation_features", "read_bed",
           "expand_chrom_pattern", "is_bed_path", "BED_SUFFIXES"]

log = logging.getLogger(__name__)

_ID_COLUMNS = ("CHR", "BP", "SNP", "CM")
#: file names read as BED files
BED_SUFFIXES = (".bed", ".bed.gz")
#: chromosomes tried for an ``@`` placeholder, in ldsc's order
_CHROMS = [str(c) for c in range(1, 23)] + ["X", "Y"]


@contextmanager
def _quiet_bioframe():
    """bioframe 0.8 calls pandas APIs that pandas 3.1 marks for removal in pandas 4; those
    deprecation warnings are bioframe's to fix, not the user's to read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"bioframe(\.|$)")
        yield


def expand_chrom_pattern(path, chromosomes=None):
    """``{chrom: file}`` for a path with ldsc's ``@`` chromosome placeholder (files that
    exist), or ``{None: path}`` without one."""
    path = os.fspath(path)
    if "@" not in path:
        return {None: path}
    chroms = _CHROMS if chromosomes is None else list(normalise_chrom(list(chromosomes)))
    out = {c: path.replace("@", c) for c in chroms if os.path.isfile(path.replace("@", c))}
    if not out:
        raise FileNotFoundError(f"no file matches {path} ('@' = chromosome "
                                f"{', '.join(chroms[:3])} ...)")
    return out


def is_bed_path(path):
    """Whether ``path`` names a BED file (by its suffix)."""
    return isinstance(path, (str, os.PathLike)) and \
        os.fspath(path).lower().endswith(BED_SUFFIXES)


def _annotation_columns(path):
    """The annotation columns of an ``.annot`` path (its first file for an ``@`` pattern)."""
    first = next(iter(expand_chrom_pattern(path).values()))
    if not os.path.isfile(first):
        raise FileNotFoundError(f"annotation file not found: {first}")
    header = pd.read_csv(first, sep=r"\s+", nrows=0, compression="infer").columns
    return tuple(c for c in header if c not in _ID_COLUMNS)


def _read_bim(path):
    bim = pd.read_csv(path, sep=r"\s+", header=None, dtype={0: str, 1: str})
    if bim.shape[1] < 4:
        raise ValueError(f"{path}: not a PLINK .bim file")
    return pd.DataFrame({"CHR": normalise_chrom(bim[0]), "SNP": bim[1].astype(str),
                         "BP": bim[3].astype(np.int64)})


class AnnotFeatures(FeatureProvider):
    """Annotation columns of S-LDSC ``.annot(.gz)`` files (module docstring).

    Parameters
    ----------
    paths : str or sequence of str
        Files with the columns CHR BP SNP CM followed by annotations (e.g.
        ``baselineLD.@.annot.gz`` for one file per chromosome, or explicit paths). All must
        have the same annotations.
    columns : sequence of str, optional
        Annotations to keep (default: all).
    bim : str or DataFrame, optional
        For thin annotation files (no SNP column): the PLINK ``.bim`` file(s) their rows
        follow, with ``@`` when the annotations have one (``1000G.EUR.QC.@.bim``), or a table
        with a SNP column (and CHR, BP) aligned row by row with a single file.

    Notes
    -----
    Variants are matched by rsID, then, where the files give CHR and BP, by position.
    Variants absent from the files get 0 for every annotation (S-LDSC's convention for a
    SNP outside an annotation). An rsID listed twice keeps its first row (warned, with
    examples of such rsIDs). Constant columns
    such as ``base`` (all 1) carry no information once features are standardised; drop them
    with ``columns`` if the normalisation step does not.
    """

    def __init__(self, paths, columns=None, bim=None):
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        self._files = []                      # (chrom or None, annot path, bim path or None)
        for p in paths:
            p = os.fspath(p)
            files = expand_chrom_pattern(p)
            if "@" not in p and not os.path.isfile(p):
                raise FileNotFoundError(f"annotation file not found: {p}")
            bims = None
            if isinstance(bim, (str, os.PathLike)):
                bims = expand_chrom_pattern(bim)
            for c, f in files.items():
                b = None
                if bims is not None:
                    b = bims.get(c) if c is not None else next(iter(bims.values()))
                    if b is None:
                        raise FileNotFoundError(f"no .bim for chromosome {c} ({bim})")
                self._files.append((c, f, b))
        self._bim_table = bim if isinstance(bim, pd.DataFrame) else None
        names = list(_annotation_columns(self._files[0][1]))
        if columns is not None:
            missing = [c for c in columns if c not in names]
            if missing:
                raise ValueError(f"annotations not found: {missing}")
            names = list(columns)
        self.pred_names = list(names)
        self.d_pred = len(names)
        self._loaded = {}                     # file -> (snp index, chrom:pos index, values)
        # files without a chromosome in their name are read now (the former behaviour)
        for c, f, b in self._files:
            if c is None:
                self._load(f, b)

    def _load(self, path, bim):
        if path in self._loaded:
            return self._loaded[path]
        df = pd.read_csv(path, sep=r"\s+", compression="infer")
        ann = [c for c in df.columns if c not in _ID_COLUMNS]
        missing = [c for c in self.pred_names if c not in ann]
        if missing:
            raise ValueError(f"{path}: annotation columns differ from {self._files[0][1]} "
                             f"(missing {missing[:5]})")
        if "SNP" not in df.columns:
            ids = self._bim_table if bim is None else _read_bim(bim)
            if ids is None:
                raise ValueError(f"{path}: a thin annotation file (no CHR BP SNP CM columns): "
                                 "give bim= (the PLINK .bim files its rows follow, with '@' "
                                 "for the chromosome)")
            if len(ids) != len(df):
                raise ValueError(f"{path} has {len(df)} rows but its .bim has {len(ids)}: a thin "
                                 "annotation must follow the .bim row by row")
            for c in ("CHR", "BP", "SNP"):
                if c in ids:
                    df[c] = ids[c].to_numpy()
        msg = listed_twice(df["SNP"])
        if msg:
            warnings.warn(f"{path}: {msg}: the first row of each is used", UserWarning,
                          stacklevel=3)
        df = df.drop_duplicates("SNP", keep="first")
        vals = df[self.pred_names].to_numpy(dtype=np.float32)
        if not np.all(np.isfinite(vals)):
            raise ValueError(f"{path}: annotation values contain NaN or inf")
        snp_index = pd.Index(df["SNP"].astype(str))
        pos_index = None
        if "CHR" in df and "BP" in df:
            keys = pd.Series(normalise_chrom(df["CHR"].astype(str))) + ":" + \
                df["BP"].astype(np.int64).astype(str).to_numpy()
            dup = keys.duplicated(keep="first").to_numpy()
            pos_index = (pd.Index(keys.to_numpy()[~dup]), np.flatnonzero(~dup))
        self._loaded[path] = (snp_index, pos_index, vals)
        return self._loaded[path]

    def get(self, variants):
        pred, found = self._match(variants, values=True)
        log.info("annotations: %d of %d variants found", int(found.sum()), len(found))
        return Features(pred=pred, pred_names=self.pred_names)

    def found(self, variants, restrict=False):
        """Boolean mask of the ``variants`` the files list (the others get 0 from :meth:`get`).

        With ``restrict=True`` the rows of the files that match none of ``variants`` are
        then dropped from memory, file by file as each is read: a genome's annotation files
        (baselineLD lists ~10 million SNPs, 4 GB as float32) then take the memory of the
        data's variants. Only for a provider that will be asked about these variants alone:
        any other variant of a file already read is then not found (0).
        """
        return self._match(variants, values=False, restrict=restrict)[1]

    @property
    def paths(self):
        """The annotation files, as given (``@`` patterns expanded to the files found)."""
        return [f for _, f, _ in self._files]

    def _match(self, variants, values, restrict=False):
        """``(pred, found)``: the annotation values of ``variants`` (None unless ``values``:
        a genome's variants x annotations is not built to count them) and which were found."""
        n = len(variants)
        pred = np.zeros((n, self.d_pred), dtype=np.float32) if values else None
        found = np.zeros(n, dtype=bool)
        chrom = normalise_chrom(pd.Series(variants["chrom"]).astype(str))
        snp = pd.Series(variants["snp"]).astype(str).to_numpy()
        keys = pd.Series(chrom).astype(str) + ":" + \
            pd.Series(variants["pos"]).astype(np.int64).astype(str).to_numpy() \
            if "pos" in variants else None
        for c, f, b in self._files:
            sel = np.ones(n, dtype=bool) if c is None else (chrom == c)
            sel &= ~found
            if not sel.any():
                continue
            snp_index, pos_index, vals = self._load(f, b)
            at = snp_index.get_indexer(snp[sel])
            if pos_index is not None and keys is not None and np.any(at < 0):
                miss = at < 0
                j = pos_index[0].get_indexer(keys.to_numpy()[sel][miss])
                at[miss] = np.where(j >= 0, pos_index[1][np.maximum(j, 0)], -1)
            rows = np.flatnonzero(sel)
            ok = at >= 0
            if values:
                pred[rows[ok]] = vals[at[ok]]
            found[rows[ok]] = True
            if restrict:
                self._keep_rows(f, np.unique(at[ok]))
        return pred, found

    def _keep_rows(self, path, keep):
        """Keep only rows ``keep`` (sorted) of a loaded file."""
        snp_index, pos_index, vals = self._loaded[path]
        if pos_index is not None:
            keys, rows = pos_index
            at = np.minimum(np.searchsorted(keep, rows), max(len(keep) - 1, 0))
            hit = keep[at] == rows if len(keep) else np.zeros(len(rows), dtype=bool)
            pos_index = (keys[hit], at[hit])
        self._loaded[path] = (snp_index[keep], pos_index, vals[keep])


def read_bed(path, window_bp=0):
    """A BED file as a DataFrame ``chrom start end`` (0-based, half-open), chromosomes without
    a ``chr`` prefix, intervals widened by ``window_bp`` on each side and merged.

    ``track``/``browser``/``#`` lines are skipped; plain or gzip.
    """
    import bioframe

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"BED file not found: {path}")
    import gzip
    import io

    with open(path, "rb") as fh:
        opener = gzip.open if fh.read(2) == b"\x1f\x8b" else open
    with opener(path, "rt") as fh:
        lines = [ln for ln in fh if ln.strip() and not ln.startswith(("#", "track", "browser"))]
    bed = pd.read_csv(io.StringIO("".join(lines)), sep="\t", header=None, usecols=[0, 1, 2],
                      dtype={0: str}) if lines else pd.DataFrame({0: [], 1: [], 2: []})
    try:
        bed = pd.DataFrame({"chrom": normalise_chrom(bed[0]),
                            "start": pd.to_numeric(bed[1]).astype(np.int64),
                            "end": pd.to_numeric(bed[2]).astype(np.int64)})
    except (ValueError, TypeError) as e:
        raise ValueError(f"{path}: not a BED file (chrom, start, end tab-separated): {e}") from e
    if (bed["end"] < bed["start"]).any() or (bed["start"] < 0).any():
        raise ValueError(f"{path}: intervals with end < start or negative start")
    if window_bp:
        bed["start"] = np.maximum(bed["start"] - int(window_bp), 0)
        bed["end"] = bed["end"] + int(window_bp)
    with _quiet_bioframe():
        return bioframe.merge(bed)[["chrom", "start", "end"]]


class BedAnnotations(FeatureProvider):
    """BED files as binary annotations (ldsc ``make_annot.py``): one column per file, 1 where
    the variant lies in one of its intervals.

    Parameters
    ----------
    beds : str or sequence of str
        BED files (tab-separated; the first three columns are used).
    names : sequence of str, optional
        Annotation names (default: the file names without ``.bed``/``.gz``).
    window_bp : int, default 0
        Widen every interval by this many bp on each side (ldsc's ``--windowsize``).
    """

    def __init__(self, beds, names=None, window_bp=0):
        if isinstance(beds, (str, os.PathLike)):
            beds = [beds]
        beds = [os.fspath(b) for b in beds]
        self.beds = [read_bed(b, window_bp) for b in beds]
        if names is None:
            names = []
            for b in beds:
                base = os.path.basename(b)
                for ext in (".gz", ".bed"):
                    if base.endswith(ext):
                        base = base[:-len(ext)]
                names.append(base)
        if len(names) != len(beds):
            raise ValueError(f"{len(names)} names for {len(beds)} BED files")
        self.pred_names = list(names)
        self.d_pred = len(beds)
        self.window_bp = int(window_bp)

    def get(self, variants):
        import bioframe

        pos = pd.Series(variants["pos"]).to_numpy(dtype=np.int64)
        pts = pd.DataFrame({"chrom": normalise_chrom(pd.Series(variants["chrom"]).astype(str)),
                            "start": pos - 1, "end": pos})
        pred = np.zeros((len(pts), self.d_pred), dtype=np.float32)
        for k, bed in enumerate(self.beds):
            if len(pts) == 0 or len(bed) == 0:
                continue
            with _quiet_bioframe():
                hit = bioframe.overlap(pts, bed, how="inner", return_index=True,
                                       return_input=False)
            rows = pd.unique(hit["index"].to_numpy(dtype=np.int64))
            pred[rows, k] = 1.0
        return Features(pred=pred, pred_names=self.pred_names)


def annotation_features(paths, bim=None, bed_window=0):
    """Annotation files as scalar predictors: one provider for S-LDSC ``.annot`` files and
    BED files side by side, as a prior's features.

    ``.annot(.gz)`` paths with the same annotation columns (one per chromosome, or one ``@``
    pattern) make one :class:`AnnotFeatures`, in the order first given; BED files
    (:data:`BED_SUFFIXES`) one :class:`BedAnnotations` after them (one 0/1 column per file).

    Parameters
    ----------
    paths : sequence of str
        ``.annot(.gz)`` files or patterns and/or BED files.
    bim : str, optional
        The PLINK ``.bim`` file(s) thin ``.annot`` files follow (:class:`AnnotFeatures`).
    bed_window : int, default 0
        Widen every BED interval by this many bp on each side.

    Returns
    -------
    FeatureSet

    Raises
    ------
    FileNotFoundError
        For a file (or an ``@`` pattern matching none) that does not exist.
    ValueError
        When two files give an annotation of the same name: the fitted coefficients and the
        heritability table could not tell them apart.
    """
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike))
                                    else paths)]
    groups = {}                                 # annotation columns -> paths, in given order
    for p in paths:
        if not is_bed_path(p):
            groups.setdefault(_annotation_columns(p), []).append(p)
    parts = [AnnotFeatures(ps, bim=bim) for ps in groups.values()]
    beds = [p for p in paths if is_bed_path(p)]
    if beds:
        parts.append(BedAnnotations(beds, window_bp=bed_window))
    msg = listed_twice([n for part in parts for n in part.pred_names], what="annotation names")
    if msg:
        raise ValueError(f"annotations must have names unique across the files: {msg} "
                         f"({', '.join(paths)})")
    return FeatureSet(parts)
