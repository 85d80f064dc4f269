"""deepwas fit --annot-features: S-LDSC .annot and BED files as the prior's predictors, on a
small real data set (one 1000 Genomes region, chr15, 1,551 variants; with the LD declared
in-sample the default windows are the LD blocks detected in the panel, 3, one window each).

The statistics are drawn through the panel's LD, block by block, with a truth on a binary
annotation A (30 % of the variants, true enrichment 2.71) and declared in-sample; the CLI's
GLM must recover A's enrichment from an .annot file, agree with the same fit in Python, read
the file by SNP (not by row), carry the files over to later commands, and say so when the
files miss the variants. About a minute.
"""
import json

import numpy as np
import pandas as pd
import pytest

from deepwas import FunctionalPrior, SummaryStats
from deepwas.cli import main
from deepwas.datasets import demo_bfiles
from deepwas.features import AnnotFeatures, ArrayFeatures, BasicPredictors, FeatureSet
from deepwas.ld import read_plink_reference
from deepwas.simulate import semi_synthetic

N = 300_000
H2 = 0.05


def _annot_table(v, a):
    return pd.DataFrame({"CHR": v["chrom"], "BP": v["pos"], "SNP": v["snp"], "CM": 0.0,
                         "A": a.astype(int)})


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("annot_features")
    bfiles = demo_bfiles([15])
    source = read_plink_reference(bfiles)
    ref = source.variants
    a = np.random.default_rng(0).random(len(ref)) < 0.3
    table = pd.DataFrame({"SNP": ref["snp"], "A1": ref["a1"], "A2": ref["a2"], "Z": 0.0,
                          "N": N})
    stats = SummaryStats.from_ld_source(source, table, n=N, keep_ambiguous=True,
                                        features=ArrayFeatures(pred=a[:, None].astype(float)))
    # truth "glm" on the one predictor A: seed 0 gives A 2.71 times the mean variance
    sim, f_true = semi_synthetic(stats, truth="glm", h2=H2, n=N, random_state=0)
    v = sim.variants
    a = a[v["row"].to_numpy()] if "row" in v else a
    enrichment = f_true[a].mean() / f_true.mean()
    assert enrichment == pytest.approx(2.71, abs=0.01)
    ss = tmp / "sim.tsv"
    pd.DataFrame({"SNP": v["snp"], "CHR": v["chrom"], "BP": v["pos"], "A1": v["a1"],
                  "A2": v["a2"], "FREQ": v["freq"], "Z": v["beta_hat"] * np.sqrt(N),
                  "N": N}).to_csv(ss, sep="\t", index=False)
    # the .annot file in shuffled row order: it must be joined by SNP
    annot = _annot_table(v, a).sample(frac=1.0, random_state=1)
    annot.to_csv(tmp / "toy.15.annot.gz", sep="\t", index=False)
    data = ["--bfile", *bfiles, "--sumstats", str(ss), "--sigma2", str(1 - H2),
            "--keep-ambiguous", "--ld-in-sample", "--cache-dir", str(tmp / "cache")]
    model = str(tmp / "model")
    pattern = str(tmp / "toy.@.annot.gz")
    assert main(["fit", *data, "--model", "glm", "--annot-features", pattern, "-q",
                 "--out", model]) == 0
    return dict(tmp=tmp, data=data, model=model, pattern=pattern, a=a, v=v,
                enrichment=enrichment, bfiles=bfiles, ss=str(ss))


def test_fit_recovers_the_annotation_and_saves_its_files(toy, tmp_path, capsys):
    cfg = json.load(open(f"{toy['model']}/model.json"))
    spec = cfg["features"]
    assert spec["annot"] == dict(paths=[toy["pattern"]], bim=None, bed_window=0)
    assert spec["pred_names"] == ["freq", "maf", "A"] and cfg["fitted"]["n_pred"] == 3
    # the h2 table of the model's own features (no --annot): the files of the fit, read again
    prefix = str(tmp_path / "h2")
    assert main(["h2", "--model", toy["model"], *toy["data"], "--out", prefix]) == 0
    res = pd.read_csv(prefix + ".results", sep="\t").set_index("Category")
    # the fitted prior's enrichment of A, 2.74 (SE 0.10) for the truth's 2.71: within 10 %
    assert res.loc["A", "Enrichment"] == pytest.approx(toy["enrichment"], rel=0.1)
    h2 = float(open(prefix + ".log").read().split("Total Observed scale h2: ")[1].split()[0])
    assert h2 == pytest.approx(H2, rel=0.25)        # 0.056 (SE 0.005)
    assert "1551 of 1551 variants found" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore:1 feature dropped before the fit")
