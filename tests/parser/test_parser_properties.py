"""Properties of the parser, checked on generated projects (hypothesis).

1. Robustness: a valid base project, mutated at random (structurally: keys deleted or renamed, values of
   the wrong type, duplicated items, dangling references, bad dtypes, durations and names; textually:
   characters, lines, tabs, unicode and bytes inserted or removed), always parses to a graph or to
   diagnostics with known codes and positions inside existing files. Never an exception, never a
   traceback from the CLI.
2. Determinism: a random valid project parses to equal graphs every time (cold and from the parse
   cache), and its content hashes do not depend on how items are spread over files or ordered in them.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcompile.diagnostics import Code, Diagnostic, Severity, sort_diagnostics
from fcompile.graph import FeatureGraph, to_plain
from fcompile.parser import ParseResult, parse_project
from fcompile.parser import cache as cache_module

REPO = Path(__file__).resolve().parents[2]

PROPERTY_SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)

# A position may lack a line only where the problem concerns a whole file or folder: the project folder
# has no project file, a file is not UTF-8, --target names no target. YAML_SYNTAX is here because YAML's
# reader reports a control character without a line (corpus case 80_yaml_control_character).
CODES_WITHOUT_LINE = {Code.PROJECT_FILE_MISSING, Code.FILE_UNREADABLE, Code.UNKNOWN_TARGET, Code.YAML_SYNTAX}

# -- the valid base project -----------------------------------------------------------------------

PROJECT_FILE: dict[str, Any] = {
    "name": "props",
    "default_target": "dev",
    "targets": {
        "dev": {"offline": {"type": "duckdb", "path": ".fcompile/offline.duckdb"},
                "online": {"type": "sqlite", "path": ".fcompile/online.db"}},
        "prod": {"offline": {"type": "snowflake", "account": "{{ env_var('SF_ACCOUNT', 'acme') }}",
                             "password": "{{ env_var('SF_PASSWORD') }}"},
                 "online": {"type": "redis", "url": "{{ env_var('REDIS_URL', 'redis://127.0.0.1:6379/0') }}"}},
    },
}

BASE_SPECS: dict[str, dict[str, Any]] = {
    "features/entities.yml": {
        "entities": [
            {"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64"}], "tags": {"domain": "supply"}},
            {"name": "customer", "join_keys": [{"name": "customer_id", "dtype": "string"}]},
            {"name": "location", "description": "a city zone",
             "join_keys": [{"name": "city_id", "dtype": "int32"}, {"name": "zone_id", "dtype": "string"}]},
        ],
    },
    "features/sources.yml": {
        "sources": [
            {"name": "trips", "path": "data/trips.parquet", "timestamp_field": "event_ts",
             "created_timestamp_field": "created", "field_mapping": {"conversion": "conv_rate"}},
            {"name": "customers", "table": "raw.customers", "timestamp_field": "updated_at"},
            {"name": "zones", "query": "SELECT * FROM raw.zones WHERE city_id > 0", "timestamp_field": "ts"},
            {"name": "orders", "table": "raw.orders", "timestamp_field": "ordered_at"},
            {"name": "trips_push", "push": {"batch_source": "trips"}, "description": "the trip stream"},
        ],
    },
    "features/views.yml": {
        "feature_views": [
            {"name": "driver_hourly", "entities": ["driver"], "source": "trips", "ttl": "2h",
             "features": [{"name": "conv_rate", "dtype": "float64"}, {"name": "trips", "dtype": "int64"}]},
            {"name": "customer_profile", "entities": ["customer"], "source": "customers",
             "features": [{"name": "balance", "dtype": "float64", "description": "EUR"},
                          {"name": "segment", "dtype": "string", "tags": {"pii": False}}]},
            {"name": "zone_stats", "entities": ["location"], "source": "zones", "ttl": "P1D",
             "features": [{"name": "demand", "dtype": "float32"}, {"name": "surge", "dtype": "array<float64>"}]},
            {"name": "driver_customer", "entities": ["driver", "customer"], "source": "trips_push", "ttl": "1w",
             "online": False, "features": [{"name": "trips_together", "dtype": "int64"}]},
        ],
    },
    "services/ranking.yml": {
        "feature_services": [
            {"name": "ranking_v1", "features": ["driver_hourly:conv_rate", "driver_hourly:trips", "customer_profile:*"]},
            {"name": "ranking_v2", "owner": "ml@example.com", "features": [
                {"view": "driver_hourly", "features": ["conv_rate"], "alias": "recent"},
                {"view": "zone_stats", "features": ["demand"]},
                "driver_customer:*"]},
        ],
    },
    "datasets/training.yml": {
        "datasets": [
            {"name": "training", "spine": "orders", "service": "ranking_v1", "output": {"table": "ml.training"}},
            {"name": "training_full", "spine": {"path": "data/spine.parquet", "timestamp_field": "ts"},
             "features": ["driver_hourly:trips", {"view": "zone_stats", "alias": "zone"}],
             "full_feature_names": True, "output": {"path": "out/training.parquet"}},
        ],
    },
}

NAMES = ["driver", "customer", "location", "trips", "customers", "zones", "orders", "trips_push", "driver_hourly",
         "customer_profile", "zone_stats", "driver_customer", "ranking_v1", "ranking_v2", "conv_rate",
         "balance", "demand", "recent", "zone", "dev", "prod"]
KEYS = ["name", "entities", "join_keys", "dtype", "sources", "path", "table", "query", "timestamp_field",
        "created_timestamp_field", "field_mapping", "push", "batch_source", "feature_views", "source", "ttl", "features", "online",
        "feature_services", "view", "alias", "datasets", "spine", "service", "full_feature_names", "output",
        "targets", "offline", "type", "default_target", "tags", "owner", "description"]
GOOD_DTYPES = ["bool", "int32", "int64", "float32", "float64", "string", "bytes", "date", "timestamp",
               "array<int64>", " array < string > "]
BAD_DTYPES = ["float", "integer", "decimal(10,2)", "array<array<int64>>", "array<>", "map<string,int64>",
              "INT64", "", "array<float", "int64\n"]
GOOD_DURATIONS = ["45s", "15m", "2h", "1d", "1w", "PT2H", "P1D", "P1W", "PT1H30M", "PT90S"]
BAD_DURATIONS = ["0s", "PT0S", "PT0.5S", "1 day", "-1d", "1y", "P", "PT", "3600", "1.5h", "", "P1DT"]
ODD_NAMES = ["select", "order", "group", "user", "a__b", "__x", "x-y", "7d", "", " ", "driver\n", "Ünïcödé",
             "名前", "a" * 300, "DRIVER", "driver ", "null", "true", "<<", "*", "view:feature", "1.5"]
REFERENCES = ["driver_hourly:conv_rate", "driver_hourly:*", "nope:conv_rate", "driver_hourly:nope",
              "driver_hourly", ":", "a:b:c", "zone_stats:surge", "driver_hourly:conv_rate\n"]

ODD_TEXT = st.text(
    st.characters(exclude_categories=("Cs",)) | st.sampled_from(list("\t\n\r :-[]{}#&*!|>'\"%@`,?\\\x00\x85\u2028\ufeff")),
    max_size=12)

SCALARS = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | ODD_TEXT | st.sampled_from(
    NAMES + ODD_NAMES + GOOD_DTYPES + BAD_DTYPES + GOOD_DURATIONS + BAD_DURATIONS + REFERENCES)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(KEYS) | ODD_TEXT, inner, max_size=3), max_leaves=6)

TYPED_FIELDS = {
    "dtype": GOOD_DTYPES + BAD_DTYPES,
    "ttl": GOOD_DURATIONS + BAD_DURATIONS,
    "name": NAMES + ODD_NAMES,
    "alias": NAMES + ODD_NAMES,
    "source": NAMES + ODD_NAMES,
    "batch_source": NAMES + ODD_NAMES,
    "service": NAMES + ODD_NAMES,
    "spine": NAMES + ODD_NAMES,
    "view": NAMES + ODD_NAMES,
    "type": ["duckdb", "duckbd", "snowflake", "sqlite", "redis", "postgres", "oracle", ""],
    "default_target": ["dev", "prod", "staging", "", "Dev"],
    "timestamp_field": ["event_ts", "", "ts"],
    "account": ["{{ env_var('SF_ACCOUNT') }}", "{{ env_var('X' }}", "{{ nope() }}", "{% for %}",
                "{{ ''.__class__ }}", "{{ env_var('A', 'b') }}", "{{", "}}"],
}


# -- tree surgery -----------------------------------------------------------------------------------

Path_ = tuple[Any, ...]


def walk(node: Any, here: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) below `node`, the root excluded."""
    if isinstance(node, dict):
        children = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return
    for key, value in children:
        yield here + (key,), value
        yield from walk(value, here + (key,))


