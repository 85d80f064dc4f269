"""The shipped manifests: one JSON file per public data set, and the files a fetch selects.

A manifest (``manifests/NAME.json``) names the data set's files with their addresses
(``urls``: the first, then mirrors), their ``size`` and ``checksum`` (``"sha256:..."`` or
``"md5:..."``) where the source publishes them (``null`` otherwise), the genome ``build``,
``licence``, ``citation`` and how deepwas reads the data (``read_with``). ``checksums.from``
(or a file's ``checksums_from``) names where the source publishes checksums at fetch time (a
Zenodo record's API, a UCSC ``md5sum.txt``). A ``windows`` block generates the files of a
windowed LD set (UK Biobank: two files per 3 Mb window) instead of listing 5,526 of them.
"""
from __future__ import annotations

import fnmatch
import json
import os

from ..cv import parse_region
from ..utils.chrom import chrom_sort_key, normalise_chrom

__all__ = ["Manifest", "list_datasets", "load_manifest", "MANIFEST_DIR"]

MANIFEST_DIR = os.path.join(os.path.dirname(__file__), "manifests")

_REQUIRED = ("name", "title", "description", "build", "licence", "citation", "homepage",
             "read_with", "checksums", "select", "files")
_FILE_REQUIRED = ("name", "urls", "size", "checksum")
_SELECTIONS = ("population", "chromosomes", "region")


def list_datasets():
    """Names of the shipped manifests, sorted.

    Returns
    -------
    list of str
    """
    return sorted(f[:-5] for f in os.listdir(MANIFEST_DIR) if f.endswith(".json"))


def load_manifest(name_or_path):
    """A shipped manifest by name, or a manifest file by path.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A name from :func:`list_datasets` or the path of a JSON manifest.

    Returns
    -------
    Manifest
    """
    path = os.fspath(name_or_path)
    if not path.endswith(".json"):
        if path not in list_datasets():
            raise ValueError(f"no data set {path!r}; known: {', '.join(list_datasets())}")
        path = os.path.join(MANIFEST_DIR, path + ".json")
    with open(path, encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from None
    return Manifest(data, source=path)


class Manifest:
    """One data set: its description and the files it is made of.

    Parameters
    ----------
    data : dict
        The parsed JSON (module docstring).
    source : str, optional
        Where it was read from (for messages).
    """

    def __init__(self, data, source="<dict>"):
        self.data = data
        self.source = source
        missing = [k for k in _REQUIRED if k not in data]
        if missing:
            raise ValueError(f"{source}: manifest lacks {', '.join(missing)}")
        bad = [s for s in data["select"] if s not in _SELECTIONS]
        if bad:
            raise ValueError(f"{source}: unknown selection {', '.join(bad)}")
        self.files = [dict(f) for f in data["files"]] + self._window_files()
        for f in self.files:
            lacking = [k for k in _FILE_REQUIRED if k not in f]
            if lacking:
                raise ValueError(f"{source}: file {f.get('name', '?')} lacks {', '.join(lacking)}")
            if not f["urls"]:
                raise ValueError(f"{source}: file {f['name']} has no address")
            if f["checksum"] is not None and f["checksum"].partition(":")[0] not in ("sha256",
                                                                                     "md5"):
                raise ValueError(f"{source}: file {f['name']}: checksum must be sha256:... or "
                                 f"md5:..., got {f['checksum']!r}")
        names = [f["name"] for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"{source}: file names repeat")

    def __getattr__(self, key):
        try:
            return self.__dict__["data"][key]
        except KeyError:
            raise AttributeError(key) from None

    def __repr__(self):
        return f"Manifest({self.name!r}, {len(self.files)} files)"

    def _window_files(self):
        w = self.data.get("windows")
        if not w:
            return []
        out = []
        for chrom, runs in w["starts"].items():
            for first, last in runs:
                for start in range(int(first), int(last) + 1, int(w["step"])):
                    end = start + int(w["length"])
                    for pattern in w["names"]:
                        name = pattern.format(chrom=chrom, start=start, end=end)
                        out.append({"name": name, "urls": [w["url"].format(name=name)],
                                    "size": None, "checksum": None, "chrom": chrom,
                                    "start": start, "end": end})
        return out

    def checksum_source(self, f):
        """Where the checksum of file ``f`` is published at fetch time (dict or None)."""
        return f.get("checksums_from") or self.checksums.get("from")

    def approx_size_text(self):
        """The approximate size as the source states it, or ``"not published"``."""
        known = [f["size"] for f in self.files if f["size"] is not None]
        if known and len(known) == len(self.files):
            return f"{sum(known):,} bytes"
        a = self.data.get("approx_size")
        return a["text"] if a else "not published"

    def select(self, population=None, chromosomes=None, regions=None):
        """The files a fetch takes.

        Parameters
        ----------
        population : sequence of str, optional
            Ancestries (for data sets with ``population`` files); files without a population
            (shared ones) are always kept.
        chromosomes : sequence of str, optional
            Keep the files of these chromosomes (windowed data sets).
        regions : sequence of str, optional
            ``CHR:START-END``: keep the windows that overlap one of them.

        Returns
        -------
        list of dict
            The file entries, in manifest order.
        """
        files = self.files
        if population:
            self._needs("population", "--population")
            known = sorted({f["population"] for f in files if "population" in f})
            wanted = [p.upper() for p in population]
            unknown = [p for p in wanted if p not in known]
            if unknown:
                raise ValueError(f"{self.name}: no population {', '.join(unknown)}; "
                                 f"known: {', '.join(known)}")
            files = [f for f in files if f.get("population") in (None, *wanted)]
        if chromosomes:
            self._needs("chromosomes", "--chromosomes")
            chroms = {normalise_chrom(str(c)) for c in chromosomes}
            unknown = sorted(chroms - {f["chrom"] for f in files}, key=chrom_sort_key)
            if unknown:
                raise ValueError(f"{self.name} has no files on chromosome "
                                 f"{', '.join(unknown)}")
            files = [f for f in files if f["chrom"] in chroms]
        if regions:
            self._needs("region", "--region")
            spans = [parse_region(r) for r in regions]
            files = [f for f in files
                     if any(f["chrom"] == c and f["start"] <= hi and f["end"] >= lo
                            for c, lo, hi in spans)]
            if not files:
                raise ValueError(f"{self.name} has no window overlapping "
                                 f"{', '.join(regions)}")
        return files

    def _needs(self, what, flag):
        if what not in self.select_options():
            raise ValueError(f"{flag} does not apply to {self.name} (it selects by "
                             f"{', '.join(self.select_options()) or 'nothing'}: fetch it whole)")

    def select_options(self):
        return list(self.data["select"])


def member_wanted(name, pattern):
    """Whether an archive member (by its base name) matches an ``unpack.members`` glob."""
    return fnmatch.fnmatchcase(os.path.basename(name), pattern)
