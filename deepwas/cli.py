"""The ``deepwas`` command line.

Subcommands (each has ``--help``)::

    deepwas demo        cross-validated Constant / GLM / Transformer priors, DeepWAS vs LDSR,
                        on the embedded demo (real 1000 Genomes LD, hg38 bigWig tracks)
    deepwas precompute  window factors of a data set into a cache directory
    deepwas fit         train a prior; save it as a torch state dict + JSON config
    deepwas score       held-out log-likelihood gain of a saved prior (JSON + TSV)
    deepwas predict     per-variant prior variances f of a saved prior (TSV, + parquet)
    deepwas simulate    semi-synthetic summary statistics on real LD from a known prior

Errors a user can act on (a missing or unreadable file, a bad option value) end with one line
``deepwas: error: ...`` on stderr and exit status 2; ``-v`` also prints the traceback.
Saved models are never pickles: ``model.pt`` holds only tensors (loaded with
``torch.load(..., weights_only=True)``) and ``model.json`` the configuration.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

import numpy as np

__all__ = ["main", "build_parser", "save_model", "load_model", "MODEL_FORMAT"]

MODEL_FORMAT = "deepwas-model-v1"
log = logging.getLogger("deepwas.cli")


class UserError(Exception):
    """An error the user can fix (bad input); printed as one line."""


# ---------------------------------------------------------------------------------- data
def _add_data_args(p, sumstats_required=True, with_features=True):
    g = p.add_argument_group("data")
    src = g.add_mutually_exclusive_group(required=True)
    src.add_argument("--bfile", nargs="+", metavar="PREFIX",
                     help="PLINK reference genotypes (.bed/.bim/.fam prefixes, e.g. one per "
                          "chromosome): LD is computed from them")
    src.add_argument("--ld-dir", metavar="DIR",
                     help="folder of UK Biobank / PolyFun LD files (.npz + .gz)")
    g.add_argument("--sumstats", metavar="FILE", required=sumstats_required,
                   help="summary statistics (BOLT-LMM, ldsc .sumstats or a table with SNP A1 A2 "
                        "and Z or BETA+SE; plain or gzip)")
    g.add_argument("--columns", nargs="+", metavar="KEY=NAME",
                   help="name the --sumstats columns that are not recognised, e.g. "
                        "SNP=rsid A1=effect_allele A2=other_allele (keys: SNP CHR BP A1 A2 Z "
                        "BETA SE N FREQ)")
    g.add_argument("--n", type=float, metavar="N",
                   help="GWAS sample size (required when the file has no N column)")
    g.add_argument("--sigma2", type=float, metavar="S",
                   help="residual variance of the standardised phenotype, 1 - h2 (default 1.0)")
    g.add_argument("--window-bp", type=int, default=1_000_000, help="core window size (bp)")
    g.add_argument("--flank-bp", type=int, default=1_000_000, help="flank of the extended set (bp)")
    g.add_argument("--keep-ambiguous", action="store_true",
                   help="keep strand-ambiguous (A/T, C/G) SNPs")
    g.add_argument("--cache-dir", metavar="DIR",
                   help="keep window factors on disk here (reused by later commands)")
    if with_features:
        f = p.add_argument_group("features")
        f.add_argument("--tracks", nargs="+", metavar="BIGWIG",
                       help="bigWig signal tracks (C_func); with --chain if their genome build "
                            "differs from the summary statistics'")
        f.add_argument("--chain", metavar="FILE",
                       help="UCSC liftover chain file from the statistics' build to the tracks' "
                            "(e.g. hg19ToHg38.over.chain.gz)")
        f.add_argument("--width", type=int, default=32, help="bins per track window")
        f.add_argument("--bin-size", type=int, default=500, help="bp per bin")
        f.add_argument("--no-freq-predictors", action="store_true",
                       help="do not use allele frequency and MAF as scalar predictors")


def _check_file(path, what):
    if path is not None and not os.path.isfile(path):
        raise UserError(f"{what} not found: {path}")


def _feature_provider(tracks, chain, width, bin_size, freq_predictors, names=None):
    from .features import BasicPredictors, BigWigTracks, FeatureSet

    parts = []
    if tracks:
        for t in tracks:
            _check_file(t, "bigWig track")
            with open(t, "rb") as fh:  # check here: libBigWig prints its own errors to stderr
                magic = fh.read(4)
            if magic not in (b"\x26\xfc\x8f\x88", b"\x88\x8f\xfc\x26"):
                raise UserError(f"{t} is not a bigWig file (bad magic number)")
        if chain is not None:
            _check_file(chain, "liftover chain file")
            from .features.liftover import load_chain

            load_chain(chain)  # a bad chain file fails here, with its own clear message
        parts.append(BigWigTracks(tracks, width=width, bin_size=bin_size, names=names,
                                  liftover_chain=chain, unmapped="nearest"))
    if freq_predictors:
        parts.append(BasicPredictors())
    return FeatureSet(parts) if parts else None


def _feature_spec(args):
    if not getattr(args, "tracks", None) and getattr(args, "no_freq_predictors", True):
        return None
    return dict(tracks=[os.path.abspath(t) for t in (args.tracks or [])],
                chain=None if args.chain is None else os.path.abspath(args.chain),
                width=int(args.width), bin_size=int(args.bin_size),
                freq_predictors=not args.no_freq_predictors)


def _column_map(pairs):
    """``["SNP=rsid", ...]`` -> ``{"SNP": "rsid", ...}`` (None when no --columns)."""
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        key, sep, name = pair.partition("=")
        if not sep or not key or not name:
            raise UserError(f"--columns takes KEY=NAME pairs, got {pair!r}")
        out[key.strip().upper()] = name.strip()
    return out


def _read_sumstats(args):
    """The --sumstats file as a DataFrame (read here so that --columns applies)."""
    from .io import read_sumstats

    _check_file(args.sumstats, "summary statistics file")
    return read_sumstats(args.sumstats, n=args.n, columns=_column_map(args.columns))


def _load_stats(args, features=None):
    from . import SummaryStats

    sumstats = _read_sumstats(args)  # n is applied here (BOLT-LMM: as an effective N)
    kw = dict(features=features, window_bp=args.window_bp, flank_bp=args.flank_bp,
              keep_ambiguous=args.keep_ambiguous, cache_dir=args.cache_dir)
    if args.sigma2 is not None:
        kw["sigma2"] = args.sigma2
    if args.bfile:
        for prefix in args.bfile:
            pre = prefix[:-4] if prefix.endswith(".bed") else prefix
            for ext in (".bed", ".bim", ".fam"):
                _check_file(pre + ext, "PLINK file")
        return SummaryStats.from_plink(args.bfile, sumstats, **kw)
    if not os.path.isdir(args.ld_dir):
        raise UserError(f"LD folder not found: {args.ld_dir}")
    return SummaryStats.from_ukbb(args.ld_dir, sumstats, **kw)


def _split_chroms(text):
    out = []
    for part in text or []:
        out += [c.strip().replace("chr", "") for c in str(part).split(",") if c.strip()]
    return out


# ---------------------------------------------------------------------------------- models
def save_model(est, directory, features=None, extra=None):
    """Save a fitted FunctionalPrior: ``model.pt`` (state dict) and ``model.json`` (config).

    Returns the two paths.
    """
    import torch

    if not isinstance(est.model, str):
        raise UserError("only the named models (constant, glm, transformer) can be saved")
    os.makedirs(directory, exist_ok=True)
    params = est.get_params()
    params = {k: v for k, v in params.items()
              if v is None or isinstance(v, (str, int, float, bool, dict, list))}
    cfg = dict(format=MODEL_FORMAT, params=params,
               fitted=dict(n_func=int(est.n_func_), width=int(est.width_), n_pred=int(est.n_pred_),
                           alpha=float(est.alpha_), sigma2=float(est.sigma2_),
                           h2_init=float(est.h2_init_), lr=float(est.lr_),
                           n_iter=int(est.n_iter_), n_steps=int(est.n_steps_),
                           n_parameters=int(est.n_parameters_),
                           train_chromosomes=[str(c) for c in est.train_chromosomes_],
                           log_f_bounds=[float(est.prior_.lo), float(est.prior_.hi)]),
               features=features, extra=extra or {})
    from . import __version__

    cfg["deepwas_version"] = __version__
    pt = os.path.join(directory, "model.pt")
    js = os.path.join(directory, "model.json")
    torch.save({k: v.detach().cpu() for k, v in est.prior_.state_dict().items()}, pt)
    with open(js, "w") as fh:
        json.dump(cfg, fh, indent=1)
    return pt, js


def load_model(directory):
    """Load a prior saved by :func:`save_model` (``weights_only=True``: no pickle code runs).

    Returns
    -------
    est : FunctionalPrior
        Fitted (``predict_f`` and ``score`` work).
    config : dict
    """
    import torch

    from .estimators import FunctionalPrior
    from .priors import build_prior

    js = os.path.join(directory, "model.json")
    pt = os.path.join(directory, "model.pt")
    if not os.path.isdir(directory):
        raise UserError(f"model folder not found: {directory}")
    for p in (js, pt):
        _check_file(p, "model file")
    try:
        with open(js) as fh:
            cfg = json.load(fh)
    except json.JSONDecodeError as e:
        raise UserError(f"{js} is not valid JSON: {e}") from e
    if not isinstance(cfg, dict) or cfg.get("format") != MODEL_FORMAT:
        raise UserError(f"{js} is not a deepwas model config (format {MODEL_FORMAT!r})")
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:
        raise UserError(f"cannot read model weights {pt}: {type(e).__name__}: {e}") from e
    params, fit = cfg["params"], cfg["fitted"]
    est = FunctionalPrior(**params)
    prior = build_prior(params["model"], fit["n_func"], fit["width"], fit["n_pred"],
                        alpha=params.get("alpha", 0.7), learn_alpha=params.get("learn_alpha", False),
                        log_f_bounds=tuple(fit.get("log_f_bounds", (-30.0, 0.0))),
                        **(params.get("model_params") or {}))
    try:
        prior.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{pt} does not match {js}: {str(e).splitlines()[0]}") from e
    prior.eval()
    for p in prior.parameters():
        p.requires_grad_(False)
    est.prior_ = prior
    est.n_func_, est.width_, est.n_pred_ = fit["n_func"], fit["width"], fit["n_pred"]
    est.alpha_ = float(prior.alpha)
    est.sigma2_ = fit["sigma2"]
    est.h2_init_ = fit.get("h2_init", float("nan"))
    est.func_mean_ = prior.func_mean.numpy().astype(np.float64)
    est.func_scale_ = prior.func_scale.numpy().astype(np.float64)
    est.pred_mean_ = prior.pred_mean.numpy().astype(np.float64)
    est.pred_scale_ = prior.pred_scale.numpy().astype(np.float64)
    est.train_chromosomes_ = fit.get("train_chromosomes", [])
    return est, cfg


def _model_features(args, cfg):
    """Feature provider for a saved model: tracks from the command line or the saved paths."""
    spec = cfg.get("features")
    fit = cfg["fitted"]
    if not (fit["n_func"] or fit["n_pred"]):
        return None
    if spec is None:
        raise UserError("the model needs features but its config records none")
    tracks = args.tracks or spec["tracks"]
    if fit["n_func"] and len(tracks) != fit["n_func"]:
        raise UserError(f"the model was trained on {fit['n_func']} tracks; got {len(tracks)} "
                        "(pass --tracks in the training order)")
    chain = args.chain if args.chain is not None else spec.get("chain")
    return _feature_provider(tracks, chain, spec["width"], spec["bin_size"],
                             spec["freq_predictors"])


# ---------------------------------------------------------------------------------- outputs
def _write_table(df, path):
    """TSV (gzip when the name ends .gz) and, with pyarrow, a parquet copy. Returns the paths."""
    if path.endswith(".parquet"):
        base = path[: -len(".parquet")]
        tsv, pq = base + ".tsv", path
    else:
        tsv = path
        base = path[:-3] if path.endswith(".gz") else path
        base = base[:-4] if base.endswith(".tsv") else base
        pq = base + ".parquet"
    d = os.path.dirname(os.path.abspath(tsv))
    os.makedirs(d, exist_ok=True)
    df.to_csv(tsv, sep="\t", index=False, float_format="%.6g")
    out = [tsv]
    try:
        import pyarrow  # noqa: F401

        df.to_parquet(pq, index=False)
        out.append(pq)
    except ImportError:
        log.info("pyarrow not installed: no parquet copy")
    return out


def _score_report(est, stats):
    """Per-window and total held-out gains (DataFrame, dict)."""
    import pandas as pd

    from . import marginal_loglik
    from .estimators import likelihood_increase_percent

    f = est.predict_f(stats)
    sigma2 = None if est.sigma2 is None else est.sigma2_
    per = np.asarray(marginal_loglik(stats, f, relative_to_null=True, per_window=True,
                                     sigma2=sigma2), dtype=np.float64)
    wins = stats.windows
    v = stats.variants
    tab = pd.DataFrame({
        "window": np.arange(len(stats)), "chrom": np.asarray(stats.groups).astype(str),
        "start": [int(v["pos"].iat[c[0]]) for c, _ in wins],
        "end": [int(v["pos"].iat[c[-1]]) for c, _ in wins],
        "n_core": [len(c) for c, _ in wins], "n_extended": [len(e) for _, e in wins],
        "gain_nats": per, "gain_per_person": per / stats.n})
    score = float(per.sum() / stats.n)
    summary = dict(score_nats_per_person=score,
                   pct_likelihood_increase_per_person=likelihood_increase_percent(score),
                   gain_nats=float(per.sum()), n=float(stats.n), n_windows=len(stats),
                   n_variants=int(stats.n_variants),
                   chromosomes=sorted(set(tab["chrom"]), key=lambda c: (len(c), c)),
                   h2_of_variants=float(f.sum()))
    return tab, summary


def _score_line(summary):
    """The score of a report as one phrase: nats per person and the paper's percentage."""
    return (f"{summary['score_nats_per_person']:.6g} nats per person = "
            f"{summary['pct_likelihood_increase_per_person']:.4g} % likelihood increase per "
            "person")


