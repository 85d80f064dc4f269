"""Block jackknife of a fitted prior's parameters over contiguous blocks of windows.

Two ways to get the leave-one-block-out parameters ``theta_(-k)``:

* ``"pseudo"`` -- graphREML's one-Newton-step pseudo-jackknife. With per-window gradients
  ``g_w`` and Hessians ``H_w`` of the training objective at the fitted ``theta``, summed per
  block (``g_k``, ``H_k``) and over all blocks (``g``, ``H``)::

      theta_(-k) = theta - (H - H_k)^{-1} (g - g_k)

  one Newton step on the objective without block ``k`` (``g = 0`` at the optimum, so this is
  ``theta + (H - H_k)^{-1} g_k``). The Hessians are central differences of exact autograd
  gradients, ``2 P + 1`` gradient passes over the windows for ``P`` parameters: cheap for
  the constant and GLM priors, out of reach for a neural prior. Steps that stand out are
  checked against their leave-out objective and refitted when they raise it
  (``_checked_steps``).
* ``"refit"`` -- the objective without block ``k`` maximised again. For a prior of at most
  :data:`REFIT_NEWTON_MAX_PARAMS` parameters, by BFGS iterations that start from the one
  Newton step above with its Hessian ``H - H_k`` (:func:`_solve_leave_out`: a few passes over
  the windows per block); for a larger prior, by full-batch L-BFGS from ``theta`` (warm
  start), ``n_blocks`` times the cost of its fit. Where the objective is far from quadratic
  over a leave-out step (LD score regression, at blocks of strong associations, with 12
  blocks or 160) one Newton step falls well short of the optimum and the standard errors
  with it.

Pseudovalues ``n theta_hat - (n - 1) theta_(-k)`` of any statistic, their covariance over
``n`` (:func:`jackknife_cov`), give its standard error around the full-data estimate.

Blocks are contiguous runs of windows when there are at least ``n_blocks`` windows. With fewer
(one LDGM block is one window), the pseudo-jackknife splits windows: blocks of contiguous
variants (:func:`variant_blocks`). A window's likelihood does not split into independent parts,
so what a block of variants leaves out is its share of the score equation: the gradient of the
loss is ``sum_m (d loss / d log f_m) grad_theta log f_m`` over the variants ``m`` whose prior
variance the window uses, and block ``k`` holds the terms of its variants (summed over all
windows), ``g_k``; its Hessian ``H_k`` is the central difference of ``g_k``. The blocks' ``g_k``
and ``H_k`` sum to the window's, and the one Newton step above is taken with them -- S-LDSC's
jackknife over blocks of SNPs, whose per-SNP terms of the regression's normal equations are
summed by block, does the same. It assumes the blocks' shares are nearly independent, which
holds only for blocks much longer than the LD between them: shorter blocks under-estimate the
standard errors (docs/heritability.rst: measured). ``"refit"`` leaves out whole windows only,
and so does LD score regression's jackknife (``plan_blocks(split_windows=False)``): its terms
are the variants' chi^2, dependent across a whole locus under strong signal.
"""
from __future__ import annotations

import copy
import logging
import warnings

import numpy as np
import torch

from .fitting._features import WindowFeatures, freq_array
from .fitting._full_batch import _window_losses, fit_lbfgs, ridge_mask
from .fitting._ldsr import LDSRBlocks
from .fitting._objective import WindowObjective

__all__ = ["jackknife_blocks", "variant_blocks", "plan_blocks", "jackknife_cov",
           "leave_out_priors", "newton_leave_outs", "refit_from_newton", "flat_parameters",
           "set_parameters", "JACKKNIFE_METHODS"]

JACKKNIFE_METHODS = ("pseudo", "refit", "none")

#: With at least this many LD blocks (data cut at blocks, ``ld_blocks=``), the pseudo-jackknife
#: leaves out whole blocks rather than splitting them into blocks of variants
#: (:func:`plan_blocks`); with fewer, whole blocks give too few pseudovalues for an SE.
MIN_WHOLE_LD_BLOCKS = 10

