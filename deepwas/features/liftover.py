"""Coordinate liftover between genome builds (e.g. hg19 summary statistics vs hg38 tracks).

Always from a local UCSC chain file: pyliftover's "by build name" mode tries to download and,
offline, fails with a misleading error, so it is never used here. Two ship with the package,
one per direction: ``deepwas/datasets/data/liftover/hg19ToHg38.over.chain.gz``
(:data:`HG19_TO_HG38_CHAIN`) and ``hg38ToHg19.over.chain.gz`` (:data:`HG38_TO_HG19_CHAIN`);
:func:`deepwas.io.shipped_chain` names the one for a pair of builds.

Coordinates: input and output positions are 1-based (like summary statistics' BP);
pyliftover works 0-based, the conversion is done here.

Only the primary chromosomes of the target build count as mapped: a position the chain sends
only to an alt haplotype, an unplaced or an unlocalised contig (``22_KI270879v1_alt``,
``1_KI270706v1_random``, ``Un_KI270742v1``: any name with an underscore) is unmapped, with
``status`` ``"alt_contig"``, because tracks rarely cover those contigs and its features would
silently read as zeros. Nothing here logs above DEBUG: callers report a run once, with
:func:`liftover_summary`.
"""
from __future__ import annotations

import gzip
import logging
import os

import numpy as np
import pandas as pd

from ..utils.chrom import normalise_chrom

__all__ = ["liftover", "apply_liftover_policy", "liftover_summary", "load_chain",
           "HG19_TO_HG38_CHAIN", "HG38_TO_HG19_CHAIN"]

log = logging.getLogger(__name__)

_CHAIN_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "datasets", "data",
                          "liftover")
#: the UCSC hg19 (GRCh37) -> hg38 (GRCh38) chain shipped with the package
HG19_TO_HG38_CHAIN = os.path.join(_CHAIN_DIR, "hg19ToHg38.over.chain.gz")
#: the UCSC hg38 (GRCh38) -> hg19 (GRCh37) chain shipped with the package
HG38_TO_HG19_CHAIN = os.path.join(_CHAIN_DIR, "hg38ToHg19.over.chain.gz")


_CHAINS = {}


def load_chain(chain_file):
    """A ``pyliftover.LiftOver`` for a local chain file (plain or gzip), cached per file.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is not a readable chain file (corrupt, truncated, empty).
    """
    from pyliftover import LiftOver

    path = os.fspath(chain_file)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"liftover chain file not found: {path}")
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key in _CHAINS:
        return _CHAINS[key]
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            lo = LiftOver(fh)
    except Exception as e:  # pyliftover raises assorted errors on bad input
        raise ValueError(f"cannot read liftover chain file {path}: {type(e).__name__}: {e}") from e
    if not lo.chain_file.chain_index:
        raise ValueError(f"liftover chain file {path} holds no chains")
    _CHAINS.clear()  # one chain in memory at a time is enough
    _CHAINS[key] = lo
    return lo


def liftover(chrom, pos, chain_file=HG19_TO_HG38_CHAIN):
    """Map 1-based positions to another build.

    Parameters
    ----------
    chrom : array-like of str
        Chromosomes, with or without a ``chr`` prefix.
    pos : array-like of int
        1-based positions in the source build.
    chain_file : str
        Local UCSC chain file (plain or gzip).

    Returns
    -------
    pandas.DataFrame
        Row ``i`` describes input ``i``: ``chrom`` (str, no prefix; the target chromosome,
        which can differ from the source; ``<NA>`` when unmapped), ``pos`` (1-based, ``Int64``,
        ``<NA>`` when unmapped), ``strand`` ("+", "-" or ``<NA>``: "-" when the chain maps the
        region reverse-complemented, so alleles read on the target's + strand are the
        complements of the source's), ``mapped`` (bool) and ``status``: ``"mapped"``,
        ``"unmapped"`` (no chain covers the position), ``"alt_contig"`` (the chain sends it only
        to alt / random / Un contigs, see the module docstring) or ``"no_chain"`` (the
        chromosome is not in the chain file). A position that several chains map takes the
        highest-scoring chain onto a primary chromosome (pyliftover's order).

    Notes
    -----
    pyliftover answers one position at a time; here the work is grouped by chromosome and each
    distinct position is converted once.
    """
    lo = load_chain(chain_file)
    chrom = normalise_chrom(chrom)
    pos = np.asarray(pos, dtype=np.int64)
    if len(chrom) != len(pos):
        raise ValueError(f"chrom ({len(chrom)}) and pos ({len(pos)}) differ in length")
    n = len(pos)
    out_chrom = np.full(n, None, dtype=object)
    out_pos = np.zeros(n, dtype=np.int64)
    out_strand = np.full(n, None, dtype=object)
    status = np.full(n, "unmapped", dtype=object)
    index = lo.chain_file.chain_index
    for c in pd.unique(chrom):
        sel = np.flatnonzero(chrom == c)
        name = "chr" + c if ("chr" + c) in index else c
        if name not in index:
            log.debug("liftover: chromosome %s is not in the chain file; %d positions unmapped",
                      c, len(sel))
            status[sel] = "no_chain"
            continue
        upos, inv = np.unique(pos[sel], return_inverse=True)
        res_c = np.full(len(upos), None, dtype=object)
        res_p = np.zeros(len(upos), dtype=np.int64)
        res_s = np.full(len(upos), None, dtype=object)
        res_st = np.full(len(upos), "unmapped", dtype=object)
        for k, p in enumerate(upos):
            hits = lo.convert_coordinate(name, int(p) - 1)
            primary = [h for h in hits or () if "_" not in h[0]]
            if primary:
                res_c[k], res_p[k], res_s[k] = primary[0][0], primary[0][1] + 1, primary[0][2]
                res_st[k] = "mapped"
            elif hits:
                res_st[k] = "alt_contig"
        out_chrom[sel] = res_c[inv]
        out_pos[sel] = res_p[inv]
        out_strand[sel] = res_s[inv]
        status[sel] = res_st[inv]
    mapped = status == "mapped"
    result = pd.DataFrame({
        "chrom": pd.array(np.where(mapped, normalise_chrom(np.where(mapped, out_chrom, "")), None),
                          dtype="string"),
        "pos": pd.array(np.where(mapped, out_pos, 0), dtype="Int64"),
        "strand": pd.array(np.where(mapped, out_strand, None), dtype="string"),
        "mapped": mapped,
        "status": pd.array(status, dtype="string"),
    })
    result.loc[~mapped, "pos"] = pd.NA
    log.debug("liftover: %s", liftover_summary(result, chrom))
    return result