def _write_report(tab, summary, out):
    base = out[:-5] if out.endswith(".json") else (out[:-4] if out.endswith(".tsv") else out)
    os.makedirs(os.path.dirname(os.path.abspath(base)) or ".", exist_ok=True)
    js, tsv = base + ".json", base + ".tsv"
    with open(js, "w") as fh:
        json.dump(summary, fh, indent=1)
    tab.to_csv(tsv, sep="\t", index=False, float_format="%.6g")
    return js, tsv


# ---------------------------------------------------------------------------------- commands
def _cmd_demo(args):
    from .datasets._demo_run import DemoSettings, run_demo

    kw = {}
    for name in ("folds", "seed", "truth", "n", "h2"):
        v = getattr(args, name)
        if v is not None:
            kw[name] = v
    if args.quick:
        s = DemoSettings.quick(**kw)
    else:
        s = DemoSettings(**kw)
    t0 = time.perf_counter()
    print(f"deepwas demo{' --quick' if args.quick else ''}: {len(s.chromosomes)} regions of "
          f"real 1000 Genomes EUR LD, {s.folds}-fold cross-validation by chromosome; "
          f"output in {os.path.abspath(args.out)}", flush=True)
    run_demo(s, cache_dir=args.cache_dir, out_dir=args.out, progress=not args.no_progress,
             plots=not args.no_plots, printer=lambda line: print(line, flush=True))
    print(f"demo finished in {time.perf_counter() - t0:.0f} s")
    return 0


