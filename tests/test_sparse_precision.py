"""The sparse precision path (LDGMs): sparse LDL^T with selected inversion, the windows'
factors, the gain, its gradient and the posterior mean, against a dense float64 oracle on the
real 1000 Genomes EUR LDGM block (5,354 indices), with and without variants missing from the
statistics (Schur complement)."""
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

import deepwas
from deepwas.io.ldgm import LDGMSource
from deepwas.posterior import posterior_mean
from deepwas.precision_windows import PrecisionWindow, precision_factors
from deepwas.solvers.sparse import sparse_gain
from deepwas.solvers.sparse_ldlt import SparseLDLT


@pytest.fixture(scope="module")
def block_P(ldgm_block):
    """The first 2,000 indices of the real block's precision: the LDGM's own sparsity and
    values (a principal submatrix of a positive definite matrix is one), small enough for
    dense inverses in the oracle."""
    return LDGMSource(ldgm_block / "metadata.csv").precision(0).tocsc()[:2000, :2000]


def test_ldlt_matches_dense_on_the_real_block(block_P):
    """log|T|, T^-1 b and diag(T^-1) of T = s P + diag(shift) equal dense float64 numbers."""
    rng = np.random.default_rng(1)
    n = block_P.shape[0]
    s, shift = 2e-5, rng.exponential(3e-5, n)
    F = SparseLDLT(block_P).factor(s, shift)
    T = (s * block_P + sp.diags(shift)).toarray()
    Ti = np.linalg.inv(T)
    assert F.logdet() == pytest.approx(np.linalg.slogdet(T)[1], rel=1e-12)
    b = rng.normal(size=n)
    np.testing.assert_allclose(F.solve(b), Ti @ b, rtol=1e-9, atol=1e-9 * np.abs(Ti @ b).max())
    np.testing.assert_allclose(F.inverse_diagonal(), np.diag(Ti), rtol=1e-10)
    # refactorising on the same pattern: a new diagonal gives the new inverse
    F = SparseLDLT(block_P).factor(1.0, None)
    np.testing.assert_allclose(F.inverse_diagonal(), np.diag(np.linalg.inv(block_P.toarray())),
                               rtol=1e-10)


def test_ldlt_keeps_only_the_symbolic_analysis(ldgm_block):
    """A genome holds one SparseLDLT per LD block: between evaluations it keeps the ordering,
    the tree and A's triangle, never a numeric factor (the whole real block: 482,042 entries
    of L, 16 bytes each in QDLDL's factor); every numeric factor is its own object."""
    P = LDGMSource(ldgm_block / "metadata.csv").precision(0).tocsc()
    S = SparseLDLT(P)
    assert S.nnz_L > 4 * P.nnz
    assert S.nbytes < 12 * P.nnz + 48 * P.shape[0]
    assert not any(isinstance(v, (np.ndarray, list)) and np.size(v) >= S.nnz_L
                   for v in vars(S).values())
    a, b = S.factor(2e-5, np.full(P.shape[0], 1e-5)), S.factor(1.0)
    assert a.logdet() != pytest.approx(b.logdet())


def test_ldlt_small_hand_matrix_and_errors():
    A = sp.csc_matrix(np.array([[4.0, 1, 0, 1], [1, 3, 1, 0], [0, 1, 2, 0], [1, 0, 0, 5]]))
    F = SparseLDLT(A)
    np.testing.assert_allclose(F.factor().inverse_diagonal(), np.diag(np.linalg.inv(A.toarray())),
                               rtol=1e-14)
    with pytest.raises(FloatingPointError, match="not positive definite"):
        F.factor(-1.0)
    with pytest.raises(ValueError, match="diagonal"):
        SparseLDLT(sp.csc_matrix(np.array([[0.0, 1], [1, 2]])))


def _dense_oracle(R, beta, f, s):
    """Gain, its gradient in f and the posterior mean from dense R (float64)."""
    def loglik(A):
        c = np.linalg.cholesky(A)
        x = np.linalg.solve(c, beta)
        return -0.5 * (x @ x) - np.log(np.diag(c)).sum()

    gain = loglik(R * f @ R + s * R) - loglik(s * R)
    S = np.linalg.inv(R)
    Ki = np.linalg.inv(np.diag(f) + s * S)
    x = Ki @ (S @ beta)
    return gain, 0.5 * (x * x - np.diag(Ki)), f * x


