"""The shape ARCHITECTURE.md promises, checked: provider differences live only in adapter/providers/."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = {"stripe", "chargebee"}


def _sources(*roots: str):
    for root in roots:
        yield from sorted((ROOT / root).rglob("*.py"))


def _provider_comparisons(tree: ast.AST) -> list[int]:
    """Line numbers where a provider name is compared (``==``, ``!=``, ``in``) or keys a dict literal."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            for operand in operands:
                values = operand.elts if isinstance(operand, (ast.Tuple, ast.List, ast.Set)) else [operand]
                if any(isinstance(v, ast.Constant) and v.value in NAMES for v in values):
                    lines.append(node.lineno)
                    break
        elif isinstance(node, ast.Dict):
            if any(isinstance(k, ast.Constant) and k.value in NAMES for k in node.keys if k is not None):
                lines.append(node.lineno)
    return lines


def test_no_provider_name_is_compared_outside_adapter_providers():
    found = {}
    for path in _sources("adapter", "webhooks"):
        if (ROOT / "adapter" / "providers") in path.parents:
            continue
        lines = _provider_comparisons(ast.parse(path.read_text()))
        if lines:
            found[str(path.relative_to(ROOT))] = lines
    assert found == {}


def test_the_counter_sees_each_form():
    source = 'a == "stripe"\nb in ("x", "chargebee")\nc = {"stripe": 1}\nd = "stripe"\n'
    assert _provider_comparisons(ast.parse(source)) == [1, 2, 3]
