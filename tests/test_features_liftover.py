"""liftover on the real rsIDs of the shipped 1000G data, checked against direct pyliftover calls."""
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.features import HG19_TO_HG38_CHAIN, apply_liftover_policy, liftover
from deepwas.features.liftover import liftover_summary, load_chain

DATA = Path(deepwas.__file__).parent / "datasets" / "data" / "1000g_eur_22regions"


@pytest.fixture(scope="module")
def bim():
    frames = [pd.read_csv(DATA / f"1000G.subset.{c}.bim", sep="\t", header=None,
                          names=["chrom", "snp", "cm", "pos", "a1", "a2"]) for c in (14, 19, 22)]
    b = pd.concat(frames, ignore_index=True)
    return b.iloc[::4].reset_index(drop=True)  # every 4th SNP: fast, still covers the odd cases


@pytest.fixture(scope="module")
def lifted(bim):
    return liftover(bim["chrom"], bim["pos"], HG19_TO_HG38_CHAIN)


def test_agrees_with_direct_pyliftover(bim, lifted):
    lo = load_chain(HG19_TO_HG38_CHAIN)
    assert len(lifted) == len(bim)
    assert list(lifted.columns) == ["chrom", "pos", "strand", "mapped", "status"]
    assert lifted["pos"].dtype == "Int64"
    n_agree = 0
    chrom, pos = bim["chrom"].to_numpy(), bim["pos"].to_numpy()
    got = list(zip(lifted["chrom"].tolist(), lifted["pos"].tolist(), lifted["strand"].tolist()))
    mapped = lifted["mapped"].to_numpy()
    for i in range(len(bim)):
        hits = lo.convert_coordinate(f"chr{chrom[i]}", int(pos[i]) - 1)
        if hits:
            assert mapped[i]
            assert got[i] == (hits[0][0].removeprefix("chr"), hits[0][1] + 1, hits[0][2])
            n_agree += 1
        else:
            assert not mapped[i] and pd.isna(got[i][1])
    assert n_agree == int(lifted["mapped"].sum()) and n_agree > 0.99 * len(bim)


def test_minus_strand_and_unmapped_cases_exist(bim, lifted):
    # chr22 ~20.68-20.70 Mb (hg19) maps reverse-complemented in hg38 (rs532336522 & co.)
    minus = lifted["strand"] == "-"
    assert minus.fillna(False).any()
    assert set(bim.loc[minus.fillna(False).to_numpy(), "chrom"]) == {22}
    # hg19 chr14:20.00-20.11 Mb and chr19:20.59 Mb do not map to hg38
    assert (~lifted["mapped"]).sum() >= 2
    assert set(bim.loc[~lifted["mapped"].to_numpy(), "chrom"]) <= {14, 19}


def test_known_positions():
    # rs532336522: hg19 chr22:20677121 -> hg38 chr22:21338852, minus strand (from the chain)
    r = liftover(["chr22", "22", "1"], [20677121, 20677121, 20000475], HG19_TO_HG38_CHAIN)
    assert r["pos"].tolist()[:2] == [21338852, 21338852] and r["strand"].tolist()[:2] == ["-", "-"]
    lo = load_chain(HG19_TO_HG38_CHAIN)
    assert r["pos"][2] == lo.convert_coordinate("chr1", 20000475 - 1)[0][1] + 1


def test_unknown_chromosome_is_unmapped():
    r = liftover(["22", "99"], [20677121, 100], HG19_TO_HG38_CHAIN)
    assert r["mapped"].tolist() == [True, False]
    assert r["status"].tolist() == ["mapped", "no_chain"]


# hg19 positions the shipped chain sends only to contigs off the primary assembly (from the
# chain file's headers): chr22 24.34-24.40 Mb -> chr22_KI270879v1_alt, chr22:20332601 ->
# chr22_KI270731v1_random (reverse strand), chr1:143400001 -> chr14_GL000009v2_random
OFF_PRIMARY = (["22", "22", "1"], [24350001, 20332601, 143400001])


def test_alt_random_contigs_count_as_unmapped():
    lo = load_chain(HG19_TO_HG38_CHAIN)
    for c, p in zip(*OFF_PRIMARY):       # pyliftover itself does map them, off the primary set
        hits = lo.convert_coordinate("chr" + c, p - 1)
        assert hits and all("_" in h[0] for h in hits)
    chrom = ["22", *OFF_PRIMARY[0], "99"]
    r = liftover(chrom, [20677121, *OFF_PRIMARY[1], 5], HG19_TO_HG38_CHAIN)
    assert r["mapped"].tolist() == [True, False, False, False, False]
    assert r["status"].tolist() == ["mapped", "alt_contig", "alt_contig", "alt_contig", "no_chain"]
    assert r["chrom"].isna().tolist() == [False, True, True, True, True]
    assert apply_liftover_policy(r, "drop").index.tolist() == [0]
    assert liftover_summary(r, chrom) == (
        "1 of 5 positions mapped; 1 of them to the other strand; 3 only on alt/random/Un "
        "contigs; 1 on chromosomes missing from the chain file")