def parent_of(root: Any, path: Path_) -> Any:
    node = root
    for key in path[:-1]:
        node = node[key]
    return node


def rename_key(mapping: dict, old: Any, new: Any) -> None:
    """Rename a key in place, keeping its place in the mapping's order."""
    items = [((new if k == old else k), v) for k, v in mapping.items()]
    mapping.clear()
    mapping.update(items)


@st.composite
def structural_mutation(draw: st.DrawFn, files: dict[str, Any]) -> str:
    """Apply one random edit to the parsed data of one file; returns a description of it."""
    name = draw(st.sampled_from(sorted(files)))
    data = files[name]
    paths = [p for p, _ in walk(data)]
    if not paths:
        files[name] = draw(VALUES)
        return f"{name}: replaced the whole document"
    path = draw(st.sampled_from(paths))
    parent, key = parent_of(data, path), path[-1]
    op = draw(st.sampled_from(["delete", "rename", "replace", "duplicate", "reference", "typed", "copy_to_file"]))
    if op == "delete":
        del parent[key]
    elif op == "rename" and isinstance(parent, dict):
        new = draw(st.sampled_from(KEYS) | ODD_TEXT | st.integers(0, 3) | st.sampled_from(
            [str(key)[:-1], str(key) + "s", str(key).upper(), "<<"]))
        if new in parent:
            return f"{name}: rename {path} skipped"
        rename_key(parent, key, new)
    elif op == "duplicate" and isinstance(parent, list):
        parent.insert(key, copy.deepcopy(parent[key]))
    elif op == "reference" and isinstance(parent[key], str):
        parent[key] = draw(st.sampled_from(NAMES + REFERENCES + ODD_NAMES))
    elif op == "typed":
        field = draw(st.sampled_from(sorted(TYPED_FIELDS)))
        candidates = [p for p in paths if p[-1] == field]
        if not candidates:
            return f"{name}: no {field} to set"
        path = draw(st.sampled_from(candidates))
        parent_of(data, path)[path[-1]] = draw(st.sampled_from(TYPED_FIELDS[field]))
    elif op == "copy_to_file" and len(path) == 2 and isinstance(parent, list):
        other = draw(st.sampled_from(sorted(n for n in files if n != "fcompile_project.yml")))
        target = files[other]
        if isinstance(target, dict):
            bucket = target.setdefault(path[0], [])
            if isinstance(bucket, list):
                bucket.append(copy.deepcopy(parent[key]))
    else:
        parent[key] = draw(VALUES)
    return f"{name}: {op} at {path}"


