"""Partitioned heritability and enrichment of a fitted prior, in S-LDSC's ``.results`` layout.

For annotations ``a_mc`` over the ``M`` variants (core variants of the windows that the
annotations cover) and the fitted prior variances ``f_m`` (S-LDSC, Finucane et al. 2015)::

    h2     = sum_m f_m               h2_c = sum_m a_mc f_m      M_c = sum_m a_mc
    Prop._SNPs = M_c / M             Prop._h2 = h2_c / h2       Enrichment = Prop._h2 / Prop._SNPs
    diff_c = h2_c / M_c - (h2 - h2_c) / (M - M_c)          (Enrichment_p: two-sided t, df = blocks)
    Coefficient tau = least squares of f on the annotations (plus an all-ones column when none
                      is constant): with the identity link and the annotations as features,
                      exactly the GLM's weights, i.e. S-LDSC's tau. An annotation collinear
                      with those before it (:mod:`deepwas.utils.collinearity`), or a second
                      constant one, has no identified tau: NaN, with a warning
    tau_star = tau_c sd(a_c) M / h2    (Gazal et al. 2017; sd over the M variants)

Standard errors: block jackknife over contiguous blocks of windows, or of variants when there
are fewer windows than blocks (:mod:`deepwas.jackknife`);
each statistic is recomputed with the leave-one-block-out parameters on all ``M`` variants
(as S-LDSC recomputes ``h2_c = sum_k tau_k O_ck`` with the full ``O``), and the table reports
the full-data estimate with the pseudovalue standard error.

Model-derived rows: every statistic here is a function of the fitted ``f``. For an annotation
that is one of the model's features (or constant, the intercept's ``base``) the jackknife SE
carries the data's uncertainty about its own coefficient. For any other annotation the row
only reads off how the model's features put ``f`` on it: ``Enrichment_p`` then tests the
fitted ``f`` (e.g. its frequency term), not whether the annotation matters in the data. Such
rows have ``model_derived`` True (an annotation is a model feature when it is constant or
perfectly correlated with one of the scalar predictors the model kept); whether they add
signal beyond the model is what :meth:`deepwas.FunctionalPrior.score_test` tests.

Bad input: variants the annotations do not cover (or cover with NaN) are counted, reported in
a ``UserWarning`` and in ``attrs``, and left out of every sum (never zero-filled); an all-zero
annotation has no enrichment (NaN, with a warning); a constant non-zero annotation has
Enrichment 1 by construction and no test (``Enrichment_p`` NaN, with a warning), like
S-LDSC's ``base`` row. An annotation whose variants, or the rest, the fit left with no h2
(:data:`BOUND_ENRICHMENT`) has no standard errors (NaN, with a warning): every leave-out fit
sits at the same bound, and the jackknife would read that as certainty.
"""
from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import torch
from scipy import stats as sps

from .annotation_table import align_annotations, read_annotations
from .fitting._features import features_to_tensors, freq_array
from .jackknife import (JACKKNIFE_METHODS, jackknife_cov, leave_out_priors, plan_blocks,
                        refit_from_newton)
from .utils.collinearity import redundant_columns

log = logging.getLogger(__name__)

__all__ = ["partitioned_h2", "read_annotations", "RESULTS_COLUMNS", "BOUND_ENRICHMENT"]

#: S-LDSC's ``.results`` columns, in its order
RESULTS_COLUMNS = ["Category", "Prop._SNPs", "Prop._h2", "Prop._h2_std_error", "Enrichment",
                   "Enrichment_std_error", "Enrichment_p", "Coefficient",
                   "Coefficient_std_error", "Coefficient_z-score"]


#: an annotation (values in [0, 1]) whose variants, or whose complement's, get less than this
#: share of h2 per variant relative to the rest is at the bound of the prior's link (f of
#: one side ~ 0): LD score regression's unpenalised GLM ran there on 14 of 388 fits of the
#: reference-panel study, with a jackknife SE of ~0 and Enrichment_p ~1e-5 for a true
#: enrichment of 2.1 (it reported 4.94, the most a 20 % annotation can have)
BOUND_ENRICHMENT = 1e-3