def test_cli_fit_is_the_python_fit(toy, tmp_path):
    from deepwas import load_model

    out = str(tmp_path / "f.tsv")
    assert main(["predict", "--model", toy["model"], *toy["data"], "--out", out]) == 0
    cli = pd.read_csv(out, sep="\t").set_index("SNP")
    sumstats = pd.read_csv(toy["ss"], sep="\t")
    feats = FeatureSet([BasicPredictors(), AnnotFeatures(toy["pattern"])])
    stats = SummaryStats.from_plink(toy["bfiles"], sumstats, features=feats, sigma2=1 - H2,
                                    keep_ambiguous=True, ld_in_sample=True)
    est = FunctionalPrior(model="glm").fit(stats)
    f = pd.Series(est.predict_f(stats), index=stats.variants["snp"].to_numpy())
    np.testing.assert_allclose(cli.loc[f.index, "F"], f, rtol=1e-5)
    # and the saved model, loaded in Python, predicts the same on the same features
    saved, _ = load_model(toy["model"])
    np.testing.assert_allclose(saved.predict_f(stats), f, rtol=1e-6)


def test_bed_file_as_a_predictor(toy, tmp_path, capsys):
    """A BED file is one 0/1 predictor named by the file; one that marks no variant warns."""
    v = toy["v"]
    lo, hi = int(v["pos"].iloc[200]), int(v["pos"].iloc[900])
    (tmp_path / "region.bed").write_text(f"chr15\t{lo - 1}\t{hi}\n")
    (tmp_path / "elsewhere.bed").write_text("chr2\t0\t1000000\n")
    (tmp_path / "everywhere.bed").write_text("chr15\t0\t100000000\n")
    model = str(tmp_path / "m")
    assert main(["fit", *toy["data"], "--model", "glm", "--max-iter", "20", "--annot-features",
                 str(tmp_path / "region.bed"), str(tmp_path / "elsewhere.bed"),
                 str(tmp_path / "everywhere.bed"), "-q", "--out", model]) == 0
    err = capsys.readouterr().err
    assert "BED file elsewhere marks none of the 1551 variants" in err
    assert "BED file everywhere marks all of the 1551 variants" in err
    assert "region marks" not in err
    cfg = json.load(open(f"{model}/model.json"))
    assert cfg["features"]["pred_names"] == ["freq", "maf", "region", "elsewhere", "everywhere"]
    dropped = cfg["fitted"]["dropped_features"]
    assert dropped["elsewhere"] == dropped["everywhere"] == "constant" and "region" not in dropped


def test_files_that_miss_the_variants(toy, tmp_path, capsys):
    v, a = toy["v"], toy["a"]
    # none of the variants: another naming and another build -> an error, not a zero column
    t = _annot_table(v, a)
    t["SNP"] = "x" + t["SNP"]
    t["BP"] += 10**9
    t.to_csv(tmp_path / "other.15.annot", sep="\t", index=False)
    rc = main(["fit", *toy["data"], "--model", "glm", "--annot-features",
               str(tmp_path / "other.@.annot"), "-q", "--out", str(tmp_path / "m0")])
    assert rc == 2
    assert "none of the 1551 variants is in" in capsys.readouterr().err
    # half of them: fitted, with a warning that names the share
    _annot_table(v, a).iloc[::2].to_csv(tmp_path / "half.15.annot", sep="\t", index=False)
    assert main(["fit", *toy["data"], "--model", "glm", "--max-iter", "5", "--annot-features",
                 str(tmp_path / "half.@.annot"), "-q", "--out", str(tmp_path / "m1")]) == 0
    assert "776 of 1551 variants found" in capsys.readouterr().err
    # a file that does not exist, and one whose columns repeat another's
    rc = main(["fit", *toy["data"], "--model", "glm", "--annot-features",
               str(tmp_path / "nope.annot"), "-q", "--out", str(tmp_path / "m2")])
    assert rc == 2 and "annotation file (--annot-features) not found" in capsys.readouterr().err
    t = _annot_table(v, a)
    t.to_csv(tmp_path / "copy.annot", sep="\t", index=False)
    clash = t.rename(columns={"A": "B"}).assign(A=0)
    clash.to_csv(tmp_path / "clash.annot", sep="\t", index=False)
    rc = main(["fit", *toy["data"], "--model", "glm", "--annot-features",
               str(tmp_path / "copy.annot"), str(tmp_path / "clash.annot"), "-q",
               "--out", str(tmp_path / "m3")])
    assert rc == 2 and "names unique across the files" in capsys.readouterr().err


def test_later_commands_need_the_training_annotations(toy, tmp_path, capsys):
    t = _annot_table(toy["v"], toy["a"]).rename(columns={"A": "B"})
    t.to_csv(tmp_path / "b.annot", sep="\t", index=False)
    rc = main(["score", "--model", toy["model"], *toy["data"], "--annot-features",
               str(tmp_path / "b.annot"), "--out", str(tmp_path / "s")])
    assert rc == 2
    assert "trained on the scalar predictors freq, maf, A; the features given make freq, " \
           "maf, B" in capsys.readouterr().err


