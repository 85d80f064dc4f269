"""Summary-statistics formats, each written here in its documented layout from real statistics
(the shipped BOLT-LMM file), read back with format detection, the effect allele and the sign of
Z checked SNP by SNP.

Every writer below presents each SNP with a randomly chosen allele as the effect allele (BETA and
the frequency flipped to match), so a reader that takes the wrong column as the effect allele
gets half the signs wrong and fails, whatever the format's convention.
"""
import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deepwas
from deepwas.io import read_sumstats
from deepwas.io.formats import FORMAT_NAMES, detect_format, formats_help, get_format
from deepwas.io.sumstats import SumstatsError

DATA = Path(deepwas.__file__).parent / "datasets" / "data" / "1000g_eur_22regions"
BOLT = DATA / "bolt.sumstats.txt.gz"
N = 12345


@pytest.fixture(scope="module")
def truth():
    """40 real SNPs of chr22, each given an effect allele at random: EA, OA, beta, se, freq of
    EA, and Z of BOLT's ALLELE1 (the reference for the sign check)."""
    b = pd.read_csv(BOLT, sep="\t")
    b = b[b.CHR == 22].iloc[::50].head(40).reset_index(drop=True)
    rng = np.random.default_rng(7)
    flip = rng.random(len(b)) < 0.5
    return pd.DataFrame({
        "snp": b.SNP, "chr": b.CHR.astype(str), "bp": b.BP,
        "ea": np.where(flip, b.ALLELE0, b.ALLELE1), "oa": np.where(flip, b.ALLELE1, b.ALLELE0),
        "beta": np.where(flip, -b.BETA, b.BETA), "se": b.SE,
        "freq": np.where(flip, 1 - b.A1FREQ, b.A1FREQ),
        "p": b.P_LINREG, "z_allele1": b.BETA / b.SE, "allele1": b.ALLELE1,
    })


def _check(df, t, fmt, effect_allele=None):
    """The table read back: format, one row per SNP, A1 = the written effect allele, and Z
    signed for it (compared, SNP by SNP, with BOLT's Z for ALLELE1)."""
    assert df.attrs["format"] == fmt
    if effect_allele:
        assert df.attrs["effect_allele"] == effect_allele
    got = df.set_index("SNP").loc[t.snp]
    np.testing.assert_array_equal(got["A1"].to_numpy(), t.ea.str.upper().to_numpy())
    np.testing.assert_array_equal(got["A2"].to_numpy(), t.oa.str.upper().to_numpy())
    sign = np.where(got["A1"].to_numpy() == t.allele1.to_numpy(), 1.0, -1.0)
    np.testing.assert_allclose(sign * got["Z"].to_numpy(), t.z_allele1.to_numpy(), rtol=1e-5)
    if "FREQ" in got:
        np.testing.assert_allclose(got["FREQ"].to_numpy(), t.freq.to_numpy(), atol=1e-6)
    return got


def _write(path, df, sep="\t", gz=False, header_prefix=""):
    text = df.to_csv(sep=sep, index=False, na_rep="NA")
    if header_prefix:
        text = header_prefix + text
    if gz:
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        Path(path).write_text(text)
    return path


def test_regenie(truth, tmp_path):
    t = truth
    d = pd.DataFrame({"CHROM": t.chr, "GENPOS": t.bp, "ID": t.snp, "ALLELE0": t.oa,
                      "ALLELE1": t.ea, "A1FREQ": t.freq, "INFO": 1.0, "N": N, "TEST": "ADD",
                      "BETA": t.beta, "SE": t.se, "CHISQ": (t.beta / t.se) ** 2,
                      "LOG10P": -np.log10(t.p), "EXTRA": "NA"})
    dom = d.head(3).assign(TEST="DOM", BETA=9.0)          # other tests of the same SNPs
    df = read_sumstats(_write(tmp_path / "s.regenie", pd.concat([d, dom]), sep=" "))
    got = _check(df, t, "regenie", "ALLELE1")
    assert df.attrs["dropped"] == {"not_additive_test": 3}
    assert (got["N"] == N).all() and got["BP"].tolist() == t.bp.tolist()


def test_saige_effect_allele_is_allele2(truth, tmp_path):
    t = truth
    d = pd.DataFrame({"CHR": t.chr, "POS": t.bp, "MarkerID": t.snp, "Allele1": t.oa,
                      "Allele2": t.ea, "AC_Allele2": (t.freq * 2 * N).round(),
                      "AF_Allele2": t.freq, "MissingRate": 0, "BETA": t.beta, "SE": t.se,
                      "Tstat": t.beta / t.se ** 2, "var": 1 / t.se ** 2, "p.value": t.p,
                      "N": N})
    got = _check(read_sumstats(_write(tmp_path / "saige.txt", d, sep=" ")), t, "saige",
                 "Allele2")
    assert (got["N"] == N).all()
    # case-control output: N_case + N_ctrl
    cc = d.drop(columns=["N"]).assign(**{"N_case": 1000, "N_ctrl": 3000})
    got = _check(read_sumstats(_write(tmp_path / "saige_cc.txt", cc)), t, "saige")
    assert (got["N"] == 4000).all()


