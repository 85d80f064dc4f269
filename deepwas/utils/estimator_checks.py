"""A check suite for estimators of this package, for users with their own networks.

scikit-learn's :func:`sklearn.utils.estimator_checks.check_estimator` needs array inputs; our
samples are windows of a :class:`deepwas.SummaryStats`. :func:`check_estimator` runs the
scikit-learn contract on such data: run it on your own ``FunctionalPrior(model=my_module)``
before a long fit. Each ``check_*`` function can also be called alone; each raises
``AssertionError`` with a message saying what broke.

Examples
--------
>>> from deepwas.utils.estimator_checks import check_estimator   # doctest: +SKIP
>>> check_estimator(deepwas.FunctionalPrior(model=MyNet(), max_epochs=1), stats)  # doctest: +SKIP
"""
from __future__ import annotations

import copy
import pickle

import numpy as np

__all__ = ["check_estimator", "check_not_fitted", "check_params", "check_fit_predict_score",
           "check_pickle", "check_refit_repeats", "check_random_state_matters",
           "check_no_partial_state_after_failed_fit", "check_cross_validate",
           "check_grid_search", "FIT_FAILURE"]

#: message of the error :func:`check_no_partial_state_after_failed_fit` injects
FIT_FAILURE = "deepwas check: injected failure part-way through fit"


def _split(stats):
    """(train, test): the last chromosome of ``stats`` is the test set."""
    groups = np.asarray(stats.groups).astype(str)
    chroms = list(dict.fromkeys(groups))
    if len(chroms) < 2:
        raise ValueError("the checks need windows on at least 2 chromosomes (stats.groups)")
    test = groups == chroms[-1]
    return stats[np.flatnonzero(~test)], stats[np.flatnonzero(test)]


def _fitted_attributes(est):
    return {k: v for k, v in vars(est).items() if k.endswith("_") and not k.startswith("_")}


def check_not_fitted(est, test):
    """``predict_f`` and ``score`` raise NotFittedError before ``fit``."""
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    est = clone(est)
    for name in ("predict_f", "score"):
        try:
            getattr(est, name)(test)
        except NotFittedError:
            continue
        raise AssertionError(f"{name} before fit did not raise NotFittedError")


def check_params(est):
    """The constructor stores its arguments; ``clone``/``set_params`` round-trip."""
    from sklearn.base import clone

    params = est.get_params()
    c = clone(est)
    assert type(c) is type(est) and c is not est, "clone did not make a new object of the same type"
    assert c.get_params().keys() == params.keys(), "clone changed the parameter names"
    c.set_params(max_epochs=params["max_epochs"] + 1)
    assert c.get_params()["max_epochs"] == params["max_epochs"] + 1, "set_params was not stored"
    assert est.get_params().keys() == params.keys(), "set_params on a clone changed the original"
    assert not _fitted_attributes(c), "a fresh clone has fitted attributes"


def check_fit_predict_score(est, train, test):
    """``fit`` returns self; ``predict_f`` gives finite positive f per variant; ``score`` is
    finite."""
    out = est.fit(train)
    assert out is est, "fit did not return self"
    for attr in ("prior_", "sigma2_", "history_", "n_iter_", "lr_"):
        assert hasattr(est, attr), f"fit did not set {attr}"
    f = est.predict_f(test)
    assert f.shape == (test.n_variants,), f"predict_f returned shape {f.shape}"
    assert np.all(np.isfinite(f)) and np.all(f > 0), (
        "predict_f returned non-finite or non-positive f")
    assert np.isfinite(est.score(test)), "score is not finite"


def check_pickle(est, test):
    """A fitted estimator pickles and predicts the same after the round trip."""
    f = est.predict_f(test)
    est2 = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(est2.predict_f(test), f, err_msg="pickle changed predict_f")
    assert est2.score(test) == est.score(test), "pickle changed score"


def check_refit_repeats(est, train, test, seed=7):
    """With an integer ``random_state``, fitting twice (clones, and the same instance again)
    gives identical predictions."""
    from sklearn.base import clone

    est = clone(est).set_params(random_state=seed)
    a = est.fit(train).predict_f(test)
    b = est.fit(train).predict_f(test)
    np.testing.assert_array_equal(a, b, err_msg="refitting the same instance changed the result")
    c = clone(est).fit(train).predict_f(test)
    np.testing.assert_array_equal(a, c, err_msg="a clone with the same seed gave another result")


