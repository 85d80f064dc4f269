"""One fit of a :class:`~deepwas.FunctionalPrior`, step by step.

1. split the training windows into fit and validation chromosomes;
2. standardise the features over the fit windows' core variants;
3. resolve sigma2 (given, from the data, by LDSR or by maximum likelihood);
4. build the prior and start it at the h2 of the best constant prior;
5. train it on the window loss (:mod:`deepwas.fitting._objective`): full-batch L-BFGS
   (:mod:`deepwas.fitting._full_batch`) or AdamW through skorch (:mod:`._training`);
6. return what was learned, without touching the estimator.
"""
from __future__ import annotations

import contextlib
import copy
import math
import os
import shutil
import tempfile
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ..distributed import process_group
from ..fitting._chunking import resolve_chunk_size
from ..fitting._features import WindowFeatures, feature_sizes, freq_array
from ..fitting._full_batch import fit_lbfgs, lbfgs_stop, mean_loss
from ..fitting._ldsr import LDSRBlocks, ldsr_regression
from ..fitting._objective import WindowObjective
from ..fitting._sharding import prior_flops_per_variant, window_costs
from ..priors import (GLMNet, MemberMean, ResidualNet, build_prior, count_parameters,
                      transformer_size)
from ..utils.chrom import normalise_chrom, sort_chroms
from ..utils.validation import SIGMA2_MAX
from ._design import dropped_features, feature_moments, warn_dropped
from ._fit_checks import check_fit
from ._frozen_flexible import FrozenFlexibleFetch
from ._initialisation import (ConstantPriorLikelihood, init_window_ids, initial_h2, log_sum_pq,
                              ml_h2_mismatch, ml_h2_sigma2)
from ._resume import Resumer, check_writable, fingerprint, fit_folder, restore
from ._stopping import resolve_accumulate
from ._training import build_net, seeded_torch
from ._window_sampling import WindowDataset, validation_split

__all__ = ["fit_prior", "DEFAULT_LR"]

#: AdamW learning rates of ``lr="auto"``: the paper's 1e-3 for the constant and GLM models;
#: for the transformer by size (:data:`TRANSFORMER_LR`)
DEFAULT_LR = {"glm": 1e-3, "constant": 1e-3}
#: the transformer's ``lr="auto"`` by size: the paper's 1e-4 for its network; 3e-3 for "tiny"
#: (the 10-seed study on the demo, docs: "The transformer against the GLM") and 1e-3 for
#: "small" (on the demo's threshold and network truths, seed 0, 3e-3 scored 0.1-0.2e-3
#: nats per person lower held out with a worse RMSE of log f)
TRANSFORMER_LR = {"tiny": 3e-3, "small": 1e-3, "paper": 1e-4}


def default_lr(name, model_params):
    """``lr="auto"`` of model ``name`` (a custom network: 1e-3)."""
    if name == "transformer":
        return TRANSFORMER_LR[transformer_size(model_params)]
    return DEFAULT_LR.get(name, 1e-3)


def _resolve_sigma2(est, stats, out):
    """sigma2 from the parameter, the data or LDSR; None means 'maximum likelihood'."""
    if est.sigma2 is None:
        return float(stats.sigma2)
    if est.sigma2 != "estimate":
        return float(est.sigma2)
    if est.solver != "ldsr":
        return None
    sigma2 = float(np.clip(out["ldsr_intercept_"], 0.01, SIGMA2_MAX))
    if sigma2 != out["ldsr_intercept_"]:
        warnings.warn(f"LDSR intercept {out['ldsr_intercept_']:.3g} clipped to "
                      f"sigma2={sigma2:g}", RuntimeWarning, stacklevel=3)
    return sigma2