@pytest.mark.parametrize("missing", [0.0, 0.3])
def test_gain_gradient_posterior_match_dense(block_P, missing):
    """With every index carrying a statistic, and with 30 % of them missing (their effects
    marginalised by the Schur complement, as graphREML does)."""
    rng = np.random.default_rng(2)
    n_b = block_P.shape[0]
    W = np.sort(rng.choice(n_b, int(round(n_b * (1 - missing))), replace=False))
    R = np.linalg.inv(block_P.toarray())[np.ix_(W, W)]
    s = 1e-5
    f = rng.exponential(0.05 / n_b, len(W))
    beta = np.linalg.cholesky(R) @ rng.normal(size=len(W)) * np.sqrt(s + 2e-6)
    wf = precision_factors(block_P, W, beta, len(W))
    assert wf.q == pytest.approx(beta @ np.linalg.solve(R, beta), rel=1e-9)
    win = PrecisionWindow(wf)
    assert win.logdet_R == pytest.approx(np.linalg.slogdet(R)[1], rel=1e-9)
    ft = torch.tensor(f, requires_grad=True)
    gain = sparse_gain(win.ldlt, win.W, win.u, win.q, win.logdet_P, ft, s)
    gain.backward()
    g_dense, grad_dense, mean_dense = _dense_oracle(R, beta, f, s)
    assert float(gain.detach()) == pytest.approx(g_dense, rel=1e-8)
    grad = ft.grad.numpy()
    assert grad @ grad_dense / np.linalg.norm(grad) / np.linalg.norm(grad_dense) > 1 - 1e-10
    np.testing.assert_allclose(grad, grad_dense, rtol=1e-7, atol=1e-9 * np.abs(grad_dense).max())
    from deepwas.solvers.sparse import sparse_posterior_mean

    np.testing.assert_allclose(sparse_posterior_mean(win.ldlt, win.W, win.u, f, s), mean_dense,
                               rtol=1e-7, atol=1e-9 * np.abs(mean_dense).max())
    # f = 0 is the null model
    zero = sparse_gain(win.ldlt, win.W, win.u, win.q, win.logdet_P, torch.zeros(len(W)), s)
    assert abs(float(zero)) < 1e-8


@pytest.fixture(scope="module")
def ldgm_stats(ldgm_block):
    ref = np.load(ldgm_block / "graphld_reference.npz")
    ss = pd.DataFrame({"SNP": ref["snp"], "CHR": "1", "BP": ref["pos"], "A1": ref["a1"],
                       "A2": ref["a2"], "Z": ref["z"], "N": float(ref["n"])})
    st = deepwas.SummaryStats.from_ldgm(ldgm_block / "metadata.csv", ss, sigma2=1.0,
                                        keep_ambiguous=True)
    f = np.array(pd.Series(ref["f"], index=ref["pos"]).loc[st.variants["pos"].to_numpy()])
    return st, f, ref


def test_from_ldgm_takes_the_sparse_path_with_graphreml_numbers(ldgm_stats):
    """``from_ldgm``'s default windows are precision windows; the gain equals graphREML's,
    ``marginal_loglik`` adds the null term of the dense path, and ``posterior_mean`` runs."""
    st, f, ref = ldgm_stats
    assert getattr(st.window_tensors(0), "precision", False)
    gain, info = deepwas.marginal_loglik(st, f, relative_to_null=True, return_info=True,
                                         linalg="auto")
    assert info[0]["linalg"] == "sparse"
    assert gain == pytest.approx(float(ref["gain"]), rel=1e-10)
    # every index carries a statistic: S = P, and dense P gives the null term and the
    # posterior mean F (F + s P)^-1 P beta
    src = st.ld.parent                     # the LDGMSource under the matched subset
    P = src.precision(0).toarray()
    order = src._row[st.ld.keep[st.variants["row"].to_numpy()]]
    P = P[np.ix_(order, order)]
    beta = st.variants["beta_hat"].to_numpy()
    s = 1.0 / st.n
    m = len(beta)
    null = -0.5 * (beta @ P @ beta / s + m * np.log(s) - np.linalg.slogdet(P)[1]
                   + m * np.log(2 * np.pi))
    assert deepwas.marginal_loglik(st, f) == pytest.approx(gain + null, rel=1e-12)
    mean_dense = f * np.linalg.solve(np.diag(f) + s * P, P @ beta)
    np.testing.assert_allclose(posterior_mean(st, f), mean_dense, rtol=1e-6,
                               atol=1e-8 * np.abs(mean_dense).max())
    with pytest.raises(ValueError, match="mismatch"):
        deepwas.marginal_loglik(st, f, mismatch=0.1)


