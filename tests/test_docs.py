from pathlib import Path

from fcompile.diagnostics import Code

ROOT = Path(__file__).resolve().parents[1]


def test_readme_documents_every_diagnostic_code():
    readme = (ROOT / "README.md").read_text()
    missing = [c.value for c in Code if f"| {c.value} |" not in readme]
    assert missing == []


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().split("\n## ")[0]
    assert "make demo" in head and "make test" in head