def fit_prior(est, stats):
    """Everything ``est.fit(stats)`` learns, as a dict of fitted attributes.

    Nothing is set on ``est``: the caller assigns the attributes once the whole fit succeeded.
    """
    group = process_group(est.device)
    rs = check_random_state(est.random_state)
    if group.distributed:       # random_state=None: every process draws what rank 0 draws
        rs.set_state(group.broadcast(rs.get_state()))
    seed = int(rs.randint(0, 2**31 - 1))
    device = group.device(est.device)
    dtype = torch.float64 if est.dtype == "float64" else torch.float32
    name = est._model_name()
    out = {}

    groups = normalise_chrom(np.asarray(stats.groups).astype(str))
    residual = _is_residual(est)
    validation = resolve_validation(est.validation, residual, groups)
    if est.patience not in (None, "auto") and validation is None:
        raise ValueError(f"patience={est.patience!r} (early stopping) needs a validation split:"
                         f" validation={est.validation!r} gives none for this model and data; "
                         "set validation=")
    valid_chroms = validation_split(groups, validation, rs)
    is_valid = np.isin(groups, valid_chroms)
    train_ids, valid_ids = np.flatnonzero(~is_valid), np.flatnonzero(is_valid)
    train_rows = _extended_rows(stats, train_ids)

    sizes = feature_sizes(name, stats)
    variants = stats.variants
    freq = freq_array(variants["freq"].to_numpy(), len(variants), "fit")
    # a residual transformer's linear part is a GLM: it leaves out what the GLM leaves out
    linear = name == "glm" or isinstance(est.model, GLMNet) or residual
    moments = feature_moments(stats, train_ids, sizes, design=linear)
    fm, fsd, pm, psd = moments.standardisation()
    folder = None
    if est.checkpoint_dir is not None:     # a folder that cannot be written fails here
        fp = fingerprint(est, stats, train_ids, valid_ids, seed, (fm, fsd, pm, psd))
        folder = (fit_folder(est.checkpoint_dir, fp), fp)
        group.on_main(check_writable, est.checkpoint_dir)

    # features are released on every exit, a failed fit included (LD score regression's
    # blocks stay in the pool, below)
    with contextlib.ExitStack() as cleanup:
        blocks = None
        out["ldsr_h2_"] = out["ldsr_intercept_"] = float("nan")
        if est.solver == "ldsr":
            # not freed at the end: the pool keeps the blocks, as it keeps window factors, for
            # the next fit or jackknife on these windows (the demo's three LD score regression
            # fits per fold built the same blocks three times) until its budget evicts them
            blocks = LDSRBlocks(stats, device=device)
            out["ldsr_h2_"], out["ldsr_intercept_"] = ldsr_regression(blocks, train_ids,
                                                                      float(len(train_rows)))
        sigma2 = _resolve_sigma2(est, stats, out)
        ldsr_h2 = (float(np.clip(out["ldsr_h2_"], 1e-3, 1.0)) if est.ldsr_h2 == "auto"
                   else float(est.ldsr_h2))

        with seeded_torch(seed, device):
            prior = build_prior(copy.deepcopy(est.model) if name == "custom" else name,
                                *sizes, alpha=est.alpha, learn_alpha=est.learn_alpha,
                                **(est.model_params or {}))
            prior.set_standardisation(fm, fsd, pm, psd)
            func_keep, pred_keep, dropped = _dropped(moments, stats, sizes)
            prior.set_feature_mask(func_keep, pred_keep)
            if group.is_main:
                warn_dropped(dropped)
            prior.to(device)
            fetch = WindowFeatures(stats, sizes, freq, device)
            cleanup.callback(fetch.clear)

            # --- initial scale: f sums to h2 over the training variants
            log_pq = log_sum_pq(prior, None if freq is None else torch.as_tensor(freq[train_rows]),
                                len(train_rows))
            # float64: the searches below compare likelihoods that differ in the 7th digit
            init = ConstantPriorLikelihood(stats, init_window_ids(train_ids, est.init_windows),
                                           prior, fetch, torch.float64, log_pq)
            if sigma2 is None:
                _, sigma2 = ml_h2_sigma2(init)
            mismatch = 0.0
            if stats.ld_model.has_mismatch:
                h2_ml, mismatch = ml_h2_mismatch(init, sigma2)
            if est.h2_init != "auto":
                h2_0 = float(est.h2_init)
            elif est.solver == "ldsr":
                h2_0 = float(np.clip(out["ldsr_h2_"], 1e-5, 1.0))
            elif stats.ld_model.has_mismatch:
                h2_0 = h2_ml
            else:
                h2_0 = initial_h2(init, sigma2)
            if h2_0 > 0.99 and est.h2_init == "auto":
                _warn_h2_at_bound(h2_0, stats)
            prior.set_log_scale(math.log(h2_0) - log_pq)
            group.broadcast_module(prior)     # every process starts from rank 0's prior

            it_cfg = est._iterative_config()
            how = est._resolved_optimizer(count_parameters(prior))
            if how == "lbfgs" and est.mixed_precision is not None:
                raise ValueError(f"mixed_precision={est.mixed_precision!r} applies to AdamW "
                                 "training; L-BFGS needs exact float64 gradients: pass "
                                 "optimizer='adamw' or mixed_precision=None")
            if how == "lbfgs" and isinstance(getattr(prior.network, "flexible", None),
                                             MemberMean):
                raise ValueError("model_params['members'] > 1 trains its members one by one "
                                 "by AdamW, each kept on its validation gain; L-BFGS would fit "
                                 "their mean as one network: pass optimizer='auto' or 'adamw'")
            chunk = resolve_chunk_size(est.chunk_size, prior, sizes, device)
            costs = None
            if group.distributed:
                ids = np.concatenate([train_ids, valid_ids])
                costs = dict(zip(ids.tolist(), window_costs(
                    stats, ids, prior_flops_per_variant(prior, sizes, device))))
                _warn_idle(group, len(train_ids) if how == "lbfgs" else min(
                    len(train_ids), resolve_accumulate(est.accumulate, len(train_ids))))
            objective = WindowObjective(
                stats, est.solver, train_ids, sigma2, torch.float64 if how == "lbfgs" else dtype,
                linalg=est.linalg, iterative_config=it_cfg,
                seed0=seed if it_cfg.seed is None else it_cfg.seed,
                blocks=blocks, ldsr_h2=ldsr_h2, n_variants=float(len(train_rows)),
                mismatch=mismatch)
            ridge = resolve_ridge(est.ridge, prior, how, est.solver)
            if how == "lbfgs":
                trained = _train_lbfgs(est, prior, objective, fetch, train_ids, valid_ids, chunk,
                                       group, costs, ridge)
            elif isinstance(prior.network, ResidualNet):
                trained = _train_residual(est, prior, objective, fetch, train_ids, valid_ids,
                                          seed, device, name, chunk, folder, group, costs,
                                          sigma2, blocks, ldsr_h2, len(train_rows), mismatch)
            else:
                trained = _train_adamw(est, prior, objective, fetch, train_ids, valid_ids, seed,
                                       device, name, chunk, folder, group, costs)

    prior = trained.pop("prior").to("cpu").eval()
    if how == "lbfgs" and group.is_main:
        check_fit(prior, stats, train_ids, freq, sizes, ridge)
    out["n_parameters_"] = count_parameters(prior)  # before freezing: what the fit trained
    for p in prior.parameters():
        p.requires_grad_(False)
    out.update(trained)
    out.update(prior_=prior, sigma2_=float(sigma2), h2_init_=h2_0, optimizer_=how,
               chunk_size_=chunk, world_size_=group.world_size, ld_mismatch_=float(mismatch),
               func_mean_=fm, func_scale_=fsd, pred_mean_=pm, pred_scale_=psd,
               dropped_features_=dropped, ridge_=ridge,
               alpha_=float(prior.alpha), train_chromosomes_=sort_chroms(groups[train_ids]),
               valid_chromosomes_=list(valid_chroms))
    out["n_func_"], out["width_"], out["n_pred_"] = sizes
    return out


