"""HTTP transfers that survive real networks: resumed with range requests, retried, explained.

pooch (the fetcher behind :func:`deepwas.public_data.fetch`) streams every download into a
temporary file with a random name, deletes it when the transfer fails and starts the next
attempt from byte 0; it sends no ``Range`` header (pooch 1.9). For files of gigabytes that is
the difference between a fetch that finishes and one that never does, so
:class:`ResumableDownloader` is a pooch downloader (the callable pooch accepts as
``downloader=``) that keeps the bytes received in ``NAME.part`` beside the target and asks
only for the rest: ``Range: bytes=N-``, guarded by ``If-Range`` with the validator (strong
ETag or Last-Modified) of the first response, so a file that changed on the server in the
meantime is sent whole instead of being spliced. A server that ignores ``Range`` (answers 200)
restarts the transfer. When the file is complete it is handed to pooch, which checks its hash
and moves it into place (an atomic rename), so a target path never holds a partial file.
"""
from __future__ import annotations

import json
import os
import re
import time
from urllib.parse import urlsplit

__all__ = ["ResumableDownloader", "IncompleteTransfer", "TransferCancelled", "describe_error",
           "published_checksums"]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_TOTAL_ONLY = re.compile(r"bytes\s+\*/(\d+)")
_RETRY_STATUS = (429, 500, 502, 503, 504)


class IncompleteTransfer(IOError):
    """The server closed the connection before the whole file arrived."""


class TransferCancelled(Exception):
    """The fetch was interrupted; the partial file is kept for the next run."""


def _transient():
    import requests
    import urllib3

    return (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
            urllib3.exceptions.HTTPError, IncompleteTransfer)


class ResumableDownloader:
    """A pooch downloader that resumes interrupted transfers (module docstring).

    Parameters
    ----------
    part : str
        The partial file (kept between attempts and between runs); ``part + ".json"`` holds
        the address and validator it was started from.
    timeout : float
        Seconds to wait for a connection or for the next bytes.
    retries : int
        Attempts after the first when the connection fails or breaks off (each resumes).
    backoff : float
        Seconds before the first retry; doubled at each retry, at most 60.
    progress : callable, optional
        Called with the number of bytes received (negative when a restart discards some).
    chunk_size : int
        Bytes per read.
    cancel : threading.Event, optional
        Set by another thread to stop the transfer (the bytes received are kept).
    """

    def __init__(self, part, timeout=60.0, retries=5, backoff=1.0, progress=None,
                 chunk_size=1 << 20, cancel=None):
        self.part = part
        self.cancel = cancel
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.progress = progress
        self.chunk_size = chunk_size
        self.attempts = 0

    def __call__(self, url, output_file, pooch, check_only=False):
        import requests

        with requests.Session() as session:
            if check_only:
                r = session.head(url, timeout=self.timeout, allow_redirects=True)
                return r.status_code == 200
            for attempt in range(self.retries + 1):
                self.attempts = attempt + 1
                try:
                    self._transfer(session, url)
                    break
                except requests.HTTPError as e:
                    status = e.response.status_code if e.response is not None else None
                    if status not in _RETRY_STATUS or attempt == self.retries:
                        raise
                except _transient():
                    if attempt == self.retries:
                        raise
                time.sleep(min(self.backoff * 2 ** attempt, 60.0))
        os.replace(self.part, output_file)
        _remove(self.part + ".json")

    def _transfer(self, session, url):
        have = os.path.getsize(self.part) if os.path.exists(self.part) else 0
        meta = _read_meta(self.part + ".json") if have else {}
        if have and meta.get("url") != url:        # begun from another address: start over
            self._discard(have)
            have = 0
        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if meta.get("validator"):
                headers["If-Range"] = meta["validator"]
        with session.get(url, headers=headers, stream=True, timeout=self.timeout,
                         allow_redirects=True) as r:
            if r.status_code == 416 and have:
                m = _TOTAL_ONLY.match(r.headers.get("Content-Range", ""))
                if m and int(m.group(1)) == have:  # complete already: the rename was missed
                    return
                self._discard(have)
                raise IncompleteTransfer("the partial file is longer than the file on the server")
            r.raise_for_status()
            total = None
            if r.status_code == 206:
                m = _CONTENT_RANGE.match(r.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != have:
                    self._discard(have)
                    raise IncompleteTransfer("the server resumed at another byte")
                total = None if m.group(3) == "*" else int(m.group(3))
                mode = "ab"
            else:                                  # 200: the whole file, from byte 0
                if have:
                    self._discard(have)
                    have = 0
                length = r.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                mode = "wb"
            _write_meta(self.part + ".json", {"url": url, "validator": _validator(r.headers),
                                              "total": total})
            with open(self.part, mode) as fh:
                # raw bytes: a server that labels a .gz "Content-Encoding: gzip" must not have
                # it unpacked on the way
                for chunk in r.raw.stream(self.chunk_size, decode_content=False):
                    if self.cancel is not None and self.cancel.is_set():
                        raise TransferCancelled(self.part)
                    fh.write(chunk)
                    if self.progress is not None:
                        self.progress(len(chunk))
        got = os.path.getsize(self.part)
        if total is not None and got < total:
            raise IncompleteTransfer(f"{got:,} of {total:,} bytes")

    def _discard(self, have):
        _remove(self.part)
        if self.progress is not None and have:
            self.progress(-have)


def _validator(headers):
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):         # If-Range needs a strong validator
        return etag
    return headers.get("Last-Modified")