log = logging.getLogger(__name__)


def jackknife_blocks(n_windows, n_blocks, units=None):
    """Block label (0 .. n - 1) of each window: contiguous runs of windows in genome order.

    With fewer windows than ``n_blocks``, one block per window and a ``UserWarning`` saying so
    (:func:`plan_blocks` splits windows instead, for the pseudo-jackknife).

    ``units`` (one label per window, non-decreasing; :func:`deepwas.windows.window_units`)
    keeps windows that share their LD together: the runs are cut between units, never inside
    one (the thinned cores of one LD block are one unit). Then "windows" above reads "units".

    Returns
    -------
    labels : ndarray of int, shape (n_windows,)
    n : int
        The number of blocks used.
    """
    n_blocks = _check_n_blocks(n_blocks)
    if n_windows < 2:
        raise ValueError(f"a jackknife over whole windows needs at least 2 windows, the data "
                         f"has {n_windows}: use jackknife='pseudo' (blocks of contiguous "
                         "variants inside windows), more windows (a smaller window_bp, "
                         "--window-bp), or jackknife='none' (no standard errors)")
    units = np.arange(n_windows) if units is None else np.asarray(units, dtype=np.int64)
    n_units = int(units[-1]) + 1
    what = "windows" if n_units == n_windows else "units of windows that share their LD"
    if n_units < 2:
        raise ValueError(f"a jackknife over whole {what} needs at least 2 of them, the data has "
                         f"{n_units}: use more LD blocks, or jackknife='none'")
    if n_units < n_blocks:
        each = "window" if n_units == n_windows else "unit"
        warnings.warn(f"{n_units} {what} for n_blocks={n_blocks} jackknife blocks: using one "
                      f"block per {each} ({n_units} blocks)", UserWarning, stacklevel=3)
        n_blocks = n_units
    return _runs(n_units, n_blocks)[units], n_blocks


def _check_n_blocks(n_blocks):
    n_blocks = int(n_blocks)
    if n_blocks < 2:
        raise ValueError(f"n_blocks must be at least 2, got {n_blocks}")
    return n_blocks


def _runs(n_items, n_blocks):
    labels = np.empty(n_items, dtype=np.int64)
    for b, idx in enumerate(np.array_split(np.arange(n_items), n_blocks)):
        labels[idx] = b
    return labels


def variant_blocks(stats, n_blocks):
    """Block label of every row of ``stats.variants``: ``n_blocks`` runs of contiguous core
    variants (genome order; as many core variants each, to one), a variant that is core in no
    window taking the block of the core variant before it (or after it, at the start).

    Returns
    -------
    labels : ndarray of int, shape (stats.n_variants,)
    n : int
        The number of blocks used (at most the number of core variants).
    """
    n_blocks = _check_n_blocks(n_blocks)
    core = np.unique(np.concatenate([c for c, _ in stats.windows]))
    if len(core) < 2:
        raise ValueError(f"a jackknife needs at least 2 variants, the windows have {len(core)}")
    n_blocks = min(n_blocks, len(core))
    first = np.array([c[0] for c in np.array_split(core, n_blocks)])
    labels = np.searchsorted(first, np.arange(stats.n_variants), side="right") - 1
    return np.maximum(labels, 0), n_blocks