def _is_residual(est):
    """Whether ``est`` fits a :class:`~deepwas.priors.ResidualNet` (the default transformer)."""
    return est._model_name() == "transformer" and \
        (est.model_params or {}).get("residual", True) is not False


#: ``validation="auto"``: share of the training chromosomes held out to stop a residual
#: transformer (at least one; none with fewer than :data:`AUTO_VALIDATION_MIN` chromosomes)
AUTO_VALIDATION = 0.2
AUTO_VALIDATION_MIN = 3


def resolve_validation(validation, residual, groups):
    """``validation`` as :func:`validation_split` takes it: "auto" holds out
    :data:`AUTO_VALIDATION` of the chromosomes for a residual transformer with at least
    :data:`AUTO_VALIDATION_MIN` of them, nothing otherwise."""
    if validation != "auto":
        return validation
    if residual and len(set(groups)) >= AUTO_VALIDATION_MIN:
        return AUTO_VALIDATION
    return None


#: ``patience="auto"``: epochs without a better validation loss before a fit with validation
#: windows stops
AUTO_PATIENCE = 3


def resolve_patience(patience, n_valid):
    """Early-stopping patience: "auto" is :data:`AUTO_PATIENCE` with validation windows,
    None (no early stopping) without."""
    if patience == "auto":
        return AUTO_PATIENCE if n_valid else None
    return patience


