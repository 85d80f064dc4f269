"""The deepwas command: --help everywhere, the demo end to end (--quick), file-in/file-out
subcommands, and one clear error line (exit status 2) for input a user can fix."""
import json
import logging
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
    assert 0 < js["h2"] < 0.5 and js["settings"]["h2"] == js["h2"]     # the h2 actually used
    assert (tmp_path / "cache" / "windows").is_dir()     # the cache went where it was told


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """simulate -> precompute -> fit (held-out chr22) on two real regions, hg38 tracks + chain."""
    from deepwas.datasets._tracks import write_demo_tracks

    tmp = tmp_path_factory.mktemp("cli")
    tracks, _ = write_demo_tracks(str(tmp / "tracks"), {"15": (19_000_000, 22_000_000),
                                                        "22": (17_500_000, 22_000_000)},
                                  n_tracks=2, random_state=1)
    bfiles = demo_bfiles([15, 22])
    feat = ["--tracks", *tracks, "--chain", HG19_TO_HG38_CHAIN, "--width", "8",
            "--bin-size", "1000"]
    ss = str(tmp / "sim.tsv.gz")
    # one window per 1 Mb region (--ld-blocks none), the statistics drawn region by region:
    # in-sample LD, so these tests can compare numbers with the Python API's exact ones
    assert main(["simulate", "--bfile", *bfiles, *feat, "--h2", "0.03", "--n", "300000",
                 "--seed", "2", "--ld-blocks", "none", "--out", ss]) == 0
    cache = str(tmp / "cache")
    data = ["--bfile", *bfiles, "--sumstats", ss, "--sigma2", "0.97", "--keep-ambiguous",
            "--ld-blocks", "none", "--cache-dir", cache]
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
    return err[-1]


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


@pytest.mark.parametrize("option", ["--accumulate", "--epochs"])
def test_training_counts_below_one_are_refused_by_the_parser(option, capsys):
    """0 or a negative count is an argument error (exit 2, the option named), not an
    estimator traceback after the data have been read."""
    for value in ("0", "-3"):
        with pytest.raises(SystemExit) as exit_:
            main(["fit", option, value])
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert option in err and "positive whole number" in err and "Traceback" not in err


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


# --- first contact: help, messages, progress, threads, hold-out by region --------------------

def _subparsers(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices
    return {}


def test_help_gives_every_option_a_line_and_its_default():
    parser = build_parser()
    for name, sp in [("deepwas", parser), *_subparsers(parser).items()]:
        for action in sp._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings[0]} has no help line"
    fit = _subparsers(parser)["fit"].format_help()
    text = " ".join(fit.split())                  # undo the line wrapping
    for expect in ("(default: glm)", "(default: deepwas)", "(default: 500)", "(default: auto)",
                   "(default: 100)", "(default: 1000000)", "(default: 32)",
                   "(default: tiny)", "(default: 0)"):
        assert expect in text, expect
    for opt in ("--model", "--epochs", "--warmup-steps", "--test-region", "--threads", "-q"):
        assert opt in text
    assert "(default: None)" not in text and "(default: False)" not in text
    sim = " ".join(_subparsers(parser)["simulate"].format_help().split())
    assert "(default: 0.5)" in sim and "(default: 300000)" in sim


def test_verbose_prints_info_lines_in_plain_words(workflow, capsys):
    import logging

    data = ["precompute", *workflow["data"], "--no-progress"]
    assert main(data) == 0
    err = capsys.readouterr().err
    assert "deepwas: info:" not in err
    for argv in (["-v", *data], [*data, "-v"], [*data, "--verbose"]):   # before or after
        assert main(argv) == 0
        err = capsys.readouterr().err
        assert "deepwas: info: " in err and "sim.tsv.gz: read 4159 variants" in err, err
        assert "WARNING:" not in err and "INFO" not in err and "deepwas.io" not in err
    logger = logging.getLogger("deepwas")                 # main leaves logging as it found it
    assert logger.propagate and not logger.handlers and logger.level == logging.NOTSET


def test_warnings_read_as_one_line_without_python_prefixes(workflow, tmp_path, capsys):
    ss = pd.read_csv(workflow["ss"], sep="\t")
    p = tmp_path / "with_n.tsv"
    ss.assign(N=1000).to_csv(p, sep="\t", index=False)
    data = [a if a != workflow["ss"] else str(p) for a in workflow["data"]]
    assert main(["precompute", *data, "--n", "300000", "--no-progress"]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("deepwas: warning: ") for line in err), err


