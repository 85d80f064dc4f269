"""The experiment behind ``deepwas demo``: cross-validation by chromosome on :func:`load_demo`.

Constant, GLM and Transformer priors are each trained with the DeepWAS objective (the exact
windowed marginal likelihood) and with LD score regression, on the windows of the training
chromosomes of each ``GroupKFold`` split, and scored on the held-out chromosomes:

* held-out score: the exact log-likelihood gain over the null model summed over the held-out
  windows of every fold (each chromosome is held out once), divided by N -- nats per person;
  ``100 * expm1(score)`` is the paper's "% likelihood increase per person";
* recovery: RMSE of ``log f_hat - log f_true`` over the held-out variants (the truth is known).
"""
from __future__ import annotations

import logging
import os
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..estimators import FunctionalPrior, likelihood_increase_percent
from ..likelihood import marginal_loglik
from ._demo import load_demo

__all__ = ["run_demo", "DemoSettings", "plot_gains", "plot_enrichment", "format_table"]

log = logging.getLogger(__name__)

#: the model column of the row that scores the true prior f_true like the models
TRUTH_LABEL = "truth (f_true)"
MODEL_LABEL = {"constant": "Constant", "glm": "GLM", "transformer": "Transformer"}
SOLVER_LABEL = {"deepwas": "DeepWAS", "ldsr": "LDSR"}


@dataclass
class DemoSettings:
    """Sizes of the demo run (the defaults are the full demo; :meth:`quick` the smoke run)."""

    chromosomes: tuple = tuple(range(1, 23))
    folds: int = 2
    n: float = 300_000
    h2: float = None                  # None: 0.5 for 22 regions, scaled by the variant share
    truth: str = "glm"
    seed: int = 0
    # the constant and GLM priors are fitted by L-BFGS to its tolerance; the transformer with
    # FunctionalPrior's defaults (its size, learning rate, windows per step, warm-up and
    # epoch budget resolved from the data; it stops on its validation chromosomes)
    transformer_epochs: object = "auto"
    transformer_params: tuple = ()    # model_params items, e.g. (("size", "small"),)
    init_windows: int = 4
    models: tuple = ("constant", "glm", "transformer")
    solvers: tuple = ("deepwas", "ldsr")

    @classmethod
    def quick(cls, **kw):
        # two small regions (4,159 variants); load_demo scales h2 with the number of variants
        base = dict(chromosomes=(15, 22), folds=2, transformer_epochs=1,
                    init_windows=1)
        base.update(kw)
        return cls(**base)

    def estimator_params(self, model, solver):
        params = dict(model=model, solver=solver, init_windows=self.init_windows,
                      random_state=self.seed)
        if model == "transformer":
            params.update(max_epochs=self.transformer_epochs,
                          model_params=dict(self.transformer_params) or None)
        return params


def _rmse_log(f_hat, f_true):
    f_hat = np.maximum(np.asarray(f_hat, dtype=np.float64), 1e-300)
    return float(np.sqrt(np.mean((np.log(f_hat) - np.log(f_true)) ** 2)))


