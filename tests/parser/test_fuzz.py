"""Fuzzing the parser and the compiler with the sample project's spec files (fixed seeds, bounded cases).

1. Random bytes, and the sample's spec files mutated byte by byte and token by token, go through what
   `fcompile validate` runs (`parse_project`, then `compile_project` for the target's dialect): the result
   is a graph or diagnostics - never another exception, never a hang (a watchdog bounds each case), and no
   rendered diagnostic holds a raw control character (a message quotes the file; ESC would reach the
   terminal).
2. Deep and aliased YAML (billion laughs through lists, mappings and merge keys, 10,000-deep lists and
   mappings; 2,000 levels of block indentation) is an FC002 (or libyaml's own FC001 past 1,000 flow levels)
   within a few seconds and a bounded amount of memory.
3. Control characters and SQL-looking text in every string of every node kind of the sample: each string
   value (and each user-named key: tags, field mappings) in turn gets a payload. Either the parser refuses
   it with a diagnostic placed in the file, or the project compiles for all seven dialects (once per kind
   of field, `field_kind`: a view's description, a source's table, a tag's key, ... - each kind within
   the time a test may take) and every compiled file parses (sqlglot, in its dialect) into the same
   statements as the unfuzzed build's file: as many, of the same kinds, with no DROP, DELETE, INSERT, ...
   that the unfuzzed file lacks, and no raw control character in a comment line.

tests/build/test_spec_text_injection.py fuzzes a hand-made project field by field with hypothesis;
tests/parser/test_hostile_files.py runs the files that would hang a reader (FIFOs, devices) in subprocesses.
"""

from __future__ import annotations

import contextlib
import copy
import random
import signal
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlglot
import yaml

import fcompile.sample
from fcompile.artifacts.build import compile_project
from fcompile.control_characters import escape_controls, is_control
from fcompile.diagnostics import Code, Diagnostic, Severity
from fcompile.dialects import DIALECTS
from fcompile.dialects.base import WRITING_NODES
from fcompile.parser import ParseResult, parse_project
from fcompile.parser import cache as cache_module

SAMPLE = Path(fcompile.sample.__file__).parent / "project"
SPEC_FILES = sorted(str(p.relative_to(SAMPLE)) for p in SAMPLE.rglob("*.yml") if p.name != "fcompile_project.yml")
CASE_SECONDS = 10  # each case takes well under a second; this only turns a hang into a failure


@pytest.fixture(scope="module", autouse=True)
def private_cache_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The parse cache signs with a per-user key; keep the tests' key out of the real home folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
        patch.setattr(cache_module, "_KEY", [])
        yield


