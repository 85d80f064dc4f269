"""The jackknife on few windows: blocks of contiguous variants that split windows, each leaving
out its variants' share of the score (deepwas.jackknife), against a dense float64 oracle on
real 1000 Genomes LD; and one window (one LDGM block) through partitioned_h2 and the CLI."""
import copy

import numpy as np
import pandas as pd
import pytest
import torch

import deepwas
from deepwas.fitting._full_batch import ridge_mask
from deepwas.jackknife import (_Objective, _block_grads, jackknife_blocks, leave_out_priors,
                               plan_blocks, variant_blocks)

from conftest import simulate_beta_hat

SEL = np.arange(0, 2400, 8)      # 300 chr22 variants: windows of 200 kb have full-rank LD


@pytest.fixture(scope="module")
def data(geno22):
    """A GLM (two predictors) fitted on 300 chr22 variants in 200-kb windows, with and without
    flanks, and the dense pieces of the oracle."""
    X, variants, R = geno22
    rng = np.random.default_rng(11)
    pos = variants["pos"].to_numpy()[SEL]
    pred = np.column_stack([((pos // 25_000) % 4 == 0), rng.random(len(SEL))]).astype(np.float32)
    f = np.exp(1.5 * pred[:, 0])
    f *= 0.05 / f.sum()
    beta_hat = simulate_beta_hat(X[SEL], f, 0.95, 50_000, rng)

    def stats(**windows):
        return deepwas.SummaryStats.from_arrays(
            beta_hat, 50_000, variants["chrom"][SEL], pos, R[np.ix_(SEL, SEL)], sigma2=0.95,
            snp=variants["snp"].to_numpy()[SEL], features=pred, ld_regularisation="none",
            **windows)

    no_flank = stats(window_bp=200_000, flank_bp=0)
    est = deepwas.GLMPrior(alpha=0.0, random_state=0).fit(no_flank)
    return dict(no_flank=no_flank, flanked=stats(window_bp=200_000, flank_bp=200_000), stats=stats,
                one=stats(window_bp=2_000_000, flank_bp=0), est=est,
                R=R[np.ix_(SEL, SEL)], beta_hat=beta_hat)


def _dense_loss(R, beta_hat, log_f, core, ext, s, mean_core):
    """Minus the gain of one window over the null, per mean core size: Eq. 3 on the range of
    R_II in float64 torch (differentiable in log f)."""
    R_II = torch.as_tensor(R[np.ix_(core, core)])
    R_IE = torch.as_tensor(R[np.ix_(core, ext)])
    lam, U = torch.linalg.eigh(R_II)
    U = U[:, lam > 1e-10 * lam.max()]
    b = U.T @ torch.as_tensor(beta_hat[core])

    def loglik(f):
        A = U.T @ (R_IE @ torch.diag(f) @ R_IE.T + s * R_II) @ U
        return -0.5 * (b @ torch.linalg.solve(A, b) + torch.linalg.slogdet(A)[1])

    return -(loglik(torch.exp(log_f)) - loglik(torch.zeros_like(log_f))) / mean_core


def test_variant_blocks_are_contiguous_runs_of_core_variants(data):
    st = data["flanked"]
    labels, n = variant_blocks(st, 7)
    assert n == 7 and len(labels) == st.n_variants
    assert np.all(np.diff(labels) >= 0) and set(labels) == set(range(7))
    counts = np.bincount(labels)
    assert counts.max() - counts.min() <= 1            # every variant is core here
    assert variant_blocks(st, 10_000)[1] == st.n_variants     # at most one block per variant
    with pytest.warns(UserWarning, match="blocks of contiguous variants"):
        assert plan_blocks(st, 40)[2] == "variants"
    assert plan_blocks(st, len(st))[2] == "windows"
    with pytest.warns(UserWarning, match="one block per window"):      # refit: whole windows
        assert plan_blocks(st, 40, "refit")[1:] == (len(st), "windows")
    with pytest.raises(ValueError, match="jackknife='pseudo' \\(blocks of contiguous variants"):
        jackknife_blocks(1, 200)


@pytest.mark.parametrize("which", ["no_flank", "flanked"])
def test_block_shares_match_the_dense_oracle(data, which):
    """g_k = sum over the block's variants of (d loss / d log f_m) grad log f_m, over every
    window using them: the dense float64 oracle's derivative through the prior's Jacobian."""
    st, est = data[which], data["est"]
    labels, n = variant_blocks(st, 9)
    obj = _Objective(est, st)
    prior = copy.deepcopy(est.prior_).double()
    for p in prior.parameters():
        p.requires_grad_(True)
    x = np.concatenate([p.detach().reshape(-1).numpy() for p in prior.parameters()])
    got = _block_grads(prior, obj, x, labels, n, "variants")
    want = np.zeros_like(got)
    params = list(prior.parameters())
    s = float(st.sigma2) / float(st.n)
    for k, (core, ext) in enumerate(st.windows):
        func, pred, freq, m = obj.fetch(k)
        log_f = prior(func, pred, freq, n=m)
        lf = log_f.detach().clone().requires_grad_(True)
        loss = _dense_loss(data["R"], data["beta_hat"], lf, core, ext, s, obj.objective.mean_core)
        d = torch.autograd.grad(loss, lf)[0]
        for j, m_row in enumerate(ext):
            J = torch.autograd.grad(log_f[j], params, retain_graph=True, allow_unused=True)
            J = np.concatenate([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                                .numpy() for g, p in zip(J, params)])
            want[labels[m_row]] += float(d[j]) * J
    obj.close()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9 * np.abs(want).max())
    # the shares add up to the whole gradient: with the ridge's, zero at the no-flank optimum
    if which == "no_flank":
        penalty = obj.ridge * np.where(ridge_mask(prior), x, 0.0)
        assert obj.ridge > 0 and np.abs(penalty).max() > 1e-3
        assert np.abs(got.sum(0) + penalty).max() < 1e-4 * np.abs(got).max()


def test_blocks_of_whole_windows_give_the_window_jackknife(data):
    """Without flanks a window's variants are its own: variant blocks that coincide with the
    windows give the window jackknife's leave-out parameters."""
    st, est = data["no_flank"], data["est"]
    wl, n = jackknife_blocks(len(st), len(st))
    vl = np.empty(st.n_variants, dtype=np.int64)
    for k, (core, _) in enumerate(st.windows):
        vl[core] = wl[k]
    _, theta, by_window, _ = leave_out_priors(est, st, wl, n, "pseudo")
    _, _, by_variant, _ = leave_out_priors(est, st, vl, n, "pseudo", unit="variants")
    np.testing.assert_allclose(by_variant, by_window, rtol=1e-9, atol=1e-9)
    assert np.abs(by_window - theta).max() > 1e-3          # the blocks do move the estimate
    with pytest.raises(ValueError, match="unit must be"):
        leave_out_priors(est, st, vl, n, "refit", unit="variants")


def test_one_window_gets_standard_errors(data):
    """One window (one LDGM block is one): the pseudo-jackknife over blocks of variants, the
    same numbers from Python and from deepwas h2; refit names the way out."""
    st, est = data["one"], data["est"]
    assert len(st) == 1
    A = pd.DataFrame({"SNP": st.variants["snp"], "A": st.get_features().pred[:, 0]})
    with pytest.warns(UserWarning, match="1 window for n_blocks=20: 20 jackknife blocks"):
        tab = est.partitioned_h2(st, A, n_blocks=20)
    assert tab.attrs["n_blocks"] == 20 and tab.attrs["jackknife_unit"] == "variants"
    assert 0 < tab.attrs["h2_std_error"] < tab.attrs["h2"]
    assert 0 < tab["Enrichment_std_error"][0] < np.inf
    with pytest.raises(ValueError, match="needs at least 2 windows, the data has 1"):
        est.partitioned_h2(st, A, n_blocks=20, jackknife="refit")


def test_ldsr_jackknife_leaves_out_whole_windows(data):
    """LD score regression's per-variant terms (chi^2) follow their shared LD, so its
    jackknife never splits windows: with fewer windows than blocks one block per window
    (blocks of variants gave SEs about a third of the spread, docs "Standard errors"), and
    one window has no jackknife (an error naming the way out, not a too-small SE)."""
    st = data["flanked"]
    assert 2 <= len(st) < 40
    A = pd.DataFrame({"SNP": st.variants["snp"], "A": st.get_features().pred[:, 0]})
    est = deepwas.GLMPrior(alpha=0.0, solver="ldsr", random_state=0).fit(st)
    with pytest.warns(UserWarning, match="one block per window"):
        tab = est.partitioned_h2(st, A, n_blocks=40)
    assert tab.attrs["jackknife_unit"] == "windows" and tab.attrs["n_blocks"] == len(st)
    assert 0 < tab.attrs["h2_std_error"] < np.inf
    # the likelihood's pseudo-jackknife still splits windows here
    with pytest.warns(UserWarning, match="blocks of contiguous variants"):
        assert data["est"].partitioned_h2(st, A, n_blocks=40).attrs["jackknife_unit"] == \
            "variants"
    one = data["one"]
    est1 = deepwas.GLMPrior(alpha=0.0, solver="ldsr", random_state=0).fit(one)
    with pytest.raises(ValueError, match="leaves out whole windows.*jackknife='none'"):
        est1.partitioned_h2(one, n_blocks=20)
    assert np.isfinite(est1.partitioned_h2(one, jackknife="none").attrs["h2"])


def test_ld_blocks_are_whole_jackknife_units(data, geno22):
    """Data cut at LD blocks share no LD between blocks: the pseudo-jackknife leaves out whole
    blocks (one block per LD block, not blocks of variants that split them) once there are
    MIN_WHOLE_LD_BLOCKS of them; with fewer it still splits them (few whole blocks give
    almost no SE)."""
    from deepwas.jackknife import MIN_WHOLE_LD_BLOCKS

    _, variants, _ = geno22
    pos = variants["pos"].to_numpy()[SEL]

    def cut(n):
        edges = [p[[0, -1]] for p in np.array_split(pos, n)]
        blocks = pd.DataFrame({"chrom": "22", "start": [a - 1 for a, _ in edges],
                               "end": [b for _, b in edges]})
        return deepwas.SummaryStats.from_arrays(
            data["beta_hat"], 50_000, variants["chrom"][SEL], pos, data["R"], sigma2=0.95,
            snp=variants["snp"].to_numpy()[SEL], features=data["no_flank"].get_features().pred,
            ld_regularisation="none", ld_blocks=blocks)

    many, few = cut(MIN_WHOLE_LD_BLOCKS + 2), cut(MIN_WHOLE_LD_BLOCKS - 1)
    assert many.windows_are_ld_blocks and len(many) == MIN_WHOLE_LD_BLOCKS + 2
    assert all(np.array_equal(c, e) for c, e in many.windows)
    assert not data["no_flank"].windows_are_ld_blocks          # fixed windows: not blocks
    with pytest.warns(UserWarning, match="one block per window"):
        labels, n, unit = plan_blocks(many, 200)
    assert (n, unit) == (len(many), "windows") and np.array_equal(labels, np.arange(len(many)))
    with pytest.warns(UserWarning, match="blocks of contiguous variants"):
        assert plan_blocks(few, 200)[1:] == (200, "variants")
    A = pd.DataFrame({"SNP": many.variants["snp"], "A": many.get_features().pred[:, 0]})
    est = deepwas.GLMPrior(random_state=0).fit(many)
    with pytest.warns(UserWarning, match="one block per window"):
        tab = est.partitioned_h2(many, A)
    assert tab.attrs["jackknife_unit"] == "windows" and tab.attrs["n_blocks"] == len(many)
    assert 0 < tab.attrs["h2_std_error"] < tab.attrs["h2"]


def test_newton_leave_outs_guard_a_block_that_leaves_the_rest_singular():
    """Ordinary blocks: the exact leave-out Newton step. A block carrying almost all the
    curvature of one parameter: the step with (n-1)/n of the full curvature, not a jump."""
    from deepwas.jackknife import newton_leave_outs

    rng = np.random.default_rng(0)
    n, P = 10, 2
    Hk = np.array([np.diag(rng.uniform(0.9, 1.1, P)) for _ in range(n)])
    Hk[3] = np.diag([1.0, 9.99])            # block 3 holds 9.99 of the 10.0 curvature of x1
    Hk[:, 1, 1] = np.where(np.arange(n) == 3, 9.99, 0.01 / 9)
    gk = rng.normal(0, 0.1, (n, P))
    gk -= gk.mean(0)                         # the full gradient is zero at x0
    x0 = np.array([0.5, -1.0])
    H, g = Hk.sum(0), gk.sum(0)
    out = newton_leave_outs(x0, g, H, gk, Hk)
    for b in range(n):
        want = x0 - np.linalg.solve(H - Hk[b], g - gk[b]) if b != 3 else \
            x0 - np.linalg.solve((1 - 1 / n) * H, g - gk[b])
        np.testing.assert_allclose(out[b], want, rtol=1e-12)
    assert np.abs(out[3] - x0).max() < 0.1
    # the unguarded step for block 3 jumps by |g3| / 0.01
    assert np.abs(np.linalg.solve(H - Hk[3], g - gk[3])).max() > 1


def test_a_newton_step_that_raises_its_own_loss_is_refitted(data):
    """A leave-out whose one Newton step went far (an LDSR GLM at weak signal: block 11 of 13
    raised its leave-out loss from 97 to 2e12, an h2 SE of 1,467 for an h2 of 0.0034) is
    replaced by the refit of that block; steps that lower their loss stay as they are. Here
    the GLM's own leave-outs are the pseudo-jackknife's, and block 2's is spoiled by hand."""
    from deepwas.jackknife import _checked_steps, _refit_block

    st, est = data["no_flank"], data["est"]
    labels, n = jackknife_blocks(len(st), len(st))
    prior, x0, loo, _ = leave_out_priors(est, st, labels, n, "pseudo")
    bad = loo.copy()
    bad[2] = x0 + 30.0
    obj = _Objective(est, st)
    try:
        fixed = _checked_steps(prior, obj, labels, x0, np.eye(len(x0)), bad)
        refit = _refit_block(prior, obj, labels, 2, x0)
    finally:
        obj.close()
    np.testing.assert_array_equal(np.delete(fixed, 2, 0), np.delete(loo, 2, 0))
    np.testing.assert_allclose(fixed[2], refit, rtol=1e-12)
    # the refit is the leave-out optimum the unspoiled Newton step approximated (measured:
    # 0.0008 apart on a step of 0.07)
    assert np.abs(fixed[2] - loo[2]).max() < 0.03 * np.abs(loo[2] - x0).max()


@pytest.mark.parametrize("solver", ["ldsr", "deepwas"])
def test_refit_solves_each_leave_out_to_its_optimum(data, solver):
    """"refit" on a small prior: BFGS from each block's Newton step to the optimum of the
    objective without that block (the fit's ridge penalty kept whole). Checked against the
    leave-out gradient summed window by window (``_block_grads``, a separate path from the
    iterations' ``_window_losses``) plus the penalty's: it vanishes at the refitted
    parameters. For LD score regression (a constant prior) the one Newton step of "pseudo"
    is far from it (0.59 of the blocks' gradient scale): its objective is far from quadratic
    over a leave-out step."""
    if solver == "ldsr":
        st = data["flanked"]
        est = deepwas.ConstantPrior(alpha=0.0, solver="ldsr", random_state=0).fit(st)
    else:            # a GLM with its L-BFGS ridge penalty
        st, est = data["no_flank"], data["est"]
    labels, n = jackknife_blocks(len(st), len(st))
    prior, x0, newton, _ = leave_out_priors(est, st, labels, n, "pseudo")
    _, _, refit, _ = leave_out_priors(est, st, labels, n, "refit")
    obj = _Objective(est, st)
    try:
        pen = ridge_mask(prior) if obj.ridge else np.zeros(len(x0), bool)

        def leave_out_grad(x, b):
            g = _block_grads(prior, obj, x, labels, n, "windows")
            return g.sum(0) - g[b] + obj.ridge * np.where(pen, x, 0.0)
        scale = np.abs(_block_grads(prior, obj, x0, labels, n, "windows")).max()
        at_refit = max(np.abs(leave_out_grad(refit[b], b)).max() for b in range(n))
        at_newton = max(np.abs(leave_out_grad(newton[b], b)).max() for b in range(n))
    finally:
        obj.close()
    assert (obj.ridge > 0) == (solver == "deepwas")
    assert at_refit < 1e-5 * scale
    if solver == "ldsr":
        assert at_newton > 1e-3 * scale
        assert np.abs(refit - newton).max() > 1e-4


def test_refit_falls_back_to_lbfgs_when_its_iterations_do_not_converge(data, monkeypatch):
    """A block whose quasi-Newton iterations have not converged within REFIT_MAX_ITER is
    refitted by L-BFGS from the fitted parameters, as "refit" did for every block before."""
    import deepwas.jackknife as jk

    st = data["flanked"]
    est = deepwas.ConstantPrior(alpha=0.0, solver="ldsr", random_state=0).fit(st)
    labels, n = jackknife_blocks(len(st), len(st))
    prior, x0, solved, _ = leave_out_priors(est, st, labels, n, "refit")
    monkeypatch.setattr(jk, "REFIT_MAX_ITER", 0)
    _, _, fallback, _ = leave_out_priors(est, st, labels, n, "refit")
    obj = _Objective(est, st)
    try:
        lbfgs = np.array([jk._refit_block(prior, obj, labels, b, x0) for b in range(n)])
    finally:
        obj.close()
    np.testing.assert_allclose(fallback, lbfgs, rtol=1e-12)
    # the two solvers find the same optima, to L-BFGS's accuracy
    np.testing.assert_allclose(solved, lbfgs, atol=2e-3 * np.abs(solved - x0).max())


def test_ldsr_auto_jackknife_solves_its_leave_outs(data, monkeypatch):
    """LD score regression's "auto" jackknife is "refit" at any number of blocks (for a prior
    of at most REFIT_NEWTON_MAX_PARAMS parameters): one Newton
    step made its enrichment SEs 0.68 of their spread on 12 loci, and half the solved ones on
    160 blocks, where a few blocks of strong associations carry the variance (docs "Standard
    errors"); the likelihood's stays "pseudo"."""
    st = data["flanked"]
    est = deepwas.ConstantPrior(alpha=0.0, solver="ldsr", random_state=0).fit(st)
    n = len(st)
    with pytest.warns(UserWarning, match="one block per window"):
        auto = est.partitioned_h2(st, n_blocks=40)
        refit = est.partitioned_h2(st, n_blocks=40, jackknife="refit")
        pseudo = est.partitioned_h2(st, n_blocks=40, jackknife="pseudo")
    assert auto.attrs["jackknife"] == "refit" and auto.attrs["n_blocks"] == n
    assert auto.attrs["h2_std_error"] == refit.attrs["h2_std_error"]
    assert abs(pseudo.attrs["h2_std_error"] / refit.attrs["h2_std_error"] - 1) > 0.01
    # and with many blocks (S-LDSC takes 200): 10-kb windows, 60 blocks of them (what the
    # leave-outs would be asked for is recorded, not run: 60 solved leave-outs take 20 s)
    import deepwas.heritability as her

    many = data["stats"](window_bp=10_000, flank_bp=200_000)
    assert len(many) >= 60
    est = deepwas.ConstantPrior(alpha=0.0, solver="ldsr", random_state=0).fit(many)

    class Asked(Exception):
        pass

    def asked(est, stats, labels, n_blocks, method, unit):
        raise Asked(n_blocks, method, unit)

    monkeypatch.setattr(her, "_leave_outs", asked)
    with pytest.raises(Asked) as what:
        est.partitioned_h2(many, n_blocks=60)
    assert what.value.args == (60, "refit", "windows")
    # ... but not for a prior of more parameters than the quasi-Newton path takes (a GLM of
    # baseline-LD's 97 annotations), whose leave-outs would be 60 L-BFGS fits
    import deepwas.jackknife as jk

    with monkeypatch.context() as m, pytest.raises(Asked) as what:
        m.setattr(jk, "REFIT_NEWTON_MAX_PARAMS", 0)
        est.partitioned_h2(many, n_blocks=60)
    assert what.value.args == (60, "pseudo", "windows")
    # the likelihood keeps the one-step pseudo-jackknife (here on blocks of variants)
    with pytest.raises(Asked) as what, pytest.warns(UserWarning, match="blocks"):
        data["est"].partitioned_h2(data["no_flank"])
    assert what.value.args == (200, "pseudo", "variants")


def test_refit_starts_from_the_fit_where_the_newton_step_went_far(data):
    """A Newton step that made the leave-out gradient larger (a step into a barely identified
    direction, as above) is not where "refit" starts: from a step spoiled by hand it reaches
    the same optimum as from the unspoiled one; and steps never raise the loss."""
    from deepwas.jackknife import _curvature, _leave_out_hessians, _solve_leave_out

    st = data["flanked"]
    est = deepwas.ConstantPrior(alpha=0.0, solver="ldsr", random_state=0).fit(st)
    labels, n = jackknife_blocks(len(st), len(st))
    prior, x0, newton, _ = leave_out_priors(est, st, labels, n, "pseudo")
    obj = _Objective(est, st)
    try:
        _, g, H, gk, Hk = _curvature(prior, obj, labels, n, 1e-3, "windows")
        Hbs, flat_Hbs = _leave_out_hessians(H, Hk), _leave_out_hessians(1e-3 * H, 1e-3 * Hk)
        solve = [_solve_leave_out(prior, obj, labels, 1, x0, g - gk[1], start, Hbs[1], None)
                 for start in (newton[1], x0 + 3.0, x0 - 3.0)]
        # a first Hessian far too flat: its full steps would leave for where every f -> 0
        # and the gradient vanishes too (the loss far above its optimum), which the loss
        # check refuses (measured without it: -144 and -138 for blocks 1 and 3)
        flat = [_solve_leave_out(prior, obj, labels, b, x0, g - gk[b], x0, flat_Hbs[b], None)
                for b in (1, 3)]
        good = [_solve_leave_out(prior, obj, labels, b, x0, g - gk[b], newton[b], Hbs[b], None)
                for b in (1, 3)]
    finally:
        obj.close()
    np.testing.assert_allclose(solve[1], solve[0], atol=1e-5)
    # from x0 - 3 (f / 20, where the gradient is small too) no step lowers the gradient's
    # size at first: far above REFIT_GTOL of the block's own, L-BFGS takes over
    np.testing.assert_allclose(solve[2], solve[0], atol=1e-5)
    np.testing.assert_allclose(flat, good, atol=1e-5)
