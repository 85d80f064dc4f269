"""Semi-synthetic GWAS summary statistics on real LD (paper App. A.5, B.1).

Given real LD (a :class:`deepwas.SummaryStats`), draw a true prior ``f_true`` from features,
effects ``beta ~ N(0, diag(f_true))`` and marginal effects

    beta_hat = R beta + e,     e ~ N(0, (sigma^2 / N) R),     sigma^2 = 1 - h2,

with ``R`` the LD of each LD block (default) or of each whole chromosome (``gwas_ld=
"chromosome"``); entries between blocks (chromosomes) are zero.

Why blocks by default. A GWAS of many thousands of people has essentially no LD between distant
variants, but a panel of a few hundred people shows correlations of about ``1/sqrt(n_ref)``
between any two of them. Drawn through a whole chromosome of such a panel, ``beta_hat`` carries
that spurious long-range LD, which no real study has and no windowed or blocked model can
explain: simulate -> fit then over-estimates h2 (3.6x on a 379-person chromosome 22, issue 21).
Drawn per LD block -- the blocks the statistics are cut at (``ld_blocks=``, detected in small
panels by default), else stretches of ``block_bp`` -- the statistics look like a real GWAS's.

Scale. ``beta_hat`` is standardised (Z / sqrt(N)) and ``f`` is the variance of the effect of a
standardised variant, so the heritability carried by the variants is ``sum_m f_m``:
``f_true`` is scaled so that ``sum_m f_true,m = h2`` (mean ``h2 / M``). DESIGN and the issue
wrote ``E f = N h2 / M``; that is the per-person-sum scale of ``N f`` (the LDSC slope) and is
inconsistent with ``beta_hat ~ N(R beta, sigma^2/N R)``.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .features.base import ArrayFeatures, Features
from .ld import GenotypeLD
from .priors import build_network

__all__ = ["semi_synthetic", "synthetic_features", "true_log_f", "gwas_blocks",
           "beta_hat_from_genotypes", "TRUTHS", "GWAS_LD"]

log = logging.getLogger(__name__)

TRUTHS = ("constant", "glm", "network", "threshold")


def _rng(random_state):
    if isinstance(random_state, np.random.Generator):
        return random_state
    return np.random.default_rng(random_state)


def synthetic_features(variants, *, n_tracks=4, width=16, n_pred=2, track_bp=20_000,
                       step_bp=2_000, random_state=None):
    """Smooth random genomic tracks and scalar predictors for a variant table.

    Each track is a Gaussian random function of position on every chromosome (independent
    normal values every ``track_bp`` base pairs, smoothed with a [1, 2, 1] kernel, linearly
    interpolated), read at ``width`` positions ``step_bp`` apart centred on each variant. The
    first predictor is a sparse 0/1 indicator (5 %, "coding"), the others standard normal.

    Parameters
    ----------
    variants : DataFrame
        Columns ``chrom`` and ``pos``.
    n_tracks, width, n_pred : int
    track_bp, step_bp : int
    random_state : int, Generator or None

    Returns
    -------
    Features
        ``func`` (n, n_tracks, width) and ``pred`` (n, n_pred), float32.
    """
    rng = _rng(random_state)
    chrom = np.asarray(variants["chrom"]).astype(str)
    pos = np.asarray(variants["pos"], dtype=np.int64)
    n = len(pos)
    offsets = (np.arange(width) - (width - 1) / 2.0) * step_bp
    func = np.zeros((n, n_tracks, width), dtype=np.float32)
    for c in pd.unique(chrom):
        sel = np.flatnonzero(chrom == c)
        at = pos[sel][:, None] + offsets[None, :]
        lo, hi = at.min() - 2 * track_bp, at.max() + 2 * track_bp
        grid = np.arange(lo, hi + track_bp, track_bp, dtype=np.float64)
        for j in range(n_tracks):
            v = rng.standard_normal(len(grid))
            v = np.convolve(v, [0.25, 0.5, 0.25], mode="same") / np.sqrt(0.375)
            func[sel, j, :] = np.interp(at, grid, v).astype(np.float32)
    pred = np.zeros((n, n_pred), dtype=np.float32)
    if n_pred >= 1:
        pred[:, 0] = rng.random(n) < 0.05
    if n_pred >= 2:
        pred[:, 1:] = rng.standard_normal((n, n_pred - 1))
    return Features(func=func, pred=pred,
                    func_names=[f"synthetic_track{j}" for j in range(n_tracks)],
                    pred_names=(["synthetic_coding"]
                                + [f"synthetic_pred{j}" for j in range(1, n_pred)])[:n_pred])


def _standardise(a, axis):
    m = a.mean(axis=axis, keepdims=True)
    s = a.std(axis=axis, keepdims=True)
    return (a - m) / np.where(s > 0, s, 1.0)


def true_log_f(truth, features, freq, *, alpha=0.7, log_f_sd=1.0, sparsity=0.1,
               random_state=None):
    """Unscaled log of a true prior (an arbitrary additive constant is removed by scaling).

    Parameters
    ----------
    truth : {"constant", "glm", "network", "threshold"}
        * ``constant``: ``alpha log(p(1-p))`` only;
        * ``glm``: plus a random linear function of the standardised window-averaged tracks
          and predictors (what :class:`deepwas.GLMPrior` can represent exactly);
        * ``network``: plus the output of a randomly initialised Enformer-style network
          (:class:`deepwas.priors.TransformerNet`, "tiny" size; needs tracks);
        * ``threshold``: the sparse function of App. B.1 -- variants whose first track
          (window-averaged, standardised) is in its top ``sparsity`` fraction get a 1000-fold
          larger variance than the others.

        The non-constant parts are rescaled to standard deviation ``log_f_sd`` over variants
        (the threshold truth has a fixed 1000-fold contrast instead).
    features : Features
    freq : array-like, shape (n,)
    alpha : float, default 0.7
    log_f_sd : float, default 1.0
    sparsity : float, default 0.1
    random_state : int, Generator or None

    Returns
    -------
    ndarray, shape (n,)
    """
    if truth not in TRUTHS:
        raise ValueError(f"truth must be one of {TRUTHS}, got {truth!r}")
    rng = _rng(random_state)
    freq = np.clip(np.asarray(freq, dtype=np.float64), 1e-4, 1 - 1e-4)
    base = alpha * np.log(freq * (1 - freq))
    n = len(freq)
    if truth == "constant":
        return base
    func, pred = features.func, features.pred
    if truth == "glm":
        cols = []
        if func is not None:
            cols.append(_standardise(func.astype(np.float64).mean(-1), 0))
        if pred is not None:
            cols.append(_standardise(pred.astype(np.float64), 0))
        if not cols:
            raise ValueError("the glm truth needs features")
        X = np.concatenate(cols, axis=1)
        w = rng.standard_normal(X.shape[1])
        h = X @ w
    elif truth == "network":
        if func is None:
            raise ValueError("the network truth needs track features")
        import torch

        seed = int(rng.integers(2**31 - 1))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = build_network("transformer", func.shape[1], func.shape[2],
                                0 if pred is None else pred.shape[1], size="tiny", dropout=0.0,
                                residual=False)
            torch.nn.init.normal_(net.out.weight)
            net.eval()
            fz = torch.as_tensor(_standardise(func.astype(np.float64), (0, 2)), dtype=torch.float32)
            pz = None if pred is None else torch.as_tensor(
                _standardise(pred.astype(np.float64), 0), dtype=torch.float32)
            with torch.no_grad():
                h = np.concatenate([net(fz[i:i + 4096],
                                        None if pz is None else pz[i:i + 4096]).numpy()
                                    for i in range(0, n, 4096)]).astype(np.float64)
    else:  # threshold
        if func is not None:
            x = func.astype(np.float64)[:, 0, :].mean(-1)
        elif pred is not None:
            x = pred.astype(np.float64)[:, -1]
        else:
            raise ValueError("the threshold truth needs features")
        cut = np.quantile(x, 1.0 - sparsity)
        if not np.any(x > cut):
            # e.g. a 0/1 annotation on more than `sparsity` of the variants: no value lies
            # above the quantile, and the truth would silently be the constant one
            raise ValueError(f"the threshold truth marks no variant: its feature ("
                             f"{'the first track' if func is not None else 'the last predictor'}"
                             f") has no value above its {1 - sparsity:.0%} quantile ({cut:g}); "
                             "use another truth or feature")
        return base + np.where(x > cut, np.log(1000.0), 0.0)
    sd = h.std()
    h = (h - h.mean()) * (log_f_sd / sd if sd > 0 else 0.0)
    return base + h


def _genotype_rows(source, rows):
    """(GenotypeLD, rows in it) when ``source`` is genotypes seen through subsets, else None."""
    rows = np.asarray(rows, dtype=np.int64)
    while not isinstance(source, GenotypeLD):
        parent, keep = getattr(source, "parent", None), getattr(source, "keep", None)
        if parent is None or keep is None:
            return None
        rows, source = np.asarray(keep)[rows], parent
    return source, rows


GWAS_LD = ("blocks", "chromosome")


def gwas_blocks(stats, gwas_ld="blocks", block_bp=None):
    """The independent stretches ``beta_hat`` is drawn in: one label per variant of ``stats``.

    ``gwas_ld="chromosome"``: one per chromosome. ``"blocks"``: stretches of ``block_bp`` from
    each chromosome's first variant when ``block_bp`` is given, else the stats' LD blocks (its
    windows, when they are blocks: core = extended set; or the extended sets of thinned cores),
    else stretches of 1 Mb.
    """
    if gwas_ld not in GWAS_LD:
        raise ValueError(f"gwas_ld must be one of {GWAS_LD}, got {gwas_ld!r}")
    v = stats.variants
    chrom = v["chrom"].to_numpy().astype(str)
    if gwas_ld == "chromosome":
        return chrom
    windows = stats.windows
    # thinned cores (ld_regularisation="thinned"): the extended set of each is its LD block
    thinned = stats.ld_model.regularisation == "thinned"
    if block_bp is None and stats.windows_are_ld_blocks \
            and (thinned or all(np.array_equal(core, ext) for core, ext in windows)):
        label = np.full(len(v), -1, dtype=np.int64)
        units = stats.window_units          # one per window unless thinned
        for k, (core, ext) in enumerate(windows):
            label[ext if thinned else core] = units[k]
        # variants in no block (none in a window) are drawn on their own
        label[label < 0] = len(windows) + np.arange(int((label < 0).sum()))
        return label
    block_bp = 1_000_000 if block_bp is None else int(block_bp)
    if block_bp <= 0:
        raise ValueError(f"block_bp must be a positive number of base pairs, got {block_bp}")
    pos = v["pos"].to_numpy().astype(np.int64)
    first = pd.Series(pos).groupby(chrom).transform("min").to_numpy()
    return np.char.add(np.char.add(chrom, ":"), ((pos - first) // block_bp).astype(str))


def _draw_beta_hat(stats, beta, s, rng, max_dense, groups=None):
    """beta_hat = R beta + N(0, s R) within each group (default: chromosome), exactly."""
    v = stats.variants
    rows_all = v["row"].to_numpy()
    groups = v["chrom"].to_numpy().astype(str) if groups is None else np.asarray(groups)
    out = np.empty(len(v))
    for c in pd.unique(groups):
        sel = np.flatnonzero(groups == c)
        rows = rows_all[sel]
        geno = _genotype_rows(stats.ld, rows)
        if geno is not None:
            src, grows = geno
            out[sel] = _through_genotypes(src.standardised(grows), beta[sel], s, rng)
            continue
        if len(sel) > max_dense:
            raise ValueError(
                f"block {c} has {len(sel)} variants; sampling N(0, R) densely is limited to "
                f"{max_dense} (raise max_dense, or build the stats from genotypes)")
        R = stats.ld.block(rows, rows)
        lam, U = np.linalg.eigh(R)
        lam = np.clip(lam, 0.0, None)
        out[sel] = R @ beta[sel] + U @ (np.sqrt(s * lam) * rng.standard_normal(len(lam)))
    return out


def _through_genotypes(X, beta, s, rng):
    """``R beta + N(0, s R)`` exactly, for ``R = X X^T / n`` (X: m x n standardised)."""
    n = X.shape[1]
    return X @ (X.T @ beta) / n + np.sqrt(s / n) * (X @ rng.standard_normal(n))


def beta_hat_from_genotypes(geno, beta, s, groups, random_state=None):
    """Marginal effects drawn through a panel's genotypes, independently per group.

    ``beta_hat_g = R_g beta_g + N(0, s R_g)`` for each group ``g`` (an LD block, a region, a
    chromosome), with ``R_g = X_g X_g^T / n`` the LD of the panel's ``n`` people: exact, and no
    LD between groups, as a large GWAS has none between distant variants.

    Parameters
    ----------
    geno : deepwas.ld.GenotypeLD
        One row per entry of ``beta``.
    beta : ndarray, shape (M,)
        Standardised effects.
    s : float
        Noise variance ``sigma^2 / N``.
    groups : array-like, shape (M,)
        Group label of each variant.
    random_state : int, Generator or None

    Returns
    -------
    ndarray, shape (M,)
    """
    rng = _rng(random_state)
    beta = np.asarray(beta, dtype=np.float64)
    groups = np.asarray(groups)
    out = np.empty(len(beta))
    for g in pd.unique(groups):
        idx = np.flatnonzero(groups == g)
        out[idx] = _through_genotypes(geno.standardised(idx), beta[idx], s, rng)
    return out


def _small_panel_warning(stats):
    """Warn (for a whole-chromosome draw) when the panel has fewer people than some window has
    core variants while the chromosome reaches beyond that window's extended set."""
    panel = getattr(stats.ld, "panel_size", None)
    if panel is None:
        return
    chrom = stats.variants["chrom"].astype(str).to_numpy()
    per_chrom = pd.Series(chrom).value_counts()
    big = [len(core) for core, ext in stats.windows
           if len(core) > panel and len(ext) < per_chrom[chrom[core[0]]]]
    if big:
        log.warning(
            "the LD panel has %d people, fewer than the core variants of %d of the %d windows "
            "(up to %d): the simulated beta_hat then carry LD from outside the windows, and a "
            "fit with windowed LD over-estimates h2. See 'LD from a reference panel' in the "
            "documentation; a panel with more people than core variants per window avoids it",
            panel, len(big), len(stats), max(big))


