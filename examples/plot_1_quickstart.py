"""
Quickstart: fit a prior, score it on a held-out chromosome
==========================================================

Load the demo (real 1000 Genomes LD, bigWig tracks, a GWAS simulated from a known prior),
fit a GLM prior on five chromosomes by maximising the DeepWAS marginal likelihood, and score
it on the sixth: the held-out log-likelihood gain over the null model, in nats per person.
"""

# %%
# Load the demo
# -------------
# :func:`~deepwas.datasets.load_demo` returns a :class:`~deepwas.SummaryStats` (the GWAS
# statistics, their LD and features, cut into windows) and the true prior variances of the
# simulation. We keep 6 of the 22 regions so the example runs in about a minute; the first
# call computes and caches the window factors, later calls (and the other examples) read them.
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import deepwas
from deepwas.datasets import load_demo

# The docs build points $DEEPWAS_CACHE at its build directory; run by hand, use a temporary one.
cache = os.environ.get("DEEPWAS_CACHE") or tempfile.mkdtemp(prefix="deepwas-")
demo = load_demo(chromosomes=range(1, 7), cache_dir=cache)
stats = demo.stats
print(stats)
print("features:", demo.track_names, "+", stats.features.pred_names)
stats.variants.head()

# %%
# One window is one sample: ``len(stats)`` windows, each with its chromosome in
# ``stats.groups``, and ``stats[mask]`` keeps some of them.
print(len(stats), "windows on chromosomes", list(stats.groups))
train = stats[stats.groups != "6"]
test = stats[stats.groups == "6"]
print("train:", train)
print("test: ", test)

# %%
# Fit a GLM prior
# ---------------
# :class:`~deepwas.GLMPrior` is :class:`~deepwas.FunctionalPrior` with ``model="glm"``:
# :math:`\log f_m = \alpha\log p_m(1-p_m) + w^\top(\text{window-averaged tracks},
# \text{freq}, \text{maf}) + b`. With a handful of parameters it is fitted by full-batch
# L-BFGS over all training windows, to the maximum of the likelihood.
est = deepwas.GLMPrior(random_state=0)
est.fit(train)
print(f"L-BFGS: {est.n_iter_} iterations, converged: {est.converged_}; train loss per "
      "iteration:", np.round(est.history_[:, "train_loss"], 4))

# %%
# Score it
# --------
# :meth:`~deepwas.FunctionalPrior.score` is the held-out gain over the null model, summed over
# windows and divided by the GWAS sample size (nats per person);
# :func:`~deepwas.likelihood_increase_percent` gives the paper's "% likelihood increase per
# person". For reference: a constant prior (one parameter) and the true prior of the
# simulation, which no fitted prior can beat in expectation.
const = deepwas.ConstantPrior(random_state=0).fit(train)
true_gain = deepwas.marginal_loglik(test, demo.f_true[test.variants["row"]],
                                    relative_to_null=True)
scores = {"constant": const.score(test), "GLM": est.score(test), "true f": true_gain / test.n}
for name, s in scores.items():
    print(f"{name:>9}: {s:.5f} nats/person "
          f"({deepwas.likelihood_increase_percent(s):.3f} % likelihood increase per person)")

# %%
# Predicted against true prior variances on the held-out chromosome (the truth is a GLM of
# the same features, so a good fit lies on the diagonal):
f_hat = est.predict_f(test)
f_true = demo.f_true[test.variants["row"]]
fig, ax = plt.subplots(figsize=(4.2, 4))
ax.loglog(f_true, f_hat, ".", ms=2, alpha=0.4)
lims = [min(f_true.min(), f_hat.min()), max(f_true.max(), f_hat.max())]
ax.plot(lims, lims, "k--", lw=1)
ax.set_xlabel("true $f$")
ax.set_ylabel("predicted $f$ (GLM)")
ax.set_title("chromosome 6, held out")
fig.tight_layout()
