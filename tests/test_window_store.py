"""The window store under a memory budget, float32 factor storage, and parallel precompute."""
import os

import numpy as np
import pytest

import deepwas
from deepwas.memory_pool import POOL

from conftest import chr22_small_windows, simulated_stats


@pytest.fixture
def many_windows(geno22):
    """Windows of real chr22 LD (100 kb cores, 100 kb flanks)."""
    return chr22_small_windows(geno22, seed=5)


def _window_bytes(stats):
    return [stats.window_factors(k).nbytes for k in range(len(stats))]


def test_budget_bounds_memory_and_answers_stay_exact(many_windows):
    stats, f = many_windows
    POOL.clear()
    full = np.array(deepwas.marginal_loglik(stats, f, per_window=True))
    sizes = _window_bytes(stats)
    assert len(stats) >= 10
    budget = 3 * max(sizes)
    POOL.clear()
    with deepwas.config_context(factor_memory=budget):
        POOL.peak, before = 0, POOL.evictions
        for _ in range(2):                 # the second pass recomputes evicted windows
            bounded = np.array(deepwas.marginal_loglik(stats, f, per_window=True))
            assert POOL.total <= budget
        assert POOL.peak <= budget and POOL.evictions > before
    # recomputed or computed in another process (one BLAS thread there): the eigensolver
    # may round differently in the last digits
    np.testing.assert_allclose(bounded, full, rtol=1e-12, atol=0)


def test_only_a_recompute_is_called_one(many_windows, caplog):
    """The note that dropped factors are recomputed comes once, on the pass that recomputes
    them, and not on a new data set's first pass after evictions elsewhere (each of the
    panel correction's pseudo-panels is a new data set: a study printed it 46 times)."""
    import logging

    stats, f = many_windows
    POOL.clear()
    budget = 3 * max(_window_bytes(stats))
    POOL.clear()

    def notes(data, passes):
        caplog.clear()
        with deepwas.config_context(factor_memory=budget, cache_dir=None), \
                caplog.at_level(logging.INFO, logger="deepwas"):
            for _ in range(passes):
                deepwas.marginal_loglik(data, f)
        return [r for r in caplog.records if "are recomputed" in r.getMessage()]

    bh = stats.variants["beta_hat"].to_numpy()
    first, second = stats.with_beta_hat(bh * 1.01), stats.with_beta_hat(bh * 1.02)
    before = POOL.evictions
    assert notes(first, 1) == [] and POOL.evictions > before   # evictions, no recompute
    assert notes(second, 1) == []                  # a new data set's first pass after them
    assert len(notes(second, 1)) == 1              # its recomputes
    assert notes(second, 1) == []                  # said once


def test_budget_smaller_than_one_window_names_it(many_windows):
    stats, _ = many_windows
    POOL.clear()
    with deepwas.config_context(factor_memory=1000):
        with pytest.raises(ValueError, match=r"window 22:\d+-\d+ \(\d+ core, \d+ extended "
                                             r"variants\) needs .* more than factor_memory"):
            stats.window_factors(0)
    assert len(POOL) == 0


def test_factor_memory_setting_is_checked():
    with pytest.raises(ValueError, match="cannot read 'lots'"):
        deepwas.set_config(factor_memory="lots")
    assert deepwas.config.parse_bytes("1.5 GiB") == int(1.5 * 2**30)
    assert deepwas.config.parse_bytes("512MB") == 512_000_000
    with pytest.raises(ValueError, match='"float64" or "float32"'):
        deepwas.set_config(factor_storage="float16")


def test_unwritable_cache_dir_fails_before_any_work(many_windows, tmp_path, monkeypatch):
    from deepwas.precompute import precompute_windows

    stats, _ = many_windows
    target = tmp_path / "file-not-folder"
    target.write_text("x")
    stats._data.store.cache.cache_dir = str(target)
    computed = []
    monkeypatch.setattr(type(stats._data.store), "compute",
                        lambda self, w: computed.append(w))
    with pytest.raises(ValueError, match="is not writable"):
        precompute_windows(stats, n_jobs=2)
    assert computed == []


def test_float32_storage_is_close_to_float64_and_cached_apart(geno22, tmp_path):
    rng = np.random.default_rng(8)
    sel = np.arange(0, 2608, 3)
    f = rng.exponential(0.03 / len(sel), size=len(sel))
    args = (geno22, sel, f, 0.97, 100_000, np.random.default_rng(1))
    POOL.clear()
    a = simulated_stats(*args, window_bp=300_000, flank_bp=300_000, cache_dir=tmp_path)
    with deepwas.config_context(factor_storage="float32"):
        b = simulated_stats(*args[:-1], np.random.default_rng(1), window_bp=300_000,
                            flank_bp=300_000, cache_dir=tmp_path)
    assert b.window_factors(0).G.dtype == np.float32 and a.window_factors(0).G.dtype == np.float64
    assert a.window_key(0) != b.window_key(0)
    la = np.array(deepwas.marginal_loglik(a, f, per_window=True, relative_to_null=True))
    lb = np.array(deepwas.marginal_loglik(b, f, per_window=True, relative_to_null=True))
    # float32 G: relative error ~1e-7 in each entry; the gain moves by micro-nats
    assert np.all(la != lb) and np.max(np.abs(la - lb)) < 1e-4
    POOL.clear()
    assert b.window_factors(0).G.dtype == np.float32    # read back from disk as stored
    assert len(os.listdir(tmp_path)) == 2 * len(a)


