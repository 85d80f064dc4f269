"""``deepwas fit`` and ``deepwas score``: train a prior, and score a saved one."""
from __future__ import annotations

import logging
import os
import time
from functools import partial

import numpy as np

from ..cv import flank_overlap, region_mask
from ..distributed import process_group
from ..estimators import FunctionalPrior, load_model, save_model
from ..fitting._sharding import balance, window_costs
from ..priors import DEFAULT_SIZE, TRANSFORMER_PRESETS
from ..utils.chrom import sort_chroms
from ..utils.text import plural
from ._common import add_command, positive_int, show_progress
from ._data import (UserError, add_data_args, auto_or, feature_provider, feature_spec, join,
                    load_stats, model_features, report_ld_check, split_chroms)
from ._reports import score_line, score_report, write_report

__all__ = ["register", "add_train_args", "cmd_fit", "cmd_score", "estimator_from_args"]

log = logging.getLogger("deepwas.cli")


_epochs = _accumulate = auto_or(positive_int, "a positive whole number")


_chunk_size = auto_or(positive_int, "a positive whole number")


def add_train_args(p):
    g = p.add_argument_group("training")
    g.add_argument("--model", choices=("constant", "glm", "transformer"), default="glm",
                   help="the prior: one value for all variants (constant), a linear model of "
                        "window-averaged tracks and predictors (glm), or an Enformer-style "
                        "network of the track windows (transformer, needs --tracks)")
    g.add_argument("--link", choices=("exp", "softplus", "identity"), default="exp",
                   help="--model glm: how the linear predictor gives f: exp (the paper's), "
                        "softplus (graphREML's) or identity (S-LDSC's f = sum_c tau_c a_c: no "
                        "frequency term, features not standardised, the coefficients S-LDSC's "
                        "tau; with --annot-features and --no-freq-predictors)")
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
    g.add_argument("--accumulate", type=_accumulate, metavar="K|auto", default="auto",
                   help="windows per AdamW step (auto: 12, fewer when the training windows "
                        "would give under 10 steps per epoch)")
    g.add_argument("--window-order", choices=("shuffled", "contiguous"), default="shuffled",
                   help="AdamW: shuffled windows per step, or --accumulate consecutive windows "
                        "of a chromosome per step with the prior evaluated once per distinct "
                        "variant (groups shuffled)")
    g.add_argument("--warmup-steps", type=int, metavar="N", default=100,
                   help="AdamW steps of linear learning-rate warm-up")
    g.add_argument("--transformer-size", choices=tuple(TRANSFORMER_PRESETS), default=DEFAULT_SIZE,
                   help="size preset of --model transformer")
    g.add_argument("--transformer-members", type=positive_int, default=1, metavar="K",
                   help="--model transformer: the mean of K transformers on its GLM part, "
                        "each trained from its own start and kept on its validation gain "
                        "(about K times the transformer part's training time)")
    g.add_argument("--panel-correction", choices=("auto", "simex", "none"), default="auto",
                   help="correct the noise of a reference panel's LD by refitting on two "
                        "pseudo-panels and extrapolating (simex; constant and glm on thinned "
                        "cores of a panel of known size); auto: simex for a panel under a "
                        "tenth of N where the signal per LD block is strong enough (LDSR: a "
                        "panel of 150-299 people)")
    g.add_argument("--pseudo-panels", choices=("auto", "gaussian", "bootstrap"), default="auto",
                   help="the panel correction's pseudo-panels: Gaussian pseudo-people from the "
                        "panel's LD, or the panel's people drawn with replacement (bootstrap; "
                        "needs its genotypes); auto: bootstrap for a genotype panel with "
                        "--solver deepwas")
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
    params = dict(model=args.model, solver=args.solver, optimizer=args.optimizer, tol=args.tol,
                  max_iter=args.max_iter, ridge=args.ridge, max_epochs=args.epochs,
                  min_steps=args.min_steps,
                  accumulate=args.accumulate, warmup_steps=args.warmup_steps,
                  window_order=args.window_order,
                  random_state=args.seed, verbose=int(verbose), chunk_size=args.chunk_size,
                  device=args.device, mixed_precision=args.mixed_precision,
                  checkpoint_dir=args.checkpoint_dir, checkpoint_every=args.checkpoint_every,
                  panel_correction=args.panel_correction, pseudo_panels=args.pseudo_panels)
    if args.lr is not None:
        params["lr"] = args.lr
    if args.link != "exp":
        if args.model != "glm":
            raise UserError(f"--link {args.link} is for --model glm (got --model {args.model})")
        params["model_params"] = {"link": args.link}
    if args.model == "transformer":
        params["model_params"] = {"size": args.transformer_size}
        if args.transformer_members > 1:
            params["model_params"]["members"] = args.transformer_members
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


