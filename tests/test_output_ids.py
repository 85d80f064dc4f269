"""Outputs name variants as the user's statistics did: SNPVAR files (predict --out-format
polyfun), posterior weights (posterior) and the predict table carry the user's identifier,
position and allele spelling, with the LD reference's identifier and position beside them, so
that plink --score-style matching by the user's own IDs finds every kept SNP."""
import numpy as np
import pandas as pd
import pytest

from deepwas.cli import main
from deepwas.datasets import demo_bfiles

WINDOWS = ["--window-bp", "300000", "--flank-bp", "200000"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Simulated statistics of chr22 re-written as a user would have them: a third of the
    SNPs named ``22:BP_A2_A1`` instead of an rsID (matched to the panel by position), half
    with the alleles the other way round; a constant prior fitted on them."""
    tmp = tmp_path_factory.mktemp("ids")
    bfiles = demo_bfiles([22])
    sim = str(tmp / "sim.tsv")
    assert main(["simulate", "--bfile", *bfiles, *WINDOWS, "--h2", "0.02", "--n", "300000",
                 "--seed", "1", "-q", "--out", sim]) == 0
    orig = pd.read_csv(sim, sep="\t").drop(columns="F_TRUE")
    user = orig.copy()
    k = np.arange(len(user))
    named = k % 3 == 0
    user.loc[named, "SNP"] = [f"22:{b}_{a2}_{a1}" for b, a2, a1 in
                              zip(user.BP[named], user.A2[named], user.A1[named])]
    swap = k % 2 == 0
    user.loc[swap, ["A1", "A2"]] = user.loc[swap, ["A2", "A1"]].to_numpy()
    user.loc[swap, "Z"] = -user.loc[swap, "Z"]
    user.loc[swap, "FREQ"] = 1 - user.loc[swap, "FREQ"]
    path = str(tmp / "user.tsv")
    user.to_csv(path, sep="\t", index=False)
    data = ["--bfile", *bfiles, "--sumstats", path, "--sigma2", "0.98", "--keep-ambiguous",
            *WINDOWS, "--cache-dir", str(tmp / "cache")]
    model = str(tmp / "model")
    assert main(["fit", *data, "--model", "constant", "--max-iter", "5", "-q",
                 "--out", model]) == 0
    return dict(tmp=tmp, user=user, orig=orig, data=data, model=model,
                data_orig=[sim if a == path else a for a in data])


def test_posterior_weights_match_the_users_ids(run, capsys):
    out = str(run["tmp"] / "w.tsv")
    assert main(["posterior", "--model", run["model"], *run["data"], "--out", out]) == 0
    printed = capsys.readouterr().out
    w = pd.read_csv(out, sep="\t")
    user = run["user"].set_index("SNP")
    # plink --score FILE 1 2 3 header: SNP, A1, BETA; matched by the user's own IDs
    assert list(w.columns[:6]) == ["SNP", "A1", "BETA", "A2", "CHR", "BP"]
    assert w.SNP.isin(user.index).all() and len(w) == len(user)
    u = user.loc[w.SNP]
    assert ((w.A1.to_numpy() == u.A1.to_numpy()) | (w.A1.to_numpy() == u.A2.to_numpy())).all()
    np.testing.assert_array_equal(w.BP, u.BP)
    assert w.SNP.str.contains(":").sum() == (run["user"].SNP.str.contains(":")).sum()
    # the reference's identifier beside it: the panel's rsID, also for the renamed SNPs
    orig = run["orig"].set_index("BP")
    np.testing.assert_array_equal(w.REF_SNP, orig.loc[w.BP, "SNP"])
    # the same weights as from the statistics written with the panel's IDs and alleles
    ref_out = str(run["tmp"] / "w_orig.tsv")
    assert main(["posterior", "--model", run["model"], *run["data_orig"], "--out", ref_out]) == 0
    w0 = pd.read_csv(ref_out, sep="\t").set_index("SNP").loc[w.REF_SNP]
    np.testing.assert_array_equal(w.A1, w0.A1)
    np.testing.assert_allclose(w.BETA, w0.BETA, rtol=1e-6)
    assert "CHR, BP: the statistics' positions" in printed


def test_polyfun_snpvar_carries_the_users_ids(run):
    prefix = str(run["tmp"] / "pf" / "prior")
    assert main(["predict", "--model", run["model"], *run["data"], "--out-format", "polyfun",
                 "--out", prefix]) == 0
    df = pd.read_table(prefix + ".22.snpvar.gz", sep=r"\s+")
    assert list(df.columns[:8]) == ["CHR", "SNP", "BP", "A1", "A2", "SNPVAR", "Z", "N"]
    user = run["user"].set_index("SNP").loc[df.SNP]
    np.testing.assert_array_equal(df.BP, user.BP)
    # Z is signed for the A1 written, in the user's own spelling
    same = df.A1.to_numpy() == user.A1.to_numpy()
    assert (same | (df.A1.to_numpy() == user.A2.to_numpy())).all() and (~same).any()
    np.testing.assert_allclose(df.Z, np.where(same, user.Z, -user.Z), rtol=1e-5)
    assert {"REF_SNP", "REF_CHR"} <= set(df.columns)
    assert any(c.startswith("REF_BP") for c in df.columns)
