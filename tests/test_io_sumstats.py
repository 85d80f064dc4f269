"""read_sumstats on the shipped BOLT-LMM file and on small hand-made bad inputs."""
import gzip
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.io import bolt_effective_n, read_sumstats

DATA = Path(deepwas.__file__).parent / "datasets" / "data" / "1000g_eur_22regions"
BOLT = DATA / "bolt.sumstats.txt.gz"


@pytest.fixture(scope="module")
def bolt_raw():
    return pd.read_csv(BOLT, sep="\t")


def test_bolt_standard_columns_and_values(bolt_raw):
    df = read_sumstats(BOLT, n=489)
    assert df.attrs["format"] == "bolt"
    assert list(df.columns) == ["SNP", "CHR", "BP", "A1", "A2", "Z", "N", "BETA", "SE", "FREQ"]
    assert len(df) == len(bolt_raw) and df.attrs["dropped"] == {}
    np.testing.assert_allclose(df["Z"], bolt_raw["BETA"] / bolt_raw["SE"], rtol=1e-12)
    assert (df["A1"] == bolt_raw["ALLELE1"]).all() and (df["A2"] == bolt_raw["ALLELE0"]).all()
    np.testing.assert_array_equal(df["FREQ"], bolt_raw["A1FREQ"])
    assert df["CHR"].iloc[0] == "1" and df["BP"].dtype == "Int64"
    # effective N, recomputed independently: median chi2 ratio over CHISQ_BOLT_LMM > 30
    big = bolt_raw[bolt_raw["CHISQ_BOLT_LMM"] > 30]
    expect = np.median(big["CHISQ_BOLT_LMM"] / big["CHISQ_LINREG"]) * 489
    assert df.attrs["n_effective"] == pytest.approx(expect, rel=1e-12)
    assert (df["N"] == expect).all()
    assert expect != pytest.approx(489)  # the rule does change N on this file


def test_bolt_effective_n_without_strong_snps_is_n():
    assert bolt_effective_n([1.0, 2.0], [1.0, 1.5], 1000) == 1000.0


def test_bolt_requires_n():
    with pytest.raises(ValueError, match="pass n="):
        read_sumstats(BOLT)


def _write(path, text, gz=False):
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        Path(path).write_text(text)
    return path


def test_ldsc_format_case_insensitive_and_gzip_by_content(tmp_path):
    # gzip detected from the bytes, not the name; headers in mixed case
    p = _write(tmp_path / "x.sumstats", "snp\ta1\tA2\tz\tN\nrs1\ta\tg\t1.5\t1000\nrs2\tC\tT\t-2\t900\n",
               gz=True)
    df = read_sumstats(p)
    assert df.attrs["format"] == "ldsc"
    assert df["A1"].tolist() == ["A", "C"] and df["Z"].tolist() == [1.5, -2.0]
    assert df["N"].tolist() == [1000.0, 900.0]
    assert df["CHR"].isna().all() and df["BP"].isna().all()


def test_generic_table_with_mapping_chr_prefix_and_chunks(tmp_path):
    rows = "\n".join(f"chr{c} {100 + i} rs{i} a c {0.1 * (i + 1)} 0.05" for i, c in
                     enumerate([1, 1, 2, 22, 22]))
    p = _write(tmp_path / "t.txt", "Chrom Position ID EA NEA Effect StdErr\n" + rows + "\n")
    df = read_sumstats(p, format="table", n=5000, chunksize=2,
                       columns={"SNP": "ID", "A1": "EA", "A2": "NEA", "SE": "StdErr",
                                "BETA": "Effect"})
    assert df["CHR"].tolist() == ["1", "1", "2", "22", "22"]
    assert df["BP"].tolist() == [100, 101, 102, 103, 104]
    np.testing.assert_allclose(df["Z"], [0.1 * (i + 1) / 0.05 for i in range(5)])
    assert (df["N"] == 5000).all()


def test_missing_n_is_an_error(tmp_path):
    p = _write(tmp_path / "t.txt", "SNP A1 A2 Z\nrs1 A G 1.0\n")
    with pytest.raises(ValueError, match="no N column"):
        read_sumstats(p)


def test_bad_se_and_nonfinite_z_are_dropped_and_counted(tmp_path, caplog):
    text = ("SNP CHR BP A1 A2 BETA SE N\n"
            "rs1 1 10 A G 0.1 0.05 100\n"
            "rs2 1 20 A G 0.1 0 100\n"      # zero SE
            "rs3 1 30 A G 0.1 nan 100\n"    # NaN SE
            "rs4 1 40 A G inf 0.1 100\n"    # inf beta
            "rs5 1 50 A G 0.2 -0.1 100\n"   # negative SE
            "rs6 1 60 A G 0.2 0.1 0\n")     # N = 0
    p = _write(tmp_path / "t.txt", text)
    with caplog.at_level(logging.WARNING):
        df = read_sumstats(p)
    assert df["SNP"].tolist() == ["rs1"]
    assert df.attrs["dropped"] == {"bad_z_or_se": 4, "bad_n": 1}
    assert "bad_z_or_se" in caplog.text


def test_duplicate_rsids_drop_every_copy(tmp_path, caplog):
    text = "SNP A1 A2 Z N\nrs1 A G 1 10\nrs2 A G 2 10\nrs1 A G 3 10\nrs3 C T 4 10\n"
    p = _write(tmp_path / "t.txt", text)
    with caplog.at_level(logging.WARNING):
        df = read_sumstats(p)
    assert df["SNP"].tolist() == ["rs2", "rs3"]
    assert df.attrs["dropped"] == {"duplicate_snp": 2}
    assert "duplicate_snp" in caplog.text


def test_bolt_chisq_zero_rows_dropped(tmp_path, bolt_raw):
    sub = bolt_raw.head(50).copy()
    sub.loc[[3, 7], "CHISQ_BOLT_LMM"] = 0
    p = tmp_path / "b.txt"
    sub.to_csv(p, sep="\t", index=False)
    df = read_sumstats(p, n=1000)
    assert len(df) == 48 and df.attrs["dropped"] == {"chisq_bolt_lmm_zero": 2}
    assert not df["SNP"].isin(sub["SNP"].iloc[[3, 7]]).any()


def test_truncated_gzip_is_a_clear_error(tmp_path):
    blob = BOLT.read_bytes()
    p = tmp_path / "cut.txt.gz"
    p.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_sumstats(p, n=489)


def test_missing_file_and_missing_columns(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_sumstats(tmp_path / "nope.txt")
    p = _write(tmp_path / "t.txt", "SNP A1 A2 N\nrs1 A G 10\n")
    with pytest.raises(ValueError, match="cannot get Z"):
        read_sumstats(p)