@pytest.fixture(scope="module")
def tracks22(tmp_path_factory):
    from deepwas.datasets._tracks import write_demo_tracks

    paths, _ = write_demo_tracks(str(tmp_path_factory.mktemp("bw")),
                                 {"22": (20_000_000, 25_000_000)}, n_tracks=1, random_state=1)
    return paths


def test_bigwig_tracks_never_read_alt_contigs_as_silent_zeros(tracks22, caplog):
    import logging

    from deepwas.features import BigWigTracks

    # rows 1-3 lift only to chr22_KI270879v1_alt; their nearest mapped neighbour is row 0
    v = pd.DataFrame({"chrom": ["22"] * 5,
                      "pos": [24340001, 24345001, 24350001, 24390001, 24600001]})
    near = BigWigTracks(tracks22, width=4, bin_size=100, liftover_chain=HG19_TO_HG38_CHAIN,
                        unmapped="nearest")
    with caplog.at_level(logging.INFO, logger="deepwas"):
        lifted = near.lift(v)
        func = near.get(v).func[:, 0]
        near.get(v.iloc[::2])
    assert lifted["status"].tolist() == ["mapped"] + ["alt_contig"] * 3 + ["mapped"]
    assert lifted["ok"].all()
    for i in (1, 2, 3):
        np.testing.assert_array_equal(func[i], func[0])
    assert np.abs(func).sum(axis=1).min() > 0
    lines = [r for r in caplog.records if "liftover" in r.getMessage()]
    assert len(lines) == 1 and lines[0].levelname == "WARNING"     # one line per run
    assert "3 only on alt/random/Un contigs" in lines[0].getMessage()
    assert near.liftover_counts_ == {"mapped": 2, "alt_contig": 3, "nearest": 3, "zeros": 0}

    zeros = BigWigTracks(tracks22, width=4, bin_size=100, liftover_chain=HG19_TO_HG38_CHAIN)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="deepwas"):
        func = zeros.get(v).func[:, 0]
    assert not zeros.lift(v)["ok"][1:4].any()
    assert (func[1:4] == 0).all() and (func[[0, 4]] != 0).any(axis=1).all()
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "3 read as all-zero track windows" in msg


def test_policies(bim, lifted):
    dropped = apply_liftover_policy(lifted, "drop")
    assert dropped["mapped"].all() and len(dropped) == lifted["mapped"].sum()
    near = apply_liftover_policy(lifted, "nearest", bim["chrom"], bim["pos"])
    assert len(near) == len(bim) and near["pos"].notna().all()
    bad = np.flatnonzero(~lifted["mapped"].to_numpy())
    pos = bim["pos"].to_numpy()
    for i in bad:  # the nearest mapped SNP on the same chromosome, found by brute force
        same = np.flatnonzero((bim["chrom"].to_numpy() == bim["chrom"][i])
                              & lifted["mapped"].to_numpy())
        j = same[np.argmin(np.abs(pos[same] - pos[i]))]
        assert near["pos"][i] == lifted["pos"][j] and near["imputed"][i]
    assert not near.loc[lifted["mapped"].to_numpy(), "imputed"].any()
    with pytest.raises(ValueError, match="source_chrom"):
        apply_liftover_policy(lifted, "nearest")
    with pytest.raises(ValueError, match="policy"):
        apply_liftover_policy(lifted, "dummy")


def test_bad_chain_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        liftover(["1"], [100], tmp_path / "missing.chain.gz")
    bad = tmp_path / "bad.chain.gz"
    bad.write_bytes(Path(HG19_TO_HG38_CHAIN).read_bytes()[:5000])  # truncated gzip
    with pytest.raises(ValueError, match="cannot read"):
        liftover(["1"], [100], bad)
    junk = tmp_path / "junk.chain"
    junk.write_text("this is not a chain file\n")
    with pytest.raises(ValueError):
        liftover(["1"], [100], junk)
    empty = tmp_path / "empty.chain.gz"
    with gzip.open(empty, "wt"):
        pass
    with pytest.raises(ValueError, match="no chains"):
        liftover(["1"], [100], empty)
