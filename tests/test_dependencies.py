"""A base install (`pip install fcompile`, no extras) has every package its code paths import.

Every import of a third-party module in `fcompile/` must be one of:

- a base dependency: its distribution is listed in `[project].dependencies` itself (not merely pulled
  in by another dependency: numpy came with pyarrow until it stopped, and every online write broke);
- guarded for an extra: the import is *deferred* and its distribution is *provided* by an extra of
  `[project.optional-dependencies]` other than `dev`.

An import is deferred when it does not run when its module is imported: it sits in a function body, in
the `try:` body of a `try` that catches ImportError or ModuleNotFoundError, or under `if TYPE_CHECKING:`
— or when its whole module is *lazy*: no module of fcompile that `import fcompile`, `fcompile.cli` or
`fcompile.sdk` loads imports it, except from a deferred place (the server's modules, say, which
`fcompile serve` imports only after checking for the `serve` extra's packages).

An extra provides a distribution to a module when the extra lists it, or when the module also imports a
distribution the extra lists and that one requires it (following the installed packages' metadata, with
the extras each requirement asks for): the BigQuery runner may import `google.api_core` because it
imports `google.cloud.bigquery`, which requires it. A module that imports numpy only because pandas (an
extra) happens to require it is not guarded: it runs without pandas.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_MODULES = ("fcompile", "fcompile.__main__", "fcompile.entry_point", "fcompile.cli", "fcompile.sdk")
DEV_EXTRAS = {"dev"}
IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError"}
_REQUIREMENT = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?")
_EXTRA_MARKER = re.compile(r"""extra\s*==\s*['"]([^'"]+)['"]""")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement(text: str) -> tuple[str, set[str]]:
    """A requirement's distribution name (normalized) and the extras it asks for."""
    match = _REQUIREMENT.match(text)
    assert match, text
    return normalized(match.group(1)), {normalized(e) for e in (match.group(2) or "").split(",") if e.strip()}


def provided_by(requirements: list[str]) -> set[str]:
    """The distributions these requirements install: themselves and, as far as installed metadata tells,
    what they require in turn."""
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [requirement(text) for text in requirements]
    while pending:
        name, extras = pending.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for text in requires:
            marker = text.partition(";")[2]
            wanted = _EXTRA_MARKER.search(marker)
            if wanted is None or normalized(wanted.group(1)) in extras:
                pending.append(requirement(text.partition(";")[0]))
    return {name for name, _ in seen}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str          # the dotted name as written (for `from a.b import c`: a.b.c as well as a.b)
    deferred: bool
    importer: str        # the fcompile module that holds the statement


def module_name(package_root: Path, path: Path) -> str:
    parts = list(path.relative_to(package_root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _catches_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if caught is None or any(isinstance(n, ast.Name) and n.id in IMPORT_ERRORS for n in names):
            return True
    return False


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(package_root: Path, path: Path) -> list[Import]:
    """Every absolute import in the file, with whether it is deferred (see the module's doc)."""
    importer = module_name(package_root, path)
    found: list[Import] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            deferred = True
        if isinstance(node, ast.Try) and _catches_import_error(node):
            for child in node.body:
                visit(child, True)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, deferred)
            return
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, deferred)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(path, node.lineno, alias.name, deferred, importer) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the importing package
                package = importer.split(".")[: len(importer.split(".")) - node.level + (path.name == "__init__.py")]
                base = ".".join(package + ([base] if base else []))
            found.append(Import(path, node.lineno, base, deferred, importer))
            found.extend(Import(path, node.lineno, f"{base}.{alias.name}", deferred, importer)
                         for alias in node.names if alias.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child, deferred)

    visit(ast.parse(path.read_text("utf-8"), str(path)), False)
    return found


def eager_modules(package: str, imports: list[Import], modules: set[str]) -> set[str]:
    """The package's modules that importing its entry modules loads, with their parent packages."""
    eager: set[str] = set()
    pending = [m for m in ENTRY_MODULES if m in modules]
    by_importer: dict[str, list[Import]] = {}
    for item in imports:
        by_importer.setdefault(item.importer, []).append(item)
    while pending:
        module = pending.pop()
        if module in eager:
            continue
        eager.add(module)
        parts = module.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in modules)
        pending.extend(item.module for item in by_importer.get(module, ())
                       if not item.deferred and item.module in modules)
    return eager


def distributions_of(module: str, packages: dict[str, list[str]]) -> set[str]:
    """The installed distributions that hold `module` (one, except for namespace packages such as
    `google`, told apart by the files each distribution installed)."""
    candidates = packages.get(module.split(".")[0], [])
    if len(candidates) > 1:
        parts = module.split(".")
        for depth in range(len(parts), 1, -1):
            prefix = "/".join(parts[:depth])
            holding = [d for d in candidates
                       if any(str(f).startswith(prefix + "/") or str(f) == prefix + ".py"
                              for f in importlib.metadata.files(d) or ())]
            if holding:
                candidates = holding
                break
    return {normalized(d) for d in candidates}


