"""
Using your own files
====================

The demo hides the file handling; this example does it by hand, with real files shipped in the
package standing in for yours:

* **summary statistics** in BOLT-LMM's output format (:func:`deepwas.io.read_sumstats`);
* **LD from PLINK genotypes**: 489 1000 Genomes Europeans
  (:meth:`deepwas.SummaryStats.from_plink`);
* **LD in the UK Biobank / PolyFun format** (``.npz`` + ``.gz`` per window), written here from
  the same genotypes with :func:`deepwas.io.write_ukbb_ld` and read back with
  :meth:`deepwas.SummaryStats.from_ukbb` -- both LD sources give the same likelihood;
* **liftover** of hg19 positions to hg38 with the shipped UCSC chain
  (:func:`deepwas.features.liftover`);
* **bigWig tracks** (:class:`deepwas.features.BigWigTracks`), read around every variant,
  after liftover, as the prior's features.

Everything is written to a temporary directory.
"""

# %%
# Summary statistics
# ------------------
# The shipped file is BOLT-LMM output for the SNPs of 22 one-megabase regions (hg19). BOLT-LMM
# reports no sample size: pass the GWAS ``n``, which :func:`~deepwas.io.read_sumstats` turns
# into an effective N (PolyFun's rule). Rows it cannot use are counted, never silently lost.
# We keep two regions, on chromosomes 15 and 22, to stay quick.
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import deepwas
from deepwas.datasets import demo_bfiles
from deepwas.features import (HG19_TO_HG38_CHAIN, BigWigTracks, apply_liftover_policy,
                              liftover)
from deepwas.io import read_sumstats, write_ukbb_ld
from deepwas.ld import read_plink_reference

bfiles = demo_bfiles(chromosomes=[15, 22])       # PLINK prefixes: .bed/.bim/.fam
data_dir = os.path.dirname(bfiles[0])
sumstats = read_sumstats(os.path.join(data_dir, "bolt.sumstats.txt.gz"), n=557_000)
print(sumstats.attrs["format"], "format,", len(sumstats), "SNPs")
sumstats = sumstats[sumstats["CHR"].isin(["15", "22"])]
print("effective N:", round(sumstats.attrs["n_effective"]))
print("dropped:", sumstats.attrs["dropped"])
sumstats.head()

# %%
# LD from PLINK genotypes
# -----------------------
# :meth:`~deepwas.SummaryStats.from_plink` matches SNPs by rsID, aligns the statistics to the
# reference alleles (flips repaired, strand-ambiguous SNPs dropped) and cuts each chromosome
# into windows. Every dropped SNP is counted by reason. By default a panel of 489 people is cut
# at LD blocks found in it (``ld_blocks="auto"``, :doc:`/reference_panel`); here each region is
# kept as one 1 Mb window (``ld_blocks="none"``), the window the UK Biobank-format file below
# defines, so that the two LD sources can be compared.
stats = deepwas.SummaryStats.from_plink(bfiles, sumstats, ld_blocks="none")
print(stats)
print({k: v for k, v in stats.drop_counts.items() if v})
stats.variants.head()

# %%
# The likelihood of a flat prior, :math:`f_m = h^2/M_\text{genome}` with the residual variance
# :math:`\sigma^2 = 1 - h^2`, as a function of :math:`h^2` (a profile likelihood), is computed
# below for both LD sources.
h2_grid = np.linspace(0.1, 0.9, 9)
M_genome = 1e6

# %%
# The same LD as UK Biobank-format files
# --------------------------------------
# UK Biobank LD matrices (Weissbrod et al. 2020) come as one ``chr{C}_{start}_{end}.npz``
# (lower triangle, sparse) and ``.gz`` (variant table) per window. We write our reference LD
# in that format for the chromosome 15 region -- one file, named after the region's 1 Mb span
# -- and read the folder back. Each file becomes one window whose core is its middle 1 Mb,
# here the whole region, so the window matches the PLINK one exactly.
tmp = tempfile.mkdtemp(prefix="deepwas-own-files-")
ld_dir = os.path.join(tmp, "ukbb_ld")
os.makedirs(ld_dir)
reference = read_plink_reference(bfiles)
ref_vars = reference.variants
for chrom in ["15"]:
    rows = np.flatnonzero((ref_vars["chrom"] == chrom).to_numpy()
                          & ~reference.monomorphic)
    R = reference.block(rows, rows)
    write_ukbb_ld(R, ref_vars.iloc[rows], os.path.join(ld_dir, f"chr{chrom}_20000000_21000000"))
print(sorted(os.listdir(ld_dir)))

stats_ukbb = deepwas.SummaryStats.from_ukbb(ld_dir, sumstats[sumstats["CHR"] == "15"])
print(stats_ukbb)
gain_ukbb = [deepwas.marginal_loglik(stats_ukbb, np.full(stats_ukbb.n_variants, h2 / M_genome),
                                     relative_to_null=True, sigma2=1 - h2)
             for h2 in h2_grid]
