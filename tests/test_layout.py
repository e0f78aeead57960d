"""The package layout shows the pipeline (docs/development.md): no import cycle among fcompile's modules, and
the CLI loads no engine adapter or online store when it starts.

The import graph is read from the source with `ast`, every import counted wherever it stands - at module
level, in a function, under TYPE_CHECKING - so that a cycle hidden in a function-local import fails too."""

from __future__ import annotations

import ast
from pathlib import Path

import fcompile

PACKAGE = Path(fcompile.__file__).parent
ENGINE_ROOMS = ("fcompile.runners.", "fcompile.online")  # engine adapters and online stores


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(module: str, node: ast.AST) -> set[str]:
    """The fcompile modules an import statement names. `from package import submodule` names the submodule
    (the package's __init__ runs for any submodule, so it is no edge of its own)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1] + ([base] if base else []))
    submodules = {f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in MODULES}
    names = submodules | ({base} if base in MODULES and len(submodules) < len(node.names) else set())
    return names - {module}


def import_graph(module_level_only: bool = False) -> dict[str, set[str]]:
    """Module -> the fcompile modules it imports; `module_level_only`: only those imported when it loads
    (not in a function, not under TYPE_CHECKING)."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        nodes = _loaded_on_import(tree) if module_level_only else ast.walk(tree)
        graph[module] = set().union(*(imported(module, node) for node in nodes))
    return graph


def _loaded_on_import(tree: ast.Module) -> list[ast.stmt]:
    statements, pending = [], list(tree.body)
    while pending:
        statement = pending.pop()
        if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test):
            pending += statement.orelse
        elif isinstance(statement, (ast.If, ast.Try, ast.With)):
            blocks = ("body", "orelse", "finalbody", "handlers")
            pending += [s for block in blocks for s in getattr(statement, block, [])]
        elif isinstance(statement, ast.ExceptHandler):
            pending += statement.body
        else:
            statements.append(statement)
    return statements


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, pending = set(), [start]
    while pending:
        module = pending.pop()
        if module not in seen:
            seen.add(module)
            pending += graph[module]
    return seen


def test_no_import_cycle_among_fcompile_modules():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_local_import():
    """The test above can fail: a cycle, one edge of it a function-local import, is found."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    tree = ast.parse("def f():\n    from fcompile.tasks import push\n")
    assert set().union(*(imported("fcompile.tasks.push_offline", n) for n in ast.walk(tree))) == {"fcompile.tasks.push"}


def test_the_cli_loads_no_engine_adapter_or_online_store_at_start():
    """cli.py parses arguments, calls tasks and prints: the engines and stores load when a command needs them."""
    loaded = reachable(import_graph(module_level_only=True), "fcompile.cli")
    assert "fcompile.diagnostics" in loaded  # the graph is read
    assert sorted(m for m in loaded if m.startswith(ENGINE_ROOMS)) == []


def test_the_cli_reaches_the_engines_through_the_task_layer():
    """cli.py imports no runner module and not the runner registry, function-local imports included: it
    calls tasks (fcompile/tasks/) and the SDK, which open the engine and ask its capability flags."""
    imports = import_graph()["fcompile.cli"]
    assert "fcompile.tasks.offline_engine" in imports  # the graph is read, function-local imports included
    runner_imports = {m for m in imports if m == "fcompile.runners" or m.startswith("fcompile.runners.")}
    assert runner_imports == set()