@pytest.fixture(scope="module")
def six_blocks(ldgm_block, tmp_path_factory):
    """Six LDGM blocks on disk, each a 400-index principal submatrix of the real block's
    precision (real sparsity; scaled so that its inverse has a unit diagonal), with statistics
    drawn exactly from R_b = P_b^-1 (h2 0.3 over 2,400 variants, N 50,000) and a binary
    annotation with 4x the variance on a quarter of the variants; the same LD as dense arrays."""
    from test_io_ldgm import _snplist, write_ldgm

    rng = np.random.default_rng(7)
    full = LDGMSource(ldgm_block / "metadata.csv").precision(0).toarray()
    d = tmp_path_factory.mktemp("six_blocks")
    n, k, size = 50_000, 6, 400
    tables, Rs = [], []
    for b in range(k):
        P = full[b * size:(b + 1) * size, b * size:(b + 1) * size]
        sd = np.sqrt(np.diag(np.linalg.inv(P)))
        P = P * np.outer(sd, sd)              # its inverse a correlation matrix
        start = 1_000_000 * (b + 1)
        snps = _snplist(size, "22", start, rng)
        write_ldgm(d, f"1kg_chr22_{start}_{start + 10 ** 6}", "22", start, P, snps)
        tables.append(snps)
        Rs.append(np.linalg.inv(P))
    v = pd.concat(tables, ignore_index=True)
    annot = (rng.random(len(v)) < 0.25).astype(float)
    f = np.where(annot > 0, 4.0, 1.0)
    f *= 0.3 / f.sum()
    beta_hat = []
    for b, R in enumerate(Rs):
        fb = f[b * size:(b + 1) * size]
        L = np.linalg.cholesky(R)
        beta = rng.normal(size=size) * np.sqrt(fb)
        beta_hat.append(R @ beta + L @ rng.normal(size=size) * np.sqrt((1 - 0.3) / n))
    beta_hat = np.concatenate(beta_hat)
    ss = pd.DataFrame({"SNP": v["site_ids"], "CHR": "22", "BP": v["position"],
                       "A1": v["deriv_alleles"], "A2": v["anc_alleles"],
                       "Z": beta_hat * np.sqrt(n), "N": float(n)})
    feats = pd.DataFrame({"annot": annot})
    sparse = deepwas.SummaryStats.from_ldgm(d / "metadata.csv", ss, sigma2=0.7,
                                            keep_ambiguous=True, features=feats.to_numpy())
    R = sp.block_diag(Rs).toarray()
    blocks = pd.DataFrame({"chrom": "22", "start": [1_000_000 * (b + 1) for b in range(k)],
                           "end": [1_000_000 * (b + 1) + 10 ** 6 for b in range(k)]})
    dense = deepwas.SummaryStats.from_arrays(
        beta_hat, n, np.full(len(v), "22"), v["position"].to_numpy(), R,
        freq=v["EUR"].to_numpy(), features=feats.to_numpy(), sigma2=0.7,
        ld_regularisation="none", ld_blocks=blocks)
    return sparse, dense


