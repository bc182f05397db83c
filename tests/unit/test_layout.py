"""The layout's import rules, read from the source: the kernel depends on nothing that uses
it, and a service on the kernel and its own package only."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(path.parent.name for path in (ROOT / "services").glob("*/service.py"))

# folder → the packages its modules may not import
RULES = {
    "kernel": ("services", "gateway", "lodge"),
    **{f"services/{name}": ("gateway", "lodge",
                            *(f"services.{other}" for other in SERVICES if other != name))
       for name in SERVICES},
}


def imported_modules(path: Path):
    """Every absolute import in the module, with its line, functions' imports included."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_every_service_has_its_rule():
    assert SERVICES == ["approval", "intake", "inventory", "letters", "validation"]


@pytest.mark.parametrize("folder", sorted(RULES))
def test_imports_follow_the_layout(folder):
    forbidden = RULES[folder]
    offenders = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, module in imported_modules(path)
        if any(module == package or module.startswith(package + ".") for package in forbidden)
    ]
    assert offenders == []
