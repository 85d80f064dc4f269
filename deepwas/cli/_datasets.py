"""``deepwas demo``, ``deepwas precompute`` and ``deepwas simulate``: data sets and their factors."""
from __future__ import annotations

import json
import logging
import os
import time

import numpy as np

from ..utils.chrom import sort_chroms

from ._data import (UserError, check_file, feature_provider, ld_blocks_arg, load_stats,
                    report_ld_check)
from ._models import show_progress
from ._reports import write_table

__all__ = ["cmd_cache", "cmd_demo", "cmd_precompute", "cmd_simulate"]

log = logging.getLogger("deepwas.cli")


def cmd_demo(args):
    from ..datasets._demo_run import DemoSettings, run_demo

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
    from ..precompute import precompute_windows

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
    from ..windows import FactorCache

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


def cmd_simulate(args):
    import pandas as pd

    from .. import SummaryStats
    from ..ld import read_plink_reference
    from ..simulate import semi_synthetic

    for prefix in args.bfile:
        pre = prefix[:-4] if prefix.endswith(".bed") else prefix
        for ext in (".bed", ".bim", ".fam"):
            check_file(pre + ext, "PLINK file")
    if not 0 < args.h2 < 1:
        raise UserError(f"--h2 must lie in (0, 1), got {args.h2}")
    if args.n <= 0:
        raise UserError(f"--n must be positive, got {args.n}")
    feats = feature_provider(args.tracks, args.chain, args.width, args.bin_size,
                              not args.no_freq_predictors) if args.tracks else None
    source = read_plink_reference(args.bfile)
    ref = source.variants
    table = pd.DataFrame({"SNP": ref["snp"], "A1": ref["a1"], "A2": ref["a2"], "Z": 0.0,
                          "N": args.n})
    stats = SummaryStats.from_ld_source(source, table, n=args.n, features=feats,
                                        keep_ambiguous=True, window_bp=args.window_bp,
                                        flank_bp=args.flank_bp,
                                        ld_blocks=ld_blocks_arg(args.ld_blocks))
    if args.block_bp is not None and args.block_bp <= 0:
        raise UserError(f"--block-bp must be positive, got {args.block_bp}")
    sim, f_true = semi_synthetic(stats, truth=args.truth, h2=args.h2, n=args.n,
                                 gwas_ld=args.gwas_ld, block_bp=args.block_bp,
                                 random_state=args.seed)
    v = sim.variants
    out = pd.DataFrame({"SNP": v["snp"], "CHR": v["chrom"], "BP": v["pos"], "A1": v["a1"],
                        "A2": v["a2"], "FREQ": v["freq"],
                        "Z": v["beta_hat"].to_numpy() * np.sqrt(args.n), "N": args.n,
                        "F_TRUE": f_true})
    paths = write_table(out, args.out)
    meta = dict(truth=args.truth, h2=args.h2, sigma2=1.0 - args.h2, n=args.n, seed=args.seed,
                gwas_ld=args.gwas_ld, block_bp=args.block_bp,
                n_variants=len(out), tracks=args.tracks or [], chain=args.chain,
                note="fit with --sigma2 %g (= 1 - h2)" % (1.0 - args.h2))
    base = paths[0][:-3] if paths[0].endswith(".gz") else paths[0]
    meta_path = (base[:-4] if base.endswith(".tsv") else base) + ".json"
    with open(meta_path, "w") as fh:
        json.dump(meta, fh, indent=1)
    print(f"simulated {len(out)} variants (truth={args.truth}, h2={args.h2:g}, N={args.n:g}); "
          f"wrote {' and '.join(paths)} and {meta_path}")
    return 0


