"""deepwas.public_data and ``deepwas data``: fetches from an HTTP server on 127.0.0.1 started
here (range requests, dropped connections, changed and missing files), a closed port, and the
shipped manifests. No outside network."""
import gzip
import hashlib
import io
import json
import os
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.cli import main
from deepwas.public_data import Manifest, fetch, list_datasets, load_manifest, verify
from deepwas.public_data.record import RECORD_NAME
from test_io_ldgm import _precision, _snplist, write_ldgm

DATA = os.path.join(os.path.dirname(deepwas.__file__), "datasets", "data")
BIGWIG = os.path.join(DATA, "bigwig", "pybigwig_test.bw")
ANNOT = os.path.join(DATA, "annotations", "baselineLD.subset.1.annot")
FAST = dict(retries=0, timeout=10, backoff=0.01)


class Server:
    """Serves ``files`` (path -> bytes) with ETag, Range and If-Range; ``drop[path] = [k, ...]``
    closes the connection after k bytes (one k per request); ranged answers (206) for paths in
    ``no_length`` have no Content-Length (the body ends when the connection closes). Records
    every request's headers."""

    def __init__(self):
        self.files, self.drop, self.no_length, self.requests = {}, {}, set(), []
        srv = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                srv.requests.append((self.path, dict(self.headers)))
                body = srv.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = '"%s"' % hashlib.md5(body).hexdigest()
                start, status = 0, 200
                rng = self.headers.get("Range")
                if rng and self.headers.get("If-Range", etag) == etag:
                    start = int(rng.split("=")[1].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                self.send_header("ETag", etag)
                if status == 200 or self.path not in srv.no_length:
                    self.send_header("Content-Length", str(len(body) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                drops = srv.drop.get(self.path) or [None]
                k = drops.pop(0)
                self.wfile.write(body[start:] if k is None else body[start:start + k])
                if k is not None or (status == 206 and self.path in srv.no_length):
                    self.wfile.flush()
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def ranges(self, path):
        return [h.get("Range") for p, h in self.requests if p == path]


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def sha(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def manifest(files, name="test-set", checksums_from=None, select=(), **extra):
    return Manifest({"name": name, "title": "t", "description": "d", "build": "hg38",
                     "licence": "MIT", "citation": ["c"], "homepage": "h",
                     "read_with": {"cli": "--x {dest}", "python": "x"},
                     "checksums": {"published": "test", "from": checksums_from},
                     "select": list(select), "files": files, "notes": [], **extra})


def entry(server, name, body, checksum=None, path=None, **kw):
    path = path or "/" + name
    server.files[path] = body
    return {"name": name, "urls": [server.url + path], "size": None, "checksum": checksum, **kw}


def ldgm_archive(tmp_path):
    """A small real-format LDGM block (the writer of test_io_ldgm) as a tar.gz, with folders."""
    src = tmp_path / "ldgm_src"
    src.mkdir()
    rng = np.random.default_rng(0)
    write_ldgm(src, "1kg_chr22_1000000_2000000", "22", 1_000_000, _precision(30, rng),
               _snplist(30, "22", 1_000_000, rng), meta=False)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted(src.iterdir()):
            tar.add(p, arcname=f"EUR/{p.name}")
    return buf.getvalue()


def test_fetch_ldgm_block_bigwig_annotation_and_read_them(server, tmp_path):
    import pyBigWig

    from deepwas.features import AnnotFeatures
    from deepwas.io.ldgm import LDGMSource

    tar, bw, annot = ldgm_archive(tmp_path), open(BIGWIG, "rb").read(), open(ANNOT, "rb").read()
    server.files["/api/record"] = json.dumps({"files": [
        {"key": "EUR.precision.tar.gz", "size": len(tar),
         "checksum": "md5:" + hashlib.md5(tar).hexdigest()}]}).encode()
    server.files["/md5sum.txt"] = f"{hashlib.md5(annot).hexdigest()}  ./annot.txt\n".encode()
    m = manifest([
        entry(server, "EUR.precision.tar.gz", tar,
              unpack={"to": "ldgm", "members": "*"}),
        entry(server, "tracks/test.bw", bw, checksum=sha(bw)),
        entry(server, "annot.txt", annot,
              checksums_from={"kind": "md5sum", "url": server.url + "/md5sum.txt"})],
        checksums_from={"kind": "zenodo", "url": server.url + "/api/record"})
    report = fetch(m, tmp_path / "d", jobs=3, **FAST)
    assert report.count("fetched") == 3 and not report.warnings, report.rows
    folder = tmp_path / "d" / "test-set"
    src = LDGMSource(folder / "ldgm", population="EUR")
    assert len(src.blocks) == 1 and len(src.variants) == 30
    with pyBigWig.open(str(folder / "tracks" / "test.bw")) as f:
        assert f.intervals("10") == ((200, 300, 2.0),)
    first = pd.read_csv(ANNOT, sep="\t", nrows=1)
    got = AnnotFeatures(str(folder / "annot.txt")).get(pd.DataFrame(
        {"chrom": ["1"], "pos": first["BP"], "snp": first["SNP"]}))
    assert got.pred.shape == (1, 97) and got.pred[0, 0] == 1.0         # 'base'
    rec = json.load(open(tmp_path / "d" / RECORD_NAME))["datasets"]["test-set"]["files"]
    assert rec["test-set/EUR.precision.tar.gz"]["checked_against"].startswith("md5:")
    assert rec["test-set/annot.txt"]["checked_against"] == "md5:" + hashlib.md5(annot).hexdigest()
    again = fetch(m, tmp_path / "d", **FAST)            # intact: nothing transferred
    assert again.count("present") == 3
    assert verify(tmp_path / "d").line() == "3 ok, 0 missing, 0 changed"


def test_interrupted_transfer_resumes_with_a_range_request(server, tmp_path):
    body = os.urandom(300_000)
    m = manifest([entry(server, "big.bin", body, checksum=sha(body))])
    server.drop["/big.bin"] = [100_000]
    report = fetch(m, tmp_path, retries=2, timeout=10, backoff=0.01)
    assert report.count("fetched") == 1, report.rows
    assert server.ranges("/big.bin") == [None, "bytes=100000-"]
    assert open(tmp_path / "test-set" / "big.bin", "rb").read() == body


def test_a_resumed_transfer_without_content_length_is_checked_against_its_range(server,
                                                                                tmp_path):
    body = os.urandom(300_000)
    m = manifest([entry(server, "big.bin", body)])      # no checksum to catch a short file
    server.drop["/big.bin"] = [100_000, 50_000]          # 2nd: no length, only Content-Range
    server.no_length.add("/big.bin")
    assert fetch(m, tmp_path, retries=3, timeout=10, backoff=0.01).count("fetched") == 1
    assert server.ranges("/big.bin")[1:] == ["bytes=100000-", "bytes=150000-"]
    assert open(tmp_path / "test-set" / "big.bin", "rb").read() == body


def test_a_broken_transfer_is_resumed_by_the_next_run(server, tmp_path):
    body = os.urandom(200_000)
    m = manifest([entry(server, "big.bin", body)])      # no checksum: the record keeps one
    server.drop["/big.bin"] = [50_000]
    first = fetch(m, tmp_path, **FAST)
    assert first.count("failed") == 1
    assert "kept breaking off (50,000 bytes arrived, 150,000 were missing)" in first.failed[0][3]
    assert not os.path.exists(tmp_path / "test-set" / "big.bin")        # never a partial file
    assert os.path.getsize(tmp_path / "test-set" / "big.bin.part") == 50_000
    second = fetch(m, tmp_path, **FAST)
    assert second.count("fetched") == 1
    assert server.ranges("/big.bin")[-1] == "bytes=50000-"
    assert open(tmp_path / "test-set" / "big.bin", "rb").read() == body
    assert not os.path.exists(tmp_path / "test-set" / "big.bin.part")


def test_a_file_changed_on_the_server_between_runs_is_not_spliced(server, tmp_path):
    old, new = os.urandom(100_000), os.urandom(100_000)
    m = manifest([entry(server, "f.bin", old)])
    server.drop["/f.bin"] = [40_000]
    fetch(m, tmp_path, **FAST)
    server.files["/f.bin"] = new                     # the ETag changes: If-Range fails
    assert fetch(m, tmp_path, **FAST).count("fetched") == 1
    assert open(tmp_path / "test-set" / "f.bin", "rb").read() == new


def test_corrupted_file_is_reported_by_verify_and_fetched_again(server, tmp_path):
    body = os.urandom(50_000)
    m = manifest([entry(server, "f.bin", body), entry(server, "g.bin", b"g" * 10)])
    fetch(m, tmp_path, **FAST)
    path = tmp_path / "test-set" / "f.bin"
    path.write_bytes(b"\0" + body[1:])                # same size, one byte off
    os.remove(tmp_path / "test-set" / "g.bin")
    rows = {r[2]: r[0] for r in verify(tmp_path).rows}
    assert rows == {"test-set/f.bin": "changed", "test-set/g.bin": "missing"}
    report = fetch(m, tmp_path, **FAST)
    assert sorted(r[0] for r in report.rows) == ["fetched", "fetched"]
    assert path.read_bytes() == body and verify(tmp_path).ok


def test_a_file_changed_upstream_is_refused_with_one_line(server, tmp_path):
    body = os.urandom(20_000)
    m = manifest([entry(server, "f.bin", body, checksum=sha(b"the published file"))])
    report = fetch(m, tmp_path, **FAST)
    (_, name, _, msg), = report.failed
    assert msg == (f"the file changed upstream or arrived corrupted (sha256 expected "
                   f"{sha(b'the published file')[7:]}, got {sha(body)[7:]}); it was not saved: "
                   f"{m.files[0]['urls'][0]}")
    assert not os.listdir(tmp_path / "test-set")       # nothing kept, not even a .part


@pytest.mark.parametrize("shape", ["list", "entries"])
def test_published_size_that_disagrees_is_refused(server, tmp_path, shape):
    files = [{"key": "f.bin", "size": 5}]
    if shape == "entries":                           # InvenioRDM's record JSON
        files = {"enabled": True, "entries": {"f.bin": files[0]}}
    server.files["/api"] = json.dumps({"files": files}).encode()
    m = manifest([entry(server, "f.bin", b"123456", size=None)],
                 checksums_from={"kind": "zenodo", "url": server.url + "/api"})
    msg = fetch(m, tmp_path, **FAST).failed[0][3]
    assert "changed upstream: 6 bytes, the source publishes 5" in msg


def test_missing_file_and_mirror(server, tmp_path):
    m = manifest([entry(server, "gone.bin", b"x", path="/elsewhere")])
    m.files[0]["urls"] = [server.url + "/gone.bin"]
    msg = fetch(m, tmp_path, **FAST).failed[0][3]
    assert msg == f"not on the server (HTTP 404): {server.url}/gone.bin"
    m.files[0]["urls"].append(server.url + "/elsewhere")   # a mirror that has it
    assert fetch(m, tmp_path, **FAST).count("fetched") == 1


def test_unreachable_host_and_checksum_source_are_reported(tmp_path):
    with socket.socket() as s:                          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    m = manifest([{"name": "f.bin", "urls": [url + "/f.bin"], "size": None, "checksum": None}],
                 checksums_from={"kind": "zenodo", "url": url + "/api"})
    report = fetch(m, tmp_path, **FAST)
    assert report.failed[0][3] == f"cannot reach 127.0.0.1:{port} (connection refused): " \
                                  f"{url}/f.bin"
    assert "could not read the published checksums (cannot reach" in report.warnings[0]


def test_ukbb_windows_subset_is_read_by_from_ukbb_reader(server, tmp_path):
    from deepwas.io.ukbb import UKBBLD, write_ukbb_ld

    rng = np.random.default_rng(1)
    windows = {}
    for start in (1, 1_000_001, 2_000_001):
        pos = np.sort(rng.choice(np.arange(start, start + 3_000_000), 20, replace=False))
        X = rng.standard_normal((20, 200))
        R = np.corrcoef(X)
        v = pd.DataFrame({"chrom": "22", "pos": pos, "snp": [f"rs{p}" for p in pos],
                          "a1": "A", "a2": "G"})
        prefix = str(tmp_path / f"chr22_{start}_{start + 3_000_000}")
        write_ukbb_ld(R, v, prefix)
        for ext in (".npz", ".gz"):
            windows[os.path.basename(prefix) + ext] = open(prefix + ext, "rb").read()
    server.files.update({"/ld/" + k: b for k, b in windows.items()})
    m = manifest([], name="ukbb-test", select=["chromosomes", "region"],
                 windows={"url": server.url + "/ld/{name}", "length": 3_000_000,
                          "step": 1_000_000, "starts": {"22": [[1, 2_000_001]]},
                          "names": ["chr{chrom}_{start}_{end}.npz", "chr{chrom}_{start}_{end}.gz"]})
    assert [f["name"] for f in m.select(regions=["22:3500000-3600000"])] == [
        "chr22_1000001_4000001.npz", "chr22_1000001_4000001.gz",
        "chr22_2000001_5000001.npz", "chr22_2000001_5000001.gz"]
    report = fetch(m, tmp_path / "d", regions=["22:3500000-3600000"], **FAST)
    assert report.count("fetched") == 4
    ld = UKBBLD(tmp_path / "d" / "ukbb-test")
    assert len(ld.files) == 2


def test_cli_fetch_verify_and_errors(server, tmp_path, capsys):
    body = os.urandom(1000)
    m = manifest([entry(server, "f.bin", body)])
    path = tmp_path / "m.json"
    path.write_text(json.dumps({**m.data, "name": "test-set"}))
    dest = str(tmp_path / "d")
    assert main(["data", "fetch", str(path), "--dest", dest, "--retries", "0", "-q"]) == 0
    out = capsys.readouterr().out
    assert "1 fetched (1,000 bytes)" in out and f"read it with: --x {dest}/test-set" in out
    assert main(["data", "verify", dest]) == 0
    assert "ok      test-set/f.bin" in capsys.readouterr().out
    (tmp_path / "d" / "test-set" / "f.bin").write_bytes(b"x" * 1000)
    assert main(["data", "verify", dest]) == 2
    cap = capsys.readouterr()
    assert "changed test-set/f.bin" in cap.out
    assert cap.err.strip() == f"deepwas data: error: 0 missing and 1 changed of 1 files in {dest}"
    server.files.pop("/f.bin")
    os.remove(tmp_path / "d" / "test-set" / "f.bin")
    assert main(["data", "fetch", str(path), "--dest", dest, "--retries", "0", "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("deepwas data: error: 1 of 1 files of test-set failed: f.bin: "
                              "not on the server (HTTP 404)")
    assert main(["data", "fetch", "no-such-set"]) == 2
    assert main(["data", "fetch", "ukbb-ld", "--population", "EUR", "--dry-run"]) == 2


def test_shipped_manifests():
    assert list_datasets() == ["baselineld-v2.2", "deepwas-tracks", "ldgm-1000g",
                               "liftover-chains", "ukbb-ld"]
    for name in list_datasets():
        m = load_manifest(name)
        assert m.name == name and m.citation and m.read_with["cli"] and m.licence
        # where no checksum is given, the manifest says why and where it is published
        assert all(f["checksum"] is None for f in m.files) and m.checksums["published"]
        assert all(u.startswith("https://") for f in m.files for u in f["urls"])
    ukbb = load_manifest("ukbb-ld")
    assert len(ukbb.files) == 2 * 2763                  # PolyFun's ukb_regions.tsv.gz
    assert len(ukbb.select(chromosomes=["chr22"])) == 2 * 38
    ldgm = load_manifest("ldgm-1000g")
    assert [f["name"] for f in ldgm.select(population=["eur"])] == [
        "EUR.precision.tar.gz", "snplists_GRCh38positions.tar.gz"]
    with pytest.raises(ValueError, match="no population XYZ"):
        ldgm.select(population=["XYZ"])
    # the checksum quoted for the shipped chain is that of the shipped file
    chain = os.path.join(DATA, "liftover", "hg19ToHg38.over.chain.gz")
    digest = hashlib.sha256(open(chain, "rb").read()).hexdigest()
    assert digest in load_manifest("liftover-chains").checksums["published"]
    assert len(gzip.open(chain).read()) == 606_773


def test_a_new_published_checksum_fetches_the_file_again(server, tmp_path):
    def publish(body):
        server.files["/f.bin"] = body
        server.files["/md5sum.txt"] = f"{hashlib.md5(body).hexdigest()}  f.bin\n".encode()

    src = {"kind": "md5sum", "url": server.url + "/md5sum.txt"}
    m = manifest([{"name": "f.bin", "urls": [server.url + "/f.bin"], "size": None,
                   "checksum": None}], checksums_from=src)
    publish(b"version 1")
    assert fetch(m, tmp_path, **FAST).count("fetched") == 1
    assert fetch(m, tmp_path, **FAST).count("present") == 1
    publish(b"version 2")                               # the source updated the file
    assert fetch(m, tmp_path, **FAST).count("fetched") == 1
    assert (tmp_path / "test-set" / "f.bin").read_bytes() == b"version 2"


def test_unpack_takes_matching_regular_files_flat_and_nothing_outside(tmp_path):
    from deepwas.public_data.record import unpack

    path = tmp_path / "a.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [("top/b1.EUR.edgelist", b"1"), ("top/b1.snplist", b"2"),
                           ("../evil.EUR.edgelist", b"3"), ("top/sub/b2.EUR.edgelist", b"4")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("top/link.EUR.edgelist")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    out = tmp_path / "out" / "ldgm"
    assert sorted(unpack(path, out, "*.EUR.edgelist")) == ["b1.EUR.edgelist", "b2.EUR.edgelist",
                                                           "evil.EUR.edgelist"]
    assert sorted(os.listdir(out)) == ["b1.EUR.edgelist", "b2.EUR.edgelist", "evil.EUR.edgelist"]
    assert not os.path.exists(tmp_path / "out" / "evil.EUR.edgelist")
    with pytest.raises(ValueError, match="holds no file matching"):
        unpack(path, out, "*.AFR.edgelist")