stats15 = stats[stats.groups == "15"]          # the same window from the PLINK reference
gain_plink = [deepwas.marginal_loglik(stats15, np.full(stats15.n_variants, h2 / M_genome),
                                      relative_to_null=True, sigma2=1 - h2)
              for h2 in h2_grid]
print("largest difference between the two LD sources:",
      f"{np.max(np.abs(np.subtract(gain_plink, gain_ukbb))):.2e} nats")

fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(h2_grid, np.array(gain_plink) / stats.n, "o-", label="PLINK genotypes")
ax.plot(h2_grid, np.array(gain_ukbb) / stats.n, "x--", label="UK Biobank-format files")
ax.set_xlabel("$h^2$ of a flat prior")
ax.set_ylabel("gain over the null\n(nats per person)")
ax.set_title("chromosome 15 region, BOLT-LMM statistics")
ax.legend()
fig.tight_layout()

# %%
# Liftover
# --------
# Summary statistics and LD are hg19 here; most track collections are hg38. The shipped UCSC
# chain maps positions (nothing is downloaded: a chain is always a file path). Unmapped
# variants are reported, and what to do with them is your choice: drop them, or give them the
# position of their nearest mapped neighbour.
v = stats.variants
lifted = liftover(v["chrom"], v["pos"], HG19_TO_HG38_CHAIN)
print(lifted["mapped"].value_counts().to_dict(), "| strands:",
      lifted["strand"].value_counts().to_dict())
print("hg38 - hg19 offset on chr22:",
      (lifted["pos"] - v["pos"])[v["chrom"] == "22"].median())
kept = apply_liftover_policy(lifted, "drop")
print(len(kept), "of", len(lifted), "variants kept by the 'drop' policy")

# %%
# bigWig tracks as features
# -------------------------
# Your tracks would be ENCODE / Roadmap bigWig files. To stay offline we write two small hg38
# tracks over the two regions with pyBigWig -- a smooth "broad mark" and sparse "peaks" --
# exactly as such files are laid out (intervals of 100 bp with a value each).
import pyBigWig  # noqa: E402

rng = np.random.default_rng(0)
hg38_len = {"15": 101_991_189, "22": 50_818_468}
span = {c: (int(lifted["pos"][v["chrom"] == c].min()) - 200_000,
            int(lifted["pos"][v["chrom"] == c].max()) + 200_000) for c in hg38_len}
track_paths = []
for name in ["broad", "peaks"]:
    path = os.path.join(tmp, f"{name}.hg38.bigWig")
    with pyBigWig.open(path, "w") as bw:
        bw.addHeader([(f"chr{c}", n) for c, n in hg38_len.items()])
        for c, (lo, hi) in span.items():
            starts = np.arange(lo, hi, 100, dtype=np.int64)
            if name == "broad":
                x = np.convolve(rng.normal(size=len(starts)), np.ones(200) / 200, "same")
                vals = np.exp(20 * x)
            else:
                vals = rng.exponential(5.0, len(starts)) * (rng.random(len(starts)) < 0.01)
            bw.addEntries([f"chr{c}"] * len(starts), starts.tolist(),
                          ends=(starts + 100).tolist(), values=vals.astype(float).tolist())
    track_paths.append(path)

# %%
# :class:`~deepwas.features.BigWigTracks` reads ``width`` bins of ``bin_size`` bp centred on
# each variant, lifting hg19 positions to hg38 first (unmapped variants take their nearest
# neighbour's window). Passed as ``features``, the tracks follow the statistics through
# windows, slicing and cross-validation.
tracks = BigWigTracks(track_paths, width=32, bin_size=500, names=["broad", "peaks"],
                      liftover_chain=HG19_TO_HG38_CHAIN, unmapped="nearest")
stats_feat = deepwas.SummaryStats.from_plink(bfiles, sumstats, features=tracks)
feats = stats_feat.get_features()
print("func features:", feats.func.shape, "(variants, tracks, bins)")

k = int(np.argmax(feats.func[:, 1].sum(1)))          # the variant with the most peak signal
fig, axes = plt.subplots(1, 2, figsize=(8, 2.8), sharex=True)
offsets_kb = (np.arange(32) - 16 + 0.5) * 0.5
for t, ax in enumerate(axes):
    ax.bar(offsets_kb, feats.func[k, t], width=0.45)
    ax.set_title(f"{tracks.func_names[t]} around {stats_feat.variants['snp'][k]}")
    ax.set_xlabel("distance from the variant (kb, hg38)")
axes[0].set_ylabel("track value")
fig.tight_layout()

# %%
# From here on the data behave like the demo's: fit a
# :class:`deepwas.FunctionalPrior` on some chromosomes and score it on others (see the
# other examples). ``deepwas.SummaryStats.from_ukbb(..., features=tracks)`` works the same
# way with UK Biobank LD.

# %%
# Clean up the temporary files of this example.
import shutil  # noqa: E402

shutil.rmtree(tmp)
