"""``panel_correction``: pseudo-panels drawn from a genotype panel's own LD and the SIMEX
extrapolation of the prior fitted on them (docs "LD from a reference panel").

Pseudo-panels are checked on the shipped 1000 Genomes genotypes (noise level, unit diagonal,
determinism, slices); the extrapolation, its jackknife and its saving are checked against
fits made here by hand; the bias it removes against a fit with the GWAS sample's own LD."""
import copy
import warnings

import numpy as np
import pytest

import deepwas
from deepwas.datasets import pseudo_chromosome
from deepwas.jackknife import leave_out_priors, plan_blocks, jackknife_cov
from deepwas.pseudo_panel import BlockPseudoPanelLD, BootstrapPanelLD, PseudoPanelLD

import test_reference_panel_blocks as panel_design

N = panel_design.N


@pytest.fixture(scope="module")
def panel():
    """Two 1 Mb regions end to end, every 4th SNP, 200 of the 489 people."""
    people = np.sort(np.random.default_rng(1).choice(489, 200, replace=False))
    return pseudo_chromosome(range(1, 3), step=4, people=people)


@pytest.fixture(scope="module")
def fitted(panel):
    """A GLM fitted with the correction on a strong signal drawn through the panel (marked
    as not in-sample: the statistics are from_ld_source's, not semi_synthetic's)."""
    freq = panel.mean / 2
    annot = (np.random.default_rng(2).random(len(freq)) < 0.3).astype(float)
    shape = (freq * (1 - freq)) ** 0.7 * (1 + 2 * annot)
    stats = panel_design._split_stats(panel, panel, 0.2, 0, shape=shape)
    stats = stats.with_beta_hat(stats.variants["beta_hat"].to_numpy(),
                                features=annot[:, None])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = deepwas.GLMPrior(random_state=0).fit(stats)
    return est, stats


def test_pseudo_panel_ld_scatters_around_the_panel_by_one_over_n(panel):
    """Between the two regions the panel's correlations are noise; a pseudo-panel of n' people
    adds noise of SD 1/sqrt(n') (measured 0.0707 for n' 200) and has a unit diagonal."""
    regions = panel.variants["region"].to_numpy()
    a = np.flatnonzero(regions == regions[0])[:300]
    b = np.flatnonzero(regions != regions[0])[:300]
    R = panel.block(a, b)
    for people in (200, 50):
        pseudo = PseudoPanelLD(panel, people, seed=3)
        d = pseudo.block(a, b) - R
        assert abs(d.std() * np.sqrt(people) - 1) < 0.05
        assert np.allclose(np.diag(pseudo.block(a, a)), 1.0)
    # centred on the panel's LD: the mean of 40 pseudo-panels is 40x less noisy
    mean = np.mean([PseudoPanelLD(panel, 200, seed=s).block(a, b) for s in range(40)], axis=0)
    assert abs((mean - R).std() * np.sqrt(200 * 40) - 1) < 0.1


def test_block_pseudo_panel_of_a_matrix_draws_as_the_genotypes_do(panel):
    """From the panel's LD matrix alone, block by block: the same noise level as the
    genotype route (measured 0.98 against 0.93 / sqrt(n) within a block), unit diagonal,
    centred on the panel's LD, independent blocks, one seed one panel."""
    regions = panel.variants["region"].to_numpy()
    blocks = (regions != regions[0]).astype(int)
    M = len(regions)
    dense = deepwas.ld.DenseLD(panel.block(np.arange(M), np.arange(M)), panel.variants,
                               n_ref=panel.n_ref)
    a = np.flatnonzero(blocks == 0)[:400]
    b = np.flatnonzero(blocks == 1)[:100]
    R = dense.block(a, a)
    iu = np.triu_indices(len(a), 1)
    pseudo = BlockPseudoPanelLD(dense, blocks, 200, seed=5)
    d = (pseudo.block(a, a) - R)[iu]
    assert abs(d.std() * np.sqrt(200) - 1) < 0.1
    assert np.allclose(np.diag(pseudo.block(a, a)), 1.0)
    mean = np.mean([BlockPseudoPanelLD(dense, blocks, 200, seed=s).block(a, a)
                    for s in range(30)], axis=0)
    assert abs((mean - R)[iu].std() * np.sqrt(200 * 30) - 1) < 0.1
    assert np.array_equal(BlockPseudoPanelLD(dense, blocks, 200, seed=5).block(b, a),
                          pseudo.block(b, a))
    assert pseudo.window_key(a[:5], a) != BlockPseudoPanelLD(dense, blocks, 200,
                                                             seed=6).window_key(a[:5], a)
    sub = pseudo.subset(a)
    assert np.array_equal(sub.block(np.arange(20), np.arange(400)), pseudo.block(a[:20], a))


