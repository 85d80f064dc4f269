"""
Predicted enrichment along a region, next to its tracks
=======================================================

What has a prior learned? Like the paper's Fig. 3, plot the genomic tracks it reads over a
held-out region and, below them, the predicted enrichment of each variant: its prior
variance :math:`\\hat f_m` with the allele-frequency term :math:`(p_m(1-p_m))^\\alpha`
divided out, relative to the region's average. Peaks of enrichment should sit where the
tracks the model found informative are high.
"""

# %%
# Fit a prior on five chromosomes
# -------------------------------
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pyBigWig

import deepwas
from deepwas.datasets import load_demo
from deepwas.features import liftover

cache = os.environ.get("DEEPWAS_CACHE") or tempfile.mkdtemp(prefix="deepwas-")
demo = load_demo(chromosomes=range(1, 7), cache_dir=cache)
stats = demo.stats
train, test = stats[stats.groups != "6"], stats[stats.groups == "6"]
est = deepwas.GLMPrior(random_state=0).fit(train)
print("held-out score:", round(est.score(test), 6), "nats/person")

# %%
# Predicted and true enrichment on the held-out region
# ----------------------------------------------------
# The statistics are hg19, the tracks hg38: lift the variants with the shipped chain to
# place them on the tracks' coordinates.
v = test.variants
p = v["freq"].clip(1e-4, 1 - 1e-4).to_numpy()
f_hat = est.predict_f(test)
f_true = demo.f_true[v["row"]]
enrich_hat = f_hat / (p * (1 - p)) ** est.alpha_
enrich_hat /= enrich_hat.mean()
enrich_true = f_true / (p * (1 - p)) ** 0.7          # the simulation used alpha = 0.7
enrich_true /= enrich_true.mean()
lifted = liftover(v["chrom"], v["pos"], demo.chain_file)
ok = lifted["mapped"].to_numpy()
pos38 = lifted["pos"].to_numpy(dtype=float, na_value=np.nan)
chrom38 = "chr" + lifted["chrom"][ok].iloc[0]
print(f"{ok.sum()} of {len(ok)} variants lifted to {chrom38}")
print("correlation of log enrichments (predicted vs true):",
      round(np.corrcoef(np.log(enrich_hat[ok]), np.log(enrich_true[ok]))[0, 1], 3))

# %%
# Tracks and enrichment along the region
# --------------------------------------
# Tracks are read straight from the bigWig files at 5 kb resolution; enrichments are shown
# per variant and as a running median over 50 variants.
lo, hi = int(np.nanmin(pos38)), int(np.nanmax(pos38))
n_bins = (hi - lo) // 5_000
fig, axes = plt.subplots(len(demo.track_paths) + 1, 1, figsize=(8, 7), sharex=True,
                         gridspec_kw={"height_ratios": [1] * len(demo.track_paths) + [2]})
for ax, path, name in zip(axes, demo.track_paths, demo.track_names):
    with pyBigWig.open(path) as bw:
        vals = np.nan_to_num(np.array(bw.stats(chrom38, lo, hi, type="mean", nBins=n_bins),
                                      dtype=float))
    centres = lo + (np.arange(n_bins) + 0.5) * (hi - lo) / n_bins
    ax.fill_between(centres / 1e6, vals, step="mid", alpha=0.7)
    ax.set_ylabel(name.replace("synthetic_", ""), rotation=0, ha="right", fontsize=8)
    ax.set_yticks([])

ax = axes[-1]
order = np.argsort(pos38[ok])
x = pos38[ok][order] / 1e6
for values, label, colour in [(enrich_true, "true", "0.5"), (enrich_hat, "GLM prior", "C3")]:
    y = np.asarray(values)[ok][order]
    ax.plot(x, y, ".", ms=1.5, color=colour, alpha=0.35)
    ax.plot(x, pd.Series(y).rolling(50, center=True, min_periods=10).median(), color=colour,
            lw=1.5, label=label)
ax.set_yscale("log")
ax.set_ylabel("enrichment\n$f / (p(1-p))^{\\alpha}$, relative")
ax.set_xlabel(f"{chrom38} position (Mb, hg38)")
ax.legend(fontsize=8, loc="upper right")
fig.suptitle("held-out region: tracks (top) and predicted enrichment (bottom)", fontsize=10)
fig.tight_layout()

# %%
# Which tracks did the GLM use? Its weights act on the standardised, window-averaged tracks
# and the two scalar predictors (positive: enriched where the feature is high).
weights = {k: v.detach().numpy().ravel() for k, v in est.prior_.named_parameters()}
print({k: np.round(w, 3) for k, w in weights.items()})
