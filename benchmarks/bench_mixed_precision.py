"""bf16 autocast of the prior against float32: fit time and held-out likelihood.

Fits the same transformer prior (``--size``, default small) by AdamW for ``--epochs`` (5) on
the demo data (real 1000 Genomes LD on 22 regions, ``window_bp=flank_bp=200 kb``; chromosomes
1-20 train, 21-22 held out; ``--quick``: tiny, 2 epochs, chromosomes 17-22) with
``mixed_precision=None`` and ``"bf16"``, same seed, and prints each fit's time, its held-out
score (nats per person) and the ratios. The window factors are precomputed first so that the
fits time training only.

    python benchmarks/bench_mixed_precision.py                 # CPU, ~4.5 min on 2 cores
    python benchmarks/bench_mixed_precision.py --device cuda --size paper
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
import warnings


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--size", default="small", choices=("tiny", "small", "paper"))
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="tiny, 2 epochs, chromosomes 17-22")
    args = ap.parse_args(argv)
    if args.quick:
        args.size, args.epochs = "tiny", 2

    import numpy as np
    import torch

    from deepwas import FunctionalPrior
    from deepwas.datasets import load_demo

    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory() as tmp:
        stats = load_demo(window_bp=200_000, flank_bp=200_000,
                          chromosomes=range(17, 23) if args.quick else None,
                          cache_dir=os.path.join(tmp, "cache")).stats
        stats.precompute()
        test = np.isin(stats.groups, ["21", "22"])
        train, held = stats[np.flatnonzero(~test)], stats[np.flatnonzero(test)]
        where = (torch.cuda.get_device_name(args.device) if args.device.startswith("cuda")
                 else f"CPU, {torch.get_num_threads()} threads")
        print(f"bench_mixed_precision: transformer {args.size}, {len(train)} training and "
              f"{len(held)} held-out windows, {args.epochs} epochs; {where}; load "
              f"{os.getloadavg()[0]:.1f}")
        out = {}
        for mp in (None, "bf16"):
            est = FunctionalPrior(model="transformer", model_params=dict(size=args.size),
                                  optimizer="adamw", max_epochs=args.epochs, accumulate=8,
                                  warmup_steps=4, lr=1e-4, random_state=0, device=args.device,
                                  mixed_precision=mp)
            t0 = time.perf_counter()
            est.fit(train)
            dt = time.perf_counter() - t0
            out[mp] = (dt, est.score(held), est.history_[-1, "train_loss"])
            print(f"{mp or 'float32':>8}: fit {dt:7.1f} s, held-out {out[mp][1]:.6f} nats per "
                  f"person, last training loss {out[mp][2]:.6f}")
        (t32, s32, _), (t16, s16, _) = out[None], out["bf16"]
        print(f"bf16 / float32: time {t16 / t32:.2f}, held-out score difference "
              f"{s16 - s32:+.2e} nats per person ({(s16 - s32) / abs(s32):+.2e} relative)")


if __name__ == "__main__":
    main()
