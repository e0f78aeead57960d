from pathlib import Path

from fcompile.diagnostics import Code
from fcompile.parser import parse_project

PROJECT = """\
name: shop
default_target: dev
targets:
  dev:
    offline: {type: duckdb, path: "{{ env_var('DATA_DIR', '/tmp') }}/offline.duckdb"}
    online: {type: sqlite, path: online.db}
  prod:
    offline: {type: snowflake, account: "{{ env_var('SF_ACCOUNT') }}", database: ML}
    online: {type: redis, url: "{{ env_var('REDIS_URL', 'redis://127.0.0.1:6379/0') }}"}
"""


def write(root: Path, text: str = PROJECT) -> Path:
    (root / "fcompile_project.yml").write_text(text)
    return root


def test_default_target_renders_env_vars_with_defaults(tmp_path):
    result = parse_project(write(tmp_path), environ={})
    target = result.graph.project.target
    assert target.name == "dev"
    assert dict(target.offline) == {"type": "duckdb", "path": "/tmp/offline.duckdb"}
    assert result.graph.project.target_names == ("dev", "prod")


def test_only_the_selected_target_needs_its_secrets(tmp_path):
    write(tmp_path)
    assert parse_project(tmp_path, environ={}).graph is not None
    result = parse_project(tmp_path, target="prod", environ={})
    assert result.graph is None
    [d] = result.diagnostics
    assert (d.code, d.position.line, d.message) == (Code.ENV_VAR_UNSET, 8, "environment variable 'SF_ACCOUNT' is not set")
    ok = parse_project(tmp_path, target="prod", environ={"SF_ACCOUNT": "acme-1"})
    assert dict(ok.graph.project.target.offline)["account"] == "acme-1"


def test_unknown_target_suggests_the_closest(tmp_path):
    result = parse_project(write(tmp_path), target="prd", environ={})
    [d] = result.diagnostics
    assert d.code is Code.UNKNOWN_TARGET and d.hint == "did you mean 'prod'?"


def test_templates_cannot_reach_python(tmp_path):
    text = PROJECT.replace("path: online.db", "path: \"{{ ''.__class__.__mro__ }}\"")
    result = parse_project(write(tmp_path, text), environ={})
    assert [d.code for d in result.diagnostics] == [Code.BAD_TEMPLATE]


def test_missing_project_file(tmp_path):
    [d] = parse_project(tmp_path).diagnostics
    assert d.code is Code.PROJECT_FILE_MISSING and "fcompile init" in d.hint


def test_other_tools_yaml_is_skipped_with_a_warning(tmp_path):
    write(tmp_path)
    (tmp_path / "docker-compose.yml").write_text("services:\n  db: {image: postgres}\n")
    (tmp_path / "typo.yml").write_text("feature_view:\n  - name: x\n")
    result = parse_project(tmp_path, environ={})
    assert result.graph is not None
    assert [(d.severity.value, d.code, d.hint) for d in result.diagnostics] == [
        ("warning", Code.FILE_SHAPE, "did you mean 'sources'?"),
        ("warning", Code.FILE_SHAPE, "did you mean 'feature_views'?"),
    ]


def test_missing_project_folder(tmp_path):
    [d] = parse_project(tmp_path / "nope").diagnostics
    assert d.code is Code.PROJECT_FILE_MISSING and "does not exist" in d.message


def test_credentials_written_into_the_file_are_refused_in_every_target(tmp_path):
    """Passwords, passphrases, tokens and URL passwords must come from env_var(): FC082 at the value, for
    every target (also one not selected), never quoting the secret."""
    text = PROJECT + """\
  staging:
    offline: {type: snowflake, account: a, user: u, password: hunter2, database: ML}
    online: {type: redis, url: "redis://:s3cret@cache:6379/0"}
    serving: {auth: {tokens: [{name: ranker, token: tok-123}]}}
  ok:
    offline: {type: postgres, url: "postgresql://fc:{{ env_var('PG_PASSWORD') }}@db/ml"}
    online: {type: postgres, url: "postgresql://fc@db/ml"}
  kv:
    offline: {type: postgres, url: "host=db dbname=ml user=fc password=pw-1"}
    online: {type: postgres, url: "host=db dbname=ml user=fc"}
  slashed:
    offline: {type: duckdb}
    online: {type: redis, url: "redis://:ab/c+d@cache:6379/0"}
"""
    result = parse_project(write(tmp_path, text), environ={})
    assert result.graph is None
    found = [(d.code, d.position.line, d.position.column, d.message.split(" is written")[0]) for d in result.diagnostics]
    assert found == [(Code.LITERAL_SECRET, 11, 63, "`password`"), (Code.LITERAL_SECRET, 12, 32, "the password in `url`"),
                     (Code.LITERAL_SECRET, 13, 53, "`token`"), (Code.LITERAL_SECRET, 18, 36, "the password in `url`"),
                     (Code.LITERAL_SECRET, 22, 32, "the password in `url`")]  # a base64 password with '/'
    rendered = "\n".join(d.render() for d in result.diagnostics)
    assert not any(secret in rendered for secret in ("hunter2", "s3cret", "tok-123", "pw-1", "ab/c+d"))
    assert "env_var('STAGING_PASSWORD')" in result.diagnostics[0].hint
