"""Correcting a reference panel's LD noise by simulation-extrapolation (``panel_correction``).

With LD from a panel of ``n`` people, thinned cores (``ld_regularisation="thinned"``) are
unbiased at a real genome's weak per-block signal but over-estimate h2 and attenuate
enrichment where a block's signal is strong: the noise of the panel's cross-LD ``R_EI`` enters
the modelled covariance ``R_IE F R_EI`` as an errors-in-variables error, and the fit's excess
over the population's own LD falls like ``1 / n`` (docs "LD from a reference panel": 15.6,
8.0 and 4.7 points of h2 at 100, 200 and 500 people). SIMEX (Cook and Stefanski 1994) reads
that slope off the data: the prior is refitted on :data:`N_PSEUDO` pseudo-panels
(:mod:`deepwas.pseudo_panel`) whose LD carries the panel's noise once more (noise variance
``(1 + lam) / n``, ``lam = n / n'``), and each parameter is extrapolated linearly in the
noise variance to a noise-free panel (``lam = -1``)::

    theta = theta_0 + (theta_0 - mean_j theta_j) / lam

For the constant and GLM priors (exp link) ``log f`` is linear in the parameters, so this is
the same linear extrapolation of every variant's ``log f``; the result is again a prior of the
same kind (``prior_``), and every leave-one-block-out parameter vector of the jackknife is
extrapolated the same way (:meth:`PanelCorrectionMixin.panel_components`). Measured on the
realistic design with 200 people (20 paired replicates): h2 bias +9.5 % -> -0.1 % at h2 0.05
and +7.5 % -> -2.7 % at 0.2, with the same SD; the enrichment of a strong annotation +0.18 and
+0.13 closer to the truth (Gaussian pseudo-panels). The pseudo-panels of a genotype panel are
its own people drawn with replacement (``pseudo_panels="auto"``, :func:`resolve_pseudo_draw`):
their LD keeps the noise of strongly linked pairs, which Gaussian pseudo-people under-state,
and they took the remaining h2 bias with 150-200 people (-1.5 to -4.6 %) to within 1.2 %
(docs).

LD score regression (``solver="ldsr"``) is corrected by "auto" only with a panel of
:data:`LDSR_MIN_PANEL` to :data:`LDSR_MAX_PANEL` people (150-299) and a signal per block of
:data:`LDSR_MIN_BLOCK_SIGNAL` or more: its r^2 are corrected for the panel's noise on average
(ldsc's unbiased r^2), which leaves h2 within 3 % but attenuates an enrichment by 5-9 % with
150-200 people (the noise of the LD scores as regressors), and under 0.5 % with 500. A
pseudo-panel's r^2 must then be corrected for both layers of noise, its own and the panel's
(``LDSource.noise_panel_sizes``): corrected for its own only, its LD scores are those of the
panel's raw r^2, about ``m / n`` too large for a block of ``m`` variants, and the refits moved
h2 by +30-60 %. So corrected, SIMEX takes the enrichment to within 2.1 % with 150 and 200 people
(h2 +3 to +5 %, enrichment RMSE 7-11 % larger; ``benchmarks/study_ldsr_enrichment.py``). In
0.2-0.5 % of those fits a coefficient ends at its bound and the extrapolation of the parameters
goes far off; such an extrapolation is refused (:func:`extrapolation_agrees`) and the fit on the
panel's LD kept. Hence the bounds of "auto": with 500 people it is worse on every count
(enrichment +1.7 % against -0.3 %, RMSE +3 %), with 100 it over-corrects h2 (+8.7 % / +9.2 %
against +3.8 % / +3.7 % at h2 0.05 / 0.2, enrichment -4.1 % / -7.0 % against -9.7 % / -11.0 %),
at weak signal it over-corrects h2 (+7.1 % against +2.4 % at h2 0.005, 150 people), and there
its jackknife's leave-one-block-out extrapolations ran off (SE 4.2 times the estimates' spread),
which the jackknife refuses (NaN SEs with a warning).
"""
from __future__ import annotations

import copy
import logging
import warnings

import numpy as np
from sklearn.base import clone

from ..jackknife import flat_parameters, set_parameters
from ..ld_model import is_small_panel
from ..pseudo_panel import holds_people, supports_pseudo_panel

__all__ = ["PANEL_CORRECTIONS", "N_PSEUDO", "MIN_BLOCK_SIGNAL", "LDSR_MIN_PANEL",
           "LDSR_MAX_PANEL", "LDSR_MIN_BLOCK_SIGNAL", "resolve_panel_correction",
           "resolve_pseudo_draw", "panel_plan", "panel_corrected", "extrapolation_agrees",
           "block_signal", "PanelCorrectionMixin"]