def _cmd_precompute(args):
    t0 = time.perf_counter()
    stats = _load_stats(args)
    if not args.cache_dir:
        log.warning("no --cache-dir: the factors are computed but not kept")
    stats.precompute(progress=not args.no_progress)
    dt = time.perf_counter() - t0
    cache = stats._data.cache
    summary = dict(n_windows=len(stats), n_variants=int(stats.n_variants), n=float(stats.n),
                   chromosomes=sorted(set(np.asarray(stats.groups).astype(str)),
                                      key=lambda c: (len(c), c)),
                   cache_dir=None if args.cache_dir is None else os.path.abspath(args.cache_dir),
                   cache_hits=dict(cache.hits), drop_counts=stats.drop_counts, seconds=dt)
    print(f"{stats}: {len(stats)} windows precomputed in {dt:.1f} s "
          f"(cache: {cache.hits['disk']} read, {cache.hits['computed']} computed)")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(summary, fh, indent=1, default=int)
        print(f"wrote {args.out}")
    return 0


def _estimator_from_args(args):
    from .estimators import FunctionalPrior

    params = dict(model=args.model, solver=args.solver, max_epochs=args.epochs,
                  accumulate=args.accumulate, warmup_steps=args.warmup_steps,
                  random_state=args.seed, verbose=0)
    if args.lr is not None:
        params["lr"] = args.lr
    if args.model == "transformer":
        params["model_params"] = {"size": args.transformer_size}
    if args.sigma2_estimate:
        params["sigma2"] = "estimate"
    return FunctionalPrior(**params)


