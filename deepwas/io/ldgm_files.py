"""Reading the files of an LDGM (format in :mod:`deepwas.io.ldgm`): the ``metadata.csv`` of
the blocks, the edgelists (sparse precision matrices) and the snplists (the variants of each
index), each checked against the others."""
from __future__ import annotations

import glob
import logging
import os
import re

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..utils.chrom import chrom_sort_key, normalise_chrom

__all__ = ["read_ldgm_metadata"]

log = logging.getLogger(__name__)

_SNPLIST_COLUMNS = ("index", "anc_alleles", "deriv_alleles", "site_ids", "position")


def read_ldgm_metadata(path, population="EUR", chromosomes=None):
    """Blocks of an LDGM ``metadata.csv`` for one population, with file paths made absolute.

    Returns
    -------
    pandas.DataFrame
        ``chrom, chromStart, chromEnd, edgelist, snplist`` (+ ``numVariants, numIndices,
        numEntries`` when listed), in genome order.
    """
    path = os.fspath(path)
    meta = pd.read_csv(path)
    need = {"name", "snplistName"}
    if not need <= set(meta.columns):
        raise ValueError(f"{path}: an LDGM metadata file needs the columns name and snplistName "
                         f"(graphld's layout); it has {list(meta.columns)}")
    if "population" in meta:
        pops = sorted(set(meta["population"].astype(str)))
        meta = meta[meta["population"].astype(str) == population]
        if meta.empty:
            raise ValueError(f"{path}: no block for population {population!r}; it lists "
                             f"{', '.join(pops)}")
    folder = os.path.dirname(os.path.abspath(path))
    out = pd.DataFrame({
        "chrom": normalise_chrom(meta["chrom"].astype(str)) if "chrom" in meta else
        [_chrom_from_name(n) for n in meta["name"]],
        "chromStart": meta.get("chromStart", pd.Series(np.nan, index=meta.index)).to_numpy(),
        "chromEnd": meta.get("chromEnd", pd.Series(np.nan, index=meta.index)).to_numpy(),
        "edgelist": [os.path.join(folder, n) for n in meta["name"]],
        "snplist": [os.path.join(folder, n) for n in meta["snplistName"]],
    })
    for c in ("numVariants", "numIndices", "numEntries"):
        if c in meta:
            out[c] = meta[c].to_numpy()
    if chromosomes is not None:
        keep = set(normalise_chrom(list(chromosomes)))
        out = out[out["chrom"].isin(keep)]
    order = sorted(range(len(out)), key=lambda k: (chrom_sort_key(out["chrom"].iat[k]),
                                                   out["chromStart"].iat[k]))
    return out.iloc[order].reset_index(drop=True)


def _on_disk(blocks, listing, population):
    """The blocks of a metadata listing whose edgelist and snplist are both on disk (a
    partial download of the public LDGMs is common): the others are left out with a warning
    that counts them; none on disk is an error."""
    here = np.array([os.path.exists(e) and os.path.exists(s)
                     for e, s in zip(blocks["edgelist"], blocks["snplist"])], dtype=bool)
    if here.all():
        return blocks
    gone = blocks.loc[~here, "edgelist"].map(os.path.basename).tolist()
    shown = ", ".join(gone[:3]) + (f" and {len(gone) - 3} more" if len(gone) > 3 else "")
    if not here.any():
        raise FileNotFoundError(
            f"none of the {len(blocks)} {population} blocks listed in {listing} is on disk "
            f"(looked for the edgelist and snplist of e.g. {shown} in "
            f"{os.path.dirname(os.path.abspath(listing))})")
    log.warning("LDGM: using the %d of the %d %s blocks listed in %s that are on disk; %d "
                "%s missing (%s): variants in %s have no LD and are left out",
                int(here.sum()), len(blocks), population, listing, len(gone),
                "is" if len(gone) == 1 else "are", shown,
                "it" if len(gone) == 1 else "them")
    return blocks[here].reset_index(drop=True)


