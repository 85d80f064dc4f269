"""GWAS-VCF summary statistics (MRC-IEU specification, as served by the IEU OpenGWAS project).

Layout: a VCF whose one sample column holds the study. ``REF`` is the non-effect allele and
``ALT`` the effect allele; the FORMAT keys are ``ES`` (effect of ALT; log odds ratio for a
binary trait), ``SE``, ``LP`` (-log10 p), ``AF`` (ALT frequency), ``SS`` (sample size, v1.0) or
``NS`` (v1.2), ``EZ`` (Z when ES and SE were derived from it), ``SI``, ``NC``, ``AC`` and ``ID``
(the study's own variant identifier). Fields declared ``Number=A`` hold one comma-separated
value per ALT allele.

Read here with pandas only (no htslib): the ``##`` header lines are scanned for the genome
build (``##contig=<...,assembly=...>``, ``##reference=``, else the ``##contig`` lengths) and
the total sample size (``TotalSamples``, or ``TotalCases`` + ``TotalControls``), then the body
is parsed in chunks; records that failed a filter (FILTER other than ``PASS`` or ``.``) are
dropped and counted.
"""
from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from ._standard_table import _drop
from ._text import _is_gzip, _num, _open_text
from .build import build_from_text
from .contigs import build_from_contigs

__all__ = ["read_gwas_vcf"]

log = logging.getLogger(__name__)

_VCF_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]


def _meta(path):
    """``(n_header_lines, build, total_n, sample_names)`` from the ``#`` lines: the build
    an assembly label names, else the one the ``##contig`` lengths fit
    (:func:`deepwas.io.build_from_contigs`)."""
    n_lines, builds, total, cases, controls = 0, [], None, None, None
    lengths = {}
    header = None
    with _open_text(path) as fh:
        for line in fh:
            if line.startswith("##"):
                n_lines += 1
                if line.startswith("##contig"):
                    m = re.search(r"[<,]ID=([^,>]+).*?[<,]length=(\d+)", line)
                    if m:
                        lengths[m.group(1)] = int(m.group(2))
                if line.startswith(("##contig", "##reference", "##assembly")):
                    m = re.search(r"assembly=([^,>]+)", line) if line.startswith("##contig") \
                        else re.search(r"=(.*)$", line.strip())
                    if m:
                        b = build_from_text(m.group(1))
                        if b:
                            builds.append(b)
                for key, val in re.findall(r"(TotalSamples|TotalCases|TotalControls)=([0-9.]+)",
                                           line):
                    if key == "TotalSamples":
                        total = float(val)
                    elif key == "TotalCases":
                        cases = float(val)
                    else:
                        controls = float(val)
                continue
            if line.startswith("#CHROM"):
                header = line.rstrip("\r\n").split("\t")
                n_lines += 1
            break
    if header is None or header[:len(_VCF_COLUMNS)] != _VCF_COLUMNS or \
            len(header) < len(_VCF_COLUMNS) + 1:
        raise ValueError(f"{path}: not a GWAS-VCF file: expected a tab-separated header line "
                         f"{' '.join(_VCF_COLUMNS)} <study> after the ## lines")
    if total is None and controls is not None:     # continuous traits: controls = everyone
        total = controls + (cases or 0.0)
    build = max(set(builds), key=builds.count) if builds else build_from_contigs(lengths)
    if not builds and build:
        log.info("%s: genome build %s, from the ##contig lengths", path, build)
    return n_lines - 1, build, total, header[len(_VCF_COLUMNS):]


def _split_sample(chunk, sample):
    """Per row, a dict FORMAT key -> raw text, vectorised by distinct FORMAT strings."""
    out = {}
    for fmt_str, idx in chunk.groupby("FORMAT", sort=False).groups.items():
        keys = str(fmt_str).split(":")
        parts = chunk.loc[idx, sample].astype(str).str.split(":", expand=True)
        for j, k in enumerate(keys):
            col = out.setdefault(k, pd.Series(np.nan, index=chunk.index, dtype=object))
            if j < parts.shape[1]:
                col.loc[idx] = parts[j].to_numpy()
    return out