def test_saige_forced_as_regenie_is_refused(truth, tmp_path):
    t = truth
    d = pd.DataFrame({"CHR": t.chr, "POS": t.bp, "MarkerID": t.snp, "Allele1": t.oa,
                      "Allele2": t.ea, "AF_Allele2": t.freq, "BETA": t.beta, "SE": t.se,
                      "p.value": t.p, "N": N})
    p = _write(tmp_path / "saige.txt", d)
    with pytest.raises(SumstatsError, match="format 'regenie'.*ALLELE0") as e:
        read_sumstats(p, format="regenie")
    assert "MarkerID Allele1 Allele2" in str(e.value) and "--format" in e.value.cli


def test_saige_read_with_the_wrong_effect_allele_is_caught_by_frequencies(tmp_path):
    """A SAIGE file whose columns are named by hand the wrong way round (Allele1 as A1): the
    frequency column then counts the other allele, which the LD panel's frequencies show."""
    b = pd.read_csv(BOLT, sep="\t")
    b = b[b.CHR == 22]
    d = pd.DataFrame({"CHR": b.CHR, "POS": b.BP, "MarkerID": b.SNP, "Allele1": b.ALLELE0,
                      "Allele2": b.ALLELE1, "AF_Allele2": b.A1FREQ, "BETA": b.BETA,
                      "SE": b.SE, "p.value": b.P_LINREG, "N": N})
    p = _write(tmp_path / "saige.txt", d)
    bfile = str(DATA / "1000G.subset.22")
    ok = deepwas.SummaryStats.from_plink(bfile, p)           # detected: SAIGE, Allele2
    ref = deepwas.SummaryStats.from_plink(bfile, BOLT, n=N)
    np.testing.assert_allclose(ok.variants["beta_hat"], ref.variants["beta_hat"]
                               * np.sqrt(ref.n / ok.n), rtol=1e-6)
    ss = read_sumstats(p, format="table", columns={"A1": "Allele1", "A2": "Allele2",
                                                   "SNP": "MarkerID", "FREQ": "AF_Allele2"})
    with pytest.raises(ValueError, match="effect allele looks mislabelled"):
        deepwas.SummaryStats.from_plink(bfile, ss)


def test_allele1_allele2_without_a_signature_is_ambiguous(truth, tmp_path):
    t = truth
    d = pd.DataFrame({"SNP": t.snp, "Allele1": t.ea, "Allele2": t.oa, "BETA": t.beta,
                      "SE": t.se, "N": N})
    p = _write(tmp_path / "a12.txt", d)
    with pytest.raises(SumstatsError, match="saige.*metal") as e:
        read_sumstats(p)
    assert "--format saige or --format metal" in e.value.cli
    _check(read_sumstats(p, format="metal"), t, "metal", "Allele1")


@pytest.mark.parametrize("kind", ["linear", "logistic"])
def test_plink2_glm(truth, tmp_path, kind):
    t = truth.copy()
    rng = np.random.default_rng(1)
    a1_is_ref = rng.random(len(t)) < 0.4              # A1 is sometimes REF, sometimes ALT
    d = pd.DataFrame({"#CHROM": t.chr, "POS": t.bp, "ID": t.snp,
                      "REF": np.where(a1_is_ref, t.ea, t.oa),
                      "ALT": np.where(a1_is_ref, t.oa, t.ea), "PROVISIONAL_REF?": "Y",
                      "A1": t.ea, "OMITTED": t.oa, "A1_FREQ": t.freq, "TEST": "ADD",
                      "OBS_CT": N})
    if kind == "linear":
        d = d.assign(BETA=t.beta, SE=t.se, L95=t.beta - 1.96 * t.se, U95=t.beta + 1.96 * t.se,
                     T_STAT=t.beta / t.se, P=t.p, ERRCODE=".")
    else:
        d = d.assign(OR=np.exp(t.beta), **{"LOG(OR)_SE": t.se}, L95=np.exp(t.beta - 1.96 * t.se),
                     U95=np.exp(t.beta + 1.96 * t.se), Z_STAT=t.beta / t.se, P=t.p,
                     ERRCODE=".")
    d = d.drop(columns=["OMITTED"]) if kind == "logistic" else d
    cov = d.head(2).assign(TEST="AGE")                 # covariate rows without hide-covar
    bad = d.head(1).assign(ID="rsMULTI", ALT=d.ALT.iloc[0] + ",G", **{"POS": 1})
    err = d.iloc[[5]].assign(ID="rsERR", ERRCODE="CONST_ALLELE",
                             **{"SE" if kind == "linear" else "LOG(OR)_SE": "NA"})
    p = _write(tmp_path / f"x.PHENO1.glm.{kind}", pd.concat([d, cov, bad, err]))
    df = read_sumstats(p)
    got = _check(df, t, "plink2", "A1")
    assert (got["N"] == N).all()
    dr = df.attrs["dropped"]
    assert dr["not_additive_test"] == 2 and dr["plink2_errcode"] == 1
    assert dr.get("multiallelic", 0) == (1 if kind == "logistic" else 0)
    if kind == "linear":   # OMITTED names the other allele of the multi-allelic row
        assert "rsMULTI" in set(df["SNP"])