def _cmd_fit(args):
    if args.model != "constant" and not args.tracks and args.no_freq_predictors:
        raise UserError(f"--model {args.model} needs features: pass --tracks (or drop "
                        "--no-freq-predictors)")
    if args.model == "transformer" and not args.tracks:
        raise UserError("--model transformer needs --tracks (bigWig files)")
    spec = _feature_spec(args) if args.model != "constant" else None
    feats = None if spec is None else _feature_provider(
        spec["tracks"], spec["chain"], spec["width"], spec["bin_size"], spec["freq_predictors"])
    stats = _load_stats(args, features=feats)
    test_chroms = _split_chroms(args.test_chrom)
    groups = np.asarray(stats.groups).astype(str)
    test = np.isin(groups, test_chroms)
    missing = set(test_chroms) - set(groups)
    if missing:
        raise UserError(f"--test-chrom {sorted(missing)} not in the data "
                        f"(chromosomes: {sorted(set(groups), key=lambda c: (len(c), c))})")
    if test.all():
        raise UserError("--test-chrom leaves no training chromosome")
    train = stats[np.flatnonzero(~test)]
    est = _estimator_from_args(args)
    print(f"fitting {args.model} prior with {args.solver} on {len(train)} windows "
          f"({train.n_variants} variants)", flush=True)
    t0 = time.perf_counter()
    est.fit(train)
    dt = time.perf_counter() - t0
    pt, js = save_model(est, args.out, features=spec,
                        extra=dict(fit_seconds=dt, test_chromosomes=test_chroms))
    print(f"fitted in {dt:.1f} s: h2 of the training variants {est.h2(train):.4g}; "
          f"wrote {pt} and {js}")
    if test.any():
        tab, summary = _score_report(est, stats[np.flatnonzero(test)])
        j2, t2 = _write_report(tab, summary, os.path.join(args.out, "heldout_report"))
        print(f"held-out ({','.join(test_chroms)}): {_score_line(summary)}; wrote {j2} and {t2}")
    return 0


