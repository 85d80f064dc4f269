"""What a geneticist takes from a fitted prior: the likelihood gain over the null model, total
and partitioned heritability, a score test of new annotations, posterior effects.

A mixin of :class:`~deepwas.FunctionalPrior` (kept apart from the estimator's fitting code).
"""
from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..annotation_table import align_annotations
from ..fitting._features import check_stats
from ..heritability import partitioned_h2
from ..jackknife import plan_blocks
from ..likelihood import marginal_loglik
from ..posterior import posterior_mean
from ..score_test import block_scores, efficient_scores, score_table
from ._score_test import nuisance_directions

__all__ = ["GeneticsMixin"]


class GeneticsMixin:
    """:meth:`gain`, :meth:`h2`, :meth:`partitioned_h2`, :meth:`score_test` and
    :meth:`posterior_mean` of a fitted prior."""

    def gain(self, stats, per_window=False):
        """Exact log-likelihood gain of the fitted prior over the null model, in nats.

        Parameters
        ----------
        stats : deepwas.SummaryStats
        per_window : bool, default False
            One value per window instead of the sum.

        Returns
        -------
        float or ndarray
            With LD built with ``ld_regularisation="mismatch"`` the fitted mismatch variance
            ``ld_mismatch_`` enters both models.
        """
        check_is_fitted(self, "prior_")
        stats = check_stats(stats, "gain")

        sigma2 = None if self.sigma2 is None else self.sigma2_
        mismatch = float(self.ld_mismatch_) if stats.ld_model.has_mismatch else 0.0
        return marginal_loglik(stats, self.predict_f(stats), relative_to_null=True,
                               per_window=per_window, linalg="cholesky", sigma2=sigma2,
                               mismatch=mismatch)

    def h2(self, stats):
        """Heritability the fitted prior attributes to ``stats.variants``: ``sum_m f_m``."""
        return float(self.predict_f(stats).sum())

    def partitioned_h2(self, stats, annotations=None, n_blocks=200, jackknife="auto"):
        """Heritability, its share and enrichment per annotation, S-LDSC's ``.results`` columns.

        See :func:`deepwas.heritability.partitioned_h2` for the definitions, the jackknife
        and the rules for bad input.

        Parameters
        ----------
        stats : SummaryStats
            Normally the training data (its windows form the jackknife blocks).
        annotations : DataFrame, path(s) or None
            Joined on ``SNP`` or aligned with ``stats.variants``; None: the model's features.
        n_blocks : int, default=200
        jackknife : {"auto", "pseudo", "refit", "none"}, default="auto"
            "auto": "pseudo" for the constant and GLM priors ("refit" for LD score
            regression with at most 64 parameters), "none" for a neural prior.

        Returns
        -------
        pandas.DataFrame
            One row per annotation; total h2 and its SE in ``attrs``.
        """
        return partitioned_h2(self, stats, annotations, n_blocks=n_blocks, jackknife=jackknife)

    def score_test(self, stats, annotations, n_blocks=200, min_variants=200, nuisance="auto"):
        """Score test of each candidate annotation added to the fitted prior's log-link.

        For a candidate ``a``, ``f_m(tau) = f_m exp(tau a_m)``: the score of ``tau`` at 0,
        conditional on the prior's own fitted parameters (efficient score), its block-jackknife
        SE, z and two-sided p. One gradient pass over the windows serves all candidates. See
        :mod:`deepwas.score_test` for the definitions. Unlike the ``Enrichment_p`` of
        :meth:`partitioned_h2` for an annotation that is not a model feature (a statement about
        the fitted ``f``), this tests the data.

        Parameters
        ----------
        stats : SummaryStats
            Normally the training data (its windows form the jackknife blocks).
        annotations : DataFrame, FeatureProvider, path(s) or a list of these
            Binary or continuous candidates, as :meth:`partitioned_h2` reads them (S-LDSC
            ``.annot`` files, BED / gene-set files, tables); a variant a candidate does not
            cover gets 0 (the term does not apply to it).
        n_blocks : int, default=200
            Jackknife blocks (:func:`deepwas.jackknife.plan_blocks`, as ``partitioned_h2``).
        min_variants : int, default=200
            Candidates non-zero on fewer variants (core variants of the windows) are reported
            as "too few variants", not tested.
        nuisance : {"auto", "all", "intercept", "none"}, default="auto"
            Parameters projected out: all of a constant or GLM prior's ("auto"), a neural
            prior's intercept, i.e. the overall scale of ``f`` ("auto").

        With a panel correction (``panel_fits_``) the test is of the fit on the panel's own
        LD, where the nuisance parameters' score vanishes.

        Returns
        -------
        pandas.DataFrame
            :data:`deepwas.score_test.SCORE_COLUMNS`, one row per candidate; ``attrs`` hold
            ``n_blocks``, ``jackknife_unit``, ``nuisance`` (the projected parameters) and
            ``n_variants_not_annotated``.
        """
        check_is_fitted(self, "prior_")
        stats = check_stats(stats, "score_test")
        if getattr(self, "panel_fits_", None) is not None:
            # the score is taken where the fit's gradient vanishes: at the fit on the panel's
            # own LD, not at the panel correction's extrapolation
            self = self.panel_components(stats)[0][1]
        sigma2 = None if self.sigma2 is None else self.sigma2_
        mismatch = float(self.ld_mismatch_) if stats.ld_model.has_mismatch else 0.0
        A, names, covered = align_annotations(annotations, stats.variants)
        core = np.zeros(stats.n_variants, dtype=bool)
        core[np.concatenate([c for c, _ in stats.windows])] = True
        A = np.where(np.isfinite(A), A, 0.0)
        n_var = (A[core] != 0).sum(0)
        D, nuis = nuisance_directions(self, stats, nuisance)
        labels, n_used, unit = plan_blocks(stats, n_blocks, "pseudo")
        u = block_scores(stats, self.predict_f(stats), np.hstack([A, D]), labels, n_used,
                         unit, sigma2=sigma2, mismatch=mismatch)
        C = A.shape[1]
        res = score_table(names, n_var, *efficient_scores(u[:, :C], u[:, C:]),
                          min_variants=min_variants)
        res.attrs.update(n_blocks=int(n_used), jackknife_unit=unit, nuisance=nuis,
                         n_variants_not_annotated=int((~covered[core]).sum()))
        return res

    def posterior_mean(self, stats):
        """Posterior mean effects ``E[beta | beta_hat]`` of ``stats.variants`` under this prior.

        From the cached window factors (Woodbury form), each variant from the window where
        it is core; see :func:`deepwas.posterior.posterior_mean`.

        Parameters
        ----------
        stats : SummaryStats

        Returns
        -------
        ndarray, shape (stats.n_variants,)
            Standardised effects (per standard deviation of the genotype).
        """
        check_is_fitted(self, "prior_")
        sigma2 = None if self.sigma2 is None else self.sigma2_
        mismatch = float(self.ld_mismatch_) if stats.ld_model.has_mismatch else 0.0
        return posterior_mean(stats, self.predict_f(stats), sigma2=sigma2, mismatch=mismatch)
