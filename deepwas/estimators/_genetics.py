"""What a geneticist takes from a fitted prior: the likelihood gain over the null model, total
and partitioned heritability, posterior effects.

A mixin of :class:`~deepwas.FunctionalPrior` (kept apart from the estimator's fitting code).
"""
from __future__ import annotations

from sklearn.utils.validation import check_is_fitted

from ..fitting._features import check_stats
from ..heritability import partitioned_h2
from ..likelihood import marginal_loglik
from ..posterior import posterior_mean

__all__ = ["GeneticsMixin"]


class GeneticsMixin:
    """:meth:`gain`, :meth:`h2`, :meth:`partitioned_h2` and :meth:`posterior_mean` of a
    fitted prior."""

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

        Returns
        -------
        pandas.DataFrame
            One row per annotation; total h2 and its SE in ``attrs``.
        """
        return partitioned_h2(self, stats, annotations, n_blocks=n_blocks, jackknife=jackknife)

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
