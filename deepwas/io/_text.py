"""Low-level reading of text tables of summary statistics, shared by
:mod:`deepwas.io.sumstats` and :mod:`deepwas.io.vcf`: gzip told from the bytes (not the file
name), the header and its separator, the file's kind, and chunked parsing of only the needed
columns into numbers."""
from __future__ import annotations

import gzip
import zlib

import numpy as np
import pandas as pd


def _open_text(path):
    """Text handle on a plain or gzip file (detected by its magic bytes, not its name)."""
    return gzip.open(path, "rt") if _is_gzip(path) else open(path, "rt")


def _header(path):
    """The column names and the separator: comma when the header line is split by commas
    rather than by tabs or spaces, else any run of whitespace."""
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                fields = line.split()
                commas = [h.strip().strip('"') for h in line.rstrip("\r\n").split(",")]
                if "\t" not in line and len(commas) > len(fields):
                    return commas, ","
                return fields, r"\s+"
    raise ValueError(f"{path}: file is empty")


def _sniff(path):
    """``"parquet"``, ``"vcf"`` or ``"text"`` from the file's first bytes."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == b"PAR1":
        return "parquet"
    try:
        with _open_text(path) as fh:
            first = fh.readline()
    except (EOFError, zlib.error, gzip.BadGzipFile, UnicodeDecodeError):
        return "text"
    return "vcf" if first.startswith("##fileformat=VCF") else "text"


def _read_chunks(path, usecols, text_cols, chunksize, sep=r"\s+"):
    """Only the needed columns, chunk by chunk, numbers parsed per chunk, so peak memory stays
    near the size of the output table rather than a multiple of the file."""
    gz = _is_gzip(path)
    reader = pd.read_csv(path, sep=sep, usecols=usecols, chunksize=chunksize,
                         compression="gzip" if gz else None,
                         dtype={c: str for c in usecols if c in text_cols})
    parts = []
    try:
        with reader:
            for chunk in reader:
                for c in chunk.columns:
                    if c not in text_cols:
                        chunk[c] = _num(chunk[c])
                parts.append(chunk)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: the gzip file is truncated or corrupt ({e}); "
                         "re-download or re-compress it") from e
    if not parts:
        return pd.DataFrame(columns=usecols)
    return pd.concat(parts, ignore_index=True)


def _is_gzip(path):
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _num(s):
    """Floats from text; what does not parse becomes NaN (a row to drop, not an error)."""
    return pd.to_numeric(s, errors="coerce").astype(np.float64)
