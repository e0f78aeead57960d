"""The `fcompile` command as a user runs it: a real subprocess, exit codes, no tracebacks."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = "name: shop\ntargets:\n  dev: {offline: {type: duckdb}, online: {type: sqlite}}\n"
SPEC = """\
entities:
  - {name: customer, join_keys: [{name: customer_id, dtype: string}], tags: {team: growth}}
sources:
  - {name: orders_src, table: raw.orders, timestamp_field: ts}
feature_views:
  - name: customer_stats
    entities: [customer]
    source: orders_src
    ttl: 7d
    features: [{name: order_count, dtype: int64}, {name: spend, dtype: float64}]
feature_services:
  - {name: churn_v1, features: ["customer_stats:*"]}
"""


def fcompile(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k != "FCOMPILE_PROJECT_DIR"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "fcompile", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "fcompile_project.yml").write_text(PROJECT)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yml").write_text(SPEC)
    return tmp_path


def assert_clean(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_version_is_fast():
    start = time.perf_counter()
    result = fcompile("--version")
    elapsed = time.perf_counter() - start
    assert result.returncode == 0 and result.stdout.startswith("fcompile ")
    assert elapsed < 1.0  # well under 0.5 s on an idle machine; the margin absorbs a loaded CI box
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "fcompile", "--version"],
                             capture_output=True, text=True).stderr
    for heavy in ("duckdb", "pyarrow", "sqlglot", "jsonschema", "jinja2"):
        assert f" {heavy}\n" not in imports, f"{heavy} is imported by --version"


def test_validate_ok_from_cwd_and_from_env(project):
    result = fcompile("validate", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "1 entity, 1 source, 1 feature view, 1 feature service, 0 datasets" in result.stdout
    result = fcompile("validate", env={"FCOMPILE_PROJECT_DIR": str(project)}, cwd=project.parent)
    assert result.returncode == 0, result.stderr


def test_validate_reports_every_error_with_position_and_exit_1(project):
    (project / "specs" / "more.yml").write_text(
        "feature_views:\n  - name: x\n    entities: [custmer]\n    source: orders_src\n"
        "    features: [{name: y, dtype: flaot}]\n"
        "feature_services:\n  - {name: s, features: ['customer_stats:spnd']}\n")
    result = fcompile("validate", "--project-dir", str(project))
    assert result.returncode == 1
    assert_clean(result)
    lines = [l.replace(str(project) + "/", "") for l in result.stderr.splitlines() if "error[" in l]
    assert lines == [
        "specs/more.yml:3:16: error[FC030]: feature view 'x' refers to unknown entity 'custmer'",
        "specs/more.yml:5:33: error[FC050]: feature view 'x': unknown dtype 'flaot'",
        "specs/more.yml:7:26: error[FC033]: feature service 's': feature view 'customer_stats' has no feature 'spnd'",
    ]
    assert "hint: did you mean 'customer'?" in result.stderr


def test_validate_json_for_ci(project):
    (project / "specs" / "bad.yml").write_text("entities:\n  - {name: driver, join_keys: [], tags: 3}\n")
    result = fcompile("validate", "--format", "json", "--project-dir", str(project))
    assert result.returncode == 1
    items = json.loads(result.stdout)
    assert {(i["code"], i["line"]) for i in items} == {("FC015", 2), ("FC011", 2)}
    assert all(i["path"].endswith("bad.yml") and i["severity"] == "error" for i in items)


def test_ls_table_json_and_kind_filter(project):
    result = fcompile("ls", "--project-dir", str(project))
    assert result.returncode == 0 and "customer_stats" in result.stdout and "specs/shop.yml" in result.stdout
    rows = json.loads(fcompile("ls", "--json", "--kind", "feature_view", "--project-dir", str(project)).stdout)
    assert [(r["kind"], r["name"]) for r in rows] == [("feature_view", "customer_stats")]
    assert rows[0]["spec"]["ttl"] == 7 * 86400 and len(rows[0]["content_hash"]) == 16


def test_bad_arguments_are_diagnostics_with_exit_1(project):
    for args in (["ls", "--kind", "views"], ["frobnicate"], ["validate", "--format", "xml"],
                 ["validate", "--target", "nope", "--project-dir", str(project)]):
        result = fcompile(*args)
        assert result.returncode == 1, args
        assert "error[FC0" in result.stderr, (args, result.stderr)
        assert_clean(result)


def test_schema_prints_and_writes_valid_json_schemas(tmp_path):
    printed = json.loads(fcompile("schema").stdout)
    assert printed["$schema"].endswith("2020-12/schema")
    result = fcompile("schema", "--out", str(tmp_path / "schemas"))
    assert result.returncode == 0
    written = sorted(p.name for p in (tmp_path / "schemas").iterdir())
    assert written == ["fcompile_manifest.schema.json", "fcompile_project.schema.json", "fcompile_spec.schema.json"]


def test_missing_project_is_a_diagnostic(tmp_path):
    result = fcompile("validate", "--project-dir", str(tmp_path))
    assert result.returncode == 1 and "error[FC003]" in result.stderr
    assert_clean(result)


def test_what_a_runner_tells_while_working_goes_to_stderr(project, capsys):
    """Spark says it is starting (it takes seconds); the CLI's runner prints such notes on stderr, so
    that `--json` output on stdout stays clean."""
    from fcompile.cli import _runner
    from fcompile.parser import load_project

    with _runner(load_project(project)) as runner:
        runner.notify("starting the engine")
    captured = capsys.readouterr()
    assert "starting the engine" in captured.err and captured.out == ""


def test_an_output_path_that_cannot_be_written_is_fc135_exit_1(tmp_path):
    """`--output` naming a folder: one diagnostic, exit 1, the folder untouched (not an internal error)."""
    root = tmp_path / "sample"
    assert fcompile("init", str(root)).returncode == 0
    assert fcompile("seed", "--project-dir", str(root)).returncode == 0
    (root / "out.parquet").mkdir()
    result = fcompile("get-historical-features", "--project-dir", str(root), "--spine",
                      str(root / "seeds" / "orders.parquet"), "--service", "driver_activity_v1",
                      "--output", str(root / "out.parquet"))
    assert result.returncode == 1, result.stderr
    assert f"error[FC135]: cannot write {root / 'out.parquet'}: Is a directory" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr and (root / "out.parquet").is_dir()
