"""FunctionalPrior: learn a functional prior f_theta from summary statistics (scikit-learn API).

The estimator's face: parameters (checked by :mod:`._params`), ``fit`` (carried out by
:func:`._fitting.fit_prior`), ``predict_f`` and ``score``.
"""
from __future__ import annotations

import warnings

from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..fitting._features import (check_feature_sizes, check_stats, is_stats, predict_f_chunked,
                                 prediction_inputs)
from ..likelihood import likelihood_increase_percent  # noqa: F401  (public here too)
from ._fitting import DEFAULT_LR, fit_prior
from ._genetics import GeneticsMixin
from ._panel_correction import PanelCorrectionMixin, panel_corrected, panel_plan
from ._params import iterative_config, resolve_optimizer, validate_params

__all__ = ["FunctionalPrior", "likelihood_increase_percent", "DEFAULT_LR"]


class FunctionalPrior(GeneticsMixin, PanelCorrectionMixin, BaseEstimator):
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
        Linear algebra of the deepwas objective in AdamW training (passed to
        :func:`deepwas.likelihood.window_gain`). L-BFGS and :meth:`score` always use
        "cholesky".
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
        ``{"dim": 128, "depth": 2}`` for the transformer (default size "tiny",
        :data:`deepwas.priors.DEFAULT_SIZE`). The
        transformer is residual by default (``"residual": True``): ``log f`` is a GLM plus
        the transformer, whose output layer starts at 0; ``fit`` first fits the GLM part by
        L-BFGS exactly as ``model="glm"`` would (same start and ridge), freezes it, and trains
        the transformer part by AdamW, which so starts at the GLM and can only add to it.
        With validation windows the transformer part is kept only if it raises the exact
        log-likelihood of the validation windows by more than 3 nats (``flexible_kept_``,
        ``flexible_gain_``); otherwise the prior is the GLM, refitted on all the training
        windows. A kept transformer part has the GLM part refitted under it the same way (the
        transformer part frozen), so that the linear part is fitted on as many windows as
        ``model="glm"``'s. ``{"residual": False}``: the transformer alone, trained from its
        initialisation. ``{"members": k}`` (residual only; default 1): the transformer part
        is the mean of ``k`` transformers (:class:`deepwas.priors.MemberMean`), trained one
        after the other on the frozen GLM part, each from its own initialisation, with its
        own seed and early stopping, and each kept only if alone on the GLM part it raises
        the validation log-likelihood by more than 3 nats; a dropped member counts as 0 in
        the mean (``members_``). About ``k`` times the transformer part's training time
        (docs: "Benchmarks", the transformer against the GLM); AdamW only
        (``optimizer="lbfgs"`` with ``members`` > 1 is an error).
    alpha : float, default=0.7
        Exponent of the frequency term (paper default).
    learn_alpha : bool, default=False
        Learn alpha along with the network.
    sigma2 : None, float or "estimate", default=None
        Residual variance of the standardised phenotype. None: ``stats.sigma2`` of the data
        given to ``fit`` (and to ``score``); a number in (0, 2]: that value (above 1: noise
        inflated beyond the phenotype's variance, e.g. an LDSC intercept); "estimate": the
        intercept of an LD score regression of ``N beta_hat^2`` on LD scores over the training
        windows' core variants (``E[N beta_hat^2] = N h2 l / M + sigma^2``), clipped to
        [0.01, 2]. The value used is ``sigma2_``.
    h2_init : "auto" or float, default="auto"
        Where the intercept starts: ``f`` summing to ``h2_init`` over the training variants.
        "auto": for solver="deepwas", the h2 maximising the exact likelihood of a constant
        prior (bounded scalar search over
        [1e-5, 1] to 0.1 % of h2) on the ``init_windows`` training windows; for
        solver="ldsr", the LD score regression h2. ``f`` sums to the initial h2 over the
        training variants (validation windows excluded).
    init_windows : int or None, default=None
        Windows used by the "auto" initialisation: all training windows (None), or this many
        spread evenly over the genome (faster on a genome-scale data set).
    ldsr_h2 : "auto" or float, default="auto"
        Ballpark h2 in the LDSR weights; "auto" uses the LD score regression estimate
        (clipped to [1e-3, 1]).
    optimizer : {"auto", "lbfgs", "adamw"}, default="auto"
        "lbfgs": full-batch L-BFGS on the exact likelihood of all training windows (float64
        Cholesky), run until every gradient component of the mean window loss is below
        ``tol`` -- the maximum-likelihood fit. "adamw": the paper's stochastic training, one
        window per item, ``accumulate`` windows per step. "auto": "lbfgs" for the constant and
        GLM models and for custom networks of at most 1,000 parameters, "adamw" otherwise.
        The value used is ``optimizer_``.
    tol : float, default=1e-5
        L-BFGS: gradient tolerance (nats per core variant, per unit of each parameter).
        AdamW: the training loss must fall by more than ``tol`` within ``n_iter_no_change``
        epochs, or training stops (after ``min_steps`` optimizer steps).
    max_iter : int, default=500
        L-BFGS iteration cap; stopping there raises a ``ConvergenceWarning``.
    lr : "auto" or float, default="auto"
        AdamW learning rate; "auto": for the transformer by size (:data:`TRANSFORMER_LR`:
        3e-3 tiny, 1e-3 small, the paper's 1e-4 for its size), 1e-3 otherwise.
    weight_decay : float, default=0.01
        AdamW weight decay (AdamW's default); not applied to intercepts, biases and alpha.
        L-BFGS uses ``ridge`` instead.
    ridge : "auto" or float, default="auto"
        L-BFGS: a penalty ``ridge / 2 * sum_j w_j^2`` in nats on the network's weights (not
        the intercept, not alpha), a N(0, 1 / ridge) prior on each. It keeps a GLM fitted on
        few variants off the bound of log f (most f ~ 1e-13, h2 on a handful), and is
        negligible next to the likelihood of thousands of variants. "auto": 1 for a GLM
        with the exp or softplus link and solver="deepwas"; 0 for the identity link (S-LDSC's
        tau), LDSR and other networks. The value used is ``ridge_``. AdamW fits refuse a
        non-zero value (they use weight_decay). Docs: "The method".
    max_epochs : "auto" or int, default="auto"
        AdamW passes over the training windows. "auto": enough for ``min_steps`` optimizer
        steps, at least 10 (the paper's; 50 when early stopping on validation windows ends
        the fit, where the budget is only a safeguard) and at most 1,000; ``max_epochs_`` is
        the number planned. Training stops earlier once the loss has stopped falling; ending
        at ``max_epochs`` while it still falls raises a ``ConvergenceWarning``.
    min_steps : int, default=200
        AdamW optimizer steps taken before the plateau check may stop training.
    n_iter_no_change : int, default=5
        AdamW epochs without a fall of the training loss by ``tol`` that count as a plateau.
    warmup_steps : int, default=100
        Linear learning-rate warm-up, in optimizer steps (paper: 100, ~4 % of its run). It is
        capped at half an epoch's steps (early stopping counts epochs: it must not judge a
        network still warming up) and at half of the planned steps; the value used is
        ``warmup_steps_``.
    accumulate : "auto" or int, default="auto"
        Windows whose gradients are summed per optimizer step. "auto": the paper's 12 when the
        training windows give at least 10 steps per epoch, fewer otherwise (at least 1; the
        ~9 training windows of a demo fold take one per step). The value used is
        ``accumulate_`` (None after L-BFGS).
    window_order : {"shuffled", "contiguous"}, default="shuffled"
        AdamW: how windows form optimizer steps. "shuffled": all training windows in a new
        random order each epoch, ``accumulate`` at a time. "contiguous": ``accumulate``
        consecutive windows of one chromosome per step (the last group of a chromosome may be
        smaller), the order of these groups drawn anew each epoch (the paper's loader also
        read consecutive windows). Their extended sets overlap (an extended set is ~3x its
        core), so the prior is evaluated once on the union of the step's extended sets and
        each window's log f is sliced from it -- the same gradient as evaluating each window
        alone (dropout aside: a variant draws one mask per step), for ~2.5x fewer network
        evaluations with ``accumulate=12`` (``history_[:, "prior_evaluations"]`` counts the
        variants passed through the prior per epoch). With ``chunk_size`` the union is
        evaluated in chunks. With thinned cores (``ld_regularisation="thinned"``), whose
        extended set is their whole LD block, "shuffled" steps take ``accumulate`` cores of
        one block (groups of a block's cores, their order drawn anew each epoch), so the
        prior runs once a step on the block instead of once a core. L-BFGS (full-batch)
        ignores it.
    grad_clip : float or None, default=0.2
        Maximum gradient norm per optimizer step (paper: 0.2).
    validation : "auto", None, float, str or list of str, default="auto"
        Validation windows held out from training by chromosome: a fraction of the training
        chromosomes (at least one chromosome each side, drawn with ``random_state``), one
        chromosome label (``"22"``) or a list of labels. The best epoch by validation loss is
        restored at the end (checkpointing). "auto": 20 % of the chromosomes (at least one)
        for the transformer when the data have at least 3 chromosomes, none otherwise (with
        fewer, the transformer stops on its training-loss plateau or budget).
    patience : "auto", int or None, default="auto"
        Early stopping after this many epochs without validation improvement (needs
        ``validation``). "auto": 3 when there are validation windows, none otherwise.
    checkpoint_dir : str or None, default=None
        Folder under which each fit keeps its files in a subfolder of its own,
        ``checkpoint_path_``, named by a fingerprint of the training data and of the
        parameters that shape the result (all but ``checkpoint_dir``, ``checkpoint_every``,
        ``chunk_size``, ``device`` and ``verbose``; ``random_state`` through the seed it
        gives), so cross-validation folds and grid-search candidates never share or restore
        each other's files. There AdamW writes its best parameters (skorch's Checkpoint) and,
        every ``checkpoint_every`` optimizer steps, atomically, the state to resume from
        (``resume.pt``: prior, optimizer, warm-up step, random generators, epoch and position
        within it, history); running the same fit again with the same folder resumes from it
        and ends where an uninterrupted fit ends. It is removed when the fit completes. A
        state whose fingerprint differs from the fit's is refused (``ValueError``); a folder
        that cannot be written is an error before training. With None, a temporary folder
        removed after the fit (used only with ``validation``). Resuming needs an integer
        ``random_state``: with None each run draws new seeds and so starts afresh.
    checkpoint_every : int, default=100
        AdamW optimizer steps between two resume states (with ``checkpoint_dir``).
    chunk_size : None, int or "auto", default=None
        Variants per evaluation of the prior. None: a window's extended set at once. An int:
        windows of more variants are evaluated in chunks of this many, first without a graph;
        the loss and its gradient with respect to log f are computed on the whole window,
        then each chunk is evaluated again with a graph and back-propagated with its slice of
        that gradient -- the same gradient as one pass (dropout draws the same masks in both
        evaluations of a chunk), with the memory of the prior's graph and of the features
        read bounded by the chunk (features are read per chunk unless all windows' features
        fit in memory). Costs one more forward pass of the prior per window. "auto": a budget
        (1 GiB on CPU, a quarter of the free device memory on CUDA) divided by the prior's
        graph and feature bytes per variant, measured at the start of the fit
        (:mod:`deepwas.fitting._chunking`). Validation windows are evaluated in chunks too.
    mixed_precision : None or "bf16", default=None
        "bf16": AdamW training evaluates the prior under ``torch.autocast`` in bfloat16 (its
        matrix products and convolutions; parameters, gradients and optimizer state stay
        float32) and passes log f to the likelihood in float32 or wider. For large networks
        on GPUs with bfloat16 units; predictions after the fit are float32. Not with L-BFGS.
    dtype : {"float32", "float64"}, default="float32"
        Precision of the likelihood during training (the network runs in float32).
    device : str, default="cpu"
        Under ``torchrun`` (a distributed fit) "cuda" means each process's own GPU,
        ``cuda:LOCAL_RANK``.
    panel_correction : {"auto", "simex", "none"}, default="auto"
        Correction of the sampling noise of a reference panel's LD. "simex": after the fit
        on the panel's LD, the prior is refitted on two pseudo-panels whose LD carries the
        panel's noise once more (``pseudo_panels``, :meth:`SummaryStats.with_pseudo_panel`)
        and its parameters are extrapolated linearly in the noise variance to a noise-free
        panel (simulation-extrapolation, :mod:`deepwas.estimators._panel_correction`): three
        fits instead of one. Only for the
        constant and GLM priors (exp link), on thinned cores (LD score regression: any
        windows but ``ld_regularisation="none"``) of a panel of known size (its genotypes,
        ``from_plink``, or its LD matrix with ``n_ref=``, pseudo-people then drawn block by
        block). An extrapolation whose h2 is more than a factor 2
        from the fits' h2 extrapolated (a fit at a bound of its coefficients) is not applied:
        the fit on the panel's LD is kept, with a warning; a jackknife leave-out that fails
        the same rule makes ``partitioned_h2``'s SEs NaN, with a warning.
        "auto": "simex" when it
        applies, the panel
        has fewer than a tenth of the GWAS's N people (no in-sample LD is that small) and the
        panel fit's signal per LD block, ``N h2_B / n``, averages 0.5 or more (below, as in a
        real genome's typical block, thinned cores are unbiased without it and the
        extrapolation over-corrects; ``panel_signal_``); with ``solver="ldsr"`` only for a
        panel of 150-299 people and a signal of 1 or more (it takes LD score regression's
        enrichment from 5-9 % low to within 2.1 % with 150 and 200 people, at an enrichment
        RMSE 7-11 % larger; with 500 people the attenuation is under 0.5 % and the
        correction only adds spread, with 100 it over-corrects h2 by 5 points, and at weaker
        signal its jackknife's extrapolations run off); "none" otherwise. The realistic
        design of docs "LD from a reference panel" chose it. What it leaves: the linear
        extrapolation falls short where the attenuation flattens with the noise, and with a
        panel of 150 people at strong signal (h2 0.2 over 12 loci) an annotation's
        enrichment still comes out 10-16 % low (20 panels, 45 replicates; with 200 and 500
        people within two SEs of 5 %); use the largest panel you can. LD declared in-sample
        (``SummaryStats(..., ld_in_sample=True)``, and simulations drawn through the LD)
        gets "none".
    pseudo_panels : {"auto", "gaussian", "bootstrap"}, default="auto"
        The pseudo-panels of the panel correction. "gaussian": pseudo-people drawn from the
        panel's LD; "bootstrap": the panel's own people drawn with replacement (needs its
        genotypes, ``from_plink``), whose LD carries the noise of strongly linked pairs that
        Gaussian pseudo-people under-state about twofold. "auto": "bootstrap" for a
        genotype panel with ``solver="deepwas"``, "gaussian" otherwise (an LD matrix has no
        people to draw; LD score regression was measured with Gaussian pseudo-panels only).
        On the realistic design of docs "LD from a reference panel" (20 panels, 20 paired
        replicates per cell, h2 0.05 / 0.2) the bootstrap took h2's bias from -4.0 / -4.6 %
        to -1.2 / -0.6 % with 150 people and from -1.7 / -1.5 % to -0.4 / +0.6 % with 200,
        the enrichment's RMSE 0-12 % lower; with 500 people both within noise of each other
        (enrichment RMSE 3-6 % higher, h2 RMSE +16 % / -13 %); fits no slower.
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
    dropped_features_ : dict
        ``{name: reason}`` of the tracks / predictors left out before the fit, with a warning:
        constant over the training variants or, for the GLM, collinear with the features
        before them (:mod:`deepwas.estimators._design`). The prior sees them as 0, so they
        have weight 0 in ``predict_f``, in a saved model and in ``partitioned_h2``.
    ridge_ : float
        The ridge penalty used (``ridge``).
    n_func_, width_, n_pred_ : int
        Feature sizes the prior expects.
    alpha_ : float
        Final frequency exponent.
    train_chromosomes_, valid_chromosomes_ : list of str
    checkpoint_path_ : str or None
        This fit's checkpoint folder (under ``checkpoint_dir``).
    chunk_size_ : int or None
        Variants per evaluation of the prior, as resolved from ``chunk_size``.
    resumed_step_ : int or None
        The optimizer step this fit resumed from (``checkpoint_dir``), None for a fresh fit.
    optimizer_ : str
        "lbfgs" or "adamw", as resolved from ``optimizer``.
    ld_mismatch_ : float
        The LD mismatch variance ``kappa`` (relative to sigma^2/N), estimated with the
        initial h2 by maximum likelihood of the constant prior and fixed in training, when
        the data use ``ld_regularisation="mismatch"`` (:mod:`deepwas.ld_model`); 0 otherwise.
        Scores on such data use it.
    history_ : skorch.History
        One row per epoch (AdamW) or iteration (L-BFGS): ``train_loss`` is the mean loss per
        window, in nats per core variant for deepwas; ``rank_windows`` the training windows
        each process evaluated (one list per rank; AdamW batches also record their
        ``window`` and the ``rank`` that trained it).
    world_size_ : int
        Processes that trained the prior together (1 unless run under ``torchrun``; see the
        docs page "Training on many GPUs"). Every process ends with the same fitted estimator.
    n_iter_ : int
        Epochs (AdamW) or iterations (L-BFGS) run.
    n_steps_ : int
        Optimizer steps taken.
    converged_ : bool
        L-BFGS: reached ``tol`` (or ten times it where a step no longer lowered the loss:
        the optimum to the loss's digits). AdamW: the training loss stopped falling (or early
        stopping on the validation loss ended training). False comes with a
        ``ConvergenceWarning``.
    stopped_on_ : str
        What ended the fit: "tolerance" (L-BFGS reached ``tol``), "plateau" (AdamW's
        training loss stopped falling), "validation" (early stopping, ``patience``) -- each a
        criterion -- "budget" (``max_iter`` or ``max_epochs`` ran out) or "stalled" (L-BFGS:
        a step no longer lowered the loss while the gradient was still more than ten times
        ``tol``).
    flexible_kept_ : bool
        Residual transformer only: False when its transformer part did not raise the
        validation windows' log-likelihood by more than 3 nats over the GLM part's, so the
        prior is that GLM, refitted on the training and validation windows together (True:
        the GLM part is refitted on them under the frozen transformer part).
    flexible_gain_ : float
        Residual transformer only: that gain in nats (NaN without validation windows); with
        ``members`` > 1, the mean's gain when a member was kept, else the best member's.
    members_ : list of dict
        Residual transformer with ``members`` > 1 only: per member, its ``epochs``, ``steps``,
        ``stopped_on``, ``validation_gain`` (nats, alone on the GLM part) and whether it was
        ``kept``. ``history_`` and the schedule attributes are member 0's; ``n_iter_`` and
        ``n_steps_`` count all members', ``stopped_on_`` is "budget" if any member's was.
    glm_n_iter_, glm_converged_ : int, bool
        Residual transformer only: L-BFGS iterations of its GLM part and whether they
        reached ``tol``.
    max_epochs_ : int or None
        AdamW epochs planned (None for L-BFGS).
    n_parameters_ : int
        Trainable parameters of the prior.
    warmup_steps_ : int
        Warm-up steps used (``warmup_steps`` capped at half an epoch's and at half the
        planned optimizer steps; 0 for L-BFGS).
    accumulate_ : int or None
        Windows per AdamW optimizer step (``accumulate`` resolved; None for L-BFGS).
    ldsr_h2_, ldsr_intercept_ : float
        LD score regression h2 and intercept (solver="ldsr"; NaN otherwise).
    panel_correction_ : str
        "simex" or "none", as resolved from ``panel_correction``.
    panel_fits_ : ndarray of shape (3, P) or None
        SIMEX: the P parameters of the prior fitted on the panel's LD (row 0) and on each
        pseudo-panel; ``prior_`` holds their extrapolation. None without a correction.
    panel_seeds_ : list of int
        Seeds of the pseudo-panels (empty without a correction).
    panel_people_ : int or None
        Pseudo-people per pseudo-panel (the panel's size).
    panel_draw_ : str or None
        "gaussian" or "bootstrap": the pseudo-panels' kind, as resolved from
        ``pseudo_panels`` (None without a correction).
    panel_h2_ : ndarray or None
        h2 (``sum f`` over the training variants) of each fit in ``panel_fits_``, then of
        the extrapolated prior.
    panel_signal_ : float
        ``N h2_B / n`` of the fit on the panel's LD, averaged over the LD blocks, where a
        correction could apply (what "auto" decides on); NaN otherwise.

    Examples
    --------
    >>> est = deepwas.GLMPrior(max_epochs=3, random_state=0)          # doctest: +SKIP
    >>> est.fit(stats[stats.groups != "22"]).score(stats[stats.groups == "22"])  # doctest: +SKIP
    """

    def __init__(self, model="constant", solver="deepwas", linalg="auto", *, model_params=None,
                 iterative_options=None, alpha=0.7, learn_alpha=False, sigma2=None,
                 h2_init="auto", init_windows=None, ldsr_h2="auto", optimizer="auto", tol=1e-5,
                 max_iter=500, lr="auto", weight_decay=0.01, ridge="auto", max_epochs="auto",
                 min_steps=200,
                 n_iter_no_change=5, warmup_steps=100, accumulate="auto", window_order="shuffled",
                 grad_clip=0.2,
                 validation="auto", patience="auto", checkpoint_dir=None, checkpoint_every=100,
                 chunk_size=None, mixed_precision=None, dtype="float32", device="cpu",
                 panel_correction="auto", pseudo_panels="auto", verbose=0, random_state=None):
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
        self.optimizer = optimizer
        self.tol = tol
        self.max_iter = max_iter
        self.lr = lr
        self.weight_decay = weight_decay
        self.ridge = ridge
        self.max_epochs = max_epochs
        self.min_steps = min_steps
        self.n_iter_no_change = n_iter_no_change
        self.warmup_steps = warmup_steps
        self.accumulate = accumulate
        self.window_order = window_order
        self.grad_clip = grad_clip
        self.validation = validation
        self.patience = patience
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = checkpoint_every
        self.chunk_size = chunk_size
        self.mixed_precision = mixed_precision
        self.dtype = dtype
        self.device = device
        self.panel_correction = panel_correction
        self.pseudo_panels = pseudo_panels
        self.verbose = verbose
        self.random_state = random_state

    # ------------------------------------------------------------------ validation
    def _iterative_config(self):
        return iterative_config(self.iterative_options)

    def _model_name(self):
        return self.model if isinstance(self.model, str) else "custom"

    def _resolved_optimizer(self, n_parameters=None):
        return resolve_optimizer(self.optimizer, self._model_name(), n_parameters)

    def _uses_randomness(self):
        """Whether a fit draws random numbers (so ``random_state`` changes its result)."""
        fraction = (self.validation is not None
                    and not isinstance(self.validation, (str, list, tuple)))
        return (self._model_name() not in ("constant", "glm") or fraction
                or self._resolved_optimizer() == "adamw")

    def _validate_params(self):
        validate_params(self.get_params(deep=False))
        self._iterative_config()  # raises ValueError on unknown or invalid settings
        if self.patience not in (None, "auto") and self.validation is None:
            raise ValueError("patience (early stopping) needs a validation split: set validation=")

    # ------------------------------------------------------------------ fit
    def fit(self, stats, y=None):
        """Learn the prior from the windows of ``stats``.

        Fitted attributes are set only when the fit succeeds: a fit that raises leaves the
        estimator as it was.

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
        stats = check_stats(stats, "fit")
        plan = panel_plan(self, stats)
        for name, value in panel_corrected(self, stats, fit_prior(self, stats), plan).items():
            setattr(self, name, value)
        return self

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
        n, fq, get = prediction_inputs(X, features, freq, bool(sizes[0] or sizes[2]))
        if fq is None and float(self.alpha_) != 0.0 and not is_stats(X):
            warnings.warn("no allele frequencies given: f leaves out the (p(1-p))^alpha term",
                          RuntimeWarning, stacklevel=2)
        check_feature_sizes(get, n, sizes)
        return predict_f_chunked(self.prior_, get, n, fq, sizes)

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
        return float(self.gain(stats)) / float(stats.n)
