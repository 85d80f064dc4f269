"""Shared fixtures: real 1000 Genomes EUR genotypes shipped with the package."""
import importlib.util
import os

import numpy as np
import pytest

import deepwas

DATA = os.path.join(os.path.dirname(deepwas.__file__), "datasets", "data", "1000g_eur_22regions")


def bfile(chrom):
    return os.path.join(DATA, f"1000G.subset.{chrom}")


@pytest.fixture(scope="session")
def ref22():
    """Reference genotypes of the chr22 region (489 people, 2,608 variants)."""
    from deepwas.ld import read_plink_reference

    return read_plink_reference([bfile(22)])


@pytest.fixture(scope="session")
def geno22(ref22):
    """Standardised genotypes X (M x N_ref, rows mean 0 / variance 1), positions,
    LD R = X X^T / N."""
    X = ref22.standardised(np.arange(len(ref22)))
    R = X @ X.T / X.shape[1]
    return X, ref22.variants, R


def simulate_beta_hat(X, f, sigma2, n, rng):
    """beta_hat ~ N(R beta, sigma2/n R) with beta ~ N(0, f), R = X X^T / N_ref."""
    Nref = X.shape[1]
    Xn = X / np.sqrt(Nref)
    beta = rng.normal(size=len(f)) * np.sqrt(f)
    noise = Xn @ rng.normal(size=Nref) * np.sqrt(sigma2 / n)
    return Xn @ (Xn.T @ beta) + noise


def simulated_stats(geno22, sel, f, sigma2, n, rng, **windows):
    """SummaryStats on the panel variants ``sel`` with beta_hat drawn by simulate_beta_hat."""
    from deepwas import SummaryStats

    X, variants, R = geno22
    beta_hat = simulate_beta_hat(X[sel], f, sigma2, n, rng)
    return SummaryStats.from_arrays(beta_hat, n, variants["chrom"][sel], variants["pos"][sel],
                                    R[np.ix_(sel, sel)], sigma2=sigma2, ld_regularisation="none",
                                    **windows)


def chr22_small_windows(geno22, seed):
    """Every other chr22 panel variant in 100 kb windows with 100 kb flanks, h2 = 0.02 spread
    evenly, N = 50,000: ``(stats, f)``."""
    sel = np.arange(0, 2608, 2)
    f = np.full(len(sel), 0.02 / len(sel))
    return simulated_stats(geno22, sel, f, 0.98, 50_000, np.random.default_rng(seed),
                           window_bp=100_000, flank_bp=100_000), f


#: reference data shipped with the tests (tests/data/README.md: provenance, licences, sizes)
TEST_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


@pytest.fixture(scope="session")
def ldgm_block(tmp_path_factory):
    """The real 1000 Genomes LDGM block of tests/data/ldgm, its gzipped edgelist and snplist
    unpacked into a temporary folder (metadata.csv names the plain files): the folder."""
    import gzip
    import shutil

    src = os.path.join(TEST_DATA, "ldgm")
    out = tmp_path_factory.mktemp("ldgm_block")
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as fin, open(out / name[:-3], "wb") as fout:
                shutil.copyfileobj(fin, fout)
        else:
            shutil.copy(path, out / name)
    return out


def load_benchmark(name):
    """The module ``benchmarks/<name>.py`` (benchmarks are scripts, not a package)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks",
                        name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
