"""Annotations: S-LDSC .annot files with the '@' chromosome placeholder, thin annotations with
their .bim, and BED files as binary annotations (ldsc make_annot's rule), on the shipped
baselineLD subset (999 real chr1 SNPs)."""
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.features import AnnotFeatures, BedAnnotations, read_bed

ANNOT = Path(deepwas.__file__).parent / "datasets" / "data" / "annotations" / \
    "baselineLD.subset.1.annot"


@pytest.fixture(scope="module")
def raw():
    return pd.read_csv(ANNOT, sep="\t")


@pytest.fixture(scope="module")
def per_chrom(raw, tmp_path_factory):
    """baselineLD.@.annot.gz: chr1 (the real rows) and a chr2 copy with other rsIDs, plus the
    thin versions and their .bim files."""
    d = tmp_path_factory.mktemp("annot")
    two = raw.assign(CHR=2, SNP=[f"rs2_{k}" for k in range(len(raw))])
    for c, tab in ((1, raw), (2, two)):
        tab.to_csv(d / f"baselineLD.{c}.annot.gz", sep="\t", index=False)
        tab.iloc[:, 4:].to_csv(d / f"thin.{c}.annot.gz", sep="\t", index=False)
        pd.DataFrame({0: tab.CHR, 1: tab.SNP, 2: 0, 3: tab.BP, 4: "A", 5: "G"}).to_csv(
            d / f"ref.{c}.bim", sep="\t", header=False, index=False)
    return d, two


def _variants(rows):
    return pd.DataFrame(rows, columns=["chrom", "pos", "snp", "a1", "a2", "freq"])


def test_at_placeholder_reads_only_the_chromosomes_needed(raw, per_chrom):
    d, two = per_chrom
    af = AnnotFeatures(str(d / "baselineLD.@.annot.gz"))
    assert af.d_pred == raw.shape[1] - 4 and af._loaded == {}
    pick = raw.iloc[[3, 500]]
    v1 = _variants([("1", b, s, "A", "G", 0.3) for b, s in zip(pick.BP, pick.SNP)])
    np.testing.assert_allclose(af.get(v1).pred, pick.iloc[:, 4:].to_numpy(dtype=np.float32))
    assert [Path(p).name for p in af._loaded] == ["baselineLD.1.annot.gz"]
    v = _variants([("2", two.BP[7], two.SNP[7], "A", "G", 0.3),
                   ("1", raw.BP[9], "rs_renamed", "A", "G", 0.3),      # found by position
                   ("3", 5, "rs3", "A", "G", 0.3)])                    # no file: zeros
    p = af.get(v).pred
    np.testing.assert_allclose(p[0], two.iloc[7, 4:].to_numpy(dtype=np.float32))
    np.testing.assert_allclose(p[1], raw.iloc[9, 4:].to_numpy(dtype=np.float32))
    assert np.all(p[2] == 0)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        AnnotFeatures(str(d / "nothing.@.annot.gz"))


def test_restrict_keeps_only_the_rows_of_the_data(raw, per_chrom):
    """found(restrict=True): the same values for the variants asked about, matched by rsID or
    by position, and only their rows kept in memory; other variants are then not found."""
    d, two = per_chrom
    af = AnnotFeatures(str(d / "baselineLD.@.annot.gz"))
    full = AnnotFeatures(str(d / "baselineLD.@.annot.gz"))
    v = _variants([("1", raw.BP[k], raw.SNP[k], "A", "G", 0.3) for k in (900, 4, 250)]
                  + [("1", raw.BP[600], "rs_renamed", "A", "G", 0.3),    # by position
                     ("2", two.BP[7], two.SNP[7], "A", "G", 0.3),
                     ("3", 5, "rs3", "A", "G", 0.3)])
    assert list(af.found(v, restrict=True)) == [True] * 5 + [False]
    np.testing.assert_array_equal(af.get(v).pred, full.get(v).pred)
    assert sorted(len(vals) for _, _, vals in af._loaded.values()) == [1, 4]
    other = _variants([("1", raw.BP[5], raw.SNP[5], "A", "G", 0.3)])
    assert not af.found(other)[0] and full.found(other)[0]
    # a file none of whose rows is asked about keeps none
    none = AnnotFeatures(str(d / "baselineLD.@.annot.gz"))
    assert not none.found(_variants([("1", 5, "rs_none", "A", "G", 0.3)]), restrict=True)[0]
    assert [len(vals) for _, _, vals in none._loaded.values()] == [0]


