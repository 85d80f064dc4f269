"""LD blocks (deepwas.ld_blocks): the cut programme against brute force, BED reading, windows from
blocks, detection of the unlinked region edges of the shipped panel, and the settings."""
import gzip
import itertools
import logging

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.datasets import pseudo_chromosome
from deepwas.ld_blocks import (choose_cuts, cross_ld_profile, detect_ld_blocks, read_ld_blocks,
                               windows_from_blocks)


def _brute_force(cost, pos, min_bp, max_bp):
    """Least-cost cut set by enumeration, with choose_cuts' rules: every block spans at most
    max_bp; blocks spanning less than min_bp only when nothing else is possible, then as few
    as possible, the last block of a chromosome as any other."""
    M = len(pos)
    best = None
    for k in range(M):
        for cuts in itertools.combinations(range(M - 1), k):
            edges = [0] + [c + 1 for c in cuts] + [M]
            spans = [pos[b - 1] - pos[a] for a, b in zip(edges[:-1], edges[1:])]
            if max(spans) > max_bp:
                continue
            short = sum(s < min_bp for s in spans)
            key = (short, sum(cost[c] for c in cuts))
            if best is None or key < best[0]:
                best = (key, list(cuts))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_cut_programme_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    M = int(rng.integers(2, 11))
    pos = np.cumsum(rng.integers(1, 60, M)) * 1000
    cost = rng.normal(0, 1, M - 1)
    min_bp, max_bp = int(rng.integers(20, 120)) * 1000, int(rng.integers(120, 300)) * 1000
    cuts = choose_cuts(cost, pos, min_bp, max_bp)
    (short, value), _ = _brute_force(cost, pos, min_bp, max_bp)
    edges = np.r_[0, cuts + 1, M]
    spans = [pos[b - 1] - pos[a] for a, b in zip(edges[:-1], edges[1:])]
    assert max(spans) <= max_bp
    assert sum(s < min_bp for s in spans) == short
    assert cost[cuts].sum() == pytest.approx(value, abs=1e-12)


def test_no_short_block_at_a_chromosome_end():
    """The cross-LD of the last gaps is low only because one side holds few variants: a
    rewarded cut there must not leave the last variant in a block of its own."""
    pos = np.arange(30) * 10_000
    cost = np.ones(29)
    cost[-1] = cost[0] = -5.0                  # both end gaps look like the best cuts
    cuts = choose_cuts(cost, pos, 50_000, 200_000)
    edges = np.r_[0, cuts + 1, 30]
    spans = pos[edges[1:] - 1] - pos[edges[:-1]]
    assert spans.min() >= 50_000 and spans.max() <= 200_000
    assert 0 not in cuts and 28 not in cuts


def test_cross_ld_profile_is_the_sum_over_pairs_across_each_gap(geno22):
    X, v, R = geno22
    rows = np.arange(0, 400, 2)
    pos = v["pos"].to_numpy()[rows]
    n = X.shape[1]
    ld = deepwas.ld.DenseLD(R)
    got = cross_ld_profile(ld, rows, pos, n, band_bp=20_000, chunk=37)
    r2 = R[np.ix_(rows, rows)] ** 2
    r2 = r2 - (1 - r2) / (n - 2)
    want = [sum(r2[a, b] for a in range(g + 1) for b in range(g + 1, len(rows))
                if pos[b] - pos[a] <= 20_000) for g in range(len(rows) - 1)]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.fixture(scope="module")
def half_panel():
    """Four shipped regions end to end (every 4th SNP), LD of 245 of the 489 people."""
    people = np.sort(np.random.default_rng(3).permutation(489)[:245])
    return pseudo_chromosome(range(1, 5), step=4, people=people)


def test_detection_cuts_every_unlinked_region_edge(half_panel):
    v = half_panel.variants
    blocks = detect_ld_blocks(half_panel, v["chrom"], v["pos"], half_panel.n_ref)
    ends = blocks["end"].to_numpy()[:-1]
    last = v.groupby("region", sort=False)["pos"].max().to_numpy()[:-1]
    first = v.groupby("region", sort=False)["pos"].min().to_numpy()[1:]
    for a, b in zip(last, first):           # one cut in each 100 kb gap between regions
        assert np.sum((ends >= a) & (ends < b)) == 1
    # and no more: every block spans 200 kb at least, the last as the others
    pos = v["pos"].to_numpy()
    edges = np.r_[0, np.cumsum(blocks["n_variants"].to_numpy())]
    assert edges[-1] == len(pos)
    assert (pos[edges[1:] - 1] - pos[edges[:-1]]).min() >= 200_000
    spans = (blocks["end"] - blocks["start"]).to_numpy()
    assert spans.max() <= 3_000_000 + 100_000
    assert blocks["n_variants"].sum() == len(v)
    assert blocks["start"].iat[0] == 0 and np.all(blocks["start"].to_numpy()[1:] == ends)


