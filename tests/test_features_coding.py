"""CodingScores, AnnotFeatures and BasicPredictors."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.features import AnnotFeatures, BasicPredictors, CodingScores, FeatureSet

DATA = Path(deepwas.__file__).parent / "datasets" / "data"
ANNOT = DATA / "annotations" / "baselineLD.subset.1.annot"


def _variants(rows):
    df = pd.DataFrame(rows, columns=["chrom", "pos", "snp", "a1", "a2", "freq"])
    df["row"] = np.arange(len(df))
    return df


@pytest.fixture()
def dbnsfp(tmp_path):
    # dbNSFP layout: '#chr', 'pos(1-based)', ref, alt, rs_dbSNP, *_score columns, '.' = missing,
    # ';' between per-transcript values
    text = ("#chr\tpos(1-based)\tref\talt\trs_dbSNP\tESM1b_score\tGERP++_RS\tSIFT_score\t"
            "PROVEAN_score\tFATHMM_score\tEVE_score\n"
            "22\t20000428\tG\tT\trs55902548\t-3.5\t4.1\t0.01;0.03\t-2.5\t.\t0.7\n"
            "22\t20000793\tT\tC\t.\t-1.0\t2.0\t.\t-1.0\t1.2\t.\n"
            "1\t500\tA\tC\trs999\t1\t1\t1\t1\t1\t1\n")
    p = tmp_path / "dbnsfp.tsv.gz"
    import gzip
    with gzip.open(p, "wt") as fh:
        fh.write(text)
    return p


def test_coding_scores_alignment_rule(dbnsfp):
    cs = CodingScores(dbnsfp)
    assert cs.pred_names == ["ESM1b", "GERP++_RS", "SIFT", "PROVEAN", "FATHMM", "EVE"]
    v = _variants([
        ("22", 20000428, "rs55902548", "T", "G", 0.1),   # alleles in bim order (a1=alt)
        ("chr22", 20000793, "x", "T", "C", 0.2),          # swapped alleles, unknown rsID
        ("22", 20000793, "y", "T", "A", 0.2),             # different substitution -> no match
        ("7", 1, "rs999", "G", "T", 0.5),                  # matched by rsID
        ("22", 123, "rs0", "A", "G", 0.5),                 # absent -> zeros
    ])
    p = cs.get(v).pred
    np.testing.assert_allclose(p[0], [-3.5, 4.1, 0.02, -2.5, 0, 0.7], rtol=1e-6)
    np.testing.assert_allclose(p[1], [-1.0, 2.0, 0, -1.0, 1.2, 0], rtol=1e-6)
    assert np.all(p[2] == 0) and np.all(p[4] == 0)
    np.testing.assert_allclose(p[3], 1.0)


def test_coding_scores_missing_column(dbnsfp):
    with pytest.raises(ValueError, match="CADD"):
        CodingScores(dbnsfp, columns=("CADD",))
    with pytest.raises(FileNotFoundError):
        CodingScores(dbnsfp.parent / "nope.tsv")


def test_annot_features_real_baselineld():
    raw = pd.read_csv(ANNOT, sep="\t")
    af = AnnotFeatures(ANNOT)
    assert af.d_pred == raw.shape[1] - 4
    assert af.pred_names[:2] == ["base", "Coding_UCSC"]
    pick = raw.iloc[[5, 400, 998]]
    v = _variants([("1", b, s, "A", "G", 0.3) for b, s in zip(pick["BP"], pick["SNP"])]
                  + [("1", 1, "rs_not_there", "A", "G", 0.3)])
    p = af.get(v).pred
    np.testing.assert_allclose(p[:3], pick.iloc[:, 4:].to_numpy(dtype=np.float32))
    assert np.all(p[3] == 0)
    sub = AnnotFeatures([ANNOT], columns=["Coding_UCSC", "CTCF_Hoffman"]).get(v).pred
    np.testing.assert_allclose(sub[:3], pick[["Coding_UCSC", "CTCF_Hoffman"]].to_numpy())


def test_basic_predictors_and_featureset(dbnsfp):
    v = _variants([("22", 20000428, "rs55902548", "T", "G", 0.9), ("1", 5, "a", "A", "G", 0.2)])
    p = BasicPredictors().get(v).pred
    np.testing.assert_allclose(p, [[0.9, 0.1], [0.2, 0.2]], rtol=1e-6)
    fs = FeatureSet([BasicPredictors(), CodingScores(dbnsfp)])
    out = fs.get(v)
    assert out.pred.shape == (2, 8) and fs.pred_names[:3] == ["freq", "maf", "ESM1b"]
    with pytest.raises(ValueError, match="frequency"):
        BasicPredictors().get(v.assign(freq=[0.5, np.nan]))