def test_gwas_ssf_with_beta_and_with_odds_ratios(truth, tmp_path):
    t = truth
    d = pd.DataFrame({"chromosome": t.chr, "base_pair_location": t.bp, "effect_allele": t.ea,
                      "other_allele": t.oa, "beta": t.beta, "standard_error": t.se,
                      "effect_allele_frequency": t.freq, "p_value": t.p, "rsid": t.snp,
                      "n": N})
    p = _write(tmp_path / "GCST1.tsv", d)
    (tmp_path / "GCST1.tsv-meta.yaml").write_text("genome_assembly: GRCh37\n"
                                                  "coordinate_system: 1-based\n")
    df = read_sumstats(p)
    _check(df, t, "gwas-ssf", "effect_allele")
    assert df.attrs["genome_build"] == "GRCh37"
    # odds ratios with a 95% CI and no standard error; one row without an rsID (#NA)
    o = d.drop(columns=["beta", "standard_error"]).assign(
        odds_ratio=np.exp(t.beta), ci_lower=np.exp(t.beta - 1.959963984540054 * t.se),
        ci_upper=np.exp(t.beta + 1.959963984540054 * t.se))
    o.loc[0, "rsid"] = "#NA"
    df = read_sumstats(_write(tmp_path / "GCST2.tsv.gz", o, gz=True))
    assert df.attrs["z_from"] == "log(OR)/SE"
    named = f"{t.chr[0]}:{t.bp[0]}:{t.oa[0]}:{t.ea[0]}"
    assert named in set(df["SNP"])
    df.loc[df.SNP == named, "SNP"] = t.snp[0]
    _check(df, t, "gwas-ssf")
    np.testing.assert_allclose(df.set_index("SNP").loc[t.snp, "SE"], t.se, rtol=1e-9)


def test_cojo_ma(truth, tmp_path):
    t = truth
    d = pd.DataFrame({"SNP": t.snp, "A1": t.ea, "A2": t.oa, "freq": t.freq, "b": t.beta,
                      "se": t.se, "p": t.p, "N": N})
    _check(read_sumstats(_write(tmp_path / "x.ma", d, sep=" ")), t, "cojo", "A1")


def test_fastgwa(truth, tmp_path):
    t = truth
    d = pd.DataFrame({"CHR": t.chr, "SNP": t.snp, "POS": t.bp, "A1": t.ea, "A2": t.oa,
                      "N": N, "AF1": t.freq, "BETA": t.beta, "SE": t.se, "P": t.p})
    got = _check(read_sumstats(_write(tmp_path / "x.fastGWA", d)), t, "fastgwa", "A1")
    assert got["BP"].tolist() == t.bp.tolist()


def test_ldsc_and_polyfun_parquet(truth, tmp_path):
    pytest.importorskip("pyarrow")
    t = truth
    d = pd.DataFrame({"SNP": t.snp, "CHR": t.chr.astype(int), "BP": t.bp, "A1": t.ea,
                      "A2": t.oa, "Z": t.beta / t.se, "N": float(N)})
    _check(read_sumstats(_write(tmp_path / "x.sumstats", d.drop(columns=["CHR", "BP"]))), t,
           "ldsc")
    d.to_parquet(tmp_path / "x.parquet")
    got = _check(read_sumstats(tmp_path / "x.parquet"), t, "polyfun", "A1")
    assert got["CHR"].tolist() == ["22"] * len(t)


