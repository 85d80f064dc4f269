"""LDGM downloads that are partial: a metadata.csv (or its folder) listing blocks of which only
some are on disk uses the blocks present and says how many of how many; none present is a
clear error, not a raw [Errno 2]."""
import logging
import os

import numpy as np
import pandas as pd
import pytest
from test_io_ldgm import _precision, _snplist, write_ldgm

from deepwas.io.ldgm import LDGMSource


@pytest.fixture
def two_blocks(tmp_path):
    rng = np.random.default_rng(5)
    for start, n in [(1_000_000, 30), (2_000_000, 20)]:
        write_ldgm(tmp_path, f"1kg_chr22_{start}_{start + 10 ** 6}", "22", start,
                   _precision(n, rng), _snplist(n, "22", start, rng))
    return tmp_path


@pytest.mark.parametrize("what", ["edgelist", "snplist"])
def test_blocks_missing_from_disk_are_skipped_and_counted(two_blocks, caplog, what):
    name = "1kg_chr22_2000000_3000000"
    os.remove(two_blocks / (f"{name}.EUR.edgelist" if what == "edgelist" else f"{name}.snplist"))
    for path in (two_blocks / "metadata.csv", two_blocks):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            src = LDGMSource(path)
        assert len(src.blocks) == 1 and len(src.variants) == 30
        assert "1 of the 2 EUR blocks listed in" in caplog.text
        assert "1 is missing" in caplog.text and name in caplog.text


def test_no_block_on_disk_is_a_clear_error(two_blocks):
    for f in two_blocks.glob("*.edgelist"):
        os.remove(f)
    with pytest.raises(FileNotFoundError, match=r"none of the 2 EUR blocks listed in .*"
                                                r"metadata.csv is on disk"):
        LDGMSource(two_blocks / "metadata.csv")


def test_the_shipped_block_with_a_second_block_not_downloaded(ldgm_block, tmp_path, caplog):
    meta = pd.read_csv(ldgm_block / "metadata.csv")
    for f in (meta["name"].iat[0], meta["snplistName"].iat[0]):
        os.symlink(os.path.abspath(ldgm_block / f), tmp_path / f)
    absent = meta.iloc[[0]].assign(chromStart=4320284, chromEnd=5650000,
                                   name="1kg_chr1_4320284_5650000.EUR.edgelist",
                                   snplistName="1kg_chr1_4320284_5650000.snplist")
    pd.concat([meta, absent]).to_csv(tmp_path / "metadata.csv", index=False)
    with caplog.at_level(logging.WARNING):
        src = LDGMSource(tmp_path)
    assert len(src.blocks) == 1 and len(src.variants) == 5790
    assert "1 of the 2 EUR blocks listed in" in caplog.text
    assert "1kg_chr1_4320284_5650000" in caplog.text