def test_fit_progress_on_a_terminal_and_quiet(workflow, tmp_path, capsys, monkeypatch):
    fit = ["fit", *workflow["data"], "--model", "constant"]
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert main([*fit, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr()
    assert "iter    train_loss" in out.out                  # one line per L-BFGS iteration
    assert "precompute windows" in out.err                  # and a progress bar over windows
    assert main([*fit, "-q", "--out", str(tmp_path / "b")]) == 0
    out = capsys.readouterr()
    assert "train_loss" not in out.out and "precompute windows" not in out.err
    monkeypatch.undo()
    assert main([*fit, "--out", str(tmp_path / "c")]) == 0   # not a terminal: quiet too
    out = capsys.readouterr()
    assert "train_loss" not in out.out and "%|" not in out.err
    assert out.out.splitlines()[0].startswith("data: SummaryStats(2 windows")
    assert "fitted in" in out.out


def test_fit_test_region_holds_out_windows_of_one_chromosome(workflow, tmp_path, capsys):
    small = ["--window-bp", "250000", "--flank-bp", "250000"]
    model = tmp_path / "m"
    assert main(["fit", *workflow["data"], *small, "--model", "constant",
                 "--test-region", "22:20,250,001-20,750,000", "--out", str(model)]) == 0
    out = capsys.readouterr().out
    assert ("held out: 2 windows (22:20,250,001-20,750,000); 2 windows next to them left out of "
            "training") in out, out
    assert "fitting the constant prior by deepwas on 4 windows" in out
    rep = json.loads((model / "heldout_report.json").read_text())
    assert rep["n_windows"] == 2 and rep["chromosomes"] == ["22"]
    assert np.isfinite(rep["score_nats_per_person"])
    tab = pd.read_csv(model / "heldout_report.tsv", sep="\t")
    assert tab.start.min() >= 20_250_001 and tab.end.max() <= 20_750_000
    cfg = json.loads((model / "model.json").read_text())
    assert cfg["fitted"]["train_chromosomes"] == ["15"]
    # the held-out region re-scored: the fit's report, without the 'trained on' warning
    rescored = tmp_path / "rescored"
    assert main(["score", "--model", str(model), *workflow["data"], *small, "--region",
                 "22:20,250,001-20,750,000", "--out", str(rescored)]) == 0
    out = capsys.readouterr()
    assert "trained on" not in out.err and "over 2 windows" in out.out, out
    js = json.loads(rescored.with_suffix(".json").read_text())
    assert js["n_windows"] == 2
    assert js["score_nats_per_person"] == pytest.approx(rep["score_nats_per_person"], rel=1e-9)
    pd.testing.assert_frame_equal(pd.read_csv(rescored.with_suffix(".tsv"), sep="\t"), tab)
    # a region the model was trained on is scored with the warning; one without windows fails
    assert main(["score", "--model", str(model), *workflow["data"], *small, "--region",
                 "15:19,000,001-22,000,000", "--out", str(tmp_path / "in_training")]) == 0
    assert "scoring windows the model was trained on: 15:" in capsys.readouterr().err
    _error(["score", "--model", str(model), *workflow["data"], *small, "--region",
            "22:20300000-20400000", "--out", str(tmp_path / "x")], capsys,
           "--region: no window's core lies within 22:20300000-20400000")
    _error(["fit", *workflow["data"], *small, "--model", "constant", "--test-region",
            "22:20300000-20400000", "--out", str(tmp_path / "x")], capsys,
           "no window's core lies within 22:20300000-20400000 (the cores of its 4 windows span")
    _error(["fit", *workflow["data"], *small, "--model", "constant", "--test-region",
            "22-20300000", "--out", str(tmp_path / "x")], capsys, "is not CHR:START-END")


def test_messages_speak_the_command_line(workflow, tmp_path, capsys):
    bf = workflow["bfiles"]
    no_n = tmp_path / "no_n.tsv"
    pd.read_csv(workflow["ss"], sep="\t").drop(columns="N").to_csv(no_n, sep="\t", index=False)
    _error(["precompute", "--bfile", *bf, "--sumstats", str(no_n)], capsys,
           "no N column: pass --n (the GWAS sample size)")
    bolt = tmp_path / "bolt.txt"
    bolt.write_text("SNP CHR BP ALLELE1 ALLELE0 BETA SE CHISQ_LINREG CHISQ_BOLT_LMM\n"
                    "rs1 1 5 A G 0.1 0.1 1 1\n")
    _error(["precompute", "--bfile", *bf, "--sumstats", str(bolt)], capsys, "pass --n (the number")
    _error(["precompute", "--bfile", *bf, "--sumstats", workflow["ss"], "--columns", "FOO=x"],
           capsys, "unknown column key 'FOO' in --columns")
    for line in capsys.readouterr().err.splitlines():
        assert "n=" not in line and "columns=" not in line
    _error(["fit", *workflow["data"], "--model", "constant", "--test-chrom", "7", "1",
            "--out", str(tmp_path / "m")], capsys,
           "--test-chrom 1, 7: not in the data (chromosomes: 15, 22)")
    _error(["score", "--model", workflow["model"], *workflow["data"], "--chrom", "3",
            "--out", str(tmp_path / "r")], capsys,
           "--chrom 3: no window on these chromosomes (the data has 15, 22)")
    # a comma-separated file is read as such
    csv = tmp_path / "sim.csv"
    pd.read_csv(workflow["ss"], sep="\t").to_csv(csv, index=False)
    out = tmp_path / "pre.json"
    assert main(["precompute", "--bfile", *bf, "--sumstats", str(csv), "--keep-ambiguous",
                 "--no-progress", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["n_variants"] == 1551 + 2608


def test_no_shared_snp_names_both_sides(tmp_path, capsys):
    # chromosome 1 statistics against a chromosome 22 panel
    sim = tmp_path / "chr1.tsv"
    assert main(["simulate", "--bfile", *demo_bfiles([1]), "--h2", "0.1", "--out", str(sim)]) == 0
    capsys.readouterr()
    line = _error(["precompute", "--bfile", *demo_bfiles([22]), "--sumstats", str(sim)], capsys,
                  "the summary statistics share no SNP identifier with the LD reference")
    assert "(e.g. rs" in line and "1:20.00-21.00 Mb" in line and "22:20.00-21.00 Mb" in line
    assert "check the SNP column, the chromosomes and the genome build" in line
    assert "np.str_" not in line and "[" not in line


def test_simulate_warns_when_the_panel_is_smaller_than_a_window(tmp_path, capsys):
    out = tmp_path / "s.tsv"
    # 489 people; 300 kb cores of chromosome 22 hold ~780 variants; 100 kb flanks; statistics
    # drawn through the whole chromosome (by default they are drawn per block: no warning)
    assert main(["simulate", "--bfile", *demo_bfiles([22]), "--window-bp", "300000",
                 "--flank-bp", "100000", "--h2", "0.01", "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["simulate", "--bfile", *demo_bfiles([22]), "--window-bp", "300000",
                 "--flank-bp", "100000", "--h2", "0.01", "--gwas-ld", "chromosome",
                 "--ld-blocks", "none", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert err.startswith("deepwas: warning: the LD panel has 489 people, fewer than the core "
                          "variants of"), err
    assert "over-estimates h2" in err and "'LD from a reference panel'" in err
    # one window per region: every core sees its whole chromosome, nothing to warn about
    assert main(["simulate", "--bfile", *demo_bfiles([22]), "--h2", "0.01",
                 "--gwas-ld", "chromosome", "--ld-blocks", "none", "--out", str(out)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_threads_option_limits_the_work_and_is_restored(workflow, monkeypatch, capsys):
    import torch

    from deepwas import get_config
    from deepwas.cli import _datasets

    seen = []

    def fake(args):
        seen.append((get_config()["n_threads"], torch.get_num_threads()))
        return 0

    monkeypatch.setattr(_datasets, "cmd_precompute", fake)
    before = torch.get_num_threads()
    assert main(["--threads", "1", "precompute", *workflow["data"]]) == 0
    assert main(["precompute", *workflow["data"], "--threads", "1"]) == 0
    assert main(["precompute", *workflow["data"]]) == 0
    assert seen == [(1, 1), (1, 1), (None, before)]
    assert get_config()["n_threads"] is None and torch.get_num_threads() == before
    with pytest.raises(SystemExit):
        main(["precompute", *workflow["data"], "--threads", "0"])
    assert "expected a positive whole number" in capsys.readouterr().err


def test_precompute_workers_resume_and_cache_commands(workflow, tmp_path, capsys):
    from deepwas.memory_pool import POOL

    cache = tmp_path / "cache"
    data = [*workflow["data"][:-1], str(cache)]          # same data, a fresh cache folder
    assert data[-2] == "--cache-dir"
    out = tmp_path / "pre.json"
    POOL.clear()                 # else the windows come from memory (written, not computed)
    assert main(["precompute", *data, "--workers", "2", "--no-progress", "--out", str(out)]) == 0
    first = json.loads(out.read_text())
    assert (first["workers"], first["windows_computed"], first["windows_skipped"]) == (2, 2, 0)
    assert first["bytes_on_disk"] == sum(p.stat().st_size for p in cache.glob("*.npz")) > 0
    text = capsys.readouterr().out
    assert "per window; a genome of 2,700 windows" in text
    # the workers' files are the ones a serial run would have written (same keys, same values)
    names = {p.name for p in cache.glob("*.npz")}
    assert len(names) == 2 and names <= set(os.listdir(workflow["cache"]))
    assert main(["precompute", *data, "--workers", "2", "--no-progress", "--out", str(out)]) == 0
    again = json.loads(out.read_text())
    assert (again["windows_computed"], again["windows_skipped"]) == (0, 2)

    (cache / "notes.txt").write_text("a user's file")
    capsys.readouterr()
    assert main(["cache", "info", "--cache-dir", str(cache)]) == 0
    assert "2 window file(s)" in capsys.readouterr().out
    assert main(["cache", "clear", "--cache-dir", str(cache)]) == 0
    assert "removed 2 file(s)" in capsys.readouterr().out
    assert sorted(os.listdir(cache)) == ["notes.txt"]


def test_precompute_workers_without_cache_dir_is_an_error(workflow, capsys):
    data = workflow["data"][:-2]
    assert main(["precompute", *data, "--workers", "2", "--no-progress"]) == 2
    assert "--workers needs --cache-dir" in capsys.readouterr().err


def test_precompute_writes_windows_held_in_memory_to_a_new_cache(workflow, tmp_path):
    from deepwas.memory_pool import POOL

    cache = tmp_path / "cache"
    data = [*workflow["data"][:-1], str(cache)]
    main(["precompute", *data, "--no-progress"])          # in memory now, and on disk
    for p in cache.glob("*.npz"):
        p.unlink()
    assert len(POOL) >= 2
    assert main(["precompute", *data, "--no-progress"]) == 0
    assert len(list(cache.glob("*.npz"))) == 2


def test_fit_says_which_sigma2_it_used(workflow, tmp_path, capsys, caplog):
    data = [a for a in workflow["data"] if a not in ("--sigma2", "0.97")]
    fit = ["fit", *data, "--model", "constant", "-q"]
    assert main([*fit, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr()
    assert "sigma2 1 (the default; --sigma2 or --sigma2-estimate to change it)" in out.out
    assert main([*fit, "--sigma2", "0.9", "--out", str(tmp_path / "b")]) == 0
    assert "sigma2 0.9 (--sigma2)" in capsys.readouterr().out
    from deepwas.cli._models import sigma2_used

    class Est:
        sigma2_ = 1.0

    class Args:
        sigma2, sigma2_estimate = None, False

    with caplog.at_level(logging.WARNING, logger="deepwas.cli"):
        assert "the default" in sigma2_used(Args, Est, 0.01)
        assert not caplog.records
        assert "the default" in sigma2_used(Args, Est, 0.3)
    assert "h2 0.3: pass --sigma2 1-h2" in caplog.text and "at most 0.7" in caplog.text
    fit_help = " ".join(_subparsers(build_parser())["fit"].format_help().split())
    assert "default 1.0, right only for a trait with little SNP heritability" in fit_help


def test_ld_in_sample_flag_and_the_simulation_note(workflow, tmp_path):
    """--ld-in-sample gives the exact likelihood under "auto"; a simulation drawn per LD block
    says to fit with it, one drawn in fixed blocks says to turn the panel correction off."""
    from deepwas.cli._data import load_stats
    from deepwas.cli._parser import build_parser

    meta = json.loads((workflow["tmp"] / "sim.json").read_text())
    assert "--ld-in-sample" in meta["note"] and meta["ld_in_sample"]
    parser = build_parser()
    for flag, expected in (([], "mismatch"), (["--ld-in-sample"], "none")):
        args = parser.parse_args(["precompute", *workflow["data"], *flag])
        stats = load_stats(args)
        assert stats.ld_model.regularisation == expected
        assert stats.ld_in_sample == bool(flag)
    sim = tmp_path / "fixed.tsv"
    assert main(["simulate", "--bfile", *demo_bfiles([22]), "--h2", "0.1", "--block-bp",
                 "500000", "--out", str(sim)]) == 0
    note = json.loads((tmp_path / "fixed.json").read_text())["note"]
    assert "--panel-correction none" in note and "--ld-in-sample" not in note
