"""The broken-project corpus: every case is a small project with one kind of mistake, and the exact
diagnostics the parser must report for it (code, file, line, column, message; hint as a substring).

A case is a folder `broken/<nn>_<name>/` holding the project and an `expected.yml`:

    description: what the user got wrong
    diagnostics:                      # in output order (sorted by file, line, column)
      - {code: FC010, file: features/driver.yml, line: 5, column: 5, message: "...", hint: "..."}
    env: {VAR: value}                 # optional: the environment env_var() sees (never os.environ)
    target: prod                      # optional: --target
    parquet: {data/x.parquet: {driver_id: string, event_timestamp: timestamp}}   # optional, written at test time
    raw_files: {features/x.yml: !!binary ...}   # optional: bytes that are not UTF-8 text
    # `{root}` in a message or hint stands for the absolute path of the (copied) project
    xfail_reason: "..."               # optional: a known parser bug; remove once fixed

Projects are copied to a temporary folder before parsing, so `expected.yml` is never read as a spec and
the files written at test time never land in the repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fcompile.diagnostics import Code
from fcompile.parser import ParseResult, parse_project
from fcompile.parser import cache as cache_module

CORPUS = Path(__file__).parent / "broken"
EXPECTED_FILE = "expected.yml"
CASE_DIRS = sorted(p for p in CORPUS.iterdir() if (p / EXPECTED_FILE).is_file())
ALLOWED_CASE_KEYS = {"description", "diagnostics", "env", "target", "parquet", "raw_files", "xfail_reason"}
ALLOWED_DIAGNOSTIC_KEYS = {"code", "file", "line", "column", "message", "hint", "severity"}
MINIMUM_CASES = 45
POSITIONED_LINE = re.compile(r"^\S+:\d+:\d+: (error|warning)\[FC\d{3}\]: ")


@pytest.fixture(scope="module", autouse=True)
def private_cache_key(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The parse cache signs with a per-user key; keep the tests' key out of the real home folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("user-cache")))
        mp.setattr(cache_module, "_KEY", [])
        yield


def load_expected(case_dir: Path) -> dict[str, Any]:
    return yaml.safe_load((case_dir / EXPECTED_FILE).read_text(encoding="utf-8")) or {}


def _arrow_type(dtype: str):
    import pyarrow as pa

    types = {
        "bool": pa.bool_(), "int32": pa.int32(), "int64": pa.int64(), "float32": pa.float32(),
        "float64": pa.float64(), "string": pa.string(), "bytes": pa.binary(), "date": pa.date32(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }
    if dtype.startswith("array<") and dtype.endswith(">"):
        return pa.list_(_arrow_type(dtype[len("array<"):-1]))
    return types[dtype]


def write_parquet(path: Path, columns: dict[str, str]) -> None:
    """An empty Parquet file with the given column dtypes (only the schema matters to the parser)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, _arrow_type(dtype)) for name, dtype in columns.items()])
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(schema.empty_table(), path)


def materialize(case_dir: Path, dest: Path) -> Path:
    """Copy a case's project into `dest` (without expected.yml) and write its generated files."""
    expected = load_expected(case_dir)

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {EXPECTED_FILE} if Path(folder) == case_dir else set()

    shutil.copytree(case_dir, dest, ignore=ignore)
    for rel, data in (expected.get("raw_files") or {}).items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for rel, columns in (expected.get("parquet") or {}).items():
        write_parquet(dest / rel, columns)
    return dest.resolve()


def actual_diagnostics(result: ParseResult, root: Path) -> list[dict[str, Any]]:
    rows = []
    for d in result.diagnostics:
        p = d.position
        rows.append({
            "code": d.code.value,
            "file": Path(os.path.relpath(p.path, root)).as_posix() if p else None,
            "line": p.line if p else None,
            "column": p.column if p else None,
            "message": d.message,
            "severity": d.severity.value,
            "hint": d.hint,
        })
    return rows


def _without_hint(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "hint"}


def _expected_rows(expected: dict[str, Any], root: Path) -> list[dict[str, Any]]:
    """The expected diagnostics; `{root}` in a message or hint stands for the project's absolute path."""

    def fill(text: str | None) -> str | None:
        return text.replace("{root}", str(root)) if isinstance(text, str) else text

    return [{"code": e["code"], "file": e.get("file"), "line": e.get("line"), "column": e.get("column"),
             "message": fill(e["message"]), "severity": e.get("severity", "error"), "hint": fill(e.get("hint"))}
            for e in expected.get("diagnostics") or []]


def _case_params() -> list[Any]:
    params = []
    for case_dir in CASE_DIRS:
        reason = load_expected(case_dir).get("xfail_reason")
        marks = [pytest.mark.xfail(reason=reason, strict=True)] if reason else []
        params.append(pytest.param(case_dir, id=case_dir.name, marks=marks))
    return params


