"""``deepwas fit``, ``deepwas score`` and ``deepwas predict``: train, score and apply a prior."""
from __future__ import annotations

import logging
import os
import sys
import time

import numpy as np

from ..distributed import process_group
from ..estimators import load_model, save_model
from ..utils.chrom import normalise_chrom, sort_chroms
from ..utils.text import plural
from ._data import (UserError, auto_or, feature_provider, feature_spec, join, lift_once,
                    load_stats, model_features, read_sumstats_args, report_ld_check,
                    split_chroms)
from ._reports import score_line, score_report, write_report, write_table

__all__ = ["add_train_args", "cmd_fit", "cmd_score", "cmd_predict", "estimator_from_args"]

log = logging.getLogger("deepwas.cli")


_epochs = auto_or(int, "an integer")


def _positive(text):
    from ._parser import positive_int      # _parser imports this module

    return positive_int(text)


_chunk_size = auto_or(_positive, "a positive whole number")


def add_train_args(p):
    g = p.add_argument_group("training")
    g.add_argument("--model", choices=("constant", "glm", "transformer"), default="glm",
                   help="the prior: one value for all variants (constant), a linear model of "
                        "window-averaged tracks and predictors (glm), or an Enformer-style "
                        "network of the track windows (transformer, needs --tracks)")
    g.add_argument("--solver", choices=("deepwas", "ldsr"), default="deepwas",
                   help="objective: the exact windowed marginal likelihood (deepwas) or LD "
                        "score regression (ldsr)")
    g.add_argument("--optimizer", choices=("auto", "lbfgs", "adamw"), default="auto",
                   help="lbfgs: full-batch to the maximum likelihood (auto: for constant and "
                        "glm); adamw: stochastic, for the transformer")
    g.add_argument("--tol", type=float, metavar="TOL", default=1e-5,
                   help="L-BFGS gradient tolerance; AdamW plateau tolerance")
    g.add_argument("--max-iter", type=int, metavar="N", default=500, help="L-BFGS iteration cap")
    g.add_argument("--ridge", type=auto_or(float, "a number"), metavar="R|auto", default="auto",
                   help="L-BFGS: penalty R/2 sum w^2 (nats) on the prior's weights, a N(0, 1/R) "
                        "prior on each standardised weight; auto: 1 for the GLM fitted by "
                        "deepwas, 0 with its identity link, for ldsr and for other models")
    g.add_argument("--epochs", type=_epochs, metavar="N|auto", default="auto",
                   help="AdamW epochs (auto: enough for --min-steps optimizer steps, >= 10)")
    g.add_argument("--min-steps", type=int, metavar="N", default=200,
                   help="AdamW optimizer steps before a plateau may stop training")
    g.add_argument("--lr", type=float, metavar="LR",
                   help="AdamW learning rate (default: the estimator's)")
    g.add_argument("--accumulate", type=int, metavar="K", default=12, help="windows per AdamW step")
    g.add_argument("--window-order", choices=("shuffled", "contiguous"), default="shuffled",
                   help="AdamW: shuffled windows per step, or --accumulate consecutive windows "
                        "of a chromosome per step with the prior evaluated once per distinct "
                        "variant (groups shuffled)")
    g.add_argument("--warmup-steps", type=int, metavar="N", default=100,
                   help="AdamW steps of linear learning-rate warm-up")
    g.add_argument("--transformer-size", choices=("tiny", "small", "paper"), default="small",
                   help="size preset of --model transformer")
    g.add_argument("--sigma2-estimate", action="store_true",
                   help="estimate the residual variance by LD score regression")
    g.add_argument("--seed", type=int, default=0, metavar="N",
                   help="random seed of initialisation and window order")
    g.add_argument("--chunk-size", type=_chunk_size, metavar="N|auto",
                   help="evaluate the prior on at most N variants of a window at a time (the "
                        "same gradient in bounded memory; auto: from a 1 GiB budget, a quarter "
                        "of free GPU memory on CUDA); default: whole windows")
    g.add_argument("--device", default="cpu", metavar="DEV",
                   help="where the prior trains: cpu, cuda, cuda:1 (under torchrun, cuda is "
                        "each process's own GPU)")
    g.add_argument("--mixed-precision", choices=("bf16",),
                   help="AdamW: evaluate the prior in bfloat16 (autocast; the likelihood stays "
                        "float32 or wider)")
    g.add_argument("--checkpoint-dir", metavar="DIR",
                   help="AdamW: write a resume state here every --checkpoint-every steps; "
                        "running the same command again resumes from it")
    g.add_argument("--checkpoint-every", type=int, metavar="K", default=100,
                   help="AdamW optimizer steps between two resume states")


