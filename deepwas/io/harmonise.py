"""Harmonise summary statistics with an LD reference.

The steps between a summary-statistics table and the variant table of a
:class:`deepwas.SummaryStats`, each counted in ``drop_counts``:

1. **standard columns** (:func:`standard_sumstats`): SNP, A1, A2, Z (or BETA/SE), N, FREQ;
   the sample-size rule below; the file's format detected (:mod:`deepwas.io.formats`);
2. **genome build** (:mod:`deepwas.io.build`): positions of shared rsIDs (or of shared
   alleles) compared; statistics on another build than the reference are lifted with
   ``chain=`` (rows the chain does not map dropped, as ``liftover_*``), and without a chain
   the mismatch is an error naming both builds;
3. **deduplication**: every copy of an rsID present more than once, in the statistics
   (``duplicate_snp``) or the reference (``duplicate_snp_in_reference``), is dropped;
4. **matching** on the rsID, then, for statistics left over, on chromosome, position and
   alleles (``matched_by_position``; ``not_in_reference`` for the rest);
5. **allele alignment** (:func:`deepwas.io.alignment.align_alleles`): signs of swapped
   alleles flipped, strand flips of single-base SNPs repaired, ambiguous and mismatched
   alleles dropped;
6. **one variant per LD row**: where the reference maps several variants to one row of its
   LD (an LDGM index, column ``ld_index``), the first in genome order is kept
   (``merged_same_ld_index``);
7. **frequency orientation**: a FREQ column counts A1 of the statistics; where the alleles
   were swapped it becomes ``1 - FREQ`` so that ``freq`` always counts the reference's ``a1``
   (the allele ``beta_hat`` counts). When the reference knows frequencies too, a FREQ column
   that fits the other allele for most SNPs is an error (the effect allele is mislabelled:
   :func:`deepwas.io.frequencies.check_effect_allele_frequencies`), and so is one that fits
   another population of an LDGM reference far better than the one chosen
   (:func:`deepwas.io.frequencies.check_population_frequencies`);
8. variants **monomorphic** in a genotype reference are dropped.

Sample size. An explicit ``n`` overrides any N column (a conflict is logged with both
values); without ``n`` the file's N column is used per SNP. The same rule holds for a file
path and a DataFrame (:func:`deepwas.io.read_sumstats` applies it to files; BOLT-LMM output
has no N column and ``n`` is the number of people from which its effective N is derived).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..ld import GenotypeLD
from ..utils.chrom import genome_order, normalise_chrom
from ._standard_table import check_sample_size, override_n
from .alignment import align_alleles
from .build import _resolve_build, build_from_text, check_build as _check_build
from .frequencies import _oriented_freq, check_effect_allele_frequencies, \
    check_population_frequencies
from .matching import _match_positions, no_overlap_message
from .sumstats import read_sumstats

__all__ = ["standard_sumstats", "harmonise", "Harmonised", "check_sample_size",
           "override_n"]

log = logging.getLogger(__name__)


def standard_sumstats(sumstats, n=None, columns=None, format="auto"):
    """Summary statistics as a DataFrame with SNP, A1, A2, Z, N (+ FREQ) columns.

    Parameters
    ----------
    sumstats : str, path or DataFrame
        A file for :func:`deepwas.io.read_sumstats` or a DataFrame (column names
        case-insensitive; Z, or BETA and SE).
    n : float, optional
        GWAS sample size; overrides any N column (see the module docstring).
    columns : dict, optional
        Column names for a file, as in :func:`deepwas.io.read_sumstats`.
    format : str
        Format of a file (:func:`deepwas.io.read_sumstats`; default: detected).

    Returns
    -------
    pandas.DataFrame
    """
    if isinstance(sumstats, (str, os.PathLike)):
        df = read_sumstats(sumstats, n=n, columns=columns, format=format)  # applies the n rule
    elif isinstance(sumstats, pd.DataFrame):
        df = sumstats.copy()
        df.attrs = dict(sumstats.attrs)
        df.columns = [str(c).upper() for c in df.columns]
        if n is not None:
            override_n(df, n, "summary statistics")
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
    if "N" not in df:
        raise ValueError("summary statistics have no N column: give the GWAS sample size "
                         "(n= in Python, --n on the command line)")
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


@dataclass
class Harmonised:
    """What :func:`harmonise` returns.

    Attributes
    ----------
    table : pandas.DataFrame
        ``chrom, pos, snp, a1, a2, freq, beta_hat`` in genome order, in the reference's
        orientation (identifier, position and alleles the reference's), then
        ``sumstats_snp, sumstats_chrom, sumstats_pos, sumstats_a1, sumstats_a2``: the same
        variants as the statistics named them (their identifier, position on their own build,
        and their spelling of ``a1`` and ``a2``), for outputs a user joins to their files.
    source : LDSource
        The reference restricted to the rows of ``table``.
    n : float
        Median per-SNP sample size (the data set's N).
    drop_counts : dict
        Variants dropped or repaired, by reason.
    build : deepwas.io.build.BuildCheck or None
        What the genome-build check found (None when it was not run).
    reference_rows : ndarray of int
        Row of each ``table`` variant in the reference's variant table.
    genome_builds : dict
        ``{"sumstats": ..., "reference": ..., "status": ..., "lifted": bool}``: the builds of
        the statistics' own positions (``table["sumstats_pos"]``) and of the reference's
        (``table["pos"]``), declared or inferred (None when unknown), the build check's status
        and whether the statistics were lifted.
    """

    table: pd.DataFrame
    source: object
    n: float
    drop_counts: dict
    build: object = None
    reference_rows: np.ndarray = None
    genome_builds: dict = None


def harmonise(source, sumstats, *, n=None, keep_ambiguous=False, columns=None, chain=None,
              format="auto", match_by="auto", check_build=True):
    """Match, align and orient summary statistics to an LD source (module docstring).

    Parameters
    ----------
    source : deepwas.ld.LDSource
    sumstats : str, path or DataFrame
    n : float, optional
        GWAS sample size; overrides any N column.
    keep_ambiguous : bool, default False
        Keep strand-ambiguous (A/T, C/G) SNPs, matching their alleles literally.
    columns : dict, optional
        Column names of a file (see :func:`deepwas.io.read_sumstats`).
    chain : str, optional
        UCSC chain file from the statistics' genome build to the reference's. Applied when the
        build check finds the two builds differ (rows the chain does not map are dropped and
        counted as ``liftover_*``); ignored, with a log line, when they agree.
    format : str
        Format of a file (:func:`deepwas.io.read_sumstats`; default: detected from the header).
    match_by : {"auto", "rsid", "position"}
        ``"auto"``: by rsID, then statistics left unmatched (no rsID, or one the reference
        does not know) by chromosome, position and alleles (counted as
        ``matched_by_position``); ``"rsid"`` or ``"position"`` only.
    check_build : bool, default True
        Compare the genome builds of the statistics and the reference (module docstring of
        :mod:`deepwas.io.build`); a mismatch without ``chain`` is an error naming both.

    Returns
    -------
    Harmonised
    """
    if match_by not in ("auto", "rsid", "position"):
        raise ValueError(f"match_by must be 'auto', 'rsid' or 'position', got {match_by!r}")
    ss = standard_sumstats(sumstats, n, columns, format)
    ref = source.variants
    ss = _keep_user_ids(ss)
    counts = dict(ss.attrs.get("dropped", {}))
    if ss.attrs.get("multiallelic_split"):
        counts["multiallelic_split"] = int(ss.attrs["multiallelic_split"])
    build = None
    if check_build or chain is not None:
        ss, build = _resolve_build(ss, source, chain, counts, _check_build)

    dup = ss["SNP"].duplicated(keep=False)
    counts["duplicate_snp"] = counts.get("duplicate_snp", 0) + int(dup.sum())
    ss = ss[~dup]
    ref_dup = ref["snp"].duplicated(keep=False).to_numpy()
    counts["duplicate_snp_in_reference"] = int(ref_dup.sum())

    at = pd.Series(np.nan, index=ss.index)
    if match_by in ("auto", "rsid"):
        ref_pos = pd.Series(np.flatnonzero(~ref_dup), index=ref["snp"].to_numpy()[~ref_dup])
        at = ss["SNP"].map(ref_pos).astype(np.float64)
    if match_by in ("auto", "position"):
        at, k = _match_positions(ss, ref, at)
        if k:
            counts["matched_by_position"] = k
    ss = ss.assign(_ref=at)
    counts["not_in_reference"] = int(ss["_ref"].isna().sum())
    matched = ss["_ref"].notna()
    if not matched.any():
        raise ValueError(no_overlap_message(ss, ref))
    ss = ss[matched]
    ridx = ss["_ref"].to_numpy(dtype=np.int64)
    sign, acounts = align_alleles(ss["A1"], ss["A2"], ref["a1"].to_numpy()[ridx],
                                  ref["a2"].to_numpy()[ridx], keep_ambiguous=keep_ambiguous)
    counts.update(acounts)
    keep = sign != 0
    mono = source.monomorphic if isinstance(source, GenotypeLD) else np.zeros(len(ref), bool)
    counts["monomorphic_in_reference"] = int(mono[ridx[keep]].sum())
    keep &= ~mono[ridx]
    ss, ridx, sign = ss[keep], ridx[keep], sign[keep]
    if len(ss) == 0:
        raise ValueError("no SNP left after allele alignment against the reference "
                         f"(drops: {counts})")
    # genome order (chromosomes in natural order, then position), as SummaryStats keeps it
    ref_chrom, ref_pos = ref["chrom"].to_numpy()[ridx], ref["pos"].to_numpy()[ridx]
    order = genome_order(ref_chrom, ref_pos)
    ss, ridx, sign = ss.iloc[order], ridx[order], sign[order]
    if "ld_index" in ref:
        # several variants share one row of the LD (an LDGM index): keep the first of each,
        # in genome order (graphREML's representative), and count the others
        li = ref["ld_index"].to_numpy()[ridx]
        first = ~pd.Series(li).duplicated(keep="first").to_numpy()
        counts["merged_same_ld_index"] = int((~first).sum())
        ss, ridx, sign = ss[first], ridx[first], sign[first]
    counts["reference_unused"] = int(len(ref) - len(ridx))
    n_snp = ss["N"].to_numpy(dtype=np.float64)
    beta_hat = sign * ss["Z"].to_numpy(dtype=np.float64) / np.sqrt(n_snp)
    if not np.all(np.isfinite(beta_hat)):
        raise ValueError("beta_hat contains NaN or inf values after alignment")
    freq = _oriented_freq(ss, sign, source, ridx)
    check_population_frequencies(ss, sign, source, ridx)
    check_effect_allele_frequencies(ss, sign, source, ridx, ref)
    sub = source.subset(ridx)
    table = pd.DataFrame({
        "chrom": sub.variants["chrom"].to_numpy(dtype=object),
        "pos": sub.variants["pos"].to_numpy(dtype=np.int64),
        "snp": sub.variants["snp"].to_numpy(dtype=object),
        "a1": sub.variants["a1"].to_numpy(dtype=object),
        "a2": sub.variants["a2"].to_numpy(dtype=object),
        "freq": freq, "beta_hat": beta_hat,
    })
    _user_columns(table, ss, sign)
    repaired = _describe(counts, _REPAIRS)
    dropped = _describe(counts, _DROPS)
    log.info("aligned %d SNPs to the LD reference%s; %d reference variants have no statistic",
             len(table), f" ({repaired})" if repaired else "", counts["reference_unused"])
    if dropped:
        log.warning("summary statistics: %d SNPs kept; dropped %s", len(table), dropped)
    return Harmonised(table, sub, float(np.median(n_snp)), counts, build, ridx,
                      _genome_builds(build, ss, source))


def _genome_builds(build, ss, source):
    """The builds of the statistics' own positions and of the reference's (see
    :class:`Harmonised`)."""
    ref = build_from_text(getattr(source, "genome_build", None))
    if build is None:
        return {"sumstats": build_from_text(ss.attrs.get("genome_build")), "reference": ref,
                "status": None, "lifted": False}
    return {"sumstats": build.sumstats_build, "reference": build.reference_build or ref,
            "status": build.status, "lifted": build.lifted is not None}


#: the statistics' own identifier, position and alleles, kept through liftover and matching
_USER = {"SNP": "_user_snp", "CHR": "_user_chrom", "BP": "_user_pos", "A1": "_user_a1",
         "A2": "_user_a2"}


def _keep_user_ids(ss):
    """``ss`` with copies of the columns that name a variant as the user's file did (the
    build check may lift CHR/BP and complement alleles; matching goes by the reference)."""
    extra = {tmp: ss[col] if col in ss else pd.Series(pd.NA, index=ss.index, dtype=object)
             for col, tmp in _USER.items()}
    out = ss.assign(**extra)
    out.attrs = dict(ss.attrs)
    return out


def _user_columns(table, ss, sign):
    """``sumstats_snp, sumstats_chrom, sumstats_pos, sumstats_a1, sumstats_a2``: each kept
    variant as the statistics named it (identifier, chromosome and position on their own
    build, and their spelling of the reference's ``a1`` / ``a2``: the allele ``beta_hat``
    counts), so that outputs can be matched to the user's files by the user's IDs."""
    a1 = ss["_user_a1"].to_numpy(dtype=object)
    a2 = ss["_user_a2"].to_numpy(dtype=object)
    table["sumstats_snp"] = ss["_user_snp"].to_numpy(dtype=object)
    chrom = ss["_user_chrom"].astype(object).to_numpy()
    has = ~pd.isna(chrom)
    chrom = np.full(len(chrom), None, dtype=object)
    chrom[has] = normalise_chrom(ss["_user_chrom"].to_numpy(dtype=object)[has].astype(str))
    table["sumstats_chrom"] = chrom
    table["sumstats_pos"] = pd.to_numeric(ss["_user_pos"], errors="coerce").astype(
        "Int64").to_numpy()
    table["sumstats_a1"] = np.where(sign > 0, a1, a2)
    table["sumstats_a2"] = np.where(sign > 0, a2, a1)


#: what each count means, in the words of the log lines
_REPAIRS = {"flipped": "{} with alleles swapped (sign flipped)",
            "strand_flipped": "{} read from the other strand",
            "matched_by_position": "{} matched by position and alleles",
            "multiallelic_split": "{} rows of multi-allelic VCF sites split into biallelic rows"}
_DROPS = {"not_in_reference": "{} not in the LD reference",
          "duplicate_snp": "{} with a duplicated rsID",
          "duplicate_snp_in_reference": "{} duplicated in the reference",
          "ambiguous": "{} strand-ambiguous (A/T, C/G)",
          "allele_mismatch": "{} whose alleles differ from the reference's",
          "monomorphic_in_reference": "{} monomorphic in the reference panel",
          "merged_same_ld_index": "{} sharing an LD index with a kept variant (merged)",
          "liftover_unmapped": "{} not mapped by the liftover chain",
          "liftover_alt_contig": "{} lifted only onto alt/random/Un contigs",
          "liftover_no_chain": "{} on chromosomes missing from the liftover chain",
          "liftover_no_position": "{} without a position to lift"}


def _describe(counts, words):
    parts = [text.format(f"{counts[k]:,}") for k, text in words.items() if counts.get(k)]
    others = [f"{v:,} {k.replace('_', ' ')}" for k, v in counts.items()
              if v and k not in _REPAIRS and k not in _DROPS and k != "reference_unused"
              and words is _DROPS]
    return ", ".join(parts + others)
