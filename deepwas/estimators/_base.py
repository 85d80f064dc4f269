"""FunctionalPrior: learn a functional prior f_theta from summary statistics (scikit-learn API)."""
from __future__ import annotations

import copy
import dataclasses
import logging
import math
import numbers
import os
import tempfile
import warnings

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..features.base import Features, FeatureProvider
from ..priors import build_prior, count_parameters
from ._ldsr import LDSRBlocks, ldsr_regression
from ._training import WindowDataset, WindowModule, WindowNet, collate_window

__all__ = ["FunctionalPrior", "likelihood_increase_percent", "DEFAULT_LR"]

log = logging.getLogger(__name__)

#: Learning rates of the paper (AdamW): 1e-4 for the transformer, 1e-3 for the others.
DEFAULT_LR = {"transformer": 1e-4, "glm": 1e-3, "constant": 1e-3}
MODELS = ("constant", "glm", "transformer")
SOLVERS = ("deepwas", "ldsr")
LINALGS = ("auto", "cholesky", "iterative")
_PREDICT_CHUNK = 8192


def likelihood_increase_percent(score):
    """The paper's "% likelihood increase per person": ``100 * expm1(score)``.

    Parameters
    ----------
    score : float or array-like
        Held-out log-likelihood gain over the null model, in nats per person
        (:meth:`FunctionalPrior.score`).

    Returns
    -------
    float or ndarray
    """
    out = 100.0 * np.expm1(np.asarray(score, dtype=np.float64))
    return float(out) if out.ndim == 0 else out


def _is_stats(X):
    return all(hasattr(X, a) for a in ("windows", "window_tensors", "variants", "n", "groups"))


def _check_stats(X, what="fit"):
    if not _is_stats(X):
        raise TypeError(f"{what} expects a deepwas.SummaryStats (windows of summary statistics), "
                        f"got {type(X).__name__}")
    if len(X) == 0:
        raise ValueError(f"{what} got a SummaryStats with no window")
    return X


def _freq_array(freq, n, where):
    """Frequencies as float64; NaNs are filled with the median (or all-NaN -> None) with a warning."""
    if freq is None:
        return None
    freq = np.array(freq, dtype=np.float64).ravel()
    if len(freq) != n:
        raise ValueError(f"freq has {len(freq)} values, expected {n}")
    bad = ~np.isfinite(freq)
    if bad.all():
        warnings.warn(f"{where}: no allele frequency known; the (p(1-p))^alpha term is left out",
                      RuntimeWarning, stacklevel=3)
        return None
    if bad.any():
        warnings.warn(f"{where}: {int(bad.sum())} variants lack an allele frequency; using the "
                      "median frequency for them", RuntimeWarning, stacklevel=3)
        freq = np.where(bad, np.median(freq[~bad]), freq)
    return freq