def _cmd_score(args):
    est, cfg = load_model(args.model)
    stats = _load_stats(args, features=_model_features(args, cfg))
    chroms = _split_chroms(args.chrom)
    if chroms:
        keep = np.isin(np.asarray(stats.groups).astype(str), chroms)
        if not keep.any():
            raise UserError(f"--chrom {chroms}: no window on these chromosomes")
        stats = stats[np.flatnonzero(keep)]
    trained = set(cfg["fitted"].get("train_chromosomes", []))
    overlap = trained & set(np.asarray(stats.groups).astype(str))
    if overlap:
        log.warning("scoring on chromosomes the model was trained on: %s (not a held-out score)",
                    sorted(overlap))
    tab, summary = _score_report(est, stats)
    js, tsv = _write_report(tab, summary, args.out)
    print(f"{_score_line(summary)} over {summary['n_windows']} windows; wrote {js} and {tsv}")
    return 0


def _cmd_predict(args):
    import pandas as pd

    est, cfg = load_model(args.model)
    feats = _model_features(args, cfg)
    if args.bfile or args.ld_dir:
        stats = _load_stats(args, features=feats)
        v = stats.variants
        f = est.predict_f(stats)
    else:
        ss = _read_sumstats(args)
        if "FREQ" not in ss:
            raise UserError(f"{args.sumstats} has no allele frequency column (FREQ/EAF/AF...): "
                            "pass --bfile to take frequencies from reference genotypes")
        v = pd.DataFrame({"chrom": ss["CHR"].astype(str).str.replace("chr", ""),
                          "pos": ss["BP"].astype(np.int64), "snp": ss["SNP"], "a1": ss["A1"],
                          "a2": ss["A2"], "freq": ss["FREQ"].astype(np.float64)})
        v["row"] = np.arange(len(v))
        f = est.predict_f(v, features=feats) if feats is not None else est.predict_f(v)
    out = pd.DataFrame({"SNP": v["snp"], "CHR": v["chrom"], "BP": v["pos"], "A1": v["a1"],
                        "A2": v["a2"], "FREQ": v["freq"], "F": f,
                        "ENRICHMENT": np.sqrt(f / np.mean(f))})
    paths = _write_table(out, args.out)
    print(f"prior variances of {len(out)} variants (sum f = {f.sum():.4g}); wrote "
          + " and ".join(paths))
    return 0