def plan_blocks(stats, n_blocks, method="pseudo", split_windows=True):
    """The jackknife blocks of ``stats``: ``(labels, n, unit)``.

    ``unit`` is ``"windows"`` (``labels`` per window, :func:`jackknife_blocks`) when there are
    at least ``n_blocks`` windows, for ``method="refit"`` (which leaves out whole windows), or
    with ``split_windows=False``; ``"variants"`` (``labels`` per variant,
    :func:`variant_blocks`) for the pseudo-jackknife on fewer windows, with a ``UserWarning``
    saying what that assumes.

    ``split_windows=False`` is for LD score regression: its per-variant terms are the
    variants' chi^2, which follow their shared LD (strong signal lifts a whole locus), so
    blocks of variants inside a window are far from independent. On 12 simulated loci with
    in-sample LD (13 windows), 20 replicates, 200 blocks of variants gave h2 SEs of 0.39 /
    0.68 of the estimates' spread at h2 0.2 / 0.05, one block per window 1.05 / 1.12 (docs
    "Standard errors").
    With fewer than two windows it then raises: no jackknife of whole windows exists.

    Data cut at LD blocks (``stats.windows_are_ld_blocks``) with at least
    :data:`MIN_WHOLE_LD_BLOCKS` of them get one block per LD block for every method: the
    blocks share no LD, so leaving one out is exact, while blocks of variants inside them are
    not independent for the likelihood either. The exact likelihood on 12 msprime loci with
    in-sample LD (13 blocks, h2 0.05, the same fits) gave SE : SD 0.76 with 200 blocks of
    variants and 0.97 with one per LD block (docs "Standard errors").
    """
    n_blocks = _check_n_blocks(n_blocks)
    units = stats.window_units
    n_units = int(units[-1]) + 1 if len(stats) else 0
    grouped = len(stats) > 0 and n_units < len(stats)
    # independent LD blocks are the natural jackknife unit; with few of them, splitting them
    # into blocks of variants still gives an SE where whole blocks give almost none
    blocks = stats.windows_are_ld_blocks and n_units >= MIN_WHOLE_LD_BLOCKS
    if not split_windows and n_units < 2:
        raise ValueError(
            "LD score regression's jackknife leaves out whole windows (blocks of variants "
            "inside a window under-estimate its standard errors about threefold), and these "
            f"data have {len(stats)} window{'s' if len(stats) != 1 else ''} (windows that "
            "share one LD block count as one): fit more LD blocks or regions, or use "
            "jackknife='none' (point estimates)")
    # windows that share their LD (thinned cores) are never split: their leave-outs would
    # be dependent and the SE too small (one LD block per unit, docs "LD from a reference panel")
    if len(stats) >= n_blocks or method == "refit" or grouped or not split_windows or blocks:
        labels, n = jackknife_blocks(len(stats), n_blocks, units)
        return labels, n, "windows"
    labels, n = variant_blocks(stats, n_blocks)
    per = int(np.ceil(np.mean(np.bincount(labels))))
    warnings.warn(f"{len(stats)} window{'s' if len(stats) != 1 else ''} for n_blocks={n_blocks}: "
                  f"{n} jackknife blocks of contiguous variants (about {per} each) that split "
                  "windows; each leaves out its variants' share of the score (docs: 'Standard "
                  "errors'). Blocks shorter than the LD between them under-estimate the "
                  "standard errors: prefer fewer blocks, each spanning a region of its own "
                  "(one 1-Mb region in 20 blocks: SEs close to the estimates' spread, docs)",
                  UserWarning, stacklevel=3)
    return labels, n, "variants"


def jackknife_cov(estimate, leave_out):
    """Covariance of the pseudovalues over ``n``: ``cov(n est - (n-1) est_(-k)) / n``.

    Parameters
    ----------
    estimate : array-like, shape (q,)
        Full-data estimate.
    leave_out : array-like, shape (n, q)
        Leave-one-block-out estimates.

    Returns
    -------
    ndarray, shape (q, q)
    """
    est = np.atleast_1d(np.asarray(estimate, dtype=np.float64))
    loo = np.asarray(leave_out, dtype=np.float64).reshape(-1, est.size)
    n = loo.shape[0]
    pseudo = n * est[None, :] - (n - 1) * loo
    return np.atleast_2d(np.cov(pseudo, rowvar=False, ddof=1)) / n