def _auto_jackknife(est):
    """What ``jackknife="auto"`` takes for ``est`` (docs "Standard errors").

    "pseudo" for the constant and GLM priors of the likelihood; "refit" for LD score
    regression's, at any number of blocks: its objective is a squared loss in
    ``f = exp(X theta)``, far from quadratic over the leave-out step of a block that holds
    strong associations, and one Newton step fell short there. On 12 msprime loci (one block
    each, 500-person panel, h2 0.2, 40 replicates) the enrichment's SE was 0.68 of the
    estimates' spread (coverage 82.5 %) against 0.98 (95 %) solved; on 160 blocks of 50 kb
    (the demo's chromosomes 1-8, network truth) the Newton steps of the 4 blocks with
    chi^2 up to 3,600 were a third to two thirds of the solved leave-outs, and h2's SE came out
    0.0095 against 0.0149, the enrichment's 0.17 against 0.35: not a matter of few blocks.
    The likelihood's steps agreed with its solved leave-outs on both (160 blocks: h2 SE
    0.00262 both; solving took 34 times as long).
    "none" for a neural prior (its Hessian is out of reach, "refit" costs a fit per block).
    LD score regression with more than :data:`~deepwas.jackknife.REFIT_NEWTON_MAX_PARAMS`
    parameters (a GLM of the baseline-LD model's 97 annotations) takes "pseudo" too, with
    the SEs it may under-state at blocks of strong association: its leave-outs would be
    solved by ``n_blocks`` warm-started L-BFGS fits (200 by default). Nor did the
    quasi-Newton iterations from the Newton step help there: for an 83-parameter GLM (two
    annotations of the S-LDSC test data and 80 random ones, 15,831 variants, exp link,
    ridge 1) the first block's did not converge and fell to L-BFGS.
    """
    if est._model_name() not in ("constant", "glm"):
        return "none"
    if est.solver != "ldsr":
        return "pseudo"
    if not refit_from_newton(est.prior_):
        log.info("jackknife='auto': 'pseudo' for this LD score regression prior, too large "
                 "for the quasi-Newton leave-outs (solving them would take one fit per block)")
        return "pseudo"
    return "refit"


def _f_function(est, stats, rows):
    """``f(prior)``: prior variances of ``stats.variants`` rows ``rows`` in float64."""
    sizes = (est.n_func_, est.width_, est.n_pred_)
    freq = freq_array(stats.variants["freq"].to_numpy(), stats.n_variants, "partitioned_h2")
    chunks = []
    for lo in range(0, len(rows), 8192):
        idx = rows[lo:lo + 8192]
        feats = stats.get_features(idx) if (sizes[0] or sizes[2]) else None
        func, pred = features_to_tensors(feats, sizes, "cpu")
        fq = None if freq is None else torch.as_tensor(freq[idx], dtype=torch.float64)
        chunks.append((func, pred, fq, len(idx)))

    def f_of(prior):
        with torch.no_grad():
            return np.concatenate([torch.exp(prior(*c[:3], n=c[3]).double()).numpy()
                                   for c in chunks])
    return f_of


