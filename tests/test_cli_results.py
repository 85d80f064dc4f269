"""deepwas predict --out-format polyfun, deepwas posterior and deepwas h2 on a small real data
set (one 1000 Genomes region, chr15, 4 windows of 300 kb; a GLM prior on the frequency
predictors, 10 L-BFGS iterations): kept to ~30 s."""
import numpy as np
import pandas as pd
import pytest

from deepwas.cli import main
from deepwas.datasets import demo_bfiles

WINDOWS = ["--window-bp", "300000", "--flank-bp", "200000", "--ld-blocks", "none"]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """simulate -> fit (GLM, frequency predictors) on chr15, plus an S-LDSC .annot file."""
    tmp = tmp_path_factory.mktemp("cli_results")
    bfiles = demo_bfiles([15])
    ss = str(tmp / "sim.tsv.gz")
    assert main(["simulate", "--bfile", *bfiles, *WINDOWS, "--h2", "0.02", "--n", "300000",
                 "--seed", "2", "-q", "--out", ss]) == 0
    data = ["--bfile", *bfiles, "--sumstats", ss, "--sigma2", "0.98", "--keep-ambiguous",
            *WINDOWS, "--cache-dir", str(tmp / "cache")]
    model = str(tmp / "model")
    assert main(["fit", *data, "--model", "glm", "--max-iter", "10", "-q", "--out", model]) == 0
    sim = pd.read_csv(ss, sep="\t")
    rng = np.random.default_rng(0)
    annot = pd.DataFrame({"CHR": sim.CHR, "BP": sim.BP, "SNP": sim.SNP, "CM": 0.0,
                          "A": (rng.random(len(sim)) < 0.3).astype(int),
                          "B": rng.normal(size=len(sim)),
                          "ZERO": 0})
    annot_path = str(tmp / "toy.15.annot.gz")
    annot.to_csv(annot_path, sep="\t", index=False)
    return dict(tmp=tmp, data=data, model=model, ss=ss, sim=sim, annot=annot_path)


def test_predict_polyfun_reads_back_as_finemapper_expects(small, tmp_path):
    prefix = str(tmp_path / "pf" / "prior")
    assert main(["predict", "--model", small["model"], *small["data"], "--out-format",
                 "polyfun", "--out", prefix]) == 0
    path = tmp_path / "pf" / "prior.15.snpvar.gz"
    # PolyFun's finemapper: pd.read_parquet, else pd.read_table(sep='\s+'); then CHR == --chr
    # (an int), BP.astype(int), A1/A2 compared as strings, Z and SNPVAR as floats
    df = pd.read_table(path, sep=r"\s+")
    assert list(df.columns[:8]) == ["CHR", "SNP", "BP", "A1", "A2", "SNPVAR", "Z", "N"]
    assert df.CHR.dtype == np.int64 and df.BP.dtype == np.int64
    assert df.SNPVAR.dtype == np.float64 and df.Z.dtype == np.float64
    assert df.A1.map(type).eq(str).all() and df.A2.map(type).eq(str).all()
    assert np.all(df.CHR == 15) and len(df) == 1551 and np.all(np.diff(df.BP) >= 0)
    assert np.all(df.SNPVAR > 0)
    # SNPVAR is f (sum = the model's h2 of these variants); Z the statistics' own z
    f = pd.read_csv(small["ss"], sep="\t").set_index("SNP")
    z = f.loc[df.SNP, "Z"].to_numpy()
    np.testing.assert_allclose(np.abs(df.Z), np.abs(z), rtol=1e-5)
    np.testing.assert_allclose(df.N, 300000)
    # the TSV of plain predict has the same f
    tsv = str(tmp_path / "f.tsv")
    assert main(["predict", "--model", small["model"], *small["data"], "--out", tsv]) == 0
    ref = pd.read_csv(tsv, sep="\t").set_index("SNP").loc[df.SNP]
    np.testing.assert_allclose(df.SNPVAR, ref.F, rtol=1e-5)
    # parquet: the same table with the same types
    pytest.importorskip("pyarrow")
    assert main(["predict", "--model", small["model"], *small["data"], "--out-format",
                 "polyfun", "--out", str(tmp_path / "pq" / "prior.parquet")]) == 0
    pq = pd.read_parquet(tmp_path / "pq" / "prior.15.snpvar.parquet")
    assert pq.CHR.dtype == np.int64 and pq.BP.dtype == np.int64
    np.testing.assert_allclose(pq.SNPVAR, df.SNPVAR, rtol=1e-5)