def read_gwas_vcf(path, sample=None, chunksize=200_000):
    """Read a GWAS-VCF file into standard-named columns.

    Parameters
    ----------
    path : str
        ``.vcf`` or ``.vcf.gz`` (plain gzip or bgzip).
    sample : str, optional
        The study column to read when the file holds several (default: the first).
    chunksize : int
        Rows parsed at a time.

    Returns
    -------
    df : pandas.DataFrame
        SNP CHR BP A1 (= ALT) A2 (= REF) BETA (= ES) SE, and FREQ (= AF), N (= SS or NS),
        LOG10P (= LP) or Z (= EZ) when present.
    info : dict
        ``dropped`` (counts), ``genome_build`` (from the header, or None), ``z_from``,
        ``multiallelic_split``, ``vcf_sample`` and, when records were filtered,
        ``vcf_filters`` (records per FILTER name).

    Notes
    -----
    * Records whose FILTER is neither ``PASS`` nor ``.`` (failed a filter: MRC-IEU's
      harmonisation flags such as ``IFFY`` or ``REF_MISMATCH``) are dropped, as MRC-IEU's
      tools drop them, and counted (``vcf_filter_not_pass``).
    * Genome build: the assembly a ``##contig`` or ``##reference`` line names, else the build
      whose chromosome lengths the ``##contig`` lines give
      (:func:`deepwas.io.build_from_contigs`).
    * Identifier: the ``ID`` column when it is an rsID, else an ``RSID=`` INFO entry, else the
      FORMAT ``ID`` field when it is an rsID; otherwise the row is named ``CHR:POS:REF:ALT``
      and matched to an LD reference by position and alleles.
    * Multi-allelic records (``ALT`` = ``A,G``) are split into one biallelic row per ALT
      allele, each with its own ``Number=A`` values; rows of a multi-allelic site (split
      here, or written as several records sharing a position and an identifier, as the
      specification asks) are named ``CHR:POS:REF:ALT`` so that each can only match the LD
      reference's variant with the same alleles. Their number is ``info["multiallelic_split"]``.
    * N: the per-variant ``SS`` (or ``NS``) field; else the header's ``TotalSamples`` (or
      ``TotalCases + TotalControls``; IEU files of continuous traits give everyone as
      ``TotalControls``); else ``n=`` of :func:`~deepwas.io.read_sumstats`.
    """
    skip, build, total, samples = _meta(path)
    if sample is None:
        sample = samples[0]
        if len(samples) > 1:
            log.warning("%s: %d studies in the file (%s); reading the first, %s", path,
                        len(samples), ", ".join(samples), sample)
    elif sample not in samples:
        raise ValueError(f"{path}: no study column {sample!r}; the file has {samples}")
    usecols = _VCF_COLUMNS[:5] + ["FILTER", "INFO", "FORMAT", sample]
    reader = pd.read_csv(path, sep="\t", skiprows=skip, header=0, usecols=usecols, dtype=str,
                         chunksize=chunksize, compression="gzip" if _is_gzip(path) else None,
                         keep_default_na=False)
    frames, n_split = [], 0
    keys_seen, filters = set(), {}
    with reader:
        for chunk in reader:
            chunk = _passed(chunk, filters)
            fields = _split_sample(chunk, sample)
            keys_seen |= set(fields)
            rows = pd.DataFrame({"CHR": chunk["#CHROM"], "BP": chunk["POS"], "ID": chunk["ID"],
                                 "REF": chunk["REF"], "ALT": chunk["ALT"],
                                 "INFO": chunk["INFO"]})
            for k in ("ES", "SE", "LP", "AF", "SS", "NS", "EZ", "ID"):
                if k in fields:
                    rows["F_" + k] = fields[k]
            multi = rows["ALT"].str.contains(",", regex=False)
            if multi.any():
                n_split += int(multi.sum())
                split_cols = ["ALT"] + [c for c in ("F_ES", "F_SE", "F_LP", "F_AF", "F_EZ",
                                                    "F_SS", "F_NS") if c in rows]
                m = rows.loc[multi].copy()
                n_alt = m["ALT"].str.count(",").to_numpy() + 1
                for c in split_cols:
                    m[c] = m[c].astype(str).str.split(",")
                    # a field given once (Number=1, e.g. SS) serves every ALT allele
                    m[c] = [v if len(v) == k else v[:1] * k for v, k in zip(m[c], n_alt)]
                m = m.explode(split_cols)
                m["_multi"] = True
                rows = pd.concat([rows.loc[~multi].assign(_multi=False), m])
            else:
                rows["_multi"] = False
            frames.append(rows)
    if not frames:
        raise ValueError(f"{path}: the GWAS-VCF file has no records")
    raw = pd.concat(frames, ignore_index=True)
    for need in ("ES",):
        if "F_" + need not in raw:
            raise ValueError(f"{path}: GWAS-VCF records need an {need} FORMAT field (effect of "
                             f"the ALT allele); the FORMAT keys are {sorted(keys_seen)}")
    rsid = raw["ID"].where(raw["ID"].str.match(r"^rs\d+$", na=False))
    from_info = raw["INFO"].str.extract(r"(?:^|;)RSID=(rs\d+)", expand=False)
    rsid = rsid.fillna(from_info)
    if "F_ID" in raw:
        rsid = rsid.fillna(raw["F_ID"].where(raw["F_ID"].astype(str).str.match(r"^rs\d+$")))
    # a site with several ALT alleles (one record split here, or several records sharing a
    # position and an identifier) is named by position and alleles, row by row
    site = raw["CHR"] + ":" + raw["BP"] + ":" + rsid.fillna(raw["ID"])
    multi_site = raw["_multi"] | site.duplicated(keep=False)
    n_multi = int(multi_site.sum())
    if n_multi:
        n_split = n_multi
    rsid = rsid.where(~multi_site)
    df = pd.DataFrame({"SNP": rsid, "CHR": raw["CHR"], "BP": raw["BP"], "A1": raw["ALT"],
                       "A2": raw["REF"], "BETA": _num(raw["F_ES"])})
    z_from = "BETA/SE"
    if "F_SE" in raw:
        df["SE"] = _num(raw["F_SE"])
    if "F_SE" not in raw or df["SE"].isna().all():
        df = df.drop(columns=["SE"], errors="ignore")
        if "F_EZ" in raw:
            df["Z"] = _num(raw["F_EZ"])
            z_from = "Z"
        elif "F_LP" in raw:
            df["LOG10P"] = _num(raw["F_LP"])
            z_from = "BETA and LOG10P"
        else:
            raise ValueError(f"{path}: GWAS-VCF records need SE (or EZ, or LP) besides ES")
    if "F_AF" in raw:
        df["FREQ"] = _num(raw["F_AF"])
    ss = raw["F_SS"] if "F_SS" in raw else raw["F_NS"] if "F_NS" in raw else None
    dropped = {}
    if ss is not None and _num(ss).notna().any():
        df["N"] = _num(ss)
        if total is not None:
            df["N"] = df["N"].fillna(total)
    elif total is not None:
        df["N"] = total
        log.info("%s: N = %g for every variant, from the header", path, total)
    if n_split:
        log.info("%s: %d rows at multi-allelic sites, named CHR:POS:REF:ALT (matched by "
                 "position and alleles)", path, n_split)
    if filters:
        failed = sum(filters.pop(k) for k in list(filters) if k.startswith("#"))
        dropped["vcf_filter_not_pass"] = failed
        log.warning("%s: dropped %d records whose FILTER is not PASS (%s)", path, failed,
                    ", ".join(f"{k} {v}" for k, v in sorted(filters.items())))
    df = _drop(df, df["BETA"].isna().to_numpy(), "missing_effect", dropped, path)
    info = {"dropped": dropped, "genome_build": build, "z_from": z_from,
            "multiallelic_split": n_split, "vcf_sample": sample}
    if filters:
        info["vcf_filters"] = dict(sorted(filters.items()))
    return df.reset_index(drop=True), info


def _passed(chunk, filters):
    """The records of ``chunk`` whose FILTER is ``PASS`` or ``.`` (no filter applied); the
    others (MRC-IEU's harmonisation flags such as ``IFFY`` or ``REF_MISMATCH``, any failed
    filter) are left out, counted per filter name in ``filters`` (and in total under
    ``"#records"``)."""
    flt = chunk["FILTER"].astype(str).str.strip()
    bad = ~flt.isin(["PASS", ".", ""])
    if bad.any():
        filters["#records"] = filters.get("#records", 0) + int(bad.sum())
        for name, k in flt[bad].str.split(";").explode().value_counts().items():
            filters[name] = filters.get(name, 0) + int(k)
    return chunk.loc[~bad]