def liftover_summary(result, source_chrom=None):
    """One line counting a :func:`liftover` result: mapped, other strand, other chromosome,
    unmapped, alt contigs, chromosomes missing from the chain.

    Parameters
    ----------
    result : DataFrame
        Output of :func:`liftover` (or several concatenated).
    source_chrom : array-like, optional
        The input chromosomes, to count positions moved to another chromosome.

    Returns
    -------
    str
    """
    st = result["status"].astype(str).to_numpy()
    mapped = st == "mapped"
    parts = [f"{int(mapped.sum()):,} of {len(st):,} positions mapped"]
    minus = int((result["strand"].to_numpy(dtype=object, na_value="") == "-").sum())
    if minus:
        parts.append(f"{minus:,} of them to the other strand")
    if source_chrom is not None:
        src = normalise_chrom(source_chrom)
        moved = int((mapped & (result["chrom"].to_numpy(dtype=object, na_value="") != src)).sum())
        if moved:
            parts.append(f"{moved:,} to another chromosome")
    for key, what in (("unmapped", "not covered by the chain"),
                      ("alt_contig", "only on alt/random/Un contigs"),
                      ("no_chain", "on chromosomes missing from the chain file")):
        k = int((st == key).sum())
        if k:
            parts.append(f"{k:,} {what}")
    return "; ".join(parts)


def apply_liftover_policy(result, policy="drop", source_chrom=None, source_pos=None):
    """Resolve unmapped rows of a :func:`liftover` result.

    Parameters
    ----------
    result : DataFrame
        Output of :func:`liftover`.
    policy : {"drop", "nearest"}
        ``"drop"``: remove unmapped rows (the index keeps the input row numbers).
        ``"nearest"``: keep every row; an unmapped row takes the target chromosome, position
        and strand of the mapped row nearest to it in source position on the same source
        chromosome (ties: the lower position), so its features describe real neighbouring
        sequence -- never a fixed dummy position. Rows of a source chromosome with no mapped
        row at all are dropped. ``mapped`` stays False for repaired rows; ``imputed`` marks
        them.
    source_chrom, source_pos : array-like, optional
        The input of :func:`liftover` (needed for ``"nearest"``).

    Returns
    -------
    DataFrame
        Unmapped rows include those lifted only onto alt/random/Un contigs.
    """
    if policy == "drop":
        n = int((~result["mapped"]).sum())
        if n:
            log.debug("liftover policy 'drop': %d unmapped variants removed", n)
        return result.loc[result["mapped"].to_numpy()]
    if policy != "nearest":
        raise ValueError(f"policy must be 'drop' or 'nearest', got {policy!r}")
    if source_chrom is None or source_pos is None:
        raise ValueError("policy 'nearest' needs source_chrom and source_pos (the liftover input)")
    src = normalise_chrom(source_chrom)
    spos = np.asarray(source_pos, dtype=np.int64)
    if len(src) != len(result) or len(spos) != len(result):
        raise ValueError("source_chrom/source_pos and result differ in length")
    out = result.copy()
    out["imputed"] = False
    mapped = result["mapped"].to_numpy()
    keep = np.ones(len(result), dtype=bool)
    for c in pd.unique(src):
        sel = np.flatnonzero(src == c)
        ok, bad = sel[mapped[sel]], sel[~mapped[sel]]
        if len(bad) == 0:
            continue
        if len(ok) == 0:
            keep[bad] = False
            continue
        ok = ok[np.argsort(spos[ok], kind="stable")]
        p_ok, p_bad = spos[ok], spos[bad]
        j = np.searchsorted(p_ok, p_bad)
        left = np.maximum(j - 1, 0)
        right = np.minimum(j, len(ok) - 1)
        use_right = (j == 0) | ((j < len(ok)) & (p_ok[right] - p_bad < p_bad - p_ok[left]))
        take = ok[np.where(use_right, right, left)]
        for col in ("chrom", "pos", "strand"):
            out.iloc[bad, out.columns.get_loc(col)] = result[col].iloc[take].to_numpy()
        out.iloc[bad, out.columns.get_loc("imputed")] = True
    n_imp = int(out["imputed"].sum())
    if n_imp or (~keep).any():
        log.debug("liftover policy 'nearest': %d unmapped variants placed at the nearest "
                  "mapped variant's position, %d dropped (no mapped variant on their "
                  "chromosome)", n_imp, int((~keep).sum()))
    return out.loc[keep]