NOISE_PIECES = list("\t \n:-[]{}#&*!|>'\"%@,?\\") + ["  ", "- ", ": ", "\u00e9", "\u540d", "\x00", "\x07", "\ufeff",
                                                          "\U0001f600", "\r", "\u2028", "---", "&a ", "*a", "<<: "]
TEXT_NOISE = st.lists(st.sampled_from(NOISE_PIECES), min_size=1, max_size=6).map("".join)


@st.composite
def textual_mutation(draw: st.DrawFn, texts: dict[str, str | bytes]) -> str:
    """Edit the text (or bytes) of one file: characters, lines, tabs, encodings, or the file itself."""
    name = draw(st.sampled_from(sorted(texts)))
    text = texts[name]
    if isinstance(text, bytes):
        return f"{name}: already bytes"
    op = draw(st.sampled_from(["insert", "delete", "dup_line", "drop_line", "swap_lines", "tab", "truncate",
                               "documents", "bytes", "encoding", "remove_file", "rename_file", "empty"]))
    at = draw(st.integers(0, len(text)))
    lines = text.splitlines(keepends=True)
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    j = draw(st.integers(0, max(len(lines) - 1, 0)))
    if op == "insert":
        texts[name] = text[:at] + draw(TEXT_NOISE) + text[at:]
    elif op == "delete":
        texts[name] = text[:at] + text[at + draw(st.integers(1, 20)):]
    elif op == "dup_line" and lines:
        texts[name] = "".join(lines[:i + 1] + [lines[i]] + lines[i + 1:])
    elif op == "drop_line" and lines:
        texts[name] = "".join(lines[:i] + lines[i + 1:])
    elif op == "swap_lines" and lines:
        lines[i], lines[j] = lines[j], lines[i]
        texts[name] = "".join(lines)
    elif op == "tab" and lines:
        lines[i] = re.sub(r"^ +", "\t", lines[i]) if lines[i].startswith(" ") else "\t" + lines[i]
        texts[name] = "".join(lines)
    elif op == "truncate":
        texts[name] = text[:at]
    elif op == "documents":
        texts[name] = draw(st.sampled_from(["---\n", "%YAML 1.1\n---\n", ""])) + text + "\n---\nfoo: 1\n"
    elif op == "bytes":
        raw = bytearray(text.encode("utf-8"))
        for _ in range(draw(st.integers(1, 4))):
            raw.insert(draw(st.integers(0, len(raw))), draw(st.integers(0, 255)))
        texts[name] = bytes(raw)
    elif op == "encoding":
        texts[name] = text.replace("a", "\u00e4", 1).encode(draw(st.sampled_from(["latin-1", "utf-16", "utf-32"])), "replace")
    elif op == "remove_file":
        del texts[name]
    elif op == "rename_file":
        texts[draw(st.sampled_from([name + ".bak", name.replace(".yml", ".yaml"), "target/" + name,
                                    ".hidden/" + name, "deeper/" + name]))] = texts.pop(name)
    elif op == "empty":
        texts[name] = draw(st.sampled_from(["", "# nothing\n", "~\n", "null\n", "[]\n", "{}\n", "entities:\n"]))
    return f"{name}: text {op}"


