"""``deepwas predict``'s table: the prior variances f of a saved prior on the data's variants
or on the rows of a summary-statistics file. Below the command modules: ``deepwas predict``
(:mod:`._results`) writes this TSV or PolyFun's files from :func:`predicted_f`."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..estimators import load_model
from ..io.variant_names import user_id_columns
from ..utils.chrom import normalise_chrom
from ._data import UserError, check_annotation_coverage, lift_once, load_stats, model_features, \
    read_sumstats_args
from ._reports import write_table

__all__ = ["predicted_f", "cmd_predict"]


def predicted_f(args):
    """``(variants, f, z, n)``: the prior variances of the data's variants (with LD: the data
    set's, z and n from it) or of the --sumstats rows (without LD: their Z and N)."""
    est, cfg = load_model(args.model)
    feats = model_features(args, cfg)
    if args.bfile or args.ld_dir or args.ldgm or args.sbayesrc_ld:
        stats = load_stats(args, features=feats)
        v = stats.variants
        v.attrs["genome_builds"] = stats.genome_builds
        f = est.predict_f(stats)
        z = v["beta_hat"].to_numpy() * np.sqrt(float(stats.n))
        return v, f, z, float(stats.n)
    ss = read_sumstats_args(args)
    if "FREQ" not in ss:
        raise UserError(f"{args.sumstats} has no allele frequency column (FREQ/EAF/AF...): "
                        "pass --bfile to take frequencies from reference genotypes")
    v = pd.DataFrame({"chrom": normalise_chrom(ss["CHR"]),
                      "pos": ss["BP"].astype(np.int64), "snp": ss["SNP"], "a1": ss["A1"],
                      "a2": ss["A2"], "freq": ss["FREQ"].astype(np.float64)})
    v["row"] = np.arange(len(v))
    if feats is not None:
        lift_once(feats, v)
        check_annotation_coverage(feats, v)
    f = est.predict_f(v, features=feats) if feats is not None else est.predict_f(v)
    return v, f, ss["Z"].to_numpy(np.float64), ss["N"].to_numpy(np.float64)


def cmd_predict(args):
    v, f, _, _ = predicted_f(args)
    ids, words = user_id_columns(v, v.attrs.get("genome_builds"))
    out = pd.concat([ids[["SNP", "CHR", "BP", "A1", "A2"]],
                     pd.DataFrame({"FREQ": v["freq"].to_numpy(), "F": f,
                                   "ENRICHMENT": np.sqrt(f / np.mean(f))}),
                     ids.drop(columns=["SNP", "CHR", "BP", "A1", "A2"])], axis=1)
    paths = write_table(out, args.out)
    print(f"prior variances of {len(out)} variants (sum f = {f.sum():.4g}); wrote "
          + " and ".join(paths) + f"; {words}")
    return 0
