"""Is beta-hat consistent with the LD it is given? A per-window mismatch diagnostic.

For each window, take the eigen-directions of R_II beyond 99 % of its trace (kept by the
eigenvalue threshold, dropped by no model yet): ``y_j = u_j^T beta_I / sqrt(lam_j)``. Under the
model with a constant prior ``f = c w`` (``w = (p(1-p))^0.7``, ``c`` from the LD score
regression h2), ``y_j`` has variance ``v_j = s + c a_j``, ``a_j = sum_m w_m G_mj^2``, so

    z_tail = (sum_T y_j^2 / v_j - |T|) / sqrt(2 |T|)

is a z-score, ~N(0, 1) when the LD is the GWAS sample's own. LD from another sample puts
components of beta-hat along these small, noisy eigenvalues that they cannot explain, and
z_tail explodes.

Threshold 10, measured on the shipped 1000 Genomes panel (docs: "LD from a reference panel";
20 replicates x 24 windows at h2 = 0.05 and 5 x 24 at h2 = 0.2): in-sample z_tail had median
-0.8 / -2.5 and maximum 6.0 / 8.2 (a threshold of 5 fired in 0.2 % / 3.3 % of windows); with
LD from another half of the panel its minimum was 50.7 / 26.0 (median 178 / 262), with
block-diagonal true LD 53.6 / 91.7. Every mismatched window was above 10, no in-sample one.

Also reported: ``out_share``, the share of |beta_I|^2 outside the span of R_II (zero up to
rounding when beta-hat comes from the panel itself and the panel is smaller than the core;
undefined as a test when R_II has full rank), and whether the panel is smaller than the core
(``small_panel``: R_II then has rank < n, the situation where the exact likelihood breaks).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .fitting._ldsr import LDSRBlocks, ldsr_regression
from .utils.text import plural

__all__ = ["ld_diagnostics", "diagnostics_summary", "Z_TAIL_THRESHOLD", "FLANK_NOISE_WARN",
           "PANEL_NOISE_WARN", "needs_warning"]

log = logging.getLogger(__name__)

#: z_tail above this flags a window (module docstring)
Z_TAIL_THRESHOLD = 10.0

#: ``flank_noise`` above which the LD check warns (a tenth of the model signal spurious)
FLANK_NOISE_WARN = 0.1

#: median ``panel_noise`` above which the LD check warns (the reference-panel study: -13 % at
#: a median of about 2, -41 % at about 0.4 with a weaker signal; docs "LD from a reference panel")
PANEL_NOISE_WARN = 0.3


def _ldsr_h2(stats):
    # the blocks stay in the pool for an LD score regression fit that follows (fitting/_ldsr.py)
    h2, _ = ldsr_regression(LDSRBlocks(stats), np.arange(len(stats)), float(stats.n_variants))
    return h2


def ld_diagnostics(stats, h2=None, sigma2=None, warn=True):
    """Per-window check that beta-hat is consistent with the LD (module docstring).

    Parameters
    ----------
    stats : SummaryStats
    h2 : float, optional
        Heritability of the constant prior in the variances ``v_j``; by default the LD score
        regression estimate on ``stats`` (floored at 1e-4).
    sigma2 : float, optional
        Residual variance (default ``stats.sigma2``).
    warn : bool, default True
        Log a warning when windows are flagged.

    Returns
    -------
    pandas.DataFrame
        One row per window: ``chrom, start, end, n_core, n_extended, panel_size, rank,
        small_panel, flank_noise, panel_noise, out_share, n_tail, z_tail, flag``;
        ``attrs["h2"]`` holds the h2 used (NaN when no window needed one: sparse precision
        windows, e.g. of an LDGM, have no eigen-tail, and an LDGM no panel size, so the LD
        score regression, which forms every window's dense LD, is then not run).
        ``panel_noise`` is the within-window share: a panel
        of n people adds about ``h2_w / n`` (``h2_w``: the window's h2 under a constant prior
        with the h2 used) to the modelled noise variance ``sigma^2 / N`` of every statistic,
        ``panel_noise = h2_w N / (n sigma^2)`` (NaN without a panel size); near 1 or above,
        the fit reads it as missing signal and h2 comes out low (docs "LD from a reference
        panel"). ``flank_noise`` is the expected panel-noise inflation of the window's model
        signal, ``(n_extended - n_core) * rank / (n_core * panel_size)``: each flank variant
        unlinked to the core gets a spurious R^2 of about ``rank / panel_size`` with it, against
        about 1 per core variant (NaN when the panel size is unknown, 0 for LD blocks, where
        the extended set is the core, and for thinned cores, whose extended set is their LD
        block); above :data:`FLANK_NOISE_WARN` h2 comes out low (docs: "LD from a reference
        panel"). With thinned cores (``ld_regularisation="thinned"``) ``panel_noise`` is
        reported but not warned about: it measures the noise of a large core's panel LD,
        which cores far smaller than the panel do not carry (the study's -44 % of the
        default became -1 % with them).
    """
    s = float(stats.sigma2 if sigma2 is None else sigma2) / stats.n
    v = stats._variant_table()
    weights = stats._data.store.weights[v["row"].to_numpy()]
    given = None if h2 is None else max(float(h2), 1e-4)
    used = {}

    def scale():
        # c = h2 / sum(w), h2 by LD score regression only when a window needs it: the
        # regression reads every window's dense LD (of an LDGM block: the inverse of its
        # precision), which windows without an eigen-tail or panel size never need
        if "h2" not in used:
            used["h2"] = given if given is not None else max(float(_ldsr_h2(stats)), 1e-4)
        return used["h2"] / weights.sum()

    panel = stats.ld.panel_size
    # thinned cores: the extended set is the core's own LD block, not unlinked flanks
    flanks = stats.ld_model.regularisation != "thinned"
    pos = v["pos"].to_numpy()
    rows = []
    for k, (core, ext) in enumerate(stats.windows):
        wf = stats.window_factors(k)
        n_tail = len(wf.tail_y2)
        z = (float(np.sum(wf.tail_y2 / (s + scale() * wf.tail_a))) - n_tail) \
            / np.sqrt(2 * n_tail) if n_tail else np.nan
        rows.append(dict(chrom=stats.groups[k], start=int(pos[core].min()),
                         end=int(pos[core].max()), n_core=len(core), n_extended=len(ext),
                         panel_size=panel, rank=wf.rank,
                         small_panel=bool(panel is not None and panel < len(core)),
                         flank_noise=((len(ext) - len(core)) * wf.rank / (len(core) * panel)
                                      if flanks else 0.0) if panel else np.nan,
                         panel_noise=scale() * float(weights[ext].sum()) / (panel * s)
                         if panel else np.nan,
                         out_share=wf.out_share, n_tail=n_tail, z_tail=z,
                         flag=bool(z > Z_TAIL_THRESHOLD)))
    out = pd.DataFrame(rows)
    out.attrs["h2"] = used.get("h2", given if given is not None else np.nan)
    if warn and needs_warning(out, stats.ld_model.regularisation):
        log.warning("%s", diagnostics_summary(out, stats.ld_model.regularisation))
    return out


def needs_warning(diag, regularisation=None):
    """Whether a :func:`ld_diagnostics` table calls for a warning: flagged windows, flank
    noise above :data:`FLANK_NOISE_WARN`, or a median panel noise above
    :data:`PANEL_NOISE_WARN` unless the LD is declared in-sample (``regularisation="none"``:
    then the statistics carry the panel's noise too) or cut into thinned cores (``"thinned"``,
    whose small cores do not carry it)."""
    return bool(diag["flag"].any() or (diag["flank_noise"] > FLANK_NOISE_WARN).any()
                or _panel_noisy(diag, regularisation))


def _panel_noisy(diag, regularisation):
    return regularisation not in ("none", "thinned") and "panel_noise" in diag \
        and diag["panel_noise"].median() > PANEL_NOISE_WARN


def diagnostics_summary(diag, regularisation=None):
    """One line describing a :func:`ld_diagnostics` table."""
    n, flagged = len(diag), int(diag["flag"].sum())
    z = diag["z_tail"].dropna()
    if n and z.empty:
        text = (f"LD mismatch check on {plural(n, 'window')}: no window has an eigen-tail to "
                "test (sparse precision windows, e.g. of an LDGM, have none: the check does "
                "not apply to them)")
    else:
        text = (f"LD mismatch check on {plural(n, 'window')}: z_tail median {z.median():.3g}, "
                f"max {z.max():.3g}; {flagged} above {Z_TAIL_THRESHOLD:g}")
    panel = diag["panel_size"].iat[0] if n and "panel_size" in diag else None
    if panel is not None and pd.notna(panel):
        # panel_noise is a ratio to sigma^2 / N, not a share: printed as a multiple
        text += (f"; LD panel of {int(panel):,} people, expected panel noise "
                 f"{diag['flank_noise'].median():.1%} of the model signal from flanks and "
                 f"{diag['panel_noise'].median():.2g}x the noise term within windows "
                 "(median window)")
    small = int(diag["small_panel"].sum())
    if small:
        text += (f"; {plural(small, 'window')} {'has' if small == 1 else 'have'} more core "
                 "variants than the panel has people")
    noisy = int((diag["flank_noise"] > FLANK_NOISE_WARN).sum()) \
        if "flank_noise" in diag else 0
    if noisy:
        text += (f"; the panel's noise between unlinked variants inflates the model signal of "
                 f"{plural(noisy, 'window')} by up to {diag['flank_noise'].max():.0%} (h2 comes "
                 "out low): cut the LD at blocks (ld_blocks='detect' or a BED file)")
    if _panel_noisy(diag, regularisation):
        text += ("; the panel is small for this signal: its noise within windows is a sizeable "
                 "part of the noise term, and h2 comes out low (cut the LD at blocks, "
                 "ld_blocks='auto', whose thinned cores do not carry this noise; or a larger "
                 "panel, or LD score regression, solver='ldsr')")
    if flagged:
        text += (": beta-hat is not consistent with this LD (it looks like LD from another "
                 "sample, e.g. a reference panel)")
        if regularisation == "none":
            text += "; the exact likelihood (ld_regularisation='none') will overestimate h2: " \
                    "use ld_regularisation='mismatch'"
        text += " (docs: 'LD from a reference panel')"
    return text