def dependency_problems(package_root: Path, pyproject: Path) -> list[str]:
    """`path:line: why` for every import of a third-party module that a base install may lack."""
    project = tomllib.loads(pyproject.read_text("utf-8"))["project"]
    base = {requirement(r)[0] for r in project.get("dependencies", [])}
    extras = {name: {requirement(r)[0]: provided_by([r]) for r in reqs}  # listed -> what it installs
              for name, reqs in project.get("optional-dependencies", {}).items() if name not in DEV_EXTRAS}
    package = package_root.name
    files = sorted(package_root.rglob("*.py"))
    modules = {module_name(package_root, f) for f in files}
    imports = [item for f in files for item in imports_of(package_root, f)]
    eager = eager_modules(package, imports, modules)
    packages = importlib.metadata.packages_distributions()
    imported_by: dict[str, set[str]] = {}  # module -> every distribution it imports
    for item in imports:
        if item.module.split(".")[0] not in sys.stdlib_module_names | {package, ""}:
            imported_by.setdefault(item.importer, set()).update(distributions_of(item.module, packages))
    problems: dict[tuple[Path, int, str], str] = {}
    for item in imports:
        top = item.module.split(".")[0]
        if not top or top in sys.stdlib_module_names or top == package:
            continue
        where = (item.path, item.line, top)
        dists = distributions_of(item.module, packages)
        if not dists:
            problems.setdefault(where, f"imports {item.module}, which is not installed here: which distribution "
                                "provides it?")
            continue
        if dists & base:
            continue
        giving = sorted(name for name, listed in extras.items()
                        if dists & set(listed) or any(dists & installs for direct, installs in listed.items()
                                                      if direct in imported_by[item.importer]))
        deferred = item.deferred or item.importer not in eager
        if giving and deferred:
            continue
        label = "/".join(sorted(dists))
        if not giving:
            why = (f"imports {item.module} ({label}), which is neither a base dependency nor listed by an extra "
                   "(nor required by a listed distribution that this module imports)")
        else:
            why = (f"imports {item.module} ({label}, extra {'/'.join(giving)}) when the module is imported, "
                   f"and the module is loaded by {', '.join(ENTRY_MODULES)}: defer the import into the "
                   "function that needs it")
        problems.setdefault(where, why)
    return [f"{path.relative_to(package_root.parent)}:{line}: {why}"
            for (path, line, _), why in sorted(problems.items(), key=lambda kv: (str(kv[0][0]), kv[0][1]))]


def test_every_import_of_fcompile_is_a_base_dependency_or_guarded_for_its_extra():
    problems = dependency_problems(ROOT / "fcompile", ROOT / "pyproject.toml")
    assert not problems, "a base install would lack these:\n" + "\n".join(problems)


def test_the_check_finds_top_level_undeclared_and_eagerly_loaded_imports(tmp_path):
    package = tmp_path / "fcompile"
    (package / "serving").mkdir(parents=True)
    (package / "__init__.py").write_text("from fcompile import cli\n")
    (package / "cli.py").write_text(
        "import yaml\n"                                   # base: fine anywhere
        "import redis\n"                                  # extra, top level of an entry module
        "def serve():\n"
        "    import numpy\n"                              # deferred, but in no extra
        "    from fcompile.serving import app\n"
        "    import psycopg\n"                            # deferred, extra: fine
        "try:\n    import pyspark\nexcept ImportError:\n    pyspark = None\n")  # guarded try, extra: fine
    (package / "serving" / "__init__.py").write_text("")
    (package / "serving" / "app.py").write_text("import psycopg\n")  # lazy module: fine
    (package / "bigquery.py").write_text(  # what the extra's own package requires: fine beside it
        "def connect():\n    from google.cloud import bigquery\n    from google.api_core import exceptions\n")
    (package / "elsewhere.py").write_text(  # ... but not in a module that does not import that package
        "def connect():\n    from google.api_core import exceptions\n")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "fcompile"\ndependencies = ["PyYAML>=6"]\n'
        '[project.optional-dependencies]\nredis = ["redis>=5"]\npostgres = ["psycopg[binary]>=3.1"]\n'
        'spark = ["pyspark>=3.5"]\npandas = ["pandas>=2"]\nbigquery = ["google-cloud-bigquery>=3"]\n'
        'dev = ["numpy"]\n')
    problems = dependency_problems(package, tmp_path / "pyproject.toml")
    assert [p.split(": ", 1)[0] for p in problems] == [
        "fcompile/cli.py:2", "fcompile/cli.py:4", "fcompile/elsewhere.py:2"], problems
    assert "extra redis" in problems[0]
    assert "numpy (numpy), which is neither a base dependency nor listed by an extra" in problems[1]  # pandas needs it
    assert "google.api_core (google-api-core)" in problems[2]