log = logging.getLogger(__name__)

PANEL_CORRECTIONS = ("auto", "simex", "none")
#: "auto" corrects only when the panel fit's signal per LD block, ``N h2_B / n``, averages at
#: least this: below it thinned cores are unbiased without the correction (the panel's two
#: errors cancel) and the linear extrapolation over-corrects (docs "LD from a reference panel":
#: -5 and -9 points of h2 at 200 and 150 people where the signal is 0.2-0.3 per block, a real
#: genome's); at 0.8 and above it removes most of the bias
MIN_BLOCK_SIGNAL = 0.5
#: LD score regression: "auto" corrects panels of at least LDSR_MIN_PANEL and under
#: LDSR_MAX_PANEL people, where its enrichment is attenuated beyond 5 % (-8.1 / -8.8 % with 150
#: people, -5.1 / -6.7 % with 200 at h2 0.05 / 0.2, 2,000 draws a cell) and the correction
#: takes it to within 2.1 %, h2 to +3.4-4.5 %; with 500 people the attenuation is -0.3 /
#: -0.4 % and the correction only adds spread (enrichment RMSE +3 %); with 100 it over-corrects
#: h2 (+8.7 / +9.2 % against +3.8 / +3.7 %) and leaves the enrichment -4 / -7 %
LDSR_MIN_PANEL = 150
LDSR_MAX_PANEL = 300
#: ... and where the signal per LD block is at least this: at 0.56 (150 people, h2 0.01) a
#: third of its jackknife's leave-one-block-out extrapolations ran off (h2 SE 2.2 times the
#: estimates' spread) and it over-corrects h2 (+4.7 % against +1.7 %); from 2.1 (h2 0.05)
#: its SE : SD was 0.78-1.08
LDSR_MIN_BLOCK_SIGNAL = 1.0
#: pseudo-panels a correction fits (their parameters are averaged): 2 measured no worse in
#: SD than the uncorrected fit (module docstring)
N_PSEUDO = 2


def _link(est):
    params = est.model_params or {}
    return params.get("link", "exp")


def _why_not(est, stats):
    """Why SIMEX cannot correct this fit (a sentence), or None when it can."""
    name = est._model_name()
    if name not in ("constant", "glm") or _link(est) != "exp":
        return ("the prior's log f is not linear in its parameters (only the constant and the "
                "GLM prior with the exp link are extrapolated)")
    regularisation = stats.ld_model.regularisation
    if est.solver == "ldsr":
        # LD score regression reads the panel's r^2, not the likelihood's regularised LD: any
        # windows do, but "none" declares the LD the sample's own (its r^2 kept uncorrected)
        if regularisation == "none":
            return ("ld_regularisation='none' takes the LD as the GWAS sample's own, whose "
                    "r^2 LD score regression keeps uncorrected")
    elif regularisation != "thinned":
        return (f"ld_regularisation={regularisation!r} (the correction was measured for "
                "thinned cores)")
    if not supports_pseudo_panel(stats.ld):
        return (f"the LD ({type(stats.ld).__name__}) is of a panel of unknown size (pass "
                "n_ref=)")
    return None


def resolve_panel_correction(est, stats):
    """``("simex" | "none", reason)`` for ``est.panel_correction`` on ``stats``.

    "auto" takes "simex" when it applies and the panel is small against the GWAS
    (:func:`deepwas.ld_model.is_small_panel`; LD score regression: also of
    :data:`LDSR_MIN_PANEL` to :data:`LDSR_MAX_PANEL` people); "simex" that cannot apply is a
    ``ValueError``. The signal bound is :func:`panel_corrected`'s (it needs the fit).
    """
    choice = est.panel_correction
    if choice == "none":
        return "none", "panel_correction='none'"
    why = _why_not(est, stats)
    if choice == "simex":
        if why is not None:
            raise ValueError(f"panel_correction='simex' cannot correct this fit: {why}")
        return "simex", "panel_correction='simex'"
    if why is not None:
        return "none", why
    if stats.ld_in_sample:
        return "none", "beta-hat were drawn through this LD (ld_in_sample): it has no panel noise"
    if not is_small_panel(stats.ld.panel_size, stats.n):
        return "none", (f"the panel ({stats.ld.panel_size} people) is not small against the "
                        f"GWAS (N = {stats.n:g})")
    if est.solver == "ldsr" and stats.ld.panel_size >= LDSR_MAX_PANEL:
        return "none", (f"LD score regression's r^2 are corrected for the panel's noise on "
                        f"average, which leaves its enrichment unbiased with a panel of "
                        f"{stats.ld.panel_size} people (the correction would only add "
                        f"spread from {LDSR_MAX_PANEL} people on; docs)")
    if est.solver == "ldsr" and stats.ld.panel_size < LDSR_MIN_PANEL:
        return "none", (f"with a panel of {stats.ld.panel_size} people (under "
                        f"{LDSR_MIN_PANEL}) the correction over-corrects LD score "
                        "regression's h2 (docs)")
    return "simex", f"a panel of {stats.ld.panel_size} people"


