"""The README's "Using it from Python" snippet runs as written, on the shipped data."""
import re
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_snippet():
    text = README.read_text()
    section = text.split("## Using it from Python", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "expected one ```python block under 'Using it from Python'"
    return blocks[0]


def test_readme_python_snippet_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEEPWAS_CACHE", str(tmp_path / "cache"))
    exec(compile(_python_snippet(), "README.md", "exec"), {"__name__": "__readme__"})
    out = capsys.readouterr().out
    assert "SummaryStats(2 windows on 2 chromosomes" in out and "nats per person" in out
    gain = float(out.strip().splitlines()[-1].split()[0])
    assert 0 < gain < 1        # the fitted prior gains over the null
    assert (tmp_path / "my_gwas.tsv.gz").stat().st_size > 0