def _chrom_from_name(name):
    m = re.search(r"chr([0-9XYMT]+)[_.]", os.path.basename(str(name)), flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"cannot tell the chromosome of LDGM block {name!r}: name it "
                         "...chr<C>_<start>_<end>... or give a metadata.csv with a chrom column")
    return normalise_chrom(m.group(1))


def _snplist_for(edgelist, population):
    """graphld's rule: the snplist shares the edgelist's name up to the first dot."""
    stem = os.path.basename(edgelist).split(".")[0]
    cands = sorted(glob.glob(os.path.join(os.path.dirname(edgelist), stem + "*.snplist")))
    if not cands:
        raise FileNotFoundError(f"no snplist for {edgelist} (looked for {stem}*.snplist beside it)")
    return cands[0]


def _blocks_from(paths, population, chromosomes):
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if len(paths) == 1 and os.path.isdir(paths[0]):
        meta = os.path.join(paths[0], "metadata.csv")
        if os.path.exists(meta):
            return _on_disk(read_ldgm_metadata(meta, population, chromosomes), meta,
                            population)
        paths = sorted(glob.glob(os.path.join(paths[0], f"*.{population}.edgelist")))
        if not paths:
            raise FileNotFoundError(f"no metadata.csv and no *.{population}.edgelist in the "
                                    "LDGM folder")
    if len(paths) == 1 and paths[0].endswith(".csv"):
        return _on_disk(read_ldgm_metadata(paths[0], population, chromosomes), paths[0],
                        population)
    rows = []
    for p in paths:
        if not os.path.exists(p):
            raise FileNotFoundError(f"LDGM edgelist not found: {p}")
        named = re.search(r"\.([A-Za-z]+)\.edgelist$", os.path.basename(p))
        if named and named.group(1).upper() != population.upper():
            raise ValueError(f"{os.path.basename(p)} is the LD of population "
                             f"{named.group(1)} but the population asked for is {population} "
                             "(the snplist frequency column read): give that population's "
                             f"edgelists, or choose population {named.group(1)}")
        m = re.search(r"chr[0-9XYMT]+_(\d+)_(\d+)", os.path.basename(p))
        rows.append({"chrom": _chrom_from_name(p),
                     "chromStart": int(m.group(1)) if m else np.nan,
                     "chromEnd": int(m.group(2)) if m else np.nan,
                     "edgelist": p, "snplist": _snplist_for(p, population)})
    out = pd.DataFrame(rows)
    if chromosomes is not None:
        out = out[out["chrom"].isin(set(normalise_chrom(list(chromosomes))))]
    order = sorted(range(len(out)), key=lambda k: (chrom_sort_key(out["chrom"].iat[k]),
                                                   out["chromStart"].iat[k]))
    return out.iloc[order].reset_index(drop=True)


def _read_precision(path, n_snplist_indices, snplist_path):
    """Symmetric sparse P from an edgelist, checked against its snplist."""
    try:
        e = pd.read_csv(path, header=None, names=["i", "j", "v"],
                        dtype={"i": np.int64, "j": np.int64, "v": np.float64})
    except (ValueError, pd.errors.ParserError) as err:
        raise ValueError(f"{path}: not an LDGM edgelist (comma-separated i,j,value lines): "
                         f"{err}") from err
    if e.empty:
        raise ValueError(f"{path}: the edgelist is empty")
    if (e[["i", "j"]] < 0).any().any() or not np.all(np.isfinite(e["v"])):
        raise ValueError(f"{path}: negative indices or non-finite values")
    top = int(e[["i", "j"]].max().max())
    if top >= n_snplist_indices:
        raise ValueError(f"{path} does not match {snplist_path}: the edgelist refers to index "
                         f"{top} but the snplist lists indices 0..{n_snplist_indices - 1}")
    lo, hi = np.minimum(e["i"], e["j"]), np.maximum(e["i"], e["j"])
    key = lo * (top + 1) + hi
    if pd.Series(key).duplicated().any():
        raise ValueError(f"{path}: an entry is listed twice (both triangles, or repeated); an "
                         "LDGM edgelist holds one triangle")
    n = n_snplist_indices
    off = lo != hi
    rows = np.r_[lo, hi[off]]
    cols = np.r_[hi, lo[off]]
    vals = np.r_[e["v"].to_numpy(), e["v"].to_numpy()[off]]
    P = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    diag = P.diagonal()
    nz = diag != 0
    touched = np.zeros(n, dtype=bool)
    touched[rows[vals != 0]] = True
    if np.any(touched & ~nz):
        bad = np.flatnonzero(touched & ~nz)[:5].tolist()
        raise ValueError(f"{path}: indices {bad} have off-diagonal entries but a zero diagonal; "
                         "not a precision matrix")
    if np.any(diag[nz] < 0):
        raise ValueError(f"{path}: negative diagonal entries; not a precision matrix")
    return P, nz


