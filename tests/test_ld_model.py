"""LD models (exact, truncated, mismatch) and the mismatch diagnostic, on real 1000 Genomes LD.

Oracle: the window likelihood written densely from its definition in deepwas.ld_model -- in
the kept eigenbasis of R_II, y = lam^{-1/2} U^T beta_I ~ N(0, G^T F G + s (I + kappa/lam)).
"""
import math

import numpy as np
import pandas as pd
import pytest

from deepwas import ConstantPrior, SummaryStats, marginal_loglik
from deepwas.ld_model import kept_count, resolve_share

from conftest import simulate_beta_hat

N = 100_000


def dense_window_nll(R, beta, f, core, ext, s, share, kappa):
    lam, U = np.linalg.eigh(R[np.ix_(core, core)])
    lam, U = lam[::-1], U[:, ::-1]
    keep = lam > 1e-10 * lam[0]
    lam, U = lam[keep], U[:, keep]
    k = kept_count(lam, share)
    lam, U = lam[:k], U[:, :k]
    G = R[np.ix_(ext, core)] @ U / np.sqrt(lam)
    y = U.T @ beta[core] / np.sqrt(lam)
    cov = G.T @ (f[ext][:, None] * G) + s * np.diag(1 + kappa / lam)
    _, logdet = np.linalg.slogdet(cov)
    return 0.5 * (y @ np.linalg.solve(cov, y) + logdet + np.sum(np.log(lam))
                  + k * math.log(2 * math.pi))


@pytest.fixture(scope="module")
def window_data(geno22):
    X, variants, R = geno22
    sel = np.arange(0, 1500)             # 1,500 variants, 489 people: rank-deficient cores
    rng = np.random.default_rng(11)
    f = 0.1 / 1e4 * np.exp(rng.normal(size=len(sel)))
    beta_hat = simulate_beta_hat(X[sel], f, 0.9, N, rng)
    return X[sel], variants.iloc[sel].reset_index(drop=True), R[np.ix_(sel, sel)], f, beta_hat


def _stats(window_data, **kw):
    _, v, R, _, beta_hat = window_data
    return SummaryStats.from_arrays(beta_hat, N, v["chrom"], v["pos"], R, sigma2=0.9,
                                    window_bp=300_000, flank_bp=150_000, **kw)


@pytest.mark.parametrize("model,share,kappa", [
    ("none", 1.0, 0.0), ("truncate", 0.98, 0.0), ("mismatch", 0.98, 0.0),
    ("mismatch", 0.98, 3.7), ("mismatch", 0.9, 0.02)])
def test_window_likelihood_matches_dense_oracle(window_data, model, share, kappa):
    _, _, R, f, beta_hat = window_data
    kw = dict(ld_regularisation=model) if model == "none" else dict(ld_regularisation=model,
                                                                    ld_share=share)
    st = _stats(window_data, **kw)
    got = -marginal_loglik(st, f, per_window=True, mismatch=kappa)
    rows = st.variants["row"].to_numpy()
    want = [dense_window_nll(R, beta_hat, f, rows[c], rows[e], 0.9 / N, share, kappa)
            for c, e in st.windows]
    np.testing.assert_allclose(got, want, rtol=1e-10)
    # the gain is relative to the null with the same mismatch term
    gain = marginal_loglik(st, f, per_window=True, relative_to_null=True, mismatch=kappa)
    null = [dense_window_nll(R, beta_hat, f * 0, rows[c], rows[e], 0.9 / N, share, kappa)
            for c, e in st.windows]
    np.testing.assert_allclose(gain, np.array(null) - np.array(want), rtol=1e-9, atol=1e-9)


def test_models_keep_what_they_say(window_data):
    exact, trunc, mism = (_stats(window_data, ld_regularisation=m, ld_share=0.98)
                          for m in ("none", "truncate", "mismatch"))
    for k in range(len(exact)):
        a, b, c = (st.window_factors(k) for st in (exact, trunc, mism))
        assert b.rank == c.rank < a.rank <= 488
        assert a.d is None and b.d is None and c.d is not None and len(c.d) == c.rank
        # mismatch keeps the eigenbasis (G^T G not diagonal), the others rotate it
        gtg = c.G.T @ c.G
        assert np.abs(gtg - np.diag(np.diag(gtg))).max() > 1e-6
        gtg = b.G.T @ b.G
        assert np.abs(gtg - np.diag(np.diag(gtg))).max() < 1e-8 * np.abs(gtg).max()
        # in-sample beta-hat lies in the span of R_II (rank-deficient: 489 people)
        assert a.out_share < 1e-10