def test_no_cut_between_variants_at_one_position():
    pos = np.array([1, 100_000, 300_000, 300_000, 600_000, 900_000])
    R = np.eye(6)
    ld = deepwas.ld.DenseLD(R)
    blocks = detect_ld_blocks(ld, ["1"] * 6, pos, 500, min_bp=0, max_bp=10_000_000)
    win, _, outside = windows_from_blocks(["1"] * 6, pos, read_ld_blocks(blocks))
    assert len(outside) == 0 and any({2, 3} <= set(core) for core, _ in win)
    assert [len(core) for core, _ in win] == blocks["n_variants"].tolist()


def test_read_bed_with_header_gzip_and_table(tmp_path):
    text = "chr\tstart\tstop\nchr2\t10\t500\nchr1\t0\t100\nchr1\t100\t250\n"
    plain = tmp_path / "blocks.bed"
    plain.write_text(text)
    zipped = tmp_path / "blocks.bed.gz"
    with gzip.open(zipped, "wt") as fh:
        fh.write("\n".join(line for line in text.splitlines()[1:]) + "\n")
    for src in (plain, zipped, str(plain)):
        b = read_ld_blocks(src)
        assert b["chrom"].tolist() == ["1", "1", "2"]
        assert b["start"].tolist() == [0, 100, 10] and b["end"].tolist() == [100, 250, 500]
    frame = pd.DataFrame({"CHR": ["3"], "chromStart": [5], "chromEnd": [9]})
    assert read_ld_blocks(frame).iloc[0].tolist() == ["3", 5, 9]


@pytest.mark.parametrize("text,msg", [
    ("chr1\t0\t100\nchr1\t50\t150\n", "LD blocks overlap"),
    ("chr1\t100\t100\n", "ends before it starts"),
    ("chr start end\nchr1\t0\t100\nchr1\tx200\t300\n", "must be integers"),
])
def test_bad_block_files(tmp_path, text, msg):
    path = tmp_path / "b.bed"
    path.write_text(text)
    with pytest.raises(ValueError, match=msg):
        read_ld_blocks(path)


def test_block_membership_is_bed_half_open():
    """A variant at 1-based position p lies in [start, end) when start < p <= end."""
    blocks = read_ld_blocks(pd.DataFrame({"chrom": ["1", "1"], "start": [0, 100],
                                          "end": [100, 200]}))
    pos = np.array([1, 100, 101, 200, 201])
    win, _, outside = windows_from_blocks(["1"] * 5, pos, blocks)
    assert [c.tolist() for c, _ in win] == [[0, 1], [2, 3]]
    assert outside.tolist() == [4]


def _arrays(M=60, n_ref=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_ref, M))
    X = (X - X.mean(0)) / X.std(0)
    return rng.standard_normal(M) * 0.01, np.arange(M) * 50_000 + 1, X.T @ X / n_ref


def test_from_arrays_blocks_settings(tmp_path, caplog):
    bh, pos, R = _arrays()
    chrom = ["1"] * len(pos)
    # a known panel size: blocks detected, windows without flanks
    st = deepwas.SummaryStats.from_arrays(bh, 1e5, chrom, pos, R, n_ref=300)
    assert st._data.ld_blocks is not None
    assert all(np.array_equal(c, e) for c, e in st.windows)
    # unknown panel size: fixed windows, and the log says why
    with caplog.at_level(logging.WARNING):
        st = deepwas.SummaryStats.from_arrays(bh, 1e5, chrom, pos, R)
    assert st._data.ld_blocks is None and "panel's size is not known" in caplog.text
    # a large panel keeps fixed windows; "detect" cuts anyway
    assert deepwas.SummaryStats.from_arrays(bh, 1e5, chrom, pos, R,
                                            n_ref=60_000)._data.ld_blocks is None
    assert deepwas.SummaryStats.from_arrays(bh, 1e5, chrom, pos, R, n_ref=60_000,
                                            ld_blocks="detect")._data.ld_blocks is not None
    with pytest.raises(ValueError, match="needs the LD panel's size"):
        deepwas.SummaryStats.from_arrays(bh, 1e5, chrom, pos, R, ld_blocks="detect")
    # a BED file: variants outside every block are left out and counted
    bed = tmp_path / "b.bed"
    bed.write_text("1\t0\t1000000\n1\t1000000\t2000000\n")
    st = deepwas.SummaryStats.from_arrays(bh, 1e5, chrom, pos, R, ld_blocks=bed)
    assert [len(c) for c, _ in st.windows] == [20, 20]
    assert st._data.drop_counts["outside_ld_blocks"] == 20
    with pytest.raises(ValueError, match="ld_blocks must be"):
        deepwas.SummaryStats.from_arrays(bh, 1e5, chrom, pos, R, ld_blocks="ldetect")
    with pytest.raises(ValueError, match="n_ref must be an integer"):
        deepwas.SummaryStats.from_arrays(bh, 1e5, chrom, pos, R, n_ref=2.5)
