"""Full-batch quasi-Newton training (L-BFGS) for priors with few parameters.

A constant or GLM prior has one to a few hundred parameters; the likelihood of all training
windows together is a smooth function of them that L-BFGS maximises to a gradient tolerance in
tens of iterations, each one pass over the windows (forward and backward per window, gradients
summed, so memory stays that of one window). This is what graphREML does with its
trust-region Newton steps; stochastic AdamW steps on such a model stop wherever the step
budget ends.

The loss is the mean window loss (nats per core variant, :mod:`._objective`), always exact:
Cholesky in float64, since a line search needs values that do not change between two
evaluations at the same point.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from skorch.history import History

from ..distributed import SINGLE
from ._chunking import chunked_backward, chunked_forward
from ._sharding import balance

__all__ = ["fit_lbfgs", "lbfgs_stop", "ridge_mask", "LBFGS_FTOL", "STALL_SLACK"]

#: relative decrease of the loss below which L-BFGS may also stop (far below float64 noise of
#: a sum over windows; the gradient tolerance ``tol`` is the criterion that matters)
LBFGS_FTOL = 1e-13
#: ... which counts as converged while the largest gradient component is within this many
#: times ``tol``; beyond it the fit has stalled (a ``ConvergenceWarning``)
STALL_SLACK = 10.0


def lbfgs_stop(converged, n_iter, max_iter):
    """What ended an L-BFGS fit: "tolerance" (converged), "budget" (``max_iter`` ran out) or
    "stalled" (stopped short of the tolerance before that: see :data:`STALL_SLACK`)."""
    return "tolerance" if converged else "budget" if n_iter >= max_iter else "stalled"


def _trainable(prior):
    return [p for p in prior.parameters() if p.requires_grad]


def ridge_mask(prior):
    """Which entries of the flat trainable parameter vector the ridge penalty shrinks: the
    network's weights, not its intercept and not alpha."""
    parts = [np.full(p.numel(), name.startswith("network.") and not name.endswith("intercept"))
             for name, p in prior.named_parameters() if p.requires_grad]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def _set_flat(params, x):
    i = 0
    with torch.no_grad():
        for p in params:
            n = p.numel()
            p.copy_(torch.as_tensor(x[i:i + n], dtype=p.dtype).reshape(p.shape))
            i += n


def _window_losses(prior, objective, fetch, ids, with_grad, chunk_size=None, group=SINGLE,
                   mine=None):
    """Mean loss over ``ids`` and, with ``with_grad``, its gradient (flat float64); windows of
    more than ``chunk_size`` variants are evaluated in chunks (:mod:`._chunking`). In a
    distributed fit this process evaluates the windows ``mine`` (a subset of ``ids``) and the
    sums are taken over the processes."""
    params = _trainable(prior)
    for p in params:
        p.grad = None
    total = 0.0
    n_ids, ids = len(ids), [int(k) for k in (ids if mine is None else mine)]
    runs = _shared_runs(objective, ids)
    j = 0
    while j < len(ids):
        k, run = ids[j], runs[j]
        if chunk_size is not None and fetch.size(k) > chunk_size:
            if j + 1 < len(ids):
                objective.prefetch(ids[j + 1])
            loss_fn = lambda log_f: objective(k, log_f, False) / n_ids  # noqa: E731
            get = lambda lo, hi: fetch.chunk(k, lo, hi)  # noqa: E731
            if with_grad:
                loss, _ = chunked_backward(prior, get, fetch.size(k), chunk_size, loss_fn)
            else:
                with torch.no_grad():
                    loss = loss_fn(chunked_forward(prior, get, fetch.size(k), chunk_size))
            run = 1
        else:
            # the windows of a run share k's extended set (thinned cores of one LD block):
            # one pass of the prior serves them all
            func, pred, freq, n = fetch(k)
            with torch.set_grad_enabled(with_grad):
                log_f = prior(func, pred, freq, n=n)
                loss = 0.0
                for i in range(j, j + run):
                    if i + 1 < len(ids):
                        objective.prefetch(ids[i + 1])
                    loss = loss + objective(ids[i], log_f, False) / n_ids
                if with_grad:
                    loss.backward()
        total += float(loss.detach())
        j += run
    if not with_grad:
        return float(group.all_reduce_sum(torch.tensor([total], dtype=torch.float64))[0]), None
    grad = torch.cat([torch.tensor([total], dtype=torch.float64)] + [
        (p.grad if p.grad is not None else torch.zeros_like(p)).detach().cpu().double()
        .reshape(-1) for p in params])
    grad = group.all_reduce_sum(grad).numpy()
    return float(grad[0]), grad[1:]


def _shared_runs(objective, ids):
    """For each position of ``ids``: how many windows from it on (itself included) are in its
    unit (:attr:`SummaryStats.window_units`: the thinned cores of one LD block, which share
    its extended set; every other window is a unit of its own, so the sums of the other LD
    models keep their order to the last bit)."""
    units = np.asarray(objective.stats.window_units)[ids]
    runs = np.ones(len(ids), dtype=np.int64)
    for j in range(len(ids) - 2, -1, -1):
        if units[j] == units[j + 1]:
            runs[j] = runs[j + 1] + 1
    return runs


def mean_loss(prior, objective, fetch, ids, chunk_size=None, group=SINGLE):
    """The mean loss of ``prior`` over the windows ``ids``, without gradients (nats per core
    variant of the objective's training windows, as the fit's ``valid_loss``). In a
    distributed fit each process evaluates every ``world_size``-th window and the sum is
    taken over the processes (each evaluating all of them would count every window
    ``world_size`` times)."""
    mine = [int(k) for k in ids][group.rank::group.world_size] if group.distributed else None
    return _window_losses(prior, objective, fetch, ids, False, chunk_size, group, mine)[0]