def _warn_idle(group, per_step):
    if group.world_size > per_step and group.is_main:
        warnings.warn(f"{group.world_size} processes but at most {per_step} windows per "
                      f"optimizer step: {group.world_size - per_step} process(es) will only "
                      "join the all-reduces; use at most as many processes as accumulate "
                      "(and training windows)", RuntimeWarning, stacklevel=5)


def _warn_h2_at_bound(h2, stats):
    warnings.warn(
        f"the maximum-likelihood h2 of a constant prior is {h2:.3g}, at the bound of 1: the "
        "summary statistics are not consistent with this LD (LD from a reference panel with "
        f"ld_regularisation={stats.ld_model.regularisation!r}?); the fit would return a "
        "meaningless h2 -- check stats.ld_diagnostics() and the docs page 'LD from a reference "
        "panel'", RuntimeWarning, stacklevel=4)


def _dropped(moments, stats, sizes):
    """The features the prior leaves out (:mod:`._design`), named as the data names them."""
    prov = stats.features
    fn = list(getattr(prov, "func_names", None) or []) or [f"track{i}" for i in range(sizes[0])]
    pn = list(getattr(prov, "pred_names", None) or []) or [f"pred{i}" for i in range(sizes[2])]
    return dropped_features(moments, fn[:sizes[0]], pn[:sizes[2]])


#: ``ridge="auto"``: the penalty of an L-BFGS GLM fit (exp or softplus link), in nats per
#: squared standardised weight: a N(0, 1) prior on each weight (docs: "Collinear predictors,
#: runaway fits and the ridge penalty")
AUTO_RIDGE = 1.0


def resolve_ridge(ridge, prior, how, solver, network=None):
    """The ridge penalty of this fit: ``ridge="auto"`` is :data:`AUTO_RIDGE` for an L-BFGS
    likelihood fit (solver "deepwas") of a GLM with standardised features (exp or softplus
    link), 0 otherwise (the identity link's weights are S-LDSC's tau, on the annotations' own
    scale; the LDSR loss is not a log-likelihood, so a penalty in nats has no meaning there);
    AdamW has weight_decay instead, and a ridge given with it is an error. ``network``: the
    part of the prior this fit trains (default ``prior.network``; a residual transformer's
    linear part, which L-BFGS fits as a GLM)."""
    if ridge == "auto":
        net = prior.network if network is None else network
        glm = isinstance(net, GLMNet) and prior.link != "identity"
        return AUTO_RIDGE if how == "lbfgs" and glm and solver == "deepwas" else 0.0
    if how != "lbfgs" and float(ridge) > 0:
        raise ValueError(f"ridge={ridge!r} applies to L-BFGS fits; AdamW training is "
                         "regularised by weight_decay: pass ridge=0 or 'auto', or "
                         "optimizer='lbfgs'")
    return float(ridge)


