"""The package's import graph, read from the source (ast; imports inside functions and under
TYPE_CHECKING count too: they are where a cycle hides): no cycle between enof.trainer and
enof.exporter (the exporter may import the trainer's model definitions, the trainer never the
exporter; what both need lives below them, enof.folding and enof.fixed_point_rules), and none
inside enof.runtime."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import enof

PACKAGE_ROOT = Path(enof.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE_ROOT.rglob("*.py"))}


def _imported(node: ast.AST, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The enof modules one import statement names (``from a import b`` names a.b where b is a module)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in known]
    if not isinstance(node, ast.ImportFrom):
        return []
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    found = []
    for alias in node.names:
        if f"{base}.{alias.name}" in known:
            found.append(f"{base}.{alias.name}")
        elif base in known:
            found.append(base)
    return found


def import_graph() -> dict[str, set[str]]:
    """enof module → the enof modules its source imports anywhere in the file."""
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {m for node in ast.walk(tree) for m in _imported(node, name, is_package, known) if m != name}
    return graph


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, stack = set(), [start]
    while stack:
        for nxt in graph[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _in(package: str, module: str) -> bool:
    return module == package or module.startswith(package + ".")


def package_paths(graph, source: str, target: str) -> list[tuple[str, str]]:
    """(module of ``source``, module of ``target`` it reaches through imports), for every such pair's first."""
    out = []
    for module in sorted(m for m in graph if _in(source, m)):
        hit = sorted(m for m in reachable(graph, module) if _in(target, m))
        if hit:
            out.append((module, hit[0]))
    return out


def cycles_within(graph: dict[str, set[str]], package: str) -> list[list[str]]:
    """Strongly connected groups of more than one module that hold a module of ``package`` (Tarjan)."""
    index, low, on_stack, stack, groups, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1 and any(_in(package, m) for m in group):
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return groups


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_the_reader_sees_imports_inside_functions(graph):
    """The reader is not blind to the lazy imports a cycle would hide behind: enof.cli.train imports the
    fine-tuner inside its command function only, and the graph has that edge."""
    assert "enof.trainer.finetune" in graph["enof.cli.train"]
    assert "enof.exporter.finetune_target" in graph["enof.cli.train"]
    # and a relative-free `from enof.x import y` of a symbol resolves to the module x
    assert "enof.fixed_point_rules" in graph["enof.trainer.finetune"]


def test_the_cycle_finder_finds_a_planted_cycle():
    planted = {"enof.runtime.a": {"enof.runtime.b"}, "enof.runtime.b": {"enof.formats.c"},
               "enof.formats.c": {"enof.runtime.a"}, "enof.runtime.d": {"enof.runtime.a"}}
    assert cycles_within(planted, "enof.runtime") == [["enof.formats.c", "enof.runtime.a", "enof.runtime.b"]]
    assert package_paths(planted, "enof.runtime", "enof.formats") == [
        ("enof.runtime.a", "enof.formats.c"), ("enof.runtime.b", "enof.formats.c"), ("enof.runtime.d", "enof.formats.c")]


def test_the_trainer_never_reaches_the_exporter(graph):
    """No trainer module imports, directly or through another enof module, an exporter module."""
    assert package_paths(graph, "enof.trainer", "enof.exporter") == []


def test_no_cycle_between_trainer_and_exporter(graph):
    """Both directions cannot hold at once; the exporter reaches only the trainer's model definitions."""
    into_trainer = package_paths(graph, "enof.exporter", "enof.trainer")
    out_of_trainer = package_paths(graph, "enof.trainer", "enof.exporter")
    assert not (into_trainer and out_of_trainer)
    allowed = ("enof.trainer.checkpoint", "enof.trainer.neurons", "enof.trainer.models")
    for module in (m for m in graph if _in("enof.exporter", m)):
        direct = sorted(m for m in graph[module] if _in("enof.trainer", m))
        assert all(any(_in(a, m) for a in allowed) for m in direct), (module, direct)


def test_no_import_cycle_inside_the_runtime(graph):
    assert cycles_within(graph, "enof.runtime") == []