def dump(data: Any) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


@st.composite
def mutated_project(draw: st.DrawFn) -> tuple[dict[str, str | bytes], list[str]]:
    files: dict[str, Any] = {"fcompile_project.yml": copy.deepcopy(PROJECT_FILE), **copy.deepcopy(BASE_SPECS)}
    log = [draw(structural_mutation(files)) for _ in range(draw(st.integers(0, 4)))]
    texts: dict[str, str | bytes] = {name: dump(data) for name, data in files.items()}
    log += [draw(textual_mutation(texts)) for _ in range(draw(st.integers(0 if log else 1, 3)))]
    return texts, log


def write_project(root: Path, texts: dict[str, str | bytes]) -> None:
    for name, content in texts.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")


# -- what must hold for any result -----------------------------------------------------------------

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_diagnostic(d: Diagnostic, root: Path) -> None:
    assert isinstance(d, Diagnostic)
    assert isinstance(d.code, Code), d
    assert isinstance(d.severity, Severity), d
    assert isinstance(d.message, str) and d.message.strip(), d
    assert d.hint is None or isinstance(d.hint, str), d
    p = d.position
    if p is None:
        return
    path = Path(p.path)
    assert path.exists(), f"{d.code.value} points at a missing file: {d.render()}"
    if path.is_dir():
        assert d.code is Code.PROJECT_FILE_MISSING and path == root, d.render()
        return
    assert path.is_relative_to(root), d.render()
    if p.line == 0:
        assert d.code in CODES_WITHOUT_LINE and p.column == 0, f"no line: {d.render()}"
        return
    assert p.line >= 1 and p.column >= 1, d.render()
    text = path.read_bytes().decode("utf-8", "replace")
    # libyaml counts \r, \x85, \u2028 and \u2029 as line breaks too; `splitlines` knows a few more.
    assert p.line <= len(text.splitlines()) + 1, f"line {p.line} is past the end: {d.render()}"