def test_parallel_precompute_equals_serial_and_resumes(many_windows, tmp_path):
    from deepwas.precompute import precompute_windows

    stats, f = many_windows
    POOL.clear()
    serial = np.array(deepwas.marginal_loglik(stats, f, per_window=True))
    POOL.clear()
    stats._data.store.cache.cache_dir = str(tmp_path)
    rep = precompute_windows(stats, n_jobs=2, batch_size=3)
    assert (rep.computed, rep.skipped, rep.workers) == (len(stats), 0, 2)
    assert rep.bytes_on_disk == sum(p.stat().st_size for p in tmp_path.glob("*.npz"))
    # an interrupted run: lose some files, the rerun computes exactly those
    lost = sorted(tmp_path.glob("*.npz"))[:4]
    for p in lost:
        p.unlink()
    rep = precompute_windows(stats, n_jobs=2)
    assert (rep.computed, rep.skipped) == (4, len(stats) - 4)
    hits = dict(stats._data.cache.hits)
    parallel = np.array(deepwas.marginal_loglik(stats, f, per_window=True))
    assert stats._data.cache.hits["disk"] - hits["disk"] == len(stats)
    # recomputed or computed in another process (one BLAS thread there): the eigensolver
    # may round differently in the last digits
    np.testing.assert_allclose(parallel, serial, rtol=1e-12, atol=0)


def test_likelihood_pass_prefetches_the_next_window(many_windows, monkeypatch):
    stats, f = many_windows
    asked = []
    monkeypatch.setattr(stats, "prefetch", asked.append)
    deepwas.marginal_loglik(stats, f)
    assert asked == list(range(1, len(stats)))


@pytest.mark.parametrize("optimizer", ["adamw", "lbfgs"])
def test_training_under_a_budget_equals_unbounded_and_prefetches(many_windows, optimizer):
    stats, _ = many_windows
    import threading

    # one initialisation window: every prefetch then comes from the training loop
    est = deepwas.ConstantPrior(optimizer=optimizer, max_epochs=2, max_iter=3, accumulate=4,
                                init_windows=1, random_state=0)
    POOL.clear()
    free = est.fit(stats).predict_f(stats)
    budget = 3 * max(_window_bytes(stats))
    POOL.clear()
    store = stats._data.store
    loaded = []
    original = store._load_or_compute
    store._load_or_compute = lambda w, key: (
        loaded.append(threading.current_thread().name) or original(w, key))
    asked = []
    stats.prefetch = lambda k: asked.append(k) or type(stats).prefetch(stats, k)
    try:
        with deepwas.config_context(factor_memory=budget):
            POOL.peak = 0
            bounded = est.fit(stats).predict_f(stats)
            assert POOL.peak <= budget
    finally:
        del store._load_or_compute, stats.prefetch
    # recomputed or computed in another process (one BLAS thread there): the eigensolver
    # may round differently in the last digits
    np.testing.assert_allclose(bounded, free, rtol=1e-12, atol=0)
    # evicted windows came back, most through the prefetch thread
    assert len(loaded) > len(stats)
    assert sum(name.startswith("deepwas-prefetch") for name in loaded) > len(loaded) / 2
    assert len(asked) >= 2 * (len(stats) - 1)


def test_precompute_task_carries_only_its_windows_ld(many_windows):
    # a task for a worker process must not pickle the data set's whole in-memory LD matrix
    import pickle

    from deepwas.precompute import _part_store

    stats, _ = many_windows
    store = stats._data.store
    whole = len(pickle.dumps(store.ld))
    part = _part_store(store, [0])
    shipped = pickle.loads(pickle.dumps(part))
    assert len(pickle.dumps(part)) < whole / 5
    POOL.clear()
    wf = store.compute(0)
    again = shipped.compute(0)
    assert shipped.key(0) == store.key(0)
    np.testing.assert_array_equal(again.G, wf.G)
    np.testing.assert_array_equal(again.y, wf.y)


def test_a_smaller_factor_memory_trims_the_pool_at_once():
    # config sits below the pool: the pool registers its trim with config
    # (on_factor_memory_change), so a new budget evicts without another insertion
    POOL.clear()
    try:
        for k in range(4):
            POOL.put(("trim-test", k), "x", np.zeros(1000))       # 8000 bytes each
        assert POOL.total == 4 * 8000
        with deepwas.config_context(factor_memory=20_000):
            assert POOL.total <= 20_000 and len(POOL) == 2
            assert POOL.get(("trim-test", 3), "x") is not None     # the newest stay
    finally:
        POOL.clear()
