"""Prior networks at the paper's scale: one window's step, per network size.

For the transformer prior at ``size`` tiny / small / paper, with d_func = 165 tracks of
w = 256 positions and 9 scalar predictors (the paper's inputs), and a window whose extended
set holds |(i)+| = 3,000 or 12,000 variants, unchunked or with ``chunk_size="auto"`` (1 GiB
budget), this prints:

* ``prior s``: the prior's forward + backward over the window's extended set, with a fake
  upstream gradient d loss / d log f (random). Chunked, it is a no-graph pass plus a graph
  pass per chunk (as :func:`deepwas.fitting._chunking.chunked_backward`). The network
  treats variants independently, so the time is measured on a batch of ``B`` variants
  (``B`` = 512, 8 for paper; ``--quick``: 128, 4) and scaled to the window: throughput is
  per variant whatever the window;
* ``lik s``: a real likelihood step (loss and gradient by autograd, float32) of the same
  window on a synthetic low-rank LD factor: G of shape (|(i)+|, r) with r = |(i)+| / 3 (the
  core), loss = 1/2 logdet(I + G' F G / s) - 1/2 z' (I + G' F G / s)^-1 z;
* ``var/s``: variants through the prior per second (forward + backward);
* ``peak MB``: the window's prior memory: its autograd graph (bytes saved for backward per
  variant, measured with saved-tensor hooks) and float32 features, for the whole extended
  set or for one chunk (features read per chunk), plus the parameters and AdamW state;
  "does not fit" where that exceeds 80 % of the memory available;
* ``epoch h``: projected hours of one epoch over 2,700 windows, (prior s + lik s) x 2,700.

Synthetic inputs (random tensors of the right shapes); CPU, one thread
(``OMP_NUM_THREADS=1`` unless set). Run ``python benchmarks/bench_prior.py`` (~5 min here) or
``--quick`` (< 2 min: smaller batches, |(i)+| = 3,000 likelihood only). ``--device cuda`` runs
the prior on a GPU (8x larger batches; the likelihood column stays a CPU timing);
``--bf16`` adds the ratio of the prior's time under bf16 autocast to its float32 time
(``mixed_precision="bf16"``).
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from deepwas.fitting._chunking import activation_bytes_per_variant, resolve_chunk_size  # noqa: E402
from deepwas.priors import build_prior  # noqa: E402

D_FUNC, WIDTH, D_PRED = 165, 256, 9
SIZES = ("tiny", "small", "paper")
WINDOWS = (3000, 12000)
EPOCH_WINDOWS = 2700


def available_bytes():
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 8 << 30


def batch(b, seed=0, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    return tuple(t.to(device) for t in (
        torch.randn(b, D_FUNC, WIDTH, generator=g), torch.randn(b, D_PRED, generator=g),
        torch.rand(b, generator=g) * 0.49 + 0.01))


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_prior(prior, b, chunked, reps, device="cpu", bf16=False):
    """Seconds per variant of the prior's forward + backward (plus a no-graph forward when
    chunked), best of ``reps`` after a warm-up; with ``bf16`` under autocast in bfloat16, as
    ``FunctionalPrior(mixed_precision="bf16")`` trains."""
    func, pred, freq = batch(b, device=device)
    up = torch.randn(b).to(device)
    cast = torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16)
    best = float("inf")
    for r in range(reps + 1):
        prior.zero_grad(set_to_none=True)
        _sync(device)
        t = time.perf_counter()
        if chunked:
            with torch.no_grad(), cast:
                prior(func, pred, freq, n=b)
        with cast:
            out = prior(func, pred, freq, n=b)
        out.float().backward(up)
        _sync(device)
        dt = time.perf_counter() - t
        if r > 0:
            best = min(best, dt)
    return best / b


def time_likelihood(m, reps, seed=0):
    """Seconds of one low-rank likelihood step (loss + gradient wrt log f) on m variants."""
    r = m // 3
    g = torch.Generator().manual_seed(seed)
    G = torch.randn(m, r, generator=g) / np.sqrt(r)
    z = torch.randn(r, generator=g)
    s = 1e-3
    best = float("inf")
    for i in range(reps + 1):
        log_f = torch.full((m,), -9.0).requires_grad_(True)
        t = time.perf_counter()
        f = torch.exp(log_f)
        C = torch.eye(r) + (G.T * f) @ G / s
        L = torch.linalg.cholesky(C)
        w = torch.cholesky_solve(z[:, None], L)[:, 0]
        loss = torch.log(torch.diagonal(L)).sum() - 0.5 * (z @ w)
        loss.backward()
        dt = time.perf_counter() - t
        if i > 0:
            best = min(best, dt)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller batches (< 2 min)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    ap.add_argument("--bf16", action="store_true",
                    help="time the prior also under bf16 autocast (a 'bf16/32' column: the "
                         "ratio of bf16 to float32 prior time)")
    args = ap.parse_args(argv)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    reps = 1 if args.quick else 2
    device = torch.device(args.device)
    if device.type == "cuda":
        avail = torch.cuda.mem_get_info(device)[0]
        where = f"CUDA {torch.cuda.get_device_name(device)}"
    else:
        avail = available_bytes()
        where = f"CPU, {torch.get_num_threads()} thread(s)"
    print(f"bench_prior: {where}, torch {torch.__version__}, "
          f"{avail / 2**30:.1f} GiB available, load average {os.getloadavg()[0]:.1f}"
          f"{' (quick)' if args.quick else ''}")
    lik = {}
    for m in WINDOWS:
        if args.quick and m > 3000:
            continue
        lik[m] = time_likelihood(m, reps)
    rows = []
    for size in SIZES:
        torch.manual_seed(0)
        prior = build_prior("transformer", D_FUNC, WIDTH, D_PRED, size=size).to(device)
        prior.train()
        n_par = sum(p.numel() for p in prior.parameters())
        per = activation_bytes_per_variant(prior, (D_FUNC, WIDTH, D_PRED), device)
        fixed = 4 * n_par * 4            # parameters, gradients, AdamW's two moments (float32)
        chunk = resolve_chunk_size("auto", prior, (D_FUNC, WIDTH, D_PRED), device)
        b = (4 if args.quick else 8) if size == "paper" else (128 if args.quick else 512)
        if device.type == "cuda":        # a GPU needs larger batches to be busy
            b *= 8
        sec = {c: time_prior(prior, b, c, reps, device) for c in (False, True)}
        ratio = (time_prior(prior, b, False, reps, device, bf16=True) / sec[False]
                 if args.bf16 else None)
        for m in WINDOWS:
            for chunked in (False, True):
                held = min(m, chunk) if chunked else m
                peak = fixed + per * held
                fits = peak <= 0.8 * avail
                prior_s = sec[chunked] * m if (m > chunk or not chunked) else sec[False] * m
                lik_s = lik.get(m)
                epoch = None if lik_s is None else (prior_s + lik_s) * EPOCH_WINDOWS / 3600
                rows.append(dict(size=size, params=n_par, m=m,
                                 chunk=f"{chunk}" if chunked else "-",
                                 prior_s=prior_s if fits else None, lik_s=lik_s,
                                 vps=m / prior_s if fits else None, peak_mb=peak / 1e6,
                                 fits=fits, epoch_h=epoch if fits else None, bf16=ratio))
    head = (f"{'size':<6} {'params':>10} {'|(i)+|':>7} {'chunk':>6} {'prior s':>9} {'lik s':>7} "
            f"{'var/s':>7} {'peak MB':>16} {'epoch h':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        lik_txt = "-" if r["lik_s"] is None else f"{r['lik_s']:.2f}"
        if not r["fits"]:
            print(f"{r['size']:<6} {r['params']:>10,} {r['m']:>7,} {r['chunk']:>6} "
                  f"{'':>9} {lik_txt:>7} {'':>7} {'does not fit':>16} "
                  f"{'':>8}  (needs ~{r['peak_mb'] / 1e3:.0f} GB)")
            continue
        ep = "-" if r["epoch_h"] is None else f"{r['epoch_h']:.1f}"
        bf = "" if r["bf16"] is None else f"  bf16/32 {r['bf16']:.2f}"
        print(f"{r['size']:<6} {r['params']:>10,} {r['m']:>7,} {r['chunk']:>6} "
              f"{r['prior_s']:>9.1f} {lik_txt:>7} {r['vps']:>7.1f} {r['peak_mb']:>16,.0f} "
              f"{ep:>8}{bf}")
    print(f"prior s: forward + backward scaled from a batch (per-variant throughput); epoch h: "
          f"{EPOCH_WINDOWS:,} windows x (prior s + lik s); peak MB: graph + features of the "
          "window (or of one chunk) + parameters, gradients and AdamW state")


if __name__ == "__main__":
    main()
