"""
Cross-validation by chromosome and model selection
==================================================

A :class:`~deepwas.SummaryStats` is a scikit-learn data set whose samples are LD windows, and
``stats.groups`` holds each window's chromosome. So the usual tools work unchanged:
:class:`~sklearn.model_selection.GroupKFold` holds out whole chromosomes (windows on one
chromosome share LD and must not be split between training and test), and
:class:`~sklearn.model_selection.GridSearchCV` picks a model by its held-out likelihood
(:meth:`~deepwas.FunctionalPrior.score`, nats per person).
"""

# %%
# Data
# ----
import os
import tempfile

import matplotlib.pyplot as plt
import pandas as pd
from sklearn.model_selection import GridSearchCV, GroupKFold

import deepwas
from deepwas.datasets import load_demo

cache = os.environ.get("DEEPWAS_CACHE") or tempfile.mkdtemp(prefix="deepwas-")
stats = load_demo(chromosomes=range(1, 7), cache_dir=cache).stats
print(stats)
print("groups:", list(stats.groups))

# %%
# Folds by chromosome
# -------------------
# Three folds of two chromosomes each. Window factors are computed once and shared by every
# fold's slices, so cross-validation costs only the fits.
cv = GroupKFold(n_splits=3)
for k, (tr, te) in enumerate(cv.split(stats, groups=stats.groups)):
    print(f"fold {k}: train on chromosomes {sorted(set(stats.groups[tr]), key=int)}, "
          f"test on {sorted(set(stats.groups[te]), key=int)}")

# %%
# ``cross_validate`` (or ``cross_val_score``) of one model is then one line, e.g.
# ``cross_validate(deepwas.GLMPrior(), stats, groups=stats.groups, cv=cv)``.
#
# Selecting a model
# -----------------
# ``GridSearchCV`` treats the network like any other hyper-parameter. The grid compares the
# constant prior (one parameter: a flat :math:`f` up to the frequency term) with the GLM of
# the tracks and frequencies, with the frequency exponent :math:`\alpha` fixed at 0.7 or
# learned.
fit_params = dict(random_state=0)       # constant and GLM: L-BFGS to the maximum likelihood
grid = GridSearchCV(
    deepwas.FunctionalPrior(**fit_params),
    param_grid=[{"model": ["constant"]}, {"model": ["glm"], "learn_alpha": [False, True]}],
    cv=cv,
)
grid.fit(stats, groups=stats.groups)
table = pd.DataFrame(grid.cv_results_)[
    ["param_model", "param_learn_alpha", "mean_test_score", "std_test_score", "rank_test_score"]]
print(table.to_string(index=False))
print("best:", grid.best_params_)

# %%
# Scores are per person and differ little in absolute terms; the difference to the constant
# prior, per fold, shows which model wins consistently. ``best_estimator_`` is refitted on all
# six chromosomes.
split_cols = [f"split{k}_test_score" for k in range(cv.get_n_splits())]
scores = pd.DataFrame(grid.cv_results_)[split_cols].to_numpy()
labels = [f"{m}{' + learned alpha' if a is True else ''}" for m, a in
          zip(grid.cv_results_["param_model"], grid.cv_results_["param_learn_alpha"])]
base = scores[labels.index("constant")]
fig, ax = plt.subplots(figsize=(5.5, 3.2))
for lab, row in zip(labels, scores):
    ax.plot(range(1, len(row) + 1), (row - base) * stats.n, "o-", label=lab)
ax.axhline(0, color="k", lw=0.8)
ax.set_xticks(range(1, len(base) + 1))
ax.set_xlabel("fold (two held-out chromosomes)")
ax.set_ylabel("held-out gain over the\nconstant prior (nats)")
ax.legend(fontsize=8)
fig.tight_layout()
print("refitted:", grid.best_estimator_.model, "alpha =", round(grid.best_estimator_.alpha_, 3))