class _Objective:
    """Per-window loss of a fitted estimator's training objective on ``stats``, as a function of
    a copy of its prior (float64)."""

    def __init__(self, est, stats):
        self.stats = stats
        sizes = (est.n_func_, est.width_, est.n_pred_)
        freq = freq_array(stats.variants["freq"].to_numpy(), stats.n_variants, "jackknife")
        self.fetch = WindowFeatures(stats, sizes, freq, "cpu")
        sigma2 = float(stats.sigma2) if est.sigma2 is None else float(est.sigma2_)
        mismatch = float(est.ld_mismatch_) if stats.ld_model.has_mismatch else 0.0
        self.blocks = None
        ldsr_h2 = n_var = None
        if est.solver == "ldsr":
            self.blocks = LDSRBlocks(stats)
            ldsr_h2 = (float(np.clip(est.ldsr_h2_, 1e-3, 1.0)) if est.ldsr_h2 == "auto"
                       else float(est.ldsr_h2))
            n_var = float(stats.n_variants)
        self.make = lambda ids: WindowObjective(stats, est.solver, ids, sigma2, torch.float64,
                                                blocks=self.blocks, ldsr_h2=ldsr_h2,
                                                n_variants=n_var, mismatch=mismatch)
        self.objective = self.make(np.arange(len(stats)))
        self.est = est
        # the fit's ridge penalty, in the units of the summed window losses (nats / mean core)
        self.ridge = float(getattr(est, "ridge_", 0.0)) / self.objective.mean_core

    def close(self):
        # LD score regression's blocks stay in the pool (fitting/_ldsr.py): the fit left them
        # there for this jackknife, and a next one on the same windows reuses them
        self.fetch.clear()


def _params(prior):
    return list(prior.parameters())


def flat_parameters(prior):
    """All of a prior's parameters as one float64 vector (``prior.parameters()`` order)."""
    return np.concatenate([p.detach().double().reshape(-1).numpy() for p in _params(prior)])


def set_parameters(prior, x):
    """Load a vector of :func:`flat_parameters` into ``prior`` (in place, without a graph)."""
    i = 0
    with torch.no_grad():
        for p in _params(prior):
            p.copy_(torch.as_tensor(x[i:i + p.numel()], dtype=p.dtype).reshape(p.shape))
            i += p.numel()


def _block_grads(prior, obj, x, labels, n_blocks, unit):
    """Gradient of the loss at ``x`` summed per block, shape (n_blocks, P): a window's whole
    gradient to its block (``unit="windows"``), or each variant's share
    ``(d loss / d log f_m) grad log f_m`` to the variant's block (``"variants"``)."""
    set_parameters(prior, x)
    params = _params(prior)
    out = np.zeros((n_blocks, sum(p.numel() for p in params)))

    def take(b):
        out[b] += np.concatenate([(p.grad if p.grad is not None else torch.zeros_like(p))
                                  .double().reshape(-1).numpy() for p in params])
        for p in params:
            p.grad = None

    for p in params:
        p.grad = None
    for k in range(len(obj.stats)):
        func, pred, freq, n = obj.fetch(k)
        log_f = prior(func, pred, freq, n=n)
        loss = obj.objective(k, log_f, False)
        if unit == "windows":
            loss.backward()
            take(labels[k])
            continue
        share = torch.autograd.grad(loss, log_f, retain_graph=True)[0].detach()
        lab = labels[obj.stats.windows[k][1]]
        for b in np.unique(lab):
            mask = torch.as_tensor(lab == b)
            (share[mask] * log_f[mask]).sum().backward(retain_graph=True)
            take(b)
    return out


def _curvature(prior, obj, labels, n_blocks, step, unit):
    """``(x0, g, H, gk, Hk)``: the fitted parameters, the full objective's gradient and
    Hessian there (penalty included) and each block's share of them."""
    x0 = flat_parameters(prior)
    P = x0.size
    gk = _block_grads(prior, obj, x0, labels, n_blocks, unit)
    Hk = np.zeros((n_blocks, P, P))
    for j in range(P):
        e = np.zeros(P)
        e[j] = step
        Hk[:, :, j] = (_block_grads(prior, obj, x0 + e, labels, n_blocks, unit)
                       - _block_grads(prior, obj, x0 - e, labels, n_blocks, unit)) / (2 * step)
    Hk = 0.5 * (Hk + Hk.transpose(0, 2, 1))
    gt, Ht = gk.sum(0), Hk.sum(0)
    if obj.ridge:        # the penalty is a prior: every leave-out objective keeps all of it
        pen = ridge_mask(prior)
        gt = gt + obj.ridge * np.where(pen, x0, 0.0)
        Ht = Ht + np.diag(obj.ridge * pen.astype(float))
    return x0, gt, Ht, gk, Hk


