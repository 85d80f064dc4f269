"""GWAS-VCF details a careful user checks: the genome build told by the ##contig lengths when
no assembly is named, and records whose FILTER is not PASS (MRC-IEU's harmonisation flags
such as IFFY or REF_MISMATCH) dropped and counted, as MRC-IEU's own tools drop them."""
import gzip

import pytest

from deepwas.io import read_sumstats
from deepwas.io.contigs import CHROM_LENGTHS, build_from_contigs

HEAD = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##FORMAT=<ID=ES,Number=A,Type=Float,Description="Effect size estimate (ALT allele)">
##FORMAT=<ID=SE,Number=A,Type=Float,Description="Standard error of effect size estimate">
##FORMAT=<ID=SS,Number=A,Type=Float,Description="Sample size used to estimate genetic effect">
{contigs}#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	ieu-x-1
"""


def _vcf(path, contigs, filters):
    rows = [f"22\t{1000 + 10 * k}\trs{k}\tA\tG\t.\t{flt}\t.\tES:SE:SS\t0.01:0.005:10000"
            for k, flt in enumerate(filters)]
    with gzip.open(path, "wt") as fh:
        fh.write(HEAD.format(contigs=contigs) + "\n".join(rows) + "\n")
    return path


def _contigs(build, chroms=("1", "22", "X")):
    return "".join(f"##contig=<ID={c},length={CHROM_LENGTHS[build][c]}>\n" for c in chroms)


@pytest.mark.parametrize("build", ["GRCh37", "GRCh38"])
def test_build_from_contig_lengths_without_an_assembly_label(tmp_path, build):
    df = read_sumstats(_vcf(tmp_path / "x.vcf.gz", _contigs(build), ["PASS"] * 3))
    assert df.attrs["genome_build"] == build


def test_contig_lengths_that_fit_no_build_or_both_say_nothing():
    assert build_from_contigs({"1": 12345}) is None
    assert build_from_contigs({"1": CHROM_LENGTHS["GRCh37"]["1"],
                               "2": CHROM_LENGTHS["GRCh38"]["2"]}) is None
    assert build_from_contigs({"chr1": CHROM_LENGTHS["GRCh38"]["1"], "MT": 16569}) == "GRCh38"


def test_filtered_records_are_dropped_and_counted(tmp_path):
    flt = ["PASS", "IFFY", ".", "REF_MISMATCH", "PASS", "IFFY;REF_MISMATCH"]
    df = read_sumstats(_vcf(tmp_path / "f.vcf.gz", _contigs("GRCh37"), flt))
    assert df["SNP"].tolist() == ["rs0", "rs2", "rs4"]
    assert df.attrs["dropped"] == {"vcf_filter_not_pass": 3}
    assert df.attrs["vcf_filters"] == {"IFFY": 2, "REF_MISMATCH": 2}