class FunctionalPrior(BaseEstimator):
    """A functionally informed prior on GWAS effect sizes, learned from summary statistics.

    The prior variance of the standardised effect of variant m is

        f_m = (p_m (1 - p_m))^alpha * exp(bound(NN_theta(C_func,m, C_pred,m)))

    (:class:`deepwas.priors.PriorModule`). ``fit`` learns theta from the windows of a
    :class:`deepwas.SummaryStats` -- one window is one sample, so scikit-learn's
    cross-validation by chromosome works (``groups=stats.groups``).

    Parameters
    ----------
    model : {"constant", "glm", "transformer"} or torch.nn.Module, default="constant"
        The network: one intercept; the GLM of the paper's App. A.2 (window-averaged tracks,
        scalar predictors, intercept); or the Enformer-style transformer. An ``nn.Module`` is
        used as the network as is (deep-copied in fit): ``net(func, pred, n=None) -> (n,)``
        with a scalar parameter ``intercept``.
    solver : {"deepwas", "ldsr"}, default="deepwas"
        Training objective: the windowed marginal likelihood (minus the gain over the null) or
        the weighted LD score regression loss.
    linalg : {"auto", "cholesky", "iterative"}, default="auto"
        Linear algebra of the deepwas objective during training (passed to
        :func:`deepwas.likelihood.window_gain`). :meth:`score` always uses "cholesky".
    iterative_options : dict or IterativeConfig, optional
        Settings of the iterative solver (:class:`deepwas.solvers.IterativeConfig` fields).
        During training the probe seed advances by one per window step (starting from the
        configured seed, or from ``random_state`` when the seed is None), so the gradient
        noise is independent across steps and a seeded fit repeats exactly. Per-step solver
        diagnostics (``linalg``, ``cg_iterations``, ``cg_residual``, ``logdet_stderr``,
        ``lanczos_steps``, ``probe_cg_iterations``, ``fallback``) are recorded in the batches
        of ``history_``.
    model_params : dict, optional
        Keywords for the network's constructor, e.g. ``{"size": "paper"}`` or
        ``{"dim": 128, "depth": 2}`` for the transformer (default size "small").
    alpha : float, default=0.7
        Exponent of the frequency term (paper default).
    learn_alpha : bool, default=False
        Learn alpha along with the network.
    sigma2 : None, float or "estimate", default=None
        Residual variance of the standardised phenotype. None: ``stats.sigma2`` of the data
        given to ``fit`` (and to ``score``); a number in (0, 1]: that value; "estimate": the
        intercept of an LD score regression of ``N beta_hat^2`` on LD scores over the training
        windows' core variants (``E[N beta_hat^2] = N h2 l / M + sigma^2``), clipped to
        [0.01, 1]. The value used is ``sigma2_``.
    h2_init : "auto" or float, default="auto"
        Where the intercept starts: ``f`` summing to ``h2_init`` over the training variants.
        "auto": for solver="deepwas", the h2 maximising the exact likelihood of a constant
        prior on up to ``init_windows`` training windows (bounded scalar search over
        [1e-5, 1]); for solver="ldsr", the LD score regression h2.
    init_windows : int, default=8
        Windows used by the "auto" initialisation.
    ldsr_h2 : "auto" or float, default="auto"
        Ballpark h2 in the LDSR weights; "auto" uses the LD score regression estimate
        (clipped to [1e-3, 1]).
    lr : "auto" or float, default="auto"
        AdamW learning rate; "auto" is the paper's 1e-4 for the transformer, 1e-3 otherwise.
    weight_decay : float, default=0.01
        AdamW weight decay (AdamW's default); not applied to intercepts, biases and alpha.
    max_epochs : int, default=5
        Passes over the training windows (the paper used 10 at genome scale).
    warmup_steps : int, default=100
        Linear learning-rate warm-up, in optimizer steps (paper: 100, ~4 % of its run). It is
        capped at half of the fit's planned optimizer steps, so a small data set is not trained
        entirely at a fraction of the learning rate; the value used is ``warmup_steps_``.
    accumulate : int, default=12
        Windows whose gradients are summed per optimizer step (paper: 12).
    grad_clip : float or None, default=0.2
        Maximum gradient norm per optimizer step (paper: 0.2).
    validation : None, float or sequence of str, default=None
        Validation windows held out from training by chromosome: a fraction of the training
        chromosomes (at least one chromosome each side, drawn with ``random_state``) or the
        chromosome labels. The best epoch by validation loss is restored at the end
        (checkpointing).
    patience : int or None, default=None
        Early stopping after this many epochs without validation improvement (needs
        ``validation``).
    checkpoint_dir : str or None, default=None
        Where skorch's Checkpoint writes the best parameters; a temporary directory when
        None (used only with ``validation``).
    dtype : {"float32", "float64"}, default="float32"
        Precision of the likelihood during training (the network runs in float32).
    device : str, default="cpu"
    verbose : int, default=0
        0: silent; 1: skorch's epoch table and a progress bar.
    random_state : int, RandomState or None, default=None
        Seeds initialisation, shuffling, dropout and the validation split; fits with the
        same seed repeat exactly (on the same device and thread settings).

    Attributes
    ----------
    prior_ : deepwas.priors.PriorModule
        The trained prior (CPU, eval mode).
    sigma2_ : float
        Residual variance used in training.
    h2_init_ : float
        h2 at initialisation.
    lr_ : float
        Learning rate used.
    func_mean_, func_scale_, pred_mean_, pred_scale_ : ndarray
        Feature standardisation learned from the training windows (empty when unused).
    n_func_, width_, n_pred_ : int
        Feature sizes the prior expects.
    alpha_ : float
        Final frequency exponent.
    train_chromosomes_, valid_chromosomes_ : list of str
    history_ : skorch.History
        Per-epoch losses (train_loss: mean loss per window, nats per core variant for deepwas).
    n_iter_ : int
        Epochs run.
    n_steps_ : int
        Optimizer steps taken.
    n_parameters_ : int
        Trainable parameters of the prior.
    ldsr_h2_, ldsr_intercept_ : float
        LD score regression h2 and intercept (solver="ldsr"; NaN otherwise).

    Examples
    --------
    >>> est = deepwas.GLMPrior(max_epochs=3, random_state=0)          # doctest: +SKIP
    >>> est.fit(stats[stats.groups != "22"]).score(stats[stats.groups == "22"])  # doctest: +SKIP
    """

    def __init__(self, model="constant", solver="deepwas", linalg="auto", *, model_params=None,
                 iterative_options=None, alpha=0.7, learn_alpha=False, sigma2=None, h2_init="auto", init_windows=8,
                 ldsr_h2="auto", lr="auto", weight_decay=0.01, max_epochs=5, warmup_steps=100,
                 accumulate=12, grad_clip=0.2, validation=None, patience=None,
                 checkpoint_dir=None, dtype="float32", device="cpu", verbose=0,
                 random_state=None):
        self.model = model
        self.solver = solver
        self.linalg = linalg
        self.model_params = model_params
        self.iterative_options = iterative_options
        self.alpha = alpha
        self.learn_alpha = learn_alpha
        self.sigma2 = sigma2
        self.h2_init = h2_init
        self.init_windows = init_windows
        self.ldsr_h2 = ldsr_h2
        self.lr = lr
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.warmup_steps = warmup_steps
        self.accumulate = accumulate
        self.grad_clip = grad_clip
        self.validation = validation
        self.patience = patience
        self.checkpoint_dir = checkpoint_dir
        self.dtype = dtype
        self.device = device
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _iterative_config(self):
        from ..solvers import IterativeConfig

        opts = self.iterative_options
        if opts is None:
            return IterativeConfig()
        if isinstance(opts, IterativeConfig):
            return opts
        if not isinstance(opts, dict):
            raise ValueError("iterative_options must be a dict, an IterativeConfig or None")
        try:
            return IterativeConfig(**opts)
        except TypeError as exc:
            raise ValueError(f"iterative_options: {exc}") from None

    def _model_name(self):
        return self.model if isinstance(self.model, str) else "custom"

    def _validate_params(self):
        if isinstance(self.model, str):
            if self.model not in MODELS:
                raise ValueError(f"model must be one of {MODELS} or an nn.Module, got {self.model!r}")
        elif not isinstance(self.model, torch.nn.Module):
            raise ValueError(f"model must be one of {MODELS} or an nn.Module, got {type(self.model).__name__}")
        if self.solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {self.solver!r}")
        if self.linalg not in LINALGS:
            raise ValueError(f"linalg must be one of {LINALGS}, got {self.linalg!r}")
        if self.model_params is not None and not isinstance(self.model_params, dict):
            raise ValueError("model_params must be a dict or None")
        self._iterative_config()  # raises ValueError on unknown or invalid settings
        if self.sigma2 is not None and self.sigma2 != "estimate":
            if isinstance(self.sigma2, bool) or not isinstance(self.sigma2, numbers.Real) \
                    or not 0.0 < self.sigma2 <= 1.0:
                raise ValueError(f"sigma2 must be None, 'estimate' or a number in (0, 1], got {self.sigma2!r}")
        if self.h2_init != "auto" and not (isinstance(self.h2_init, numbers.Real) and 0.0 < self.h2_init <= 1.0):
            raise ValueError(f"h2_init must be 'auto' or a number in (0, 1], got {self.h2_init!r}")
        if self.ldsr_h2 != "auto" and not (isinstance(self.ldsr_h2, numbers.Real) and 0.0 < self.ldsr_h2 <= 1.0):
            raise ValueError(f"ldsr_h2 must be 'auto' or a number in (0, 1], got {self.ldsr_h2!r}")
        if self.lr != "auto" and not (isinstance(self.lr, numbers.Real) and self.lr > 0):
            raise ValueError(f"lr must be 'auto' or a positive number, got {self.lr!r}")
        for name, lo in (("max_epochs", 1), ("accumulate", 1), ("warmup_steps", 0), ("init_windows", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < lo:
                raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
        if self.grad_clip is not None and not (isinstance(self.grad_clip, numbers.Real) and self.grad_clip > 0):
            raise ValueError(f"grad_clip must be None or positive, got {self.grad_clip!r}")
        if not (isinstance(self.weight_decay, numbers.Real) and self.weight_decay >= 0):
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {self.dtype!r}")
        if self.patience is not None and self.validation is None:
            raise ValueError("patience (early stopping) needs a validation split: set validation=")
        if self.patience is not None and (not isinstance(self.patience, numbers.Integral) or self.patience < 1):
            raise ValueError(f"patience must be a positive integer or None, got {self.patience!r}")

    # ------------------------------------------------------------------ features
    def _feature_sizes(self, stats):
        """(d_func, width, d_pred) the prior will use; 0s for the constant model."""
        if self._model_name() == "constant":
            return 0, 0, 0
        prov = stats.features
        if prov is None:
            if self._model_name() in ("glm", "transformer"):
                raise ValueError(f"model={self.model!r} needs features, but the SummaryStats has none "
                                 "(build it with features=..., or use model='constant')")
            return 0, 0, 0
        d_func, width, d_pred = int(prov.d_func), int(prov.width), int(prov.d_pred)
        if self._model_name() == "transformer" and d_func == 0:
            raise ValueError("model='transformer' needs genomic tracks (C_func); these features have "
                             "only scalar predictors -- use model='glm'")
        return d_func, width, d_pred

    def _standardisation(self, stats, windows, sizes):
        """Mean and scale of each track / predictor over the training windows' core variants."""
        d_func, width, d_pred = sizes
        fs = np.zeros(d_func); fss = np.zeros(d_func); fn = 0
        ps = np.zeros(d_pred); pss = np.zeros(d_pred); pn = 0
        if d_func or d_pred:
            for k in windows:
                core, _ = stats.windows[k]
                for lo in range(0, len(core), _PREDICT_CHUNK):
                    feats = stats.get_features(core[lo:lo + _PREDICT_CHUNK])
                    if d_func and feats.func is not None:
                        a = feats.func.astype(np.float64)
                        fs += a.sum((0, 2)); fss += (a * a).sum((0, 2)); fn += a.shape[0] * a.shape[2]
                    if d_pred and feats.pred is not None:
                        a = feats.pred.astype(np.float64)
                        ps += a.sum(0); pss += (a * a).sum(0); pn += a.shape[0]

        def finish(s, ss, n):
            if n == 0:
                return np.zeros_like(s), np.ones_like(s)
            m = s / n
            v = np.maximum(ss / n - m * m, 0.0)
            sd = np.sqrt(v)
            return m, np.where(sd > 1e-12, sd, 1.0)

        return finish(fs, fss, fn) + finish(ps, pss, pn)

    @staticmethod
    def _features_to_tensors(feats, sizes, device):
        d_func, _, d_pred = sizes
        func = pred = None
        if d_func:
            if feats is None or feats.func is None:
                raise ValueError("the prior needs track features (func) but none were given")
            func = torch.as_tensor(np.asarray(feats.func, dtype=np.float32), device=device)
        if d_pred:
            if feats is None or feats.pred is None:
                raise ValueError("the prior needs scalar predictors (pred) but none were given")
            pred = torch.as_tensor(np.asarray(feats.pred, dtype=np.float32), device=device)
        return func, pred

    # ------------------------------------------------------------------ fit
    def fit(self, stats, y=None):
        """Learn the prior from the windows of ``stats``.

        Parameters
        ----------
        stats : deepwas.SummaryStats
            Training windows (e.g. ``stats[train_idx]``).
        y : None
            Ignored (scikit-learn API).

        Returns
        -------
        self : FunctionalPrior
        """
        self._validate_params()
        stats = _check_stats(stats, "fit")
        rs = check_random_state(self.random_state)
        seed = int(rs.randint(0, 2**31 - 1))
        device = torch.device(self.device)
        dtype = torch.float64 if self.dtype == "float64" else torch.float32
        name = self._model_name()

        # --- validation split by chromosome
        groups = np.asarray(stats.groups).astype(str)
        chroms = list(pd.unique(groups))
        valid_chroms = []
        if self.validation is not None:
            if isinstance(self.validation, numbers.Real) and not isinstance(self.validation, bool):
                if not 0.0 < self.validation < 1.0:
                    raise ValueError(f"validation fraction must lie in (0, 1), got {self.validation!r}")
                if len(chroms) < 2:
                    raise ValueError("a validation split by chromosome needs at least 2 chromosomes")
                n_val = min(len(chroms) - 1, max(1, int(round(self.validation * len(chroms)))))
                valid_chroms = sorted(rs.choice(chroms, size=n_val, replace=False).tolist())
            else:
                valid_chroms = [str(c).replace("chr", "") for c in self.validation]
                missing = set(valid_chroms) - set(chroms)
                if missing:
                    raise ValueError(f"validation chromosomes {sorted(missing)} are not in the data")
                if set(valid_chroms) >= set(chroms):
                    raise ValueError("validation would leave no training chromosome")
        is_valid = np.isin(groups, valid_chroms)
        train_ids = np.flatnonzero(~is_valid)
        valid_ids = np.flatnonzero(is_valid)

        # --- features, frequencies, standardisation (training windows only)
        sizes = self._feature_sizes(stats)
        variants = stats.variants
        freq = _freq_array(variants["freq"].to_numpy(), len(variants), "fit")
        fm, fsd, pm, psd = self._standardisation(stats, train_ids, sizes)

        # --- residual variance and LDSR pieces
        blocks = None
        self.ldsr_h2_ = self.ldsr_intercept_ = float("nan")
        need_ldsr = self.solver == "ldsr"
        M = float(len(variants))
        if need_ldsr:
            blocks = LDSRBlocks(stats, device=device)
            self.ldsr_h2_, self.ldsr_intercept_ = ldsr_regression(blocks, train_ids, M)
        if self.sigma2 is None:
            sigma2 = float(stats.sigma2)
        elif self.sigma2 == "estimate" and self.solver == "ldsr":
            sigma2 = float(np.clip(self.ldsr_intercept_, 0.01, 1.0))
            if sigma2 != self.ldsr_intercept_:
                warnings.warn(f"LDSR intercept {self.ldsr_intercept_:.3g} clipped to sigma2={sigma2:g}",
                              RuntimeWarning, stacklevel=2)
        elif self.sigma2 == "estimate":
            sigma2 = None      # maximum likelihood, below (needs the prior's frequency term)
        else:
            sigma2 = float(self.sigma2)
        ldsr_h2 = float(np.clip(self.ldsr_h2_, 1e-3, 1.0)) if self.ldsr_h2 == "auto" else float(self.ldsr_h2)

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            prior = build_prior(copy.deepcopy(self.model) if name == "custom" else name,
                                *sizes, alpha=self.alpha, learn_alpha=self.learn_alpha,
                                **(self.model_params or {}))
            prior.set_standardisation(fm, fsd, pm, psd)
            prior.to(device)

            # --- feature fetching per window (cached when small)
            freq_t = None if freq is None else torch.as_tensor(freq, dtype=torch.float32, device=device)
            per_var = 4 * (sizes[0] * max(sizes[1], 1) + sizes[2])
            total = per_var * sum(len(e) for _, e in stats.windows)
            cache = {} if total <= (1 << 30) else None
            wins = stats.windows

            def fetch(k):
                hit = None if cache is None else cache.get(k)
                if hit is None:
                    ext = wins[k][1]
                    feats = stats.get_features(ext) if (sizes[0] or sizes[2]) else None
                    func, pred = self._features_to_tensors(feats, sizes, device)
                    fq = None if freq_t is None else freq_t[torch.as_tensor(ext, device=device)]
                    hit = (func, pred, fq, len(ext))
                    if cache is not None:
                        cache[k] = hit
                return hit

            # --- initial scale
            log_pq_sum = self._log_sum_pq(prior, freq_t, len(variants))
            if sigma2 is None:
                _, sigma2 = self._estimate_sigma2(stats, train_ids, prior, fetch, dtype, log_pq_sum)
            self.sigma2_ = sigma2
            h2_0 = self._initial_h2(stats, train_ids, prior, fetch, sigma2, dtype, log_pq_sum)
            self.h2_init_ = h2_0
            prior.set_intercept(math.log(h2_0) - log_pq_sum)

            # --- the loss of one window
            mean_core = float(np.mean([len(wins[k][0]) for k in train_ids]))
            linalg = self.linalg
            it_cfg = self._iterative_config()
            seed0 = seed if it_cfg.seed is None else it_cfg.seed
            diagnostics = {"step": 0, "last": None}

            def window_loss(k, log_f, training):
                if self.solver == "deepwas":
                    from ..likelihood import window_gain
                    f = torch.exp(log_f.to(dtype))
                    info = []
                    cfg = dataclasses.replace(it_cfg, seed=seed0 + diagnostics["step"])
                    gain = window_gain(stats, k, f, linalg=linalg if training else "cholesky",
                                       sigma2=sigma2, config=cfg, info=info)
                    if training:
                        diagnostics["step"] += 1
                        diagnostics["last"] = info[-1]
                    return -gain / mean_core
                f = torch.exp(log_f.float())
                return blocks.loss(k, f, sigma2, ldsr_h2, M) / mean_core

            lr = DEFAULT_LR.get(name, 1e-3) if self.lr == "auto" else float(self.lr)
            self.lr_ = lr
            net = self._make_net(prior, window_loss, train_ids, valid_ids, lr, seed, device)
            net.diagnostics = diagnostics
            module = net.module
            module.fetch = fetch
            tmp = None
            try:
                if net._cp is not None and net._cp.dirname == "":
                    tmp = tempfile.TemporaryDirectory(prefix="deepwas-ckpt-")
                    net._cp.dirname = tmp.name
                with warnings.catch_warnings():
                    # the first scheduler step precedes the first (accumulated) optimizer step
                    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
                    net.fit(WindowDataset(train_ids), y=None)
                if net._cp is not None and len(valid_ids):
                    net.load_params(checkpoint=net._cp)
            finally:
                module.fetch = None
                if tmp is not None:
                    tmp.cleanup()
                if blocks is not None:
                    blocks.free()
                if cache is not None:
                    cache.clear()

        prior = net.module_.prior.to("cpu").eval()
        n_trained = count_parameters(prior)  # before freezing: what the fit trained
        for p in prior.parameters():
            p.requires_grad_(False)
        self.prior_ = prior
        self.func_mean_, self.func_scale_ = fm, fsd
        self.pred_mean_, self.pred_scale_ = pm, psd
        self.n_func_, self.width_, self.n_pred_ = sizes
        self.alpha_ = float(prior.alpha)
        self.train_chromosomes_ = sorted(set(groups[train_ids]), key=_chrom_key)
        self.valid_chromosomes_ = sorted(set(valid_chroms), key=_chrom_key)
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        self.n_steps_ = int(getattr(net, "n_optimizer_steps_", 0))
        self.n_parameters_ = n_trained
        return self

    @staticmethod
    def _log_sum_pq(prior, freq_t, M):
        """log sum_m (p(1-p))^alpha over the training variants (log M without frequencies)."""
        if freq_t is None:
            return math.log(M)
        with torch.no_grad():
            lpq = prior.log_freq_term(freq_t.double()) * float(prior.alpha)
            return float(torch.logsumexp(lpq, 0))

    def _init_windows(self, train_ids):
        ids = np.asarray(train_ids)
        if len(ids) > self.init_windows:
            ids = ids[np.linspace(0, len(ids) - 1, self.init_windows).round().astype(int)]
        return ids

    def _constant_prior_loglik(self, stats, ids, prior, fetch, dtype, log_pq_sum):
        """Callable (log h2, sigma2, with_null) -> log-likelihood of a constant prior on ``ids``."""
        from ..likelihood import null_loglik, window_gain

        base = []
        for k in ids:
            _, _, fq, n = fetch(int(k))
            lpq = (torch.zeros(n, dtype=torch.float64) if fq is None
                   else prior.log_freq_term(fq.double()).cpu() * float(prior.alpha))
            base.append((lpq - log_pq_sum).to(device=prior.alpha.device))

        def loglik(log_h2, sigma2, with_null):
            total = 0.0
            for k, b in zip(ids, base):
                f = torch.exp(b + log_h2).to(dtype)
                total += float(window_gain(stats, int(k), f, linalg="cholesky", sigma2=sigma2))
                if with_null:
                    total += null_loglik(stats.window_tensors(int(k)), sigma2 / stats.n)
            return total

        return loglik

    def _initial_h2(self, stats, train_ids, prior, fetch, sigma2, dtype, log_pq_sum):
        """h2 at which training starts (see ``h2_init``)."""
        if self.h2_init != "auto":
            return float(self.h2_init)
        if self.solver == "ldsr":
            return float(np.clip(self.ldsr_h2_, 1e-5, 1.0))
        from scipy.optimize import minimize_scalar

        ids = self._init_windows(train_ids)
        with torch.no_grad():
            loglik = self._constant_prior_loglik(stats, ids, prior, fetch, dtype, log_pq_sum)
            res = minimize_scalar(lambda x: -loglik(x, sigma2, False), bounds=(math.log(1e-5), 0.0),
                                  method="bounded", options={"xatol": 0.05})
        return float(math.exp(res.x))

    def _estimate_sigma2(self, stats, train_ids, prior, fetch, dtype, log_pq_sum):
        """Maximum-likelihood (h2, sigma2) of a constant prior on the init windows."""
        from scipy.optimize import minimize

        ids = self._init_windows(train_ids)
        with torch.no_grad():
            loglik = self._constant_prior_loglik(stats, ids, prior, fetch, dtype, log_pq_sum)

            def neg(x):  # x = (log h2, logit sigma2), both unconstrained
                s2 = 1.0 / (1.0 + math.exp(-x[1]))
                return -loglik(min(x[0], 0.0), max(s2, 1e-4), True)

            res = minimize(neg, x0=np.array([math.log(0.1), 2.0]), method="Nelder-Mead",
                           options={"xatol": 0.02, "fatol": 1e-3, "maxfev": 200})
        return float(math.exp(min(res.x[0], 0.0))), float(max(1.0 / (1.0 + math.exp(-res.x[1])), 1e-4))

    def _make_net(self, prior, window_loss, train_ids, valid_ids, lr, seed, device):
        from skorch.callbacks import (Checkpoint, EarlyStopping, GradientNormClipping, LRScheduler,
                                      ProgressBar)
        from skorch.helper import predefined_split

        acc = int(self.accumulate)
        planned = -(-len(train_ids) // acc) * int(self.max_epochs)
        warm = min(int(self.warmup_steps), planned // 2)
        self.warmup_steps_ = warm

        def warmup(batch_idx):  # called once per window; the lr changes once per optimizer step
            return 1.0 if warm == 0 else min(1.0, (batch_idx // acc + 1) / warm)

        callbacks = [("warmup", LRScheduler(policy=torch.optim.lr_scheduler.LambdaLR,
                                            lr_lambda=warmup, step_every="batch"))]
        if self.grad_clip is not None:
            callbacks.append(("clip", GradientNormClipping(gradient_clip_value=float(self.grad_clip))))
        cp = None
        if len(valid_ids):
            cp = Checkpoint(monitor="valid_loss_best", dirname=self.checkpoint_dir or "",
                            f_optimizer=None, f_criterion=None, f_history=None)
            callbacks.append(("checkpoint", cp))
            if self.patience is not None:
                # threshold_mode="rel" misjudges improvement when the loss is negative (our
                # -gain usually is): an absolute threshold of 0 means "any decrease"
                callbacks.append(("early_stopping", EarlyStopping(
                    monitor="valid_loss", patience=int(self.patience), threshold=0.0,
                    threshold_mode="abs")))
        elif self.checkpoint_dir is not None:
            cp = Checkpoint(monitor="train_loss_best", dirname=self.checkpoint_dir,
                            f_optimizer=None, f_criterion=None, f_history=None)
            callbacks.append(("checkpoint", cp))
        if self.verbose:
            callbacks.append(("progress", ProgressBar()))
        no_decay = [("*intercept", {"weight_decay": 0.0}), ("*alpha", {"weight_decay": 0.0}),
                    ("*bias", {"weight_decay": 0.0})]
        gen = torch.Generator().manual_seed(seed)
        net = WindowNet(
            module=WindowModule(prior), criterion=torch.nn.Identity,
            optimizer=torch.optim.AdamW, lr=lr,
            optimizer__weight_decay=float(self.weight_decay), optimizer__param_groups=no_decay,
            max_epochs=int(self.max_epochs), batch_size=1,
            iterator_train__collate_fn=collate_window, iterator_train__shuffle=True,
            iterator_train__generator=gen, iterator_valid__collate_fn=collate_window,
            train_split=predefined_split(WindowDataset(valid_ids)) if len(valid_ids) else None,
            callbacks=callbacks, device=str(device), verbose=int(self.verbose),
            accumulate=acc, window_loss=window_loss)
        net._cp = cp
        return net

    # ------------------------------------------------------------------ predict / score
    def predict_f(self, X, *, features=None, freq=None):
        """Prior variances f of variants.

        Parameters
        ----------
        X : SummaryStats, pandas.DataFrame or Features
            * ``SummaryStats``: f of ``X.variants`` (features and frequencies from ``X``);
            * ``DataFrame``: a variant table (columns ``freq`` and whatever ``features``
              needs, e.g. ``chrom``, ``pos``, ``row``) for variants with or without LD;
              ``features`` is a :class:`~deepwas.features.base.FeatureProvider` (queried
              with the table) or :class:`~deepwas.features.base.Features` aligned row by row;
            * ``Features``: feature arrays; pass ``freq`` (array) for the frequency term.
        features : FeatureProvider or Features, optional
            With a DataFrame ``X``.
        freq : array-like, optional
            Allele frequencies, with ``X`` a Features object (or to override a table's).

        Returns
        -------
        ndarray, shape (n_variants,)
            float64, aligned with the variants of ``X``.
        """
        check_is_fitted(self, "prior_")
        sizes = (self.n_func_, self.width_, self.n_pred_)
        uses = bool(sizes[0] or sizes[2])
        if _is_stats(X):
            v = X.variants
            n = len(v)
            fq = _freq_array(v["freq"].to_numpy() if freq is None else freq, n, "predict_f")
            if uses and X.features is None:
                raise ValueError("this prior needs features but the SummaryStats has none")
            get = (lambda idx: X.get_features(idx)) if uses else (lambda idx: None)
        elif isinstance(X, pd.DataFrame):
            n = len(X)
            src = X["freq"].to_numpy() if (freq is None and "freq" in X) else freq
            fq = _freq_array(src, n, "predict_f") if src is not None else None
            if uses:
                if isinstance(features, FeatureProvider):
                    table = X.reset_index(drop=True)
                    get = lambda idx: features.get(table.iloc[idx].reset_index(drop=True))  # noqa: E731
                elif isinstance(features, Features):
                    if len(features) != n:
                        raise ValueError(f"features have {len(features)} rows, the table {n}")
                    get = lambda idx: _slice_features(features, idx)  # noqa: E731
                else:
                    raise ValueError("with a variant table, pass features= (a FeatureProvider or Features)")
            else:
                get = lambda idx: None  # noqa: E731
        elif isinstance(X, Features):
            n = len(X)
            if n == 0 and freq is not None:
                n = len(np.asarray(freq))
            fq = _freq_array(freq, n, "predict_f") if freq is not None else None
            get = lambda idx: _slice_features(X, idx)  # noqa: E731
        else:
            raise TypeError("predict_f takes a SummaryStats, a variant DataFrame (+ features=) or "
                            f"Features (+ freq=), got {type(X).__name__}")
        if fq is None and float(self.alpha_) != 0.0 and not _is_stats(X):
            warnings.warn("no allele frequencies given: f leaves out the (p(1-p))^alpha term",
                          RuntimeWarning, stacklevel=2)
        self._check_feature_sizes(get, n, sizes)
        out = np.empty(n, dtype=np.float64)
        prior = self.prior_
        chunk = 1024 if sizes[0] else _PREDICT_CHUNK      # tracks: bound activation memory
        with torch.no_grad():
            for lo in range(0, n, chunk):
                idx = np.arange(lo, min(n, lo + chunk))
                func, pred = self._features_to_tensors(get(idx), sizes, "cpu")
                fr = None if fq is None else torch.as_tensor(fq[idx], dtype=torch.float32)
                out[idx] = torch.exp(prior(func, pred, fr, n=len(idx)).double()).numpy()
        return out

    def _check_feature_sizes(self, get, n, sizes):
        if n == 0 or not (sizes[0] or sizes[2]):
            return
        f = get(np.arange(min(n, 1)))
        if sizes[0]:
            got = None if f.func is None else tuple(f.func.shape[1:])
            if got != (sizes[0], sizes[1]):
                raise ValueError(f"features have tracks of shape {got}, the prior was fitted on "
                                 f"{(sizes[0], sizes[1])} (d_func, width)")
        if sizes[2]:
            got = None if f.pred is None else f.pred.shape[1]
            if got != sizes[2]:
                raise ValueError(f"features have {got} scalar predictors, the prior was fitted on {sizes[2]}")

    def score(self, stats, y=None):
        """Held-out log-likelihood gain over the null model, in nats per person.

        ``sum_i gain_i / N`` over the windows of ``stats`` with the exact (Cholesky) likelihood,
        whatever the training solver. ``likelihood_increase_percent(score)`` gives the paper's
        "% likelihood increase per person".

        Parameters
        ----------
        stats : deepwas.SummaryStats
        y : None
            Ignored.

        Returns
        -------
        float
        """
        check_is_fitted(self, "prior_")
        stats = _check_stats(stats, "score")
        from ..likelihood import marginal_loglik

        f = self.predict_f(stats)
        sigma2 = None if self.sigma2 is None else self.sigma2_
        gain = marginal_loglik(stats, f, relative_to_null=True, linalg="cholesky", sigma2=sigma2)
        return float(gain) / float(stats.n)

    def h2(self, stats):
        """Heritability the fitted prior attributes to ``stats.variants``: ``sum_m f_m``."""
        return float(self.predict_f(stats).sum())


def _slice_features(feats, idx):
    return Features(func=None if feats.func is None else feats.func[idx],
                    pred=None if feats.pred is None else feats.pred[idx],
                    func_names=feats.func_names, pred_names=feats.pred_names)


def _chrom_key(c):
    c = str(c)
    return (0, int(c), "") if c.isdigit() else (1, 0, c)