VCF_HEAD = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FORMAT=<ID=ES,Number=A,Type=Float,Description="Effect size estimate relative to the alternative allele">
##FORMAT=<ID=SE,Number=A,Type=Float,Description="Standard error of effect size estimate">
##FORMAT=<ID=LP,Number=A,Type=Float,Description="-log10 p-value for effect estimate">
##FORMAT=<ID=AF,Number=A,Type=Float,Description="Alternate allele frequency in the association study">
##FORMAT=<ID=SS,Number=A,Type=Float,Description="Sample size used to estimate genetic effect">
##FORMAT=<ID=ID,Number=1,Type=String,Description="Study variant identifier">
##META=<ID=TotalControls,Number=1,Type=Integer,Description="Total number of controls in the association study">
##SAMPLE=<ID=ieu-a-2,TotalVariants=40,TotalControls=12000.0,StudyType=Continuous>
##contig=<ID=22,length=51304566,assembly=HG19/GRCh37>
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	ieu-a-2
"""  # noqa: E501


def test_gwas_vcf(truth, tmp_path):
    t = truth
    lines = []
    for i, r in t.iterrows():
        ident, info = (r.snp, ".") if i % 2 else (".", f"RSID={r.snp}")   # ID or INFO RSID
        fmt, vals = ("ES:SE:LP:AF:SS", f"{r.beta}:{r.se}:{-np.log10(r.p)}:{r.freq}:{N}") \
            if i % 3 else ("ES:SE:LP:AF", f"{r.beta}:{r.se}:{-np.log10(r.p)}:{r.freq}")
        lines.append(f"{r.chr}\t{r.bp}\t{ident}\t{r.oa}\t{r.ea}\t.\tPASS\t{info}\t{fmt}\t{vals}")
    # a multi-allelic record (split, one row per ALT) and a site written as two records
    lines.append("22\t100\trs999\tA\tG,T\t.\tPASS\t.\tES:SE:LP:AF:SS\t0.1,0.2:0.05,0.05:1,2:"
                 "0.1,0.2:5000")
    lines.append("22\t200\t.\tC\tT\t.\tPASS\tRSID=rs998\tES:SE:LP:AF:SS\t0.1:0.05:1:0.3:5000")
    lines.append("22\t200\t.\tC\tA\t.\tPASS\tRSID=rs998\tES:SE:LP:AF:SS\t0.3:0.05:3:0.1:5000")
    p = tmp_path / "ieu-a-2.vcf.gz"
    with gzip.open(p, "wt") as fh:
        fh.write(VCF_HEAD + "\n".join(lines) + "\n")
    df = read_sumstats(p)
    got = _check(df, t, "gwas-vcf", "ALT")
    # N from SS where given, else the header's TotalControls (continuous trait)
    assert set(got["N"]) == {N, 12000.0}
    assert df.attrs["genome_build"] == "GRCh37" and df.attrs["multiallelic_split"] == 4
    multi = df[df.BP.isin([100, 200])].set_index("SNP")
    assert sorted(multi.index) == ["22:100:A:G", "22:100:A:T", "22:200:C:A", "22:200:C:T"]
    assert multi.loc["22:100:A:T", "Z"] == pytest.approx(4.0)
    assert multi.loc["22:200:C:A", "FREQ"] == pytest.approx(0.1)


def test_unknown_or_ambiguous_format_errors_name_what_they_saw(tmp_path):
    with pytest.raises(ValueError, match="unknown summary-statistics format 'plink3'.*regenie"):
        read_sumstats(BOLT, format="plink3", n=10)
    # ALLELE1/ALLELE0 with both REGENIE's LOG10P and BOLT-LMM's P_LINREG: two readings
    header = ["CHROM", "GENPOS", "ID", "ALLELE0", "ALLELE1", "BETA", "SE", "LOG10P", "P_LINREG",
              "N"]
    with pytest.raises(SumstatsError, match="bolt .*regenie") as e:
        detect_format(header)
    assert "The header is: CHROM GENPOS" in str(e.value) and "--format" in e.value.cli
    p = _write(tmp_path / "amb.txt", pd.DataFrame([["22", 1, "rs1", "A", "G", 0.1, 0.1, 1, 0.1,
                                                    10]], columns=header))
    with pytest.raises(SumstatsError, match="several summary-statistics formats"):
        read_sumstats(p)
    assert read_sumstats(p, format="regenie").attrs["format"] == "regenie"


def test_format_names_and_help():
    assert {"bolt", "regenie", "saige", "plink2", "gwas-ssf", "cojo", "fastgwa", "gwas-vcf",
            "polyfun", "ldsc", "table"} <= set(FORMAT_NAMES)
    assert get_format("VCF").name == "gwas-vcf" and get_format("ssf").name == "gwas-ssf"
    assert "saige" in formats_help() and "Allele2" in formats_help()
    # the REGENIE header is REGENIE, not BOLT-LMM
    assert detect_format("CHROM GENPOS ID ALLELE0 ALLELE1 A1FREQ INFO N TEST BETA SE CHISQ "
                         "LOG10P".split()).name == "regenie"
    assert detect_format(pd.read_csv(BOLT, sep="\t", nrows=1).columns.tolist()).name == "bolt"
