"""BigWigTracks against per-position pyBigWig values and the bedGraph text of the same track."""
import logging
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pytest

import deepwas
from deepwas.features import BigWigTracks, FeatureSet
from deepwas.features.liftover import HG19_TO_HG38_CHAIN, load_chain

BW = Path(deepwas.__file__).parent / "datasets" / "data" / "bigwig"
VALID, TINY = str(BW / "valid.bigWig"), str(BW / "pybigwig_test.bw")


def _variants(chrom, pos):
    n = len(pos)
    return pd.DataFrame({"chrom": chrom if not isinstance(chrom, str) else [chrom] * n,
                         "pos": np.asarray(pos, dtype=np.int64), "snp": [f"v{i}" for i in range(n)],
                         "a1": "A", "a2": "G", "freq": 0.3, "row": np.arange(n)})


@pytest.fixture(scope="module")
def bedgraph_dense():
    """Base-resolution array of chr17 from the bedGraph text, 0 where no interval (0-based)."""
    bg = pd.read_csv(BW / "single_chrom.bedGraph", sep="\t", header=None,
                     names=["c", "s", "e", "v"])
    dense = np.zeros(bg["e"].max() + 1000, dtype=np.float64)
    for s, e, v in zip(bg["s"], bg["e"], bg["v"]):
        dense[s:e] = v
    return dense


def test_one_based_positions_and_windows_match_pybigwig(bedgraph_dense):
    rng = np.random.default_rng(1)
    pos = np.sort(rng.integers(59_000, 217_000, 300))  # 1-based, across the covered span
    tr = BigWigTracks([VALID], width=33)
    f = tr.get(_variants("17", pos)).func
    assert f.shape == (300, 1, 33) and f.dtype == np.float32
    bw = pyBigWig.open(VALID)
    for i in range(0, 300, 7):
        p0 = int(pos[i]) - 1  # 0-based base of the variant
        expect = np.nan_to_num(np.array(bw.values("chr17", p0 - 16, p0 + 17)))
        np.testing.assert_allclose(f[i, 0], expect, rtol=1e-6)
        assert f[i, 0, 16] == pytest.approx(np.nan_to_num(bw.values("chr17", p0, p0 + 1)[0]))
    # same data as the bedGraph text (4-5 significant digits there)
    idx = (pos - 1)[:, None] - 16 + np.arange(33)[None, :]
    np.testing.assert_allclose(f[:, 0], bedgraph_dense[idx], rtol=1e-4, atol=1e-6)


def test_tiny_track_exact_values_nan_and_chrom_names(caplog):
    # intervals on '1': [0,1)=0.1 [1,2)=0.2 [2,3)=0.3 [100,150)=1.4 [150,151)=1.5;
    # on '10' [200,300)=2
    tr = BigWigTracks([TINY], width=5)
    v = _variants(["chr1", "1", "10", "1"], [3, 151, 250, 1])
    f = tr.get(v).func[:, 0]
    np.testing.assert_allclose(f[0], [0.1, 0.2, 0.3, 0, 0], rtol=1e-6)   # BP 3 = 0-based 2
    np.testing.assert_allclose(f[1], [1.4, 1.4, 1.5, 0, 0], rtol=1e-6)   # no data -> 0
    np.testing.assert_allclose(f[2], [2, 2, 2, 2, 2])
    np.testing.assert_allclose(f[3], [0, 0, 0.1, 0.2, 0.3], rtol=1e-6)   # before 0 padded


def test_absent_chromosome_and_chromosome_end(caplog):
    tr = BigWigTracks([VALID, VALID], width=8, names=["a", "b"])
    end = 83_257_441
    v = _variants(["2", "2", "17", "17"], [100, 200, end, 200_000])
    with caplog.at_level(logging.WARNING):
        f1 = tr.get(v).func
        f2 = tr.get(v).func
    assert np.all(f1[:2] == 0) and np.all(f1[2, :, 5:] == 0)  # past the chromosome end
    assert caplog.text.count("no chromosome 2") == 2  # once per track, not per call
    np.testing.assert_array_equal(f1, f2)
    assert tr.func_names == ["a", "b"] and tr.d_func == 2


def test_binned_means_and_featureset(bedgraph_dense):
    pos = np.array([60_000, 100_001, 150_500])
    tr = BigWigTracks([VALID], width=6, bin_size=10)
    f = tr.get(_variants("17", pos)).func[:, 0]
    for i, p in enumerate(pos):
        start = p - 1 - 30
        expect = bedgraph_dense[start:start + 60].reshape(6, 10).mean(1)
        np.testing.assert_allclose(f[i], expect, rtol=1e-4, atol=1e-6)
    both = FeatureSet([tr, BigWigTracks([TINY], width=6, bin_size=10)]).get(_variants("17", pos))
    assert both.func.shape == (3, 2, 6)
    clone = pickle.loads(pickle.dumps(tr))  # picklable for scikit-learn / joblib
    np.testing.assert_array_equal(clone.get(_variants("17", pos)).func[:, 0], f)


def test_liftover_before_reading():
    # hg19 chr17 positions whose hg38 image falls in the track's covered span (59,898-216,061)
    lo = load_chain(HG19_TO_HG38_CHAIN)
    hg19 = []
    for p in range(1_000, 66_000, 997):  # hg38 = hg19 + 150,209 here
        hit = lo.convert_coordinate("chr17", p - 1)
        if hit and 60_000 < hit[0][1] < 216_000:
            hg19.append(p)
    assert len(hg19) > 20
    hg19 = np.array(hg19[:40])
    lifted = BigWigTracks([VALID], width=9,
                          liftover_chain=HG19_TO_HG38_CHAIN).get(_variants("17", hg19))
    hg38 = np.array([lo.convert_coordinate("chr17", int(p) - 1)[0][1] + 1 for p in hg19])
    direct = BigWigTracks([VALID], width=9).get(_variants("17", hg38))
    np.testing.assert_array_equal(lifted.func, direct.func)
    # unmapped (unknown chromosome) -> zeros under the default policy
    z = BigWigTracks([VALID], width=9,
                     liftover_chain=HG19_TO_HG38_CHAIN).get(_variants("99", [1000]))
    assert np.all(z.func == 0)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        BigWigTracks([tmp_path / "no.bw"])
    junk = tmp_path / "junk.bw"
    junk.write_bytes(b"not a bigwig" * 10)
    with pytest.raises(ValueError):
        BigWigTracks([str(junk)])
