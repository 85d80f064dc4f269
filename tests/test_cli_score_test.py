"""deepwas score-test on the small real data set of test_cli_results (one 1000 Genomes region,
chr15, 4 windows of 300 kb, a GLM prior on the frequency predictors): the table, the log, BED
candidates, too-few-variant candidates, and the same numbers as the Python method."""
import numpy as np
import pandas as pd
import pytest

from deepwas.cli import main
from deepwas.score_test import SCORE_COLUMNS

from test_cli_results import small  # noqa: F401  (the module's fixture: simulate -> fit)


def test_score_test_table_log_and_python(small, tmp_path, capsys):  # noqa: F811
    import deepwas
    from deepwas import load_model
    from deepwas.datasets import demo_bfiles
    from deepwas.features import BasicPredictors

    sim = small["sim"]
    bed = tmp_path / "region.bed"
    bed.write_text("chr15\t20000000\t20400000\n")
    prefix = str(tmp_path / "st" / "toy")
    assert main(["score-test", "--model", small["model"], *small["data"], "--annot",
                 small["annot"], str(bed), "--n-blocks", "4", "--min-variants", "100",
                 "--out", prefix]) == 0
    assert "score test of 4 candidate annotations" in capsys.readouterr().out
    tab = pd.read_csv(prefix + ".score.tsv", sep="\t", keep_default_na=False,
                      na_values=["NA"])
    assert list(tab.columns) == SCORE_COLUMNS
    t = tab.set_index("Category")
    assert list(t.index) == ["A", "B", "ZERO", "region"]
    assert t.loc["ZERO", "status"] == "too few variants" and t.loc["ZERO", "n_variants"] == 0
    assert (t.loc[["A", "B", "region"], "status"] == "tested").all()
    assert t.loc["region", "n_variants"] == int(((sim.BP - 1 >= 20_000_000)
                                                 & (sim.BP - 1 < 20_400_000)).sum())
    log = open(prefix + ".log").read()
    for word in ("model:", "data:", "conditional on: network.", "jackknife: 4 blocks of windows",
                 "significant after Bonferroni"):
        assert word in log
    est, _ = load_model(small["model"])
    stats = deepwas.SummaryStats.from_plink(demo_bfiles([15]), small["ss"], sigma2=0.98,
                                            keep_ambiguous=True, window_bp=300_000,
                                            flank_bp=200_000, features=BasicPredictors(),
                                            ld_blocks="none")
    py = est.score_test(stats, [small["annot"], str(bed)], n_blocks=4, min_variants=100)
    np.testing.assert_allclose(tab[["score", "score_std_error", "z", "p"]].to_numpy(float),
                               py[["score", "score_std_error", "z", "p"]].to_numpy(float),
                               rtol=1e-5)


def test_h2_marks_model_derived_rows_and_points_to_score_test(small, tmp_path,  # noqa: F811
                                                              capsys):
    prefix = str(tmp_path / "h2")
    assert main(["h2", "--model", small["model"], *small["data"], "--annot", small["annot"],
                 "--jackknife", "none", "--out", prefix]) == 0
    err = capsys.readouterr().err
    res = pd.read_csv(prefix + ".results", sep="\t").set_index("Category")
    assert res.loc[["A", "B"], "model_derived"].all()
    assert "model-derived rows (A, B" in err and "deepwas score-test" in err
    assert "deepwas score-test" in open(prefix + ".log").read()


@pytest.mark.parametrize("option, value", [("--n-blocks", "x"), ("--n-blocks", "0"),
                                           ("--n-blocks", "-3"), ("--min-variants", "0"),
                                           ("--min-variants", "2.5")])
def test_score_test_rejects_non_positive_counts(option, value, tmp_path, capsys):
    # argparse refuses the value before any model or data is read (as the other commands)
    with pytest.raises(SystemExit) as e:
        main(["score-test", "--model", str(tmp_path), "--ldgm", "m.csv", "--sumstats", "x.tsv",
              "--annot", "a.annot", "--out", str(tmp_path / "o"), option, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert option in err and "expected a positive whole number" in err