def test_corpus_is_large_enough() -> None:
    assert len(CASE_DIRS) >= MINIMUM_CASES, f"only {len(CASE_DIRS)} broken projects in {CORPUS}"


@pytest.mark.parametrize("case_dir", [pytest.param(d, id=d.name) for d in CASE_DIRS])
def test_expected_file_is_well_formed(case_dir: Path) -> None:
    expected = load_expected(case_dir)
    assert set(expected) <= ALLOWED_CASE_KEYS, f"unknown keys: {set(expected) - ALLOWED_CASE_KEYS}"
    assert isinstance(expected.get("description"), str) and expected["description"].strip()
    diagnostics = expected.get("diagnostics")
    assert isinstance(diagnostics, list) and diagnostics, "a broken project expects at least one diagnostic"
    codes = {c.value for c in Code}
    for entry in diagnostics:
        assert set(entry) <= ALLOWED_DIAGNOSTIC_KEYS, f"unknown keys in {entry}"
        assert entry["code"] in codes, f"{entry['code']} is not a diagnostic code"
        assert entry.get("severity", "error") in ("error", "warning")
    name = case_dir.name
    assert name[:2].isdigit() and name[2] == "_", f"case folder {name} is not named <nn>_<short_name>"


@pytest.mark.parametrize("case_dir", _case_params())
def test_broken_project(case_dir: Path, tmp_path: Path) -> None:
    expected = load_expected(case_dir)
    root = materialize(case_dir, tmp_path / "project")

    result = parse_project(root, target=expected.get("target"), environ=dict(expected.get("env") or {}))

    want = _expected_rows(expected, root)
    got = actual_diagnostics(result, root)
    assert [_without_hint(r) for r in got] == [_without_hint(r) for r in want]
    for w, g in zip(want, got):
        if w["hint"] is not None:
            assert g["hint"] is not None and w["hint"] in g["hint"], (
                f"{w['code']} at {w['file']}:{w['line']}: hint {g['hint']!r} lacks {w['hint']!r}")
    if any(r["severity"] == "error" for r in want):
        assert result.graph is None
    else:
        assert result.graph is not None


# -- the real command line ------------------------------------------------------------------------

CLI_CASES = [
    "yaml_tab_indentation",
    "env_var_unset",
    "unknown_feature",
    "parquet_join_key_dtype_mismatch",
    "parquet_bad_tie_breaker",
    "many_errors_many_files",
]


def _cli_case_dirs() -> list[Any]:
    by_name = {d.name.split("_", 1)[1]: d for d in CASE_DIRS}
    return [pytest.param(by_name[n], id=by_name[n].name) for n in CLI_CASES if n in by_name]


def _start_cli(root: Path, expected: dict[str, Any], *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FCOMPILE_", "SNOWFLAKE_", "REDIS_"))}
    env.update(expected.get("env") or {})
    env["XDG_CACHE_HOME"] = str(root.parent / "user-cache")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[2]), env.get("PYTHONPATH")]))
    args = [sys.executable, "-m", "fcompile", "validate", "--project-dir", "."]
    if expected.get("target"):
        args += ["--target", expected["target"]]
    return subprocess.Popen(args + list(extra), cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_cli_cases_exist_and_pass() -> None:
    by_name = {d.name.split("_", 1)[1]: d for d in CASE_DIRS}
    assert set(CLI_CASES) <= set(by_name)
    assert not [n for n in CLI_CASES if load_expected(by_name[n]).get("xfail_reason")], \
        "the CLI test runs cases the parser gets right; pick another case"


@pytest.mark.parametrize("case_dir", _cli_case_dirs())
def test_cli_validate_reports_every_diagnostic(case_dir: Path, tmp_path: Path) -> None:
    expected = load_expected(case_dir)
    root = materialize(case_dir, tmp_path / "project")

    running = [_start_cli(root, expected), _start_cli(root, expected, "--format", "json")]
    text, as_json = (_finish(p) for p in running)

    for run in (text, as_json):
        assert run.returncode == 1, run.stderr
        assert "Traceback" not in run.stdout + run.stderr
        assert "internal error" not in run.stdout + run.stderr
    lines = text.stderr.splitlines()
    for e in _expected_rows(expected, root):
        where = f"{e['file']}:{e['line']}:{e['column']}: " if e["line"] else f"{e['file']}: "
        head = f"{where}{e['severity']}[{e['code']}]: {e['message']}"
        assert head in lines, f"{head!r} not in:\n{text.stderr}"
    assert any(POSITIONED_LINE.match(line) for line in lines), text.stderr
    reported = json.loads(as_json.stdout)
    assert [(d["code"], d["path"], d["line"], d["column"], d["message"], d["severity"]) for d in reported] == [
        (e["code"], e["file"], e["line"], e["column"], e["message"], e["severity"])
        for e in _expected_rows(expected, root)]
