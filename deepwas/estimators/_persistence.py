"""Saving and loading a fitted prior: ``model.pt`` (tensors only) and ``model.json``.

No pickle is involved: ``model.pt`` is a torch state dict read with
``torch.load(..., weights_only=True)`` (no code runs on load) and ``model.json`` holds the
estimator's parameters and what the fit learned besides the weights, as strict JSON (a
value that is not a finite number, such as the learning rate of an L-BFGS fit, is written
``null`` and read back as NaN). The command line
(``deepwas fit`` / ``score`` / ``predict``) reads and writes the same two files.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from .._version import __version__
from ..priors import build_prior, transformer_size
from ._base import FunctionalPrior

__all__ = ["save_model", "load_model", "MODEL_FORMAT"]

MODEL_FORMAT = "deepwas-model-v1"


def save_model(est, directory, features=None, extra=None):
    """Save a fitted :class:`~deepwas.FunctionalPrior` into ``directory``.

    Parameters
    ----------
    est : FunctionalPrior
        Fitted, with a named model ("constant", "glm", "transformer"; a custom ``nn.Module``
        cannot be rebuilt from a JSON file).
    directory : str or path
        Created if needed; ``model.pt`` and ``model.json`` are (over)written.
    features : dict, optional
        How to rebuild the features (the command line stores its track paths here).
    extra : dict, optional
        Anything JSON-serialisable to keep alongside (timings, held-out chromosomes).

    Returns
    -------
    (str, str)
        Paths of ``model.pt`` and ``model.json``.
    """
    check_is_fitted(est, "prior_")
    if not isinstance(est.model, str):
        raise ValueError("only the named models (constant, glm, transformer) can be saved; a "
                         "custom nn.Module is not rebuilt from JSON (save est.prior_.state_dict())")
    os.makedirs(directory, exist_ok=True)
    params = {k: v for k, v in est.get_params().items()
              if v is None or isinstance(v, (str, int, float, bool, dict, list))}
    cfg = dict(format=MODEL_FORMAT, deepwas_version=__version__, params=params,
               fitted=dict(n_func=int(est.n_func_), width=int(est.width_), n_pred=int(est.n_pred_),
                           alpha=float(est.alpha_), sigma2=float(est.sigma2_),
                           ld_mismatch=float(getattr(est, "ld_mismatch_", 0.0)),
                           h2_init=float(est.h2_init_), lr=float(est.lr_),
                           n_iter=int(est.n_iter_), n_steps=int(est.n_steps_),
                           n_parameters=int(est.n_parameters_),
                           train_chromosomes=[str(c) for c in est.train_chromosomes_],
                           dropped_features={str(k): str(v) for k, v in
                                             getattr(est, "dropped_features_", {}).items()},
                           ridge=float(getattr(est, "ridge_", 0.0)),
                           log_f_bounds=[float(est.prior_.lo), float(est.prior_.hi)],
                           transformer_size=(transformer_size(est.model_params)
                                             if est.model == "transformer" else None),
                           **_panel_fields(est)),
               features=features, extra=extra or {})
    pt = os.path.join(directory, "model.pt")
    js = os.path.join(directory, "model.json")
    torch.save({k: v.detach().cpu() for k, v in est.prior_.state_dict().items()}, pt)
    with open(js, "w") as fh:
        # strict JSON: NaN and infinities (an L-BFGS fit has no learning rate) become null
        json.dump(_finite_or_null(cfg), fh, indent=1, allow_nan=False)
    return pt, js


def _panel_fields(est):
    """The panel correction's fits (model.json): what its jackknife needs after loading."""
    fits, h2 = getattr(est, "panel_fits_", None), getattr(est, "panel_h2_", None)
    return dict(panel_correction=str(getattr(est, "panel_correction_", "none")),
                panel_fits=None if fits is None else np.asarray(fits).tolist(),
                panel_seeds=[int(x) for x in getattr(est, "panel_seeds_", [])],
                panel_people=getattr(est, "panel_people_", None),
                panel_draw=getattr(est, "panel_draw_", None),
                panel_h2=None if h2 is None else np.asarray(h2).tolist(),
                panel_signal=float(getattr(est, "panel_signal_", float("nan"))))


def _finite_or_null(obj):
    """``obj`` with every non-finite float replaced by None, recursively."""
    if isinstance(obj, float):
        return obj if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite_or_null(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(v) for v in obj]
    return obj


def _float(value):
    """A number of model.json; null (written for NaN) reads back as NaN."""
    return float("nan") if value is None else float(value)