def test_pseudo_panel_is_one_panel_for_every_subset(panel):
    pseudo = PseudoPanelLD(panel, 150, seed=7)
    rows = np.arange(100, 400)
    sub = pseudo.subset(rows)
    assert np.array_equal(sub.block(np.arange(50), np.arange(300)),
                          pseudo.block(rows[:50], rows))
    assert np.array_equal(PseudoPanelLD(panel, 150, seed=7).block(rows, rows),
                          pseudo.block(rows, rows))
    assert not np.allclose(PseudoPanelLD(panel, 150, seed=8).block(rows, rows),
                           pseudo.block(rows, rows))
    assert pseudo.window_key(rows[:5], rows) != panel.window_key(rows[:5], rows)
    U, lam, G = pseudo.eigenbasis(rows[:20], rows, 1e-10)
    R = pseudo.block(rows, rows[:20])
    assert np.allclose(G @ (U * np.sqrt(lam)).T, R, atol=1e-10)


def test_bootstrap_pseudo_panel_keeps_the_noise_of_linked_pairs():
    """200 of the 489 people as the panel, the 489's LD as the truth. Between variants in
    strong LD (|r| > 0.3) a real panel's noise is n x MSE 1.02 (the nested subsample's share
    scaled out); a bootstrap of the panel's people adds most of it (mean of 6 draws, pairs of
    a variant none of whose carriers was drawn, 1-2 % of the variants, left out: measured
    0.86), Gaussian pseudo-people about half (0.53); between the two regions (no LD) both add
    about 1 / n (bootstrap SD x sqrt(n) 0.92: rare variants' carriers cannot be redrawn)."""
    full = pseudo_chromosome(range(1, 3), step=4)
    people = np.sort(np.random.default_rng(1).choice(full.n_ref, 200, replace=False))
    Q = full.people(people)
    n = Q.n_ref
    regions = full.variants["region"].to_numpy()
    a = np.flatnonzero((regions == regions[0]) & ~Q.monomorphic)
    b = np.flatnonzero((regions != regions[0]) & ~Q.monomorphic)
    iu = np.triu_indices(len(a), 1)
    R, Rq = full.block(a, a)[iu], Q.block(a, a)[iu]
    linked = np.abs(R) > 0.3
    real = ((Rq - R)[linked] ** 2).mean() / (1 / n - 1 / full.n_ref)
    boot, gauss, far = [], [], []
    for seed in range(6):
        B = BootstrapPanelLD(Q, n, seed)
        Ba = B.block(a, a)
        # pairs of a variant none of whose carriers was drawn (a zero row) leave the comparison
        kept = np.diag(Ba) > 0.5
        drawn = np.outer(kept, kept)[iu]
        boot.append(n * ((Ba[iu] - Rq)[linked & drawn] ** 2).mean())
        gauss.append(n * ((PseudoPanelLD(Q, n, seed).block(a, a)[iu] - Rq)[linked] ** 2).mean())
        far.append((B.block(a, b) - Q.block(a, b)).std() * np.sqrt(n))
    assert 0.7 < np.mean(boot) / real < 1.5
    assert np.mean(gauss) / real < 0.65
    assert abs(np.mean(far) - 1) < 0.15