def _pseudo(prior, obj, labels, n_blocks, step, unit):
    x0, gt, Ht, gk, Hk = _curvature(prior, obj, labels, n_blocks, step, unit)
    out = newton_leave_outs(x0, gt, Ht, gk, Hk)
    if unit == "windows":
        out = _checked_steps(prior, obj, labels, x0, Ht, out)
    set_parameters(prior, x0)
    return out


#: a Newton leave-out is checked against its leave-out objective when its step is this many
#: times the median step (in the Hessian's metric) ...
STEP_OUTLIER = 4.0
#: ... or moves a parameter by more than this (a factor e in some f: parameters are of order 1)
STEP_LARGE = 1.0


def _checked_steps(prior, obj, labels, x0, H, out):
    """Replace the Newton leave-outs that made their own objective worse by refits.

    One Newton step is the leave-out optimum only while the objective is nearly quadratic over
    the step. Where a direction is barely identified (an LDSR GLM at weak signal: the
    Hessian's eigenvalues 3e-4 and 51 for an annotation weight and the intercept) a block can
    send the step far outside that region: the step of 12 msprime loci's block 11 raised its
    leave-out loss from 97 to 2e12 and gave an h2 SE of 1,467 for an h2 of 0.0034 (its
    ``d' H d`` was 9 times the median step's; it moved a parameter by 150). Steps longer than
    ``STEP_OUTLIER`` times the median (``d' H d``), or that move a parameter by more than
    ``STEP_LARGE``, are checked against the leave-out objective (one pass over the other
    blocks' windows each); a step that does not lower it is replaced by the refit of that
    block (warm-started L-BFGS), and the count is logged.
    """
    d = out - x0[None, :]
    q = np.einsum("bi,ij,bj->b", d, H, d)
    med = np.median(q[np.isfinite(q)]) if np.isfinite(q).any() else 0.0
    suspect = np.flatnonzero(~np.isfinite(q) | (q > STEP_OUTLIER * med)
                             | (np.abs(d).max(1, initial=0.0) > STEP_LARGE))
    if suspect.size == 0:
        return out
    pen = ridge_mask(prior) if obj.ridge else None

    def data_loss(x, ids):   # summed training loss of windows ``ids`` at ``x``
        return _summed_loss(prior, obj, ids, x, None, with_grad=False)[0]

    total = data_loss(x0, np.arange(len(labels)))
    out = out.copy()
    refits = 0
    for b in suspect:
        # the leave-out loss at x0 is the total less block b's share: a pass over b only
        before = total - data_loss(x0, np.flatnonzero(labels == b)) + _penalty(obj, pen, x0)
        after = (data_loss(out[b], np.flatnonzero(labels != b)) + _penalty(obj, pen, out[b])
                 if np.all(np.isfinite(out[b])) else np.inf)
        if not after < before:
            out[b] = _refit_block(prior, obj, labels, b, x0)
            refits += 1
    if refits:
        log.info("pseudo-jackknife: %d of %d blocks refitted (their Newton step raised their "
                 "own leave-out loss)", refits, len(out))
    return out


def _refit_block(prior, obj, labels, b, x0):
    """The objective without block ``b`` maximised again by L-BFGS from ``x0``.

    To a thousandth of the fit's gradient tolerance: leaving one block out changes the
    gradient at ``x0`` by that block's share, which the fit's own tolerance can already
    accept, and the refit then stops where it started (an LDSR GLM, 13 blocks: every
    leave-out within 0.04 of the fit's weight at the fit's tolerance, one 0.9 away at a
    thousandth of it)."""
    est = obj.est
    ids = np.flatnonzero(labels != b)
    p = copy.deepcopy(prior)
    set_parameters(p, x0)
    fit_lbfgs(p, obj.make(ids), obj.fetch, ids, np.array([], dtype=np.int64),
              tol=1e-3 * float(est.tol), max_iter=int(est.max_iter),
              ridge=float(getattr(est, "ridge_", 0.0)))
    return flat_parameters(p.double())


