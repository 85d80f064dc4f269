"""What a fetch leaves in its folder: the record of the files (``deepwas-data.json``), the
check of a folder against it (:func:`verify`), and the unpacking of archives.

The record keeps, per data set and file (path relative to the folder), the address, size,
sha256 and the checksum the source published (if any), written when the file was verified.
It makes later fetches skip intact files without reading them (same size and modification
time) and lets ``deepwas data verify`` tell an intact file from a changed or missing one, also
for files whose source publishes no checksum.
"""
from __future__ import annotations

import json
import os
import tarfile
import threading

from .manifest import member_wanted

__all__ = ["RECORD_NAME", "FetchRecord", "verify", "VerifyReport", "unpack"]

RECORD_NAME = "deepwas-data.json"


class FetchRecord:
    """The record file of a fetch folder; thread-safe updates, atomic writes.

    Parameters
    ----------
    folder : str
        The fetch folder (``--dest``).
    """

    def __init__(self, folder):
        self.folder = os.fspath(folder)
        self.path = os.path.join(self.folder, RECORD_NAME)
        self._lock = threading.Lock()
        self.data = {"format": 1, "datasets": {}}
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as fh:
                try:
                    self.data = json.load(fh)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{self.path} is not a deepwas fetch record ({e}); "
                                     "move it away to start a new one") from None

    def files(self, dataset):
        return self.data["datasets"].get(dataset, {}).get("files", {})

    def entry(self, dataset, rel):
        return self.files(dataset).get(rel)

    def put(self, dataset, rel, **entry):
        with self._lock:
            ds = self.data["datasets"].setdefault(dataset, {"files": {}})
            ds["files"][rel] = entry

    def intact(self, dataset, rel):
        """The file is where the record says, with the size and time recorded then."""
        e = self.entry(dataset, rel)
        path = os.path.join(self.folder, rel)
        if e is None or not os.path.exists(path):
            return False
        st = os.stat(path)
        return st.st_size == e["size"] and st.st_mtime_ns == e.get("mtime_ns")

    def save(self):
        with self._lock:
            os.makedirs(self.folder, exist_ok=True)
            tmp = self.path + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.data, fh, indent=1, sort_keys=True)
            os.replace(tmp, self.path)


class VerifyReport:
    """Per file ``ok`` / ``missing`` / ``changed`` (:func:`verify`)."""

    def __init__(self):
        self.rows = []                         # (status, dataset, relative path, detail)

    def add(self, status, detail="", *, dataset, rel):
        self.rows.append((status, dataset, rel, detail))

    def count(self, status):
        return sum(1 for r in self.rows if r[0] == status)

    @property
    def ok(self):
        """No file missing or changed."""
        return self.count("ok") == len(self.rows)

    def line(self):
        return (f"{self.count('ok')} ok, {self.count('missing')} missing, "
                f"{self.count('changed')} changed")


def verify(folder, progress=None):
    """Check every file a fetch recorded in ``folder``: present, same size, same sha256.

    Parameters
    ----------
    folder : str
        A folder written by :func:`deepwas.public_data.fetch`.
    progress : callable, optional
        Called with 1 after each file.

    Returns
    -------
    VerifyReport
    """
    if not os.path.exists(os.path.join(folder, RECORD_NAME)):
        raise FileNotFoundError(f"{folder} has no {RECORD_NAME}: not a folder written by "
                                "deepwas data fetch")
    rec = FetchRecord(folder)
    report = VerifyReport()
    for dataset in sorted(rec.data["datasets"]):
        for rel, e in sorted(rec.files(dataset).items()):
            report.add(*_check(folder, rel, e), dataset=dataset, rel=rel)
            if progress is not None:
                progress(1)
    return report


def _check(folder, rel, e):
    from pooch import file_hash

    path = os.path.join(folder, rel)
    if not os.path.exists(path):
        return ("missing",)
    size = os.path.getsize(path)
    if size != e["size"]:
        return "changed", f"{size:,} bytes, recorded {e['size']:,}"
    digest = file_hash(path, alg="sha256")
    if digest != e["sha256"]:
        return "changed", f"sha256 {digest[:12]}..., recorded {e['sha256'][:12]}..."
    return ("ok",)


def unpack(archive, to, pattern):
    """Unpack the regular files of a tar archive whose base names match ``pattern`` into the
    folder ``to``, flat (their folders inside the archive are dropped); each file is written
    to a temporary name and renamed. Returns the names written.

    Only base names are used, so no member can write outside ``to`` (no ``..``, no absolute
    paths, no links).
    """
    os.makedirs(to, exist_ok=True)
    written = []
    seen = set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for m in tar:
                if not m.isfile() or not member_wanted(m.name, pattern):
                    continue
                base = os.path.basename(m.name)
                if base in seen:
                    raise ValueError(f"{archive}: two members are named {base}")
                seen.add(base)
                target = os.path.join(to, base)
                src = tar.extractfile(m)
                with open(target + ".tmp", "wb") as out:
                    while True:
                        block = src.read(1 << 20)
                        if not block:
                            break
                        out.write(block)
                os.replace(target + ".tmp", target)
                written.append(base)
    except tarfile.TarError as e:
        raise ValueError(f"{archive} is not a readable tar archive ({e})") from None
    if not written:
        raise ValueError(f"{archive} holds no file matching {pattern}")
    return written
