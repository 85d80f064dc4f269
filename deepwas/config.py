"""Package-wide settings, in the manner of :func:`sklearn.set_config`.

============== ===============================================================================
setting        meaning
============== ===============================================================================
n_threads      Threads of the numerical libraries (BLAS, OpenMP and torch's intra-op pool)
               while deepwas works. ``None`` (the default) leaves the libraries' own defaults,
               which use every core of the machine: right for one process alone, but several
               processes at once (parallel jobs, ``n_jobs`` workers, a shared server) then
               oversubscribe the cores and each runs several times slower. Give each process
               its share, e.g. ``n_threads=1`` for as many workers as cores.
factor_memory  Bytes of window factors (and their torch copies, and LDSR blocks) kept in
               memory, over all data sets; beyond it the least recently used windows are
               dropped and read back from the disk cache (or recomputed without one). An int,
               a string such as ``"4GB"``, or ``"auto"`` (the default): a quarter of the
               machine's memory.
cache_dir      Disk cache of window factors used by data sets built without ``cache_dir``
               (default ``None``: no disk cache unless a data set names one).
factor_storage ``"float64"`` (the default) or ``"float32"``: precision in which the large
               factor matrix G of each window is kept in memory and on disk, for data sets
               built afterwards. float32 halves the factors' memory and disk; the likelihood
               then differs from float64 factors by at most 2.5e-10 relative per window (5e-7
               nats of the gain over the null; the 22 demo windows of real 1000 Genomes LD,
               true f); computation stays in the estimator's dtype.
============== ===============================================================================

``set_config`` changes a setting for the rest of the session and applies it at once (through
threadpoolctl and :func:`torch.set_num_threads`); ``config_context`` changes it inside a
``with`` block and restores the previous value on exit. The command line takes ``--threads``.
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits

__all__ = ["get_config", "set_config", "config_context", "parse_bytes", "factor_memory_bytes"]

_DEFAULTS = {"n_threads": None, "factor_memory": "auto", "cache_dir": None,
             "factor_storage": "float64"}
_config = dict(_DEFAULTS)
_applied = {"limiter": None, "torch_threads": None}
#: called with no argument after ``factor_memory`` changes: the factor pool
#: (:mod:`deepwas.memory_pool`, a layer above this one) registers its ``trim`` here, so a new
#: budget takes effect at once without this module importing the pool
_FACTOR_MEMORY_LISTENERS = []


def on_factor_memory_change(listener):
    """Call ``listener()`` whenever :func:`set_config` changes ``factor_memory``."""
    _FACTOR_MEMORY_LISTENERS.append(listener)
    return listener


def get_config():
    """The current settings.

    Returns
    -------
    dict
        A copy: changing it changes nothing; use :func:`set_config`.
    """
    return dict(_config)


def _check_n_threads(n_threads):
    if n_threads is None:
        return None
    if isinstance(n_threads, bool) or int(n_threads) != n_threads or n_threads < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    return int(n_threads)


def _apply_threads(n_threads):
    """Limit BLAS/OpenMP pools and torch's intra-op threads to ``n_threads`` (None: undo)."""
    if _applied["limiter"] is not None:
        _applied["limiter"].restore_original_limits()
        _applied["limiter"] = None
    if _applied["torch_threads"] is not None:
        torch.set_num_threads(_applied["torch_threads"])
        _applied["torch_threads"] = None
    if n_threads is not None:
        # torch's intra-op pool is OpenMP: read its size before threadpoolctl lowers it
        _applied["torch_threads"] = torch.get_num_threads()
        _applied["limiter"] = threadpool_limits(limits=n_threads)
        torch.set_num_threads(n_threads)


_UNSET = object()
_UNITS = {"": 1, "B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12, "KIB": 2**10,
          "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}


def parse_bytes(value):
    """Bytes from an int or a string such as ``"512MB"`` or ``"4 GiB"``."""
    if isinstance(value, str):
        m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)([KMGT]I?B|B?)", value.strip().upper()
                         .replace(" ", ""))
        if not m:
            raise ValueError(f"cannot read {value!r} as a number of bytes (e.g. 4GB, 512MB)")
        value = float(m.group(1)) * _UNITS[m.group(2)]
    if isinstance(value, bool) or not value > 0:
        raise ValueError(f"a memory size must be positive, got {value!r}")
    return int(value)


def machine_memory():
    """Physical memory of this machine in bytes (None when it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def factor_memory_bytes():
    """The ``factor_memory`` setting in bytes ("auto": a quarter of the machine, or 4 GB)."""
    value = _config["factor_memory"]
    if value == "auto":
        total = machine_memory()
        return total // 4 if total else 4 * 10**9
    return parse_bytes(value)


def set_config(n_threads=_UNSET, factor_memory=_UNSET, cache_dir=_UNSET,
               factor_storage=_UNSET):
    """Change package-wide settings (only the ones given).

    Parameters
    ----------
    n_threads : int or None, optional
        Threads of BLAS, OpenMP and torch while deepwas runs; ``None`` restores the libraries'
        defaults (all cores). Applied at once to the libraries already loaded.
    factor_memory : int, str or "auto", optional
        Memory budget of window factors (module docstring); applied at once (windows beyond
        it are dropped from memory).
    cache_dir : path or None, optional
        Default disk cache of window factors.
    factor_storage : {"float64", "float32"}, optional
        Storage precision of window factors for data sets built afterwards.

    Examples
    --------
    >>> import deepwas
    >>> deepwas.set_config(n_threads=1)      # one thread per process, e.g. beside other jobs
    >>> deepwas.get_config()["n_threads"]
    1
    >>> deepwas.set_config(n_threads=None)   # back to the libraries' defaults
    """
    if n_threads is not _UNSET:
        n_threads = _check_n_threads(n_threads)
        _apply_threads(n_threads)
        _config["n_threads"] = n_threads
    if factor_memory is not _UNSET:
        if factor_memory != "auto":
            parse_bytes(factor_memory)
        _config["factor_memory"] = factor_memory
        for listener in _FACTOR_MEMORY_LISTENERS:
            listener()
    if cache_dir is not _UNSET:
        _config["cache_dir"] = None if cache_dir is None else os.fspath(cache_dir)
    if factor_storage is not _UNSET:
        if factor_storage not in ("float64", "float32"):
            raise ValueError(f'factor_storage must be "float64" or "float32", got '
                             f'{factor_storage!r}')
        _config["factor_storage"] = factor_storage


@contextmanager
def config_context(**settings):
    """Settings changed inside a ``with`` block only.

    Parameters
    ----------
    **settings
        As for :func:`set_config`.

    Examples
    --------
    >>> import deepwas
    >>> with deepwas.config_context(n_threads=2):
    ...     deepwas.get_config()["n_threads"]
    2
    """
    old = get_config()
    set_config(**settings)
    try:
        yield get_config()
    finally:
        set_config(**old)