def test_kept_count_and_auto_share():
    lam = np.array([5.0, 3.0, 1.0, 0.6, 0.3, 0.1])          # sum 10
    assert kept_count(lam, 0.5) == 1 and kept_count(lam, 0.8) == 2
    assert kept_count(lam, 0.9) == 3 and kept_count(lam, 0.96) == 4
    assert kept_count(lam, 0.97) == 5 and kept_count(lam, 1.0) == 6
    assert resolve_share("auto", None, 1e5) == 0.98
    assert resolve_share("auto", 489, 1e5) == 0.95 and resolve_share("auto", 2e4, 1e5) == 0.98
    assert resolve_share(0.9, 489, 1e5) == 0.9


@pytest.mark.parametrize("kw,msg", [
    (dict(ld_regularisation="shrink"), "ld_regularisation must be .auto. or one of"),
    (dict(ld_share=1.5), "ld_share must lie in"), (dict(ld_share=0.0), "ld_share must lie in"),
    (dict(ld_share="all"), "ld_share must be a finite number")])
def test_bad_ld_settings(window_data, kw, msg):
    with pytest.raises(ValueError, match=msg):
        _stats(window_data, **kw)
    with pytest.raises(ValueError, match="mismatch variance needs windows built"):
        marginal_loglik(_stats(window_data, ld_regularisation="truncate"),
                        np.full(1500, 1e-5), mismatch=1.0)


# ------------------------------------------------------------------ split panel, end to end
@pytest.fixture(scope="module")
def split_panel(ref22):
    """chr22 region: beta-hat through half A of the people; LD from half B (and from all)."""
    rng = np.random.default_rng(5)
    people = rng.permutation(ref22.n_ref)
    half_a, half_b = ref22.people(np.sort(people[:244])), ref22.people(np.sort(people[244:]))
    ok = ~(ref22.monomorphic | half_a.monomorphic | half_b.monomorphic)
    keep = np.flatnonzero(ok)[::2]
    A, B, full = half_a.subset(keep), half_b.subset(keep), ref22.subset(keep)
    p = full.mean / 2
    f = (p * (1 - p)) ** 0.7
    f *= 0.05 / f.sum()
    v = full.variants

    def sumstats(source):
        beta = rng.standard_normal(len(f)) * np.sqrt(f)
        X = source.standardised(np.arange(len(f)))
        n_ref = X.shape[1]
        bh = X @ (X.T @ beta) / n_ref + np.sqrt(0.95 / N / n_ref) * (X @ rng.standard_normal(n_ref))
        return pd.DataFrame({"SNP": v["snp"], "A1": v["a1"], "A2": v["a2"], "Z": bh * np.sqrt(N),
                             "N": N})

    return dict(A=A, B=B, full=full, split=sumstats(A), insample=sumstats(full))


def _fit(source, ss, **kw):
    st = SummaryStats.from_ld_source(source, ss, sigma2=0.95, keep_ambiguous=True,
                                     window_bp=250_000, flank_bp=1_000_000, **kw)
    return st, ConstantPrior(random_state=0).fit(st)


def test_reference_panel_ld_no_longer_runs_away(split_panel):
    """Split panel (true h2 0.05), fixed windows with flanks (``ld_blocks="none"``): the exact
    model runs to h2 >> 1 and says so; the mismatch model stays near the truth and its
    diagnostic flags every window and reports the flanks' panel noise."""
    B, ss = split_panel["B"], split_panel["split"]
    with pytest.warns(RuntimeWarning, match="at the bound of 1"):
        st_exact, exact = _fit(B, ss, ld_regularisation="none", ld_blocks="none")
    assert exact.h2(st_exact) > 1
    st, est = _fit(B, ss, ld_blocks="none")
    # a 244-person panel for a GWAS of 100,000: "auto" truncates at 0.95 of the trace
    assert st.ld_model.regularisation == "mismatch" and st.ld_model.share == 0.95
    print("split panel: h2", est.h2(st), "kappa", est.ld_mismatch_, "exact", exact.h2(st_exact))
    assert 0.025 < est.h2(st) < 0.1 and est.ld_mismatch_ > 0.5
    diag = st.ld_diagnostics(warn=False)
    assert diag["flag"].all() and diag["small_panel"].any()
    assert (diag["z_tail"] > 10).all() and (diag["out_share"] > 1e-4).all()
    assert (diag["panel_size"] == 245).all() and (diag["flank_noise"] > 0.1).all()