def estimator_from_args(args, verbose=0):
    from ..estimators import FunctionalPrior

    params = dict(model=args.model, solver=args.solver, optimizer=args.optimizer, tol=args.tol,
                  max_iter=args.max_iter, ridge=args.ridge, max_epochs=args.epochs,
                  min_steps=args.min_steps,
                  accumulate=args.accumulate, warmup_steps=args.warmup_steps,
                  window_order=args.window_order,
                  random_state=args.seed, verbose=int(verbose), chunk_size=args.chunk_size,
                  device=args.device, mixed_precision=args.mixed_precision,
                  checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every)
    if args.lr is not None:
        params["lr"] = args.lr
    if args.model == "transformer":
        params["model_params"] = {"size": args.transformer_size}
    if args.sigma2_estimate:
        params["sigma2"] = "estimate"
    return FunctionalPrior(**params)


#: h2 of the training variants above which the default sigma2 = 1 is worth a warning
SIGMA2_DEFAULT_H2_WARN = 0.05


def sigma2_used(args, est, h2):
    """The residual variance the fit used and where it came from, in words; a warning when
    the default 1 meets a fit whose training variants carry a sizeable h2 (the residual of a
    standardised phenotype is 1 - h2 of all SNPs, so at most 1 - h2 of these)."""
    if args.sigma2_estimate:
        return f"sigma2 {est.sigma2_:.4g} (estimated: LD score regression intercept)"
    if args.sigma2 is not None:
        return f"sigma2 {est.sigma2_:.4g} (--sigma2)"
    if np.isfinite(h2) and h2 > SIGMA2_DEFAULT_H2_WARN:
        log.warning("sigma2 = 1 was used (the default, not estimated), the residual variance "
                    "of a trait with almost no SNP heritability, but this fit gives the "
                    "training variants h2 %.3g: pass --sigma2 1-h2 with the trait's SNP "
                    "heritability (at most %.3g) or --sigma2-estimate, and fit again", h2, 1 - h2)
    return f"sigma2 {est.sigma2_:.4g} (the default; --sigma2 or --sigma2-estimate to change it)"


def show_progress(args):
    """Progress bars and training tables: on a terminal, unless -q / --no-progress."""
    quiet = getattr(args, "quiet", False) or getattr(args, "no_progress", False)
    return not quiet and sys.stderr.isatty()


def held_out(args, stats):
    """The held-out windows of --test-chrom / --test-region, the windows left out of training
    because their flanks reach into them, and a label for the report."""
    from ..cv import flank_overlap

    groups = np.asarray(stats.groups).astype(str)
    test = np.zeros(len(stats), dtype=bool)
    labels = []
    test_chroms = split_chroms(args.test_chrom)
    if test_chroms:
        missing = sorted(set(test_chroms) - set(groups))
        if missing:
            raise UserError(f"--test-chrom {join(missing)}: not in the data (chromosomes: "
                            f"{join(sort_chroms(groups))})")
        test |= np.isin(groups, test_chroms)
        labels.append("chromosome" + ("s " if len(test_chroms) > 1 else " ") + join(test_chroms))
    if args.test_region:
        test |= _in_regions(stats, args.test_region, "--test-region")
        labels.append(join(args.test_region))
    near = flank_overlap(stats, test) if test.any() else np.zeros(len(stats), dtype=bool)
    if (~test & ~near).sum() == 0:
        raise UserError("the hold-out leaves no window to train on")
    return test, near, " and ".join(labels)


