"""Every ``docs/<file>.md#<section>`` the code and the docs cite exists (a maintainer can follow each one)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITATION = re.compile(r"docs/([a-z-]+\.md)(?:#([a-z0-9-]+))?")


def anchors(doc: Path) -> set[str]:
    """GitHub-style heading anchors of a Markdown file."""
    found = set()
    for line in doc.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            found.add(re.sub(r"[^a-z0-9 -]", "", title).replace(" ", "-"))
    return found


def test_every_docs_citation_names_an_existing_section():
    files = [p for p in ROOT.rglob("*") if p.suffix in (".py", ".md", ".toml", ".html")
             and ".venv" not in p.parts and ".git" not in p.parts and "sandbox" not in p.parts]
    broken = []
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for name, anchor in CITATION.findall(line):
                doc = ROOT / "docs" / name
                if not doc.exists() or (anchor and anchor not in anchors(doc)):
                    broken.append(f"{path.relative_to(ROOT)}:{number}: docs/{name}#{anchor}")
    assert broken == []