def test_posterior_weights(small, tmp_path):
    from deepwas import load_model

    out = str(tmp_path / "w.tsv")
    assert main(["posterior", "--model", small["model"], *small["data"], "--out", out]) == 0
    w = pd.read_csv(out, sep="\t")
    assert list(w.columns[:3]) == ["SNP", "A1", "BETA"]
    assert len(w) == 1551 and np.all(np.isfinite(w.BETA))
    std = str(tmp_path / "s.tsv")
    assert main(["posterior", "--model", small["model"], *small["data"], "--scale",
                 "standardised", "--out", std]) == 0
    s = pd.read_csv(std, sep="\t").set_index("SNP").loc[w.SNP]
    # allelic = standardised / sqrt(2 p (1 - p)), p the frequency of A1
    sim = small["sim"].set_index("SNP").loc[w.SNP]
    p = np.where(sim.A1.to_numpy() == w.A1.to_numpy(), sim.FREQ, 1 - sim.FREQ)
    np.testing.assert_allclose(w.BETA, s.BETA / np.sqrt(2 * p * (1 - p)), rtol=1e-4)
    # and the standardised values are est.posterior_mean of the same data
    from deepwas.cli import build_parser
    from deepwas.cli._data import load_stats, model_features

    args = build_parser().parse_args(["posterior", "--model", small["model"], *small["data"],
                                      "--out", std])
    est, cfg = load_model(small["model"])
    stats = load_stats(args, features=model_features(args, cfg))
    beta = pd.Series(est.posterior_mean(stats), index=stats.variants.snp.astype(str))
    np.testing.assert_allclose(s.BETA, beta.loc[w.SNP], rtol=1e-4, atol=1e-12)


def test_h2_results_log_and_plot(small, tmp_path, capsys):
    prefix = str(tmp_path / "h2" / "toy")
    assert main(["h2", "--model", small["model"], *small["data"], "--annot", small["annot"],
                 "--out", prefix]) == 0
    printed = capsys.readouterr()
    err = printed.err
    assert "'ZERO' is 0 on every variant" in err and "jackknife blocks of contiguous" in err
    res = pd.read_csv(prefix + ".results", sep="\t")
    assert list(res.columns[:10]) == ["Category", "Prop._SNPs", "Prop._h2",
                                      "Prop._h2_std_error", "Enrichment",
                                      "Enrichment_std_error", "Enrichment_p", "Coefficient",
                                      "Coefficient_std_error", "Coefficient_z-score"]
    assert list(res.Category) == ["A", "B", "ZERO"]
    a = res.set_index("Category")
    assert 0 <= a.loc["A", "Prop._h2"] <= 1 and a.loc["A", "Prop._h2_std_error"] > 0
    assert np.isfinite(a.loc["A", "Enrichment"]) and np.isnan(a.loc["ZERO", "Enrichment"])
    log = open(prefix + ".log").read()
    for word in ("model:", "data:", "drop counts:", "Total Observed scale h2:", "jackknife:"):
        assert word in log, word
    h2 = float(log.split("Total Observed scale h2: ")[1].split()[0])
    assert 0 < h2 < 0.2
    # the interval printed is the table's (t quantile), in the .log and on stdout
    lo, hi = (float(x) for x in log.split("95 % interval of h2: [")[1].split("]")[0].split(","))
    assert lo < h2 < hi and "degrees of freedom" in log
    assert f"95 % interval [{lo:.4g}, {hi:.4g}]" in printed.out
    half = a.loc["A", "Enrichment_ci95_upper"] - a.loc["A", "Enrichment"]
    assert half > 1.96 * a.loc["A", "Enrichment_std_error"]
    assert a.loc["A", "Enrichment"] - a.loc["A", "Enrichment_ci95_lower"] == pytest.approx(half)
    png = open(prefix + ".enrichment.png", "rb").read()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_h2_bed_annotations_one_column_per_file(small, tmp_path, capsys):
    """--annot with BED files: one 0/1 column per file, named by it, the same table as the
    .annot file of those columns."""
    sim = small["sim"]
    beds, cols = [], {}
    for name, (lo, hi) in {"first": (20_000_000, 20_300_000),
                           "second": (20_250_000, 20_600_000)}.items():
        path = tmp_path / f"{name}.bed"
        path.write_text(f"chr15\t{lo}\t{hi}\n")
        beds.append(str(path))
        cols[name] = ((sim.BP - 1 >= lo) & (sim.BP - 1 < hi)).astype(int)
    annot = tmp_path / "same.annot"
    pd.DataFrame({"CHR": sim.CHR, "BP": sim.BP, "SNP": sim.SNP, "CM": 0.0, **cols}).to_csv(
        annot, sep="\t", index=False)
    out = {}
    for label, files in (("bed", beds), ("annot", [str(annot)])):
        prefix = str(tmp_path / label)
        assert main(["h2", "--model", small["model"], *small["data"], "--annot", *files,
                     "--out", prefix]) == 0
        out[label] = pd.read_csv(prefix + ".results", sep="\t")
    capsys.readouterr()
    assert list(out["bed"].Category) == ["first", "second"]
    assert 0 < out["bed"]["Prop._SNPs"][0] < 1
    pd.testing.assert_frame_equal(out["bed"], out["annot"])