def test_thin_annotations_follow_their_bim(raw, per_chrom):
    d, two = per_chrom
    full = AnnotFeatures(str(d / "baselineLD.@.annot.gz"))
    thin = AnnotFeatures(str(d / "thin.@.annot.gz"), bim=str(d / "ref.@.bim"))
    v = _variants([("1", b, s, "A", "G", 0.3) for b, s in zip(raw.BP[::97], raw.SNP[::97])]
                  + [("2", b, s, "A", "G", 0.3) for b, s in zip(two.BP[::113], two.SNP[::113])])
    np.testing.assert_array_equal(thin.get(v).pred, full.get(v).pred)
    assert thin.pred_names == full.pred_names
    with pytest.raises(ValueError, match="thin annotation file.*bim="):
        AnnotFeatures(str(d / "thin.@.annot.gz")).get(v)
    short = d / "short.1.bim"
    pd.read_csv(d / "ref.1.bim", sep="\t", header=None).head(10).to_csv(
        short, sep="\t", header=None, index=False)
    with pytest.raises(ValueError, match="follow the .bim row by row"):
        AnnotFeatures(str(d / "thin.1.annot.gz"), bim=str(short)).get(v)


def test_bed_files_as_binary_annotations(raw, tmp_path):
    bp = raw.BP.to_numpy()
    # intervals (0-based, half-open) around some real SNPs, with the edge cases of the rule
    # "variant at 1-based p is inside [start, end) when start <= p - 1 < end"
    iv = [(bp[10] - 1, bp[10]),          # exactly the SNP: inside
          (bp[20], bp[20] + 50),         # starts at p (0-based): outside
          (bp[30] - 100, bp[30] - 1),    # ends at p - 1: outside
          (bp[40] - 5, bp[45] + 5)]      # a range covering SNPs 40..45
    text = "track name=test\n" + "".join(f"chr1\t{s}\t{e}\tpeak{k}\n"
                                         for k, (s, e) in enumerate(iv))
    bed = tmp_path / "peaks.bed.gz"
    with gzip.open(bed, "wt") as fh:
        fh.write(text)
    v = _variants([("1", b, s, "A", "G", 0.3) for b, s in zip(raw.BP, raw.SNP)])
    ba = BedAnnotations([str(bed)])
    assert ba.pred_names == ["peaks"] and ba.d_pred == 1
    got = ba.get(v).pred[:, 0]
    expect = np.zeros(len(bp), dtype=np.float32)
    for s, e in iv:
        expect[(bp - 1 >= s) & (bp - 1 < e)] = 1
    np.testing.assert_array_equal(got, expect)
    assert got[10] == 1 and got[20] == 0 and got[30] == 0 and got[40:46].all()
    # widened by ldsc's --windowsize: SNPs 20 and 30 now inside
    wide = BedAnnotations([str(bed)], names=["w"], window_bp=100).get(v).pred[:, 0]
    assert wide[20] == 1 and wide[30] == 1 and wide.sum() >= got.sum()
    merged = read_bed(str(bed))
    assert list(merged.columns) == ["chrom", "start", "end"] and set(merged.chrom) == {"1"}
    (tmp_path / "bad.bed").write_text("chr1\tx\t10\n")
    with pytest.raises(ValueError, match="not a BED file"):
        read_bed(str(tmp_path / "bad.bed"))


def test_an_rsid_listed_twice_is_warned_with_examples(raw, tmp_path):
    df = raw.iloc[:20]
    path = tmp_path / "dup.annot"
    pd.concat([df, df.iloc[[2, 5]]]).to_csv(path, sep="\t", index=False)
    with pytest.warns(UserWarning, match=f"dup.annot: 2 SNPs listed more than once \\(e.g. "
                                         f"{df.SNP.iat[2]}, {df.SNP.iat[5]}\\): the first row"):
        AnnotFeatures(str(path))
