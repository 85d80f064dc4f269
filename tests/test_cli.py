"""The deepwas command: --help everywhere, the demo end to end (--quick), file-in/file-out
subcommands, and one clear error line (exit status 2) for input a user can fix."""
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from deepwas import load_model
from deepwas.cli import build_parser, main
from deepwas.datasets import demo_bfiles
from deepwas.features import HG19_TO_HG38_CHAIN

COMMANDS = ["demo", "precompute", "fit", "score", "predict", "simulate"]


def _run(args, tmp_path, timeout=600):
    env = dict(os.environ, DEEPWAS_CACHE=str(tmp_path / "cache"), MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "deepwas", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=tmp_path)


@pytest.mark.parametrize("command", [None] + COMMANDS)
def test_help(command, capsys):
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "usage: deepwas" in out
    if command is None:
        for c in COMMANDS:
            assert c in out


def test_demo_quick_end_to_end(tmp_path):
    r = _run(["demo", "--quick", "--out", "out", "--no-progress"], tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout
    for word in ("Constant", "GLM", "Transformer", "DeepWAS", "LDSR", "null (f = 0)",
                 "truth (f_true)", "RMSE log f", "% lik. incr."):
        assert word in out
    d = tmp_path / "out"
    for name in ("demo_results.tsv", "demo_results.json", "heldout_f.tsv.gz",
                 "demo_heldout_gain.png", "demo_enrichment.png"):
        assert (d / name).stat().st_size > 0, name
    for name in ("demo_heldout_gain.png", "demo_enrichment.png"):
        assert (d / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = pd.read_csv(d / "demo_results.tsv", sep="\t")
    trained = res[~res.model.isin(["null (f = 0)", "truth (f_true)"])]
    assert len(trained) == 6
    assert np.all(np.isfinite(trained.score)) and np.all(np.isfinite(trained.rmse_log_f))
    js = json.loads((d / "demo_results.json").read_text())
    assert js["folds"] == 2 and len(js["results"]) == 8
    assert (tmp_path / "cache" / "windows").is_dir()     # the cache went where it was told


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """simulate -> precompute -> fit (held-out chr22) on two real regions, hg38 tracks + chain."""
    from deepwas.datasets._demo import write_demo_tracks

    tmp = tmp_path_factory.mktemp("cli")
    tracks, _ = write_demo_tracks(str(tmp / "tracks"), {"15": (19_000_000, 22_000_000),
                                                       "22": (17_500_000, 22_000_000)},
                                  n_tracks=2, random_state=1)
    bfiles = demo_bfiles([15, 22])
    feat = ["--tracks", *tracks, "--chain", HG19_TO_HG38_CHAIN, "--width", "8",
            "--bin-size", "1000"]
    ss = str(tmp / "sim.tsv.gz")
    assert main(["simulate", "--bfile", *bfiles, *feat, "--h2", "0.03", "--n", "300000",
                 "--seed", "2", "--out", ss]) == 0
    cache = str(tmp / "cache")
    data = ["--bfile", *bfiles, "--sumstats", ss, "--sigma2", "0.97", "--keep-ambiguous",
            "--cache-dir", cache]
    assert main(["precompute", *data, "--no-progress", "--out", str(tmp / "pre.json")]) == 0
    model = str(tmp / "model")
    assert main(["fit", *data, *feat, "--model", "glm", "--epochs", "3", "--accumulate", "1",
                 "--warmup-steps", "1", "--lr", "0.03", "--test-chrom", "22",
                 "--out", model]) == 0
    return dict(tmp=tmp, tracks=tracks, bfiles=bfiles, feat=feat, ss=ss, data=data,
                model=model, cache=cache)


def test_simulate_and_precompute_outputs(workflow):
    tmp = workflow["tmp"]
    sim = pd.read_csv(workflow["ss"], sep="\t")
    assert list(sim.columns) == ["SNP", "CHR", "BP", "A1", "A2", "FREQ", "Z", "N", "F_TRUE"]
    assert len(sim) == 1551 + 2608 and sim.F_TRUE.sum() == pytest.approx(0.03)
    meta = json.loads((tmp / "sim.json").read_text())
    assert meta["sigma2"] == pytest.approx(0.97)
    pre = json.loads((tmp / "pre.json").read_text())
    assert pre["n_windows"] == 2 and pre["cache_hits"]["computed"] == 2
    assert len(os.listdir(workflow["cache"])) == 2


def test_fit_saves_state_dict_and_json(workflow):
    import torch

    d = workflow["model"]
    state = torch.load(os.path.join(d, "model.pt"), weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    cfg = json.load(open(os.path.join(d, "model.json")))
    assert cfg["params"]["model"] == "glm" and cfg["fitted"]["train_chromosomes"] == ["15"]
    assert cfg["features"]["width"] == 8 and len(cfg["features"]["tracks"]) == 2
    rep = json.load(open(os.path.join(d, "heldout_report.json")))
    assert rep["chromosomes"] == ["22"] and np.isfinite(rep["score_nats_per_person"])
    est, _ = load_model(d)
    assert est.n_func_ == 2 and est.n_pred_ == 2


def test_score_and_predict(workflow, tmp_path):
    rep = str(tmp_path / "rep")
    assert main(["score", "--model", workflow["model"], *workflow["data"], "--chrom", "22",
                 "--out", rep]) == 0
    js = json.load(open(rep + ".json"))
    fit_rep = json.load(open(os.path.join(workflow["model"], "heldout_report.json")))
    assert js["score_nats_per_person"] == pytest.approx(fit_rep["score_nats_per_person"], rel=1e-6)
    tab = pd.read_csv(rep + ".tsv", sep="\t")
    assert list(tab.chrom.astype(str)) == ["22"]
    out = str(tmp_path / "f.tsv.gz")
    assert main(["predict", "--model", workflow["model"], *workflow["data"], "--out", out]) == 0
    f = pd.read_csv(out, sep="\t")
    assert len(f) == 1551 + 2608 and np.all(f.F > 0)
    pq = tmp_path / "f.parquet"
    if pytest.importorskip("pyarrow"):
        assert pq.exists() and len(pd.read_parquet(pq)) == len(f)
    # from the statistics file alone (no LD): the same f for the same variants
    out2 = str(tmp_path / "f2.tsv")
    assert main(["predict", "--model", workflow["model"], "--sumstats", workflow["ss"],
                 "--out", out2]) == 0
    f2 = pd.read_csv(out2, sep="\t").set_index("SNP").loc[f.SNP]
    np.testing.assert_allclose(f2.F.to_numpy(), f.F.to_numpy(), rtol=1e-4)


def _error(argv, capsys, match):
    rc = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2
    assert err and err[-1].startswith("deepwas ") and "error:" in err[-1]
    assert match in err[-1], err[-1]
    assert not any("Traceback" in line for line in err)


def test_errors(workflow, tmp_path, capsys):
    bf, ss, model = workflow["bfiles"], workflow["ss"], workflow["model"]
    bad = tmp_path / "bad.txt"
    bad.write_text("garbage\n1\n")
    chain_bad = tmp_path / "bad.chain"
    chain_bad.write_text("not a chain file\n")
    # precompute: missing genotypes, missing / unreadable statistics
    _error(["precompute", "--bfile", str(tmp_path / "nope"), "--sumstats", ss], capsys,
           "PLINK file not found")
    _error(["precompute", "--bfile", *bf, "--sumstats", str(tmp_path / "nope.gz")], capsys,
           "summary statistics file not found")
    _error(["precompute", "--bfile", *bf, "--sumstats", str(bad), "--n", "1000"], capsys,
           "bad.txt")
    _error(["precompute", "--ld-dir", str(tmp_path / "noLD"), "--sumstats", ss], capsys,
           "LD folder not found")
    # fit: missing chain, unreadable chain, a track that is not a bigWig, missing track
    fit = ["fit", "--bfile", *bf, "--sumstats", ss, "--model", "glm", "--out", str(tmp_path / "m")]
    _error(fit + ["--tracks", *workflow["tracks"], "--chain", str(tmp_path / "no.chain")], capsys,
           "chain file not found")
    _error(fit + ["--tracks", *workflow["tracks"], "--chain", str(chain_bad)], capsys,
           "liftover chain file")
    _error(fit + ["--tracks", str(bad)], capsys, "not a bigWig file")
    _error(fit + ["--tracks", str(tmp_path / "no.bw")], capsys, "bigWig track not found")
    _error(fit + ["--tracks", *workflow["tracks"], "--test-chrom", "7"], capsys, "not in the data")
    # score / predict: missing model, corrupt model, wrong number of tracks
    _error(["score", "--model", str(tmp_path / "nomodel"), "--bfile", *bf, "--sumstats", ss,
            "--out", str(tmp_path / "r")], capsys, "model folder not found")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text("{not json")
    (broken / "model.pt").write_bytes(b"\x00")
    _error(["predict", "--model", str(broken), "--sumstats", ss, "--out", str(tmp_path / "f.tsv")],
           capsys, "not valid JSON")
    _error(["predict", "--model", model, "--sumstats", ss, "--tracks", workflow["tracks"][0],
            "--out", str(tmp_path / "f.tsv")], capsys, "trained on 2 tracks")
    # simulate: missing genotypes, missing chain
    _error(["simulate", "--bfile", str(tmp_path / "nope"), "--out", str(tmp_path / "s.tsv")],
           capsys, "PLINK file not found")
    _error(["simulate", "--bfile", *bf, "--tracks", *workflow["tracks"], "--chain",
            str(tmp_path / "no.chain"), "--out", str(tmp_path / "s.tsv")], capsys,
           "chain file not found")
    # demo: a bad option value
    _error(["demo", "--quick", "--folds", "9", "--out", str(tmp_path / "d"), "--cache-dir",
            str(tmp_path / "c"), "--no-progress", "--no-plots"], capsys, "folds")


def test_console_script_and_module_agree():
    import shutil

    exe = shutil.which("deepwas")
    if exe is None:
        pytest.skip("console script not on PATH")
    r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    r2 = subprocess.run([sys.executable, "-m", "deepwas", "--version"], capture_output=True,
                        text=True, timeout=120)
    assert r.returncode == r2.returncode == 0 and r.stdout == r2.stdout
    assert build_parser().prog == "deepwas"


def test_columns_option_names_unrecognised_columns(workflow, tmp_path, capsys):
    ss = pd.read_csv(workflow["ss"], sep="\t")
    renamed = tmp_path / "renamed.tsv"
    ss.rename(columns={"SNP": "variant_rs", "A1": "eff_allele"}).to_csv(renamed, sep="\t",
                                                                          index=False)
    data = ["precompute", "--bfile", *workflow["bfiles"], "--sumstats", str(renamed),
            "--sigma2", "0.97", "--keep-ambiguous", "--no-progress"]
    _error([*data, "--out", str(tmp_path / "a.json")], capsys, "--columns SNP=<name>")
    _error([*data, "--columns", "SNPS=variant_rs", "--out", str(tmp_path / "a.json")], capsys,
           "unknown column key 'SNPS'")
    _error([*data, "--columns", "SNP", "--out", str(tmp_path / "a.json")], capsys,
           "KEY=NAME")
    out = tmp_path / "b.json"
    assert main([*data, "--columns", "SNP=variant_rs", "A1=eff_allele", "--out", str(out)]) == 0
    with open(out) as fh:
        assert json.load(fh)["n_variants"] > 0
