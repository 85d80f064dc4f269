"""Training in several processes: the same fit in 1 and in N processes under torchrun.

Fits a small transformer prior by AdamW on the demo data (real 1000 Genomes LD on 22
regions, ``window_bp=flank_bp=200 kb``: ~110 windows of ~30 core variants), one thread per
process, in one process and under ``torchrun --nproc-per-node N`` (gloo on CPU; ``--device
cuda`` for one GPU per process, nccl), and prints each run's fit time, the speed-up and the
largest parameter difference from the one-process fit. The window factors are precomputed
into a shared cache first, so the fit times compare training only.

    python benchmarks/bench_distributed.py            # N = 2, ~3 min on 2 cores
    python benchmarks/bench_distributed.py --nproc 4 --device cuda

A worker run is ``python benchmarks/bench_distributed.py --worker OUT`` (under torchrun).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

FIT = dict(model="transformer", model_params=dict(size="tiny", dropout=0.1), optimizer="adamw",
           max_epochs=2, accumulate=8, warmup_steps=4, lr=3e-4, init_windows=4, random_state=0)


def demo(cache):
    from deepwas.datasets import load_demo

    return load_demo(window_bp=200_000, flank_bp=200_000, cache_dir=cache).stats


def worker(out, cache, device):
    import warnings

    import torch

    from deepwas import FunctionalPrior
    from deepwas.distributed import is_main_process, process_group

    warnings.simplefilter("ignore")
    stats = demo(cache)
    group = process_group(device)
    t0 = time.perf_counter()
    est = FunctionalPrior(**FIT, device=device).fit(stats)
    dt = time.perf_counter() - t0
    if is_main_process():
        params = torch.cat([p.detach().reshape(-1).double() for p in est.prior_.parameters()])
        torch.save(dict(seconds=dt, params=params, world=group.world_size,
                        windows=len(stats), steps=est.n_steps_,
                        per_rank=[len(r) for r in est.history_[-1, "rank_windows"]]), out)


def run(nproc, cache, device, tmp):
    out = os.path.join(tmp, f"n{nproc}.pt")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           f"--nproc-per-node={nproc}", os.path.abspath(__file__), "--worker", out,
           "--cache", cache, "--device", device]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    import torch

    return torch.load(out, weights_only=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--cache", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.cache, args.device)
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        stats = demo(cache)
        stats.precompute()                 # factors on disk: the runs time training only
        print(f"bench_distributed: {len(stats)} windows, {stats.n_variants} variants; "
              f"transformer tiny, {json.dumps(FIT['max_epochs'])} epochs, accumulate "
              f"{FIT['accumulate']}; device {args.device}; {os.cpu_count()} CPUs, load "
              f"{os.getloadavg()[0]:.1f}")
        one = run(1, cache, args.device, tmp)
        many = run(args.nproc, cache, args.device, tmp)
        diff = float((one["params"] - many["params"]).abs().max())
        print(f"1 process:  fit {one['seconds']:.1f} s ({one['steps']} optimizer steps)")
        print(f"{args.nproc} processes: fit {many['seconds']:.1f} s, windows per process in "
              f"the last epoch {many['per_rank']}")
        print(f"speed-up {one['seconds'] / many['seconds']:.2f}x with {args.nproc} processes; "
              f"max abs parameter difference {diff:.3g}")


if __name__ == "__main__":
    main()
