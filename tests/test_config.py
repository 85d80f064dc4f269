"""deepwas.set_config / config_context: threads of BLAS, OpenMP and torch."""
import pytest
import torch
from threadpoolctl import threadpool_info

import deepwas
from deepwas.config import config_context, get_config, set_config


def _threads():
    return {d["user_api"]: d["num_threads"] for d in threadpool_info()}, torch.get_num_threads()


def test_config_context_limits_and_restores_threads():
    before = _threads()
    assert get_config()["n_threads"] is None
    with config_context(n_threads=1) as cfg:
        assert cfg["n_threads"] == 1 and get_config()["n_threads"] == 1
        pools, torch_threads = _threads()
        assert set(pools.values()) == {1} and torch_threads == 1
        with deepwas.config_context(n_threads=2):
            assert _threads()[1] == 2
        assert _threads()[1] == 1
    assert get_config()["n_threads"] is None and _threads() == before


def test_set_config_only_changes_what_is_given():
    before = _threads()
    try:
        set_config(n_threads=1)
        set_config()                          # nothing given: nothing changes
        assert get_config()["n_threads"] == 1 and _threads()[1] == 1
    finally:
        set_config(n_threads=None)
    assert _threads() == before
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises((ValueError, TypeError)):
            set_config(n_threads=bad)
    assert get_config()["n_threads"] is None