@contextlib.contextmanager
def watchdog(seconds: float, what: str) -> Iterator[None]:
    """Fail (rather than hang) when the block takes longer than `seconds`."""
    def expired(signum: int, frame: Any) -> None:
        raise TimeoutError(f"{what} took longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def sample_project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_bytes((SAMPLE / "fcompile_project.yml").read_bytes())
    for name in SPEC_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes((SAMPLE / name).read_bytes())
    for schema in SAMPLE.rglob("*.pbtxt"):  # the TFDV schemas views name (part of their definition)
        (root / schema.relative_to(SAMPLE)).parent.mkdir(parents=True, exist_ok=True)
        (root / schema.relative_to(SAMPLE)).write_bytes(schema.read_bytes())
    return root


def parse(root: Path) -> ParseResult:
    return parse_project(root, check_sources=False)


def check_diagnostics(diagnostics: list[Diagnostic], what: str) -> None:
    for d in diagnostics:
        assert isinstance(d, Diagnostic) and isinstance(d.code, Code), (what, d)
        rendered = d.render()
        raw = [c for c in rendered if is_control(c) and c != "\n"]
        assert not raw, f"{what}: a diagnostic holds {raw!r}: {escape_controls(rendered)}"
        assert rendered.count("\n") <= 1, f"{what}: a diagnostic spans lines: {escape_controls(rendered)}"


# -- 1. random bytes and mutated spec files ----------------------------------------------------------

TOKENS = [b":", b": ", b"- ", b"-", b"[", b"]", b"{", b"}", b",", b"'", b'"', b"\t", b"\n", b"\r", b"  ", b"#",
          b"&a ", b"*a", b"<<: *a", b"? ", b"|", b">", b"!!binary ", b"!!python/object/apply:os.system ",
          b"!foo ", b"%YAML 1.1\n", b"---\n", b"...\n", b"\x00", b"\x1b[2J", b"\xc3", b"\xff\xfe", b"\xe2\x80\xae",
          b"\xef\xbb\xbf", b"\\", b"%", b"@", b"`", b"null", b"~", b"1e999", b"-.inf", b"0x", b"9" * 40,
          b"{{ env_var('X') }}", b"P1D", b"array<", b"int64", b"ttl: ", b"name: ", b"driver", b"*"]


def mutate(data: bytes, rng: random.Random, others: list[bytes]) -> bytes:
    """One to four random edits of a file's bytes."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(out))
        op = rng.randrange(8)
        if op == 0 and out:  # flip bits of a byte
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[at:at] = rng.choice(TOKENS)
        elif op == 2:
            del out[at:at + rng.randint(1, 40)]
        elif op == 3:  # repeat a slice
            out[at:at] = out[at:at + rng.randint(1, 200)] * rng.randint(1, 3)
        elif op == 4:
            del out[at:]
        elif op == 5:  # splice another spec file in
            other = rng.choice(others)
            start = rng.randint(0, len(other))
            out[at:at] = other[start:start + rng.randint(1, 300)]
        elif op == 6:  # swap two lines
            lines = bytes(out).split(b"\n")
            i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            out = bytearray(b"\n".join(lines))
        else:
            out[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(out)


RANDOM_CASES = 120


def test_random_bytes_and_mutated_spec_files_give_a_graph_or_diagnostics(tmp_path):
    rng = random.Random(14)
    root = sample_project(tmp_path / "project")
    originals = {name: (SAMPLE / name).read_bytes() for name in SPEC_FILES}
    graphs = 0
    for case in range(RANDOM_CASES):
        name = rng.choice(SPEC_FILES)
        if case % 6 == 0:
            content = bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
        else:
            content = mutate(originals[name], rng, list(originals.values()))
        (root / name).write_bytes(content)
        what = f"case {case}: {name} = {content[:200]!r}..."
        with watchdog(CASE_SECONDS, what):
            result = parse(root)
            diagnostics = list(result.diagnostics)
            if result.graph is not None:
                graphs += 1
                dialect = result.graph.project.target.offline_type
                diagnostics += compile_project(result.graph, (dialect,), workers=1).diagnostics
        assert result.graph is not None or any(d.severity is Severity.ERROR for d in diagnostics), what
        check_diagnostics(diagnostics, what)
        (root / name).write_bytes(originals[name])
    assert 0 < graphs < RANDOM_CASES  # some edits are harmless (a comment, a repeated blank line), most are not


# -- 2. deep and aliased YAML ---------------------------------------------------------------------

def _laughs(kind: str, levels: int = 10, width: int = 10) -> str:
    """A billion laughs: each level refers to the one below `width` times."""
    if kind == "lists":
        lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
        lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    elif kind == "mappings":
        lines = ["a0: &a0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
        lines += [f"a{i}: &a{i} {{" + ", ".join(f"k{j}: *a{i - 1}" for j in range(width)) + "}"
                  for i in range(1, levels)]
    else:  # merge keys: each level merges the one below under other keys
        lines = ["a0: &a0 {" + ", ".join(f"k{j}: lol" for j in range(width)) + "}"]
        lines += [f"a{i}: &a{i} {{<<: *a{i - 1}, " + ", ".join(f"m{j}: *a{i - 1}" for j in range(width)) + "}"
                  for i in range(1, levels)]
    return "entities:\n  - name: driver\n    join_keys: [{name: driver_id, dtype: int64}]\n    tags:\n" + \
        "".join(f"      {line}\n" for line in lines)


DEEP = 10_000
HOSTILE_YAML = {
    "billion laughs (lists)": _laughs("lists"),
    "billion laughs (mappings)": _laughs("mappings"),
    "billion laughs (merge keys)": _laughs("merge"),
    "an alias used as a key": _laughs("lists", 6) + "      ? *a5\n      : x\n",
    "a huge alias under a real field": "entities:\n  - &e {name: driver, join_keys: [{name: driver_id, dtype: int64}],"
                                       " tags: {}}\n" + "  - *e\n" * 200_000,
    "10,000 nested lists": "entities: " + "[" * DEEP + "]" * DEEP + "\n",
    "10,000 nested mappings": "entities: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n",
    # block style indents a level a column deeper: 2,000 levels are 2 MB of spaces already
    "2,000 nested block mappings": "entities:\n" + "".join(" " * i + "a:\n" for i in range(1, 2000)) + " " * 2000
                                   + "1\n",
    "2,000 nested block lists": "entities:\n" + "".join(" " * i + "-\n" for i in range(1, 2000)) + " " * 2000 + "- 1\n",
}


@pytest.fixture(scope="module")
def warm(tmp_path_factory) -> None:
    """The parser's modules imported and the JSON Schemas loaded, so a case's time is its own."""
    assert parse(sample_project(tmp_path_factory.mktemp("warm"))).graph is not None


@pytest.mark.parametrize("text", HOSTILE_YAML.values(), ids=HOSTILE_YAML.keys())
def test_deep_and_aliased_yaml_is_refused_quickly_in_bounded_memory(text, tmp_path, warm):
    root = sample_project(tmp_path / "project")
    (root / "features" / "hostile.yml").write_text(text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with watchdog(CASE_SECONDS, "parsing"):
            result = parse(root)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    assert result.graph is None
    codes = {d.code for d in result.diagnostics if d.position and d.position.path.endswith("hostile.yml")}
    # FC002 from fcompile's own limits (depth, alias budget); libyaml stops at 1,000 flow levels itself (FC001)
    assert codes and codes <= {Code.FILE_SHAPE, Code.YAML_SYNTAX}, result.diagnostics
    check_diagnostics(result.diagnostics, "hostile YAML")
    assert seconds < 5, f"{seconds:.1f} s"  # 0.02-0.3 s on an idle machine (without tracemalloc, which slows it)
    assert peak < 200 * 1024 * 1024, f"{peak / 2**20:.0f} MiB at the peak"
    assert max(len(d.message) for d in result.diagnostics) < 500


# -- 3. control characters and SQL text in every string field ---------------------------------------------

PAYLOADS = ["\n DROP TABLE victim; --", "'; DROP TABLE victim; --", "*/ DROP TABLE victim; /*", '"; DELETE FROM victim',
            "`; INSERT INTO victim VALUES (1); --", "$$; DROP TABLE victim; $$", "\r DROP TABLE victim", "\x00",
            "\x1b[31m", "\u2028 DROP TABLE victim", "\u202e", "\x85 DROP TABLE victim", "\\'; UPDATE victim SET a = 1",
            "\x0b DROP TABLE victim; --", "-- ", "/*", "\t"]
USER_KEYS = ("tags", "field_mapping")  # mappings whose keys are the user's text, not fcompile's field names

Where = tuple[Any, ...]


def string_fields(node: Any, here: Where = ()) -> Iterator[tuple[Where, bool]]:
    """The path of every string value below `node`, and of every key of a user-named mapping; True for a key."""
    if isinstance(node, dict):
        for key, value in node.items():
            if here and here[-1] in USER_KEYS and isinstance(key, str):
                yield here + (key,), True
            yield from string_fields(value, here + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from string_fields(value, here + (index,))
    elif isinstance(node, str):
        yield here, False


def field_kind(where: Where, is_key: bool) -> tuple:
    """What a field is, whatever item and file it belongs to: its path without list indexes, and whether it is
    a key (`("feature_views", "*", "tags", "<key>")`)."""
    return (where[0],) + tuple("*" if isinstance(part, int) else part for part in where[1:-1]) + \
        (("<key>",) if is_key else ("*" if isinstance(where[-1], int) else where[-1],))


def with_payload(data: Any, where: Where, is_key: bool, payload: str, replace: bool) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for part in where[:-1]:
        parent = parent[part]
    last = where[-1]
    if is_key:
        parent[last + payload] = parent.pop(last)
    else:
        parent[last] = payload if replace else parent[last] + payload
    return data


def dump(data: Any) -> str:
    # safe_dump writes control characters as escapes inside double quotes, as a user would have to
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=1000)


def statement_shapes(sql: str, dialect: str) -> tuple[list[str], Counter]:
    """The statement kinds of a compiled file, and how many writing nodes (DROP, INSERT, ...) it holds."""
    if "%(" in sql:  # psycopg's placeholders: every other `%` is written `%%` (fcompile/dialects/postgres.py)
        sql = sql.replace("%%", "%")
    statements = [s for s in sqlglot.parse(sql, read=DIALECTS[dialect].sqlglot_name) if s is not None]
    writing = Counter(type(node).__name__ for s in statements for node in s.find_all(*WRITING_NODES))
    return [type(s).__name__ for s in statements], writing


def comments_are_inert(sql: str) -> bool:
    return not any(is_control(c) for line in sql.split("\n") if line.lstrip().startswith("--") for c in line)


Shapes = dict[str, tuple[str, tuple[list[str], Counter]]]  # a compiled file's path -> its text and shape


def dumped_sample(root: Path) -> dict[str, Any]:
    """The sample written as the fuzzed files are (yaml.safe_dump), so an unfuzzed file's lines stay put;
    returns each spec file's data."""
    sample_project(root)
    data = {name: yaml.safe_load((SAMPLE / name).read_text()) for name in SPEC_FILES}
    for name, content in data.items():
        (root / name).write_text(dump(content), encoding="utf-8")
    return data


@pytest.fixture(scope="module")
def clean_build(tmp_path_factory) -> Shapes:
    root = tmp_path_factory.mktemp("clean")
    dumped_sample(root)
    result = parse(root)
    assert result.graph is not None, result.diagnostics
    build = compile_project(result.graph, tuple(DIALECTS), workers=1)
    # a node some dialect cannot compile (a table spine without SELECT * EXCLUDE) is a diagnostic, not a file
    assert len(build.files) > 40 and all(d.code is Code.UNSUPPORTED_BY_DIALECT for d in build.diagnostics)
    return {path: (text.decode(), statement_shapes(text.decode(), path.split("/")[0]))
            for path, text in build.files.items()}


def test_every_string_field_with_control_characters_or_sql_is_refused_or_stays_inside_its_statement(
        clean_build, tmp_path):
    rng = random.Random(1414)
    root = tmp_path / "project"
    originals = dumped_sample(root)
    cases = [(name, where, is_key) for name in SPEC_FILES for where, is_key in string_fields(originals[name])]
    assert len(cases) > 150  # the sample's every name, path, table, query, description, owner, tag ...
    compiled_kinds: set[tuple] = set()
    refused = built = 0
    for number, (name, where, is_key) in enumerate(cases):
        payload = PAYLOADS[number % len(PAYLOADS)]
        kind = field_kind(where, is_key)
        (root / name).write_text(dump(with_payload(originals[name], where, is_key, payload, rng.random() < 0.25)),
                                 encoding="utf-8")
        what = f"{name} {where} {'key' if is_key else 'value'} + {payload!r}"
        with watchdog(CASE_SECONDS, what):
            result = parse(root)
        check_diagnostics(result.diagnostics, what)
        if result.graph is None:
            refused += 1
            errors = [d for d in result.diagnostics if d.severity is Severity.ERROR]
            assert errors and all(d.position is not None and d.position.line > 0 for d in errors), (what, errors)
            assert any(d.position.path.endswith(name) for d in errors), (what, errors)
        elif kind not in compiled_kinds:  # one compilation per kind of field: every kind, within seconds
            compiled_kinds.add(kind)
            built += 1
            with watchdog(CASE_SECONDS * 3, what):
                build = compile_project(result.graph, tuple(DIALECTS), workers=1)
            check_diagnostics(build.diagnostics, what)
            _check_files(build.files, clean_build, what)
        (root / name).write_text(dump(originals[name]), encoding="utf-8")
    assert refused and built, (refused, built)


def _check_files(files: dict[str, bytes], clean: Shapes, what: str) -> None:
    # a file as the unfuzzed build wrote it is checked already; the others are parsed
    texts = {path: text.decode() for path, text in files.items()
             if path not in clean or clean[path][0] != text.decode()}
    # a file of another name is a renamed node's: compared with a file the build no longer makes, of the same
    # dialect and kind (a file the build no longer makes is a node the compiler refused, with a diagnostic)
    twin = {path: path for path in texts if path in clean}
    removed = sorted(set(clean) - set(files))
    for path in sorted(set(texts) - set(clean)):
        folder = path.rsplit("/", 1)[0]
        twin[path] = next((old for old in removed if old.rsplit("/", 1)[0] == folder), None)
        assert twin[path] is not None, f"{what}: {path} is a file the unfuzzed build has no counterpart of"
        removed.remove(twin[path])
    for path, sql in texts.items():
        dialect = path.split("/")[0]
        assert comments_are_inert(sql), f"{what}: a comment of {path} holds a control character:\n{sql}"
        try:
            kinds, writing = statement_shapes(sql, dialect)
        except sqlglot.errors.SqlglotError as exc:
            pytest.fail(f"{what}: {path} does not parse back ({exc}):\n{sql}")
        want_kinds, want_writing = clean[twin[path]][1]
        assert kinds == want_kinds, f"{what}: {path} holds {kinds}, not {want_kinds}:\n{sql}"
        assert not writing - want_writing, f"{what}: {path} holds {writing - want_writing}:\n{sql}"


def test_the_payloads_reach_the_compiled_files():
    """The check above means something: a description or a query reaches the SQL a payload could break."""
    data = yaml.safe_load((SAMPLE / "features" / "driver.yml").read_text())
    kinds = {field_kind(where, is_key) for where, is_key in string_fields(data)}
    assert {("sources", "*", "table"), ("sources", "*", "field_mapping", "<key>"),
            ("feature_views", "*", "features", "*", "name"), ("feature_views", "*", "tags", "team")} <= kinds
    sql = "SELECT a FROM t; DROP TABLE victim"
    assert statement_shapes(sql, "duckdb") == (["Select", "Drop"], Counter({"Drop": 1}))