def _cmd_simulate(args):
    import pandas as pd

    from . import SummaryStats
    from .ld import read_plink_reference
    from .simulate import semi_synthetic

    for prefix in args.bfile:
        pre = prefix[:-4] if prefix.endswith(".bed") else prefix
        for ext in (".bed", ".bim", ".fam"):
            _check_file(pre + ext, "PLINK file")
    if not 0 < args.h2 < 1:
        raise UserError(f"--h2 must lie in (0, 1), got {args.h2}")
    if args.n <= 0:
        raise UserError(f"--n must be positive, got {args.n}")
    feats = _feature_provider(args.tracks, args.chain, args.width, args.bin_size,
                              not args.no_freq_predictors) if args.tracks else None
    source = read_plink_reference(args.bfile)
    ref = source.variants
    table = pd.DataFrame({"SNP": ref["snp"], "A1": ref["a1"], "A2": ref["a2"], "Z": 0.0,
                          "N": args.n})
    stats = SummaryStats.from_ld_source(source, table, n=args.n, features=feats,
                                        keep_ambiguous=True, window_bp=args.window_bp,
                                        flank_bp=args.flank_bp)
    sim, f_true = semi_synthetic(stats, truth=args.truth, h2=args.h2, n=args.n,
                                 random_state=args.seed)
    v = sim.variants
    out = pd.DataFrame({"SNP": v["snp"], "CHR": v["chrom"], "BP": v["pos"], "A1": v["a1"],
                        "A2": v["a2"], "FREQ": v["freq"],
                        "Z": v["beta_hat"].to_numpy() * np.sqrt(args.n), "N": args.n,
                        "F_TRUE": f_true})
    paths = _write_table(out, args.out)
    meta = dict(truth=args.truth, h2=args.h2, sigma2=1.0 - args.h2, n=args.n, seed=args.seed,
                n_variants=len(out), tracks=args.tracks or [], chain=args.chain,
                note="fit with --sigma2 %g (= 1 - h2)" % (1.0 - args.h2))
    base = paths[0][:-3] if paths[0].endswith(".gz") else paths[0]
    meta_path = (base[:-4] if base.endswith(".tsv") else base) + ".json"
    with open(meta_path, "w") as fh:
        json.dump(meta, fh, indent=1)
    print(f"simulated {len(out)} variants (truth={args.truth}, h2={args.h2:g}, N={args.n:g}); "
          f"wrote {' and '.join(paths)} and {meta_path}")
    return 0