def held_out(args, stats):
    """The held-out windows of --test-chrom / --test-region, the windows left out of training
    because their flanks reach into them, and a label for the report."""
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
    if args.model != "constant" and not (args.tracks or args.annot_features) \
            and args.no_freq_predictors:
        raise UserError(f"--model {args.model} needs features: pass --tracks or "
                        "--annot-features (or drop --no-freq-predictors)")
    if args.model == "transformer" and not args.tracks:
        raise UserError("--model transformer needs --tracks (bigWig files)")
    group = process_group(args.device)      # under torchrun: rank 0 prints and writes
    say = print if group.is_main else (lambda *a, **k: None)
    spec = feature_spec(args) if args.model != "constant" else None
    feats = None if spec is None else feature_provider(
        spec["tracks"], spec["chain"], spec["width"], spec["bin_size"], spec["freq_predictors"],
        annot=spec["annot"])
    if feats is not None:       # later commands check that their features are the same
        spec["pred_names"] = list(feats.pred_names)
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
    try:
        return region_mask(stats, regions)
    except ValueError as e:
        raise UserError(f"{option}: {e}") from e


def _warn_if_trained_on(stats, cfg):
    """Warn when windows to score lie on a training chromosome, outside the regions the fit
    held out (``deepwas fit --test-region``, recorded in model.json)."""
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


def register(subparsers):
    """Add ``deepwas fit`` and ``deepwas score``."""
    command = partial(add_command, subparsers)
    ft = command("fit", help="train a prior and save it (state dict + JSON)",
                 description="Train a prior on the windows of the data (minus those held out "
                 "with --test-chrom or --test-region) and save it to --out as model.pt (torch "
                 "state dict, loaded with weights_only=True) and model.json; with a hold-out, "
                 "also write the held-out report. Shows a progress bar and the training "
                 "loss when stderr is a terminal.")
    add_data_args(ft)
    add_train_args(ft)
    h = ft.add_argument_group("hold-out (scored after training)")
    h.add_argument("--test-chrom", nargs="+", metavar="CHR",
                   help="chromosomes held out from training and scored")
    h.add_argument("--test-region", nargs="+", metavar="CHR:START-END",
                   help="regions held out and scored, e.g. 22:30000000-40000000: the windows "
                        "whose core lies inside; windows whose flanks reach into them are "
                        "left out of training")
    ft.add_argument("--out", required=True, metavar="DIR", help="model folder")
    ft.set_defaults(func=cmd_fit)

    sc = command("score", help="held-out log-likelihood gain of a saved prior",
                 description="Exact log-likelihood gain over the null model of a saved "
                 "prior on the windows of the data, in nats per person and as the "
                 "paper's % likelihood increase per person; JSON summary + per-window TSV.")
    sc.add_argument("--model", required=True, metavar="DIR", help="folder written by deepwas fit")
    add_data_args(sc)
    sc.add_argument("--chrom", nargs="+", metavar="CHR", help="score only these chromosomes")
    sc.add_argument("--region", nargs="+", metavar="CHR:START-END",
                    help="score only the windows whose core lies inside these regions, as "
                         "fit --test-region holds them out (the same --window-bp and "
                         "--flank-bp give the same windows), e.g. 22:30000000-40000000")
    sc.add_argument("--out", required=True, metavar="PATH",
                    help="report path; writes PATH.json and PATH.tsv")
    sc.set_defaults(func=cmd_score)
