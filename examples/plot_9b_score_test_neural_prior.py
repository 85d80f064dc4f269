"""
Beyond what the transformer predicts: the score test on a neural prior
======================================================================

The previous example tests candidate annotations against a GLM prior. A GLM can only weight
its features linearly, so a candidate that is a *nonlinear* function of those features (the
variants at the top of a track, say) still looks enriched beyond it, although the features
hold everything the candidate says. A transformer prior can learn such functions of its
tracks; :meth:`deepwas.FunctionalPrior.score_test` then asks the question no peer tool can:
does this annotation explain signal *beyond what the transformer already predicts*?

Here the truth is the paper's threshold prior (variants whose first track is in its top
10 % carry a 1000-fold variance) times a hidden annotation that no feature shows. Tested
against the GLM, the track's top decile and the hidden annotation are both significant; against
the transformer, only the hidden one is.
"""

# %%
# A GWAS with an enrichment the tracks show nonlinearly and one they do not show
# ------------------------------------------------------------------------------
# The demo's regions on chromosomes 1-8 with its tracks and ``truth="threshold"``
# (:func:`~deepwas.datasets.load_demo`). On top of its ``f_true`` we put ``hidden``: 25-kb
# runs covering about a quarter of the variants, with three times the variance, and draw the
# GWAS again, exactly through the 489 people's genotypes, region by region
# (:func:`deepwas.simulate.beta_hat_from_genotypes`). ``stats.with_beta_hat`` keeps the
# variants, the LD, the windows and the features.
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import deepwas
from deepwas.datasets import load_demo
from deepwas.simulate import beta_hat_from_genotypes

cache = os.environ.get("DEEPWAS_CACHE") or tempfile.mkdtemp(prefix="deepwas-")
demo = load_demo(chromosomes=range(1, 9), truth="threshold", cache_dir=cache)
v = demo.stats.variants
rng = np.random.default_rng(0)
chrom, pos = v["chrom"].astype(str), v["pos"]
run = pd.factorize(chrom + ":" + (pos // 25_000).astype(str))[0]
hidden = (rng.random(run.max() + 1) < 0.25)[run].astype(float)
f_true = demo.f_true * (1 + 2 * hidden)
f_true *= demo.h2 / f_true.sum()
beta = rng.standard_normal(len(v)) * np.sqrt(f_true)
beta_hat = beta_hat_from_genotypes(demo.stats.ld, beta, (1 - demo.h2) / demo.n,
                                   chrom.to_numpy(), rng)
stats = demo.stats.with_beta_hat(beta_hat)
print(stats)

# %%
# Candidates
# ----------
# ``track1_top``: the top decile of the first track, averaged over the variant's window -- the
# threshold of the truth, a function of the features both priors see. ``hidden``, held out of
# every feature. And 20 null candidates (random 5-kb runs, 1 in 5).
track1 = stats.get_features(np.arange(stats.n_variants)).func[:, 0, :].mean(-1)
run5 = pd.factorize(chrom + ":" + (pos // 5_000).astype(str))[0]
cands = {"track1_top": (track1 > np.quantile(track1, 0.9)).astype(float), "hidden": hidden}
for k in range(20):
    cands[f"null{k}"] = (rng.random(run5.max() + 1) < 0.2)[run5].astype(float)
cands = pd.DataFrame(cands).assign(SNP=v["snp"].to_numpy())
for name in ("track1_top", "hidden"):
    a = cands[name].to_numpy()
    print(f"{name}: {a.mean():.0%} of variants, {(a * f_true).sum() / f_true.sum():.0%} "
          "of the heritability")

# %%
# Two priors on the same features
# -------------------------------
# A GLM prior (L-BFGS to the maximum likelihood) and the default residual transformer:
# log f = the GLM + a "tiny" transformer of the tracks, trained with AdamW on the part the
# GLM misses and stopped on held-out chromosomes (docs: "The neural prior"). The settings are
# the ``deepwas demo``'s, small enough for a CPU.
glm = deepwas.FunctionalPrior(model="glm", random_state=0).fit(stats)
transformer = deepwas.FunctionalPrior(
    model="transformer", model_params={"size": "tiny"}, lr=3e-3, max_epochs=20,
    warmup_steps=5, accumulate=1, init_windows=4, random_state=0).fit(stats)
print(f"transformer: stopped on {transformer.stopped_on_}, flexible part kept: "
      f"{transformer.flexible_kept_}")
log_true = np.log(f_true)
for name, est in (("GLM", glm), ("transformer", transformer)):
    err = np.log(est.predict_f(stats)) - log_true
    print(f"{name}: RMSE of log f (up to a constant) {np.std(err):.2f}")

# %%
# The score test against each prior
# ----------------------------------
# For the GLM, conditional on all its weights; for the transformer, on its intercept (the
# overall scale of f; its other weights are a network's, ``nuisance="auto"``). 40 jackknife
# blocks: five per 1-Mb region.
tests = {name: est.score_test(stats, cands, n_blocks=40)
         for name, est in (("GLM", glm), ("transformer", transformer))}
table = pd.concat({name: res.set_index("Category")[["z", "p"]]
                   for name, res in tests.items()}, axis=1)
print(table.loc[["track1_top", "hidden"]].to_string(float_format="%.3g"))
for name, res in tests.items():
    nulls = res[res["Category"].str.startswith("null")]
    print(f"{name}: null candidates with p < 0.05: {np.mean(nulls['p'] < 0.05):.0%}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3), sharey=True)
for ax, (name, res) in zip(axes, tests.items()):
    res = res.set_index("Category").loc[cands.columns.drop("SNP")]
    colors = ["C1" if c == "track1_top" else "C3" if c == "hidden" else "C0"
              for c in res.index]
    ax.bar(np.arange(len(res)), res["z"], color=colors)
    for y in (-1.96, 1.96):
        ax.axhline(y, color="grey", lw=0.8, ls="--")
    ax.set_xticks([0, 1], ["track1_top", "hidden"], rotation=90, fontsize=8)
    ax.set_title(f"beyond the {name}?")
axes[0].set_ylabel("score z")
fig.tight_layout()

# %%
# What this shows
# ---------------
# Against the GLM, ``track1_top`` is strongly "enriched": the GLM puts a linear weight on the
# averaged track and misses the threshold, so the candidate explains signal beyond it. The
# transformer has learned the threshold from the tracks themselves: given the transformer,
# ``track1_top`` adds nothing. ``hidden`` is significant against both, because no feature
# shows it; the null candidates stay null. This is how to ask whether a new annotation carries
# information beyond a model of the genome's tracks -- not only beyond a list of annotations.