def test_glm_fit_h2_and_score_match_the_dense_path(six_blocks):
    """The same GLM fit (L-BFGS), the same held-out score and the same partitioned h2 with
    pseudo-jackknife SEs on the sparse path as on the dense exact path."""
    sparse, dense = six_blocks
    assert len(sparse) == len(dense) == 6
    assert getattr(sparse.window_tensors(0), "precision", False)
    assert not getattr(dense.window_tensors(0), "precision", False)
    # six blocks, four held by the source: the others are read again from their files
    src = sparse.ld.parent
    assert len(src._P) <= src.cache_blocks < len(src.blocks)
    np.testing.assert_allclose(sparse.variants["beta_hat"], dense.variants["beta_hat"],
                               rtol=1e-12)
    fits = [deepwas.GLMPrior(random_state=0).fit(st) for st in (sparse, dense)]
    f_s, f_d = (est.predict_f(st) for est, st in zip(fits, (sparse, dense)))
    np.testing.assert_allclose(f_s, f_d, rtol=1e-4)
    assert fits[0].score(sparse) == pytest.approx(fits[1].score(dense), rel=1e-6)
    h_s, h_d = (est.partitioned_h2(st, n_blocks=6) for est, st in zip(fits, (sparse, dense)))
    assert h_s.attrs["h2"] == pytest.approx(h_d.attrs["h2"], rel=1e-4)
    assert h_s.attrs["h2_std_error"] == pytest.approx(h_d.attrs["h2_std_error"], rel=1e-3)
    np.testing.assert_allclose(h_s["Enrichment"], h_d["Enrichment"], rtol=1e-4)
    np.testing.assert_allclose(h_s["Enrichment_std_error"], h_d["Enrichment_std_error"],
                               rtol=1e-3)


def test_adamw_training_runs_on_precision_windows(six_blocks):
    """AdamW steps (one window per step, float32) go through the sparse path: the gradient
    reaches the prior and the fit improves on the null model."""
    sparse, _ = six_blocks
    est = deepwas.GLMPrior(optimizer="adamw", max_epochs=3, random_state=0).fit(sparse)
    assert np.isfinite(est.predict_f(sparse)).all()
    assert est.score(sparse) > 0


def test_recomputing_dropped_precision_windows_does_not_ask_for_a_cache_dir(six_blocks, caplog):
    """Under a small factor_memory, dense windows dropped from memory are recomputed with a
    warning that a cache_dir would keep them; precision windows are never cached on disk
    (a sparse factorisation rebuilds them), so they get an info line that says so instead."""
    import logging

    from deepwas.memory_pool import POOL

    sparse, dense = six_blocks
    for st, precision in ((sparse[:3], True), (dense[:3], False)):
        f = np.full(st.n_variants, 1e-4)
        sizes = []
        for k in range(len(st)):      # factors and tensors of one window
            POOL.clear()
            st.window_tensors(k)
            sizes.append(POOL.total)
        POOL.clear()
        st._data.store.cache.hits["computed"] = 0
        st._data.store._warned_recompute = False
        caplog.clear()
        with deepwas.config_context(factor_memory=int(1.5 * max(sizes)), cache_dir=None), \
                caplog.at_level(logging.INFO, logger="deepwas"):
            before = POOL.evictions
            for _ in range(2):            # the second pass recomputes dropped windows
                deepwas.marginal_loglik(st, f)
            assert POOL.evictions > before
        notes = [r for r in caplog.records if "factor_memory)" in r.getMessage()]
        assert len(notes) == 1, [r.getMessage() for r in caplog.records]
        text = notes[0].getMessage()
        if precision:
            assert notes[0].levelno == logging.INFO and "cache_dir" not in text
            assert "never written to the disk cache" in text
        else:
            assert notes[0].levelno == logging.WARNING and "give the data a cache_dir" in text


def test_ld_diagnostics_on_an_ldgm_forms_no_dense_ld(ldgm_stats, monkeypatch):
    """Precision windows have no eigen-tail and an LDGM no panel size: nothing in the check
    needs h2, so the LD score regression (dense R of every block) is not run; the summary
    says the check does not apply."""
    from deepwas.diagnostics import diagnostics_summary, needs_warning

    st, _, _ = ldgm_stats

    def no_dense(*args, **kwargs):
        raise AssertionError("ld_diagnostics formed a dense LD block of an LDGM")

    for src in {type(st.ld), type(st.ld.parent)}:
        monkeypatch.setattr(src, "block", no_dense)
    diag = st.ld_diagnostics(warn=False)
    assert len(diag) == len(st) and diag["z_tail"].isna().all() and not diag["flag"].any()
    assert (diag["n_tail"] == 0).all() and np.isnan(diag.attrs["h2"])
    assert not needs_warning(diag)
    assert "the check does not apply" in diagnostics_summary(diag, "none")
    assert st.ld_diagnostics(h2=0.1, warn=False).attrs["h2"] == 0.1