def test_h2_on_one_window_matches_python(small, tmp_path, capsys):
    """One window (the whole region, as one LDGM block is): SEs from blocks of contiguous
    variants, the same table as partitioned_h2 from Python."""
    import deepwas
    from deepwas import load_model
    from deepwas.features import BasicPredictors

    one = ["--window-bp", "3000000", "--flank-bp", "0", "--ld-blocks", "none"]
    data = small["data"][:small["data"].index(WINDOWS[0])] + \
        small["data"][small["data"].index(WINDOWS[-1]) + 1:] + one
    prefix = str(tmp_path / "one")
    assert main(["h2", "--model", small["model"], *data, "--annot", small["annot"],
                 "--n-blocks", "20", "--out", prefix]) == 0
    assert "1 window for n_blocks=20: 20 jackknife blocks" in capsys.readouterr().err
    assert "jackknife: pseudo over 20 blocks of contiguous variants" in open(prefix + ".log").read()
    cli = pd.read_csv(prefix + ".results", sep="\t")
    est, _ = load_model(small["model"])
    stats = deepwas.SummaryStats.from_plink(demo_bfiles([15]), small["ss"], sigma2=0.98,
                                            keep_ambiguous=True, window_bp=3_000_000,
                                            flank_bp=0, features=BasicPredictors(),
                                            ld_blocks="none")
    assert len(stats) == 1
    with pytest.warns(UserWarning):
        py = est.partitioned_h2(stats, small["annot"], n_blocks=20)
    a = cli.set_index("Category")
    assert a.loc["A", "Prop._h2_std_error"] > 0 and np.isfinite(a.loc["A", "Enrichment_p"])
    np.testing.assert_allclose(cli.iloc[:, 1:].to_numpy(dtype=float),
                               py[cli.columns[1:]].to_numpy(dtype=float), rtol=1e-5)


def test_dropped_predictor_stays_out_of_h2(small, tmp_path, capsys):
    """freq and maf are one column on this PLINK panel: the fit kept freq, and the h2 table
    of the model's own features has no maf row (nor coefficient)."""
    import json

    cfg = json.load(open(f"{small['model']}/model.json"))
    assert list(cfg["fitted"]["dropped_features"]) == ["maf"]
    assert cfg["fitted"]["ridge"] == 1.0
    prefix = str(tmp_path / "own")
    assert main(["h2", "--model", small["model"], *small["data"], "--n-blocks", "4",
                 "--out", prefix]) == 0
    err = capsys.readouterr().err
    assert "model features dropped before the fit are not in the table: maf (collinear with " \
           "freq" in err
    assert list(pd.read_csv(prefix + ".results", sep="\t").Category) == ["freq"]
    assert "warning: model features dropped before the fit" in open(prefix + ".log").read()


def test_h2_missing_annotation_file(small, tmp_path, capsys):
    rc = main(["h2", "--model", small["model"], *small["data"], "--annot",
               str(tmp_path / "nope.annot.gz"), "--out", str(tmp_path / "x")])
    assert rc == 2
    assert "error:" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize("command", ["posterior", "h2", "predict"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as e:
        main([command, "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert {"posterior": "sqrt(2 p (1 - p))", "h2": ".results",
            "predict": "snpvar"}[command] in " ".join(out.split())
