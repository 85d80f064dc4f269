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
    p = _write(tmp_path / "x.sumstats",
               "snp\ta1\tA2\tz\tN\nrs1\ta\tg\t1.5\t1000\nrs2\tC\tT\t-2\t900\n", gz=True)
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


def test_comma_separated_files_are_read(tmp_path):
    text = "SNP,CHR,BP,A1,A2,Z,N\nrs1,1,10,a,g,1.5,1000\nrs2,chr2,20,C,T,-2,900\n"
    for name, gz in (("x.csv", False), ("x.csv.gz", True)):
        df = read_sumstats(_write(tmp_path / name, text, gz=gz))
        assert df["SNP"].tolist() == ["rs1", "rs2"] and df["CHR"].tolist() == ["1", "2"]
        assert df["Z"].tolist() == [1.5, -2.0] and df["BP"].tolist() == [10, 20]
    quoted = '"SNP","A1","A2","BETA","SE","N"\n"rs1","A","G",0.2,0.1,50\n'
    df = read_sumstats(_write(tmp_path / "q.csv", quoted))
    assert df["SNP"].tolist() == ["rs1"] and df["Z"].tolist() == [2.0]


def test_z_from_beta_and_p_prs_cs_layout(tmp_path):
    from scipy.stats import norm

    # PRS-CS's sumstats layout: SNP A1 A2 BETA P (no SE, no N)
    text = ("SNP A1 A2 BETA P\n"
            "rs1 A G 0.02 0.05\n"
            "rs2 C T -0.5 1e-12\n"
            "rs3 A C 0.1 3.5e-400\n"      # below float64: read from its digits
            "rs4 A G -0.01 1\n"
            "rs5 A G 0.1 0\n"             # P = 0: no Z can be taken from it
            "rs6 A G 0.1 1.2\n"           # P > 1
            "rs7 A G 0.1 NA\n"
            "rs8 A G 0.1 -0.3\n")
    df = read_sumstats(_write(tmp_path / "prscs.txt", text), n=10_000)
    assert df["SNP"].tolist() == ["rs1", "rs2", "rs3", "rs4"]
    assert df.attrs["dropped"] == {"bad_p": 4} and df.attrs["z_from"] == "BETA and P"
    np.testing.assert_allclose(df["Z"][:2], [norm.isf(0.025), -norm.isf(0.5e-12)], rtol=1e-12)
    # |Z| of P = 3.5e-400: solve log(2 Phi(-z)) = log(3.5e-400) independently (bisection)
    from scipy.special import log_ndtr

    target = np.log(3.5) - 400 * np.log(10)
    lo, hi = 30.0, 60.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.log(2) + log_ndtr(-mid) > target else (lo, mid)
    assert df["Z"][2] == pytest.approx(lo, rel=1e-9) and df["Z"][2] > 42
    assert df["Z"][3] == 0.0 and (df["N"] == 10_000).all()


@pytest.mark.parametrize("name", ["LOG10P", "log10p", "mlog10p", "neglog10p"])
def test_z_from_beta_and_minus_log10_p(tmp_path, name):
    from scipy.stats import norm

    text = (f"ID CHROM GENPOS ALLELE0 ALLELE1 A1FREQ N BETA {name}\n"
            "rs1 22 100 G A 0.3 5000 0.1 1.3010299956639813\n"     # P = 0.05
            "rs2 22 200 T C 0.2 5000 -0.1 500\n"                   # P = 1e-500
            "rs3 22 300 T C 0.2 5000 -0.1 -0.5\n"                  # P > 1
            "rs4 22 400 T C 0.2 5000 -0.1 inf\n")                  # P = 0
    df = read_sumstats(_write(tmp_path / "regenie.txt", text))
    # a REGENIE layout (ALLELE0/ALLELE1 with ID, GENPOS): REGENIE, not BOLT-LMM
    assert df.attrs["format"] == "regenie" and df.attrs["z_from"] == "BETA and LOG10P"
    assert df["SNP"].tolist() == ["rs1", "rs2"] and df.attrs["dropped"] == {"bad_p": 2}
    assert df["A1"].tolist() == ["A", "C"] and df["BP"].tolist() == [100, 200]
    assert df["Z"][0] == pytest.approx(norm.isf(0.025), rel=1e-12)
    assert -60 < df["Z"][1] < -47


def test_z_prefers_z_then_beta_se_over_p(tmp_path):
    text = "SNP A1 A2 BETA SE P N\nrs1 A G 0.2 0.1 0.9 100\n"
    df = read_sumstats(_write(tmp_path / "t.txt", text))
    assert df["Z"].tolist() == [2.0] and df.attrs["z_from"] == "BETA/SE"
    with pytest.raises(ValueError, match="BETA with SE, P or a -log10 P"):
        read_sumstats(_write(tmp_path / "u.txt", "SNP A1 A2 P N\nrs1 A G 0.1 100\n"))


def test_errors_word_the_fix_for_python_and_for_the_command_line(tmp_path):
    from deepwas.io.sumstats import SumstatsError

    with pytest.raises(SumstatsError) as e:
        read_sumstats(_write(tmp_path / "t.txt", "SNP A1 A2 Z\nrs1 A G 1.0\n"))
    assert "pass n=" in str(e.value) and "pass --n (the GWAS sample size)" in e.value.cli
    assert "n=" not in e.value.cli
    with pytest.raises(SumstatsError) as e:
        read_sumstats(_write(tmp_path / "u.txt", "rsid_x A1 A2 Z N\nrs1 A G 1 5\n"))
    assert "columns={'SNP': '<name>'}" in str(e.value)
    assert e.value.cli.endswith("--columns SNP=<name>")
    assert "the header is: rsid_x A1 A2 Z N" in e.value.cli


def test_effect_allele_attr_names_the_column_used(tmp_path):
    p = _write(tmp_path / "t.txt", "rsid chr pos effect_allele other_allele beta se n\n"
                                   "rs1 1 10 A G 0.1 0.05 100\n")
    df = read_sumstats(p)
    assert df.attrs["format"] == "table" and df.attrs["effect_allele"] == "effect_allele"
    p = _write(tmp_path / "u.txt", "SNP EA NEA BETA SE N\nrs1 A G 0.1 0.05 100\n")
    df = read_sumstats(p, columns={"A1": "EA", "A2": "NEA"})
    assert df.attrs["effect_allele"] == "EA"


def test_a_file_with_a_header_and_no_rows(tmp_path):
    p = _write(tmp_path / "t.tsv", "SNP\tA1\tA2\tZ\tN\n")
    with pytest.raises(ValueError, match=r"t.tsv: the file has a header line and no rows"):
        read_sumstats(p)


def test_no_overlap_message_when_every_row_was_dropped():
    from deepwas.io.matching import no_overlap_message

    ss = pd.DataFrame({"SNP": [], "CHR": [], "BP": [], "A1": [], "A2": []})
    ss.attrs["dropped"] = {"bad_z_or_se": 10}
    ref = pd.DataFrame({"snp": ["rs1"], "chrom": ["1"], "pos": [10], "a1": ["A"], "a2": ["G"]})
    msg = no_overlap_message(ss, ref)
    assert "e.g. ;" not in msg and "every row of the summary statistics was dropped" in msg
    assert "bad_z_or_se 10" in msg
