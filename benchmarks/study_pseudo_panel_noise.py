"""How the panel correction's pseudo-panels reproduce a reference panel's LD noise.

The panel correction (SIMEX, docs "LD from a reference panel") refits the prior on
pseudo-panels whose LD should scatter around the panel's as the panel's scatters around the
population's. This script measures that on the shipped 1000 Genomes genotypes (two 1 Mb
regions end to end, every 4th SNP): panels of ``n`` of the 489 people, their LD against all
489 (a real panel's noise; pairs of one region with ``|r| > 0.3`` among the 489, "linked",
and pairs across the two regions, whose true correlation is 0, "unlinked", split by the rarer
variant's frequency in the panel), and three pseudo-panels against the panel:

* ``gaussian`` -- Gaussian pseudo-people ``Z = X W`` (:class:`deepwas.pseudo_panel.PseudoPanelLD`,
  what the correction uses);
* ``bootstrap`` -- the panel's people drawn with replacement
  (:class:`deepwas.pseudo_panel.BootstrapPanelLD`; variants left without variation dropped
  from the comparison, the share printed);
* ``reweighted`` -- every person weighted by an Exp(1) draw (the Bayesian bootstrap).

Each entry is ``n`` times the mean squared deviation: 1 for a Gaussian-like correlation noise
of ``1 / n`` per pair. A real panel's noise against the 489 is scaled by
``1 / (1/n - 1/489)``, the nested subsample's share. Several panels per size; a few seconds.

Usage::

    python benchmarks/study_pseudo_panel_noise.py [--sizes 150,244] [--panels 4]
"""
from __future__ import annotations

import argparse

import numpy as np

from deepwas.datasets import pseudo_chromosome
from deepwas.pseudo_panel import BootstrapPanelLD, PseudoPanelLD, weighted_standardised


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="150,244")
    ap.add_argument("--panels", type=int, default=4)
    args = ap.parse_args()
    full = pseudo_chromosome(range(1, 3), step=4)
    region = full.variants["region"].to_numpy()
    a = np.flatnonzero(region == region[0])
    b = np.flatnonzero(region != region[0])
    idx = np.r_[a, b]
    inside = np.zeros((len(idx), len(idx)), dtype=bool)
    inside[:len(a), :len(a)] = True
    across = np.zeros_like(inside)
    across[:len(a), len(a):] = True
    X = full.standardised(idx)
    R = X @ X.T / full.n_ref
    rng = np.random.default_rng(0)
    print(f"{len(a)} + {len(b)} variants, {full.n_ref} people; n x mean squared deviation")
    print("n    kind        linked  unlinked(common)  unlinked(rarer MAF<5%)  lost")
    for n in [int(x) for x in args.sizes.split(",")]:
        rows = {k: [] for k in ("panel", "gaussian", "bootstrap", "reweighted")}
        for k in range(args.panels):
            people = np.sort(rng.choice(full.n_ref, n, replace=False))
            Q = full.people(people)
            # variants without variation in this panel leave the comparison
            ok = ~Q.monomorphic[idx]
            v = idx[ok]
            Rt = R[np.ix_(ok, ok)]
            Xq = Q.standardised(v)
            Rq = Xq @ Xq.T / n
            p = Q.mean[v] / 2
            rare = np.minimum(p, 1 - p) < 0.05
            off = ~np.eye(len(v), dtype=bool)
            linked = inside[np.ix_(ok, ok)] & off & (np.abs(Rt) > 0.3)
            cross = across[np.ix_(ok, ok)]
            rare_pair = np.logical_or.outer(rare, rare)
            sets = (linked, cross & ~rare_pair, cross & rare_pair)
            scale = 1.0 / (1.0 / n - 1.0 / full.n_ref)
            rows["panel"].append([((Rq - Rt)[s] ** 2).mean() * scale for s in sets] + [0.0])
            w = rng.exponential(1.0, n)
            draws = {"gaussian": PseudoPanelLD(Q, n, seed=k).standardised(v),
                     "bootstrap": BootstrapPanelLD(Q, n, seed=k).standardised(v),
                     "reweighted": weighted_standardised(Xq, w / w.mean())}
            for kind, Z in draws.items():
                Rp = Z @ Z.T / n
                kept = np.diag(Rp) > 0.5
                both = np.outer(kept, kept)
                rows[kind].append([n * ((Rp - Rq)[s & both] ** 2).mean() for s in sets]
                                  + [1 - kept.mean()])
        for kind, vals in rows.items():
            m = np.mean(vals, axis=0)
            print(f"{n:<4d} {kind:<11s} {m[0]:6.2f}  {m[1]:16.2f}  {m[2]:22.2f}  {m[3]:5.3f}")


if __name__ == "__main__":
    main()