def newton_leave_outs(x0, g, H, gk, Hk):
    """One Newton step from ``x0`` for each leave-one-block-out objective.

    Parameters
    ----------
    x0 : ndarray, shape (P,)
        The full-data optimum.
    g, H : ndarray, shapes (P,) and (P, P)
        Gradient and Hessian of the full objective at ``x0`` (penalty included).
    gk, Hk : ndarray, shapes (n, P) and (n, P, P)
        Each block's share of them.

    Returns
    -------
    ndarray, shape (n, P)
        ``x0 - (H - Hk[b])^-1 (g - gk[b])``. A block whose own curvature is a large part of the
        total can leave ``H - Hk[b]`` nearly singular or indefinite, and the step then jumps far
        from ``x0`` (an LDSR GLM whose annotation weight sat on a flat stretch: steps of 14 in a
        weight, an h2 SE of 753 for an h2 of 0.059). Such a block -- its smallest curvature
        below half of ``(n - 1) / n`` times the full data's -- takes ``(n - 1) / n H`` instead
        (the infinitesimal jackknife), which is what ``H - Hk[b]`` is for a block of average
        size; the count is logged.
    """
    return _newton_steps(x0, g, gk, _leave_out_hessians(H, Hk))


def _leave_out_hessians(H, Hk):
    """Each block's leave-out Hessian ``H - Hk[b]``, or ``(n - 1) / n H`` where its smallest
    curvature is below half of ``(n - 1) / n`` times the full data's (see
    :func:`newton_leave_outs`): shape (n, P, P), with the count of blocks that took the
    fallback logged."""
    n = len(Hk)
    floor = 0.5 * (1.0 - 1.0 / n) * np.linalg.eigvalsh(H)[0]
    out, fallback = [], 0
    for Hk_b in Hk:
        Hb = H - Hk_b
        if not (floor > 0 and np.linalg.eigvalsh(Hb)[0] > floor):
            Hb = (1.0 - 1.0 / n) * H
            fallback += 1
        out.append(Hb)
    if fallback:
        log.info("jackknife: %d of %d blocks' Newton steps took the full-data curvature "
                 "(their own left the rest nearly singular)", fallback, n)
    return np.array(out)


def _newton_steps(x0, g, gk, Hbs):
    """``x0 - Hbs[b]^-1 (g - gk[b])`` for each block ``b``."""
    return np.array([x0 - np.linalg.lstsq(Hb, g - gk_b, rcond=None)[0]
                     for Hb, gk_b in zip(Hbs, gk)])


#: "refit" solves each leave-out by quasi-Newton iterations from its Newton step when the prior
#: has at most this many parameters (the Hessian costs ``2 P + 1`` passes over the windows);
#: a larger prior is refitted by L-BFGS from the fitted parameters
REFIT_NEWTON_MAX_PARAMS = 64
#: ... until no parameter moves by more than this (parameters are of order 1), or no step
#: lowers the gradient's size any more ...
REFIT_XTOL = 1e-6
#: ... in at most this many iterations (one pass over the other blocks' windows each); a block
#: that has not converged by then, or whose iterates leave the finite numbers, is refitted by
#: L-BFGS instead
REFIT_MAX_ITER = 30
#: a step may raise the leave-out loss by this share of it, its rounding: set when LD score
#: regression summed its loss in float32 (1e-7 of it); its float64 loss now rounds far below,
#: and the allowance, kept, only lets through steps a quadratic model calls gains
REFIT_LOSS_ROUNDING = 1e-6
#: where no step lowers the gradient's size (its rounding) while it is above this share of
#: the size of the block's own gradient at the fit (a gradient a thousandth of it), the
#: iterations are not near the optimum and L-BFGS takes over
REFIT_GTOL = 1e-6