def cmd_fit(args):
    if args.model != "constant" and not args.tracks and args.no_freq_predictors:
        raise UserError(f"--model {args.model} needs features: pass --tracks (or drop "
                        "--no-freq-predictors)")
    if args.model == "transformer" and not args.tracks:
        raise UserError("--model transformer needs --tracks (bigWig files)")
    group = process_group(args.device)      # under torchrun: rank 0 prints and writes
    say = print if group.is_main else (lambda *a, **k: None)
    spec = feature_spec(args) if args.model != "constant" else None
    feats = None if spec is None else feature_provider(
        spec["tracks"], spec["chain"], spec["width"], spec["bin_size"], spec["freq_predictors"])
    stats = load_stats(args, features=feats)
    test, near, label = held_out(args, stats)
    train = stats[np.flatnonzero(~test & ~near)]
    progress = show_progress(args) if group.is_main else False
    say(f"data: {stats}", flush=True)
    if test.any():
        extra = (f"; {plural(int(near.sum()), 'window')} next to them left out of training "
                 "(their flanks reach into the held-out cores)" if near.any() else "")
        say(f"held out: {plural(int(test.sum()), 'window')} ({label}){extra}", flush=True)
    own_share(train, group).precompute(progress=progress)
    group.barrier()          # the shares are in the cache before rank 0 reads them all
    if group.is_main:
        report_ld_check(train, log)
    est = estimator_from_args(args, verbose=progress)
    workers = f" in {group.world_size} processes" if group.distributed else ""
    say(f"fitting the {args.model} prior by {args.solver} on {plural(len(train), 'window')} "
        f"({train.n_variants} variants){workers}", flush=True)
    t0 = time.perf_counter()
    est.fit(train)
    dt = time.perf_counter() - t0
    if not group.is_main:
        return 0
    pt, js = save_model(est, args.out, features=spec,
                        extra=dict(fit_seconds=dt, test_chromosomes=split_chroms(args.test_chrom),
                                   test_regions=list(args.test_region or []),
                                   world_size=group.world_size))
    kappa = (f"; LD mismatch kappa {est.ld_mismatch_:.3g}"
             if train.ld_model.has_mismatch else "")
    if getattr(est, "resumed_step_", None) is not None:
        print(f"resumed from the checkpoint at optimizer step {est.resumed_step_} "
              f"({est.checkpoint_path_})", flush=True)
    h2 = est.h2(train)
    print(f"fitted in {dt:.1f} s: h2 of the training variants {h2:.4g}{kappa}; "
          f"{sigma2_used(args, est, h2)}; wrote {pt} and {js}")
    if test.any():
        tab, summary = score_report(est, stats[np.flatnonzero(test)])
        j2, t2 = write_report(tab, summary, os.path.join(args.out, "heldout_report"))
        print(f"held-out ({label}): {score_line(summary)}; wrote {j2} and {t2}")
    return 0


def own_share(stats, group):
    """The windows of ``stats`` this process precomputes: all of them in one process; under
    torchrun a share balanced by cost, so the processes fill a shared ``--cache-dir`` together
    (each then trains whichever windows each step gives it)."""
    if not group.distributed:
        return stats
    from ..fitting._sharding import balance, window_costs

    ids = np.arange(len(stats))
    owner = balance(window_costs(stats, ids), group.world_size)
    return stats[ids[owner == group.rank]]


def cmd_score(args):
    est, cfg = load_model(args.model)
    stats = load_stats(args, features=model_features(args, cfg))
    chroms = split_chroms(args.chrom)
    if chroms:
        keep = np.isin(np.asarray(stats.groups).astype(str), chroms)
        if not keep.any():
            raise UserError(f"--chrom {join(chroms)}: no window on these chromosomes (the data "
                            f"has {join(sort_chroms(stats.groups))})")
        stats = stats[np.flatnonzero(keep)]
    if args.region:
        stats = stats[np.flatnonzero(_in_regions(stats, args.region, "--region"))]
    _warn_if_trained_on(stats, cfg)
    tab, summary = score_report(est, stats)
    js, tsv = write_report(tab, summary, args.out)
    print(f"{score_line(summary)} over {summary['n_windows']} windows; wrote {js} and {tsv}")
    return 0


def _in_regions(stats, regions, option):
    from ..cv import region_mask

    try:
        return region_mask(stats, regions)
    except ValueError as e:
        raise UserError(f"{option}: {e}") from e


def _warn_if_trained_on(stats, cfg):
    """Warn when windows to score lie on a training chromosome, outside the regions the fit
    held out (``deepwas fit --test-region``, recorded in model.json)."""
    from ..cv import region_mask

    groups = np.asarray(stats.groups).astype(str)
    trained = np.isin(groups, list(cfg["fitted"].get("train_chromosomes", [])))
    for region in (cfg.get("extra") or {}).get("test_regions", []):
        try:
            trained &= ~region_mask(stats, region)
        except ValueError:          # none of these windows lies in that held-out region
            pass
    if trained.any():
        v = stats.variants
        spans = [f"{groups[k]}:{int(v['pos'].iat[stats.windows[k][0][0]])}-"
                 f"{int(v['pos'].iat[stats.windows[k][0][-1]])}" for k in np.flatnonzero(trained)]
        log.warning("scoring windows the model was trained on: %s (%s): not a held-out score",
                    join(spans[:3]) + (" ..." if len(spans) > 3 else ""),
                    plural(len(spans), "window"))


def predicted_f(args):
    """``(variants, f, z, n)``: the prior variances of the data's variants (with LD: the data
    set's, z and n from it) or of the --sumstats rows (without LD: their Z and N)."""
    import pandas as pd

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
    f = est.predict_f(v, features=feats) if feats is not None else est.predict_f(v)
    return v, f, ss["Z"].to_numpy(np.float64), ss["N"].to_numpy(np.float64)


def cmd_predict(args):
    import pandas as pd

    from ..io.variant_names import user_id_columns

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


