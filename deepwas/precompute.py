"""Computing window factors ahead of time: in parallel, on any executor, resumably.

:func:`precompute_windows` (``SummaryStats.precompute``, ``deepwas precompute --workers N``)
skips the windows whose factors are already in memory or in the cache folder -- so an
interrupted run picks up where it stopped -- and computes the others, one by one in this
process or in batches on a :class:`concurrent.futures.Executor`: a process pool by default,
or anything with the same interface, e.g. a Dask cluster's ``client.get_executor()``. Each
task carries only the LD of its own windows (a genotype panel's rows, or a file-backed source
that reads its files itself) and writes its factors straight into the shared cache folder
(atomic, group-readable files), so workers on other machines need the folder mounted, not
this process's memory.
"""
from __future__ import annotations

import logging
import math
import os
import time
import uuid
from dataclasses import dataclass

import numpy as np

from .memory_pool import POOL
from .window_store import WindowStore

__all__ = ["precompute_windows", "PrecomputeReport", "check_cache_dir"]

log = logging.getLogger(__name__)


@dataclass
class PrecomputeReport:
    """What :func:`precompute_windows` did.

    Attributes
    ----------
    n_windows : int
        Windows asked for.
    computed, skipped : int
        Windows computed now, and found in memory or on disk already.
    bytes_on_disk : int
        Size of the cache files of these windows (0 without a cache folder).
    seconds : float
    workers : int
    """

    n_windows: int
    computed: int
    skipped: int
    bytes_on_disk: int
    seconds: float
    workers: int

    def line(self):
        per = self.bytes_on_disk / max(self.n_windows, 1)
        return (f"{self.n_windows} windows: {self.computed} computed, {self.skipped} already "
                f"cached; {_fmt(self.bytes_on_disk)} on disk ({_fmt(per)} per window); "
                f"{self.seconds:.1f} s with {self.workers} worker(s)")


def _fmt(n):
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def check_cache_dir(path):
    """Create ``path`` if needed and check that files can be written there (clear error)."""
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{uuid.uuid4().hex}")
        with open(probe, "wb"):
            pass
        os.remove(probe)
    except OSError as exc:
        raise ValueError(f"the cache folder {path} is not writable ({exc.strerror or exc}): "
                         "choose another cache_dir / --cache-dir") from None


def _part_store(store, ws):
    """A store holding only windows ``ws`` (global ids): their LD rows, statistics, keys."""
    rows = np.unique(np.concatenate([store.windows[w][1] for w in ws]))
    local = [(np.searchsorted(rows, store.windows[w][0]),
              np.searchsorted(rows, store.windows[w][1]))
             for w in ws]
    part = WindowStore.__new__(WindowStore)
    part.__setstate__(store.__getstate__())
    part.ld, part.windows = store.ld.subset(rows), local
    part.beta_hat, part.weights = store.beta_hat[rows], store.weights[rows]
    part._keys = {i: store.key(w) for i, w in enumerate(ws)}
    return part


def _compute_batch(part):
    """Worker task: compute and store every window of a part store; returns their keys."""
    done = []
    for i in range(len(part.windows)):
        key = part.key(i)
        if not part.cache.has(key):
            part.cache.save(key, part.compute(i))
        done.append(key)
    return done


