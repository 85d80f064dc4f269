"""deepwas.datasets.load_demo: determinism, the real feature path, the on-disk cache."""
import numpy as np
import pytest

from deepwas.memory_pool import POOL

from deepwas.datasets import load_demo


@pytest.fixture(scope="module")
def demo22(tmp_path_factory):
    cache = tmp_path_factory.mktemp("demo-cache")
    return cache, load_demo(chromosomes=[22], random_state=3, cache_dir=cache)


def test_load_demo_contents(demo22):
    _, d = demo22
    st = d.stats
    assert len(st) == 1 and list(st.groups) == ["22"]
    assert st.n == 300_000 and st.sigma2 == pytest.approx(1 - d.h2)
    assert len(d.f_true) == st.n_variants == len(d.sumstats)
    assert d.h2 == pytest.approx(0.5 * 2608 / 82448)
    assert d.f_true.sum() == pytest.approx(d.h2)
    assert np.all(d.f_true > 0)
    # f_true depends on the tracks (glm truth): log f is not a function of frequency alone
    feats = st.get_features()
    assert feats.func.shape == (st.n_variants, 4, 16) and feats.pred.shape == (st.n_variants, 2)
    resid = np.log(d.f_true) - 0.7 * np.log(st.variants["freq"] * (1 - st.variants["freq"]))
    assert resid.std() > 0.3
    assert abs(np.corrcoef(resid, feats.func.mean(-1)[:, 0])[0, 1]) > 0.01
    # realistic scale: Z / sqrt(N) = beta_hat; per-variant signal f / (sigma2 / N) of order 1-10
    z = d.sumstats["Z"].to_numpy()
    assert np.allclose(z / np.sqrt(d.n), st.variants["beta_hat"])
    assert 0.3 < np.mean(d.f_true) / (st.sigma2 / st.n) < 100


def test_tracks_are_hg38_bigwigs_read_through_liftover(demo22):
    import pyBigWig

    _, d = demo22
    assert len(d.track_paths) == 4
    for p in d.track_paths:
        bw = pyBigWig.open(p)
        assert bw.isBigWig()
        assert bw.chroms() == {"chr22": 50818468}   # hg38 length of chr22
        bw.close()
    # the provider from files (liftover hg19 -> hg38 + bigWig reads) reproduces the features
    v = d.stats.variants.iloc[:200].reset_index(drop=True)
    fresh = d.feature_provider().get(v)
    cached = d.stats.get_features(np.arange(200))
    np.testing.assert_allclose(fresh.func, cached.func, rtol=1e-6)
    np.testing.assert_allclose(fresh.pred, cached.pred, rtol=1e-6)


def test_load_demo_is_deterministic_and_cached(demo22, tmp_path):
    cache, d1 = demo22
    POOL.clear()          # as a new process would: the factors only on disk
    d2 = load_demo(chromosomes=[22], random_state=3, cache_dir=cache)          # from the cache
    d2.stats.window_factors(0)
    assert d2.stats._data.cache.hits["disk"] == 1 and d2.stats._data.cache.hits["computed"] == 0
    d3 = load_demo(chromosomes=[22], random_state=3, cache_dir=tmp_path / "other")  # from scratch
    for d in (d2, d3):
        np.testing.assert_array_equal(d.f_true, d1.f_true)
        np.testing.assert_array_equal(d.stats.variants["beta_hat"], d1.stats.variants["beta_hat"])
        np.testing.assert_array_equal(d.stats.get_features().func, d1.stats.get_features().func)
    w1, w3 = d1.stats.window_factors(0), d3.stats.window_factors(0)
    np.testing.assert_array_equal(w1.z, w3.z)
    other = load_demo(chromosomes=[22], random_state=4, cache_dir=cache, precompute=False)
    assert not np.array_equal(other.f_true, d1.f_true)


def test_load_demo_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="autosomes"):
        load_demo(chromosomes=["X"], cache_dir=tmp_path)
    with pytest.raises(ValueError, match="h2"):
        load_demo(chromosomes=[22], h2=1.5, cache_dir=tmp_path)


def test_demo_enrichment_figure_labels_legends_and_one_range(demo22):
    """Every panel has a y label; the truth and each model's panel have their legend and one
    y range (compared by eye), wide enough for the widest of them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from deepwas.datasets._demo_run import enrichment_figure

    _, d = demo22
    f = d.f_true
    heldout = {("constant", "deepwas"): np.full(len(f), f.mean()),
               ("glm", "deepwas"): f ** 3 / np.mean(f ** 3) * f.mean()}   # a wider range
    fig = enrichment_figure(d.stats, d, f, heldout)
    try:
        axes = fig.axes
        assert len(axes) == 4 + 1 + 2
        assert all(ax.get_ylabel() for ax in axes)
        priors = axes[4:]
        assert all(ax.get_legend() is not None for ax in priors)
        assert len({ax.get_ylim() for ax in priors}) == 1
        widest = np.sqrt(heldout[("glm", "deepwas")] / heldout[("glm", "deepwas")].mean()).max()
        assert priors[0].get_ylim()[1] >= widest
    finally:
        plt.close(fig)