def fit_lbfgs(prior, objective, fetch, train_ids, valid_ids, *, tol, max_iter, verbose=0,
              chunk_size=None, group=SINGLE, costs=None, ridge=0.0):
    """Maximise the likelihood of ``train_ids`` over the prior's parameters with L-BFGS.

    Parameters
    ----------
    prior : PriorModule
        Trained in place, in float64 and eval mode (no dropout: the objective must be a
        deterministic function of the parameters); returned in float32.
    objective : WindowObjective
        Evaluated with ``training=False`` (exact Cholesky).
    fetch : WindowFeatures
        ``fetch(k) -> (func, pred, freq, n)`` of window ``k`` (``fetch.chunk(k, lo, hi)`` of
        its variants ``lo:hi``).
    train_ids, valid_ids : array of int
    tol : float
        Gradient tolerance: stop when every component of the gradient of the mean window loss
        is at most ``tol`` in absolute value.
    max_iter : int
        Iteration cap; reaching it before ``tol`` raises a ``ConvergenceWarning``.
    verbose : int
        Print one line per iteration (loss, largest gradient component).
    chunk_size : int or None
        Variants per evaluation of the prior (None: whole windows).
    group : ProcessGroup
        The processes of a distributed fit: each evaluates its share of the windows (balanced
        by ``costs``, window index -> cost) and the loss and gradient are summed over them, so
        that every process takes the same L-BFGS steps.
    costs : dict or None
    ridge : float, default=0.0
        Penalty ``ridge / 2 * sum w^2`` in nats on the network's weights (:func:`ridge_mask`),
        a N(0, 1 / ridge) prior on each: added to the summed loss, so its share of the mean
        loss is divided by the training windows' core variants.

    Returns
    -------
    history : skorch.History
        One row per iteration: ``train_loss`` (and ``valid_loss`` at the end with validation
        windows), ``grad_max``.
    n_iter : int
    converged : bool
    """
    from scipy.optimize import minimize

    prior.double().eval()
    params = _trainable(prior)
    x0 = np.concatenate([p.detach().cpu().double().reshape(-1).numpy() for p in params])
    last = {}
    share, rank_windows = {}, None
    if group.distributed:
        for name, ids in (("train", train_ids), ("valid", valid_ids)):
            owner = balance([costs[int(k)] for k in ids], group.world_size)
            per_rank = [[int(k) for k, o in zip(ids, owner) if o == r]
                        for r in range(group.world_size)]
            share[name] = per_rank[group.rank]
            rank_windows = per_rank if name == "train" else rank_windows

    pen = ridge_mask(prior) if ridge else None
    # the loss is the mean over windows of (nats / mean core size): nats / training core variants
    per_nat = 1.0 / (objective.mean_core * len(train_ids))

    def fun(x):
        _set_flat(params, x)
        value, grad = _window_losses(prior, objective, fetch, train_ids, True, chunk_size,
                                     group, share.get("train"))
        if pen is not None:
            value += 0.5 * ridge * per_nat * float(np.sum(x[pen] ** 2))
            grad = grad.copy()
            grad[pen] += ridge * per_nat * x[pen]
        last.update(value=value, grad_max=float(np.max(np.abs(grad))) if grad.size else 0.0)
        return value, grad

    history = History()
    if verbose:
        print("  iter    train_loss    grad_max", flush=True)

    def record(value):
        history.new_epoch()
        history.record("epoch", len(history))
        history.record("train_loss", float(value))
        history.record("grad_max", last.get("grad_max", float("nan")))
        if verbose:
            print(f"{len(history):6d}  {history[-1, 'train_loss']:12.7g}  "
                  f"{history[-1, 'grad_max']:10.3g}", flush=True)

    res = minimize(fun, x0, jac=True, method="L-BFGS-B",
                   callback=lambda intermediate_result: record(intermediate_result.fun),
                   options={"maxiter": int(max_iter), "gtol": float(tol), "ftol": LBFGS_FTOL,
                            "maxcor": 20})
    _set_flat(params, res.x)
    if len(history) == 0:       # converged at the starting point
        record(res.fun)
    if len(valid_ids):
        history.record("valid_loss", _window_losses(prior, objective, fetch, valid_ids, False,
                                                    chunk_size, group, share.get("valid"))[0])
    history.record("rank_windows", rank_windows or [[int(k) for k in train_ids]])
    grad_max = float(np.max(np.abs(res.jac))) if np.size(res.jac) else 0.0
    # L-BFGS-B also reports success when a step lowers the loss by less than LBFGS_FTOL:
    # near tol that is the optimum to the loss's digits (jackknife refits at 1e-8 stopped so
    # at 1.8e-8), far above it a loss too coarse to resolve the steps (LD score regression's
    # float32 loss: 750 tol, fitting/_ldsr.py)
    converged = bool(res.success) and grad_max <= STALL_SLACK * tol
    if not converged:
        advice = ("raise max_iter" if lbfgs_stop(converged, res.nit, max_iter) == "budget"
                  else "the loss did not resolve the steps: check the data for "
                  "near-duplicate predictors, or raise ridge")
        warnings.warn(f"L-BFGS stopped after {res.nit} iterations without reaching the gradient "
                      f"tolerance tol={tol:g} (largest gradient component {grad_max:.3g}; "
                      f"{res.message}); the fit may be short of the maximum likelihood: "
                      f"{advice}", ConvergenceWarning, stacklevel=4)
    prior.float()
    return history, int(res.nit), converged