def _limit_threads():
    # each worker computes one window at a time: one BLAS thread each, or n_jobs workers on
    # n cores oversubscribe them (measured: 5x slower for two concurrent precomputes)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def precompute_windows(stats, *, n_jobs=1, executor=None, progress=False, batch_size=None):
    """Compute (or find) the factors of every window of ``stats`` (module docstring).

    Parameters
    ----------
    stats : SummaryStats
    n_jobs : int, default 1
        Worker processes when no ``executor`` is given (1: in this process).
    executor : concurrent.futures.Executor, optional
        Where to run the batches (e.g. ``dask.distributed.Client(...).get_executor()``); needs
        a cache folder shared with the workers.
    progress : bool, default False
        A progress bar with the time left.
    batch_size : int, optional
        Windows per task (default: about four tasks per worker, at most 16 windows each).

    Returns
    -------
    PrecomputeReport

    Notes
    -----
    On a Dask cluster (``pip install "deepwas[dask]"``, which installs dask and
    distributed), pass the client's executor; the cache folder must be one the workers can
    write (a shared file system when they run on other machines). Windows already in that
    folder are skipped, so an interrupted run is resumed by running it again::

        from dask.distributed import Client, LocalCluster

        stats = deepwas.SummaryStats.from_plink(bfiles, "gwas.tsv", cache_dir="/shared/cache")
        with LocalCluster(n_workers=8, threads_per_worker=1) as cluster, \\
                Client(cluster) as client:          # or Client("scheduler-address:8786")
            report = precompute_windows(stats, executor=client.get_executor())
        print(report.line())

    One thread per worker: each task computes one window at a time with one BLAS thread
    (a process pool started here limits them itself; Dask's nanny starts its workers with
    ``OMP_NUM_THREADS=1`` by default, so give them ``threads_per_worker=1``).
    Training then reads the factors from the folder (``cache_dir=`` of the same data).
    """
    t0 = time.perf_counter()
    store = stats._data.store
    ws = [int(w) for w in stats._selected]
    cache_dir = store.cache.cache_dir
    if cache_dir:
        check_cache_dir(cache_dir)

    todo = []
    for w in ws:
        key = store.key(w)
        if store.cache.has(key):
            continue
        held = POOL.get(key, "factors")
        if held is not None:
            store.cache.save(key, held)     # computed earlier in this session: keep it on disk
        elif not store.in_memory(w):        # (a precision window's solver needs nothing)
            todo.append(w)
    parallel = executor is not None or n_jobs > 1
    if parallel and todo and not cache_dir:
        raise ValueError("parallel precompute writes the factors into a cache folder that the "
                         "workers share: build the data with cache_dir=... (or "
                         "deepwas.set_config(cache_dir=...))")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(ws), initial=len(ws) - len(todo), desc="precompute windows",
                   unit="window")
    workers = 1
    if not parallel:
        for w in todo:
            store.factors(w)
            if bar is not None:
                bar.update(1)
    elif todo:
        workers = _run_parallel(store, todo, n_jobs, executor, batch_size, bar)
    if bar is not None:
        bar.close()
    store.cache.hits["computed"] += len(todo) if parallel else 0
    size = sum(os.path.getsize(store.cache._path(store.key(w))) for w in ws
               if store.cache.has(store.key(w)))
    report = PrecomputeReport(len(ws), len(todo), len(ws) - len(todo), size,
                              time.perf_counter() - t0, workers)
    log.info("precompute: %s", report.line())
    return report


def _run_parallel(store, todo, n_jobs, executor, batch_size, bar):
    from concurrent.futures import as_completed

    own = executor is None
    if own:
        # loky (joblib's process pool): fresh interpreters like "spawn" (a forked worker would
        # inherit this process's BLAS and torch threads), without needing a __main__ guard in
        # the user's script. A private pool, shut down at the end: joblib's reusable one is
        # shared with scikit-learn's n_jobs and must not be configured from here
        from joblib.externals.loky import ProcessPoolExecutor

        executor = ProcessPoolExecutor(max_workers=n_jobs, initializer=_limit_threads)
    workers = n_jobs if own else max(1, getattr(executor, "_max_workers", 1) or 1)
    size = batch_size or max(1, min(16, math.ceil(len(todo) / (4 * workers))))
    batches = [todo[i:i + size] for i in range(0, len(todo), size)]
    futures = {}
    try:
        for b in batches:
            futures[executor.submit(_compute_batch, _part_store(store, b))] = len(b)
        for fut in as_completed(futures):
            fut.result()                  # a worker's error surfaces here, with its traceback
            if bar is not None:
                bar.update(futures[fut])
    except BaseException:
        for fut in futures:
            fut.cancel()
        raise
    finally:
        if own:
            executor.shutdown(wait=True)
    return workers
