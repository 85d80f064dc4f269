"""How the fields of a text table of summary statistics are separated, and the check that every
line has as many fields as the header.

A header split by tabs means tab-separated rows: an empty field between two tabs is a missing
value (what ``pandas.to_csv`` and ``data.table::fwrite`` write for NaN), never a reason to
take the next column's value. A header split by commas means comma-separated rows. Otherwise
fields are separated by runs of spaces or tabs (ldsc, PLINK 1.9, REGENIE files written with
spaces), which cannot hold an empty field. In every case a line with more or fewer fields than
the header would move values into the wrong columns, so it is an error that names the line
(a file that mixes tabs and spaces, a truncated or hand-edited line), found while pandas
parses the file: the bytes pass through :class:`CheckedLines` on their way to the parser.
"""
from __future__ import annotations

import io

import numpy as np

__all__ = ["header_fields", "CheckedLines", "FieldCountError"]

_TAB, _COMMA, _NL, _CR, _SPACE = 9, 44, 10, 13, 32


class FieldCountError(ValueError):
    """A line whose number of fields differs from the header's."""


def header_fields(line):
    """``(names, sep)`` of a header line: ``sep`` is ``"\\t"``, ``","`` or ``r"\\s+"``.

    Tab- and comma-separated names are stripped of spaces (and commas of quotes); an empty
    name (a trailing separator) is kept as ``""`` so that the names line up with the fields.
    """
    text = line.rstrip("\r\n")
    if "\t" in text:
        return [h.strip() for h in text.split("\t")], "\t"
    fields = text.split()
    commas = [h.strip().strip('"') for h in text.split(",")]
    if len(commas) > len(fields):
        return commas, ","
    return fields, r"\s+"


class CheckedLines(io.RawIOBase):
    """A binary stream over ``fh`` that checks, block by block, that every non-blank line has
    the field count of the first non-blank line (the header), and raises
    :class:`FieldCountError` naming the first line that does not.

    Fields are counted with numpy over each block (separators per line for ``"\\t"`` and
    ``","``; starts of runs of non-blank bytes for whitespace), so the check costs a small
    fraction of parsing.
    """

    def __init__(self, fh, sep, path):
        self._fh = fh
        self._sep = sep
        self._path = path
        self._rest = b""
        self._line = 0          # lines checked so far
        self._expect = None     # field count of the header

    def readable(self):
        return True

    def readinto(self, buf):
        data = self._fh.read(len(buf))
        if data:
            self._check(data, final=False)
        elif self._rest:
            self._check(b"\n", final=True)
        buf[:len(data)] = data
        return len(data)

    def close(self):
        self._fh.close()
        super().close()

    def _check(self, data, final):
        block = self._rest + data
        end = block.rfind(b"\n") + 1
        if end == 0 and not final:
            self._rest = block
            return
        self._rest = block[end:]
        arr = np.frombuffer(block, dtype=np.uint8, count=end)
        ends = np.flatnonzero(arr == _NL)
        if self._sep == r"\s+":
            space = (arr == _SPACE) | (arr == _TAB) | (arr == _CR) | (arr == _NL)
            marks = np.flatnonzero(~space & np.r_[True, space[:-1]])     # first byte of a field
            count = np.diff(np.searchsorted(marks, ends), prepend=0)
        else:
            marks = np.flatnonzero(arr == (_TAB if self._sep == "\t" else _COMMA))
            count = np.diff(np.searchsorted(marks, ends), prepend=0) + 1
        starts = np.r_[0, ends[:-1] + 1]
        if self._expect is None:
            for k in range(len(ends)):
                if block[starts[k]:ends[k]].strip():
                    self._expect = int(count[k])
                    break
        # lines with another count are errors unless blank (blank lines are skipped)
        for k in np.flatnonzero(count != self._expect):
            line = block[starts[k]:ends[k]]
            if line.strip():
                raise FieldCountError(self._message(self._line + int(k) + 1, int(count[k]),
                                                    line.decode("utf-8", "replace")))
        self._line += len(ends)

    def _message(self, number, count, line):
        what = {"\t": "tab-separated ", ",": "comma-separated "}.get(self._sep, "")
        head = (f"{self._path}: line {number:,} has {count} {what}field"
                f"{'s' if count != 1 else ''} where the header has {self._expect}")
        shown = line if len(line) <= 80 else line[:77] + "..."
        if self._sep == "\t" and len(line.split()) == self._expect:
            why = ("it is separated by spaces: the file mixes tabs and spaces. Write it again "
                   "with one separator (tabs, with an empty field or NA for a missing value)")
        elif self._sep == r"\s+" and "\t" in line:
            why = ("the header is separated by spaces but this line by tabs, which can leave a "
                   "field empty: write the file with one separator (tabs throughout, or NA for "
                   "a missing value)")
        else:
            why = ("values would land in the wrong columns; is the line truncated, or does a "
                   "field hold the separator? Write a missing value as an empty field (tab- or "
                   "comma-separated files) or NA")
        return f"{head} ({shown!r}): {why}"
