"""The package's shape, checked: no import cycles, the layer rule, short functions.

docs/ARCHITECTURE.md states the rules; this test reads every ``import`` in
``pgfa/`` (imports inside functions included, since a cycle hidden in a
function is still a cycle) and every function's length.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "pgfa"
MAX_BODY_LINES = 80

# Sub-packages that the rest of pgfa builds on: they import nothing above them.
FOUNDATIONS = ("pgfa.errors", "pgfa.io", "pgfa.config", "pgfa.runtime", "pgfa.data", "pgfa.text", "pgfa.models", "pgfa.alignment")
# prefix of an importing module -> prefixes it must not import
FORBIDDEN = {
    **{f: ("pgfa.training", "pgfa.evaluation", "pgfa.experiments", "pgfa.cli", "pgfa.api", "pgfa.run",
           "pgfa.scoring", "pgfa.viz") for f in FOUNDATIONS},
    "pgfa.run": ("pgfa.training.loop", "pgfa.evaluation", "pgfa.experiments", "pgfa.cli", "pgfa.api"),
    "pgfa.scoring": ("pgfa.training", "pgfa.evaluation", "pgfa.experiments", "pgfa.cli", "pgfa.api"),
    "pgfa.training": ("pgfa.evaluation", "pgfa.experiments", "pgfa.cli", "pgfa.api"),
    "pgfa.evaluation": ("pgfa.training.loop", "pgfa.experiments", "pgfa.cli", "pgfa.api"),
    "pgfa.api": ("pgfa.training.loop", "pgfa.experiments", "pgfa.cli"),
    "pgfa.viz": ("pgfa.training", "pgfa.experiments", "pgfa.cli"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The pgfa module an import names (``pgfa.a.b`` may be a module or a name in ``pgfa.a``)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Every pgfa module that ``module`` imports, at any depth of its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]  # a submodule, or a name inside ``base``
        else:
            continue
        for name in names:
            target = _resolve(name, modules)
            if target and target != module and target.startswith("pgfa"):
                found.add(target)
    return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = _modules()
    return {m: _imports(m, p, modules) for m, p in modules.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_no_import_cycles(graph):
    assert _cycles(graph) == []


def test_layer_rule(graph):
    breaches = []
    for module, targets in graph.items():
        for prefix, forbidden in FORBIDDEN.items():
            if _within(module, prefix):
                breaches += [f"{module} -> {t}" for t in targets if any(_within(t, f) for f in forbidden)]
    assert breaches == []


def test_functions_are_short():
    long = []
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = node.body
                if len(body) > 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                    body = body[1:]  # the docstring does not count
                lines = node.end_lineno - body[0].lineno + 1
                if lines > MAX_BODY_LINES:
                    long.append(f"{path.relative_to(ROOT.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert long == []


def test_the_checker_sees_a_cycle():
    """The cycle finder itself: a three-module loop is reported, a chain is not."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []
