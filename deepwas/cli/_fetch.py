"""``deepwas data list | fetch NAME | verify DIR``: the public data of a genome-wide run.

The work is done by :mod:`deepwas.public_data`; this module only parses and prints.
"""
from __future__ import annotations

import logging
import os

from ..public_data import RECORD_NAME, check_report, fetch, list_datasets, load_manifest, verify
from ..public_data.manifest import MANIFEST_DIR
from ._common import add_command, add_common_args, show_progress
from ._data import UserError, join

__all__ = ["register"]

log = logging.getLogger("deepwas.cli")

DEFAULT_DEST = "deepwas_data"


def register(subparsers):
    """Add ``deepwas data`` and its actions ``list``, ``fetch`` and ``verify``."""
    d = add_command(subparsers, "data",
                    help="list, fetch and verify the public data of a genome-wide run",
                    description="The public data a genome-wide run needs (LD, annotations, "
                    "tracks, liftover chains), described by manifests shipped with deepwas: "
                    "list them, fetch one (checked, resumable, in parallel) or verify a folder "
                    "a fetch wrote.")
    sub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    def action(name, **kw):
        sp = sub.add_parser(name, formatter_class=d.formatter_class, **kw)
        add_common_args(sp, sub=True)
        return sp

    ls = action("list", help="the data sets, or one in full",
                description="Without NAME: one line per data set (build, files, size). With "
                "NAME: its description, licence, citation, checksums and how deepwas reads it.")
    ls.add_argument("name", nargs="?", metavar="NAME", help="a data set")
    ls.set_defaults(func=cmd_data_list)

    fe = action("fetch", help="download a data set (or part of it) into --dest",
                description="Download the files of a data set into DEST/NAME: each checked "
                "against the checksum its source publishes (or, where none is published, the "
                "sha256 of its first download, kept in DEST/" + RECORD_NAME + "), written "
                "under a temporary name and renamed, resumed where it stopped when the "
                "connection breaks (rerun the same command). Files already present and "
                "intact are not fetched again.")
    fe.add_argument("name", metavar="NAME", help="a data set (deepwas data list)")
    fe.add_argument("--dest", default=DEFAULT_DEST, metavar="DIR", help="the fetch folder")
    sel = fe.add_mutually_exclusive_group()
    sel.add_argument("--chromosomes", nargs="+", metavar="CHR",
                     help="only the files of these chromosomes (windowed LD: ukbb-ld)")
    sel.add_argument("--region", nargs="+", metavar="CHR:START-END",
                     help="only the windows overlapping these regions (ukbb-ld; hg19)")
    fe.add_argument("--population", nargs="+", metavar="POP",
                    help="only these ancestries (ldgm-1000g: AFR AMR EAS EUR SAS; the "
                         "variant lists are always fetched)")
    fe.add_argument("--jobs", type=int, default=4, metavar="N",
                    help="files transferred at the same time")
    fe.add_argument("--retries", type=int, default=5, metavar="N",
                    help="attempts after the first when a connection fails or breaks off "
                         "(each resumes)")
    fe.add_argument("--timeout", type=float, default=60.0, metavar="S",
                    help="seconds to wait for a connection or for the next bytes")
    fe.add_argument("--dry-run", action="store_true",
                    help="list the files and addresses without fetching")
    fe.add_argument("--no-progress", action="store_true", help="no progress bar (as -q)")
    fe.set_defaults(func=cmd_data_fetch)

    ve = action("verify", help="check a fetch folder: ok / missing / changed per file",
                description="Read every file recorded in DIR/" + RECORD_NAME + " and compare "
                "its size and sha256 with the record; one line per file, then a summary. "
                "Exit status 2 when a file is missing or changed.")
    ve.add_argument("dir", metavar="DIR", help="a folder written by deepwas data fetch")
    ve.add_argument("--no-progress", action="store_true", help="no progress bar (as -q)")
    ve.set_defaults(func=cmd_data_verify)