def run_demo(settings=None, *, cache_dir=None, out_dir=None, progress=True, plots=True,
             printer=print):
    """Run the demo experiment; write its table, predictions and plots to ``out_dir``.

    Parameters
    ----------
    settings : DemoSettings, optional
    cache_dir : str, optional
        Cache of :func:`load_demo`.
    out_dir : str, optional
        Where ``demo_results.tsv``, ``demo_results.json``, ``heldout_f.tsv.gz`` (and
        ``.parquet`` with pyarrow) and the PNG plots go; nothing is written when None.
    progress : bool
        Progress bars.
    plots : bool
        Write the PNG plots.
    printer : callable
        Receives the lines of the report.

    Returns
    -------
    results : pandas.DataFrame
        One row per model and solver, plus the null and the true prior.
    info : dict
        Timings, settings, file paths.
    """
    import json

    from sklearn.model_selection import GroupKFold

    s = settings or DemoSettings()
    n_chrom = len(set(str(c) for c in s.chromosomes))
    if not 2 <= s.folds <= n_chrom:
        raise ValueError(f"folds must lie in [2, {n_chrom}] (the number of chromosomes), "
                         f"got {s.folds}")
    t_start = time.perf_counter()
    demo = load_demo(n=s.n, h2=s.h2, truth=s.truth, random_state=s.seed,
                     chromosomes=list(s.chromosomes), cache_dir=cache_dir, progress=progress)
    t_load = time.perf_counter() - t_start
    stats, f_true = demo.stats, demo.f_true
    groups = np.asarray(stats.groups).astype(str)
    n_groups = len(set(groups))
    printer(f"data: {stats}; {len(demo.track_names)} hg38 bigWig tracks "
            f"({', '.join(demo.track_names)}), {demo.width} bins x {demo.bin_size} bp per variant, "
            f"+ freq, maf; truth={s.truth!r}, h2={demo.h2:.3g}, N={s.n:g}; "
            f"loaded in {t_load:.1f} s")

    splits = list(GroupKFold(n_splits=s.folds).split(np.zeros(len(stats)), groups=groups))
    rows_all = stats.variants["row"].to_numpy()
    pos_of_row = pd.Series(np.arange(len(rows_all)), index=rows_all)

    # oracle: the true prior, scored exactly like the models
    oracle = marginal_loglik(stats, f_true, relative_to_null=True) / stats.n

    combos = [(m, so) for m in s.models for so in s.solvers]
    heldout = {c: np.full(stats.n_variants, np.nan) for c in combos}
    scores = {c: 0.0 for c in combos}
    fit_time = {c: 0.0 for c in combos}
    budget = {c: 0 for c in combos}      # folds that ran out of epochs / iterations
    tasks = [(c, k) for k in range(len(splits)) for c in combos]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(tasks), desc="cross-validation fits", unit="fit")
    cut_short, dropped = [], {}
    for (model, solver), k in tasks:
        train_idx, test_idx = splits[k]
        if bar is not None:
            bar.set_postfix_str(f"{MODEL_LABEL[model]}-{SOLVER_LABEL[solver]}, "
                                f"fold {k + 1}/{len(splits)}")
        tr, te = stats[train_idx], stats[test_idx]
        est = FunctionalPrior(**s.estimator_params(model, solver))
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            est.fit(tr)
        for w in caught:    # reported once in the table's notes, not once per fit
            if "still falling" in str(w.message):
                cut_short.append(f"{MODEL_LABEL[model]}-{SOLVER_LABEL[solver]}")
            elif "dropped before the fit" in str(w.message):     # once, not once per fit
                dropped.setdefault(str(w.message), []).append(MODEL_LABEL[model])
            elif not issubclass(w.category, RuntimeWarning):
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        fit_time[(model, solver)] += time.perf_counter() - t0
        budget[(model, solver)] += est.stopped_on_ in ("budget", "stalled")
        scores[(model, solver)] += est.score(te)
        pos = pos_of_row[te.variants["row"].to_numpy()].to_numpy()
        heldout[(model, solver)][pos] = est.predict_f(te)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    recs = [dict(model="null (f = 0)", solver="-", score=0.0, rmse_log_f=np.nan, fit_s=np.nan,
                 stopped="")]
    for (model, solver) in combos:
        recs.append(dict(model=MODEL_LABEL[model], solver=SOLVER_LABEL[solver],
                         score=scores[(model, solver)],
                         rmse_log_f=_rmse_log(heldout[(model, solver)], f_true),
                         fit_s=fit_time[(model, solver)],
                         stopped=stop_label(budget[(model, solver)], len(splits))))
    recs.append(dict(model=TRUTH_LABEL, solver="-", score=float(oracle), rmse_log_f=0.0,
                     fit_s=np.nan, stopped=""))
    res = pd.DataFrame(recs)
    res["pct_increase"] = likelihood_increase_percent(res["score"].to_numpy())
    const = res.loc[(res.model == "Constant") & (res.solver == "DeepWAS"), "score"]
    ref = float(const.iloc[0]) if len(const) else 0.0
    res["gain_vs_constant_x1e3"] = (res["score"] - ref) * 1e3
    res = res[["model", "solver", "score", "pct_increase", "gain_vs_constant_x1e3", "rmse_log_f",
               "fit_s", "stopped"]]
    elapsed = time.perf_counter() - t_start
    used = dict(s.__dict__, h2=float(demo.h2))      # the h2 actually used (None: the default)
    info = dict(settings={k: (list(v) if isinstance(v, tuple) else v) for k, v in used.items()},
                h2=float(demo.h2),
                n_variants=int(stats.n_variants), n_windows=len(stats), folds=s.folds,
                load_s=t_load, total_s=elapsed, load_timings=demo.timings,
                tracks=demo.track_paths, files={})
    for line in format_table(res).splitlines():
        printer(line)
    if cut_short:
        printer(f"note: {len(cut_short)} of {len(tasks)} fits "
                f"({', '.join(sorted(set(cut_short)))}) "
                "ran out of epochs with the training loss still falling")
    for text, fits in dropped.items():     # freq and maf are one column on this panel
        printer(f"note ({len(fits)} {'/'.join(sorted(set(fits)))} fits): {text}")
    printer(f"held-out over {n_groups} chromosomes ({s.folds}-fold GroupKFold by chromosome); "
            f"score = held-out log-likelihood gain over the null / N (nats per person); "
            f"% = 100 expm1(score); RMSE of log f over held-out variants")

    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        p = os.path.join(out_dir, "demo_results.tsv")
        res.to_csv(p, sep="\t", index=False, float_format="%.6g")
        info["files"]["table"] = p
        v = stats.variants
        pred = pd.DataFrame({"chrom": v["chrom"], "pos_hg19": v["pos"], "snp": v["snp"],
                             "freq": v["freq"], "f_true": f_true})
        for (model, solver), f in heldout.items():
            pred[f"f_{model}_{solver}"] = f
        p = os.path.join(out_dir, "heldout_f.tsv.gz")
        pred.to_csv(p, sep="\t", index=False, float_format="%.6g")
        info["files"]["heldout_f"] = p
        try:
            import pyarrow  # noqa: F401
            p = os.path.join(out_dir, "heldout_f.parquet")
            pred.to_parquet(p, index=False)
            info["files"]["heldout_f_parquet"] = p
        except ImportError:
            pass
        if plots:
            p = os.path.join(out_dir, "demo_heldout_gain.png")
            plot_gains(res, p)
            info["files"]["plot_gain"] = p
            p = os.path.join(out_dir, "demo_enrichment.png")
            plot_enrichment(stats, demo, f_true, heldout, p)
            info["files"]["plot_enrichment"] = p
        info["total_s"] = time.perf_counter() - t_start
        p = os.path.join(out_dir, "demo_results.json")
        with open(p, "w") as fh:
            json.dump(dict(info, results=res.replace({np.nan: None}).to_dict(orient="records")),
                      fh, indent=1, default=float)
        info["files"]["json"] = p
        for name, path in info["files"].items():
            printer(f"wrote {path}")
    return res, info


