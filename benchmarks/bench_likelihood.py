"""Loss + gradient of one window: the reference algorithm against deepwas's solvers.

Every (algorithm, size) runs in a fresh subprocess so that its peak memory is its own.

* ``reference``: the per-step algorithm of the DeepWAS reference code (dense eigh of R_II, the
  m x m matrix B = I + D W D / s, its Cholesky), float64, all of it every step, autograd;
* ``exact64`` / ``exact32``: deepwas's exact solver on the cached r x r factors (Cholesky of C,
  closed-form gradient) in float64 / float32;
* ``iterative32`` (when ``deepwas.solvers.iterative`` exists): CG + stochastic Lanczos quadrature.

LD is synthetic with realistic decay: variants spread at ~4 per kb, correlation
``(1 - c) exp(-|d| / 20 kb) + c`` with c = 1e-3 and random allele coding (an Ornstein-Uhlenbeck
kernel plus a rank-one floor: positive definite, unit diagonal).
The extended set is three times the core, centred on it, as for 1 Mb cores in 3 Mb windows.

Run ``python benchmarks/bench_likelihood.py`` (all sizes) or ``--sizes 250,1000`` (core sizes).
Errors are relative to the float64 reference value of the loss at the same f.

The reference needs ~9 dense m x m float64 matrices at its peak (9.9 GB at m = 12,000): a size
whose estimate exceeds 80% of the available memory is skipped and reported; its time is then
extrapolated from the reference's own log-log slope (marked ``~``) and errors are taken against
``exact64``, which agrees with the reference to ~1e-14 wherever both ran.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time

import numpy as np

SIZES = [250, 500, 1000, 2000, 4000, 8000]
# Peak bytes of the reference per m^2 float64 entries, measured at m = 12,000 (9,934 MB).
REFERENCE_PEAK_MATRICES = 9.0
ALGOS = ["reference", "exact64", "exact32", "iterative32"]


def synthetic_window(n, seed=0):
    rng = np.random.default_rng(seed)
    m = 3 * n
    pos = np.sort(rng.uniform(0, m / 4.0, size=m))  # kb, 4 variants per kb
    sign = rng.choice([-1.0, 1.0], size=m)
    core = np.arange(n, 2 * n)
    # OU decay plus a rank-one floor of 1e-3: LD estimated from a finite reference panel never
    # falls to the 1e-16 of a pure exponential 750 kb away, and such values turn into float32
    # subnormals that slow CPU kernels by 10x or more (see deepwas.window_store.flush_tiny)
    floor = 1e-3
    R_EI = ((1 - floor) * np.exp(-np.abs(pos[:, None] - pos[core][None, :]) / 20.0) + floor) \
        * sign[:, None] * sign[core][None, :]
    R_II = R_EI[core]
    N = 300_000
    s = 0.8 / N
    f = 0.3 / 1e6 * np.exp(rng.normal(size=m))
    # beta_hat_I ~ N(0, R_IE F R_EI + s R_II), drawn through a Cholesky factor
    A = (R_EI.T * f) @ R_EI + s * R_II
    beta_I = np.linalg.cholesky(A + 1e-12 * np.eye(n)) @ rng.normal(size=n)
    return R_II, R_EI, beta_I, f, s


def _available_mb():
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("inf")


def _reference_fits(n):
    need_mb = REFERENCE_PEAK_MATRICES * (3 * n) ** 2 * 8 / 2**20
    return need_mb <= 0.8 * _available_mb(), need_mb


def _maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reference_step(torch, R_II, R_EI, beta_I, f, s):
    """One step of the reference algorithm: NLL and its gradient w.r.t. f (float64)."""
    lam, U = torch.linalg.eigh(R_II)
    keep = lam > 1e-10 * lam.max()
    U, lam = U[:, keep], lam[keep]
    r = lam.numel()
    G = (R_EI @ U) / lam.sqrt()
    y = (U.T @ beta_I) / lam.sqrt()
    z = G @ y
    W = G @ G.T
    f = f.detach().requires_grad_(True)
    d = f.sqrt()
    B = torch.eye(len(f), dtype=f.dtype) + d[:, None] * W * d[None, :] / s
    L = torch.linalg.cholesky(B)
    u = d * z
    Binv_u = torch.cholesky_solve(u[:, None], L)[:, 0]
    nll = 0.5 * ((y @ y) / s - (u @ Binv_u) / s**2 + r * math.log(s) + lam.log().sum()
                 + 2 * torch.log(torch.diagonal(L)).sum() + r * math.log(2 * math.pi))
    nll.backward()
    return float(nll), f.grad


def run_case(algo, n, repeats):
    import torch

    torch.manual_seed(0)
    # warm up the thread pools and kernels on a small window so the first timed step is fair
    warm = [torch.from_numpy(x) for x in synthetic_window(64, seed=1)[:4]]
    _reference_step(torch, *warm, 1e-5)
    R_II, R_EI, beta_I, f, s = synthetic_window(n)
    base = _maxrss_mb()
    out = {"algo": algo, "n": n, "m": 3 * n}
    if algo == "reference":
        t = [torch.from_numpy(x) for x in (R_II, R_EI, beta_I, f)]
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            loss, grad = _reference_step(torch, *t, s)
            times.append(time.perf_counter() - t0)
        out.update(loss=loss, grad=grad.numpy().tolist())
    else:
        from deepwas.likelihood import null_loglik
        from deepwas.windows import window_factors

        t0 = time.perf_counter()
        wf = window_factors(R_II, R_EI, beta_I)
        out["precompute_s"] = time.perf_counter() - t0
        dtype = torch.float64 if algo.endswith("64") else torch.float32
        from deepwas.window_store import flush_tiny

        G = torch.as_tensor(flush_tiny(wf.G, dtype), dtype=dtype)  # as SummaryStats does
        y = torch.as_tensor(wf.y, dtype=dtype)
        if algo.startswith("exact"):
            from deepwas.solvers.exact import exact_gain as solve

            step = lambda ft: solve(G, y, ft, s)  # noqa: E731
        else:
            try:
                from deepwas.solvers.iterative import iterative_gain
            except ImportError:
                return None
            step = lambda ft: iterative_gain(G, y, ft, s)[0]  # noqa: E731
        base = _maxrss_mb()
        times = []
        for _ in range(repeats):
            ft = torch.as_tensor(f, dtype=dtype).requires_grad_(True)
            t0 = time.perf_counter()
            gain = step(ft)
            gain.backward()
            times.append(time.perf_counter() - t0)
        # NLL = -(null + gain); the null part is theta-free and evaluated in float64
        out.update(loss=-(null_loglik(wf, s) + float(gain)),
                   grad=(-ft.grad.double()).numpy().tolist())
    out["time_s"] = min(times)
    out["peak_mb"] = _maxrss_mb() - base
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default=",".join(map(str, SIZES)), help="core sizes |(i)|")
    ap.add_argument("--algos", default=",".join(ALGOS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--case", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        algo, n = args.case.split(":")
        print(json.dumps(run_case(algo, int(n), args.repeats)))
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    algos = args.algos.split(",")
    print(f"torch threads: {os.cpu_count()} cpus; one subprocess per case; best of {args.repeats}")
    rows, skipped = {}, {}
    for n in sizes:
        for algo in algos:
            if algo == "reference":
                fits, need_mb = _reference_fits(n)
                if not fits:
                    skipped[n] = need_mb
                    continue
            res = subprocess.run([sys.executable, __file__, "--case", f"{algo}:{n}",
                                  "--repeats", str(args.repeats)], capture_output=True, text=True)
            if res.returncode != 0:
                print(f"{algo} n={n} failed:\n{res.stderr[-2000:]}")
                continue
            r = json.loads(res.stdout.strip().splitlines()[-1])
            if r is not None:
                rows[(algo, n)] = r
    slopes = {}
    for algo in algos:
        pts = [(n, rows[(algo, n)]["time_s"]) for n in sizes if (algo, n) in rows]
        if len(pts) >= 2:
            x, y = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
            slopes[algo] = np.polyfit(x, y, 1)
    hdr = (f"{'|(i)|':>6} {'|(i)+|':>7} {'algorithm':>12} {'time s':>9} {'ref/this':>9} "
           f"{'peak MB':>9} {'rel loss err':>13} {'grad cos':>9} {'precomp s':>10}")
    print(hdr)
    print("-" * len(hdr))
    for n in sizes:
        ref = rows.get(("reference", n))
        ref_time, mark = (ref or {}).get("time_s"), " "
        if ref is None and "reference" in slopes:
            ref_time, mark = float(np.exp(np.polyval(slopes["reference"], np.log(n)))), "~"
        truth = ref or rows.get(("exact64", n))
        if ref is None and n in skipped:
            print(f"{n:>6} {3 * n:>7} {'reference':>12}  skipped: needs ~{skipped[n] / 1024:.0f} GB"
                  + (f", extrapolated {ref_time:.0f} s" if ref_time else ""))
        for algo in algos:
            r = rows.get((algo, n))
            if r is None:
                continue
            ratio = err = cos = float("nan")
            if ref_time is not None:
                ratio = ref_time / r["time_s"]
            if truth is not None:
                err = abs(r["loss"] - truth["loss"]) / abs(truth["loss"])
                a, b = np.asarray(r["grad"]), np.asarray(truth["grad"])
                cos = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            print(f"{n:>6} {3 * n:>7} {algo:>12} {r['time_s']:>9.3f} {ratio:>8.1f}{mark} "
                  f"{r['peak_mb']:>9.0f} {err:>13.2e} {cos:>9.6f} "
                  f"{r.get('precompute_s', float('nan')):>10.2f}")
    if skipped:
        print("\n~ reference time extrapolated from its slope; errors there are against exact64")
    print("\nscaling exponent (slope of log time vs log |(i)|, over the sizes run):")
    for algo, (slope, _) in slopes.items():
        print(f"  {algo:>12}: {slope:.2f}")


if __name__ == "__main__":
    main()
