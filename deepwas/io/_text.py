"""Low-level reading of text tables of summary statistics, shared by
:mod:`deepwas.io.sumstats` and :mod:`deepwas.io.vcf`: gzip told from the bytes (not the file
name), the header and its separator, the file's kind, and chunked parsing of only the needed
columns into numbers."""
from __future__ import annotations

import gzip
import io
import zlib

import numpy as np
import pandas as pd

from ._delimiters import CheckedLines, FieldCountError, header_fields


def _open_text(path):
    """Text handle on a plain or gzip file (detected by its magic bytes, not its name)."""
    return gzip.open(path, "rt") if _is_gzip(path) else open(path, "rt")


def _header(path):
    """The column names and the separator (:func:`deepwas.io._delimiters.header_fields`):
    a tab when the header line holds one, a comma when it is split by commas, else any run of
    whitespace. Empty names (a trailing separator) are left out."""
    with _open_text(path) as fh:
        for line in fh:
            if line.strip():
                names, sep = header_fields(line)
                return [h for h in names if h], sep
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
    near the size of the output table rather than a multiple of the file. Every line must
    have the header's number of fields (:class:`deepwas.io._delimiters.CheckedLines`): an
    empty field of a tab- or comma-separated file is a missing value, never a shift."""
    raw = gzip.open(path, "rb") if _is_gzip(path) else open(path, "rb")
    stream = io.BufferedReader(CheckedLines(raw, sep, path), buffer_size=1 << 20)
    kw = {}
    if sep == "\t":
        # the names as the header splits them (stripped), so that usecols find them
        with _open_text(path) as fh:
            names = next(header_fields(line)[0] for line in fh if line.strip())
        kw = dict(header=0, names=_unique([h or f"_unnamed_{k}" for k, h in enumerate(names)]))
    parts = []
    try:
        with pd.read_csv(stream, sep=sep, usecols=usecols, chunksize=chunksize,
                         dtype={c: str for c in usecols if c in text_cols}, **kw) as reader:
            for chunk in reader:
                for c in chunk.columns:
                    if c not in text_cols:
                        chunk[c] = _num(chunk[c])
                parts.append(chunk)
    except FieldCountError as e:
        raise ValueError(str(e)) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:
        raise ValueError(f"{path}: the gzip file is truncated or corrupt ({e}); "
                         "re-download or re-compress it") from e
    finally:
        stream.close()
    if not parts:
        return pd.DataFrame(columns=usecols)
    return pd.concat(parts, ignore_index=True)


def _unique(names):
    """Repeated names made unique the way pandas does (``P``, ``P.1`` ...), first kept."""
    seen, out = {}, []
    for h in names:
        k = seen.get(h, 0)
        seen[h] = k + 1
        out.append(h if k == 0 else f"{h}.{k}")
    return out


def _is_gzip(path):
    with open(path, "rb") as fh:
        return fh.read(2) == b"\x1f\x8b"


def _num(s):
    """Floats from text; what does not parse becomes NaN (a row to drop, not an error)."""
    return pd.to_numeric(s, errors="coerce").astype(np.float64)