def load_model(directory):
    """Load a prior saved by :func:`save_model`.

    Returns
    -------
    est : FunctionalPrior
        Fitted: ``predict_f``, ``score`` and ``h2`` work.
    config : dict
        The contents of ``model.json``.

    Raises
    ------
    FileNotFoundError
        When the folder or one of its two files is missing.
    ValueError
        When a file is not a deepwas model or the weights do not match the configuration.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"model folder not found: {directory}")
    js = os.path.join(directory, "model.json")
    pt = os.path.join(directory, "model.pt")
    for p in (js, pt):
        if not os.path.isfile(p):
            raise FileNotFoundError(f"model file not found: {p}")
    try:
        with open(js) as fh:
            cfg = json.load(fh)
    except json.JSONDecodeError as e:
        raise ValueError(f"{js} is not valid JSON: {e}") from e
    if not isinstance(cfg, dict) or cfg.get("format") != MODEL_FORMAT:
        raise ValueError(f"{js} is not a deepwas model config (format {MODEL_FORMAT!r})")
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"cannot read model weights {pt}: {type(e).__name__}: {e}") from e
    params, fit = cfg["params"], cfg["fitted"]
    est = FunctionalPrior(**params)
    model_params = dict(params.get("model_params") or {})
    if params["model"] == "transformer" and "size" not in model_params:
        # a file that records no size is from before the default became DEFAULT_SIZE
        model_params["size"] = fit.get("transformer_size") or "small"
    if params["model"] == "transformer" and "residual" not in model_params \
            and not any(k.startswith("network.linear.") for k in state):
        model_params["residual"] = False     # saved before the transformer had a GLM part
    prior = build_prior(params["model"], fit["n_func"], fit["width"], fit["n_pred"],
                        alpha=params.get("alpha", 0.7),
                        learn_alpha=params.get("learn_alpha", False),
                        log_f_bounds=tuple(fit.get("log_f_bounds", (-30.0, 0.0))),
                        **model_params)
    try:
        prior.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(f"{pt} does not match {js}: {str(e).splitlines()[0]}") from e
    prior.eval()
    for p in prior.parameters():
        p.requires_grad_(False)
    est.prior_ = prior
    est.n_func_, est.width_, est.n_pred_ = fit["n_func"], fit["width"], fit["n_pred"]
    est.alpha_ = float(prior.alpha)
    est.sigma2_ = fit["sigma2"]
    est.ld_mismatch_ = _float(fit.get("ld_mismatch", 0.0))
    est.h2_init_ = _float(fit.get("h2_init"))
    est.lr_ = _float(fit.get("lr"))
    est.n_iter_, est.n_steps_ = fit.get("n_iter", 0), fit.get("n_steps", 0)
    est.n_parameters_ = fit.get("n_parameters", 0)
    est.func_mean_ = prior.func_mean.numpy().astype(np.float64)
    est.func_scale_ = prior.func_scale.numpy().astype(np.float64)
    est.pred_mean_ = prior.pred_mean.numpy().astype(np.float64)
    est.pred_scale_ = prior.pred_scale.numpy().astype(np.float64)
    est.train_chromosomes_ = fit.get("train_chromosomes", [])
    # the feature masks travel in model.pt; the names and reasons are kept here
    est.dropped_features_ = dict(fit.get("dropped_features", {}))
    est.ridge_ = float(fit.get("ridge", 0.0))
    # files from before the panel correction: none
    est.panel_correction_ = fit.get("panel_correction", "none")
    fits, h2 = fit.get("panel_fits"), fit.get("panel_h2")
    est.panel_fits_ = None if fits is None else np.array(fits, dtype=np.float64)
    size = sum(p.numel() for p in prior.parameters())
    if est.panel_fits_ is not None and est.panel_fits_.shape[1] != size:
        raise ValueError(f"{js}: panel_fits has {est.panel_fits_.shape[1]} parameters per fit, "
                         f"the prior {size}")
    est.panel_seeds_ = [int(x) for x in fit.get("panel_seeds", [])]
    est.panel_people_ = fit.get("panel_people")
    # files from before pseudo_panels: Gaussian pseudo-panels where there was a correction
    est.panel_draw_ = fit.get("panel_draw", "gaussian" if est.panel_fits_ is not None else None)
    est.panel_h2_ = None if h2 is None else np.array(h2, dtype=np.float64)
    est.panel_signal_ = _float(fit.get("panel_signal"))
    return est, cfg
