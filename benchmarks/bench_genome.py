"""Genome scale on one machine: precompute, disk, training, memory and bookkeeping per window.

Everything is measured in one run and printed as one table per part, with the ratios taken
within the run (numbers from another machine are not comparable). Run it with one BLAS
thread per process, which the script sets itself before numpy loads::

    python benchmarks/bench_genome.py            # full run, ~6 minutes on 2 CPU cores
    python benchmarks/bench_genome.py --quick    # smoke run, < 2 minutes

Synthetic LD comes from synthetic *genotypes* (:class:`deepwas.ld.GenotypeLD`), so no dense
genome-size matrix is ever formed: 2 x N_ref haplotypes per variant are the sign of a latent
Gaussian AR(1) process along the chromosome (correlation ``rho`` between neighbours, so LD
decays with distance), cut at a threshold giving each variant an allele frequency in
[0.05, 0.5]. At 1000 Genomes geometry: N_ref = 489 people, 3 variants per kb, 1 Mb cores with
1 Mb flanks on each side (~3,000 core and ~9,000 extended variants per window, rank <= 489),
only interior windows (full flanks) timed. The windows are built with
``ld_regularisation="none"`` (the whole eigenbasis, the largest factors a panel of this size
gives).

Parts:

a. precompute seconds per window with 1 worker (this process) and 2 worker processes
   (:func:`deepwas.precompute.precompute_windows`, ``n_jobs=2``), projected to 2,700 windows;
b. bytes per window in the disk cache with float64 and float32 factor storage, projected;
c. seconds per training window step (``ConstantPrior(optimizer="adamw", max_epochs=1)``,
   one window per step, factors precomputed) and of the likelihood of one window;
d. peak RSS of one likelihood pass (``deepwas.marginal_loglik``) without and with a
   ``factor_memory`` budget, each case in a fresh spawned process: on the 22 real demo
   windows and on >= 2,000 small synthetic windows;
e. per-window time of a likelihood pass, a GLM fit (AdamW, one epoch) and an LDSR fit at
   200 windows and at >= 3,000 windows of 5 variants: the ratio should be ~1 (linear cost);
f. a likelihood pass under a budget of two windows, factors read back from the disk cache
   every pass, with the background prefetch on and off;
g. precompute seconds and bytes per window at UK Biobank-like geometry (3,000 people, so a
   rank in the thousands; 4,000 core and 12,000 extended variants), projected.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

GENOME_WINDOWS = 2_700
N_REF_1000G = 489


# --- synthetic genotypes ------------------------------------------------------------------------

def synthetic_panel(n_variants, n_people, *, rho=0.9, seed=0, chunk=20_000):
    """A :class:`deepwas.ld.GenotypeLD` of ``n_variants`` x ``n_people`` synthetic dosages.

    Haplotype alleles are ``z > t_j`` for a latent AR(1) process ``z`` along the variants
    (lag-one correlation ``rho``) and a per-variant threshold ``t_j`` giving a frequency
    in [0.05, 0.5]. Built chunk by chunk (int8 only), with the per-variant moments computed
    in chunks too, so the only large array is the int8 dosage matrix.
    """
    from scipy.signal import lfilter
    from scipy.stats import norm

    from deepwas.ld import GenotypeLD

    rng = np.random.default_rng(seed)
    n_hap = 2 * n_people
    dos = np.empty((n_variants, n_people), dtype=np.int8)
    state = rng.normal(size=(n_hap, 1))
    c = np.sqrt(1 - rho * rho)
    for lo in range(0, n_variants, chunk):
        hi = min(lo + chunk, n_variants)
        e = rng.standard_normal(size=(n_hap, hi - lo), dtype=np.float32) * np.float32(c)
        z, _ = lfilter([1.0], [1.0, -rho], e, axis=1, zi=rho * state)
        state = z[:, -1:]
        z = z.T
        t = norm.isf(rng.uniform(0.05, 0.5, size=hi - lo))
        h = (z > t[:, None]).astype(np.int8)
        d = h[:, :n_people] + h[:, n_people:]
        poly = d.min(1) == d.max(1)              # monomorphic in the panel: make it vary
        d[poly, 0] = 1 - d[poly, 0] // 2
        dos[lo:hi] = d
    mean = np.empty(n_variants)
    std = np.empty(n_variants)
    for lo in range(0, n_variants, chunk):
        d = dos[lo:lo + chunk].astype(np.float64)
        mean[lo:lo + chunk] = d.mean(1)
        std[lo:lo + chunk] = d.std(1)
    variants = pd.DataFrame({"chrom": ["1"] * n_variants})
    return GenotypeLD(dos, variants, fingerprint=f"bench-genome-{n_variants}-{n_people}-{seed}",
                      _moments=(mean, std))


def synthetic_stats(n_windows, core_variants, n_people, *, flank_windows=1, seed=0,
                    features=False, cache_dir=None, n_gwas=100_000):
    """SummaryStats with ``n_windows`` interior windows of ``core_variants`` variants each
    (flanks of ``flank_windows`` cores on both sides, so every timed window has them full),
    and the indices of those interior windows. Variants 1 kb apart... at 3 per kb for 1000G.
    """
    from deepwas import SummaryStats

    spacing = 1_000_000 // core_variants if core_variants >= 1000 else 1_000
    window_bp = spacing * core_variants
    total = (n_windows + 2 * flank_windows) * core_variants
    ld = synthetic_panel(total, n_people, seed=seed)
    rng = np.random.default_rng(seed + 1)
    beta_hat = rng.normal(size=total) / np.sqrt(n_gwas)
    pos = spacing // 2 + spacing * np.arange(total, dtype=np.int64)
    feats = rng.normal(size=(total, 3)) if features else None
    stats = SummaryStats.from_arrays(beta_hat, n_gwas, ld.variants["chrom"], pos, ld,
                                     sigma2=0.9, ld_regularisation="none", window_bp=window_bp,
                                     flank_bp=flank_windows * window_bp, features=feats,
                                     cache_dir=cache_dir)
    interior = np.arange(flank_windows, flank_windows + n_windows)
    return stats, interior


def _fmt_bytes(n):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def _fmt_s(s):
    if s >= 3600:
        return f"{s / 3600:.2f} h"
    if s >= 60:
        return f"{s / 60:.1f} min"
    return f"{s:.3g} s"


def _table(title, header, rows):
    print(f"\n{title}")
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(str(h).rjust(w) for h, w in zip(header, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(r, widths)))
    sys.stdout.flush()


# --- (a), (b): precompute and bytes on disk -----------------------------------------------------

def bench_precompute(n_windows, tmp):
    import deepwas
    from deepwas.memory_pool import POOL
    from deepwas.precompute import precompute_windows

    stats, interior = synthetic_stats(n_windows, 3_000, N_REF_1000G, seed=11)
    sub = stats[interior]
    k0 = sub._data.store.windows[int(sub._selected[0])]
    geometry = (len(k0[0]), len(k0[1]))
    from joblib.externals.loky import ProcessPoolExecutor

    from deepwas.precompute import _limit_threads

    # a pool started before the timing: the per-window cost of a long run, where starting
    # the workers (fresh interpreters importing deepwas) is paid once
    warm = ProcessPoolExecutor(max_workers=2, initializer=_limit_threads)
    for fut in [warm.submit(_import_deepwas) for _ in range(4)]:
        fut.result()
    rows, per = [], {}
    try:
        for storage, workers, pool in (("float64", 1, "-"), ("float64", 2, "started in run"),
                                       ("float64", 2, "warm"), ("float32", 1, "-")):
            POOL.clear()
            folder = os.path.join(tmp, f"pre-{storage}-{workers}-{pool}")
            with deepwas.config_context(factor_storage=storage):
                s, ii = synthetic_stats(n_windows, 3_000, N_REF_1000G, seed=11,
                                        cache_dir=folder)
                rep = precompute_windows(s[ii], n_jobs=workers,
                                         executor=warm if pool == "warm" else None)
                rank = s[ii].window_factors(0).rank
            POOL.clear()
            sec = rep.seconds / rep.n_windows
            bpw = rep.bytes_on_disk / rep.n_windows
            per[(storage, workers, pool)] = (sec, bpw)
            rows.append((storage, workers, pool, rep.n_windows, f"{rep.seconds:.2f}",
                         f"{sec:.3f}", _fmt_s(sec * GENOME_WINDOWS), _fmt_bytes(bpw),
                         _fmt_bytes(bpw * GENOME_WINDOWS), rank))
    finally:
        warm.shutdown(wait=True)
    _table(f"(a, b) precompute at 1000G geometry: N_ref = {N_REF_1000G}, {geometry[0]} core / "
           f"{geometry[1]} extended variants per window; projection to {GENOME_WINDOWS} windows",
           ["storage", "workers", "pool", "windows", "total s", "s/window",
            f"{GENOME_WINDOWS} win", "disk/window", f"disk {GENOME_WINDOWS}", "rank"], rows)
    s1, b64 = per[("float64", 1, "-")]
    s2 = per[("float64", 2, "started in run")][0]
    s2w = per[("float64", 2, "warm")][0]
    b32 = per[("float32", 1, "-")][1]
    print(f"speed-up 2 workers / 1 worker: {s1 / s2:.2f}x with the pool's start, {s1 / s2w:.2f}x "
          f"warm; float32 / float64 bytes on disk: {b32 / b64:.3f}")
    return geometry


def bench_ukbb(n_windows, tmp, core=4_000, people=3_000):
    """(g) precompute at UK Biobank-like geometry: thousands of people (rank in the
    thousands), |(i)+| = 3 |(i)| = 12,000 variants."""
    from deepwas.memory_pool import POOL
    from deepwas.precompute import precompute_windows

    POOL.clear()
    folder = os.path.join(tmp, "pre-ukbb")
    stats, interior = synthetic_stats(n_windows, core, people, seed=12, cache_dir=folder)
    sub = stats[interior]
    core_idx, ext_idx = sub._data.store.windows[int(sub._selected[0])]
    rep = precompute_windows(sub)
    wf = sub.window_factors(0)
    POOL.clear()
    sec, bpw = rep.seconds / rep.n_windows, rep.bytes_on_disk / rep.n_windows
    _table(f"(g) precompute at UK Biobank-like geometry: N_ref = {people}, {len(core_idx)} core "
           f"/ {len(ext_idx)} extended variants per window (float64, 1 process)",
           ["windows", "rank", "s/window", f"{GENOME_WINDOWS} win", "disk/window",
            f"disk {GENOME_WINDOWS}", f"float32 disk {GENOME_WINDOWS}"],
           [(rep.n_windows, wf.rank, f"{sec:.2f}", _fmt_s(sec * GENOME_WINDOWS), _fmt_bytes(bpw),
             _fmt_bytes(bpw * GENOME_WINDOWS), _fmt_bytes(bpw * GENOME_WINDOWS / 2))])


def _import_deepwas():
    import deepwas.precompute  # noqa: F401

    return os.getpid()


# --- (c): training step -------------------------------------------------------------------------

def bench_training(n_windows):
    import torch

    import deepwas
    from deepwas.likelihood import window_gain
    from deepwas.memory_pool import POOL

    POOL.clear()
    stats, interior = synthetic_stats(n_windows, 3_000, N_REF_1000G, seed=12)
    sub = stats[interior]
    sub.precompute()
    rows = []
    # one window's loss + gradient, the unit of a training step
    f = torch.full((sub.n_variants,), 0.1 / sub.n_variants, dtype=torch.float64,
                   requires_grad=True)
    times = []
    for rep in range(2):
        for k, (_, ext) in enumerate(sub.windows):
            t0 = time.perf_counter()
            g = window_gain(sub, k, f[torch.as_tensor(ext)], sigma2=sub.sigma2)
            (-g).backward()
            if rep:
                times.append(time.perf_counter() - t0)
    step = float(np.median(times))
    rows.append(("window loss + gradient (float64)", f"{step:.3f}",
                 _fmt_s(step * GENOME_WINDOWS)))
    for dtype in ("float64", "float32"):
        est = deepwas.ConstantPrior(optimizer="adamw", max_epochs=1, accumulate=1,
                                    h2_init=0.1, sigma2=0.9, dtype=dtype, random_state=0)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est.fit(sub)
        sec = (time.perf_counter() - t0) / len(sub)
        rows.append((f"ConstantPrior AdamW epoch ({dtype}), per window", f"{sec:.3f}",
                     _fmt_s(sec * GENOME_WINDOWS)))
    _table(f"(c) training at 1000G geometry ({len(sub)} windows, factors in memory); "
           f"one epoch projected to {GENOME_WINDOWS} windows",
           ["what", "s/window", f"epoch of {GENOME_WINDOWS}"], rows)
    POOL.clear()


# --- (d): peak RSS in fresh processes -----------------------------------------------------------

def _proc_status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _reset_peak():
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS (Linux >= 4.0)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _rss_case(kind, budget, n_windows, queue):
    import deepwas
    from deepwas.memory_pool import POOL

    if kind == "demo":
        from deepwas.datasets import load_demo

        demo = load_demo(precompute=False)
        stats, f = demo.stats, demo.f_true
    elif kind == "demo-warm":
        from deepwas.datasets import load_demo

        load_demo(precompute=True)
        queue.put({})
        return
    else:
        stats, interior = synthetic_stats(n_windows, 100, 200, seed=13)
        stats = stats[interior]
        f = np.full(stats.n_variants, 0.1 / stats.n_variants)
    # the data's own loading may have peaked higher: measure the pass from here
    _reset_peak()
    before = _proc_status("VmRSS")
    t0 = time.perf_counter()
    with deepwas.config_context(factor_memory=budget if budget else "1TB"):
        deepwas.marginal_loglik(stats, f)
        sec = time.perf_counter() - t0
        peak = _proc_status("VmHWM")
        pool_peak, evictions = POOL.peak, POOL.evictions
        window_bytes = stats.window_factors(0).nbytes
    queue.put(dict(windows=len(stats), before=before, peak=peak, pool_peak=pool_peak,
                   evictions=evictions, seconds=sec, window_bytes=window_bytes))


def _in_fresh_process(*args):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_rss_case, args=(*args, q))
    p.start()
    out = q.get()
    p.join()
    if p.exitcode:
        raise RuntimeError(f"RSS case {args} failed with exit code {p.exitcode}")
    return out


def bench_memory(n_windows, demo=True):
    rows = []
    if demo:
        _in_fresh_process("demo-warm", None, 0)     # the demo's factors into its disk cache
    cases = ([("demo", None), ("demo", "64MB")] if demo else []) + \
        [("synthetic", None), ("synthetic", "32MB")]
    for kind, budget in cases:
        r = _in_fresh_process(kind, budget, n_windows)
        name = "22 real demo windows" if kind == "demo" else f"{r['windows']} synthetic windows"
        rows.append((name, budget or "none", _fmt_bytes(r["window_bytes"]),
                     _fmt_bytes(r["before"]), _fmt_bytes(r["peak"]),
                     _fmt_bytes(r["peak"] - r["before"]), _fmt_bytes(r["pool_peak"]),
                     r["evictions"], f"{r['seconds']:.1f}"))
    _table("(d) peak RSS of one likelihood pass, each case in a fresh process (RSS before: "
           "with the data loaded, where the peak mark VmHWM is reset; growth: peak - before; "
           "pool peak: most factor bytes the pool held)",
           ["data", "factor_memory", "factors/window", "RSS before", "peak RSS", "growth",
            "pool peak", "evictions", "pass s"], rows)


# --- (e): linear bookkeeping --------------------------------------------------------------------

def _bookkeeping_data(n_windows):
    import deepwas

    stats, interior = synthetic_stats(n_windows, 5, 50, seed=14, features=True)
    stats = stats[interior]
    f = np.full(stats.n_variants, 0.1 / stats.n_variants)
    deepwas.marginal_loglik(stats, f)             # factors computed once, outside the timing
    return stats, f


def _passes():
    import deepwas

    common = dict(max_epochs=1, sigma2=0.9, random_state=0, optimizer="adamw", accumulate=8,
                  h2_init=0.1)
    return {
        "likelihood pass": lambda s, f: deepwas.marginal_loglik(s, f),
        "GLM fit (AdamW, 1 epoch)": lambda s, f: deepwas.GLMPrior(**common).fit(s),
        "LDSR fit (GLM, 1 epoch)": lambda s, f: deepwas.GLMPrior(
            solver="ldsr", ldsr_h2=0.1, **common).fit(s),
    }


def bench_bookkeeping(small, large, repeats):
    data = {w: _bookkeeping_data(w) for w in (small, large)}
    best = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in _passes().items():
            fn(*data[small])                      # first call: imports, caches
            for _ in range(repeats):              # sizes alternate: load changes hit both
                for w, (stats, f) in data.items():
                    t0 = time.perf_counter()
                    fn(stats, f)
                    sec = (time.perf_counter() - t0) / len(stats)
                    best[name, w] = min(best.get((name, w), np.inf), sec)
    rows = [(name, f"{best[name, small] * 1e3:.3f}", f"{best[name, large] * 1e3:.3f}",
             f"{best[name, large] / best[name, small]:.2f}") for name in _passes()]
    _table(f"(e) per-window time at {small} and {large} windows of 5 variants, best of "
           f"{repeats} alternating runs (ratio 1 = linear cost; target within 0.7-1.3)",
           ["pass", f"ms/window @{small}", f"ms/window @{large}", "ratio"], rows)


# --- (f): prefetch ------------------------------------------------------------------------------

def bench_prefetch(n_windows, tmp):
    import deepwas
    from deepwas import SummaryStats
    from deepwas.memory_pool import POOL

    POOL.clear()
    folder = os.path.join(tmp, "prefetch")
    stats, interior = synthetic_stats(n_windows, 3_000, N_REF_1000G, seed=15, cache_dir=folder)
    stats = stats[interior]
    stats.precompute()
    f = np.full(stats.n_variants, 0.1 / stats.n_variants)
    budget = int(2.2 * stats.window_factors(0).nbytes)
    real_prefetch = SummaryStats.prefetch
    res = {}
    with deepwas.config_context(factor_memory=budget):
        deepwas.marginal_loglik(stats, f)               # warm the page cache
        for mode in ("off", "on") * 3:
            SummaryStats.prefetch = real_prefetch if mode == "on" else (lambda self, k: None)
            try:
                POOL.clear()
                disk0 = stats._data.cache.hits["disk"]
                t0 = time.perf_counter()
                deepwas.marginal_loglik(stats, f)
                sec = time.perf_counter() - t0
                loads = stats._data.cache.hits["disk"] - disk0
            finally:
                SummaryStats.prefetch = real_prefetch
            res.setdefault(mode, []).append((sec, loads))
    # time of the loads alone: read every window's file
    cache = stats._data.cache
    t0 = time.perf_counter()
    for k in range(len(stats)):
        cache.load(stats.window_key(k))
    load_s = (time.perf_counter() - t0) / len(stats)
    off = min(s for s, _ in res["off"]) / len(stats)
    on = min(s for s, _ in res["on"]) / len(stats)
    rows = [("prefetch off", f"{off:.3f}", res["off"][0][1]),
            ("prefetch on", f"{on:.3f}", res["on"][0][1])]
    _table(f"(f) likelihood pass over {len(stats)} 1000G-geometry windows under factor_memory = "
           f"{_fmt_bytes(budget)} (about two windows): every window read back from the disk "
           "cache (page cache warm); best of 3 alternating passes",
           ["", "s/window", "disk loads"], rows)
    print(f"reading one window's cache file alone: {load_s:.3f} s; prefetch saves "
          f"{off - on:.3f} s per window ({100 * (off - on) / off:.0f} % of the pass)")
    POOL.clear()


def _load():
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run (< 2 minutes)")
    ap.add_argument("--no-demo", action="store_true",
                    help="skip the 22 real demo windows in part (d)")
    ap.add_argument("--parts", default="abcdefg", help="parts to run (default: all)")
    args = ap.parse_args(argv)
    q = args.quick
    import torch

    import deepwas

    print(f"deepwas {deepwas.__version__}, torch {torch.__version__}, numpy {np.__version__}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPU cores, "
          f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, torch threads "
          f"{torch.get_num_threads()}{', --quick' if q else ''}; load average "
          f"{_load()}")
    tmp = tempfile.mkdtemp(prefix="bench-genome-")
    t_all = time.perf_counter()
    try:
        if "a" in args.parts or "b" in args.parts:
            bench_precompute(4 if q else 16, tmp)
        if "c" in args.parts:
            bench_training(3 if q else 8)
        if "d" in args.parts:
            bench_memory(400 if q else 2_000, demo=not args.no_demo)
        if "e" in args.parts:
            bench_bookkeeping(200, 1_000 if q else 3_200, 2 if q else 4)
        if "f" in args.parts:
            bench_prefetch(3 if q else 8, tmp)
        if "g" in args.parts:
            bench_ukbb(1 if q else 2, tmp, people=1_500 if q else 3_000)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\ntotal {time.perf_counter() - t_all:.0f} s; load average {_load()}")


if __name__ == "__main__":
    main()
