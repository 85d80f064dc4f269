"""Chromosome lengths of the human genome builds, and the build a set of contig lengths
belongs to (a VCF's ``##contig=<ID=1,length=249250621>`` lines say GRCh37 even when no
assembly is named).

GRCh37 lengths as in the MRC-IEU GWAS-VCF specification's header example (human_g1k_v37);
GRCh38 lengths of the UCSC hg38 chromosome sizes.
"""
from __future__ import annotations

from ..utils.chrom import normalise_chrom

__all__ = ["CHROM_LENGTHS", "build_from_contigs"]

#: primary chromosome lengths (bp) per build; chrM (16,569 bp) is the same in both
CHROM_LENGTHS = {
    "GRCh37": {
        "1": 249250621, "2": 243199373, "3": 198022430, "4": 191154276, "5": 180915260,
        "6": 171115067, "7": 159138663, "8": 146364022, "9": 141213431, "10": 135534747,
        "11": 135006516, "12": 133851895, "13": 115169878, "14": 107349540, "15": 102531392,
        "16": 90354753, "17": 81195210, "18": 78077248, "19": 59128983, "20": 63025520,
        "21": 48129895, "22": 51304566, "X": 155270560, "Y": 59373566},
    "GRCh38": {
        "1": 248956422, "2": 242193529, "3": 198295559, "4": 190214555, "5": 181538259,
        "6": 170805979, "7": 159345973, "8": 145138636, "9": 138394717, "10": 133797422,
        "11": 135086622, "12": 133275309, "13": 114364328, "14": 107043718, "15": 101991189,
        "16": 90338345, "17": 83257441, "18": 80373285, "19": 58617616, "20": 64444167,
        "21": 46709983, "22": 50818468, "X": 156040895, "Y": 57227415},
}


def build_from_contigs(lengths):
    """``"GRCh37"`` or ``"GRCh38"`` when the contig lengths given match one build's primary
    chromosomes and none match the other's; None otherwise.

    Parameters
    ----------
    lengths : dict
        Contig name (``chr`` prefix optional) -> length in bp.
    """
    hits = {b: 0 for b in CHROM_LENGTHS}
    for name, length in lengths.items():
        c = normalise_chrom(str(name))
        for b, table in CHROM_LENGTHS.items():
            if table.get(c) == int(length):
                hits[b] += 1
    found = [b for b, k in hits.items() if k]
    return found[0] if len(found) == 1 else None
