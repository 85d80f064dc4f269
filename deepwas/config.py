"""Package-wide settings, in the manner of :func:`sklearn.set_config`.

========== ===================================================================================
setting    meaning
========== ===================================================================================
n_threads  Threads of the numerical libraries (BLAS, OpenMP and torch's intra-op pool) while
           deepwas works. ``None`` (the default) leaves the libraries' own defaults, which use
           every core of the machine: right for one process alone, but several processes at
           once (parallel jobs, ``n_jobs`` workers, a shared server) then oversubscribe the
           cores and each runs several times slower. Give each process its share, e.g.
           ``n_threads=1`` for as many workers as cores.
========== ===================================================================================

``set_config`` changes a setting for the rest of the session and applies it at once (through
threadpoolctl and :func:`torch.set_num_threads`); ``config_context`` changes it inside a
``with`` block and restores the previous value on exit. The command line takes ``--threads``.
"""
from __future__ import annotations

from contextlib import contextmanager

__all__ = ["get_config", "set_config", "config_context"]

_DEFAULTS = {"n_threads": None}
_config = dict(_DEFAULTS)
_applied = {"limiter": None, "torch_threads": None}


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
    import torch
    from threadpoolctl import threadpool_limits

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


def set_config(n_threads=_UNSET):
    """Change package-wide settings (only the ones given).

    Parameters
    ----------
    n_threads : int or None, optional
        Threads of BLAS, OpenMP and torch while deepwas runs; ``None`` restores the libraries'
        defaults (all cores). Applied at once to the libraries already loaded.

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
