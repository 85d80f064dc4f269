"""Shared test data (real 1000 Genomes LD, simulated GWAS) and an estimator-check suite.

The check suite (:func:`check_estimator_contract`) exercises the scikit-learn contract for our
non-array ``X`` (a SummaryStats whose samples are windows): clone, get/set_params,
GridSearchCV over ``model``, cross_validate with GroupKFold on ``stats.groups``, pickle
round-trip, NotFittedError before fit and determinism under ``random_state``.
"""
from __future__ import annotations

import functools
import os
import pickle

import numpy as np

DATA = os.path.join(os.path.dirname(__file__), os.pardir, "deepwas", "datasets", "data",
                    "1000g_eur_22regions")


@functools.lru_cache(maxsize=None)
def real_ld_stats(chroms=tuple(range(1, 11)), thin=3, window_bp=100_000, flank_bp=1_000_000):
    """SummaryStats on the shipped 1000 Genomes genotypes (489 EUR people), beta_hat = 0.

    Every ``thin``-th polymorphic SNP is kept (real LD, smaller windows). Each shipped region
    spans 1 Mb, so ``flank_bp = 1 Mb`` puts every variant of a region in the extended set of
    each of its 100 kb core windows: the windowed likelihood is then exact for data simulated
    from this LD (no LD beyond the flank is ignored).
    """
    from deepwas.ld import read_plink_reference
    from deepwas.stats import SummaryStats

    src = read_plink_reference([os.path.join(DATA, f"1000G.subset.{c}") for c in chroms])
    keep = np.flatnonzero(~src.monomorphic)[::thin]
    sub = src.subset(keep)
    v = sub.variants
    return SummaryStats.from_arrays(
        np.zeros(len(keep)), 1e5, v["chrom"], v["pos"], sub, freq=src.mean[keep] / 2.0,
        snp=v["snp"], a1=v["a1"], a2=v["a2"], window_bp=window_bp, flank_bp=flank_bp)


@functools.lru_cache(maxsize=None)
def simulated(truth="glm", h2=0.5, n=1e5, seed=0, chroms=tuple(range(1, 11)), thin=3):
    """(stats, f_true) from :func:`deepwas.simulate.semi_synthetic` on :func:`real_ld_stats`."""
    from deepwas.simulate import semi_synthetic

    return semi_synthetic(real_ld_stats(chroms, thin=thin), truth, h2=h2, n=n, random_state=seed)


def split_by_chrom(stats, test_chroms):
    test = np.isin(stats.groups, list(test_chroms))
    return stats[~test], stats[test]


def f_on(stats, full_stats, f_full):
    """Restrict values aligned with ``full_stats.variants`` to ``stats.variants``."""
    rows_full = full_stats.variants["row"].to_numpy()
    rows = stats.variants["row"].to_numpy()
    return np.asarray(f_full)[np.searchsorted(rows_full, rows)]


def log_rmse(f_hat, f_true):
    return float(np.sqrt(np.mean((np.log(f_hat) - np.log(f_true)) ** 2)))


# ---------------------------------------------------------------------------- contract suite
def check_not_fitted(est, stats):
    from sklearn.exceptions import NotFittedError
    import pytest

    for call in (lambda: est.predict_f(stats), lambda: est.score(stats)):
        with pytest.raises(NotFittedError):
            call()


def check_params(est):
    from sklearn.base import clone

    params = est.get_params()
    c = clone(est)
    assert type(c) is type(est) and c is not est
    assert c.get_params() == params
    c.set_params(max_epochs=params["max_epochs"] + 1, model="glm")
    assert c.get_params()["max_epochs"] == params["max_epochs"] + 1
    assert est.get_params() == params          # the original is untouched
    assert not any(k.endswith("_") for k in vars(c))   # no fitted state on a fresh clone


def check_fit_predict_score(est, stats, train, test):
    out = est.fit(train)
    assert out is est
    for attr in ("prior_", "sigma2_", "history_", "n_iter_", "lr_"):
        assert hasattr(est, attr), attr
    f = est.predict_f(test)
    assert f.shape == (test.n_variants,) and np.all(np.isfinite(f)) and np.all(f > 0)
    s = est.score(test)
    assert np.isfinite(s)
    return f, s


def check_determinism(est, train, test):
    from sklearn.base import clone

    a = clone(est).set_params(random_state=7).fit(train).predict_f(test)
    b = clone(est).set_params(random_state=7).fit(train).predict_f(test)
    np.testing.assert_array_equal(a, b)


def check_pickle(est, test):
    f = est.predict_f(test)
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est2.predict_f(test), f)
    assert est2.score(test) == est.score(test)


def check_cross_validate(est, stats, k=2):
    from sklearn.model_selection import GroupKFold, cross_validate

    res = cross_validate(est, stats, groups=stats.groups, cv=GroupKFold(k))
    assert len(res["test_score"]) == k and np.all(np.isfinite(res["test_score"]))
    return res


def check_grid_search(est, stats, models=("constant", "glm")):
    from sklearn.model_selection import GridSearchCV, GroupKFold

    gs = GridSearchCV(est, param_grid={"model": list(models)}, cv=GroupKFold(2))
    gs.fit(stats, groups=stats.groups)
    assert gs.best_params_["model"] in models
    assert np.all(np.isfinite(gs.cv_results_["mean_test_score"]))
    assert hasattr(gs.best_estimator_, "prior_")
    return gs


def check_estimator_contract(est, stats, train, test):
    """All contract checks on one (unfitted) estimator; returns the fitted clone's score."""
    from sklearn.base import clone

    check_not_fitted(clone(est), test)
    check_params(est)
    fitted = clone(est)
    _, s = check_fit_predict_score(fitted, stats, train, test)
    check_pickle(fitted, test)
    check_determinism(est, train, test)
    check_cross_validate(clone(est), stats)
    return s