def refit_from_newton(prior):
    """Whether "refit" solves ``prior``'s leave-outs by quasi-Newton iterations from the Newton
    step (a prior of at most :data:`REFIT_NEWTON_MAX_PARAMS` parameters: a few passes per
    block) rather than by one warm-started L-BFGS fit per block."""
    return sum(p.numel() for p in _params(prior)) <= REFIT_NEWTON_MAX_PARAMS


def _refit(prior, obj, labels, n_blocks, step):
    """Each block's leave-out optimum: quasi-Newton from the one Newton step of the
    pseudo-jackknife for a small prior (:func:`_solve_leave_out`), L-BFGS from the fitted
    parameters otherwise (:func:`_refit_block`)."""
    x0 = flat_parameters(prior)
    if not refit_from_newton(prior):
        out = np.array([_refit_block(prior, obj, labels, b, x0) for b in range(n_blocks)])
    else:
        x0, g, H, gk, Hk = _curvature(prior, obj, labels, n_blocks, step, "windows")
        Hbs = _leave_out_hessians(H, Hk)      # the Newton steps' and the iterations' first
        start = _newton_steps(x0, g, gk, Hbs)
        pen = ridge_mask(prior) if obj.ridge else None
        out = np.array([_solve_leave_out(prior, obj, labels, b, x0, g - gk[b], start[b],
                                         Hbs[b], pen) for b in range(n_blocks)])
    set_parameters(prior, x0)
    return out


def _penalty(obj, pen, x):
    """The fit's ridge penalty at ``x`` (``pen``: its mask, None without one): every leave-out
    objective keeps all of it."""
    return 0.0 if pen is None else 0.5 * obj.ridge * float(np.sum(x[pen] ** 2))


def _summed_loss(prior, obj, ids, x, pen, with_grad=True):
    """Summed loss of windows ``ids`` plus the fit's whole penalty, and its gradient (None
    without ``with_grad``), at ``x``."""
    set_parameters(prior, x)
    mean, grad = _window_losses(prior, obj.objective, obj.fetch, ids, with_grad)
    value = mean * len(ids) + _penalty(obj, pen, x)     # _window_losses takes the means
    if grad is None:
        return value, None
    g = grad * len(ids)
    if pen is not None:
        g = g + obj.ridge * np.where(pen, x, 0.0)
    return value, g


