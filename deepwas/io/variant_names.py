"""Variants in output files named as the user's summary statistics named them.

Matching to an LD reference replaces a variant's identifier, position and allele spelling by
the reference's (``1:70728_C_T`` becomes ``rs1259734071``; hg19 positions become the hg38 of
an LDGM). Files a user joins back to their own data (PolyFun SNPVAR, PLINK ``--score``
weights, per-variant predictions) therefore carry the statistics' own ``SNP``, ``CHR``,
``BP``, ``A1``, ``A2`` (the harmonised table's ``sumstats_*`` columns) and the reference's
beside them (``REF_SNP``, ``REF_CHR``, ``REF_BP_<build>``), with the build of every position
column said in the column name or in the sentence :func:`user_id_columns` returns.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["user_id_columns"]

_LABELS = {"GRCh37": "GRCh37 (hg19)", "GRCh38": "GRCh38 (hg38)", "NCBI36": "NCBI36 (hg18)"}


def _label(build, builds):
    if build:
        return _LABELS.get(build, build)
    if builds.get("status") == "same":
        return "the LD reference's build, not declared"
    return "a build not declared"


def user_id_columns(variants, builds=None):
    """The columns that name each variant in an output file, and a sentence on their builds.

    Parameters
    ----------
    variants : DataFrame
        ``stats.variants`` (``chrom, pos, snp, a1, a2`` and, after matching statistics to a
        reference, ``sumstats_snp, sumstats_chrom, sumstats_pos, sumstats_a1,
        sumstats_a2``).
    builds : dict, optional
        ``stats.genome_builds``: ``{"sumstats": ..., "reference": ..., "status": ...}``.

    Returns
    -------
    columns : DataFrame
        ``SNP, CHR, BP, A1, A2`` as the statistics wrote them (A1 is the allele the effects
        count, in the statistics' spelling), then ``REF_SNP, REF_CHR, REF_BP_<build>`` (the
        LD reference's; ``REF_BP`` when its build is not known). Without ``sumstats_*``
        columns (data not matched to a reference) only the first five. When some variant has
        no position in the statistics (an ldsc file), CHR and BP are the reference's for all
        rows: a column never mixes builds.
    sentence : str
        What each column holds and on which build, for the log and the command's output.
    """
    builds = builds or {}
    v = variants
    if "sumstats_snp" not in v:
        cols = pd.DataFrame({"SNP": np.asarray(v["snp"]).astype(str),
                             "CHR": np.asarray(v["chrom"]).astype(str),
                             "BP": np.asarray(v["pos"]).astype(np.int64),
                             "A1": np.asarray(v["a1"]).astype(str),
                             "A2": np.asarray(v["a2"]).astype(str)})
        where = _label(builds.get("sumstats") or builds.get("reference"), builds)
        return cols, f"CHR, BP: positions on {where}"
    pos = pd.to_numeric(pd.Series(np.asarray(v["sumstats_pos"], dtype=object)), errors="coerce")
    chrom = pd.Series(np.asarray(v["sumstats_chrom"], dtype=object))
    own = bool(pos.notna().all() and chrom.notna().all())
    rb = builds.get("reference")
    ref_bp = "REF_BP" + (f"_{rb}" if rb else "")
    cols = pd.DataFrame({
        "SNP": np.asarray(v["sumstats_snp"]).astype(str),
        "CHR": chrom.astype(str).to_numpy() if own else np.asarray(v["chrom"]).astype(str),
        "BP": pos.to_numpy(np.int64) if own else np.asarray(v["pos"]).astype(np.int64),
        "A1": np.asarray(v["sumstats_a1"]).astype(str),
        "A2": np.asarray(v["sumstats_a2"]).astype(str),
        "REF_SNP": np.asarray(v["snp"]).astype(str),
        "REF_CHR": np.asarray(v["chrom"]).astype(str),
        ref_bp: np.asarray(v["pos"]).astype(np.int64)})
    where = (f"the statistics' positions ({_label(builds.get('sumstats'), builds)})" if own
             else f"the LD reference's positions ({_label(rb, builds)}): the statistics lack a "
                  "position for some variants")
    sentence = (f"SNP, A1, A2: as the summary statistics wrote them (A1: the allele the "
                f"effects count); CHR, BP: {where}; REF_SNP, REF_CHR, {ref_bp}: the LD "
                f"reference's identifier and position ({_label(rb, builds)})")
    return cols, sentence