def stop_label(n_budget, n_folds):
    """"criterion" when every fold's fit stopped on its criterion (gradient tolerance, loss
    plateau, validation loss), else "budget k/K": k of K folds ran out of epochs or
    iterations (or L-BFGS stalled short of its tolerance, ``stopped_on_ == "stalled"``)."""
    return "criterion" if n_budget == 0 else f"budget {n_budget}/{n_folds}"


def format_table(res):
    """A fixed-width text table of :func:`run_demo`'s results."""
    head = (f"{'model':<16}{'solver':<9}{'nats/person':>12}{'% lik. incr.':>14}"
            f"{'vs Const x1e3':>15}{'RMSE log f':>12}{'fit s':>8}  stopped on")
    lines = [head, "-" * len(head)]
    for r in res.itertuples(index=False):
        rm = "" if not np.isfinite(r.rmse_log_f) else f"{r.rmse_log_f:.3f}"
        ft = "" if not np.isfinite(r.fit_s) else f"{r.fit_s:.0f}"
        lines.append(f"{r.model:<16}{r.solver:<9}{r.score:>12.5f}{r.pct_increase:>14.3f}"
                     f"{r.gain_vs_constant_x1e3:>15.3f}{rm:>12}{ft:>8}  {r.stopped}")
    return "\n".join(lines)


def _mpl():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        try:
            matplotlib.use("Agg")
        except Exception:  # pragma: no cover - backend already fixed
            pass
    import matplotlib.pyplot as plt

    return plt