def _solve_leave_out(prior, obj, labels, b, x0, g0, x, Hb, pen):
    """The optimum of the objective without block ``b``, from ``x`` (its Newton step from the
    fitted ``x0``, where its gradient is ``g0``; from ``x0`` where the step made the gradient
    larger, as a step into a barely identified direction can).

    BFGS iterations whose first Hessian ``Hb`` is the leave-out objective's own at the fit
    (:func:`_leave_out_hessians`), each step halved until it lowers the gradient's size in that
    Hessian's metric without raising the loss beyond its rounding, until no parameter moves
    by more than :data:`REFIT_XTOL` or no step lowers the gradient while it is under
    :data:`REFIT_GTOL` of the block's own (its rounding reached). One Newton step is the
    optimum only while the objective is quadratic over the step: an LD score regression GLM
    on 12 msprime loci (one block each) has per-block Hessians with negative eigenvalues, and
    its steps fell short of the refitted optima by up to half (annotation weight 0.040
    against 0.097), which made the enrichment's standard error 25-30 % short. These
    iterations reach the refits in 4-9 passes a block; L-BFGS from the fit, whose gradient
    tolerance can hardly tell the leave-out optimum from the fit, took about 50. A block that
    has not converged within :data:`REFIT_MAX_ITER` iterations, or whose iterates leave the
    finite numbers, is refitted by L-BFGS (:func:`_refit_block`).
    """
    ids = np.flatnonzero(labels != b)
    x = np.array(x, dtype=np.float64)
    # progress is measured by the gradient in the metric of the first Hessian (the Newton
    # decrement), not by the loss: near the optimum a step's gain is the square of the
    # gradient's size and falls below the loss's rounding while the gradient still shows it
    # (in float32, as LD score regression's loss was until it was made float64, at 1e-7)
    metric = np.linalg.pinv(Hb)
    size0 = float(g0 @ metric @ g0)
    value, g = _summed_loss(prior, obj, ids, x, pen)
    if not float(g @ metric @ g) < size0:
        x = np.array(x0, dtype=np.float64)
        value, g = _summed_loss(prior, obj, ids, x, pen)
    for _ in range(REFIT_MAX_ITER):
        dx = -np.linalg.lstsq(Hb, g, rcond=None)[0]
        size = float(g @ metric @ g)
        if not (np.isfinite(size) and np.all(np.isfinite(dx))):
            break
        if np.abs(dx).max() <= REFIT_XTOL:
            # converged (where the Newton step was the optimum, at once): no pass to try a
            # step under the tolerance, which at the loss's rounding would take ten halvings
            return x
        t = 1.0
        while True:       # backtracking until the step lowers the decrement
            new_value, new_g = _summed_loss(prior, obj, ids, x + t * dx, pen)
            new_size = float(new_g @ metric @ new_g)
            # ... without raising the loss beyond its rounding: where every f -> 0 the
            # gradient vanishes too, far from the optimum
            rises = not new_value <= value + REFIT_LOSS_ROUNDING * abs(value)
            if (new_size < (1.0 - 1e-4 * t) * size and not rises) or t < 1e-3:
                break
            t *= 0.5
        if not new_size < size or rises:
            # no step lowers it: its rounding is reached, if it is small against the block's
            # own gradient at the fit; if not, a poor start (the merit is only local) is
            # left to L-BFGS
            if size <= REFIT_GTOL * size0:
                return x
            break
        step = t * dx
        x, y, Hs = x + step, new_g - g, Hb @ step
        value, g = new_value, new_g
        if np.abs(step).max() <= REFIT_XTOL:
            return x
        if y @ step > 1e-12 * (step @ Hs):   # BFGS update, skipped where curvature is not positive
            Hb = Hb + np.outer(y, y) / (y @ step) - np.outer(Hs, Hs) / (step @ Hs)
    log.info("jackknife: block %d's leave-out did not converge by quasi-Newton; refitted by "
             "L-BFGS", b)
    return _refit_block(prior, obj, labels, b, x0)


def leave_out_priors(est, stats, labels, n_blocks, method="pseudo", step=1e-3,
                     unit="windows"):
    """The fitted prior and its leave-one-block-out parameters.

    Parameters
    ----------
    est : FunctionalPrior
        Fitted.
    stats : SummaryStats
        Data whose windows form the blocks (the training data, for standard errors of the fit).
    labels : ndarray of int
        Block of each window (:func:`jackknife_blocks`) or, with ``unit="variants"``, of each
        variant (:func:`variant_blocks`).
    n_blocks : int
    method : {"pseudo", "refit"}
    step : float, default=1e-3
        Central-difference step of the Hessian (parameters are of order 1).
    unit : {"windows", "variants"}, default="windows"
        What ``labels`` label; blocks of variants need ``method="pseudo"``.

    Returns
    -------
    prior : PriorModule
        A float64 copy of ``est.prior_`` (at the fitted parameters).
    theta : ndarray, shape (P,)
    leave_out : ndarray, shape (n_blocks, P)
    set_params : callable
        ``set_params(prior, x)`` loads a parameter vector into ``prior``.
    """
    if method not in ("pseudo", "refit"):
        raise ValueError(f"method must be 'pseudo' or 'refit', got {method!r}")
    if unit not in ("windows", "variants") or (unit == "variants" and method != "pseudo"):
        raise ValueError(f"unit must be 'windows', or 'variants' with method='pseudo'; got "
                         f"unit={unit!r}, method={method!r}")
    prior = copy.deepcopy(est.prior_).double().eval()
    for p in prior.parameters():
        p.requires_grad_(True)
    obj = _Objective(est, stats)
    try:
        if method == "pseudo":
            loo = _pseudo(prior, obj, labels, n_blocks, float(step), unit)
        else:
            loo = _refit(prior, obj, labels, n_blocks, float(step))
    finally:
        obj.close()
    return prior, flat_parameters(prior), loo, set_parameters
