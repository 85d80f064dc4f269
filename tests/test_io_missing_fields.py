"""Missing values and separators of text summary statistics: the empty fields pandas and
data.table::fwrite write for NaN, "NA" tokens, space-separated files (ldsc, BOLT-LMM), and
files that mix separators, which are refused rather than read with shifted columns."""
import gzip

import numpy as np
import pandas as pd
import pytest

from deepwas.io import read_sumstats


def _table(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"SNP": [f"rs{k}" for k in range(n)], "CHR": 1,
                         "BP": 1000 + 10 * np.arange(n), "A1": "A", "A2": "G",
                         "BETA": rng.normal(0, 0.01, n), "SE": rng.uniform(0.005, 0.01, n),
                         "Z": rng.normal(size=n), "N": rng.integers(50_000, 60_000, n)})


def _fwrite(df, path, na="", sep="\t"):
    """What data.table::fwrite writes: no quotes around plain fields, ``na`` for a missing
    value (fwrite's default ``na = ""``), integers without a decimal point."""
    with open(path, "w") as fh:
        fh.write(sep.join(df.columns) + "\n")
        for row in df.itertuples(index=False):
            fh.write(sep.join(na if isinstance(v, float) and np.isnan(v) else str(v)
                              for v in row) + "\n")
    return path


def test_pandas_tab_file_with_empty_z_drops_those_rows_and_keeps_the_columns(tmp_path):
    df = _table()[["SNP", "CHR", "BP", "A1", "A2", "Z", "N"]]
    df.loc[:9, "Z"] = np.nan
    p = tmp_path / "pandas.tsv.gz"
    df.to_csv(p, sep="\t", index=False, na_rep="")
    out = read_sumstats(p)
    assert out.attrs["dropped"] == {"bad_z_or_se": 10}
    assert out["SNP"].tolist() == df["SNP"].iloc[10:].tolist()
    np.testing.assert_allclose(out["Z"], df["Z"].iloc[10:], rtol=1e-12)
    np.testing.assert_array_equal(out["N"], df["N"].iloc[10:])     # N never read as Z


@pytest.mark.parametrize("na", ["", "NA"])
def test_fwrite_file_with_missing_beta_or_se_counts_them_as_bad_z_or_se(tmp_path, na):
    df = _table()[["SNP", "CHR", "BP", "A1", "A2", "BETA", "SE", "N"]].astype({"BETA": object})
    df.loc[[2, 5], "SE"] = np.nan
    df.loc[[7], "BETA"] = np.nan
    df.loc[[11], "N"] = np.nan
    out = read_sumstats(_fwrite(df, tmp_path / "fwrite.tsv", na=na))
    assert out.attrs["dropped"] == {"bad_z_or_se": 3, "bad_n": 1}
    keep = ~df.index.isin([2, 5, 7, 11])
    assert out["SNP"].tolist() == df["SNP"][keep].tolist()
    np.testing.assert_allclose(out["Z"], (df["BETA"] / df["SE"])[keep].astype(float),
                               rtol=1e-12)


def test_empty_allele_or_position_in_a_tab_file(tmp_path):
    df = _table(10)[["SNP", "CHR", "BP", "A1", "A2", "Z", "N"]].astype({"A1": object,
                                                                        "BP": object})
    df.loc[3, "A1"] = np.nan
    df.loc[4, "SNP"] = ""
    df.loc[4, "BP"] = np.nan          # no identifier and no position: cannot be matched
    out = read_sumstats(_fwrite(df, tmp_path / "a.tsv"))
    assert out.attrs["dropped"] == {"missing_id_or_allele": 2}
    assert len(out) == 8 and (out["A1"] == "A").all()


def test_space_separated_files_read_as_before(tmp_path):
    # ldsc .sumstats written with spaces, and a PLINK 1.9-like right-aligned table with NA
    p = tmp_path / "ldsc.sumstats.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("SNP A1 A2 Z N\nrs1 A G 1.5 1000\nrs2 C T NA 1000\nrs3 C T -2 900\n")
    out = read_sumstats(p)
    assert out["SNP"].tolist() == ["rs1", "rs3"] and out.attrs["dropped"] == {"bad_z_or_se": 1}
    p = tmp_path / "aligned.txt"
    p.write_text("  SNP  A1  A2      BETA       SE      N\n"
                 "  rs1   A   G    0.0100   0.0050  10000\n"
                 "  rs2   C   T        NA   0.0050  10000\n"
                 "  rs3   C   T   -0.0200   0.0100  10000\n")
    out = read_sumstats(p)
    assert out["Z"].tolist() == [2.0, -2.0] and out.attrs["dropped"] == {"bad_z_or_se": 1}


def test_comma_separated_file_with_empty_fields(tmp_path):
    df = _table(12)[["SNP", "CHR", "BP", "A1", "A2", "BETA", "SE", "N"]]
    df.loc[[1, 4], "SE"] = np.nan
    p = tmp_path / "x.csv"
    df.to_csv(p, index=False)
    out = read_sumstats(p)
    assert out.attrs["dropped"] == {"bad_z_or_se": 2} and len(out) == 10


@pytest.mark.parametrize("text, message", [
    # a tab-separated header, and a row written with spaces
    ("SNP\tA1\tA2\tZ\tN\nrs1\tA\tG\t1.5\t1000\nrs2 C T 2.0 1000\nrs3\tC\tT\t1\t9\n",
     r"line 3 .*1 tab-separated field.*header has 5.*mixes tabs and spaces"),
    # a space-separated header whose rows leave a field empty between two tabs
    ("SNP A1 A2 Z N\nrs1 A G 1.5 1000\nrs2\tC\tT\t\t1000\n",
     r"line 3 .*4 fields.*header has 5.*separated by spaces but this line by tabs"),
    # a whitespace file cannot hold an empty field: a short row would read N from P's column
    ("SNP A1 A2 Z N P\nrs1 A G 1.5 1000 0.1\nrs2 A G 1000 0.01\n",
     r"line 3 .*5 fields.*header has 6.*truncated"),
    # a tab-separated row with a field too many
    ("SNP\tA1\tA2\tZ\tN\nrs1\tA\tG\t\t1.5\t1000\nrs2\tA\tG\t1.0\t1000\n",
     r"line 2 .*6 tab-separated fields.*header has 5"),
], ids=["tab-header-space-row", "space-header-tab-row", "short-row", "long-row"])
def test_a_line_with_another_field_count_is_refused_not_shifted(tmp_path, text, message):
    p = tmp_path / "x.txt"
    p.write_text(text)
    with pytest.raises(ValueError, match=message):
        read_sumstats(p)


def test_blank_lines_and_a_last_line_without_newline(tmp_path):
    p = tmp_path / "b.tsv"
    p.write_text("SNP\tA1\tA2\tZ\tN\r\nrs1\tA\tG\t\t1000\r\n\r\nrs2\tA\tG\t2\t1000")
    out = read_sumstats(p)
    assert out["SNP"].tolist() == ["rs2"] and out["Z"].tolist() == [2.0]
    assert out.attrs["dropped"] == {"bad_z_or_se": 1}