def test_a_precision_window_keeps_only_its_solver(ldgm_stats):
    """Once a precision window's solver is built, the pool drops its factors (a second copy
    of P): later steps, other dtypes and prefetches find the solver and compute nothing, and
    factors asked for again are recomputed to the same numbers."""
    import torch

    from deepwas.memory_pool import POOL

    st, f, _ = ldgm_stats
    POOL.clear()
    before = st.window_factors(0)
    gain = deepwas.marginal_loglik(st, f)
    key, store = st.window_key(0), st._data.store
    solver = POOL.get(key, ("tensors", "precision"))
    assert solver is not None and POOL.get(key, "factors") is None
    computed = store.cache.hits["computed"]
    st.prefetch(0)
    assert st.window_tensors(0) is solver
    assert st.window_tensors(0, dtype=torch.float32) is solver
    assert deepwas.marginal_loglik(st, f) == gain
    assert store.cache.hits["computed"] == computed and not store._pending
    again = st.window_factors(0)
    assert store.cache.hits["computed"] == computed + 1
    np.testing.assert_array_equal(again.u, before.u)
    assert (again.P != before.P).nnz == 0 and again.q == before.q


def test_precompute_after_a_fit_leaves_precision_windows_alone(ldgm_stats):
    """A window whose solver is in memory (its factors dropped) is not computed again by
    ``precompute``."""
    from deepwas.memory_pool import POOL

    st, f, _ = ldgm_stats
    POOL.clear()
    deepwas.marginal_loglik(st, f)
    store = st._data.store
    computed = store.cache.hits["computed"]
    st.precompute()
    assert store.cache.hits["computed"] == computed
    assert POOL.get(st.window_key(0), "factors") is None


def test_inflated_noise_is_an_intercept_above_one(ldgm_stats):
    """Statistics whose noise is inflated (an LDSC intercept of 1.3: confounding) drawn
    exactly from the real block's R = P^-1: sigma2=1.3 (graphREML's ``--intercept 1.3``)
    recovers h2, sigma2=1 reads the extra noise as heritability (about 2x), and
    sigma2="estimate" finds the intercept by maximum likelihood."""
    from scipy.sparse.linalg import spsolve_triangular

    st, _, _ = ldgm_stats
    src = st.ld.parent
    P = src.precision(0)
    order = src._row[st.ld.keep[st.variants["row"].to_numpy()]]
    F = SparseLDLT(P).factor()
    L, D, perm = F.factors()
    M, n, c, h2 = P.shape[0], st.n, 1.3, 0.02
    rng = np.random.default_rng(2)
    beta = rng.normal(size=M) * np.sqrt(h2 / M)
    e = np.empty(M)                  # N(0, P^-1) through P's factor
    e[perm] = spsolve_triangular((L + sp.eye(M, format="csc")).T.tocsr(),
                                 rng.standard_normal(M) / np.sqrt(D), lower=False,
                                 unit_diagonal=True)
    data = st.with_beta_hat((F.solve(beta) + np.sqrt(c / n) * e)[order])
    fits = {}
    for s2 in (c, 1.0, "estimate"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fits[s2] = deepwas.ConstantPrior(sigma2=s2, random_state=0).fit(data)
    assert fits[c].h2(data) == pytest.approx(h2, rel=0.2)
    assert fits[1.0].h2(data) > 1.6 * h2
    assert fits["estimate"].sigma2_ == pytest.approx(c, abs=0.1)
    assert fits["estimate"].h2(data) == pytest.approx(h2, rel=0.2)
    with pytest.raises(ValueError, match="sigma2"):
        deepwas.ConstantPrior(sigma2=2.5).fit(data)
