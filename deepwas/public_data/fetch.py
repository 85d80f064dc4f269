"""Fetch the files of a manifest into a folder: checked, atomic, resumable, in parallel.

Each file goes through pooch (``Pooch.fetch``: download to a temporary file, hash check,
atomic rename; a present file whose hash does not match is fetched again) with
:class:`~deepwas.public_data.transfer.ResumableDownloader` as its downloader (resumes with
range requests). The checksum a file is checked against is, in this order: the manifest's,
the one the source publishes at fetch time (Zenodo record, UCSC ``md5sum.txt``), or the sha256
recorded when the file was first fetched (:mod:`~deepwas.public_data.record`). Files are
fetched ``jobs`` at a time; each failure is one line naming the file and the reason, and the
others go on.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

from .manifest import Manifest, load_manifest
from .record import FetchRecord, unpack
from .transfer import ResumableDownloader, describe_error, published_checksums

__all__ = ["fetch", "FetchReport", "FetchError", "check_report"]

log = logging.getLogger("deepwas.public_data")


class FetchError(RuntimeError):
    """A fetch that left files missing (the message counts and names them)."""


class FetchReport:
    """What :func:`fetch` did: per file ``fetched`` / ``present`` / ``failed``.

    Attributes
    ----------
    manifest : Manifest
    folder : str
        Where the data set's files are (``dest/NAME``).
    rows : list of tuple
        ``(status, file name, bytes, message)``.
    warnings : list of str
    seconds : float
    """

    def __init__(self, manifest, folder):
        self.manifest = manifest
        self.folder = folder
        self.rows = []
        self.warnings = []
        self.seconds = 0.0

    def count(self, status):
        return sum(1 for r in self.rows if r[0] == status)

    @property
    def failed(self):
        return [r for r in self.rows if r[0] == "failed"]

    def line(self):
        got = sum(r[2] for r in self.rows if r[0] == "fetched")
        return (f"{self.manifest.name}: {self.count('fetched')} fetched ({got:,} bytes), "
                f"{self.count('present')} already present, {self.count('failed')} failed, "
                f"in {self.seconds:.0f} s")


def fetch(dataset, dest, *, population=None, chromosomes=None, regions=None, jobs=4,
          retries=5, timeout=60.0, backoff=1.0, progress=False):
    """Fetch a public data set (or a subset of it) into ``dest/NAME``.

    Parameters
    ----------
    dataset : str or Manifest
        A name from :func:`~deepwas.public_data.list_datasets`, a manifest path or a
        :class:`~deepwas.public_data.Manifest`.
    dest : str
        The fetch folder; the record ``deepwas-data.json`` is kept there.
    population, chromosomes, regions : sequence of str, optional
        The subset (:meth:`Manifest.select`).
    jobs : int
        Files transferred at the same time.
    retries : int
        Attempts after the first when a connection fails or breaks off (each resumes).
    timeout : float
        Seconds to wait for a connection or for the next bytes.
    backoff : float
        Seconds before the first retry, doubled at each.
    progress : bool
        Show a progress bar (bytes) on stderr.

    Returns
    -------
    FetchReport
        Failures are in the report (one line each); the caller decides whether they are
        fatal (the command line exits with status 2).
    """
    import pooch

    m = dataset if isinstance(dataset, Manifest) else load_manifest(dataset)
    files = m.select(population=population, chromosomes=chromosomes, regions=regions)
    if int(jobs) < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    folder = os.path.join(os.fspath(dest), m.name)
    record = FetchRecord(dest)
    report = FetchReport(m, folder)
    t0 = time.perf_counter()
    published = _published(m, files, timeout, report)
    todo = []
    for f in files:
        pub = published.get(os.path.basename(f["name"]), (None, None))
        if record.intact(m.name, _rel(m, f)) and _still_current(record, m, f, pub[0]):
            report.rows.append(("present", f["name"], 0, ""))
            _unpack_if_needed(record, m, f, folder)
        else:
            todo.append((f, pub))
    bar = _bar(progress, todo)
    cancel = threading.Event()
    plog = pooch.get_logger()
    level = plog.level
    plog.setLevel(logging.WARNING)          # pooch logs every download at INFO
    ex = ThreadPoolExecutor(max_workers=int(jobs))
    try:
        futures = {ex.submit(_fetch_one, m, f, pub, folder, record, bar, cancel,
                             dict(timeout=timeout, retries=retries, backoff=backoff)): f
                   for f, pub in todo}
        for k, fut in enumerate(as_completed(futures), 1):
            report.rows.append(fut.result())
            if k % 25 == 0:
                record.save()
    except KeyboardInterrupt:
        cancel.set()
        raise
    finally:
        ex.shutdown(wait=True, cancel_futures=True)
        plog.setLevel(level)
        if bar is not None:
            bar.close()
        record.save()
        report.seconds = time.perf_counter() - t0
    return report


def _rel(m, f):
    return f"{m.name}/{f['name']}"


def _still_current(record, m, f, published_hash):
    """A recorded file stays valid unless the manifest or the source now names another hash."""
    e = record.entry(m.name, _rel(m, f))
    for h in (f["checksum"], published_hash):
        if h is not None and h not in (e.get("checked_against"), f"sha256:{e['sha256']}"):
            return False
    return True


def _published(m, files, timeout, report):
    """``{file name: (hash, size)}`` from the sources that publish checksums at fetch time."""
    import requests

    sources = {}
    for f in files:
        src = m.checksum_source(f)
        if src is not None and f["checksum"] is None:
            sources[src["url"]] = src
    out = {}
    with requests.Session() as session:
        for url, src in sources.items():
            try:
                out.update(published_checksums(src, session, timeout=timeout))
            except Exception as e:              # any failure: warn and go on, checked later
                msg = (f"{m.name}: could not read the published checksums "
                       f"({describe_error(e, url, timeout)}); the files are kept with the "
                       "sha256 of this download, which later fetches and verify check")
                report.warnings.append(msg)
                log.warning("%s", msg)
    return out


def _bar(progress, todo):
    if not progress or not todo:
        return None
    from tqdm.auto import tqdm

    sizes = [pub[1] if pub[1] is not None else f["size"] for f, pub in todo]
    total = sum(sizes) if all(s is not None for s in sizes) else None
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                desc=f"{len(todo)} file(s)", leave=False)


def _fetch_one(m, f, pub, folder, record, bar, cancel, kw):
    """Fetch one file from its addresses in turn: ``(status, name, bytes, message)``."""
    import pooch
    from pooch import file_hash

    known = f["checksum"] or pub[0]
    entry = record.entry(m.name, _rel(m, f))
    if known is None and entry is not None:
        known = f"sha256:{entry['sha256']}"
    target = os.path.join(folder, f["name"])
    os.makedirs(os.path.dirname(target), exist_ok=True)
    errors = []
    for url in f["urls"]:
        p = pooch.create(path=folder, base_url="", registry={f["name"]: known},
                         urls={f["name"]: url}, retry_if_failed=0)
        down = ResumableDownloader(target + ".part", progress=bar.update if bar else None,
                                   cancel=cancel, **kw)
        try:
            p.fetch(f["name"], downloader=down)
        except Exception as e:                      # each address's failure is reported
            if cancel.is_set():
                raise KeyboardInterrupt from None
            errors.append(describe_error(e, url, kw["timeout"]))
            continue
        size = os.path.getsize(target)
        expected = pub[1] if pub[1] is not None else f["size"]
        if expected is not None and size != expected:
            os.remove(target)
            errors.append(f"the file changed upstream: {size:,} bytes, the source publishes "
                          f"{expected:,}; it was not kept: {url}")
            continue
        digest = (known.partition(":")[2] if known and known.startswith("sha256:")
                  else file_hash(target, alg="sha256"))
        record.put(m.name, _rel(m, f), url=url, size=size, sha256=digest,
                   mtime_ns=os.stat(target).st_mtime_ns, checked_against=known)
        try:
            _unpack_if_needed(record, m, f, folder)
        except ValueError as e:
            return ("failed", f["name"], size, str(e))
        if down.attempts == 0:                      # on disk and matching: nothing moved
            return ("present", f["name"], 0, "")
        return ("fetched", f["name"], size, "")
    return ("failed", f["name"], 0, "; ".join(errors))


def _unpack_if_needed(record, m, f, folder):
    u = f.get("unpack")
    if u is None:
        return
    rel = _rel(m, f)
    e = record.entry(m.name, rel)
    if e.get("unpacked_sha256") == e["sha256"]:
        return
    names = unpack(os.path.join(folder, f["name"]), os.path.join(folder, u["to"]),
                   u.get("members", "*"))
    record.put(m.name, rel, **{**e, "unpacked_sha256": e["sha256"], "unpacked": len(names)})


def check_report(report):
    """Raise :class:`FetchError` naming the failed files of ``report`` (if any)."""
    bad = report.failed
    if bad:
        first = "; ".join(f"{name}: {msg}" for _, name, _, msg in bad[:3])
        more = f" (and {len(bad) - 3} more)" if len(bad) > 3 else ""
        raise FetchError(f"{len(bad)} of {len(report.rows)} files of {report.manifest.name} "
                         f"failed: {first}{more}")
