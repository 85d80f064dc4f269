"""Why a small panel's LD makes h2 low within a block: its eigenvalues, against the truth.

The realistic design of ``study_reference_panel.py`` (12 independent msprime loci; the GWAS's
LD from 10,000 people, a panel of ``--n-ref`` others). For each locus, the panel's LD R_Q is
eigendecomposed (lam_k, u_k, the non-zero ones) and the model is given, one window per locus:

* ``panel``:  R_Q itself (one window per block: the default before thinned cores);
* ``oracle``: U diag(d) U^T with d_k = u_k^T R u_k, R the 10,000-person LD: the panel's
  eigen-directions with their true variances;
* ``lw``:     U diag(d) U^T with d from the panel alone by Ledoit and Wolf's analytical
  nonlinear shrinkage (Ann. Stat. 2020, the p > n case), an estimate of the oracle;
* ``pop``:    R itself (no panel noise);
* ``thinned``: R_Q, but each locus cut into windows whose cores are every k-th variant (about
  ``--core`` variants each, spread over the whole locus) and whose extended set is the locus,
  with the exact likelihood (``ld_regularisation="none"``): a core far smaller than the panel
  has its LD estimated well (no noise-level eigenvalues), and every variant is in exactly one
  core (a composite likelihood over the cores); its jackknife deletes whole loci (the
  package's default, ``ld_regularisation="thinned"``, cut at the true locus edges);
* ``thinned-cross``, ``thinned-core``, ``thinned-pop``: as ``thinned``, with the cores' LD
  with the locus (R_EI), the cores' own LD (R_II), or both from the population's R instead of
  R_Q: which part of the panel's noise moves h2 and the enrichment.

It prints, for the first locus, the smallest and largest eigenvalues next to the oracle and
the shrinkage estimate, then per true h2 the bias of the GLM prior's h2 and its enrichment
(default ``ld_regularisation``, or ``--reg``). Measured with 200 people: the panel's smallest
eigenvalues are about a hundredth of the true variance along them; the oracle and the
shrinkage turn the default's -46 % into +34 % / +40 % at h2 0.005 (docs/reference_panel.rst).

usage: OMP_NUM_THREADS=1 python benchmarks/study_panel_spectrum.py [--n-ref 200]
       [--h2 0.005,0.05] [--reps 4] [--kinds panel,oracle,lw,pop,thinned,thinned-cross,...]
       [--reg mismatch] [--out replicates.csv]
       [--core 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
import pandas as pd

import deepwas
from deepwas.features.base import ArrayFeatures
from deepwas.ld import LDSource

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import study_reference_panel as design  # noqa: E402  (the same loci, truth and draws)

KINDS = ("panel", "oracle", "lw", "pop", "thinned", "thinned-cross", "thinned-core",
         "thinned-pop")


def nonlinear_shrinkage(lam, n):
    """Ledoit-Wolf (2020) analytical nonlinear shrinkage of the non-zero sample eigenvalues
    ``lam`` of a covariance from ``n`` observations of more variables than ``n`` (their
    eq. C.4: d = lam / (pi^2 lam^2 (f^2 + Hf^2)), f and Hf the kernel estimates of the
    spectral density and its Hilbert transform, bandwidth n^(-1/3) lam)."""
    lam = np.asarray(lam, dtype=np.float64)
    h = n ** (-1.0 / 3.0)
    width = h * lam[None, :]
    x = (lam[:, None] - lam[None, :]) / width
    density = (3 / 4 / np.sqrt(5)) * np.mean(np.maximum(1 - x ** 2 / 5, 0) / width, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        hilbert = (-3 / 10 / np.pi) * x + (3 / 4 / np.sqrt(5) / np.pi) * (1 - x ** 2 / 5) \
            * np.log(np.abs((np.sqrt(5) - x) / (np.sqrt(5) + x)))
    edge = np.isclose(np.abs(x), np.sqrt(5))
    hilbert[edge] = (-3 / 10 / np.pi) * x[edge]
    hilbert = np.mean(hilbert / width, axis=1)
    return lam / (np.pi ** 2 * lam ** 2 * (density ** 2 + hilbert ** 2))


class LociLD(LDSource):
    """Block-diagonal LD, one given matrix per locus; one window per locus."""

    def __init__(self, variants, mats, regions, n_ref, freq):
        # the frequencies the truth is drawn with, so the prior's (p(1-p))^0.7 term is right
        self.variants = variants.reset_index(drop=True).assign(freq=freq)
        self.mats, self.regions, self.panel_size = mats, np.asarray(regions), n_ref
        self.local = np.empty(len(self.regions), dtype=np.int64)
        for g in pd.unique(self.regions):
            idx = np.flatnonzero(self.regions == g)
            self.local[idx] = np.arange(len(idx))

    def block(self, rows, cols, mats=None):
        mats = self.mats if mats is None else mats
        rows, cols = np.asarray(rows), np.asarray(cols)
        out = np.zeros((len(rows), len(cols)))
        for g in pd.unique(self.regions[rows]):
            r = np.flatnonzero(self.regions[rows] == g)
            c = np.flatnonzero(self.regions[cols] == g)
            out[np.ix_(r, c)] = mats[g][np.ix_(self.local[rows[r]], self.local[cols[c]])]
        return out

    def natural_windows(self):
        return [(i, i) for i in (np.flatnonzero(self.regions == g)
                                 for g in pd.unique(self.regions))]


class ThinnedLociLD(LociLD):
    """As :class:`LociLD`, each locus cut into ``k`` windows: core = every k-th variant of the
    locus (offsets 0..k-1), extended set = the locus. With ``cross``, the cores' LD with their
    extended sets (R_EI) comes from those matrices and only the cores' own LD (R_II) from
    ``mats``: the two parts of the panel's noise told apart."""

    def __init__(self, *args, core=20, cross=None):
        super().__init__(*args)
        self.core = core
        self.cross = cross

    def block(self, rows, cols):
        # the package asks for R_II as block(core, core) and for R_EI as block(ext, core)
        if self.cross is None or np.array_equal(rows, cols):
            return super().block(rows, cols)
        return super().block(rows, cols, self.cross)

    def natural_windows(self):
        out = []
        for g in pd.unique(self.regions):
            idx = np.flatnonzero(self.regions == g)
            k = max(1, len(idx) // self.core)
            out += [(idx[r::k], idx) for r in range(k)]
        return out


#: thinned kinds whose cores' own LD (R_II) and cross-LD (R_EI) come from the panel (Q) or
#: the population (P, the GWAS's 10,000 people)
THINNED_PARTS = {"thinned": ("panel", "panel"), "thinned-cross": ("panel", "pop"),
                 "thinned-core": ("pop", "panel"), "thinned-pop": ("pop", "pop")}


def locus_matrices(D, kinds):
    """Per kind and locus, the LD the model gets (for the thinned kinds: the cores' own LD)
    and the thinned kinds' cross-LD; and the first locus's spectra."""
    mats, cross, first = {k: {} for k in kinds}, {k: {} for k in kinds}, None
    for g in pd.unique(D["regions"]):
        idx = np.flatnonzero(D["regions"] == g)
        xq, xp = D["Q"].standardised(idx), D["P"].standardised(idx)
        parts = {"panel": xq @ xq.T / xq.shape[1], "pop": xp @ xp.T / xp.shape[1]}
        lam, U = np.linalg.eigh(parts["panel"])
        keep = lam > 1e-8 * lam.max()
        lam, U = lam[keep], U[:, keep]
        oracle = np.einsum("ik,ij,jk->k", U, parts["pop"], U)
        shrunk = nonlinear_shrinkage(lam, xq.shape[1] - 1)
        d = {"oracle": oracle, "lw": shrunk}
        for k in kinds:
            if k in d:
                mats[k][g] = (U * d[k]) @ U.T
            elif k in THINNED_PARTS:
                own, with_ext = THINNED_PARTS[k]
                mats[k][g], cross[k][g] = parts[own], parts[with_ext]
            else:
                mats[k][g] = parts[k]
        if first is None:
            first = (len(idx), lam, oracle, shrunk)
    return mats, cross, first


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-ref", type=int, default=200)
    ap.add_argument("--h2", default="0.005,0.05")
    ap.add_argument("--reps", type=int, default=4)
    ap.add_argument("--kinds", default=",".join(KINDS))
    ap.add_argument("--reg", default="mismatch",
                    help="ld_regularisation of every fit but the thinned one's (exact)")
    ap.add_argument("--core", type=int, default=20, help="variants per thinned core")
    ap.add_argument("--out", default=None,
                    help="CSV of every replicate and kind (paired comparisons between kinds)")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    D = design.msprime_panel(n_ref=args.n_ref)
    mats, cross, (m, lam, oracle, shrunk) = locus_matrices(D, kinds)
    print(f"locus 0: {m} variants, {len(lam)} non-zero panel eigenvalues "
          f"(sum {lam.sum():.0f}; oracle {oracle.sum():.0f}, shrinkage {shrunk.sum():.0f})")
    for name, sel in (("smallest", slice(0, 5)), ("largest", slice(-5, None))):
        print(f"  {name:<8} panel {np.round(lam[sel], 3)}  oracle {np.round(oracle[sel], 2)}"
              f"  shrinkage {np.round(shrunk[sel], 2)}")
    print(f"  correlation of log oracle and log shrinkage: "
          f"{np.corrcoef(np.log(oracle), np.log(shrunk))[0, 1]:.3f}", flush=True)
    v = D["v"]
    feats = ArrayFeatures(pred=D["annot"][:, None], pred_names=["A"])
    thinned = {k: k in THINNED_PARTS for k in kinds}
    sources = {k: ThinnedLociLD(v, mats[k], D["regions"], args.n_ref, D["P"].mean / 2,
                                core=args.core, cross=cross[k]) if thinned[k]
               else LociLD(v, mats[k], D["regions"], None if k == "pop" else args.n_ref,
                           D["P"].mean / 2) for k in kinds}
    # thinned: the jackknife deletes whole loci (its windows are contiguous runs, one run per
    # locus), since the windows of a locus share its LD
    jackknife = {k: {"n_blocks": len(pd.unique(D["regions"]))} if thinned[k] else {}
                 for k in kinds}
    table = pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"], "Z": 0.0,
                          "N": design.N})
    rows = []
    for h2 in (float(x) for x in args.h2.split(",")):
        # LD and windows once per kind; each replicate only brings its beta-hat
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base = {k: deepwas.SummaryStats.from_ld_source(
                sources[k], table, n=design.N, sigma2=1 - h2, features=feats,
                keep_ambiguous=True, check_build=False,
                ld_regularisation="none" if thinned[k] else args.reg, ld_blocks="none")
                for k in kinds}
        for rep in range(args.reps):
            rng = np.random.default_rng([rep, design.DESIGNS.index("realistic"), int(h2 * 1000)])
            bh, f_true = design.draw(D, "realistic", h2, rng)
            true_enr = design.enrichment(f_true, D["annot"])
            for k in kinds:
                stats = base[k].with_beta_hat(bh)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tab = deepwas.GLMPrior(random_state=0).fit(stats).partitioned_h2(
                        stats, **jackknife[k])
                a = tab.loc[tab["Category"] == "A"].iloc[0]
                rows.append(dict(n_ref=args.n_ref, h2_true=h2, rep=rep, kind=k,
                                 h2=tab.attrs["h2"], h2_se=tab.attrs["h2_std_error"],
                                 enrichment=float(a["Enrichment"]), enrichment_true=true_enr))
        done = pd.DataFrame(rows)
        for k in kinds:
            r = done[(done["h2_true"] == h2) & (done["kind"] == k)]
            reg = "none" if thinned[k] else args.reg
            print(f"h2 {h2:g} ({args.reps} replicates, {reg}) {k:<7}: h2 bias "
                  f"{r['h2'].mean() / h2 - 1:+.1%} (SD {r['h2'].std(ddof=1) / h2:.1%}, "
                  f"mean jackknife SE {r['h2_se'].mean() / h2:.1%}), enrichment "
                  f"{r['enrichment'].mean():.2f} (true {true_enr:.2f})", flush=True)
        if args.out:            # after each h2, so a long run keeps what it has done
            done.to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
