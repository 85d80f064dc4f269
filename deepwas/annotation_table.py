"""Annotations for partitioned heritability, aligned with a data set's variants.

What :func:`deepwas.heritability.partitioned_h2` accepts as annotations, alone or several in
a list (their columns side by side):

* S-LDSC ``.annot(.gz)`` files (``CHR BP SNP CM`` + annotation columns; ``@`` stands for the
  chromosome), joined on SNP; files with the same annotation columns (one per chromosome) are
  stacked, files with other columns are joined beside them;
* BED files (``.bed``, ``.bed.gz``): one binary column per file, named by the file
  (:class:`deepwas.features.BedAnnotations`, as ldsc's ``make_annot.py`` builds them);
* a feature provider (:class:`~deepwas.features.BedAnnotations`,
  :class:`~deepwas.features.AnnotFeatures`, ...): its scalar predictors, as it gives them for
  every variant (``AnnotFeatures`` gives 0 for a variant its files do not list; pass its
  ``.annot`` paths instead to leave such variants out);
* a DataFrame with a ``SNP`` column (joined on it) or one row per variant.

A SNP listed twice is an error that names examples of it; variants a file or table does not
list are *not covered* (NaN), and left out by the caller.
"""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from .features.annot import BedAnnotations, expand_chrom_pattern, is_bed_path
from .features.base import FeatureProvider
from .utils.text import listed_twice

__all__ = ["read_annotations", "align_annotations", "is_bed_path"]

_ID = ("CHR", "BP", "SNP", "CM")


def _read_one(path):
    parts = [pd.read_csv(f, sep=r"\s+", compression="infer")
             for f in expand_chrom_pattern(path).values()]
    df = pd.concat(parts, ignore_index=True)
    if "SNP" not in df:
        raise ValueError(f"{path}: an .annot file needs a SNP column")
    return df.drop(columns=[c for c in ("CHR", "BP", "CM") if c in df])


def read_annotations(paths):
    """S-LDSC ``.annot(.gz)`` files as one DataFrame with a ``SNP`` column.

    Files with the same annotation columns (one per chromosome, or ``@`` for the chromosome)
    are stacked; files with other columns are joined on SNP. A SNP listed twice raises
    ``ValueError`` naming the files and examples of such SNPs.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    groups = {}                                 # annotation columns -> (files, tables)
    for p in paths:
        df = _read_one(p)
        files, tables = groups.setdefault(tuple(df.columns), ([], []))
        files.append(os.fspath(p))
        tables.append(df)
    out = None
    for files, tables in groups.values():
        df = pd.concat(tables, ignore_index=True)
        msg = listed_twice(df["SNP"])
        if msg:
            raise ValueError(f"{', '.join(files)}: {msg}: one row per SNP is needed")
        out = df if out is None else out.merge(df, on="SNP", how="outer")
    return out


def _align_table(annotations, variants):
    snp_col = next((c for c in annotations.columns if str(c).upper() == "SNP"), None)
    names = [c for c in annotations.columns if str(c).upper() not in _ID]
    if not names:
        raise ValueError("annotations have no annotation column (only CHR/BP/SNP/CM)")
    values = annotations[names].apply(pd.to_numeric, errors="coerce")
    if snp_col is not None:
        keys = annotations[snp_col].astype(str)
        msg = listed_twice(keys)
        if msg:
            raise ValueError(f"annotations: {msg}: one row per SNP is needed")
        at = pd.Index(keys).get_indexer(variants["snp"].astype(str))
        A = np.full((len(variants), len(names)), np.nan)
        A[at >= 0] = values.to_numpy(dtype=np.float64)[at[at >= 0]]
    elif len(annotations) == len(variants):
        A = values.to_numpy(dtype=np.float64)
    else:
        raise ValueError(f"annotations without a SNP column must have one row per variant "
                         f"({len(variants)}), got {len(annotations)}")
    return A, [str(n) for n in names]


def _align_provider(provider, variants):
    feats = provider.get(variants.reset_index(drop=True))
    if feats is None or feats.pred is None:
        raise ValueError(f"{type(provider).__name__} gives no scalar annotations (pred) to "
                         "partition h2 by")
    names = list(feats.pred_names) or [f"pred{i}" for i in range(feats.pred.shape[1])]
    return np.asarray(feats.pred, dtype=np.float64), [str(n) for n in names]


def _parts(annotations):
    """The annotation sources in order: BED paths become one BedAnnotations, .annot paths
    one read_annotations table, each where its first file stood."""
    items = list(annotations) if isinstance(annotations, (list, tuple)) else [annotations]
    is_path = [isinstance(p, (str, os.PathLike)) for p in items]
    beds = [p for p, f in zip(items, is_path) if f and is_bed_path(p)]
    annots = [p for p, f in zip(items, is_path) if f and not is_bed_path(p)]
    out = []
    for k, item in enumerate(items):
        if is_path[k]:
            bed = is_bed_path(item)
            first = not any(is_path[j] and is_bed_path(items[j]) == bed for j in range(k))
            if first:
                out.append(BedAnnotations(beds) if bed else read_annotations(annots))
        elif isinstance(item, (pd.DataFrame, FeatureProvider)):
            out.append(item)
        else:
            raise TypeError("annotations must be a DataFrame, a feature provider (e.g. "
                            "BedAnnotations) or .annot / .bed file path(s), got "
                            f"{type(item).__name__}")
    return out


def align_annotations(annotations, variants):
    """``(A, names, covered)``: annotation values for the rows of ``variants`` (NaN where not
    covered), their names and whether each variant is covered by every annotation.

    Parameters
    ----------
    annotations : DataFrame, FeatureProvider, path or list of these
        See the module docstring.
    variants : DataFrame
        Rows of a data set's ``variants`` (``chrom pos snp ... row``).
    """
    blocks, names = [], []
    for part in _parts(annotations):
        A, n = (_align_provider(part, variants) if isinstance(part, FeatureProvider)
                else _align_table(part, variants))
        blocks.append(A)
        names += n
    seen = pd.Series(names)
    if seen.duplicated().any():
        raise ValueError(f"annotation {seen[seen.duplicated()].iloc[0]!r} is named twice (two "
                         "files or columns of the same name: rename one)")
    A = np.concatenate(blocks, axis=1)
    return A, names, np.isfinite(A).all(1)