def test_bootstrap_pseudo_panel_is_the_ld_of_people_drawn_with_replacement(panel):
    """The correlation over the people drawn (7e-15 here), one draw for every subset of
    variants, a zero row for a variant none of whose carriers was drawn, the noise of
    ``n_people`` people."""
    rows = np.arange(100, 400)
    pseudo = BootstrapPanelLD(panel, 150, seed=3)
    drawn = np.random.default_rng([3, 1979]).integers(0, panel.n_ref, 150)
    x = panel.standardised(rows)[:, drawn]
    varies = x.std(axis=1) > 1e-9
    B = pseudo.block(rows, rows)
    assert np.allclose(B[np.ix_(varies, varies)], np.corrcoef(x[varies]), atol=1e-12)
    assert np.all(B[~varies] == 0) and np.allclose(np.diag(B)[varies], 1.0)
    sub = pseudo.subset(rows)
    assert np.array_equal(sub.block(np.arange(50), np.arange(300)),
                          pseudo.block(rows[:50], rows))
    assert pseudo.panel_size == 150 and pseudo.n_ref == panel.n_ref
    assert pseudo.window_key(rows[:5], rows) != PseudoPanelLD(panel, 150, 3).window_key(
        rows[:5], rows)
    assert not np.allclose(BootstrapPanelLD(panel, 150, seed=4).block(rows, rows), B)


def test_with_pseudo_panel_keeps_windows_and_refuses_matrices(fitted, panel):
    est, stats = fitted
    pseudo = stats.with_pseudo_panel(11)
    assert len(pseudo) == len(stats) and pseudo.ld.panel_size == panel.n_ref
    assert np.array_equal(pseudo.variants["beta_hat"], stats.variants["beta_hat"])
    assert not pseudo.ld_in_sample
    k = len(stats) // 2
    part = stats[k:k + 3].with_pseudo_panel(11)
    core, ext = part.windows[0]
    core0, ext0 = pseudo.windows[k]
    assert np.array_equal(part.ld.block(core, ext), pseudo.ld.block(core0, ext0))
    args = (np.zeros(4), N, ["1"] * 4, [1, 2, 3, 4], np.eye(4))
    with pytest.raises(TypeError, match="unknown size"):
        deepwas.SummaryStats.from_arrays(*args, ld_blocks="none").with_pseudo_panel(0)
    with pytest.raises(TypeError, match="thinned"):
        deepwas.SummaryStats.from_arrays(*args, n_ref=100, ld_blocks="none",
                                         ld_regularisation="mismatch").with_pseudo_panel(0)
    boot = stats.with_pseudo_panel(11, draw="bootstrap")
    assert isinstance(boot.ld, BootstrapPanelLD) and boot.ld.panel_size == panel.n_ref
    assert isinstance(pseudo.ld, PseudoPanelLD)
    with pytest.raises(ValueError, match="draw"):
        stats.with_pseudo_panel(11, draw="normal")
    with pytest.raises(TypeError, match="bootstrap"):
        deepwas.SummaryStats.from_arrays(*args, n_ref=100).with_pseudo_panel(0, draw="bootstrap")