def check_random_state_matters(est, train, test):
    """Different seeds give different fits, when the training is stochastic at all.

    An estimator whose ``_uses_randomness()`` says its training draws nothing (a full-batch
    deterministic optimiser) is exempt: then the seed must change nothing. A hard-coded seed
    inside a stochastic fit fails this check.
    """
    from sklearn.base import clone

    a = clone(est).set_params(random_state=0).fit(train).predict_f(test)
    b = clone(est).set_params(random_state=1).fit(train).predict_f(test)
    stochastic = getattr(est, "_uses_randomness", lambda: True)()
    if stochastic:
        assert not np.array_equal(a, b), ("random_state=0 and 1 gave identical fits: is a seed "
                                          "hard-coded somewhere?")
    else:
        np.testing.assert_array_equal(a, b, err_msg="a deterministic fit depends on random_state")


class _InjectedFailure(RuntimeError):
    pass


def _instrumented(stats, fail_after=None):
    """A shallow copy of ``stats`` counting its window-data reads (``calls["n"]``) and, with
    ``fail_after``, raising on every read after that many."""
    broken = copy.copy(stats)
    calls = {"n": 0}

    def wrap(method):
        def reader(*args, **kwargs):
            calls["n"] += 1
            if fail_after is not None and calls["n"] > fail_after:
                raise _InjectedFailure(FIT_FAILURE)
            return method(*args, **kwargs)
        return reader

    broken.window_tensors = wrap(stats.window_tensors)
    broken.ld_ext_core = wrap(stats.ld_ext_core)
    return broken, calls


def check_no_partial_state_after_failed_fit(est, train, test):
    """A fit that raises part-way sets nothing: a fresh estimator stays unfitted, a fitted
    one keeps every fitted attribute of its previous fit.

    The failure is injected at the last read of window data a complete fit makes, i.e. as
    late in training as possible.
    """
    from sklearn.base import clone

    counting, calls = _instrumented(train)
    clone(est).set_params(random_state=0).fit(counting)
    last = calls["n"] - 1
    fresh = clone(est).set_params(random_state=0)
    try:
        fresh.fit(_instrumented(train, last)[0])
    except _InjectedFailure:
        pass
    else:
        raise AssertionError("the injected failure did not stop fit")
    assert not _fitted_attributes(fresh), (f"a failed fit left fitted attributes "
                                           f"{sorted(_fitted_attributes(fresh))}")
    fitted = clone(est).set_params(random_state=0).fit(train)
    before = _fitted_attributes(fitted)
    f_before = fitted.predict_f(test)
    try:
        fitted.fit(_instrumented(train, last)[0])
    except _InjectedFailure:
        pass
    after = _fitted_attributes(fitted)
    changed = sorted(k for k in before if after.get(k) is not before[k])
    assert not changed and after.keys() == before.keys(), (
        f"a failed refit changed the fitted attributes {changed}")
    np.testing.assert_array_equal(fitted.predict_f(test), f_before)


def check_cross_validate(est, stats, n_jobs=1, n_splits=2):
    """``cross_validate`` with ``GroupKFold`` by chromosome; ``n_jobs=2`` pickles the data."""
    from sklearn.model_selection import GroupKFold, cross_validate

    res = cross_validate(est, stats, groups=stats.groups, cv=GroupKFold(n_splits), n_jobs=n_jobs)
    assert len(res["test_score"]) == n_splits, "cross_validate returned the wrong number of folds"
    assert np.all(np.isfinite(res["test_score"])), "a cross-validated score is not finite"
    return res


def check_grid_search(est, stats, models=("constant", "glm")):
    """``GridSearchCV`` over ``model`` with ``GroupKFold`` by chromosome."""
    from sklearn.model_selection import GridSearchCV, GroupKFold

    gs = GridSearchCV(est, param_grid={"model": list(models)}, cv=GroupKFold(2))
    gs.fit(stats, groups=stats.groups)
    assert gs.best_params_["model"] in models
    assert np.all(np.isfinite(gs.cv_results_["mean_test_score"]))
    assert hasattr(gs.best_estimator_, "prior_")
    return gs


def check_estimator(estimator, stats, *, n_jobs=2):
    """Run every check on an unfitted estimator and a small data set.

    Parameters
    ----------
    estimator : FunctionalPrior
        Unfitted; keep it cheap (``max_epochs=1``, small network): it is fitted about ten
        times.
    stats : SummaryStats
        Windows on at least two chromosomes; the last chromosome is the test set.
    n_jobs : int, default=2
        Workers of the ``cross_validate`` check (2: the data must pickle).

    Returns
    -------
    float
        The held-out score of one fit (nats per person).
    """
    from sklearn.base import clone

    train, test = _split(stats)
    check_not_fitted(estimator, test)
    check_params(estimator)
    fitted = clone(estimator).set_params(random_state=0)
    check_fit_predict_score(fitted, train, test)
    check_pickle(fitted, test)
    check_refit_repeats(estimator, train, test)
    check_random_state_matters(estimator, train, test)
    check_no_partial_state_after_failed_fit(estimator, train, test)
    check_cross_validate(clone(estimator), stats, n_jobs=n_jobs)
    return fitted.score(test)
