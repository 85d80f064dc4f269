"""liftover on the real rsIDs of the shipped 1000G data, checked against direct pyliftover calls."""
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.features import HG19_TO_HG38_CHAIN, apply_liftover_policy, liftover
from deepwas.features.liftover import load_chain

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
    assert len(lifted) == len(bim) and list(lifted.columns) == ["chrom", "pos", "strand", "mapped"]
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


def test_policies(bim, lifted):
    dropped = apply_liftover_policy(lifted, "drop")
    assert dropped["mapped"].all() and len(dropped) == lifted["mapped"].sum()
    near = apply_liftover_policy(lifted, "nearest", bim["chrom"], bim["pos"])
    assert len(near) == len(bim) and near["pos"].notna().all()
    bad = np.flatnonzero(~lifted["mapped"].to_numpy())
    pos = bim["pos"].to_numpy()
    for i in bad:  # the nearest mapped SNP on the same chromosome, found by brute force
        same = np.flatnonzero((bim["chrom"].to_numpy() == bim["chrom"][i]) & lifted["mapped"].to_numpy())
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
