"""The layout's rules, read from the source with `ast`: who may import whom, and no cycle.

Each rule names the modules it governs (a dotted prefix) and the imports they may not make.
Every import counts, including imports inside functions."""

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("lodge", "gateway", "services", "kernel")
SERVICES = sorted(path.parent.name for path in (ROOT / "services").glob("*/service.py"))

# (modules, forbidden imports, why)
RULES = [
    (
        "gateway",
        ("services",),
        "the gateway reaches the services over RPC only, with the kernel's contracts",
    ),
    ("kernel", ("services", "gateway", "lodge"), "the kernel depends on nothing that uses it"),
    *(
        (
            f"services.{name}",
            ("gateway", "lodge", *(f"services.{other}" for other in SERVICES if other != name)),
            "a service depends on the kernel and its own package only",
        )
        for name in SERVICES
    ),
]


# the gateway modules that may import nameko, and why
NAMEKO_IN_THE_GATEWAY = {
    "gateway.rpc": "the RPC client pool and the broker check: the gateway's one way to the broker",
    "gateway.http.errors": "maps nameko's RPC failures (remote errors, timeouts) to HTTP answers",
}


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


MODULES = modules()


def imports(name: str, path: Path) -> set[str]:
    """The modules `name` imports, as dotted names (a `from m import x` of a submodule x
    counts as importing m.x)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in MODULES else base)
    return found


GRAPH = {name: imports(name, path) for name, path in MODULES.items()}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_every_service_has_its_rule():
    assert SERVICES == ["approval", "intake", "inventory", "letters", "validation"]


@pytest.mark.parametrize("governed,forbidden,why", RULES, ids=[rule[0] for rule in RULES])
def test_import_rules(governed, forbidden, why):
    broken = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if within(name, governed)
        for target in targets
        if any(within(target, prefix) for prefix in forbidden)
    )
    assert not broken, f"{why}:\n" + "\n".join(broken)


def test_only_the_rpc_layer_of_the_gateway_imports_nameko():
    broken = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if within(name, "gateway") and name not in NAMEKO_IN_THE_GATEWAY
        for target in targets
        if within(target, "nameko")
    )
    assert not broken, "the gateway reaches the broker through gateway.rpc:\n" + "\n".join(broken)
    assert all(name in MODULES for name in NAMEKO_IN_THE_GATEWAY)


def cycle(graph: dict[str, set[str]]) -> list[str]:
    """One loop of modules that import each other, or [] if there is none."""
    try:
        TopologicalSorter(
            {name: {t for t in targets if t in graph} for name, targets in graph.items()}
        ).prepare()
    except CycleError as err:
        return list(err.args[1])
    return []


def test_no_import_cycle():
    found = cycle(GRAPH)
    assert not found, "modules that import each other round a loop: " + " -> ".join(found)


def test_the_cycle_check_sees_a_cycle():
    assert set(cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}})) == {"a", "b", "c"}
    assert cycle({"a": {"a"}}) == ["a", "a"]
    assert not cycle({"a": {"b"}, "b": set()})