def _train_lbfgs(est, prior, objective, fetch, train_ids, valid_ids, chunk, group, costs,
                 ridge):
    history, n_iter, converged = fit_lbfgs(prior, objective, fetch, train_ids, valid_ids,
                                           tol=float(est.tol), max_iter=int(est.max_iter),
                                           verbose=int(est.verbose) if group.is_main else 0,
                                           chunk_size=chunk, group=group, costs=costs,
                                           ridge=ridge)
    return dict(prior=prior, history_=history, n_iter_=n_iter, n_steps_=n_iter,
                converged_=converged,
                stopped_on_=lbfgs_stop(converged, n_iter, int(est.max_iter)),
                lr_=float("nan"), accumulate_=None, warmup_steps_=0, max_epochs_=None,
                checkpoint_path_=None, resumed_step_=None)


#: a residual transformer keeps its flexible part only when that raises the log-likelihood of
#: the validation windows by more than this many nats (a held-out likelihood ratio of 20). On
#: the demo's linear truth the flexible part gained 0.1-0.7 nats on two validation chromosomes
#: while it doubled the RMSE of log f; where it helps on held-out chromosomes it gains far more
#: (docs: "The neural prior")
KEEP_MIN_GAIN_NATS = 3.0


def _extended_rows(stats, ids):
    """The variants (rows) of the extended sets of windows ``ids``, each once."""
    wins = stats.windows
    return np.unique(np.concatenate([wins[k][1] for k in ids]))


def _exact_objective(est, stats, ids, n_variants, sigma2, blocks, ldsr_h2, mismatch):
    """The float64 objective of windows ``ids`` (the L-BFGS fits of a residual transformer);
    ``n_variants``: of their extended sets (LD score regression's M)."""
    return WindowObjective(stats=stats, solver=est.solver, train_ids=ids, sigma2=sigma2,
                           dtype=torch.float64, linalg=est.linalg, blocks=blocks,
                           ldsr_h2=ldsr_h2, n_variants=float(n_variants), mismatch=mismatch)


def _train_residual(est, prior, objective, fetch, train_ids, valid_ids, seed, device, name,
                    chunk, folder, group, costs, sigma2, blocks, ldsr_h2, n_variants,
                    mismatch):
    """A :class:`~deepwas.priors.ResidualNet`: its linear part fitted first by L-BFGS (the
    GLM fit: same objective, ridge and start), then frozen while AdamW trains the flexible
    part, whose output starts at 0. With validation windows, the flexible part is kept only
    when it raises the exact validation log-likelihood by more than
    :data:`KEEP_MIN_GAIN_NATS`; otherwise the prior is the GLM (``flexible_kept_`` False).
    Either way the linear part is then refitted on the training and validation windows
    together (under the kept flexible part, frozen)."""
    stats = objective.stats
    exact = _exact_objective(est, stats, train_ids, n_variants, sigma2, blocks, ldsr_h2,
                             mismatch)
    net = prior.network
    ridge = resolve_ridge(est.ridge, prior, "lbfgs", est.solver, network=net.linear)
    dtype = next(prior.parameters()).dtype
    lbfgs = dict(tol=float(est.tol), max_iter=int(est.max_iter), chunk_size=chunk, group=group,
                 costs=costs, ridge=ridge)
    with net.linear_only():
        glm_history, glm_iter, glm_converged = fit_lbfgs(prior, exact, fetch, train_ids,
                                                         valid_ids, **lbfgs)
    net.freeze_linear()
    # L-BFGS leaves its last gradient on the linear part: a frozen parameter with a stale
    # .grad would still take an AdamW step (and a resumed fit would differ from one that was not)
    prior.zero_grad(set_to_none=True)
    # fit_lbfgs leaves the prior in eval mode (no dropout): a fit resumed mid-epoch would
    # run the rest of that epoch without dropout, where the uninterrupted one had it
    prior.train()
    prior.to(dtype)    # fit_lbfgs hands the prior back in float32 whatever it was built in
    glm_state = copy.deepcopy(prior.state_dict())

    def validation_gain(trained_prior):
        # exact float64 validation losses, the GLM's and the trained prior's, on one scale
        # (the mean over the validation windows of nats per training core variant)
        check = copy.deepcopy(trained_prior).double().eval()
        valid = mean_loss(check, exact, fetch, valid_ids, chunk, group)
        return (float(glm_history[-1, "valid_loss"]) - valid) * len(valid_ids) * exact.mean_core

    if isinstance(net.flexible, MemberMean):
        trained = _train_members(est, prior, objective, fetch, train_ids, valid_ids, seed,
                                 device, name, chunk, folder, group, costs, glm_state,
                                 validation_gain)
        kept, gain = trained.pop("kept"), trained.pop("gain")
    else:
        trained = _train_adamw(est, prior, objective, fetch, train_ids, valid_ids, seed,
                               device, name, chunk, folder, group, costs)
        kept, gain = True, float("nan")
        if len(valid_ids):
            gain = validation_gain(trained["prior"])
            kept = gain > KEEP_MIN_GAIN_NATS
    if len(valid_ids):
        # the validation windows have made their choice; as training data now, they refit
        # the linear part (from where it stands) on the training and validation windows
        # together, so that it is fitted on as many windows as a model="glm" fit on the same
        # data: when the flexible part is dropped the prior is that GLM; when it is kept, the
        # linear part is refitted under it (the flexible part frozen), not left fitted on fewer
        if not kept:
            prior.load_state_dict(glm_state)
            if isinstance(net.flexible, MemberMean):
                for j in range(len(net.flexible)):    # none is evaluated any more
                    net.flexible.drop(j)
        every = np.sort(np.concatenate([train_ids, valid_ids]))
        refit = _exact_objective(est, stats, every, len(_extended_rows(stats, every)), sigma2,
                                 blocks, ldsr_h2, mismatch)
        features = fetch
        if kept:
            prior.double().eval()     # as fit_lbfgs evaluates it
            features = FrozenFlexibleFetch(prior, fetch, every, stats.window_units, chunk)
        with net.linear_trainable(), (contextlib.nullcontext() if kept
                                      else net.linear_only()):
            _, more, refit_converged = fit_lbfgs(prior, refit, features, every, [], **lbfgs)
        net.flexible_output = None
        glm_iter += more
        glm_converged = glm_converged and refit_converged
        prior.to(dtype)
        trained["prior"] = prior
    trained.update(glm_n_iter_=glm_iter, glm_converged_=bool(glm_converged),
                   flexible_kept_=bool(kept), flexible_gain_=float(gain))
    return trained


