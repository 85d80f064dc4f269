"""Fix-ups for single formats of summary statistics, used by
:func:`deepwas.io.sumstats.read_sumstats`: refusing to guess the effect allele of an
``Allele1``/``Allele2`` header, PLINK 2's other allele, the genome build a file declares, and
reading PolyFun's parquet files."""
from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ._errors import SumstatsError
from ._standard_table import _drop
from .build import build_from_text


def _refuse_allele12_guess(header, shown, columns):
    """``Allele1``/``Allele2`` with nothing else to say whose effect it is: SAIGE counts
    Allele2, METAL and most meta-analysis tools Allele1. Guessing could flip every sign."""
    low = {h.lower() for h in header}
    if {"allele1", "allele2"} <= low and not (columns and {"A1", "A2"} <= {k.upper() for k in
                                                                           columns}):
        msg = ("the header has Allele1 and Allele2 but nothing that tells whose effect BETA "
               "is: saige (SAIGE: effect allele Allele2) or metal (METAL and most "
               f"meta-analysis tools: effect allele Allele1). The header is: {shown}. Say which "
               "with ")
        raise SumstatsError(msg + "format='saige' or format='metal'",
                            cli=msg + "--format saige or --format metal")


def _plink2_other_allele(df, dropped, path):
    """PLINK 2: A2 is whichever of REF/ALT is not A1; multi-allelic rows are dropped."""
    if "ERRCODE" in df:
        err = df.pop("ERRCODE").astype(str).str.strip()
        df = _drop(df, ~err.isin([".", "", "nan", "<NA>"]).to_numpy(), "plink2_errcode",
                   dropped, path)
    if "A2" in df:
        return df
    a1 = df["A1"].astype(str).str.strip().str.upper()
    ref = df.pop("REF").astype(str).str.strip().str.upper()
    alt = df.pop("ALT").astype(str).str.strip().str.upper()
    omitted = df.pop("OMITTED").astype(str).str.strip().str.upper() if "OMITTED" in df else None
    multi = alt.str.contains(",", regex=False)
    a2 = pd.Series(np.where(a1 == ref, alt, ref), index=df.index, dtype=object)
    if omitted is not None:
        a2 = a2.where(~multi, omitted)
        multi = multi & omitted.str.contains(",", regex=False)
    df["A2"] = a2
    known = [a == r or a in str(al).split(",") for a, r, al in zip(a1, ref, alt)]
    df = _drop(df, (multi | ~np.asarray(known, dtype=bool)).to_numpy(), "multiallelic",
               dropped, path)
    return df


def _declared_build(path, header, colmap):
    """The genome build a file declares: a GWAS-SSF ``-meta.yaml`` beside it, or a position
    column named for its build (``bp_hg38``, ``POS_GRCh37`` ...)."""
    meta = path + "-meta.yaml"
    if os.path.exists(meta):
        import re

        with open(meta) as fh:
            m = re.search(r"genome_assembly\s*:\s*['\"]?([A-Za-z0-9.]+)", fh.read())
        if m:
            b = build_from_text(m.group(1))
            if b:
                return b
    bp = colmap.get("BP")
    return build_from_text(bp) if bp else None


def _read_parquet(path):
    try:
        return pd.read_parquet(path)
    except ImportError as e:
        raise ImportError(f"{path} is a parquet file: reading it needs pyarrow "
                          "(pip install pyarrow)") from e
