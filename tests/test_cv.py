"""Hold-outs within chromosomes: regions (``deepwas fit --test-region``) and contiguous blocks of
windows as cross-validation groups."""
import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

import deepwas
from deepwas.cv import block_groups, flank_overlap, parse_region, region_mask


@pytest.fixture(scope="module")
def stats():
    # chromosome 1: 10 windows of 1 kb (10 variants each), chromosome 2: 4 windows; flank 250 bp
    chrom = np.array(["1"] * 100 + ["2"] * 40)
    pos = np.concatenate([np.arange(100) * 100 + 1, np.arange(40) * 100 + 1])
    return deepwas.SummaryStats.from_arrays(np.zeros(140), 1000, chrom, pos, np.eye(140),
                                            window_bp=1000, flank_bp=250)


def test_parse_region():
    assert parse_region("22:30000000-40000000") == ("22", 30_000_000, 40_000_000)
    assert parse_region(" chr22:30,000,000 - 40,000,000 ") == ("22", 30_000_000, 40_000_000)
    for bad in ("22", "22:40-30", "22:1e6-2e6"):
        with pytest.raises(ValueError, match="22"):
            parse_region(bad)


def test_region_mask_holds_whole_cores(stats):
    assert len(stats) == 14
    mask = region_mask(stats, "1:2001-5000")           # cores 2001-2901, 3001-3901, 4001-4901
    np.testing.assert_array_equal(np.flatnonzero(mask), [2, 3, 4])
    both = region_mask(stats, ["1:2001-5000", "chr2:1-1000"])
    np.testing.assert_array_equal(np.flatnonzero(both), [2, 3, 4, 10])
    assert not region_mask(stats, "1:2001-4900")[4]    # a core that sticks out is not held out
    with pytest.raises(ValueError, match=r"no window's core lies within 1:2050-2900 \(the cores "
                                         r"of its 10 windows span 0.00-0.01 Mb\)"):
        region_mask(stats, "1:2050-2900")
    with pytest.raises(ValueError, match="no window is on chromosome 7"):
        region_mask(stats, "7:1-100000")


def test_flank_overlap_marks_the_neighbours(stats):
    mask = region_mask(stats, "1:2001-5000")
    # flank 250 bp: windows 1 and 5 reach 250 bp into the held-out cores; chromosome 2 never
    np.testing.assert_array_equal(np.flatnonzero(flank_overlap(stats, mask)), [1, 5])
    assert not flank_overlap(stats, np.asarray(stats.groups) == "2").any()


def test_block_groups_contiguous_balanced_within_chromosomes(stats):
    for n_blocks in (2, 5, 7, 14):
        g = block_groups(stats, n_blocks)
        assert g.shape == (14,) and sorted(set(g)) == list(range(n_blocks))
        assert np.all(np.diff(g) >= 0)                  # contiguous, in genome order
        for b in range(n_blocks):                       # one chromosome per block
            assert len(set(np.asarray(stats.groups)[g == b])) == 1
        sizes = np.bincount(g)
        assert n_blocks == 2 or sizes.max() - sizes.min() <= 2
    np.testing.assert_array_equal(block_groups(stats, 2), [0] * 10 + [1] * 4)
    np.testing.assert_array_equal(block_groups(stats, 5), [0] * 4 + [1] * 3 + [2] * 3 + [3] * 2
                                  + [4] * 2)
    for bad in (1, 15):
        with pytest.raises(ValueError, match="n_blocks must lie between"):
            block_groups(stats, bad)


def test_block_groups_with_group_kfold(stats):
    groups = block_groups(stats, 7)
    seen = []
    for train, test in GroupKFold(n_splits=7).split(np.zeros(len(stats)), groups=groups):
        assert not set(groups[train]) & set(groups[test])
        assert len(stats[test]) == len(test)
        seen += list(test)
    assert sorted(seen) == list(range(14))