def semi_synthetic(stats, truth="glm", h2=0.5, n=None, *, alpha=0.7, log_f_sd=1.0,
                   sparsity=0.1, n_tracks=4, width=16, n_pred=2, max_dense=20_000,
                   gwas_ld="blocks", block_bp=None, random_state=None):
    """Semi-synthetic summary statistics: real LD, simulated effects and marginal effects.

    Parameters
    ----------
    stats : SummaryStats
        Supplies the variants, the LD, the windows and (optionally) the features.
    truth : {"glm", "network", "threshold", "constant"}, default "glm"
        The true prior, see :func:`true_log_f`.
    h2 : float, default 0.5
        Heritability carried by ``stats.variants``: ``f_true`` sums to ``h2`` and the
        residual variance is ``sigma2 = 1 - h2``.
    n : float, optional
        GWAS sample size of the simulated study (default ``stats.n``).
    alpha : float, default 0.7
        Exponent of the true prior's ``(p(1-p))**alpha`` term.
    log_f_sd, sparsity : float
        See :func:`true_log_f`.
    n_tracks, width, n_pred : int
        Sizes of the synthetic features made when ``stats`` has none
        (:func:`synthetic_features`).
    max_dense : int, default 20000
        Largest block sampled through a dense eigendecomposition of R when the LD does not
        come from genotypes (with genotypes ``R = X X^T / N_ref`` is sampled exactly through X).
    gwas_ld : {"blocks", "chromosome"}, default "blocks"
        LD the simulated GWAS carries (module docstring): "blocks" draws ``beta_hat`` of
        different LD blocks independently, as a large GWAS behaves; "chromosome" draws it
        through each whole chromosome of the panel, spurious long-range correlations of a
        small panel included (a fit with windows or blocks then over-estimates h2).
    block_bp : int, optional
        Block length for ``gwas_ld="blocks"`` (e.g. 1-3 Mb). Default: the LD blocks ``stats``
        is cut at (``ld_blocks=`` of its constructor), else 1 Mb (:func:`gwas_blocks`).
    random_state : int, Generator or None

    Returns
    -------
    sim : SummaryStats
        Same variants, LD and windows; new ``beta_hat``, ``n``, ``sigma2 = 1 - h2`` and the
        features the truth used; ``ld_in_sample`` True (drawn through this LD: no panel
        correction, ``FunctionalPrior(panel_correction=...)``).
    f_true : ndarray, shape (sim.n_variants,)
        True prior variances aligned with ``sim.variants``.

    Raises
    ------
    ValueError
        When ``stats.variants['freq']`` has missing values (the truth needs frequencies).

    Notes
    -----
    With ``gwas_ld="chromosome"`` and a genotype panel of fewer people than a window has core
    variants (and a chromosome longer than the window's extended set) a warning is logged: the
    simulated ``beta_hat`` then carry LD from outside the windows, and a fit with windowed LD
    over-estimates h2 (documentation: "LD from a reference panel").
    """
    if not 0.0 < float(h2) < 1.0:
        raise ValueError(f"h2 must lie in (0, 1), got {h2!r}")
    if truth not in TRUTHS:
        raise ValueError(f"truth must be one of {TRUTHS}, got {truth!r}")
    groups = gwas_blocks(stats, gwas_ld, block_bp)
    if gwas_ld == "chromosome":
        _small_panel_warning(stats)
    rng = _rng(random_state)
    n = float(stats.n if n is None else n)
    if not np.isfinite(n) or n <= 0:
        raise ValueError(f"n must be a positive sample size, got {n!r}")
    v = stats.variants
    M = len(v)
    freq = v["freq"].to_numpy(dtype=np.float64)
    if np.any(~np.isfinite(freq)):
        raise ValueError("semi_synthetic needs allele frequencies in stats.variants['freq']")
    new_features = None
    feats = stats.get_features() if stats.features is not None else None
    if feats is None or len(feats) == 0:
        feats = synthetic_features(v, n_tracks=n_tracks, width=width, n_pred=n_pred,
                                   random_state=rng)
        new_features = ArrayFeatures(func=feats.func, pred=feats.pred,
                                     func_names=feats.func_names, pred_names=feats.pred_names)
    logf = true_log_f(truth, feats, freq, alpha=alpha, log_f_sd=log_f_sd, sparsity=sparsity,
                      random_state=rng)
    f = np.exp(logf - logf.max())
    f_true = f * (float(h2) / f.sum())
    beta = rng.standard_normal(M) * np.sqrt(f_true)
    sigma2 = 1.0 - float(h2)
    beta_hat = _draw_beta_hat(stats, beta, sigma2 / n, rng, max_dense, groups)
    sim = stats.with_beta_hat(beta_hat, n=n, sigma2=sigma2, features=new_features,
                              ld_in_sample=True)
    return sim, f_true
