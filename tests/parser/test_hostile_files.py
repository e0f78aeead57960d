"""Files and templates meant to hang or exhaust the parser: each is refused with a diagnostic, quickly.

Every case runs the real `fcompile validate` in a subprocess with a timeout, so a regression fails the
test instead of hanging the suite (or filling the memory of the process running it).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fcompile.parser import parse_project
from fcompile.parser.positioned_yaml import MAX_ALIAS_NODES
from fcompile.parser.project_file import MAX_YAML_FILE_BYTES

SECONDS = 30  # each case takes well under a second; this only bounds a regression on a busy machine
PROJECT = "name: rides\ntargets:\n  dev:\n    offline: {type: duckdb}\n    online: {type: sqlite}\n"
SPEC = "entities:\n  - name: driver\n    join_keys: [{name: driver_id, dtype: int64}]\n"


def validate(root: Path) -> list[dict]:
    """The diagnostics `fcompile validate --format json` reports for `root`, within SECONDS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FCOMPILE_")}
    env["XDG_CACHE_HOME"] = str(root.parent / "user-cache")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[2]), env.get("PYTHONPATH")]))
    run = subprocess.run([sys.executable, "-m", "fcompile", "validate", "--project-dir", ".", "--format", "json"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=SECONDS)
    assert "Traceback" not in run.stdout + run.stderr, run.stderr
    assert run.returncode == 1, run.stdout + run.stderr
    return json.loads(run.stdout)


def project(tmp_path: Path, project_text: str = PROJECT) -> Path:
    root = tmp_path / "project"
    (root / "features").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(project_text)
    (root / "features" / "driver.yml").write_text(SPEC)
    return root


def summary(diagnostics: list[dict]) -> list[tuple]:
    return [(d["code"], d["path"], d["line"], d["message"]) for d in diagnostics]


def test_nested_aliases_are_refused_at_the_alias_that_passes_the_budget(tmp_path):
    root = project(tmp_path)
    lines = ["entities:", "  - name: rider", "    join_keys: [{name: rider_id, dtype: int64}]", "    tags:", "      l0: &l0 [x,x,x,x,x,x,x,x,x]"]
    lines += [f"      l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)]
    (root / "features" / "laughs.yml").write_text("\n".join(lines) + "\n")
    assert summary(validate(root)) == [
        ("FC002", "features/laughs.yml", 10, f"the aliases of this file expand to more than {MAX_ALIAS_NODES:,} "
         "values (this '*l4' alone copies 66,430)")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_fifos_devices_and_oversized_files_are_refused_without_reading_them(tmp_path):
    root = project(tmp_path)
    features = root / "features"
    os.mkfifo(features / "pipe.yml")  # opening it for reading would wait for a writer forever
    (features / "zero.yml").symlink_to("/dev/zero")  # endless: read whole, a MemoryError
    (features / "random.yaml").symlink_to("/dev/urandom")
    (features / "huge.yml").write_bytes(b"#" * (MAX_YAML_FILE_BYTES + 1))
    (features / "linked.yml").symlink_to(features / "driver.yml")  # a symlink to a regular file is read
    kinds = {(d["path"], d["message"]) for d in validate(root) if d["code"] == "FC004"}
    assert kinds == {
        ("features/pipe.yml", "not a regular file (a FIFO); not read"),
        ("features/zero.yml", "not a regular file (a character device); not read"),
        ("features/random.yaml", "not a regular file (a character device); not read"),
        ("features/huge.yml", "file is larger than 10 MiB; not read"),
    }
    everything = validate(root)
    assert ("FC020", "features/linked.yml") in {(d["code"], d["path"]) for d in everything}  # read: driver twice


def test_a_file_of_exactly_the_limit_is_read(tmp_path):
    root = project(tmp_path)
    (root / "features" / "driver.yml").write_text(SPEC + "#" * (MAX_YAML_FILE_BYTES - len(SPEC)))
    (root / "features" / "bad.yml").write_text("entities: [{name: x, join_keys: [{name: y, dtype: int64}], nope: 1}]\n")
    assert [(d["code"], d["path"]) for d in validate(root)] == [("FC010", "features/bad.yml")]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")
def test_a_project_file_that_is_a_fifo_is_named_and_refused(tmp_path):
    root = project(tmp_path)
    (root / "fcompile_project.yml").unlink()
    os.mkfifo(root / "fcompile_project.yml")
    assert summary(validate(root)) == [
        ("FC004", "fcompile_project.yml", 0, "not a regular file (a FIFO); not read")]


@pytest.mark.parametrize("template, message", [
    ("{% for i in range(10**9) %}x{% endfor %}", "invalid template: '{% %}' statements are not supported"),
    ("{{ 'x' * 10**10 }}", "invalid template: '{{ }}' may hold only a call of env_var()"),
    ("{{ env_var('A' * 10**10) }}", "invalid template: env_var() takes a quoted variable name and, optionally, "
     "a quoted default"),
    ("{{ range(10**9) | list }}", "invalid template: '{{ }}' may hold only a call of env_var()"),
    ("{{ lipsum(10**6) }}", "invalid template: 'lipsum' is not available"),
    ("{{ cycler }}", "invalid template: 'cycler' is not available"),
    ("{{ namespace(a=1) }}", "invalid template: 'namespace' is not available"),
    ("{{ env_var.__globals__ }}", "invalid template: '{{ }}' may hold only a call of env_var()"),
])
def test_templates_that_would_loop_or_grow_are_refused_without_running(tmp_path, template, message):
    root = project(tmp_path, PROJECT.replace("{type: duckdb}", "{type: duckdb, path: \"" + template + "\"}"))
    assert summary(validate(root)) == [("FC081", "fcompile_project.yml", 4, message)]


def test_env_var_calls_between_text_still_render(tmp_path):
    text = PROJECT.replace("{type: sqlite}", "{type: sqlite, path: \"data/{{ env_var('STORE', 'online') }}-"
                           "{{- env_var('SUFFIX') }}{# a comment #}.db\"}")
    root = project(tmp_path, text)
    result = parse_project(root, environ={"SUFFIX": "x"})
    assert result.diagnostics == []
    assert dict(result.graph.project.target.online)["path"] == "data/online-x.db"


def test_messages_quote_at_most_a_short_piece_of_a_value(tmp_path):
    root = project(tmp_path)
    long = "v" * 100_000
    (root / "features" / "long.yml").write_text(
        f"entities:\n  - name: {long}\n    join_keys: [{{name: k, dtype: {long}}}]\n    {long[:1000]}: 1\n"
        f"feature_views:\n  - {{name: fv, entities: [{long}], source: {long}, ttl: {long}, features: []}}\n")
    result = parse_project(root, environ={})
    assert len(result.diagnostics) >= 4 and "FC001" not in {d.code.value for d in result.diagnostics}
    assert max(len(d.message) + len(d.hint or "") for d in result.diagnostics) < 400


def test_the_limits_the_code_table_states_are_the_limits_enforced():
    from fcompile.diagnostics import CODE_MEANINGS, Code
    from fcompile.parser.positioned_yaml import MAX_DEPTH

    assert f"{MAX_ALIAS_NODES:,} values" in CODE_MEANINGS[Code.FILE_SHAPE]
    assert f"{MAX_DEPTH} levels" in CODE_MEANINGS[Code.FILE_SHAPE]
    assert f"{MAX_YAML_FILE_BYTES // (1024 * 1024)} MiB" in CODE_MEANINGS[Code.FILE_UNREADABLE]