def _manifest(name):
    if name not in list_datasets() and not name.endswith(".json"):
        raise UserError(f"no data set {name!r}; known: {join(list_datasets())}")
    return load_manifest(name)


def cmd_data_list(args):
    if args.name:
        m = _manifest(args.name)
        print(f"{m.name}: {m.title}\n\n{m.description}\n")
        fields = [("build", m.build), ("files", f"{len(m.files):,}"),
                  ("size", m.approx_size_text()), ("select by", join(m.select_options()) or "-"),
                  ("licence", m.licence), ("homepage", m.homepage),
                  ("checksums", m.checksums["published"]),
                  ("read with (CLI)", m.read_with["cli"]),
                  ("read with (Python)", m.read_with["python"])]
        fields += [("cite", c) for c in m.citation] + [("note", n) for n in m.notes]
        for key, value in fields:
            print(f"{key + ':':<20}{value}")
        for g in m.data.get("groups_not_enumerated", []):
            print(f"{'not fetched:':<20}{g['group']}: {g['rule']} ({g['where']})")
        return 0
    rows = [load_manifest(n) for n in list_datasets()]
    print(f"{'name':<18}{'build':<14}{'files':>6}  {'size':<32}title")
    for m in rows:
        print(f"{m.name:<18}{m.build:<14}{len(m.files):>6}  {m.approx_size_text():<32}{m.title}")
    print(f"\n{len(rows)} data sets (manifests in {MANIFEST_DIR}); 'deepwas data list NAME' "
          "for one in full, 'deepwas data fetch NAME --dry-run' for its files")
    return 0


def cmd_data_fetch(args):
    m = _manifest(args.name)
    if args.jobs < 1 or args.retries < 0 or args.timeout <= 0:
        raise UserError("--jobs must be at least 1, --retries at least 0, --timeout above 0")
    try:
        files = m.select(population=args.population, chromosomes=args.chromosomes,
                         regions=args.region)
    except ValueError as e:
        raise UserError(str(e)) from None
    folder = os.path.join(args.dest, m.name)
    subset = args.population or args.chromosomes or args.region
    print(f"deepwas data fetch {m.name}: {len(files):,} of {len(m.files):,} files"
          f"{' (' + join(subset) + ')' if subset else ''} into {os.path.abspath(folder)}; "
          f"build {m.build}", flush=True)
    if args.dry_run:
        for f in files:
            size = "size not published" if f["size"] is None else f"{f['size']:,} bytes"
            check = f["checksum"] or (("published at " + m.checksum_source(f)["url"])
                                      if m.checksum_source(f) else "no published checksum")
            print(f"{f['name']}\t{f['urls'][0]}\t{size}\t{check}")
        return 0
    report = fetch(m, args.dest, population=args.population, chromosomes=args.chromosomes,
                   regions=args.region, jobs=args.jobs, retries=args.retries,
                   timeout=args.timeout, progress=show_progress(args))
    for _, name, _, msg in report.failed:
        log.warning("%s: %s", name, msg)
    print(report.line(), flush=True)
    check_report(report)
    print("read it with: " + m.read_with["cli"].replace("{dest}", folder))
    for g in m.data.get("groups_not_enumerated", []):
        print(f"not fetched (no fixed list of files): {g['group']}; 'deepwas data list "
              f"{m.name}' says how the reference chose them")
    return 0


def cmd_data_verify(args):
    if not os.path.isdir(args.dir):
        raise UserError(f"folder not found: {args.dir}")
    bar = None
    if show_progress(args):
        from tqdm.auto import tqdm

        bar = tqdm(desc="verify", unit="file", leave=False)
    try:
        report = verify(args.dir, progress=bar.update if bar else None)
    finally:
        if bar is not None:
            bar.close()
    for status, _, rel, detail in report.rows:
        print(f"{status:<8}{rel}{'  (' + detail + ')' if detail else ''}")
    print(f"{args.dir}: {report.line()}")
    if not report.ok:
        raise UserError(f"{report.count('missing')} missing and {report.count('changed')} "
                        f"changed of {len(report.rows)} files in {args.dir}")
    return 0
