"""
Recovering a known prior from semi-synthetic data
=================================================

With real data the true prior is unknown; with *semi-synthetic* data it is known. Real LD and
real-format features are kept, a true :math:`f` is chosen, and a GWAS is simulated from it:
:math:`\\beta \\sim \\mathcal N(0, f_\\text{true})`,
:math:`\\hat\\beta \\sim \\mathcal N(R\\beta, \\sigma^2_N R)`
(:func:`deepwas.simulate.semi_synthetic`). How close does a fitted prior get?

Like the paper's Fig. 4, the truth here is the sparse *threshold* function of its App. B.1:
the variants whose first track is in its top 10 % have a 1000-fold larger prior variance.
The metric is the root mean squared error of :math:`\\log\\hat f - \\log f_\\text{true}` on a
held-out chromosome.
"""

# %%
# Simulate
# --------
# :func:`~deepwas.datasets.load_demo` runs the simulation for us (``truth="threshold"``);
# ``demo.f_true`` is the truth, aligned with ``demo.stats.variants``.
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import deepwas
from deepwas.datasets import load_demo

cache = os.environ.get("DEEPWAS_CACHE") or tempfile.mkdtemp(prefix="deepwas-")
demo = load_demo(chromosomes=range(1, 7), truth="threshold", cache_dir=cache)
stats = demo.stats
train, test = stats[stats.groups != "6"], stats[stats.groups == "6"]
f_true = demo.f_true[test.variants["row"]]
print(stats)
print(f"true f on the held-out chromosome: {np.mean(f_true > np.median(f_true) * 100):.1%} "
      "of variants enriched")

# %%
# Fit
# ---
# The same GLM prior trained by the two objectives, and a constant prior for reference.
fit = dict(random_state=0)     # constant and GLM priors: L-BFGS to the maximum likelihood
fits = {
    "constant (DeepWAS)": deepwas.ConstantPrior(**fit),
    "GLM, DeepWAS": deepwas.GLMPrior(solver="deepwas", **fit),
    "GLM, LDSR": deepwas.GLMPrior(solver="ldsr", **fit),
}
log_err = {}
for name, est in fits.items():
    est.fit(train)
    log_err[name] = np.log(est.predict_f(test)) - np.log(f_true)
    rmse = np.sqrt(np.mean(log_err[name] ** 2))
    print(f"{name:>18}: RMSE of log f = {rmse:.3f}; held-out score {est.score(test):.6f} "
          "nats/person")

# %%
# Predicted against true log prior variance on the held-out chromosome. The threshold truth
# has two levels (times the frequency term); a model that found the enriched variants
# separates them.
fig, axes = plt.subplots(1, len(fits), figsize=(9, 3.2), sharex=True, sharey=True)
for ax, (name, err) in zip(axes, log_err.items()):
    ax.plot(np.log10(f_true), np.log10(f_true) + err / np.log(10), ".", ms=2, alpha=0.3)
    lim = np.log10([f_true.min(), f_true.max()])
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_title(f"{name}\nRMSE(log f) = {np.sqrt(np.mean(err ** 2)):.2f}", fontsize=9)
    ax.set_xlabel("true $\\log_{10} f$")
axes[0].set_ylabel("fitted $\\log_{10} f$")
fig.tight_layout()