def _read_block(b, row, offset, population):
    """Block ``b`` of the metadata (``row``): its variant table (``ld_index`` counted from
    ``offset``), its precision matrix on the indices that carry variants, and their number."""
    snp = pd.read_csv(row.snplist)
    miss = [c for c in _SNPLIST_COLUMNS if c not in snp.columns]
    if miss:
        raise ValueError(f"{row.snplist}: not an LDGM snplist: no column(s) {miss}")
    if population not in snp.columns:
        pops = [c for c in snp.columns if c not in _SNPLIST_COLUMNS and c != "swap"]
        raise ValueError(f"{row.snplist}: no frequency column for population "
                         f"{population!r}; it has {pops}")
    idx = snp["index"].to_numpy(dtype=np.int64)
    if np.any(idx < 0):
        raise ValueError(f"{row.snplist}: negative indices")
    P, nz = _read_precision(row.edgelist, int(idx.max()) + 1, row.snplist)
    for col, n_expect in (("numVariants", len(snp)), ("numIndices", int(nz.sum()))):
        have = getattr(row, col, None)
        if have is not None and np.isfinite(have) and int(have) != n_expect:
            raise ValueError(f"{row.edgelist} / {row.snplist} do not match the metadata: "
                             f"{col} is {int(have)} there but {n_expect} in the files")
    has_variant = np.zeros(len(nz), dtype=bool)
    has_variant[idx] = True
    if np.any(nz & ~has_variant):
        k = int((nz & ~has_variant).sum())
        raise ValueError(f"{row.edgelist} does not match {row.snplist}: {k} indices of the "
                         "precision matrix have no variant in the snplist")
    keep_idx = np.flatnonzero(nz)
    new = np.full(len(nz), -1, dtype=np.int64)
    new[keep_idx] = np.arange(len(keep_idx))
    P = P[keep_idx][:, keep_idx].tocsc()
    kept = nz[idx]
    snp = snp[kept]
    chrom = row.chrom
    pos = snp["position"].to_numpy(dtype=np.int64)
    anc = snp["anc_alleles"].astype(str).str.upper().to_numpy(dtype=object)
    der = snp["deriv_alleles"].astype(str).str.upper().to_numpy(dtype=object)
    ids = snp["site_ids"].astype("string")
    name = np.array([f"{chrom}:{p}:{a}:{d}" for p, a, d in zip(pos, anc, der)], dtype=object)
    ids = np.where(ids.isna().to_numpy() | (ids.to_numpy(dtype=object, na_value="") == ""),
                   name, ids.to_numpy(dtype=object, na_value=""))
    t = pd.DataFrame({
        "chrom": chrom, "pos": pos, "snp": ids, "a1": der, "a2": anc,
        "freq": pd.to_numeric(snp[population], errors="coerce").to_numpy(),
        "ld_index": offset + new[snp["index"].to_numpy(dtype=np.int64)],
        "block": b, "index": snp["index"].to_numpy(dtype=np.int64),
        "swap": snp["swap"].astype(str).to_numpy(dtype=object) if "swap" in snp else "",
    })
    for pop in (c for c in snp.columns if c not in _SNPLIST_COLUMNS and c != "swap"):
        t["freq_" + pop] = pd.to_numeric(snp[pop], errors="coerce").to_numpy(np.float16)
    return t, P, len(keep_idx)