def resolve_pseudo_draw(est, stats):
    """The kind of pseudo-panel ("gaussian" | "bootstrap") of ``est.pseudo_panels`` on
    ``stats``; "bootstrap" of an LD matrix (no people to draw) is a ``ValueError``."""
    genotypes = holds_people(stats.ld)
    if est.pseudo_panels == "auto":
        # LD score regression's correction was measured with Gaussian pseudo-panels only
        return "bootstrap" if genotypes and est.solver == "deepwas" else "gaussian"
    if est.pseudo_panels == "bootstrap" and not genotypes:
        raise ValueError(f"pseudo_panels='bootstrap' draws the panel's people; the LD "
                         f"({type(stats.ld).__name__}) holds none (read the panel with "
                         "SummaryStats.from_plink, or pseudo_panels='gaussian')")
    return est.pseudo_panels


def _pseudo_seeds(random_state):
    """Seeds of the pseudo-panels: from an int ``random_state``, a draw from a RandomState,
    0 for None (the correction repeats exactly by default)."""
    if isinstance(random_state, np.random.RandomState):
        base = int(random_state.randint(0, 2**31 - 1))
    else:
        base = 0 if random_state is None else int(random_state)
    return [int(s) for s in np.random.SeedSequence([base, 5137]).generate_state(N_PSEUDO)]


def weights(n_fits):
    """Weights of the fits (own panel first) whose weighted parameters are the extrapolation.

    The pseudo-panels have the panel's own size (``lam = 1``): the weights are
    ``1 + 1/lam = 2`` for the panel's fit and ``-1 / (lam (n_fits - 1))`` for each other.
    """
    w = np.full(n_fits, -1.0 / (n_fits - 1))
    w[0] = 2.0
    return w


def panel_plan(est, stats):
    """``(method, reason, draw)``: the correction "auto" or the user's choice takes on
    ``stats`` and the kind of its pseudo-panels (None without one). Called before the fit on
    the panel's LD, so that a correction that cannot apply raises before any fit."""
    method, reason = resolve_panel_correction(est, stats)
    return method, reason, (resolve_pseudo_draw(est, stats) if method == "simex" else None)


def panel_corrected(est, stats, fitted, plan):
    """``fitted`` (the attributes of the fit on the panel's LD) with the correction of
    ``plan`` (:func:`panel_plan`) applied.

    Adds ``panel_correction_``, ``panel_fits_``, ``panel_seeds_``, ``panel_people_``,
    ``panel_draw_``, ``panel_h2_`` and ``panel_signal_``; with "simex" replaces ``prior_``'s
    parameters by the extrapolation.
    """
    method, reason, draw = plan
    out = dict(fitted, panel_correction_=method, panel_fits_=None, panel_seeds_=[],
               panel_people_=None, panel_draw_=None, panel_h2_=None,
               panel_signal_=float("nan"))
    if method == "simex":
        h2 = _h2(est, fitted, stats)
        signal = block_signal(h2, stats)
        out["panel_signal_"] = signal
        least = LDSR_MIN_BLOCK_SIGNAL if est.solver == "ldsr" else MIN_BLOCK_SIGNAL
        if est.panel_correction == "auto" and signal < least:
            method, reason = "none", (f"weak signal per LD block (N h2_B / n = {signal:.2g} < "
                                      f"{least:g}), where the correction over-corrects")
            out["panel_correction_"] = method
    if method == "none":
        log.info("no panel correction: %s", reason)
        return out
    people = int(stats.ld.panel_size)
    seeds = _pseudo_seeds(est.random_state)
    fits = [flat_parameters(fitted["prior_"])]
    h2 = [h2]
    for seed in seeds:
        sub = clone(est).set_params(panel_correction="none").fit(
            stats.with_pseudo_panel(seed, people, draw))
        fits.append(flat_parameters(sub.prior_))
        h2.append(_h2(sub, None, stats))
    fits = np.array(fits)
    prior = copy.deepcopy(fitted["prior_"])
    set_parameters(prior, weights(len(fits)) @ fits)
    trial = dict(out, prior_=prior)
    extrapolated = _h2(est, trial, stats)
    if not extrapolation_agrees(h2, extrapolated):
        msg = (f"panel correction not applied: the extrapolated prior's h2 ({extrapolated:.4g}) "
               f"is far from the extrapolation of the fits' h2 ({weights(len(h2)) @ h2:.4g}; "
               f"fits {', '.join(f'{x:.4g}' for x in h2)}), as when a fit ends at a bound "
               "of its coefficients; the fit on the panel's LD is kept")
        warnings.warn(msg, UserWarning, stacklevel=2)
        log.warning(msg)
        out.update(panel_correction_="none", panel_h2_=np.array(h2))
        return out
    out.update(prior_=prior, panel_fits_=fits, panel_seeds_=seeds, panel_people_=people,
               panel_draw_=draw)
    out["panel_h2_"] = np.array(h2 + [extrapolated])
    log.info("panel correction (SIMEX, %s): h2 %.4g on the panel's LD, %s on %s pseudo-panels "
             "of %d, %.4g extrapolated", reason, h2[0], ", ".join(f"{x:.4g}" for x in h2[1:]),
             draw, people, out["panel_h2_"][-1])
    return out