def test_reference_panel_default_cuts_blocks(split_panel):
    """The same data with the defaults: a 245-person panel is cut at LD blocks found in it
    (no flanks, so no flank noise), each block into thinned cores of 20 (the extended set of
    each is its block). h2: 0.051 with the mismatch model on the same blocks. The thinned
    default gives 0.165 here: these statistics are drawn through the other half's 245-person
    LD, so they carry a small panel's noise themselves, which no real GWAS does (docs "LD
    from a reference panel": the split designs)."""
    B, ss = split_panel["B"], split_panel["split"]
    st, est = _fit(B, ss)
    assert st._data.ld_blocks is not None and st.ld_model.regularisation == "thinned"
    units = st.window_units
    assert units[-1] + 1 >= 3 and len(st) > 10 * (units[-1] + 1)
    for u in range(units[-1] + 1):
        wins = [st.windows[k] for k in np.flatnonzero(units == u)]
        block = wins[0][1]
        assert all(np.array_equal(e, block) for _, e in wins)
        np.testing.assert_array_equal(np.sort(np.concatenate([c for c, _ in wins])), block)
        assert all(len(c) <= 2 * 20 for c, _ in wins)
    diag = st.ld_diagnostics(warn=False)
    assert (diag["flank_noise"] == 0).all()
    st_m, est_m = _fit(B, ss, ld_regularisation="mismatch")
    assert all(np.array_equal(core, ext) for core, ext in st_m.windows)
    assert 0.04 < est_m.h2(st_m) < 0.065


def test_in_sample_ld_is_left_alone(split_panel):
    """In-sample: the fitted mismatch is small (0.48 here, on 4 windows; the study's 24-window
    replicates stayed below 0.1), h2 within sampling noise of the exact model's (-9 % here),
    nothing flagged."""
    full, ss = split_panel["full"], split_panel["insample"]
    # beta-hat drawn through all 489 people's LD over the whole region, spurious long-range
    # correlations included: only windows with flanks see that LD (LD blocks would cut it
    # and the exact model then runs to h2 0.35, 7x the truth)
    st_exact, exact = _fit(full, ss, ld_regularisation="none", ld_blocks="none")
    st, est = _fit(full, ss, ld_blocks="none")
    print("in-sample: h2", est.h2(st), "kappa", est.ld_mismatch_, "exact", exact.h2(st_exact))
    assert est.ld_mismatch_ < 1.0
    assert est.h2(st) == pytest.approx(exact.h2(st_exact), rel=0.15)
    diag = st.ld_diagnostics(warn=False)
    assert not diag["flag"].any() and diag["z_tail"].max() < 10
    assert (diag["out_share"] < 1e-10).all()


def test_diagnostic_matches_its_definition(window_data):
    """z_tail and out_share recomputed densely from R (h2 given, so no LDSR involved)."""
    _, v, R, _, beta_hat = window_data
    st = _stats(window_data)
    h2, sigma2 = 0.02, 0.9
    diag = st.ld_diagnostics(h2=h2, warn=False)
    rows = st.variants["row"].to_numpy()
    p = np.clip(st.variants["freq"].fillna(0.5).to_numpy(), 1e-4, 1 - 1e-4)
    w = (p * (1 - p)) ** 0.7
    c, s = h2 / w.sum(), sigma2 / N
    for k, (core, ext) in enumerate(st.windows):
        lam, U = np.linalg.eigh(R[np.ix_(rows[core], rows[core])])
        lam, U = lam[::-1], U[:, ::-1]
        keep = lam > 1e-10 * lam[0]
        lam, U = lam[keep], U[:, keep]
        tail = slice(kept_count(lam, 0.99), None)
        G = R[np.ix_(rows[ext], rows[core])] @ U / np.sqrt(lam)
        y = U.T @ beta_hat[rows[core]] / np.sqrt(lam)
        a = (w[ext][:, None] * G[:, tail] ** 2).sum(0)
        t = len(y[tail])
        z = (np.sum(y[tail] ** 2 / (s + c * a)) - t) / np.sqrt(2 * t)
        assert diag["z_tail"].iat[k] == pytest.approx(z, rel=1e-8)
        b = beta_hat[rows[core]]
        assert diag["out_share"].iat[k] == pytest.approx(1 - np.sum((U.T @ b) ** 2) / (b @ b),
                                                         abs=1e-12)
