"""The exact likelihood's r x r matrix C = I + G^T F G / s by its lower triangle in blocks
(:func:`deepwas.solvers.exact._gram`) against the general product it replaced, on the demo's
real 1000 Genomes LD, in one run.

Prints, for float32 and float64: the time of ``G^T diag(w) G`` for one demo window (3,895
variants, rank of a 489-person panel), of one window's gain and gradient
(:func:`deepwas.solvers.exact.exact_gain`, forward and backward), and of a GLM fit on demo
chromosomes 1-8 (L-BFGS, float64) -- each with the general product ("gemm", forced by
``exact.GRAM_DEPTH = 0``) and in blocks ("blocks"), their ratio, and how far the answers
differ.

Usage::

    python benchmarks/bench_exact_gram.py               # one thread (the default)
    python benchmarks/bench_exact_gram.py --threads 2
"""
from __future__ import annotations

import argparse
import contextlib
import time
import timeit
import warnings

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from deepwas import FunctionalPrior
from deepwas.datasets import load_demo
from deepwas.solvers import exact


@contextlib.contextmanager
def general_product():
    """The general product everywhere, as before the blocks."""
    saved, exact.GRAM_DEPTH = exact.GRAM_DEPTH, 0
    try:
        yield
    finally:
        exact.GRAM_DEPTH = saved


def best_of(fn, repeat):
    fn()                # warm-up: the first call allocates
    return min(timeit.repeat(fn, number=1, repeat=repeat))


def window_parts(stats, dtype):
    wt = stats.window_factors(0)
    G, y = torch.as_tensor(wt.G, dtype=dtype), torch.as_tensor(wt.y, dtype=dtype)
    rng = np.random.default_rng(0)
    f = torch.as_tensor(0.5 / stats.n_variants * np.exp(rng.normal(size=G.shape[0])),
                        dtype=dtype)
    return G, y, f, float(stats.sigma2) / float(stats.n)


def gain_and_grad(G, y, f, s):
    f = f.clone().requires_grad_(True)
    gain = exact.exact_gain(G, y, f, s)
    gain.backward()
    return float(gain.detach()), f.grad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        demo = load_demo(chromosomes=list(range(1, 9)))
        stats = demo.stats
        G64 = window_parts(stats, torch.float64)[0]
        print(f"bench_exact_gram: demo window 0, m={G64.shape[0]}, r={G64.shape[1]}; "
              f"{args.threads} thread(s)")
        for dtype in (torch.float32, torch.float64):
            G, y, f, s = window_parts(stats, dtype)
            w = f / s
            with general_product():
                t_gemm = best_of(lambda: exact._gram(G, w), args.repeat)
                g_gemm, d_gemm = gain_and_grad(G, y, f, s)
                t_ggemm = best_of(lambda: gain_and_grad(G, y, f, s), args.repeat)
            t_blocks = best_of(lambda: exact._gram(G, w), args.repeat)
            g_blocks, d_blocks = gain_and_grad(G, y, f, s)
            t_gblocks = best_of(lambda: gain_and_grad(G, y, f, s), args.repeat)
            name = str(dtype).replace("torch.", "")
            print(f"  {name}: G^T F G  gemm {t_gemm * 1e3:6.1f} ms  blocks "
                  f"{t_blocks * 1e3:6.1f} ms  ratio {t_blocks / t_gemm:.2f}")
            print(f"  {name}: gain+grad gemm {t_ggemm * 1e3:6.1f} ms  blocks "
                  f"{t_gblocks * 1e3:6.1f} ms  ratio {t_gblocks / t_ggemm:.2f}; gain differs by "
                  f"{abs(g_blocks - g_gemm) / abs(g_gemm):.1e} (relative), gradient by "
                  f"{float((d_blocks - d_gemm).abs().max() / d_gemm.abs().max()):.1e}")
        fits = {}
        for label, ctx in (("gemm", general_product), ("blocks", contextlib.nullcontext)):
            est = FunctionalPrior(model="glm", random_state=0, init_windows=4)
            with ctx(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                est.fit(stats)
                fits[label] = (time.perf_counter() - t, est.score(stats), est.n_iter_)
        (tg, sg, ng), (ts, ss, ns) = fits["gemm"], fits["blocks"]
        print(f"  GLM fit, {len(stats)} windows: gemm {tg:.1f} s ({ng} iterations)  blocks "
              f"{ts:.1f} s ({ns})  ratio {ts / tg:.2f}; score differs by "
              f"{abs(ss - sg) / abs(sg):.1e} (relative)")


if __name__ == "__main__":
    main()
