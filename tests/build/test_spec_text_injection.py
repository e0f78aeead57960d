"""Text from a spec never becomes a statement of a compiled file.

A value that reaches a compiled file (a name, a path, a table, a query, a column, and what the header
comments quote) is either refused by the parser or the compiler with a diagnostic, or every compiled file of
every dialect parses (with sqlglot, in its dialect) into exactly the statements the node compiles to from a
harmless value: the same statement kinds, and no DROP, DELETE, INSERT, UPDATE, CREATE, ... that the harmless
value's SQL does not have. Comment lines hold no raw control character (a `--` comment ends at a line break,
and some engines take a carriage return or a vertical tab for one).
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlglot
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from sqlglot.errors import SqlglotError

from fcompile.artifacts.queries import compile_node
from fcompile.artifacts.selection import NodeRef
from fcompile.control_characters import escape_controls, is_control
from fcompile.diagnostics import DiagnosticError, Severity
from fcompile.dialects import DIALECTS, get_dialect
from fcompile.dialects.base import WRITING_NODES
from fcompile.graph import DatasetOutput
from fcompile.parser import parse_project

PROJECT_FILE = ("name: injection\ntargets:\n  dev:\n    offline: {type: duckdb, path: offline.duckdb}\n"
                "    online: {type: sqlite, path: online.db}\n")

BASE: dict[str, Any] = {
    "entities": [{"name": "driver", "join_keys": [{"name": "driver_id", "dtype": "int64", "description": "d"}],
                  "description": "a driver", "tags": {"domain": "supply"}, "owner": "team@example.com"}],
    "sources": [
        {"name": "stats", "table": "raw.stats", "timestamp_field": "event_timestamp",
         "created_timestamp_field": "created", "field_mapping": {"conversion": "conv_rate"},
         "description": "hourly", "tags": {"pipeline": "streaming"}, "owner": "team@example.com"},
        {"name": "files", "path": "data/files.parquet", "timestamp_field": "event_timestamp"},
        {"name": "picked", "query": "SELECT driver_id, event_timestamp, trips FROM raw.trips WHERE trips > 0",
         "timestamp_field": "event_timestamp"},
    ],
    "feature_views": [
        {"name": "hourly", "entities": ["driver"], "source": "stats", "ttl": "2h",
         "features": [{"name": "conv_rate", "dtype": "float64", "description": "share"}],
         "description": "recent", "tags": {"team": "a"}, "owner": "team@example.com"},
        {"name": "from_files", "entities": ["driver"], "source": "files",
         "features": [{"name": "rating", "dtype": "float64"}]},
        {"name": "from_query", "entities": ["driver"], "source": "picked",
         "features": [{"name": "trips", "dtype": "int64"}]},
    ],
    "feature_services": [
        {"name": "ranking", "features": ["hourly:conv_rate", "from_query:trips"],
         "description": "model", "tags": {"model": "m"}, "owner": "ml@example.com"},
    ],
    "datasets": [
        {"name": "to_table", "spine": {"table": "raw.orders"}, "service": "ranking",
         "output": {"table": "training.rows"}, "description": "rows", "tags": {"model": "m"}},
        {"name": "to_file", "spine": {"query": "SELECT driver_id, event_timestamp FROM raw.orders"},
         "features": ["hourly:conv_rate"], "output": {"path": "out/training.parquet"}},
        {"name": "picked_rows", "spine": {"query": "SELECT driver_id, event_timestamp FROM raw.orders"},
         "features": ["hourly:conv_rate", "from_query:trips"], "output": {"table": "training.picked"}},
        {"name": "from_path", "spine": {"path": "spines/orders.parquet", "timestamp_field": "event_timestamp"},
         "features": ["hourly:*"], "output": {"table": "rows_from_path"}},
    ],
}

NODES = [NodeRef("feature_view", v["name"]) for v in BASE["feature_views"]] + \
        [NodeRef("feature_service", "ranking")] + [NodeRef("dataset", d["name"]) for d in BASE["datasets"]]

# Every string of a spec that reaches a compiled file or its header, as a path into BASE and how the fuzzed
# text is put there (queries keep a working SELECT in front: the fuzz then tries to end or extend it).
FIELDS: dict[str, tuple[tuple, str]] = {
    "source table": (("sources", 0, "table"), "{}"),
    "source path": (("sources", 1, "path"), "{}"),
    "source query": (("sources", 2, "query"), "SELECT driver_id, event_timestamp, trips FROM raw.trips {}"),
    "timestamp_field": (("sources", 0, "timestamp_field"), "{}"),
    "created_timestamp_field": (("sources", 0, "created_timestamp_field"), "{}"),
    "field_mapping column": (("sources", 0, "field_mapping"), "key"),
    "spine table": (("datasets", 0, "spine", "table"), "{}"),
    "spine query": (("datasets", 3, "spine", "query"), "SELECT driver_id, event_timestamp FROM raw.orders {}"),
    "spine path": (("datasets", 2, "spine", "path"), "{}"),
    "spine timestamp_field": (("datasets", 2, "spine", "timestamp_field"), "{}"),
    "output table": (("datasets", 3, "output", "table"), "{}"),
    "output path": (("datasets", 1, "output", "path"), "{}"),
    "dataset name": (("datasets", 1, "name"), "{}"),
    "view name": (("feature_views", 0, "name"), "{}"),
    "feature name": (("feature_views", 0, "features", 0, "name"), "{}"),
    "join key name": (("entities", 0, "join_keys", 0, "name"), "{}"),
    "description": (("feature_views", 0, "description"), "{}"),
    "dataset description": (("datasets", 0, "description"), "{}"),
    "owner": (("sources", 0, "owner"), "{}"),
    "tag value": (("feature_services", 0, "tags", "model"), "{}"),
    "tag key": (("datasets", 0, "tags"), "key"),
}

PIECES = ["--", "/*", "*/", ";", "'", '"', "`", "\\", "$$", " ", "x", ".", "\n", "\r", "\t", "\x0b", "\x0c",
          "\x00", "\x1b", "\x85", "\u2028", "\u202e", " DROP TABLE victim", " DELETE FROM victim",
          " INSERT INTO victim VALUES (1)", " UPDATE victim SET a = 1", " CREATE TABLE victim (a INT)", "SELECT 1"]
HOSTILE = st.one_of(
    st.lists(st.sampled_from(PIECES), min_size=1, max_size=8).map("".join),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20),
)
FUZZ_SETTINGS = dict(max_examples=4, deadline=None, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _write(root: Path, spec: dict) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(PROJECT_FILE, "utf-8")
    # safe_dump writes control characters as escapes in double-quoted strings, as a user would
    (root / "spec.yml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), "utf-8")


def _with(field: str, text: str) -> dict:
    path, how = FIELDS[field]
    spec = copy.deepcopy(BASE)
    parent = spec
    for part in path[:-1]:
        parent = parent[part]
    if how == "key":  # the fuzz is a mapping key
        old = parent[path[-1]]
        first = next(iter(old))
        parent[path[-1]] = {text: old[first]}
    else:
        parent[path[-1]] = how.format(text)
    return spec


def _statements(sql: str, dialect: str) -> list[exp.Expression]:
    return [s for s in sqlglot.parse(sql, read=DIALECTS[dialect].sqlglot_name) if s is not None]


def _shape(sql: str, dialect: str) -> tuple[list[str], Counter]:
    """The statement kinds of a file, and how many writing nodes (DROP, INSERT, ...) it holds anywhere."""
    statements = _statements(sql, dialect)
    writing = Counter(type(node).__name__ for s in statements for node in s.find_all(*WRITING_NODES))
    return [type(s).__name__ for s in statements], writing


def _compiled(root: Path, where: set | None = None) -> dict[tuple[NodeRef, str], str | None] | None:
    """Each node's file in each dialect (`where`: those (node, dialect) pairs only; None where the compiler
    refuses it with a diagnostic); None when the parser refuses the project, every error placed in a file."""
    result = parse_project(root, check_sources=False, use_cache=False)
    if result.graph is None:
        errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
        assert errors and all(d.position is not None for d in errors), result.diagnostics
        return None
    files = {}
    for ref in NODES:
        actual = _renamed(result.graph, ref)
        for dialect in DIALECTS:
            if where is not None and (ref, dialect) not in where:
                continue
            try:
                files[ref, dialect] = compile_node(result.graph, actual, get_dialect(dialect)).text
            except DiagnosticError as exc:
                assert exc.diagnostics
                files[ref, dialect] = None
    return files


def _renamed(graph, ref: NodeRef) -> NodeRef:
    """`ref`, or the node of its kind that the fuzzed text renamed (a valid name such as `x`)."""
    if graph.get(ref.kind, ref.name) is not None:
        return ref
    names = {r.name for r in NODES if r.kind == ref.kind}
    nodes = {"feature_view": graph.feature_views, "dataset": graph.datasets}[ref.kind]
    [renamed] = [node.name for node in nodes if node.name not in names]
    return NodeRef(ref.kind, renamed)


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> dict[tuple[NodeRef, str], tuple[list[str], Counter] | None]:
    root = tmp_path_factory.mktemp("harmless")
    _write(root, BASE)
    files = _compiled(root)
    assert files is not None
    shapes = {key: None if text is None else _shape(text, key[1]) for key, text in files.items()}
    assert sum(shape is not None for shape in shapes.values()) > len(shapes) / 2  # most nodes compile everywhere
    return shapes


def _assert_comments_inert(text: str) -> None:
    for line in text.split("\n"):
        if line.lstrip().startswith("--"):
            assert not any(is_control(c) for c in line), escape_controls(line)


@pytest.mark.parametrize("field", list(FIELDS))
def test_spec_text_never_becomes_a_statement(field, expected, tmp_path_factory):
    @settings(**FUZZ_SETTINGS)
    @given(HOSTILE)
    def check(text):
        root = tmp_path_factory.mktemp("fuzz")
        _write(root, _with(field, text))
        files = _compiled(root, {key for key, shape in expected.items() if shape is not None})
        if files is None:
            return
        for (ref, dialect), sql in files.items():
            if sql is None:
                continue
            _assert_comments_inert(sql)
            try:
                kinds, writing = _shape(sql, dialect)
            except SqlglotError as exc:
                pytest.fail(f"{ref} in {dialect} does not parse back ({exc}):\n{sql}")
            want_kinds, want_writing = expected[ref, dialect]
            assert kinds == want_kinds, f"{ref} in {dialect} with {field} = {text!r}:\n{sql}"
            assert writing <= want_writing, f"{ref} in {dialect} with {field} = {text!r}:\n{sql}"

    check()


def test_a_newline_in_an_output_path_is_refused_where_it_is_written(tmp_path):
    spec = _with("output path", "out.parquet\n DROP TABLE x; --")
    _write(tmp_path, spec)
    result = parse_project(tmp_path, check_sources=False, use_cache=False)
    assert result.graph is None
    [diagnostic] = result.diagnostics
    assert diagnostic.code.value == "FC013"
    assert diagnostic.position.path.endswith("spec.yml") and diagnostic.position.line > 1
    assert "'output.path' holds the control character \\n" in diagnostic.message
    assert "\n" not in diagnostic.message and diagnostic.hint


@pytest.mark.parametrize("text", ["out.parquet\n DROP TABLE x; --", "a\rDROP TABLE x", "a\x0bb\u2028c\u202ed"])
def test_header_comments_escape_what_they_quote(tmp_path, text):
    """The compiler's own guard, for a graph the parser did not make (an SDK user can build one)."""
    _write(tmp_path, BASE)
    graph = parse_project(tmp_path, check_sources=False, use_cache=False).graph
    graph = replace(graph, datasets=tuple(replace(d, output=DatasetOutput("path", text)) if d.name == "to_file" else d
                                          for d in graph.datasets))
    sql = compile_node(graph, NodeRef("dataset", "to_file"), get_dialect("duckdb")).text
    header = [line for line in sql.split("\n") if line.startswith("--")]
    assert f"-- writes path {escape_controls(text)}" in header
    _assert_comments_inert(sql)
    assert [type(s).__name__ for s in _statements(sql, "duckdb")] == ["Copy"]  # the path is only the COPY's literal