def check_graph(graph: FeatureGraph) -> None:
    """A graph that came back is whole: every reference resolves, every name is an identifier."""
    for kind, nodes in graph.by_kind():
        names = [n.name for n in nodes]
        assert names == sorted(set(names)), f"{kind} names not unique and sorted: {names}"
        for node in nodes:
            assert IDENTIFIER.fullmatch(node.name), repr(node.name)
            assert re.fullmatch(r"[0-9a-f]{16}", node.content_hash)
    for entity in graph.entities:
        assert all(IDENTIFIER.fullmatch(k.name) for k in entity.join_keys), entity
    for view in graph.feature_views:
        graph.source(view.source)  # always an ordinary source: a named push source resolves to its batch source
        if view.push_source is not None:
            assert graph.push_source(view.push_source).batch_source == view.source
        assert all(IDENTIFIER.fullmatch(f) for f in view.feature_names), view
        keys = [k.name for k in graph.join_keys(view)]
        assert len(keys) == len(set(keys)) and not set(keys) & set(view.feature_names)
        assert len(view.feature_names) == len(set(view.feature_names))
        assert view.ttl is None or view.ttl.total_seconds() > 0
        for key in graph.join_keys(view):
            assert not key.dtype.is_array
    for push in graph.push_sources:
        graph.source(push.batch_source)
    for service in graph.feature_services:
        for projection in service.projections:
            view = graph.feature_view(projection.view)
            assert all(view.feature(f) is not None for f in projection.features)
    for dataset in graph.datasets:
        if dataset.service is not None:
            assert dataset.projections == graph.feature_service(dataset.service).projections
        if dataset.spine.kind == "source":
            graph.source(dataset.spine.locator)
        outputs = [n for p in dataset.projections for n in p.output_names(dataset.full_feature_names)]
        assert len(outputs) == len(set(outputs)), outputs


def check_result(result: ParseResult, root: Path) -> None:
    assert isinstance(result, ParseResult)
    assert result.diagnostics == sort_diagnostics(result.diagnostics), "diagnostics not sorted, or repeated"
    errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
    if result.graph is None:
        assert errors, "no graph, but no error says why"
    else:
        assert not errors, [d.render() for d in errors]
        check_graph(result.graph)
    for d in result.diagnostics:
        check_diagnostic(d, root)


