"""``deepwas demo``, ``deepwas precompute`` and ``deepwas cache``: the demo, window factors and
their cache."""
from __future__ import annotations

import json
import logging
import os
import time
from functools import partial

from ..datasets._demo_run import DemoSettings, run_demo
from ..precompute import precompute_windows
from ..utils.chrom import sort_chroms
from ..windows import FactorCache
from ._common import add_command, positive_int, show_progress
from ._data import UserError, add_data_args, load_stats, report_ld_check

__all__ = ["register", "cmd_cache", "cmd_demo", "cmd_precompute"]

log = logging.getLogger("deepwas.cli")


def cmd_demo(args):
    kw = {}
    for name in ("folds", "seed", "truth", "n", "h2"):
        v = getattr(args, name)
        if v is not None:
            kw[name] = v
    if args.quick:
        s = DemoSettings.quick(**kw)
    else:
        s = DemoSettings(**kw)
    t0 = time.perf_counter()
    print(f"deepwas demo{' --quick' if args.quick else ''}: {len(s.chromosomes)} regions of "
          f"real 1000 Genomes EUR LD, {s.folds}-fold cross-validation by chromosome; "
          f"output in {os.path.abspath(args.out)}", flush=True)
    run_demo(s, cache_dir=args.cache_dir, out_dir=args.out, progress=show_progress(args),
             plots=not args.no_plots, printer=lambda line: print(line, flush=True))
    print(f"demo finished in {time.perf_counter() - t0:.0f} s")
    return 0


def cmd_precompute(args):
    t0 = time.perf_counter()
    stats = load_stats(args)
    if not args.cache_dir:
        if args.workers > 1:
            raise UserError("--workers needs --cache-dir: the workers write the factors there")
        log.warning("no --cache-dir: the factors are computed but not kept")
    report = precompute_windows(stats, n_jobs=args.workers, progress=show_progress(args))
    dt = time.perf_counter() - t0
    cache = stats._data.cache
    print(f"{stats}: {report.line()}")
    if report.bytes_on_disk:
        per = report.bytes_on_disk / report.n_windows
        print(f"cache {os.path.abspath(args.cache_dir)}: {_fmt_bytes(per)} per window; a "
              f"genome of {GENOME_WINDOWS:,} windows at this density would take "
              f"{_fmt_bytes(per * GENOME_WINDOWS)}")
    diag = report_ld_check(stats, log)
    summary = dict(n_windows=len(stats), n_variants=int(stats.n_variants), n=float(stats.n),
                   chromosomes=sort_chroms(stats.groups),
                   cache_dir=None if args.cache_dir is None else os.path.abspath(args.cache_dir),
                   cache_hits=dict(cache.hits), drop_counts=stats.drop_counts, seconds=dt,
                   workers=report.workers, bytes_on_disk=report.bytes_on_disk,
                   windows_computed=report.computed, windows_skipped=report.skipped,
                   ld_model=dict(regularisation=stats.ld_model.regularisation,
                                 share=stats.ld_model.share),
                   ld_check=dict(z_tail_median=float(diag["z_tail"].median()),
                                 z_tail_max=float(diag["z_tail"].max()),
                                 flagged_windows=int(diag["flag"].sum()),
                                 small_panel_windows=int(diag["small_panel"].sum())))
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(summary, fh, indent=1, default=int)
        print(f"wrote {args.out}")
    return 0


#: windows of a genome in the paper's layout (1 Mb cores, 3 Mb extended sets)
GENOME_WINDOWS = 2_700


def _fmt_bytes(n):
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def cmd_cache(args):
    if not os.path.isdir(args.cache_dir):
        raise UserError(f"no cache folder {args.cache_dir}")
    cache = FactorCache(args.cache_dir)
    entries, temps = cache.files()
    if args.action == "info":
        size = sum(os.path.getsize(p) for p in entries)
        line = (f"{os.path.abspath(args.cache_dir)}: {len(entries)} window file(s), "
                f"{_fmt_bytes(size)}")
        if entries:
            line += (f" ({_fmt_bytes(size / len(entries))} per window; {GENOME_WINDOWS:,} "
                     f"windows at this size: {_fmt_bytes(size / len(entries) * GENOME_WINDOWS)})")
        print(line)
        if temps:
            print(f"{len(temps)} unfinished file(s) of interrupted writers "
                  "(deepwas cache clear removes them)")
        return 0
    n, size = cache.clear_disk()
    print(f"removed {n} file(s), {_fmt_bytes(size)}, from {os.path.abspath(args.cache_dir)}")
    return 0


def register(subparsers):
    """Add ``deepwas demo``, ``deepwas precompute`` and ``deepwas cache``."""
    command = partial(add_command, subparsers)
    d = command("demo", help="the main demo: cross-validated priors on the embedded data",
                description="Cross-validate (GroupKFold by chromosome) Constant, GLM and "
                "Transformer priors trained with DeepWAS and with LDSR on the embedded "
                "demo (22 real 1000 Genomes EUR regions, hg38 bigWig tracks read through "
                "liftover, semi-synthetic GWAS of N = 300,000 from a known prior). Prints "
                "the held-out table and writes it with PNG plots to --out.")
    d.add_argument("--quick", action="store_true",
                   help="a sub-minute smoke run (2 regions, 1-2 epochs)")
    d.add_argument("--out", default="deepwas_demo", metavar="DIR", help="output folder")
    d.add_argument("--cache-dir", metavar="DIR",
                   help="cache of tracks, features and window factors (default $DEEPWAS_CACHE "
                        "or ~/.cache/deepwas)")
    d.add_argument("--folds", type=int, metavar="K", help="GroupKFold splits (default 2)")
    d.add_argument("--seed", type=int, metavar="N",
                   help="random seed of data and training (default 0)")
    d.add_argument("--truth", choices=("glm", "network", "threshold", "constant"),
                   help="true prior of the simulation (default glm)")
    d.add_argument("--n", type=float, metavar="N", help="GWAS sample size (default 300,000)")
    d.add_argument("--h2", type=float, metavar="H2",
                   help="heritability of the demo variants (default 0.5 for "
                   "the 22 regions; for --quick, 0.5 times their share of the variants)")
    d.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    d.add_argument("--no-progress", action="store_true", help="no progress bars (as -q)")
    d.set_defaults(func=cmd_demo)

    pc = command("precompute", help="compute and cache the window factors of a data set",
                 description="Build the windows of a data set and compute their theta-free "
                 "factors (eigendecomposition of each core's LD) into --cache-dir, so "
                 "that fit and score start at once.")
    add_data_args(pc, with_features=False)
    pc.add_argument("--workers", type=positive_int, default=1, metavar="N",
                    help="worker processes, one window each at a time (needs --cache-dir; "
                         "default 1: this process). Rerunning skips the windows already "
                         "in the cache")
    pc.add_argument("--out", metavar="JSON", help="write a summary (windows, drops, timing)")
    pc.add_argument("--no-progress", action="store_true", help="no progress bar (as -q)")
    pc.set_defaults(func=cmd_precompute)

    ca = command("cache", help="size of a factor cache folder, or empty it",
                 description="info: window files, bytes and the projection to a genome; "
                 "clear: delete the window files (only files deepwas wrote are touched).")
    ca.add_argument("action", choices=("info", "clear"))
    ca.add_argument("--cache-dir", required=True, metavar="DIR", help="the cache folder")
    ca.set_defaults(func=cmd_cache)