def test_identity_link_is_sldsc_model(toy, tmp_path, capsys):
    """--link identity with the annotations alone: S-LDSC's f = tau_0 + tau_A A, whose
    coefficients are the h2 table's (A's tau: the h2 per SNP it adds) and the Python fit's."""
    from deepwas import GLMPrior, load_model

    model = str(tmp_path / "ident")
    assert main(["fit", *toy["data"], "--model", "glm", "--link", "identity",
                 "--no-freq-predictors", "--annot-features", toy["pattern"], "-q",
                 "--out", model]) == 0
    cfg = json.load(open(f"{model}/model.json"))
    assert cfg["params"]["model_params"] == {"link": "identity"}
    prefix = str(tmp_path / "h2")
    assert main(["h2", "--model", model, *toy["data"], "--out", prefix]) == 0
    res = pd.read_csv(prefix + ".results", sep="\t").set_index("Category")
    est, _ = load_model(model)
    sumstats = pd.read_csv(toy["ss"], sep="\t")
    stats = SummaryStats.from_plink(toy["bfiles"], sumstats, sigma2=1 - H2,
                                    features=AnnotFeatures(toy["pattern"]),
                                    keep_ambiguous=True, ld_in_sample=True)
    f = est.predict_f(stats)
    a = stats.get_features().pred[:, 0] == 1
    # f takes two values, tau_0 and tau_0 + tau_A: no frequency term
    assert np.ptp(f[a]) < 1e-12 and np.ptp(f[~a]) < 1e-12
    tau = f[a][0] - f[~a][0]
    assert tau > 0 and res.loc["A", "Coefficient"] == pytest.approx(tau, rel=1e-4)
    # the same fit in Python
    py = GLMPrior(model_params={"link": "identity"}).fit(stats)
    np.testing.assert_allclose(f, py.predict_f(stats), rtol=1e-5)
    assert res.loc["A", "Enrichment"] == pytest.approx(toy["enrichment"], rel=0.15)
    rc = main(["fit", *toy["data"], "--model", "constant", "--link", "identity", "-q",
               "--out", str(tmp_path / "c")])
    assert rc == 2 and "--link identity is for --model glm" in capsys.readouterr().err


def test_coverage_line_only_from_rank_0(toy, monkeypatch, capsys):
    """Under torchrun only rank 0 prints the coverage line (the others would repeat it)."""
    from deepwas.cli._data import check_annotation_coverage

    v = toy["v"]
    for rank, shown in (("0", True), ("1", False)):
        monkeypatch.setenv("RANK", rank)
        feats = AnnotFeatures(str(toy["tmp"] / "toy.@.annot.gz"))
        check_annotation_coverage(feats, v)
        assert ("1551 of 1551 variants found" in capsys.readouterr().out) == shown


def test_simulate_on_annotation_files(toy, tmp_path, capsys):
    """deepwas simulate --annot-features draws the truth on the annotations and prints each
    one's true enrichment (checked against F_TRUE and the file: the S-LDSC definition); the
    statistics fitted with the same files recover it (declared in-sample, as the simulation's
    note says). The threshold truth on a 0/1 annotation of 30 % of the variants would mark
    none of them: an error, not a constant truth."""
    bfiles, pattern = toy["bfiles"], toy["pattern"]
    out = str(tmp_path / "sim.tsv")
    assert main(["simulate", "--bfile", *bfiles, "--annot-features", pattern,
                 "--no-freq-predictors", "--h2", "0.05", "--n", str(N), "--seed", "0",
                 "--out", out]) == 0
    printed = capsys.readouterr().out
    assert "1551 of 1551 variants found" in printed
    sim = pd.read_csv(out, sep="\t")
    meta = json.load(open(str(tmp_path / "sim.json")))
    ann = pd.read_csv(pattern.replace("@", "15"), sep="\t").set_index("SNP")["A"]
    a = ann.reindex(sim["SNP"]).to_numpy(dtype=float)
    f = sim["F_TRUE"].to_numpy()
    want = (f[a == 1].sum() / f.sum()) / a.mean()
    # (the TSV keeps F_TRUE to about 8 digits)
    assert meta["true_enrichment"]["A"] == pytest.approx(want, rel=1e-6)
    assert f"true enrichment of A: {want:.4g}" in printed
    assert meta["annot"]["paths"] == [pattern]
    model = str(tmp_path / "model")
    assert main(["fit", "--bfile", *bfiles, "--sumstats", out, "--sigma2", str(1 - 0.05),
                 "--keep-ambiguous", "--ld-in-sample", "--model", "glm",
                 "--no-freq-predictors", "--annot-features", pattern, "-q",
                 "--out", model]) == 0
    assert main(["h2", "--model", model, "--bfile", *bfiles, "--sumstats", out,
                 "--keep-ambiguous", "--ld-in-sample", "--out",
                 str(tmp_path / "h2")]) == 0
    got = pd.read_csv(str(tmp_path / "h2.results"), sep="\t").set_index("Category")
    with capsys.disabled():
        print("simulate -> fit: enrichment", got.loc["A", "Enrichment"], "truth", want,
              "SE", got.loc["A", "Enrichment_std_error"])
    assert abs(got.loc["A", "Enrichment"] - want) < 3 * got.loc["A", "Enrichment_std_error"]
    rc = main(["simulate", "--bfile", *bfiles, "--annot-features", pattern,
               "--no-freq-predictors", "--truth", "threshold", "--out",
               str(tmp_path / "t.tsv")])
    assert rc == 2 and "marks no variant" in capsys.readouterr().err
