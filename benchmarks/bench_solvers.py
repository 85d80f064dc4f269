"""Exact (Cholesky) vs iterative (CG + SLQ) window solver: time of loss + gradient, and errors.

Synthetic windows with a real-LD-like spectrum: ``G = A diag(sqrt(lam))`` with ``A`` (m x r)
Gaussian / sqrt(m) and ``lam_i = 134 (i + 1)^-0.89`` -- the power law through the top (134) and
median (~1) squared singular values of a real 1000G window (2000 x 486). ``f / s`` is exponential
with mean 0.3 (h^2 = 0.3, M = 1e6, N = 3e5).  Timings are the best of ``--repeats`` runs, all
in this one process, so ratios are comparable; errors are against exact float64.

Usage: ``python benchmarks/bench_solvers.py [--max-r 4000] [--repeats 2] [--device cuda]``
(``--device cuda``: both solvers on the GPU, errors still against exact float64 on the CPU).
"""
from __future__ import annotations

import argparse
import time

import torch

from deepwas.solvers import IterativeConfig, exact_gain, iterative_gain
from deepwas.windows import orthogonal_columns

LADDER = [(1000, 250), (2000, 500), (4000, 1000), (6000, 2000), (9000, 3000), (12000, 4000)]


def synthetic_window(m, r, ratio=0.3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lam = 134.0 * torch.arange(1, r + 1, dtype=torch.float64) ** -0.89
    G = torch.randn(m, r, generator=gen, dtype=torch.float64) / m**0.5 * lam.sqrt()
    s = 0.7 / 300_000
    f = s * ratio * torch.empty(m, dtype=torch.float64).exponential_(generator=gen)
    y = torch.randn(r, generator=gen, dtype=torch.float64) * s**0.5
    G, y = orthogonal_columns(G.numpy(), y.numpy())  # as the precompute stores them
    return torch.from_numpy(G), torch.from_numpy(y), f, s


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn, repeats, device="cpu"):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best, out


def loss_and_grad(solver, G, y, f0, s, dtype, device="cpu"):
    G, y = G.to(device, dtype), y.to(device, dtype)
    f = f0.to(device, dtype).clone().requires_grad_(True)
    out = solver(G, y, f, s)
    g = out[0] if isinstance(out, tuple) else out
    g.backward()
    return g.item(), f.grad.double().cpu()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--max-r", type=int, default=4000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    args = ap.parse_args(argv)
    cfg = IterativeConfig()
    iterative = lambda G, y, f, s: iterative_gain(G, y, f, s, cfg)  # noqa: E731
    dev = args.device
    where = (torch.cuda.get_device_name(dev) if torch.device(dev).type == "cuda"
             else f"CPU, threads {torch.get_num_threads()}")
    print(f"torch {torch.__version__}, {where}, config {cfg}")
    print(f"{'m':>6} {'r':>5} {'dtype':>7} {'exact s':>9} {'iter s':>9} {'exact/iter':>10} "
          f"{'|dgain|/|gain|':>14} {'grad cos':>9}")
    for m, r in LADDER:
        if r > args.max_r:
            continue
        G, y, f0, s = synthetic_window(m, r)
        ref, ref_grad = loss_and_grad(exact_gain, G, y, f0, s, torch.float64)
        for dtype in (torch.float64, torch.float32):
            t_ex, _ = timed(lambda: loss_and_grad(exact_gain, G, y, f0, s, dtype, dev),
                            args.repeats, dev)
            t_it, (g, grad) = timed(lambda: loss_and_grad(iterative, G, y, f0, s, dtype, dev),
                                    args.repeats, dev)
            cos = float(grad @ ref_grad / (grad.norm() * ref_grad.norm()))
            print(f"{m:>6} {r:>5} {str(dtype)[6:]:>7} {t_ex:>9.3f} {t_it:>9.3f} "
                  f"{t_ex / t_it:>10.2f} {abs(g - ref) / abs(ref):>14.2e} {cos:>9.5f}", flush=True)


if __name__ == "__main__":
    main()