@pytest.fixture(scope="module", autouse=True)
def private_cache_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The parse cache signs with a per-user key; keep the tests' key out of the real home folder."""
    home = tmp_path_factory.mktemp("user-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(home))
        mp.setattr(cache_module, "_KEY", [])
        yield home


def test_base_project_is_valid(tmp_path: Path) -> None:
    texts = {name: dump(data) for name, data in {"fcompile_project.yml": PROJECT_FILE, **BASE_SPECS}.items()}
    write_project(tmp_path, texts)
    result = parse_project(tmp_path, environ={})
    assert result.graph is not None, [d.render() for d in result.diagnostics]
    check_result(result, tmp_path.resolve())
    assert {d.code for d in result.diagnostics} == {Code.SOURCE_FILE_NOT_FOUND}
    graph = result.graph
    assert [len(nodes) for _, nodes in graph.by_kind()] == [3, 4, 1, 4, 2, 2, 0, 0, 0]  # no tests, request sources or on-demand views
    assert graph.feature_view("driver_customer").source == "trips"  # read as if it named its batch source
    assert graph.push_views("trips_push") == (graph.feature_view("driver_customer"),)
    prod = parse_project(tmp_path, target="prod", environ={"SF_PASSWORD": "s3cret"})
    assert prod.graph is not None and dict(prod.graph.project.target.offline)["account"] == "acme"


@settings(max_examples=200, **PROPERTY_SETTINGS)
@given(project=mutated_project(), target=st.sampled_from([None, None, "prod", "nope"]),
       environ=st.sampled_from([{}, {"SF_PASSWORD": "x"}]))
def test_mutated_projects_never_crash_the_parser(project: tuple[dict[str, str | bytes], list[str]],
                                                 target: str | None, environ: dict[str, str]) -> None:
    texts, log = project
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        write_project(root, texts)
        result = parse_project(root, target=target, environ=environ)
        check_result(result, root)
        # A second parse reads unchanged files from the parse cache: the same answer, still no crash.
        again = parse_project(root, target=target, environ=environ)
        assert again.diagnostics == result.diagnostics
        assert again.graph == result.graph


@settings(max_examples=3, **PROPERTY_SETTINGS)
@given(project=mutated_project())
def test_cli_never_prints_a_traceback(project: tuple[dict[str, str | bytes], list[str]]) -> None:
    texts, log = project
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp).resolve()
        write_project(root, texts)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
        env["XDG_CACHE_HOME"] = str(root / ".user-cache")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        runs = [(extra, subprocess.Popen(
            [sys.executable, "-m", "fcompile", "validate", "--project-dir", str(root), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)) for extra in ([], ["--format", "json"])]
        for extra, process in runs:
            stdout, stderr = process.communicate(timeout=120)
            output = stdout + stderr
            assert process.returncode in (0, 1), output
            assert "Traceback" not in output and "internal error" not in output, output
            if extra:
                assert isinstance(json.loads(stdout), list)


# -- known crash ----------------------------------------------------------------------------------

DEPTH = 2000
DEEP_PROJECTS = {
    "list_of_entities": {"features/deep.yml": "entities: " + "[" * DEPTH + "]" * DEPTH + "\n"},
    "description_value": {"features/deep.yml": "entities:\n  - name: driver\n    description: "
                          + "[" * DEPTH + "]" * DEPTH + "\n    join_keys: [{name: driver_id, dtype: int64}]\n"},
    # Shallow enough for the schema check; the parse cache's pickle still overflows.
    "description_value_700": {"features/deep.yml": "entities:\n  - name: driver\n    description: "
                              + "[" * 700 + "]" * 700 + "\n    join_keys: [{name: driver_id, dtype: int64}]\n"},
    "target_setting": {"fcompile_project.yml": dump(PROJECT_FILE).replace(
        "type: duckdb", "type: duckdb\n      options: " + "[" * DEPTH + "]" * DEPTH, 1)},
}


@pytest.mark.parametrize("case", sorted(DEEP_PROJECTS))
def test_deeply_nested_yaml_is_a_diagnostic_not_a_crash(case: str, tmp_path: Path) -> None:
    texts = {name: dump(data) for name, data in {"fcompile_project.yml": PROJECT_FILE, **BASE_SPECS}.items()}
    texts.update(DEEP_PROJECTS[case])
    write_project(tmp_path, texts)
    result = parse_project(tmp_path, environ={})
    assert result.graph is None
    check_result(result, tmp_path.resolve())


# -- determinism -----------------------------------------------------------------------------------

SAFE_WORD = st.text("abcdefghijklmnopqrstuvwxyz0123456789", max_size=4)  # always after a letter


def names(prefix: str, min_size: int, max_size: int) -> st.SearchStrategy[list[str]]:
    """Unique identifiers that are never reserved words and never contain '__'."""
    return st.lists(SAFE_WORD, min_size=min_size, max_size=max_size).map(
        lambda words: [f"{prefix}{w}_{i}" for i, w in enumerate(words)])


# what the parser accepts in free text: no surrogates and no control, format or separator characters
FREE_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cf", "Zl", "Zp")), max_size=20)
TAGS = st.dictionaries(SAFE_WORD.map(lambda w: f"t{w}"), st.one_of(SAFE_WORD, st.integers(0, 99), st.booleans()),
                      max_size=2)


@st.composite
def valid_items(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """A random valid project's items, by list name."""
    entity_names = draw(names("e", 1, 3))
    keys = iter(draw(names("k", 3 * len(entity_names), 3 * len(entity_names))))
    entities = [{"name": e, "join_keys": [{"name": next(keys), "dtype": draw(st.sampled_from(
        ["int64", "int32", "string", "date"]))} for _ in range(draw(st.integers(1, 3)))]} for e in entity_names]
    for entity in entities:
        if draw(st.booleans()):
            entity["tags"] = draw(TAGS)
    source_names = draw(names("s", 1, 3))
    sources = []
    for s in source_names:
        kind = draw(st.sampled_from(["table", "query"]))
        source = {"name": s, kind: f"raw.{s}" if kind == "table" else f"SELECT * FROM raw.{s}",
                  "timestamp_field": draw(st.sampled_from(["ts", "event_ts"]))}
        if draw(st.booleans()):
            source["created_timestamp_field"] = "created"
        if draw(st.booleans()):
            source["field_mapping"] = {f"col_{i}": f"c_{i}" for i in range(draw(st.integers(1, 3)))}
        sources.append(source)
    pushed = draw(st.lists(st.sampled_from(source_names), max_size=2, unique=True))
    sources += [{"name": f"p{s}", "push": {"batch_source": s}} for s in pushed]
    readable = source_names + [f"p{s}" for s in pushed]  # views and spines may name a push source
    view_names = draw(names("v", 1, 4))
    features = iter(draw(names("f", 4 * len(view_names), 4 * len(view_names))))
    views = []
    for v in view_names:
        view = {"name": v, "entities": draw(st.lists(st.sampled_from(entity_names), min_size=1, max_size=2,
                                                     unique=True)),
                "source": draw(st.sampled_from(readable)),
                "features": [{"name": next(features), "dtype": draw(st.sampled_from(GOOD_DTYPES))}
                             for _ in range(draw(st.integers(1, 4)))]}
        if draw(st.booleans()):
            view["ttl"] = draw(st.sampled_from(GOOD_DURATIONS))
        if draw(st.booleans()):
            view["online"] = draw(st.booleans())
        if draw(st.booleans()):
            view["description"] = draw(FREE_TEXT)
        if draw(st.booleans()):
            view["features"][0]["tags"] = draw(TAGS)
        views.append(view)
    by_view = {v["name"]: [f["name"] for f in v["features"]] for v in views}
    services = []
    for s in draw(names("svc", 0, 3)):
        refs = []
        for v in draw(st.lists(st.sampled_from(view_names), min_size=1, max_size=3, unique=True)):
            form = draw(st.sampled_from(["one", "star", "mapping", "alias"]))
            if form == "one":
                refs.append(f"{v}:{draw(st.sampled_from(by_view[v]))}")
            elif form == "star":
                refs.append(f"{v}:*")
            else:
                ref: dict[str, Any] = {"view": v}
                if draw(st.booleans()):
                    ref["features"] = draw(st.lists(st.sampled_from(by_view[v]), min_size=1, unique=True))
                if form == "alias":
                    ref["alias"] = f"a_{v}"
                refs.append(ref)
        services.append({"name": s, "features": refs})
    datasets = []
    for d in draw(names("d", 0, 2)):
        dataset: dict[str, Any] = {"name": d, "output": {"table": f"ml.{d}"}}
        dataset["spine"] = draw(st.sampled_from(readable + [{"table": "ml.spine"}, {"query": "SELECT 1"}]))
        if services and draw(st.booleans()):
            dataset["service"] = draw(st.sampled_from([s["name"] for s in services]))
            dataset["full_feature_names"] = True  # aliased services may repeat plain names
        else:
            v = draw(st.sampled_from(view_names))
            dataset["features"] = [f"{v}:*"]
            if draw(st.booleans()):
                dataset["full_feature_names"] = draw(st.booleans())
        datasets.append(dataset)
    return {"entities": entities, "sources": sources, "feature_views": views, "feature_services": services,
            "datasets": datasets}


def shuffled_keys(data: Any, rnd: Any) -> Any:
    """The same data with every mapping's keys in a random order (lists keep their order)."""
    if isinstance(data, dict):
        keys = list(data)
        rnd.shuffle(keys)
        return {k: shuffled_keys(data[k], rnd) for k in keys}
    if isinstance(data, list):
        return [shuffled_keys(v, rnd) for v in data]
    return data


def spread_over_files(items: dict[str, list[dict[str, Any]]], rnd: Any, file_count: int) -> dict[str, str]:
    """Put every item in one of `file_count` files, in a random order, with mapping keys shuffled."""
    placed: list[tuple[str, dict]] = [(kind, item) for kind, entries in items.items() for item in entries]
    rnd.shuffle(placed)
    files: dict[str, dict[str, list]] = {}
    for kind, item in placed:
        name = f"{'sub/' * rnd.randrange(2)}f{rnd.randrange(file_count)}.{rnd.choice(['yml', 'yaml'])}"
        files.setdefault(name, {}).setdefault(kind, []).append(shuffled_keys(item, rnd))
    texts = {name: dump(shuffled_keys(data, rnd)) for name, data in files.items()}
    texts["fcompile_project.yml"] = dump(PROJECT_FILE)
    return texts


def hashes(graph: FeatureGraph) -> dict[tuple[str, str], str]:
    return {(kind, node.name): node.content_hash for kind, nodes in graph.by_kind() for node in nodes}


def meaning(graph: FeatureGraph) -> Any:
    """The graph as plain data without positions or the project folder."""
    plain = to_plain(graph)
    plain["project"].pop("root")
    plain["project"].pop("location")
    for kind in ("entities", "sources", "push_sources", "feature_views", "feature_services", "datasets"):
        for node in plain[kind]:
            node.pop("location")
    return plain


def parse_valid(root: Path, **kwargs: Any) -> FeatureGraph:
    result = parse_project(root, environ={}, **kwargs)
    assert result.graph is not None, [d.render() for d in result.diagnostics]
    assert all(d.severity is Severity.WARNING for d in result.diagnostics)
    check_result(result, root)
    return result.graph


@settings(max_examples=40, **PROPERTY_SETTINGS)
@given(items=valid_items(), rnd=st.randoms(use_true_random=False), file_counts=st.tuples(
    st.integers(1, 4), st.integers(1, 4)))
def test_parsing_is_deterministic_and_order_blind(items: dict[str, list[dict[str, Any]]], rnd: Any,
                                                  file_counts: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first_root, second_root = Path(tmp, "a").resolve(), Path(tmp, "b").resolve()
        write_project(first_root, spread_over_files(items, rnd, file_counts[0]))
        write_project(second_root, spread_over_files(items, rnd, file_counts[1]))

        cold = parse_valid(first_root)
        cached = parse_valid(first_root)  # unchanged files now come from the parse cache
        uncached = parse_valid(first_root, use_cache=False)
        assert cold == cached == uncached
        assert hashes(cold) == hashes(cached) == hashes(uncached)
        assert [n.location for _, nodes in cold.by_kind() for n in nodes] == \
            [n.location for _, nodes in cached.by_kind() for n in nodes]

        reordered = parse_valid(second_root)
        assert hashes(reordered) == hashes(cold)
        assert meaning(reordered) == meaning(cold)
        expected_counts = {kind: len(entries) for kind, entries in items.items()}
        expected_counts["push_sources"] = sum("push" in s for s in items["sources"])
        expected_counts["sources"] -= expected_counts["push_sources"]
        assert {attr: len(getattr(cold, attr)) for attr in expected_counts} == expected_counts


def test_content_hash_changes_with_meaning(tmp_path: Path) -> None:
    """The other side of order-blindness: editing what a node means changes its hash, and only its."""
    base = {name: dump(data) for name, data in {"fcompile_project.yml": PROJECT_FILE, **BASE_SPECS}.items()}
    write_project(tmp_path / "a", base)
    edited = dict(base, **{"features/views.yml": base["features/views.yml"].replace("ttl: 2h", "ttl: 3h")})
    write_project(tmp_path / "b", edited)
    before, after = hashes(parse_valid((tmp_path / "a").resolve())), hashes(parse_valid((tmp_path / "b").resolve()))
    changed = {key for key in before if before[key] != after[key]}
    assert changed == {("feature_view", "driver_hourly")}
