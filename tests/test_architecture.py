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


# What each package may import of seatsync (ARCHITECTURE.md, "Packages"). A module is named by its
# package (``adapter.sync``) or, for the top-level modules, by itself (``adapter.clock``).
ALLOWED = {
    "adapter.clock": set(),
    "adapter.config": {"adapter.clock"},
    "adapter.logs": {"adapter.config"},
    "adapter.metrics": set(),
    "adapter.store": {"adapter.clock", "adapter.config"},
    "adapter.providers": {"adapter.clock", "adapter.config", "adapter.billing"},
    "adapter.billing": {"adapter.clock", "adapter.ledger", "adapter.accounts", "adapter.providers"},
    "adapter.intake": {"adapter.clock", "adapter.store", "adapter.providers"},
    "adapter.ledger": {"adapter.clock", "adapter.intake", "adapter.store"},
    "adapter.accounts": {"adapter.clock", "adapter.intake", "adapter.ledger", "adapter.store"},
    "adapter.sync": {"adapter.clock", "adapter.config", "adapter.store", "adapter.ledger", "adapter.accounts",
                     "adapter.billing", "adapter.providers", "adapter.callbacks", "adapter.metrics",
                     "adapter.reconcile"},
    "adapter.callbacks": {"adapter.clock", "adapter.store", "adapter.ledger", "adapter.accounts", "adapter.intake",
                          "adapter.billing", "adapter.providers", "adapter.metrics"},
    "adapter.reconcile": {"adapter.clock", "adapter.store", "adapter.ledger", "adapter.accounts", "adapter.billing",
                          "adapter.providers"},
}
# Within the billing/providers pair only the interface crosses back: billing sees a provider through
# ``providers.base`` and ``providers.registry``, never an implementation.
BILLING_MAY_SEE = {"adapter.providers", "adapter.providers.base", "adapter.providers.registry"}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "adapter" or len(parts) == 1:
        return None
    return ".".join(parts[:2])


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("adapter.")}


def test_each_package_imports_only_what_architecture_md_allows():
    wrong = {}
    for path in _sources("adapter"):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        unit = _unit(module)
        if unit not in ALLOWED:
            continue
        for name in _imports(path):
            target = _unit(name)
            if target is None or target == unit or target in ALLOWED[unit]:
                if unit == "adapter.billing" and target == "adapter.providers" and \
                        ".".join(name.split(".")[:3]) not in BILLING_MAY_SEE:
                    wrong.setdefault(module, []).append(name)
                continue
            wrong.setdefault(module, []).append(name)
    assert wrong == {}


def test_every_package_is_governed_by_a_rule():
    units = {_unit(".".join(p.relative_to(ROOT).with_suffix("").parts)) for p in _sources("adapter")}
    assert units - set(ALLOWED) - {None, "adapter.__init__"} <= {"adapter.cli", "adapter.embedded"}


def test_no_adapter_module_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in [*_sources("adapter", "webhooks", "tests")]
            if (n := len(p.read_text().splitlines())) > 500}
    assert long == {}