# ---------------------------------------------------------------------------------- parser
def _add_train_args(p):
    g = p.add_argument_group("training")
    g.add_argument("--model", choices=("constant", "glm", "transformer"), default="glm")
    g.add_argument("--solver", choices=("deepwas", "ldsr"), default="deepwas")
    g.add_argument("--epochs", type=int, default=5)
    g.add_argument("--lr", type=float, help="AdamW learning rate (default: the estimator's)")
    g.add_argument("--accumulate", type=int, default=12, help="windows per optimizer step")
    g.add_argument("--warmup-steps", type=int, default=100)
    g.add_argument("--transformer-size", choices=("tiny", "small", "paper"), default="small")
    g.add_argument("--sigma2-estimate", action="store_true",
                   help="estimate the residual variance by LD score regression")
    g.add_argument("--seed", type=int, default=0)


def build_parser():
    p = argparse.ArgumentParser(
        prog="deepwas",
        description="Functionally informed GWAS priors learned from summary statistics "
                    "(DeepWAS: exact marginal likelihood; or LD score regression).")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log progress and data drops; print tracebacks of errors")
    from . import __version__

    p.add_argument("--version", action="version", version=f"deepwas {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="the main demo: cross-validated priors on the embedded data",
                       description="Cross-validate (GroupKFold by chromosome) Constant, GLM and "
                       "Transformer priors trained with DeepWAS and with LDSR on the embedded "
                       "demo (22 real 1000 Genomes EUR regions, hg38 bigWig tracks read through "
                       "liftover, semi-synthetic GWAS of N = 300,000 from a known prior). Prints "
                       "the held-out table and writes it with PNG plots to --out.")
    d.add_argument("--quick", action="store_true",
                   help="a sub-minute smoke run (2 regions, 1-2 epochs)")
    d.add_argument("--out", default="deepwas_demo", metavar="DIR",
                   help="output folder (default ./deepwas_demo)")
    d.add_argument("--cache-dir", metavar="DIR",
                   help="cache of tracks, features and window factors (default $DEEPWAS_CACHE "
                        "or ~/.cache/deepwas)")
    d.add_argument("--folds", type=int, help="GroupKFold splits (default 2)")
    d.add_argument("--seed", type=int, help="random seed of data and training (default 0)")
    d.add_argument("--truth", choices=("glm", "network", "threshold", "constant"),
                   help="true prior of the simulation (default glm)")
    d.add_argument("--n", type=float, help="GWAS sample size (default 300,000)")
    d.add_argument("--h2", type=float, help="heritability of the demo variants (default 0.5 for the 22 regions; "
                        "for --quick, 0.5 times their share of the variants)")
    d.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    d.add_argument("--no-progress", action="store_true", help="no progress bars")
    d.set_defaults(func=_cmd_demo)

    pc = sub.add_parser("precompute", help="compute and cache the window factors of a data set",
                        description="Build the windows of a data set and compute their theta-free "
                        "factors (eigendecomposition of each core's LD) into --cache-dir, so "
                        "that fit and score start at once.")
    _add_data_args(pc, with_features=False)
    pc.add_argument("--out", metavar="JSON", help="write a summary (windows, drops, timing)")
    pc.add_argument("--no-progress", action="store_true")
    pc.set_defaults(func=_cmd_precompute)

    ft = sub.add_parser("fit", help="train a prior and save it (state dict + JSON)",
                        description="Train a prior on the windows of the data (minus "
                        "--test-chrom) and save it to --out as model.pt (torch state dict, "
                        "loaded with weights_only=True) and model.json; with --test-chrom also "
                        "write the held-out report.")
    _add_data_args(ft)
    _add_train_args(ft)
    ft.add_argument("--test-chrom", nargs="+", metavar="CHR",
                    help="chromosomes held out from training and scored")
    ft.add_argument("--out", required=True, metavar="DIR", help="model folder")
    ft.set_defaults(func=_cmd_fit)

    sc = sub.add_parser("score", help="held-out log-likelihood gain of a saved prior",
                        description="Exact log-likelihood gain over the null model of a saved "
                        "prior on the windows of the data, in nats per person and as the "
                        "paper's % likelihood increase per person; JSON summary + per-window TSV.")
    sc.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    _add_data_args(sc)
    sc.add_argument("--chrom", nargs="+", metavar="CHR", help="score only these chromosomes")
    sc.add_argument("--out", required=True, metavar="PATH",
                    help="report path; writes PATH.json and PATH.tsv")
    sc.set_defaults(func=_cmd_score)

    pr = sub.add_parser("predict", help="per-variant prior variances f of a saved prior",
                        description="Prior variance f and enrichment sqrt(f / mean f) of every "
                        "variant: of the data set's variants (with --bfile/--ld-dir) or of the "
                        "rows of --sumstats (needs a frequency column). Writes a TSV (gzip if it "
                        "ends .gz) and a parquet copy when pyarrow is installed.")
    pr.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    _add_data_args(pr)
    pr.add_argument("--out", required=True, metavar="FILE", help="output table (.tsv[.gz])")
    pr.set_defaults(func=_cmd_predict)
    # predict may work from the statistics alone: LD is optional there
    for grp in pr._mutually_exclusive_groups:
        grp.required = False

    sm = sub.add_parser("simulate", help="semi-synthetic summary statistics on real LD",
                        description="Draw f_true from features (--truth), effects beta ~ N(0, "
                        "f_true) and marginal effects beta_hat ~ N(R beta, (1-h2)/N R) with R "
                        "from PLINK genotypes; write SNP CHR BP A1 A2 FREQ Z N F_TRUE.")
    sm.add_argument("--bfile", nargs="+", required=True, metavar="PREFIX",
                    help="PLINK reference genotypes")
    sm.add_argument("--truth", choices=("glm", "network", "threshold", "constant"), default="glm")
    sm.add_argument("--h2", type=float, default=0.5, help="heritability of these variants")
    sm.add_argument("--n", type=float, default=300_000, help="GWAS sample size")
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--window-bp", type=int, default=1_000_000)
    sm.add_argument("--flank-bp", type=int, default=1_000_000)
    g = sm.add_argument_group("features (synthetic ones are drawn when no --tracks)")
    g.add_argument("--tracks", nargs="+", metavar="BIGWIG")
    g.add_argument("--chain", metavar="FILE")
    g.add_argument("--width", type=int, default=32)
    g.add_argument("--bin-size", type=int, default=500)
    g.add_argument("--no-freq-predictors", action="store_true")
    sm.add_argument("--out", required=True, metavar="FILE", help="output table (.tsv[.gz])")
    sm.set_defaults(func=_cmd_simulate)
    return p


def _one_line(exc):
    msg = str(exc).strip().splitlines()
    text = msg[0] if msg else type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing key {text}"
    return text


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except (UserError, OSError, ValueError, KeyError, RuntimeError) as exc:
        if args.verbose:
            import traceback

            traceback.print_exc()
        print(f"deepwas {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("deepwas: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