class _Stats:
    """All statistics of one f as one flat vector (so one jackknife covers them all)."""

    def __init__(self, A, names):
        self.A = A
        self.M = A.shape[0]
        self.Mc = A.sum(0)
        self.sd = A.std(0)
        self.C = A.shape[1]
        # tau: least squares on the annotations that are identified; the first constant
        # non-zero one (S-LDSC's base) is the intercept, else an all-ones column is added
        mean = A.mean(0)
        drop = redundant_columns(mean, np.atleast_2d(np.cov(A.T, bias=True)), names)
        base = next((j for j, why in drop.items() if why == "constant" and mean[j] != 0), None)
        drop.pop(base, None)
        self.unidentified = {names[j]: why for j, why in drop.items() if why != "constant"}
        keep = np.array([j not in drop for j in range(self.C)])
        design = A[:, keep] if base is not None else np.column_stack([A[:, keep],
                                                                     np.ones(self.M)])
        self.pinv = np.full((self.C, self.M), np.nan)
        self.pinv[keep] = np.linalg.pinv(design)[:int(keep.sum())]

    def __call__(self, f):
        h2 = f.sum()
        h2c = self.A.T @ f
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = h2c / self.Mc - (h2 - h2c) / (self.M - self.Mc)
        tau = self.pinv @ f
        return np.concatenate([[h2], h2c / h2, diff, tau, tau * self.sd * self.M / h2])

    def split(self, v):
        C = self.C
        return v[0], v[1:1 + C], v[1 + C:1 + 2 * C], v[1 + 2 * C:1 + 3 * C], v[1 + 3 * C:]


