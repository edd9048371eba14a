"""The sandbox must never import seatsync code: its answers are the reference, not seatsync's."""

from __future__ import annotations

import ast
from pathlib import Path

SANDBOX = Path(__file__).resolve().parent.parent  # tests/sandbox, this directory included
FORBIDDEN = {"adapter", "webhooks", "mappings"}


def _imported_roots(tree: ast.AST) -> set[str]:
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                "import_module", "__import__", "find_spec"):
            for arg in node.args[:1]:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    roots.add(arg.value.split(".")[0])
    return roots


def test_sandbox_imports_no_seatsync_package():
    files = sorted(SANDBOX.rglob("*.py"))
    # Every part of the sandbox is walked, wherever its files move: the core, both halves with their
    # api/ and ops/ layers, and the sandbox's own tests (this file among them).
    walked = {f.relative_to(SANDBOX).parent.as_posix() for f in files}
    assert {"core", "stripe", "stripe/api", "stripe/ops", "chargebee", "chargebee/api", "chargebee/ops",
            "tests"} <= walked, walked
    assert Path(__file__).resolve() in files
    offenders = {str(f.relative_to(SANDBOX)): sorted(_imported_roots(ast.parse(f.read_text())) & FORBIDDEN)
                 for f in files}
    assert {f: bad for f, bad in offenders.items() if bad} == {}


def test_the_checker_catches_each_import_form():
    source = "import adapter.store\nfrom webhooks import x\nimportlib.import_module('mappings.y')\n"
    assert _imported_roots(ast.parse(source)) == {"adapter", "webhooks", "mappings"}