def _member_seed(seed, j):
    """Member ``j``'s training seed: member 0 trains as a one-member prior does."""
    return (seed + 7919 * j) % (2**31 - 1)


def _train_members(est, prior, objective, fetch, train_ids, valid_ids, seed, device, name,
                   chunk, folder, group, costs, glm_state, validation_gain):
    """The members of a :class:`~deepwas.priors.MemberMean` flexible part, one at a time on
    the frozen linear part: each by AdamW from its own initialisation with its own seed and
    early stopping, and, with validation windows, dropped (its start restored) unless alone on
    the linear part it raises the validation log-likelihood by more than
    :data:`KEEP_MIN_GAIN_NATS`. The prior's ``flexible_gain_`` is the mean's validation gain;
    the history and schedule reported are member 0's, the epochs and steps all members'."""
    flex = prior.network.flexible
    runs = []
    for j in range(len(flex)):
        suffix = f"-member{j}" if j else ""        # member 0 checkpoints as a one-member fit
        where = None if folder is None else (folder[0] + suffix, folder[1] + suffix)
        with flex.only(j):
            run = _train_adamw(est, prior, objective, fetch, train_ids, valid_ids,
                               _member_seed(seed, j), device, name, chunk, where, group, costs)
            gain = validation_gain(prior) if len(valid_ids) else float("nan")
        if len(valid_ids) and not gain > KEEP_MIN_GAIN_NATS:
            start = f"network.flexible.members.{j}."
            prior.load_state_dict({k: v for k, v in glm_state.items() if k.startswith(start)},
                                  strict=False)
            flex.drop(j)
        runs.append(dict(run, member_gain=gain, member_kept=bool(flex.kept[j])))
    out = dict(runs[0])
    out.update(prior=prior, n_iter_=sum(r["n_iter_"] for r in runs),
               n_steps_=sum(r["n_steps_"] for r in runs),
               converged_=all(r["converged_"] for r in runs),
               stopped_on_=next((r["stopped_on_"] for r in runs if r["stopped_on_"] == "budget"),
                                runs[0]["stopped_on_"]),
               members_=[dict(epochs=r["n_iter_"], steps=r["n_steps_"],
                              stopped_on=r["stopped_on_"], validation_gain=r["member_gain"],
                              kept=r["member_kept"]) for r in runs],
               resumed_step_=next((r["resumed_step_"] for r in runs
                                   if r["resumed_step_"] is not None), None))
    # without validation windows no member is dropped: kept, and the gain is NaN
    kept = bool(flex.kept.any())
    if not len(valid_ids):
        gain = float("nan")
    elif kept:
        gain = validation_gain(prior)
    else:
        gain = max(r["member_gain"] for r in runs)
    out.update(kept=kept, gain=gain)
    return out