def partitioned_h2(est, stats, annotations=None, n_blocks=200, jackknife="auto"):
    """Heritability, its partition and enrichment per annotation, with jackknife SEs.

    Parameters
    ----------
    est : FunctionalPrior
        Fitted.
    stats : SummaryStats
        The data whose variants (core variants of its windows) the heritability is summed
        over and whose windows form the jackknife blocks -- normally the training data.
    annotations : DataFrame, FeatureProvider, path(s), a list of these, or None
        Binary or continuous annotations, any (not only the model's features): a DataFrame
        with a ``SNP`` column (joined on it) or one row per ``stats.variants`` row; S-LDSC
        ``.annot`` file(s) (``@`` for the chromosome); BED files (``.bed[.gz]``: one 0/1
        column per file, named by the file); a feature provider such as
        :class:`~deepwas.features.BedAnnotations`; several of these in a list, their columns
        side by side (:mod:`deepwas.annotation_table`). None: the model's scalar features, or
        without any, one all-ones annotation ``base`` (the total h2 and its SE).
    n_blocks : int, default=200
        Jackknife blocks (S-LDSC's 200): contiguous runs of windows; with fewer windows (one
        LDGM block is one window), blocks of contiguous variants that split windows, for the
        pseudo-jackknife (warned; :func:`deepwas.jackknife.plan_blocks`), or one block per
        window for "refit", for LD score regression (``solver="ldsr"``, whose chi^2 terms
        inside a window are too dependent to split) and for data cut at ten or more LD blocks
        (``ld_blocks=``: the blocks share no LD; docs "Standard errors").
    jackknife : {"auto", "pseudo", "refit", "none"}, default="auto"
        "pseudo": graphREML's one-Newton-step pseudo-jackknife (a block whose step raises its
        own leave-out loss is refitted instead, docs "Heritability, enrichment, ...");
        "refit": the optimum without each block (for a prior of a few parameters, quasi-Newton
        iterations from the Newton step; else warm-started L-BFGS); "none": point estimates
        (SEs NaN). "auto": "pseudo" for the constant and GLM priors, "refit" instead for LD
        score regression of at most :data:`~deepwas.jackknife.REFIT_NEWTON_MAX_PARAMS` (64)
        parameters (one Newton step falls short for it, docs "Standard errors"; a larger GLM
        keeps "pseudo": solving would take ``n_blocks`` fits), "none" otherwise (a neural
        prior's Hessian is out of reach; "refit" costs ``n_blocks`` fits).

    Returns
    -------
    pandas.DataFrame
        :data:`RESULTS_COLUMNS` (S-LDSC's ``.results``) plus ``tau_star``,
        ``tau_star_std_error``, ``model_derived`` (the annotation is not a model feature:
        its p-value is not a test of the data, module docstring) and
        ``Enrichment_ci95_lower`` / ``_upper`` (Enrichment +- the t quantile of ``n_blocks -
        1`` degrees of freedom times its SE: with a dozen jackknife blocks +-1.96 SE is
        short; NaN without a jackknife); an annotation the fit
        puts at the link's bound (:data:`BOUND_ENRICHMENT`) has NaN standard errors and
        p-value, with a warning; ``attrs`` hold ``h2``,
        ``h2_std_error``, ``h2_ci95`` (h2 +- the t quantile of ``n_blocks - 1`` degrees of
        freedom times its SE; NaN without a jackknife), ``n_blocks``,
        ``jackknife_unit`` ("windows", "variants" or None),
        ``jackknife``, ``n_variants`` and ``n_variants_not_annotated``.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est, "prior_")
    if jackknife not in ("auto",) + JACKKNIFE_METHODS:
        raise ValueError(f"jackknife must be 'auto' or one of {JACKKNIFE_METHODS}, "
                         f"got {jackknife!r}")
    if jackknife == "auto":
        jackknife = _auto_jackknife(est)
    core = np.unique(np.concatenate([c for c, _ in stats.windows]))
    variants = stats.variants.iloc[core].reset_index(drop=True)
    total_only = False
    if annotations is None:
        feats = stats.get_features(core)
        if feats is None or feats.pred is None:
            # no annotation to partition by (a constant prior, or tracks only): the total h2
            # and its SE still stand, as the one row of an all-ones annotation
            annotations = pd.DataFrame({"base": np.ones(len(core))})
            total_only = True
        else:
            names = feats.pred_names or [f"pred{i}" for i in range(feats.pred.shape[1])]
            annotations = pd.DataFrame(np.asarray(feats.pred, dtype=np.float64),
                                       columns=names)
            annotations = _without_dropped(est, annotations)
    A, names, covered = align_annotations(annotations, variants)
    missing = int((~covered).sum())
    if missing:
        warnings.warn(f"annotations do not cover {missing} of {len(covered)} variants: they are "
                      "left out of h2 and of every annotation's sums (not zero-filled)",
                      UserWarning, stacklevel=3)
    if not covered.any():
        raise ValueError("the annotations cover none of the variants")
    rows, A = core[covered], A[covered]
    for c, name in enumerate(names):
        if np.all(A[:, c] == 0):
            warnings.warn(f"annotation {name!r} is 0 on every variant: its enrichment is "
                          "undefined (NaN)", UserWarning, stacklevel=3)
        elif np.all(A[:, c] == A[0, c]) and not total_only:
            warnings.warn(f"annotation {name!r} is constant: its enrichment is 1 by "
                          "construction and has no test (Enrichment_p NaN)", UserWarning,
                          stacklevel=3)
    S = _Stats(A, names)
    for name, why in S.unidentified.items():
        warnings.warn(f"annotation {name!r} is {why}: its coefficient tau is not identified "
                      "(NaN); its Prop._h2 and Enrichment are reported", UserWarning,
                      stacklevel=3)
    derived = ~_model_features(est, stats, rows, A)
    f_of = _f_function(est, stats, rows)
    full = S(f_of(est.prior_))
    cov = np.full((full.size, full.size), np.nan)
    n_used, unit = 0, None
    if jackknife != "none":
        # LD score regression's per-variant terms inside a window are not independent
        labels, n_used, unit = plan_blocks(stats, n_blocks, jackknife,
                                           split_windows=est.solver != "ldsr")
        prior, loo, set_params, fits = _leave_outs(est, stats, labels, n_used, jackknife,
                                                   unit)
        vals = []
        for x in loo:
            set_params(prior, x)
            vals.append(S(f_of(prior)))
        vals = np.array(vals)
        off = _extrapolations_off(est, fits, prior, set_params, f_of, vals[:, 0])
        if off:
            warnings.warn(
                f"the panel correction's jackknife: in {off} of {n_used} leave-one-block-out "
                "fits the extrapolation went far off (its h2 more than a factor 2 from the "
                "fits' h2 extrapolated, as when a fit sits at a bound of its coefficients: "
                "annotations the data barely inform). Its standard errors would be those of "
                "that instability, so they are NaN; panel_correction='none' gives the "
                "uncorrected fit with its SEs", UserWarning, stacklevel=3)
        else:
            with np.errstate(invalid="ignore"):
                cov = jackknife_cov(full, vals)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    prop = S.split(full)[1]
    bound = _at_bound(S, prop)
    for c in np.flatnonzero(bound):
        warnings.warn(
            f"annotation {names[c]!r} carries {prop[c]:.4%} of h2 in the fitted "
            "prior: the fit ran to the bound where the annotation's variants, or the rest, "
            f"have no h2 (under {BOUND_ENRICHMENT:g} of the other side's per variant). The "
            "jackknife cannot measure an estimate's uncertainty there, so its standard "
            "errors and Enrichment_p are NaN: these statistics do not identify the "
            "enrichment (a likelihood fit, solver='deepwas', whose GLM has a ridge, or more "
            "data may)",
            UserWarning, stacklevel=3)
    return _table(S, full, se, names, n_used, jackknife, missing, unit, derived, bound)


def _at_bound(S, prop):
    """Which annotations the fitted f puts at the bound (:data:`BOUND_ENRICHMENT`), from
    their shares of h2 ``prop``."""
    A = S.A
    unit = (A.min(0) >= 0) & (A.max(0) <= 1) & (S.Mc > 0) & (S.Mc < S.M)
    with np.errstate(divide="ignore", invalid="ignore"):
        psnp = S.Mc / S.M
        inside, outside = prop / psnp, (1 - prop) / (1 - psnp)
    return unit & ((inside < BOUND_ENRICHMENT) | (outside < BOUND_ENRICHMENT))


def _leave_outs(est, stats, labels, n_blocks, method, unit):
    """``(prior, leave_out, set_params, fits)`` of :func:`deepwas.jackknife.leave_out_priors`;
    for a prior that is a weighted sum of fits' parameters (``est.panel_components``: a panel
    correction), the same weighted sum of their leave-one-block-out parameters, and ``fits``
    each fit's own (one array a fit; empty without a correction)."""
    parts = est.panel_components(stats) if hasattr(est, "panel_components") \
        else [(1.0, est, stats)]
    prior, loo, set_params, fits = None, 0.0, None, []
    for weight, fit, data in parts:
        first, _, out, set_params = leave_out_priors(fit, data, labels, n_blocks, method,
                                                     unit=unit)
        prior = first if prior is None else prior
        loo = loo + weight * out
        fits.append(out)
    return prior, loo, set_params, fits if len(parts) > 1 else []


