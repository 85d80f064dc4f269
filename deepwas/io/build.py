"""Genome builds: are the summary statistics and the LD reference on the same one, and lifting
the statistics onto the reference's build with a chain file.

Detection needs no declared build. Positions of the rsIDs both sides share are compared: on one
build nearly all agree (rsID merges leave a few percent apart), on GRCh37 against GRCh38 nearly
none do. Without shared rsIDs, positions with the same alleles are compared instead. When the
builds differ the shipped hg19 -> hg38 chain (:data:`deepwas.features.HG19_TO_HG38_CHAIN`)
names them: if lifting the statistics makes them agree with the reference, the statistics are
GRCh37 and the reference GRCh38; if lifting the reference does, the other way round. Builds a
file declares (a GWAS-VCF header, a GWAS-SSF ``-meta.yaml``, a column named ``bp_hg38``, an
LD source's ``genome_build``) are shown too.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..features.liftover import HG19_TO_HG38_CHAIN, HG38_TO_HG19_CHAIN, liftover, \
    liftover_summary
from ..utils.chrom import normalise_chrom
from ._errors import SumstatsError
from .alignment import _complement

__all__ = ["build_from_text", "BuildCheck", "check_build", "lift_sumstats", "shipped_chain",
           "SAME_BUILD_MIN", "OTHER_BUILD_MAX"]

log = logging.getLogger(__name__)

#: at least this share of compared positions agreeing means one build
SAME_BUILD_MIN = 0.8
#: at most this share agreeing means different builds
OTHER_BUILD_MAX = 0.2
#: positions compared (a sample, in genome order, keeps the check cheap on 10 M rows)
_MAX_COMPARED = 20_000
_MIN_COMPARED = 20

_NAMES = {"GRCh37": ("grch37", "hg19", "b37", "hs37", "37"),
          "GRCh38": ("grch38", "hg38", "b38", "hs38", "38"),
          "NCBI36": ("ncbi36", "hg18", "b36")}


def build_from_text(text):
    """``"GRCh37"``, ``"GRCh38"``, ``"NCBI36"`` or None from a label such as ``hg19``,
    ``GRCh38.p13``, ``bp_hg38``, ``human_g1k_v37.fasta``."""
    if text is None:
        return None
    t = str(text).lower()
    for build, keys in _NAMES.items():
        for k in keys:
            if k.isdigit():
                if re.search(rf"(?:grch|hg|b|v|build|assembly)[_ .-]?{k}(?![0-9])", t):
                    return build
            elif k in t:
                return build
    return None


def shipped_chain(from_build, to_build):
    """Path of the UCSC chain shipped with the package from one build to another (any
    spelling :func:`build_from_text` reads: ``hg19``, ``GRCh38`` ...), or None when the
    package ships none for that pair: :data:`deepwas.features.HG19_TO_HG38_CHAIN` and
    :data:`deepwas.features.HG38_TO_HG19_CHAIN`."""
    pair = (build_from_text(from_build), build_from_text(to_build))
    return {("GRCh37", "GRCh38"): HG19_TO_HG38_CHAIN,
            ("GRCh38", "GRCh37"): HG38_TO_HG19_CHAIN}.get(pair)


def _label(build):
    return {"GRCh37": "GRCh37 (hg19)", "GRCh38": "GRCh38 (hg38)",
            "NCBI36": "NCBI36 (hg18)"}.get(build, "an unknown build")


@dataclass
class BuildCheck:
    """Outcome of :func:`check_build`.

    Attributes
    ----------
    status : str
        ``"same"``, ``"different"``, ``"unknown"`` (too few positions to compare, or no
        positions in the statistics) or ``"mixed"`` (between the two thresholds).
    agree : float
        Share of compared positions that agree (NaN when nothing was compared).
    compared : int
        Positions compared.
    by : str
        ``"rsid"`` or ``"position"``: what the compared pairs were matched on.
    sumstats_build, reference_build : str or None
        Builds declared or inferred (``"GRCh37"``, ``"GRCh38"``).
    """

    status: str
    agree: float
    compared: int
    by: str
    sumstats_build: str | None = None
    reference_build: str | None = None
    #: the liftover summary line when the statistics were lifted
    lifted: str | None = None

    def describe(self):
        return (f"{self.compared:,} positions compared by {self.by}, "
                f"{100 * self.agree:.1f}% agree: statistics on {_label(self.sumstats_build)}, "
                f"LD reference on {_label(self.reference_build)}")


def _positions(chrom, pos):
    c = normalise_chrom(pd.Series(chrom).astype(str).to_numpy())
    p = pd.to_numeric(pd.Series(pos), errors="coerce").to_numpy(dtype=np.float64)
    return c, p


def _keys(chrom, pos, a1, a2):
    """``chrom:pos:allele:allele`` keys, alleles in sorted order (orientation does not matter)."""
    a1 = pd.Series(a1).astype(str).to_numpy()
    a2 = pd.Series(a2).astype(str).to_numpy()
    lo, hi = np.where(a1 < a2, a1, a2), np.where(a1 < a2, a2, a1)
    return pd.Series([f"{c}:{int(p)}:{x}:{y}" for c, p, x, y in zip(chrom, pos, lo, hi)])


def _sample(n, k=_MAX_COMPARED):
    return np.arange(n) if n <= k else np.linspace(0, n - 1, k).astype(np.int64)


def _pairs(ss, ref):
    """The evidence: ``("rsid", ss_chrom, ss_pos, ref_chrom, ref_pos)`` for (a sample of) the
    shared rsIDs, else ``("position", ss_table, ref_table, ss_sample, ref_sample)``: positions
    and alleles of both sides on their common chromosomes, and the rows to look up."""
    if "CHR" not in ss or "BP" not in ss:
        return None
    bp = pd.to_numeric(ss["BP"], errors="coerce")
    ss = ss[(ss["CHR"].notna() & bp.notna()).to_numpy()]
    if len(ss) == 0:
        return None
    ref_idx = pd.Series(np.arange(len(ref)), index=ref["snp"].astype(str).to_numpy())
    ref_idx = ref_idx[~ref_idx.index.duplicated(keep=False)]
    at = ss["SNP"].astype(str).map(ref_idx)
    ok = at.notna().to_numpy()
    if ok.sum() >= _MIN_COMPARED:
        s = ss[ok]
        r = at[ok].to_numpy(dtype=np.int64)
        pick = _sample(len(s))
        s, r = s.iloc[pick], r[pick]
        sc, sp = _positions(s["CHR"], s["BP"])
        rc, rp = _positions(ref["chrom"].to_numpy()[r], ref["pos"].to_numpy()[r])
        return ("rsid", sc, sp, rc, rp)
    sc, sp = _positions(ss["CHR"], ss["BP"])
    rc, rp = _positions(ref["chrom"], ref["pos"])
    on = np.isin(sc, np.unique(rc))
    ss, sc, sp = ss[on], sc[on], sp[on]
    ron = np.isin(rc, np.unique(sc))
    if on.sum() < _MIN_COMPARED or ron.sum() < _MIN_COMPARED:
        return None
    s_pick, r_pick = _sample(len(ss)), np.flatnonzero(ron)[_sample(int(ron.sum()))]
    return ("position",
            pd.DataFrame({"c": sc, "p": sp, "a1": ss["A1"].to_numpy(), "a2": ss["A2"].to_numpy()}),
            pd.DataFrame({"c": rc, "p": rp, "a1": ref["a1"].to_numpy(),
                          "a2": ref["a2"].to_numpy()}), s_pick, r_pick)


def _position_matches(ev, chain=None, lift_reference=False):
    """How many sampled rows of one side find the other side's variant with the same
    position and alleles (after lifting the sampled side with ``chain``)."""
    _, s, r, s_pick, r_pick = ev
    src, other = (r.iloc[r_pick], s) if lift_reference else (s.iloc[s_pick], r)
    c, p = src["c"].to_numpy(), src["p"].to_numpy()
    if chain is not None:
        res = liftover(c, p.astype(np.int64), chain)
        ok = res["mapped"].to_numpy()
        c = res["chrom"].to_numpy(dtype=object, na_value="")[ok]
        p = res["pos"].to_numpy(dtype=np.float64, na_value=0)[ok]
        src = src[ok]
    other = other[other["p"].isin(p)]          # only rows that can match: cheap on 10 M rows
    other_keys = set(_keys(other["c"], other["p"], other["a1"], other["a2"]))
    return int(_keys(c, p, src["a1"], src["a2"]).isin(other_keys).sum())


def _agreement(ev):
    if ev is None:
        return np.nan, 0, "none"
    if ev[0] == "rsid":
        _, sc, sp, rc, rp = ev
        same = (sc == rc) & (sp == rp)
        return float(same.mean()), len(same), "rsid"

    as_is = _position_matches(ev)
    lifted = max(_position_matches(ev, HG19_TO_HG38_CHAIN),
                 _position_matches(ev, HG19_TO_HG38_CHAIN, lift_reference=True))
    total = as_is + lifted
    return (as_is / total if total else np.nan), total, "position"


def _lifted_agreement(ev, chain, lift_reference):
    """Share of shared-rsID positions that agree after lifting one side with ``chain``."""
    _, sc, sp, rc, rp = ev
    a_c, a_p, b_c, b_p = (rc, rp, sc, sp) if lift_reference else (sc, sp, rc, rp)
    res = liftover(a_c, a_p.astype(np.int64), chain)
    lc = res["chrom"].to_numpy(dtype=object, na_value="")
    lp = res["pos"].to_numpy(dtype=np.float64, na_value=np.nan)
    return float(((lc == b_c) & (lp == b_p)).mean())


def check_build(ss, ref, *, sumstats_build=None, reference_build=None, infer=True):
    """Whether statistics and an LD reference share a genome build.

    Parameters
    ----------
    ss : DataFrame
        Standard table (SNP CHR BP A1 A2 ...).
    ref : DataFrame
        The LD source's variant table (chrom pos snp a1 a2).
    sumstats_build, reference_build : str, optional
        Builds declared by the files (``"GRCh37"``, ``"GRCh38"``; any spelling
        :func:`build_from_text` reads).
    infer : bool
        When the builds differ and either is unknown, infer them with the shipped hg19 -> hg38
        chain.

    Returns
    -------
    BuildCheck
    """
    sb, rb = build_from_text(sumstats_build), build_from_text(reference_build)
    ev = _pairs(ss, ref)
    agree, n, by = _agreement(ev)
    if n < _MIN_COMPARED or not np.isfinite(agree):
        status = "unknown"
    else:
        status = "same" if agree >= SAME_BUILD_MIN else \
            "different" if agree <= OTHER_BUILD_MAX else "mixed"
    if status == "same":
        sb = sb or rb
        rb = rb or sb
    elif status == "different" and infer and (sb is None or rb is None) and by == "position":
        fwd = _position_matches(ev, HG19_TO_HG38_CHAIN)
        back = _position_matches(ev, HG19_TO_HG38_CHAIN, lift_reference=True)
        if max(fwd, back) >= _MIN_COMPARED:
            sb, rb = (sb or "GRCh37", rb or "GRCh38") if fwd >= back else \
                (sb or "GRCh38", rb or "GRCh37")
    elif status == "different" and infer and (sb is None or rb is None) and by == "rsid":
        if _lifted_agreement(ev, HG19_TO_HG38_CHAIN, lift_reference=False) >= SAME_BUILD_MIN:
            sb, rb = sb or "GRCh37", rb or "GRCh38"
        elif _lifted_agreement(ev, HG19_TO_HG38_CHAIN, lift_reference=True) >= SAME_BUILD_MIN:
            sb, rb = sb or "GRCh38", rb or "GRCh37"
    return BuildCheck(status, agree, n, by, sb, rb)


def lift_sumstats(ss, chain, dropped):
    """Statistics moved onto another build: CHR, BP lifted with ``chain``; rows the chain
    does not map dropped and counted; alleles complemented where the chain maps a region
    to the other strand.

    Parameters
    ----------
    ss : DataFrame
        Standard table with CHR and BP.
    chain : str
        UCSC chain file from the statistics' build to the reference's.
    dropped : dict
        Counts, updated in place: ``liftover_unmapped`` (no chain covers the position),
        ``liftover_alt_contig`` (only alt / random / Un contigs), ``liftover_no_chain`` (the
        chromosome is not in the chain file), ``liftover_no_position`` (no CHR/BP to lift).

    Returns
    -------
    DataFrame
        The lifted rows; ``attrs["lifted"]`` holds the liftover summary line.
    """
    bp = pd.to_numeric(ss["BP"], errors="coerce")
    has = (ss["CHR"].notna() & bp.notna()).to_numpy()
    if (~has).any():
        dropped["liftover_no_position"] = dropped.get("liftover_no_position", 0) + int((~has).sum())
    s = ss[has].copy()
    res = liftover(s["CHR"].astype(str).to_numpy(), bp[has].to_numpy(dtype=np.int64), chain)
    summary = liftover_summary(res, s["CHR"].astype(str).to_numpy())
    st = res["status"].astype(str).to_numpy()
    for key in ("unmapped", "alt_contig", "no_chain"):
        k = int((st == key).sum())
        if k:
            dropped["liftover_" + key] = dropped.get("liftover_" + key, 0) + k
    ok = res["mapped"].to_numpy()
    s = s[ok]
    res = res[ok]
    s["CHR"] = res["chrom"].to_numpy(dtype=object)
    s["BP"] = pd.array(res["pos"].to_numpy(dtype=np.int64), dtype="Int64")
    minus = (res["strand"].to_numpy(dtype=object, na_value="") == "-")
    if minus.any():
        s.loc[minus, "A1"] = _complement(s.loc[minus, "A1"].to_numpy())
        s.loc[minus, "A2"] = _complement(s.loc[minus, "A2"].to_numpy())
    # rows without an rsID were named by their old position: rename them
    made = s["SNP"].astype(str).str.match(r"^[^:]+:\d+:[^:]+:[^:]+$").to_numpy()
    if made.any():
        s.loc[made, "SNP"] = [f"{c}:{p}:{a2}:{a1}" for c, p, a2, a1 in
                              zip(s.loc[made, "CHR"], s.loc[made, "BP"], s.loc[made, "A2"],
                                  s.loc[made, "A1"])]
    s.attrs = dict(ss.attrs)
    s.attrs["lifted"] = summary
    log.info("summary statistics lifted over with %s: %s", chain, summary)
    return s


def _resolve_build(ss, source, chain, counts, check):
    """The build step of :func:`deepwas.io.harmonise.harmonise`: check the builds (with
    ``check``, :func:`check_build`); lift the statistics with ``chain`` when they differ."""
    declared_ref = getattr(source, "genome_build", None)
    bc = check(ss, source.variants, sumstats_build=ss.attrs.get("genome_build"),
               reference_build=declared_ref)
    log.info("genome build: %s (%s)", bc.status, bc.describe() if bc.compared else
             "nothing to compare")
    if bc.status == "unknown":
        if chain is not None:
            log.warning("chain %s not applied: the statistics have no positions to compare with "
                        "the LD reference's (matching is by rsID)", chain)
        return ss, bc
    if bc.status == "same":
        if chain is not None:
            log.info("chain %s not applied: the statistics are already on the LD reference's "
                     "build (%s)", chain, bc.describe())
        return ss, bc
    if chain is None:
        if bc.status == "mixed":
            log.warning("genome build: only %.0f%% of %d positions agree between the statistics "
                        "and the LD reference (%s); check both are on one build",
                        100 * bc.agree, bc.compared, bc.describe())
            return ss, bc
        what = (f"the summary statistics are on {_label(bc.sumstats_build)} and the LD "
                f"reference on {_label(bc.reference_build)}: only {100 * bc.agree:.1f}% of "
                f"{bc.compared:,} positions compared (by {bc.by}) agree. Lift the statistics "
                "with a UCSC chain file from the first build to the second")

        path = shipped_chain(bc.sumstats_build, bc.reference_build)
        if path is None:
            raise SumstatsError(what + ": chain=<file>", cli=what + ": --sumstats-chain <file>")
        what += f"; the package ships it ({os.path.basename(path)}): "
        raise SumstatsError(what + f"chain={path!r}", cli=what + f"--sumstats-chain {path}")
    lifted = lift_sumstats(ss, chain, counts)
    after = check(lifted, source.variants, sumstats_build=bc.reference_build,
                  reference_build=declared_ref, infer=False)
    if after.status == "different" or (after.status == "mixed" and after.agree < bc.agree):
        raise ValueError(f"after lifting the statistics with {chain}, still only "
                         f"{100 * after.agree:.1f}% of {after.compared:,} positions agree with "
                         f"the LD reference (before: {100 * bc.agree:.1f}%): is the chain from "
                         f"the statistics' build ({_label(bc.sumstats_build)}) to the "
                         f"reference's ({_label(bc.reference_build)})?")
    log.info("genome build after liftover: %s", after.describe())
    bc.lifted = lifted.attrs.get("lifted")
    return lifted, bc