def _train_adamw(est, prior, objective, fetch, train_ids, valid_ids, seed, device, name, chunk,
                 folder, group, costs):
    """AdamW through skorch; ``folder`` is ``(this fit's folder, its fingerprint)`` or None.
    Only rank 0 of ``group`` writes checkpoints; the others get its state and best
    parameters."""
    lr = default_lr(name, est.model_params) if est.lr == "auto" else float(est.lr)
    tmp = None
    if folder is not None:
        checkpoint, resumer = folder[0], Resumer(folder[0], folder[1], est.checkpoint_every)
        group.on_main(os.makedirs, checkpoint, exist_ok=True)
    else:
        resumer = None
        checkpoint = tmp = (tempfile.mkdtemp(prefix="deepwas-ckpt-")
                            if len(valid_ids) and group.is_main else None)
    patience = resolve_patience(est.patience, len(valid_ids))
    net, acc, warm, epochs = build_net(est, prior, objective, train_ids, valid_ids, lr, seed,
                                       device, checkpoint, chunk, resumer, group, costs, patience)
    net.module.fetch = fetch
    try:
        state = None if resumer is None else group.on_main(resumer.load)
        if state is None:
            net.fit(WindowDataset(train_ids), y=None)
        else:
            net.initialize()
            left = restore(net, state)
            net.partial_fit(WindowDataset(train_ids), y=None, epochs=left)
        if checkpoint is not None and len(valid_ids) and group.is_main:
            net.load_params(checkpoint=dict(net.callbacks_)["checkpoint"])
        if len(valid_ids):
            group.broadcast_module(net.module_)      # the best epoch's parameters
    except BaseException:
        # a failed fit leaves no folder behind, unless it holds a state to resume from
        if folder is not None and group.is_main and not os.path.exists(resumer.path):
            shutil.rmtree(checkpoint, ignore_errors=True)
        raise
    finally:
        net.module.fetch = None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    if resumer is not None and group.is_main:
        resumer.discard()
    callbacks = dict(net.callbacks_)
    plateau = callbacks["plateau"]
    on_valid = getattr(callbacks.get("early_stopping"), "misses_", 0) >= (patience or float("inf"))
    stopped_on = "plateau" if plateau.stopped_ else "validation" if on_valid else "budget"
    converged = stopped_on != "budget" or not plateau.still_falling_
    if not converged:
        warnings.warn(f"training ended after {len(net.history)} epochs while the training loss "
                      f"was still falling (by more than tol={est.tol:g} within the last "
                      f"{est.n_iter_no_change} epochs); raise max_epochs or lr",
                      ConvergenceWarning, stacklevel=4)
    return dict(prior=net.module_.prior, history_=net.history, n_iter_=len(net.history),
                n_steps_=int(getattr(net, "n_optimizer_steps_", 0)), converged_=bool(converged),
                stopped_on_=stopped_on,
                lr_=lr, accumulate_=acc, warmup_steps_=warm, max_epochs_=epochs,
                checkpoint_path_=checkpoint if folder is not None else None,
                resumed_step_=None if state is None else int(state["n_optimizer_steps"]))