def _read_meta(path):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _write_meta(path, meta):
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(meta, fh)


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def describe_error(exc, url, timeout=None):
    """One line saying why fetching ``url`` failed, in words a user can act on."""
    import requests
    import urllib3

    host = urlsplit(url).netloc or url
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        code = exc.response.status_code
        if code == 404:
            return f"not on the server (HTTP 404): {url}"
        return f"the server answered HTTP {code} {exc.response.reason or ''}".rstrip() + f": {url}"
    if isinstance(exc, requests.Timeout):
        wait = f" within {timeout:g} s" if timeout else ""
        return f"no answer from {host}{wait}: {url}"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "refused" in text.lower():
            why = "connection refused"
        elif any(s in text for s in ("Name or service not known", "nodename nor servname",
                                     "getaddrinfo failed", "Temporary failure in name")):
            why = "unknown host name"
        elif "unreachable" in text.lower():
            why = "network unreachable"
        else:
            why = "the connection failed or broke off"
        return f"cannot reach {host} ({why}): {url}"
    if isinstance(exc, (IncompleteTransfer, requests.exceptions.ChunkedEncodingError,
                        urllib3.exceptions.HTTPError)):
        m = re.search(r"(\d+) bytes read, (\d+) more expected", str(exc))
        why = (f"{int(m.group(1)):,} bytes arrived, {int(m.group(2)):,} were missing" if m
               else str(exc) if isinstance(exc, IncompleteTransfer) else "connection broken")
        return (f"the transfer from {host} kept breaking off ({why}); the bytes received are "
                f"kept, run the command again to resume: {url}")
    if isinstance(exc, ValueError) and "hash" in str(exc).lower():
        m = re.search(r"(\w+) hash of downloaded file .* expected (\S+) but got (\w+)", str(exc))
        detail = (f" ({m.group(1).lower()} expected {m.group(2).partition(':')[2] or m.group(2)},"
                  f" got {m.group(3)})" if m else "")
        return (f"the file changed upstream or arrived corrupted{detail}; it was not "
                f"saved: {url}")
    return f"{type(exc).__name__}: {exc}: {url}"


def published_checksums(source, session, timeout=60.0):
    """The checksums a source publishes: ``{file name: (hash, size or None)}``.

    Parameters
    ----------
    source : dict
        ``{"kind": "zenodo", "url": <record API>}`` (its ``files``: ``key``, ``checksum``
        ``"md5:..."``, ``size``) or ``{"kind": "md5sum", "url": <md5sum.txt>}`` (lines
        ``<md5>  <name>``).
    session : requests.Session
    timeout : float

    Returns
    -------
    dict
    """
    r = session.get(source["url"], timeout=timeout, allow_redirects=True)
    r.raise_for_status()
    out = {}
    if source["kind"] == "zenodo":
        files = r.json().get("files", [])
        if isinstance(files, dict):                # InvenioRDM: {"entries": {name: {...}}}
            files = files.get("entries", [])
        if isinstance(files, dict):
            files = list(files.values())
        for f in files:
            algo, _, digest = str(f.get("checksum") or "").partition(":")
            if f.get("key"):
                out[f["key"]] = (f"{algo}:{digest}" if digest else None, f.get("size"))
    elif source["kind"] == "md5sum":
        for line in r.text.splitlines():
            parts = line.split()
            if len(parts) == 2 and re.fullmatch(r"[0-9a-fA-F]{32}", parts[0]):
                name = os.path.basename(parts[1].lstrip("*"))
                out[name] = (f"md5:{parts[0].lower()}", None)
    else:
        raise ValueError(f"unknown checksum source kind {source['kind']!r}")
    return out
