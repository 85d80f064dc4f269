"""Precompute on a Dask cluster: ``precompute_windows(stats, executor=client.get_executor())``.

Needs the optional extra ``pip install "deepwas[dask]"`` (dask + distributed); skipped
without it.
"""
import numpy as np
import pytest

import deepwas
from deepwas.memory_pool import POOL

from conftest import chr22_small_windows

distributed = pytest.importorskip("distributed")


@pytest.fixture
def chr22_windows(geno22):
    """Windows of real chr22 LD (100 kb cores, 100 kb flanks)."""
    return chr22_small_windows(geno22, seed=7)


def test_dask_local_cluster_precompute_equals_serial(chr22_windows, tmp_path):
    from deepwas.precompute import precompute_windows

    stats, f = chr22_windows
    POOL.clear()
    serial = np.array(deepwas.marginal_loglik(stats, f, per_window=True))
    POOL.clear()
    stats._data.store.cache.cache_dir = str(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        rep = precompute_windows(stats, executor=client.get_executor(), batch_size=3)
    assert (rep.n_windows, rep.computed, rep.skipped) == (len(stats), len(stats), 0)
    assert len(list(tmp_path.glob("*.npz"))) == len(stats)
    assert rep.bytes_on_disk == sum(p.stat().st_size for p in tmp_path.glob("*.npz"))
    hits = dict(stats._data.cache.hits)
    dask = np.array(deepwas.marginal_loglik(stats, f, per_window=True))
    # every window read from the files the Dask workers wrote, none computed here
    assert stats._data.cache.hits["disk"] - hits["disk"] == len(stats)
    assert stats._data.cache.hits["computed"] == hits["computed"]
    # recomputed or computed in another process (one BLAS thread there): the eigensolver
    # may round differently in the last digits
    np.testing.assert_allclose(dask, serial, rtol=1e-12, atol=0)
    # a rerun finds everything on disk and submits nothing
    rep = precompute_windows(stats, executor=_Refuse())
    assert (rep.computed, rep.skipped) == (0, len(stats))


class _Refuse:
    def submit(self, *args, **kwargs):       # pragma: no cover - must not be called
        raise AssertionError("nothing left to compute: no task may be submitted")
