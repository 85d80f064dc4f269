"""The embedded demo: real 1000 Genomes LD, bigWig tracks in hg38, semi-synthetic GWAS.

What :func:`load_demo` builds, step by step:

1. **LD** from the shipped genotypes: 489 1000 Genomes phase 3 EUR people, one 1 Mb region
   (20,000,000-21,000,000, hg19) on each autosome (``data/1000g_eur_22regions/``, see its
   README for provenance). Variant positions are hg19.
2. **Tracks**: ``n_tracks`` synthetic genomic signal tracks are drawn (deterministically from
   the seed) on hg38 coordinates -- smooth "broad" marks and sparse "peak" tracks -- and
   written as real bigWig files (pyBigWig) at 100 bp resolution into the cache directory.
3. **Features** are read back through the package's real feature path:
   :class:`deepwas.features.BigWigTracks` lifts every hg19 variant to hg38 with pyliftover and
   the shipped UCSC chain file (unmapped variants take their nearest mapped neighbour's
   window) and reads ``width`` bins of ``bin_size`` bp around it; the scalar predictors are
   the allele frequency and the minor-allele frequency
   (:class:`deepwas.features.BasicPredictors`). The arrays are cached on disk.
4. **Truth and statistics**: :func:`deepwas.simulate.semi_synthetic` draws ``f_true`` from the
   features (``truth``), scaled so that ``sum f_true = h2``, effects ``beta ~ N(0, f_true)`` and
   standardised marginal effects ``beta_hat ~ N(R beta, (1 - h2)/n R)`` exactly through the
   genotypes, for a GWAS of ``n`` people.
5. **Windows**: the window factors (SVD of each core's genotypes) are computed once and
   cached on disk (content-addressed, so a new seed never reuses stale factors).

Cache directory: the ``cache_dir`` argument, else ``$DEEPWAS_CACHE``, else
``$XDG_CACHE_HOME/deepwas`` (``~/.cache/deepwas``).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np
import pandas as pd

from ..features import (HG19_TO_HG38_CHAIN, BasicPredictors, BigWigTracks, FeatureSet,
                        liftover)
from ..features.base import ArrayFeatures
from ..ld import read_plink_reference
from ..simulate import semi_synthetic
from ..stats import SummaryStats
from ..utils.chrom import normalise_chrom
from ._tracks import _TRACK_STEP, HG38_LENGTHS, _track_kinds, write_demo_tracks

__all__ = ["load_demo", "DemoData", "demo_bfiles", "default_cache_dir", "DATA_DIR",
           "DEMO_DIR"]

log = logging.getLogger(__name__)

DATA_DIR = os.path.join(os.path.dirname(__file__), "data")
DEMO_DIR = os.path.join(DATA_DIR, "1000g_eur_22regions")
_VERSION = "deepwas-demo-v1"

FULL_DEMO_H2 = 0.5
FULL_DEMO_VARIANTS = 82_448  # variants of the 22 regions (all kept: ambiguous SNPs included)


def default_cache_dir():
    """``$DEEPWAS_CACHE``, else ``$XDG_CACHE_HOME/deepwas``, else ``~/.cache/deepwas``."""
    env = os.environ.get("DEEPWAS_CACHE")
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "deepwas")


def demo_bfiles(chromosomes=None):
    """PLINK prefixes of the shipped 1000 Genomes regions (all 22 autosomes by default)."""
    chroms = _check_chromosomes(chromosomes)
    return [os.path.join(DEMO_DIR, f"1000G.subset.{c}") for c in chroms]


def _check_chromosomes(chromosomes):
    if chromosomes is None:
        return [str(c) for c in range(1, 23)]
    if isinstance(chromosomes, (str, int, np.integer)):
        chromosomes = [chromosomes]
    out = []
    for c in chromosomes:
        s = normalise_chrom(c)
        if s not in HG38_LENGTHS:
            raise ValueError(f"the demo has autosomes 1-22 only, got chromosome {c!r}")
        if s not in out:
            out.append(s)
    if not out:
        raise ValueError("chromosomes is empty")
    return sorted(out, key=int)


@dataclass
class DemoData:
    """What :func:`load_demo` returns.

    Attributes
    ----------
    stats : deepwas.SummaryStats
        Semi-synthetic summary statistics on real LD, windows precomputed, with features
        (``func``: the bigWig tracks, shape (M, n_tracks, width); ``pred``: freq, maf).
    f_true : ndarray, shape (stats.n_variants,)
        The true prior variances, aligned with ``stats.variants`` (``sum = h2``).
    sumstats : pandas.DataFrame
        The statistics as a GWAS file would hold them: SNP CHR BP A1 A2 FREQ Z N (hg19), plus
        F_TRUE.
    track_paths, track_names : list of str
        The hg38 bigWig files (in the cache directory) and their names.
    chain_file : str
        The hg19 -> hg38 UCSC chain file used for the liftover.
    bfiles : list of str
        PLINK prefixes of the reference genotypes.
    width, bin_size : int
        Track window: ``width`` bins of ``bin_size`` bp centred on each variant.
    n, h2, truth, random_state, window_bp, flank_bp
        The simulation and window settings.
    cache_dir : str or None
    timings : dict
        Seconds spent per step of this load.
    """

    stats: object
    f_true: np.ndarray
    sumstats: pd.DataFrame
    track_paths: List[str]
    track_names: List[str]
    chain_file: str
    bfiles: List[str]
    width: int
    bin_size: int
    n: float
    h2: float
    truth: str
    random_state: int
    window_bp: int
    flank_bp: int
    cache_dir: Optional[str]
    timings: dict = field(default_factory=dict)

    def feature_provider(self):
        """The feature path from files: bigWig tracks (with liftover) + freq/maf predictors."""
        return FeatureSet([BigWigTracks(self.track_paths, width=self.width,
                                        bin_size=self.bin_size, names=self.track_names,
                                        liftover_chain=self.chain_file, unmapped="nearest"),
                           BasicPredictors()])

    def __repr__(self):
        return (f"DemoData({self.stats!r}, truth={self.truth!r}, h2={self.h2:g}, "
                f"n={self.n:g}, tracks={self.track_names}, seed={self.random_state})")


# ----------------------------------------------------------------------------- the loader
def _key(*parts):
    h = hashlib.sha256(_VERSION.encode())
    for p in parts:
        h.update(repr(p).encode())
    return h.hexdigest()[:16]


def _features(variants, chroms, n_tracks, width, bin_size, seed, chain, cache_root, timings):
    """Tracks on disk + feature arrays (cached); returns (func, pred, paths, names)."""
    key = _key("tracks", seed, n_tracks, chroms, _TRACK_STEP)
    track_dir = os.path.join(cache_root, "demo", f"tracks-{key}")
    _, names = _track_kinds(n_tracks)
    paths = [os.path.join(track_dir, f"{n}.bigWig") for n in names]
    meta_path = os.path.join(track_dir, "tracks.json")
    t0 = time.perf_counter()
    if not all(os.path.isfile(p) for p in paths + [meta_path]):
        lifted = liftover(variants["chrom"], variants["pos"], chain)
        ok = lifted["mapped"].to_numpy()
        lc = lifted["chrom"][ok].astype(str).to_numpy()
        lp = lifted["pos"][ok].astype(np.int64).to_numpy()
        spans = {}
        for c in pd.unique(lc):
            if c in HG38_LENGTHS:
                sel = lp[lc == c]
                spans[c] = (int(sel.min()), int(sel.max()))
        paths, names = write_demo_tracks(track_dir, spans, n_tracks=n_tracks, random_state=seed)
        with open(meta_path, "w") as fh:
            json.dump({"build": "hg38", "step_bp": _TRACK_STEP, "seed": seed, "names": names,
                       "spans_hg38": spans, "note": "synthetic tracks of the deepwas demo"},
                      fh, indent=1)
    timings["tracks"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    fkey = _key("features", key, width, bin_size, _digest_small(chain),
                list(variants["snp"]), list(variants["pos"]))
    fpath = os.path.join(track_dir, f"features-{fkey}.npz")
    func = pred = None
    if os.path.isfile(fpath):
        try:
            with np.load(fpath, allow_pickle=False) as d:
                func, pred = d["func"], d["pred"]
            if func.shape != (len(variants), n_tracks, width):
                func = pred = None
        except Exception as exc:  # corrupt cache file: rebuild
            log.warning("demo feature cache %s unreadable (%s); rebuilding", fpath, exc)
            func = pred = None
    if func is None:
        prov = FeatureSet([BigWigTracks(paths, width=width, bin_size=bin_size, names=names,
                                        liftover_chain=chain, unmapped="nearest"),
                           BasicPredictors()])
        feats = prov.get(variants)
        func, pred = feats.func, feats.pred
        tmp = fpath + f".tmp{os.getpid()}.npz"
        np.savez(tmp, func=func, pred=pred)
        os.replace(tmp, fpath)
    timings["features"] = time.perf_counter() - t0
    return func, pred, paths, names


def _digest_small(path):
    st = os.stat(path)
    return (os.path.basename(path), st.st_size)


def load_demo(*, n=300_000, h2=None, truth="glm", random_state=0, chromosomes=None,
              n_tracks=4, width=16, bin_size=1000, window_bp=1_000_000, flank_bp=1_000_000,
              cache_dir=None, precompute=True, progress=False):
    """The demo data set: real 1000 Genomes LD, hg38 bigWig tracks, semi-synthetic GWAS.

    Deterministic for a seed: the same arguments give the same tracks, ``f_true`` and
    ``beta_hat`` bit for bit. The first call writes the tracks, the features and the window
    factors to the cache directory (about a minute for all 22 regions on 2 cores); later
    calls read them back in seconds.

    Parameters
    ----------
    n : float, default 300,000
        GWAS sample size of the simulated study.
    h2 : float, optional
        Heritability carried by the demo variants (``sum f_true = h2``, ``sigma2 = 1 - h2``).
        Default: 0.5 for all 22 regions and, for a subset of chromosomes, 0.5 times the
        subset's share of the 82,448 variants -- so the per-variant signal
        ``f / (sigma2 / N)`` (about 3.6 at N = 300,000) is that of the full demo.
    truth : {"glm", "network", "threshold", "constant"}, default "glm"
        The true prior (:func:`deepwas.simulate.true_log_f`): "glm" is a random linear function
        of the window-averaged tracks and of freq/maf (log f with standard deviation 1 on top of
        the ``(p(1-p))^0.7`` term); "network" a random Enformer-style network of the tracks;
        "threshold" a 1000-fold enrichment of the variants in the top 10 % of the first track.
    random_state : int, default 0
        Seeds the tracks and the simulation.
    chromosomes : sequence of int or str, optional
        Keep only these regions' chromosomes (default all 22), e.g. for quick runs.
    n_tracks, width, bin_size : int, default 4, 16, 1000
        Number of tracks and the window each variant sees: ``width`` bins of ``bin_size`` bp.
    window_bp, flank_bp : int, default 1,000,000
        Core window and flank. Each shipped region spans 1 Mb, so the default gives one window
        per chromosome, and each window's likelihood is then the exact likelihood of the
        simulation (the simulated statistics of a region live in the span of its 489 people's
        genotypes; several windows on one region would count that information more than once).
    cache_dir : str, optional
        Where tracks, features and window factors are kept (see the module notes).
    precompute : bool, default True
        Compute (or load) every window's factors now.
    progress : bool, default False
        Show progress bars.

    Returns
    -------
    DemoData
        ``.stats`` (SummaryStats), ``.f_true`` and the rest, see :class:`DemoData`.
    """
    timings = {}
    chroms = _check_chromosomes(chromosomes)
    n = float(n)
    if not np.isfinite(n) or n <= 0:
        raise ValueError(f"n must be a positive sample size, got {n!r}")
    if h2 is not None and not 0.0 < float(h2) < 1.0:
        raise ValueError(f"h2 must lie in (0, 1), got {h2!r}")
    seed = int(random_state)
    cache_root = os.fspath(cache_dir) if cache_dir is not None else default_cache_dir()
    chain = HG19_TO_HG38_CHAIN
    if not os.path.isfile(chain):
        raise FileNotFoundError(f"the shipped liftover chain file is missing: {chain}")

    t0 = time.perf_counter()
    bfiles = demo_bfiles(chroms)
    source = read_plink_reference(bfiles)
    ref = source.variants
    table = pd.DataFrame({"SNP": ref["snp"], "A1": ref["a1"], "A2": ref["a2"], "Z": 0.0, "N": n})
    window_dir = os.path.join(cache_root, "windows")
    # the demo's beta_hat are drawn through these very genotypes, region by region (each
    # region is one LD block of the simulation, see semi_synthetic): the LD is in-sample, so the
    # exact likelihood applies (ld_regularisation="none"; docs "LD from a reference panel"),
    # and the windows are the regions themselves, not blocks detected inside them (a draw
    # through a whole region carries the panel's noise between its blocks)
    base = SummaryStats.from_ld_source(source, table, n=n, keep_ambiguous=True,
                                       window_bp=window_bp, flank_bp=flank_bp,
                                       ld_regularisation="none", cache_dir=window_dir,
                                       ld_blocks="none")
    timings["genotypes"] = time.perf_counter() - t0

    variants = base.variants
    func, pred, paths, names = _features(variants, chroms, n_tracks, width, bin_size, seed,
                                         chain, cache_root, timings)
    feats = ArrayFeatures(func=func, pred=pred, func_names=names, pred_names=["freq", "maf"])
    with_features = base.with_beta_hat(variants["beta_hat"].to_numpy(), features=feats)

    if h2 is None:
        h2 = FULL_DEMO_H2 * len(variants) / FULL_DEMO_VARIANTS
    t0 = time.perf_counter()
    rng = np.random.default_rng([seed, 104729])
    stats, f_true = semi_synthetic(with_features, truth=truth, h2=h2, n=n, random_state=rng)
    timings["simulate"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if precompute:
        stats.precompute(progress=progress)
    timings["precompute"] = time.perf_counter() - t0

    v = stats.variants
    z = v["beta_hat"].to_numpy() * np.sqrt(n)
    sumstats = pd.DataFrame({"SNP": v["snp"], "CHR": v["chrom"], "BP": v["pos"], "A1": v["a1"],
                             "A2": v["a2"], "FREQ": v["freq"], "Z": z, "N": n,
                             "F_TRUE": f_true})
    return DemoData(stats=stats, f_true=np.asarray(f_true, dtype=np.float64), sumstats=sumstats,
                    track_paths=list(paths), track_names=list(names), chain_file=chain,
                    bfiles=bfiles, width=int(width), bin_size=int(bin_size), n=n,
                    h2=float(h2), truth=truth, random_state=seed, window_bp=int(window_bp),
                    flank_bp=int(flank_bp), cache_dir=cache_root, timings=timings)