def plot_gains(res, path):
    """Held-out gain of each model and solver over the Constant prior (like the paper's Fig. 5),
    and recovery RMSE.

    The gains over the null model are large and close together (all about the same percentage),
    so the left panel shows the difference to Constant-DeepWAS, in 10^-3 nats per person,
    with bars from zero; the true prior is the dashed line.
    """
    plt = _mpl()
    models = [m for m in ("Constant", "GLM", "Transformer") if m in set(res.model)]
    solvers = [s for s in ("DeepWAS", "LDSR") if s in set(res.solver)]
    colours = {"DeepWAS": "#1f77b4", "LDSR": "#ff7f0e"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    x = np.arange(len(models))
    w = 0.8 / max(1, len(solvers))
    oracle = res.loc[res.model == TRUTH_LABEL]
    for j, sv in enumerate(solvers):
        sub = res[res.solver == sv].set_index("model").reindex(models)
        xs = x + (j - (len(solvers) - 1) / 2) * w
        axes[0].bar(xs, sub["gain_vs_constant_x1e3"], w, label=sv, color=colours.get(sv))
        axes[1].bar(xs, sub["rmse_log_f"], w, label=sv, color=colours.get(sv))
    axes[0].axhline(0.0, color="0.3", lw=0.8)
    if len(oracle):
        axes[0].axhline(float(oracle["gain_vs_constant_x1e3"].iloc[0]), color="k", ls="--",
                        lw=1, label="true prior")
    const = res.loc[(res.model == "Constant") & (res.solver == "DeepWAS")]
    base = (f"Constant-DeepWAS itself: {float(const['pct_increase'].iloc[0]):.2f} % likelihood "
            "increase over the null" if len(const) else "")
    axes[0].set_ylabel("held-out gain over Constant-DeepWAS\n(10$^{-3}$ nats per person)")
    axes[0].set_title("Held-out gain over the Constant prior (higher is better)", fontsize=10)
    if base:
        axes[0].set_xlabel(base, fontsize=8, color="0.3")
    axes[1].set_ylabel("RMSE of log f (held-out variants)")
    axes[1].set_title("Recovery of the true prior (lower is better)", fontsize=10)
    for ax in axes:
        ax.set_xticks(x)
        ax.set_xticklabels(models)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_enrichment(stats, demo, f_true, heldout, path, chrom=None, alpha=0.7):
    """:func:`enrichment_figure` written to ``path`` (PNG)."""
    plt = _mpl()
    fig = enrichment_figure(stats, demo, f_true, heldout, chrom, alpha)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def enrichment_figure(stats, demo, f_true, heldout, chrom=None, alpha=0.7):
    """Input tracks and the predicted enrichment along one held-out region (like Fig. 3).

    One panel per track (its hg38 bigWig value at the lifted variant, centre bin), then the
    truth and each DeepWAS-trained model, on one y range and each with its legend. Every
    prior is ``f = (p(1-p))^alpha * g(features)``:
    the dark points are the feature-driven part ``sqrt(g / mean g)`` (flat for the Constant
    prior), the light ones the whole ``sqrt(f / mean f)``, which also varies with the allele
    frequency ``p``.
    """
    plt = _mpl()
    v = stats.variants
    chroms = v["chrom"].astype(str).to_numpy()
    if chrom is None:
        counts = pd.Series(chroms).value_counts()
        chrom = str(counts.index[0])
    sel = np.flatnonzero(chroms == str(chrom))
    pos = v["pos"].to_numpy()[sel] / 1e6
    p = np.clip(v["freq"].to_numpy(dtype=np.float64)[sel], 1e-6, 1 - 1e-6)
    freq_term = (p * (1 - p)) ** alpha
    feats = stats.get_features(sel)
    mid = feats.func.shape[2] // 2
    names = list(demo.track_names)
    deepwas_models = [(m, s) for (m, s) in heldout if s == "deepwas"]
    n_rows = len(names) + 1 + len(deepwas_models)
    fig, axes = plt.subplots(n_rows, 1, figsize=(10, 1.45 * n_rows + 0.9), sharex=True)
    for t, name in enumerate(names):
        ax = axes[t]
        ax.fill_between(pos, feats.func[:, t, mid], step="mid", color="0.4", lw=0)
        ax.set_title(f"track {name}: hg38 bigWig signal (arbitrary units) at the variant",
                     fontsize=8, loc="left")
        ax.set_ylabel("signal", fontsize=7)
    enr = lambda f: np.sqrt(f / np.mean(f))  # noqa: E731 - E f over the region's variants
    priors = [(f_true[sel], "k", "truth: the simulated prior f_true")]
    for m, s in deepwas_models:
        title = f"{MODEL_LABEL[m]} prior trained by DeepWAS, predicted on held-out chr{chrom}"
        if m == "constant":
            title += " (flat feature part: its f varies only through (p(1-p))^alpha)"
        priors.append((heldout[(m, s)][sel], "#1f77b4", title))
    # one y range for the truth and every prediction, so that they compare by eye
    top = max(max(enr(f).max(), enr(f / freq_term).max()) for f, _, _ in priors)

    for ax, (f, colour, title) in zip(axes[len(names):], priors):
        ax.plot(pos, enr(f), ".", ms=1.2, color="0.8", label="sqrt(f / mean f)")
        ax.plot(pos, enr(f / freq_term), ".", ms=1.5, color=colour,
                label=f"feature part: f / (p(1-p))^{alpha:g}")
        ax.axhline(1.0, color="0.5", lw=0.5)
        ax.set_title(title, fontsize=8, loc="left")
        ax.set_ylabel("enrichment", fontsize=7)
        ax.set_ylim(0.0, 1.05 * top)
        ax.legend(fontsize=6, loc="upper right", markerscale=6, ncol=2)
    axes[-1].set_xlabel(f"chr{chrom} position (Mb, hg19)")
    fig.suptitle(f"Held-out chr{chrom}: input tracks, and enrichment sqrt(f / mean f) of the "
                 "true and predicted priors", fontsize=10)
    fig.tight_layout()
    return fig