def _extrapolations_off(est, fits, prior, set_params, f_of, h2_loo):
    """How many leave-one-block-out extrapolations of a panel correction are refused by the
    rule its full fit passed (``est.extrapolation_agrees`` on that block's fits' h2 and the
    extrapolated ``h2_loo``): one such block, its h2 several times the others', made the
    jackknife SE 8-40 times the estimates' spread (LD score regression, 150 people, h2 0.005
    and 0.01)."""
    if not fits:
        return 0
    h2 = np.empty((len(fits), len(h2_loo)))
    for j, out in enumerate(fits):
        for b, x in enumerate(out):
            set_params(prior, x)
            h2[j, b] = float(f_of(prior).sum())
    return sum(not est.extrapolation_agrees(h2[:, b], h2_loo[b]) for b in range(len(h2_loo)))


def _model_features(est, stats, rows, A, tol=1e-8):
    """Whether each column of ``A`` is one of the model's features: constant (the intercept)
    or perfectly correlated with a scalar predictor the model kept (read in chunks: with
    tracks, the features of all variants need not fit in memory)."""
    out = A.std(0) == 0
    if not est.n_pred_:
        return out
    keep = getattr(est.prior_, "pred_keep", None)
    keep = np.ones(est.n_pred_, bool) if keep is None else keep.numpy().astype(bool)
    sp = spp = sap = 0.0
    for lo in range(0, len(rows), 8192):
        pred = np.asarray(stats.get_features(rows[lo:lo + 8192]).pred, np.float64)[:, keep]
        sp, spp = sp + pred.sum(0), spp + (pred ** 2).sum(0)
        sap = sap + A[lo:lo + 8192].T @ pred
    M = len(rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sap / M - np.outer(A.mean(0), sp / M)
        sd = np.sqrt(np.maximum(spp / M - (sp / M) ** 2, 0.0))
        corr = np.abs(cov) / np.outer(A.std(0), sd)
    return out | (np.nan_to_num(corr, nan=0.0).max(1, initial=0.0) > 1 - tol)


def _without_dropped(est, annotations):
    """The model's predictors minus those its fit dropped (constant or collinear: they have
    no weight in the model, so no row here either), with a warning naming them."""
    keep = getattr(est.prior_, "pred_keep", None)
    if keep is None or bool(keep.all()):
        return annotations
    out = annotations.loc[:, keep.numpy().astype(bool)]
    gone = [c for c in annotations.columns if c not in out.columns]
    why = getattr(est, "dropped_features_", {})
    warnings.warn("model features dropped before the fit are not in the table: " + "; ".join(
        f"{c} ({why.get(c, 'dropped')})" for c in gone), UserWarning, stacklevel=4)
    return out


def _table(S, full, se, names, n_used, jackknife, missing, unit, derived, bound):
    h2, prop, diff, tau, tstar = S.split(full)
    h2_se, *per_annotation = S.split(se)
    # rows at the link's bound (_at_bound): their jackknife SEs are ~0, not an uncertainty
    prop_se, diff_se, tau_se, tstar_se = (np.where(bound, np.nan, x) for x in per_annotation)
    with np.errstate(divide="ignore", invalid="ignore"):
        psnp = S.Mc / S.M
        enr = np.where(S.Mc != 0, prop / psnp, np.nan)
        # |Prop._SNPs|: a continuous annotation may sum to a negative M_c (S-LDSC then
        # prints a negative standard error)
        enr_se = np.where(S.Mc != 0, prop_se / np.abs(psnp), np.nan)
        const = S.sd == 0
        p = np.where(const | ~(diff_se > 0), np.nan,
                     2 * sps.t.sf(np.abs(diff / diff_se), max(n_used, 1)))
        enr = np.where(const & (S.Mc != 0), 1.0, enr)
        enr_se = np.where(const & (S.Mc != 0), 0.0, enr_se)
        prop_se = np.where(const & (S.Mc != 0), 0.0, prop_se)
        z = tau / tau_se
    # a jackknife over n blocks has n - 1 degrees of freedom: with a dozen LD blocks the normal
    # quantile's interval is short (docs "Standard errors": 85 % against 95 % coverage)
    q = float(sps.t.ppf(0.975, n_used - 1)) if n_used >= 2 else np.nan
    enr_half = q * enr_se
    df = pd.DataFrame({"Category": names, "Prop._SNPs": psnp, "Prop._h2": prop,
                       "Prop._h2_std_error": prop_se, "Enrichment": enr,
                       "Enrichment_std_error": enr_se, "Enrichment_p": p, "Coefficient": tau,
                       "Coefficient_std_error": tau_se, "Coefficient_z-score": z,
                       "tau_star": tstar, "tau_star_std_error": tstar_se,
                       "model_derived": derived, "Enrichment_ci95_lower": enr - enr_half,
                       "Enrichment_ci95_upper": enr + enr_half})
    half = q * float(h2_se)
    df.attrs.update(h2=float(h2), h2_std_error=float(h2_se), n_blocks=int(n_used),
                    h2_ci95=(float(h2) - half, float(h2) + half),
                    jackknife=jackknife, jackknife_unit=unit, n_variants=int(S.M),
                    n_variants_not_annotated=missing)
    return df
