"""The house rules of the layout (docs/architecture.md, "Where a new rule goes"), read from the
source itself so they cannot rot: small folders, no import circles, each domain calling only the
domains its `__init__` declares, and the layers calling down, never up or sideways."""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRST_PARTY = ("backend", "miniprogram_api", "models", "config", "tests")
# A folder with more modules than this holds more than one domain (STYLE.md): split it.
MAX_MODULES = 15
# Folders that grow by nature, one file per change, and are read in order, never browsed.
GROWING = {"migrations/versions"}
SERVICES = "backend.services"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for top in FIRST_PARTY + ("bench", "migrations"):
        yield from (p for p in (ROOT / top).rglob("*.py") if ".venv" not in p.parts)


def build_graph() -> dict[str, dict[str, int]]:
    """Module → {imported first-party module: line}, counting imports inside functions too
    (a deferred import still ties the two modules together)."""
    files = {module_name(p): p for p in source_files() if p.parts[len(ROOT.parts)] in FIRST_PARTY}

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, dict[str, int]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: dict[str, int] = {}
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                           for alias in node.names]
            for target in targets:
                found = resolve(target)
                if found and found != name:
                    edges.setdefault(found, node.lineno)
        graph[name] = edges
    return graph


GRAPH = build_graph()


def domain_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if module.startswith(SERVICES + ".") and len(parts) > 2 else None


def imports_of(prefix: str) -> Iterator[tuple[str, str, int]]:
    for module, edges in GRAPH.items():
        if module == prefix or module.startswith(prefix + "."):
            for target, line in edges.items():
                yield module, target, line


def crossing(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return [f"{module} (line {line}) imports {target}" for module, target, line in imports_of(prefix)
            if any(target == f or target.startswith(f + ".") for f in forbidden)]


def test_no_folder_holds_more_than_a_domain():
    crowded = {}
    for folder in {p.parent for p in source_files()}:
        relative = folder.relative_to(ROOT).as_posix()
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        if relative not in GROWING and len(modules) > MAX_MODULES:
            crowded[relative] = len(modules)
    assert not crowded, f"more than {MAX_MODULES} modules side by side — give the new one a package: {crowded}"


def test_no_import_circle():
    """Tarjan's strongly connected components over the import graph: none may hold two modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH.get(module, {}):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(GRAPH):
        if module not in index:
            visit(module)
    assert not circles, f"modules that import each other, directly or around a circle: {circles}"


def declared_calls(domain: str) -> tuple[str, ...]:
    tree = ast.parse((ROOT / "backend" / "services" / domain / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id == "MAY_CALL":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError(f"backend/services/{domain}/__init__.py declares no MAY_CALL")


DOMAINS = sorted(p.parent.name for p in (ROOT / "backend" / "services").glob("*/__init__.py"))


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_domain_calls_only_the_domains_it_declares(domain):
    allowed = set(declared_calls(domain)) | {domain}
    unknown = allowed - set(DOMAINS)
    assert not unknown, f"{domain} declares domains that do not exist: {unknown}"
    stray = [f"{module} (line {line}) imports {target}"
             for module, target, line in imports_of(f"{SERVICES}.{domain}")
             if domain_of(target) is not None and domain_of(target) not in allowed]
    assert not stray, f"{domain} calls a domain outside its MAY_CALL — declare it or move the rule: {stray}"


def test_domains_call_each_other_without_a_circle():
    """MAY_CALL itself is a ladder: no domain may, through others, end up calling itself."""
    calls = {domain: set(declared_calls(domain)) for domain in DOMAINS}
    for start in DOMAINS:
        seen, todo = set(), list(calls[start])
        while todo:
            domain = todo.pop()
            assert domain != start, f"{start} reaches itself through MAY_CALL: {calls}"
            if domain not in seen:
                seen.add(domain)
                todo.extend(calls.get(domain, ()))


@pytest.mark.parametrize(("layer", "forbidden"), [
    # Business rules know no HTTP face; either face may change without touching them.
    (SERVICES, ("miniprogram_api", "backend.console", "backend.web")),
    # The two faces share only what sits below both.
    ("backend.console", ("miniprogram_api",)),
    ("miniprogram_api", ("backend.console",)),
    # The WeChat gateway and the infrastructure serve the domains and call none of them.
    ("backend.wechat", (SERVICES, "backend.web", "miniprogram_api", "backend.console")),
    ("backend.caches", (SERVICES, "backend.web", "miniprogram_api", "backend.console")),
    ("backend.storage", (SERVICES, "backend.web", "miniprogram_api", "backend.console")),
    ("backend.observability", (SERVICES, "backend.web", "miniprogram_api", "backend.console")),
    ("models", ("backend", "miniprogram_api")),
    ("config", ("backend", "miniprogram_api", "models")),
])
def test_layers_call_down(layer, forbidden):
    assert not crossing(layer, forbidden), crossing(layer, forbidden)