def extrapolation_agrees(h2_fits, h2_extrapolated, factor=2.0):
    """Whether the prior extrapolated in its parameters has an h2 within ``factor`` of the
    same extrapolation of the fits' h2 (``h2_fits``: the panel's fit first). For a prior whose
    ``log f`` is linear in its parameters the two agree closely while every fit is interior
    (within 10 % in the LD score regression study); a fit whose coefficient ran to a bound
    (an annotation's ``f`` at 0, which LD score regression reaches in 0.2-0.5 % of its fits)
    sends the parameter extrapolation far off: h2 of 1e145 where the fits' was 0.2."""
    linear = float(weights(len(h2_fits)) @ np.asarray(h2_fits, dtype=np.float64))
    return bool(linear > 0 and linear / factor <= h2_extrapolated <= linear * factor)


def block_signal(h2, stats):
    """``N h2_B / n`` averaged over the LD blocks of ``stats`` (its window units): how strongly
    a block's signal reads the panel's cross-LD noise."""
    blocks = len(np.unique(stats.window_units))
    return float(stats.n) * float(h2) / (blocks * float(stats.ld.panel_size))


def _h2(est, fitted, stats):
    """sum f over ``stats.variants`` of a fit (``fitted``: attributes not yet set on ``est``)."""
    if fitted is not None:
        est = copy.copy(est)
        for name, value in fitted.items():
            setattr(est, name, value)
    return float(est.predict_f(stats).sum())


class PanelCorrectionMixin:
    """The fits behind a panel-corrected prior, for its jackknife and score test."""

    @staticmethod
    def extrapolation_agrees(h2_fits, h2_extrapolated):
        """The rule :func:`extrapolation_agrees` that the fit passed, for its jackknife's
        leave-one-block-out extrapolations."""
        return extrapolation_agrees(h2_fits, h2_extrapolated)

    def panel_components(self, stats):
        """The fits whose weighted parameters are this prior: ``[(weight, est, stats_j)]``.

        Without a correction ``[(1.0, self, stats)]``. With SIMEX the fit on the panel's LD
        and one per pseudo-panel (``stats.with_pseudo_panel`` with the fit's seeds), each as
        a copy of this estimator holding that fit's parameters: a leave-one-block-out
        statistic of the prior is the same weighted sum of theirs
        (:func:`deepwas.heritability.partitioned_h2`).
        """
        fits = getattr(self, "panel_fits_", None)
        if fits is None:
            return [(1.0, self, stats)]
        out = []
        for j, (w, x) in enumerate(zip(weights(len(fits)), fits)):
            est = copy.copy(self)
            est.prior_ = copy.deepcopy(self.prior_)
            set_parameters(est.prior_, x)
            est.panel_fits_ = None
            # fits saved before pseudo_panels existed drew Gaussian pseudo-people
            data = stats if j == 0 else stats.with_pseudo_panel(
                self.panel_seeds_[j - 1], self.panel_people_,
                getattr(self, "panel_draw_", None) or "gaussian")
            out.append((float(w), est, data))
        return out