def test_an_ld_matrix_of_known_panel_size_is_corrected_too(fitted):
    """The same data as an LD matrix with n_ref (from_arrays): corrected through block-wise
    Gaussian pseudo-panels (a matrix has no people to draw; the genotypes' correction draws
    them with replacement). The pseudo-panels are other draws, so the two corrections agree
    within the pseudo-panels' scatter, not exactly: h2 0.1851 against 0.1963 (uncorrected
    both 0.1948; the four pseudo-panel fits 0.207-0.218, SD 0.005; over random_state 0-3 the
    corrected h2 ranged 0.178-0.196 through the genotypes and 0.176-0.197 through the
    matrix; with Gaussian pseudo-people from the genotypes 0.167-0.199)."""
    est, stats = fitted
    v = stats.variants
    R = stats.ld.block(np.arange(len(v)), np.arange(len(v)))
    dense = deepwas.SummaryStats.from_arrays(
        v["beta_hat"].to_numpy(), N, v["chrom"], v["pos"], R, freq=v["freq"], snp=v["snp"],
        a1=v["a1"], a2=v["a2"], sigma2=stats.sigma2, n_ref=200,
        ld_blocks=stats._data.ld_blocks, features=stats.get_features().pred)
    assert dense.ld_model.regularisation == "thinned" and len(dense) == len(stats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        e = deepwas.GLMPrior(random_state=0).fit(dense)
    assert e.panel_correction_ == "simex" and e.panel_draw_ == "gaussian"
    assert est.panel_draw_ == "bootstrap"
    assert e.panel_h2_[0] == pytest.approx(est.panel_h2_[0], rel=1e-6)
    # the difference of two 2-panel extrapolations has about the SD of one pseudo-panel fit
    scatter = np.std(np.r_[e.panel_h2_[1:-1], est.panel_h2_[1:-1]], ddof=1)
    assert abs(e.h2(dense) - est.h2(stats)) < 3 * scatter
    assert abs(e.h2(dense) - e.panel_h2_[0]) > 0.002          # it did move h2
    # a matrix has no people to draw: a bootstrap is refused before any fit, not replaced
    with pytest.raises(ValueError, match="holds none"):
        deepwas.GLMPrior(pseudo_panels="bootstrap").fit(dense)


def test_prior_is_the_extrapolation_of_its_fits(fitted):
    """prior_ = 2 theta_panel - mean(theta_pseudo); each pseudo-panel fit is a plain fit on
    stats.with_pseudo_panel(seed, people, draw), the panel's people drawn with replacement
    for a genotype panel (pseudo_panels="auto")."""
    est, stats = fitted
    assert est.panel_correction_ == "simex" and est.panel_fits_.shape[0] == 3
    assert est.panel_draw_ == "bootstrap"
    assert est.panel_signal_ >= 0.5
    fits = est.panel_fits_
    theta = np.concatenate([p.detach().double().reshape(-1).numpy()
                            for p in est.prior_.parameters()])
    assert np.allclose(theta, 2 * fits[0] - fits[1:].mean(0), rtol=0, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        own = deepwas.GLMPrior(random_state=0, panel_correction="none").fit(stats)
        one = deepwas.GLMPrior(random_state=0, panel_correction="none").fit(
            stats.with_pseudo_panel(est.panel_seeds_[0], est.panel_people_, "bootstrap"))
    for row, ref in ((0, own), (1, one)):
        x = np.concatenate([p.detach().double().reshape(-1).numpy()
                            for p in ref.prior_.parameters()])
        assert np.array_equal(fits[row], x)
    assert est.panel_h2_[0] == pytest.approx(own.h2(stats), rel=1e-12)
    assert est.panel_h2_[-1] == pytest.approx(est.h2(stats), rel=1e-12)
    # the jackknife refits on the same pseudo-panels: the same kind, seed and size
    parts = est.panel_components(stats)
    assert [type(data.ld) for _, _, data in parts[1:]] == [BootstrapPanelLD] * 2
    assert [data.ld.seed for _, _, data in parts[1:]] == est.panel_seeds_
    # the noisier pseudo-panels raise h2 at this strong signal (0.218, 0.209 against
    # 0.195). The extrapolated prior's h2 is not their linear extrapolation (0.196 against
    # 0.176: the annotation's weight moved, 0.545 on the panel, 0.112 and 0.413 on the two
    # bootstraps), so only the direction of the pseudo-panels is a rule here
    assert est.panel_h2_[1:3].mean() > est.panel_h2_[0]


def test_jackknife_extrapolates_every_leave_out(fitted):
    """partitioned_h2's SE is the jackknife of the extrapolated leave-one-block-out priors,
    not that of the extrapolated prior taken as a fit on the panel's LD (more than 10 % apart
    here)."""
    est, stats = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tab = est.partitioned_h2(stats)
        labels, n_used, unit = plan_blocks(stats, 200, "pseudo")
        loo = 0.0
        for w, fit, data in est.panel_components(stats):
            prior, _, out, set_params = leave_out_priors(fit, data, labels, n_used, "pseudo",
                                                         unit=unit)
            loo = loo + w * out
        h2 = []
        for x in loo:
            set_params(prior, x)
            h2.append(_h2_of(est, prior, stats))
    full = est.h2(stats)
    se = np.sqrt(jackknife_cov(np.array([full]), np.array(h2)[:, None])[0, 0])
    assert tab.attrs["h2"] == pytest.approx(full, rel=1e-6)       # float32 prior_
    assert tab.attrs["h2_std_error"] == pytest.approx(se, rel=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        naive = deepwas.heritability.partitioned_h2(_without_fits(est), stats)
    assert abs(naive.attrs["h2_std_error"] / se - 1) > 0.1


def test_jackknife_refuses_leave_outs_whose_extrapolation_went_off(fitted):
    """Every leave-one-block-out extrapolation must pass the rule the full fit passed: blocks
    whose extrapolated h2 ran several times their fits' (LD score regression, 150 people,
    h2 0.005: 4 of 12 blocks) made the SE 8-40 times the estimates' spread. Such a jackknife
    gives NaN standard errors with a warning, not that number."""
    from deepwas.estimators._panel_correction import weights

    est, stats = fitted
    est = copy.copy(est)
    seen = []

    def rule(h2_fits, h2):
        seen.append((np.asarray(h2_fits), h2))
        return len(seen) != 2                     # the second block's extrapolation is off

    est.extrapolation_agrees = rule
    with pytest.warns(UserWarning, match="in 1 of [0-9]+ leave-one-block-out"):
        tab = est.partitioned_h2(stats)
    assert np.isnan(tab.attrs["h2_std_error"])
    assert tab.attrs["h2"] == pytest.approx(est.h2(stats), rel=1e-6)
    assert len(seen) == tab.attrs["n_blocks"]
    # the rule reads each block's three fits and that block's extrapolation
    for h2_fits, h2 in seen:
        assert h2_fits.shape == (3,) and h2 == pytest.approx(weights(3) @ h2_fits, rel=0.2)
    est.extrapolation_agrees = lambda h2_fits, h2: True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isfinite(est.partitioned_h2(stats).attrs["h2_std_error"])


def _h2_of(est, prior, stats):
    e = copy.copy(est)
    e.prior_ = prior
    return float(e.predict_f(stats).sum())


def _without_fits(est):
    import copy
    e = copy.copy(est)
    e.panel_fits_ = None
    return e


def test_save_and_load_keep_the_fits(fitted, tmp_path):
    est, stats = fitted
    deepwas.save_model(est, tmp_path / "m")
    back, _ = deepwas.load_model(tmp_path / "m")
    assert back.panel_correction_ == "simex" and back.panel_seeds_ == est.panel_seeds_
    assert back.panel_draw_ == est.panel_draw_ == "bootstrap"
    assert np.array_equal(back.panel_fits_, est.panel_fits_)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a, b = est.partitioned_h2(stats), back.partitioned_h2(stats)
    assert b.attrs["h2_std_error"] == pytest.approx(a.attrs["h2_std_error"], rel=1e-6)


def test_auto_corrects_only_small_genotype_panels(fitted, panel):
    est, stats = fitted
    cases = {
        "semi_synthetic": deepwas.simulate.semi_synthetic(stats, "constant", h2=0.1,
                                                          random_state=0)[0],
        "mismatch": panel_design._split_stats(panel, panel, 0.2, 0,
                                              ld_regularisation="mismatch"),
        "large panel": stats.with_beta_hat(stats.variants["beta_hat"].to_numpy(), n=1500),
    }
    assert cases["semi_synthetic"].ld_in_sample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, data in cases.items():
            e = deepwas.ConstantPrior(random_state=0).fit(data)
            assert e.panel_correction_ == "none" and e.panel_fits_ is None, name
        with pytest.raises(ValueError, match="not linear in its parameters"):
            deepwas.GLMPrior(model_params={"link": "softplus"},
                             panel_correction="simex").fit(stats)
        with pytest.raises(ValueError, match="mismatch"):
            deepwas.ConstantPrior(panel_correction="simex").fit(cases["mismatch"])
    with pytest.raises(ValueError, match="panel_correction must be"):
        deepwas.ConstantPrior(panel_correction="yes").fit(stats)


def test_auto_leaves_weak_signal_per_block_alone(panel):
    """h2 0.001 on two regions of 200 people: N h2_B / n under 0.5, where thinned cores need no
    correction; "simex" still corrects when asked."""
    stats = panel_design._split_stats(panel, panel, 0.001, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = deepwas.ConstantPrior(random_state=0).fit(stats)
        forced = deepwas.ConstantPrior(random_state=0, panel_correction="simex").fit(stats)
    blocks = len(np.unique(stats.window_units))
    assert auto.panel_correction_ == "none" and auto.panel_fits_ is None
    assert auto.panel_signal_ == pytest.approx(N * auto.h2(stats) / (blocks * 200))
    assert auto.panel_signal_ < 0.5
    assert forced.panel_correction_ == "simex" and forced.panel_h2_[0] == pytest.approx(
        auto.h2(stats), rel=1e-10)
    assert forced.panel_signal_ == pytest.approx(auto.panel_signal_)


def test_simex_tracks_the_fit_with_the_gwas_samples_own_ld():
    """The realistic msprime design (4 loci, GWAS LD from 5,000 people, a 200-person panel,
    h2 0.2, f as the prior's frequency term), 3 replicates: the fit with the panel's LD is
    off the fit with the GWAS sample's own LD by +15.7, +7.8 and +4.5 points of h2 (mean 9.3);
    the corrected fit (bootstrap pseudo-panels, the default for genotypes) by +4.7, +2.5 and
    -5.5 (mean 4.2); with Gaussian pseudo-people +4.5, -0.1 and -2.8 (mean 2.5): the two
    draws differ by +0.2, +2.6 and -2.6 points, the pseudo-panels' own scatter."""
    pytest.importorskip("msprime")
    from deepwas.datasets import simulated_loci

    P, Q = simulated_loci(4, n_gwas=5_000, n_ref=200, random_state=3)
    p = Q.mean / 2
    shape = (p * (1 - p)) ** 0.7
    blocks = deepwas.SummaryStats.from_ld_source(Q, panel_design._table(Q), n=N,
                                                 keep_ambiguous=True)._data.ld_blocks
    off = {"none": [], "auto": []}
    for seed in range(3):
        h2 = {}
        for src, corr in ((Q, "none"), (Q, "auto"), (P, "none")):
            st = panel_design._split_stats(P, Q, 0.2, seed, shape=shape, source=src,
                                           ld_blocks=blocks, ld_regularisation="thinned",
                                           ld_core_size=20)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                e = deepwas.ConstantPrior(random_state=0, panel_correction=corr).fit(st)
            h2[src is P, corr] = e.h2(st) / 0.2
        for corr in off:
            off[corr].append(abs(h2[False, corr] - h2[True, "none"]))
    print(off)
    assert np.mean(off["auto"]) < 0.05
    assert np.mean(off["auto"]) < 0.5 * np.mean(off["none"])


def test_pseudo_panels_name_every_layer_of_noise(panel):
    """A pseudo-panel's LD carries its own noise on top of its panel's: LD score regression
    corrects its r^2 for each (``noise_panel_sizes``)."""
    v = panel.variants
    R = panel.block(np.arange(40), np.arange(40))
    assert panel.noise_panel_sizes == (200,)
    assert PseudoPanelLD(panel, 50, seed=1).noise_panel_sizes == (50, 200)
    assert BootstrapPanelLD(panel, 60, seed=1).noise_panel_sizes == (60, 200)
    assert PseudoPanelLD(panel, 50, seed=1).subset(np.arange(9)).noise_panel_sizes == (50, 200)
    dense = deepwas.ld.DenseLD(R, v.iloc[:40], n_ref=150)
    assert dense.noise_panel_sizes == (150,)
    assert deepwas.ld.DenseLD(R, v.iloc[:40]).noise_panel_sizes == ()
    assert BlockPseudoPanelLD(dense, np.zeros(40, int), 30, seed=2).noise_panel_sizes == (30, 150)


def test_ldsr_ld_scores_of_a_pseudo_panel_are_the_panels(fitted):
    """LD score regression on a pseudo-panel of the panel's size: LD scores whose mean is near
    the panel's (12.2 over 1,876 variants of two 1 Mb regions, 200 people; pseudo-panels
    -8.1 % and +1.3 %: a pseudo-panel's total scatters). Corrected for the pseudo-panel's own
    noise only, they were those of the panel's raw r^2: +30 %, which took the SIMEX of LD
    score regression's h2 to +30 % (benchmarks/study_ldsr_enrichment.py, 150 people)."""
    from deepwas.fitting._ldsr import LDSRBlocks

    _, stats = fitted

    def mean_ld_score(st):
        blocks = LDSRBlocks(st)
        try:
            return np.mean(np.concatenate([blocks.get(k)[1].numpy()
                                           for k in range(len(st.windows))]))
        finally:
            blocks.free()

    own = mean_ld_score(stats)
    rel = np.array([mean_ld_score(stats.with_pseudo_panel(seed)) / own - 1 for seed in (0, 1)])
    print("pseudo-panels' mean LD score against the panel's:", rel)
    assert np.all(np.abs(rel) < 0.15) and abs(rel.mean()) < 0.1


def test_ldsr_auto_corrects_panels_of_150_to_299_people(fitted, monkeypatch):
    """``solver="ldsr"``: "auto" corrects a panel of 200 people at strong signal (docs: LD
    score regression's enrichment from -8.8 % to -0.5 % with 150 people at h2 0.2, at an
    enrichment RMSE 11 % larger), as "simex" does: two pseudo-panels and the extrapolation;
    not a panel of ``LDSR_MAX_PANEL`` people or more (with 500 the correction only adds
    spread) nor under ``LDSR_MIN_PANEL`` (with 100 it over-corrects h2); "none" leaves it
    alone."""
    from deepwas.estimators import _panel_correction as pc

    _, stats = fitted
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auto = deepwas.GLMPrior(random_state=0, solver="ldsr").fit(stats)
        simex = deepwas.GLMPrior(random_state=0, solver="ldsr",
                                 panel_correction="simex").fit(stats)
        plain = deepwas.GLMPrior(random_state=0, solver="ldsr",
                                 panel_correction="none").fit(stats)
    assert plain.panel_correction_ == "none" and plain.panel_fits_ is None
    assert auto.panel_correction_ == "simex" and auto.panel_fits_.shape[0] == 3
    assert auto.panel_signal_ >= pc.LDSR_MIN_BLOCK_SIGNAL
    np.testing.assert_array_equal(auto.panel_fits_, simex.panel_fits_)
    # measured with Gaussian pseudo-panels only: "auto" keeps them for LD score regression
    assert auto.panel_draw_ == "gaussian"
    assert auto.panel_h2_[0] == pytest.approx(plain.h2(stats), rel=1e-6)
    # the pseudo-panels' h2 sit near the panel's (+-15 %), not a quarter below it
    assert np.all(np.abs(auto.panel_h2_[1:3] / auto.panel_h2_[0] - 1) < 0.15)
    # the panel's 200 people against the bounds: corrected from the lower on, under the upper
    for name, bound, method in (("LDSR_MAX_PANEL", 201, "simex"), ("LDSR_MAX_PANEL", 200, "none"),
                                ("LDSR_MIN_PANEL", 200, "simex"), ("LDSR_MIN_PANEL", 201, "none")):
        with monkeypatch.context() as m:
            m.setattr(pc, name, bound)
            est = deepwas.GLMPrior(solver="ldsr")
            assert pc.resolve_panel_correction(est, stats)[0] == method, (name, bound)
    assert pc.resolve_panel_correction(deepwas.GLMPrior(), stats)[0] == "simex"


def test_ldsr_auto_needs_a_stronger_signal_than_the_likelihood(panel):
    """A signal per LD block of 0.56 (h2 0.003 on two regions of 200 people): the likelihood's
    "auto" corrects (0.5 or more), LD score regression's does not (1 or more: at 0.56 a third
    of its jackknife's leave-one-block-out extrapolations ran off, docs)."""
    stats = panel_design._split_stats(panel, panel, 0.003, 0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ldsr = deepwas.ConstantPrior(random_state=0, solver="ldsr").fit(stats)
        likelihood = deepwas.ConstantPrior(random_state=0).fit(stats)
    assert 0.5 <= ldsr.panel_signal_ < 1.0
    assert ldsr.panel_correction_ == "none" and ldsr.panel_fits_ is None
    assert likelihood.panel_correction_ == "simex"


def test_ldsr_correction_reads_any_windows_but_not_in_sample_ld(fitted, panel):
    """LD score regression reads the panel's r^2, whatever regularises the likelihood: its
    correction runs on fixed windows (the "mismatch" model there) as on thinned cores, and is
    refused where ``ld_regularisation="none"`` declares the LD the sample's own."""
    _, stats = fitted
    bh = stats.variants["beta_hat"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = panel_design._split_stats(panel, panel, 0.2, 0, ld_blocks="none")
        assert fixed.ld_model.regularisation == "mismatch"
        est = deepwas.ConstantPrior(random_state=0, solver="ldsr",
                                    panel_correction="simex").fit(fixed.with_beta_hat(bh))
        assert est.panel_correction_ == "simex" and est.panel_fits_.shape[0] == 3
        exact = panel_design._split_stats(panel, panel, 0.2, 0, ld_regularisation="none")
        with pytest.raises(ValueError, match="sample's own"):
            deepwas.ConstantPrior(solver="ldsr", panel_correction="simex").fit(exact)


def test_an_extrapolation_from_a_fit_at_a_bound_is_refused(fitted, monkeypatch):
    """A fit whose coefficient ran to a bound sends the parameter extrapolation far off (LD
    score regression, 0.2-0.5 % of its fits: h2 of 1e145 for fits of 0.2): the prior's
    extrapolated h2 must stay within a factor 2 of the fits' h2 extrapolated, else the fit on
    the panel's LD is kept, with a warning."""
    from deepwas.estimators import _panel_correction as pc

    assert pc.extrapolation_agrees([0.20, 0.21, 0.22], 0.19)
    assert not pc.extrapolation_agrees([0.20, 0.21, 0.22], 1e145)
    assert not pc.extrapolation_agrees([0.02, 0.05, 0.06], 0.01)   # linear h2 below 0
    _, stats = fitted
    monkeypatch.setattr(pc, "extrapolation_agrees", lambda fits, h2: False)
    with pytest.warns(UserWarning, match="panel correction not applied"):
        est = deepwas.ConstantPrior(random_state=0, panel_correction="simex").fit(stats)
    assert est.panel_correction_ == "none" and est.panel_fits_ is None
    assert len(est.panel_h2_) == 3 and est.panel_h2_[0] == pytest.approx(est.h2(stats))
