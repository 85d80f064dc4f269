"""Genome builds: summary statistics on GRCh37 against an LD reference on GRCh38 (the shipped
1000 Genomes chr22 panel with its positions lifted by the shipped UCSC chain), detected, refused
without a chain with both builds named, and lifted with one, every drop counted."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.features import HG19_TO_HG38_CHAIN, liftover
from deepwas.io import harmonise, read_sumstats
from deepwas.io.build import build_from_text, check_build
from deepwas.io.sumstats import SumstatsError
from deepwas.ld import GenotypeLD, read_plink_reference

DATA = Path(deepwas.__file__).parent / "datasets" / "data" / "1000g_eur_22regions"
BOLT = DATA / "bolt.sumstats.txt.gz"


@pytest.fixture(scope="module")
def ref19():
    return read_plink_reference([str(DATA / "1000G.subset.22")])


@pytest.fixture(scope="module")
def ref38(ref19):
    v = ref19.variants.copy()
    lo = liftover(v["chrom"], v["pos"], HG19_TO_HG38_CHAIN)
    assert lo["mapped"].all()
    v["pos"] = lo["pos"].to_numpy(dtype=np.int64)
    return GenotypeLD(ref19.dosages, v, fingerprint="chr22-hg38")


@pytest.fixture(scope="module")
def ss19():
    ss = read_sumstats(BOLT, n=489)
    return ss[ss.CHR == "22"].reset_index(drop=True)


def _beta(h):
    return h.table.set_index("snp")["beta_hat"]


def test_build_labels():
    assert build_from_text("GRCh37.p13") == "GRCh37" and build_from_text("hg38") == "GRCh38"
    assert build_from_text("human_g1k_v37.fasta") == "GRCh37"
    assert build_from_text("bp_hg38") == "GRCh38" and build_from_text("position") is None


def test_same_build_is_detected_and_a_chain_is_not_applied(ref19, ss19, caplog):
    bc = check_build(ss19, ref19.variants)
    assert bc.status == "same" and bc.by == "rsid" and bc.agree > 0.99
    plain = harmonise(ref19, ss19)
    with caplog.at_level("INFO"):
        h = harmonise(ref19, ss19, chain=HG19_TO_HG38_CHAIN)
    assert "not applied" in caplog.text
    pd.testing.assert_series_equal(_beta(h), _beta(plain))


def test_build_mismatch_without_chain_names_both_builds(ref19, ref38, ss19):
    with pytest.raises(SumstatsError, match=r"statistics are on GRCh37 \(hg19\) and the LD "
                                            r"reference on GRCh38 \(hg38\)") as e:
        harmonise(ref38, ss19)
    assert "chain=" in str(e.value) and "--sumstats-chain" in e.value.cli
    # the other way round: statistics lifted to GRCh38, reference on GRCh37
    lo = liftover(ss19["CHR"], ss19["BP"].astype(np.int64), HG19_TO_HG38_CHAIN)
    ss38 = ss19.assign(BP=lo["pos"].to_numpy())
    with pytest.raises(SumstatsError, match=r"statistics are on GRCh38 \(hg38\) and the LD "
                                            r"reference on GRCh37 \(hg19\)"):
        harmonise(ref19, ss38)


def test_chain_lifts_the_statistics_and_counts_what_it_drops(ref19, ref38, ss19):
    bad = ss19.copy()
    bad.loc[:2, "BP"] = [1_000, 2_000, 3_000]          # chr22 p-arm gap: no chain covers it
    bad.loc[3, "CHR"] = "UNPLACED"                      # not in the chain file
    h = harmonise(ref38, bad, chain=HG19_TO_HG38_CHAIN)
    c = h.drop_counts
    assert c["liftover_unmapped"] == 3 and c["liftover_no_chain"] == 1
    assert h.build.status == "different" and h.build.sumstats_build == "GRCh37"
    assert "positions mapped" in h.build.lifted
    same = _beta(harmonise(ref19, ss19))
    got = _beta(h)
    assert len(got) == len(same) - 4
    np.testing.assert_allclose(got, same.loc[got.index], rtol=1e-12)


def test_position_matching_across_builds_and_minus_strand(ref19, ref38, ss19, tmp_path):
    """Statistics without rsIDs (named CHR:BP:A2:A1) on GRCh37, reference on GRCh38: lifted,
    then matched by position and alleles; chains that map to the other strand complement the
    alleles."""
    anon = ss19.assign(SNP=".")
    p = tmp_path / "anon.tsv"
    anon.to_csv(p, sep="\t", index=False)
    ss = read_sumstats(p)
    assert ss["SNP"].str.match(r"^22:\d+:[ACGT]+:[ACGT]+$").all()
    with pytest.raises(SumstatsError, match="GRCh37.*GRCh38"):
        harmonise(ref38, ss)
    h = harmonise(ref38, ss, chain=HG19_TO_HG38_CHAIN)
    # every statistic found its variant by position (some then fall to the allele rules)
    assert h.drop_counts["matched_by_position"] == len(ss)
    assert h.drop_counts["not_in_reference"] == 0
    same = harmonise(ref19, ss19).table.set_index("snp")["beta_hat"]
    got = h.table.set_index("snp")["beta_hat"]
    np.testing.assert_allclose(got, same.loc[got.index], rtol=1e-12)
    # the five chr22 variants the chain maps to the minus strand still align, complemented
    lo = liftover(ref19.variants["chrom"], ref19.variants["pos"], HG19_TO_HG38_CHAIN)
    minus = set(ref19.variants["snp"][(lo["strand"] == "-").to_numpy()])
    assert minus and minus & set(got.index)


def test_position_evidence_names_the_builds_both_ways(ref19, ref38, ss19):
    """No shared rsIDs: positions carrying the same alleles decide, in either direction."""
    anon = ss19.assign(SNP=".")
    assert check_build(anon, ref19.variants).status == "same"
    bc = check_build(anon, ref38.variants)
    assert (bc.status, bc.by, bc.sumstats_build, bc.reference_build) == \
        ("different", "position", "GRCh37", "GRCh38")
    lo = liftover(anon["CHR"], anon["BP"].astype(np.int64), HG19_TO_HG38_CHAIN)
    bc = check_build(anon.assign(BP=lo["pos"].to_numpy()), ref19.variants)
    assert (bc.sumstats_build, bc.reference_build) == ("GRCh38", "GRCh37")


def test_statistics_without_positions_skip_the_check(ref38, ss19):
    ldsc = ss19[["SNP", "A1", "A2", "Z", "N"]]
    h = harmonise(ref38, ldsc)
    assert h.build.status == "unknown" and len(h.table) > 2000
