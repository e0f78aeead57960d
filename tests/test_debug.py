"""`fcompile debug`: one line per check of the selected target, exit 1 when one fails, never a secret."""

import re
import socket
import time

import pytest

from test_cli import assert_clean, fcompile  # noqa: F401  (the project fixture comes from test_cli below)
from test_cli import project  # noqa: F401


def lines_of(output: str) -> dict[str, tuple[str, str]]:
    """{check name: (ok | fail | skip, detail)} from debug's output."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"(ok|fail|skip)\s+([a-z ]+):\s+(.*)", line)
        if match:
            found[match.group(2)] = (match.group(1), match.group(3))
    return found


def test_a_duckdb_and_sqlite_project_passes_every_check(project):
    result = fcompile("debug", "--project-dir", str(project))
    assert result.returncode == 0, result.stdout + result.stderr
    checks = lines_of(result.stdout)
    assert list(checks) == ["fcompile", "project file", "offline engine", "offline driver", "online store",
                            "online driver", "credentials", "offline connection", "online connection"]
    assert all(state == "ok" for state, _ in checks.values()), result.stdout
    assert checks["offline engine"][1] == "duckdb: in memory"
    assert checks["online store"][1] == "sqlite: path .fcompile/online.db (the default)"
    assert checks["offline driver"][1].startswith("duckdb ") and "base install" in checks["offline driver"][1]
    assert checks["online driver"][1] == "sqlite3 (Python's standard library)"
    assert result.stdout.rstrip().endswith("all checks passed")


def write_target(project, offline: str, online: str) -> None:
    (project / "fcompile_project.yml").write_text(
        f"name: shop\ntargets:\n  dev: {{offline: {{type: duckdb}}, online: {{type: sqlite}}}}\n"
        f"  remote:\n    offline: {offline}\n    online: {online}\n")


def test_postgres_offline_and_redis_online_connect(project, postgres_url, redis_url):
    write_target(project, "{type: postgres, url: \"{{ env_var('FC_DEBUG_PG_URL') }}\"}",
                 "{type: redis, url: \"{{ env_var('FC_DEBUG_REDIS_URL') }}\"}")
    secret_url = postgres_url + ("&" if "?" in postgres_url else "?") + "password=topsecret-pw"
    result = fcompile("debug", "--target", "remote", "--project-dir", str(project),
                      env={"FC_DEBUG_PG_URL": secret_url, "FC_DEBUG_REDIS_URL": redis_url})
    assert result.returncode == 0, result.stdout + result.stderr
    checks = lines_of(result.stdout)
    assert checks["offline engine"][1].startswith("postgres: postgresql://127.0.0.1:5432/test")
    assert checks["online store"][1] == f"redis: {redis_url}"
    assert checks["offline driver"][0] == "ok" and "[postgres]" in checks["offline driver"][1]
    assert checks["online driver"][0] == "ok" and "[redis]" in checks["online driver"][1]
    assert checks["credentials"] == ("ok", "FC_DEBUG_PG_URL set, FC_DEBUG_REDIS_URL set")
    assert checks["offline connection"][0] == "ok" and checks["online connection"][0] == "ok"
    assert "topsecret" not in result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_fails_fast_without_a_traceback_or_the_password(project):
    port = free_port()
    write_target(project, "{type: postgres, url: \"{{ env_var('FC_DEBUG_PG_URL') }}\"}",
                 "{type: redis, url: \"{{ env_var('FC_DEBUG_REDIS_URL') }}\"}")
    started = time.perf_counter()
    result = fcompile("debug", "-t", "remote", "--project-dir", str(project),
                      env={"FC_DEBUG_PG_URL": f"postgresql://fc:topsecret-pg@127.0.0.1:{port}/ml",
                           "FC_DEBUG_REDIS_URL": f"redis://:topsecret-redis@127.0.0.1:{port}/0"})
    assert time.perf_counter() - started < 15
    assert result.returncode == 1
    assert_clean(result)
    checks = lines_of(result.stdout)
    state, detail = checks["offline connection"]
    assert state == "fail" and f"cannot connect to PostgreSQL at postgresql://fc@127.0.0.1:{port}/ml" in detail
    assert checks["online connection"][0] == "fail" and f"127.0.0.1:{port}" in checks["online connection"][1]
    assert "hint: " in result.stdout and result.stdout.rstrip().endswith("2 of 9 checks failed")
    assert "topsecret" not in result.stdout + result.stderr


def test_a_missing_variable_fails_credentials_and_skips_that_connection(project):
    write_target(project, "{type: duckdb, path: \"{{ env_var('FC_DEBUG_DB', 'local.duckdb') }}\"}",
                 "{type: redis, url: \"{{ env_var('FC_DEBUG_REDIS_URL_UNSET') }}\"}")
    (project / "fcompile_project.yml").write_text((project / "fcompile_project.yml").read_text() +
                                                  "    serving: {auth: {tokens: [{token: \"{{ env_var('FC_DEBUG_TOKEN') }}\"}]}}\n")
    result = fcompile("debug", "-t", "remote", "--project-dir", str(project),
                      env={"FC_DEBUG_TOKEN": "a-token-that-must-not-show"})
    assert result.returncode == 1
    checks = lines_of(result.stdout)
    assert checks["credentials"] == ("fail", "FC_DEBUG_DB not set, its default is used, FC_DEBUG_REDIS_URL_UNSET "
                                             "NOT SET, FC_DEBUG_TOKEN set (by fcompile serve)")
    assert "hint: export FC_DEBUG_REDIS_URL_UNSET=... where fcompile runs" in result.stdout
    assert checks["online store"] == ("ok", "redis: url (not set)")
    assert checks["offline connection"][0] == "ok"
    assert checks["online connection"] == ("skip", "FC_DEBUG_REDIS_URL_UNSET is not set")
    assert "a-token-that-must-not-show" not in result.stdout + result.stderr


def test_a_broken_project_file_or_folder_fails_and_stops(project, tmp_path):
    (project / "fcompile_project.yml").write_text("name: shop\ntargets: {dev: {offline: {type: duckdb}}}\n")
    result = fcompile("debug", "--project-dir", str(project))
    assert result.returncode == 1 and lines_of(result.stdout)["project file"][0] == "fail"
    assert "offline connection" not in result.stdout
    assert_clean(result)
    result = fcompile("debug", "--project-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and "does not exist" in lines_of(result.stdout)["project file"][1]


def test_a_compile_only_engine_is_skipped_not_failed(project):
    write_target(project, "{type: trino}", "{type: sqlite}")
    result = fcompile("debug", "-t", "remote", "--project-dir", str(project))
    checks = lines_of(result.stdout)
    assert checks["offline driver"][0] == "skip" and checks["offline connection"][0] == "skip"
    assert result.returncode == 0, result.stdout


def test_a_driver_that_is_not_installed_names_its_extra():
    from fcompile.target_checks import Driver, _driver_check

    drivers = {"postgres": Driver("fcompile_no_such_driver", "psycopg", "postgres")}
    checks = list(_driver_check("offline driver", drivers, {"type": "postgres"}))
    assert [(c.ok, c.detail, c.hint) for c in checks] == [
        (False, "psycopg is not installed", "pip install 'fcompile[postgres]'")]


@pytest.mark.parametrize(("side", "settings", "shown"), [
    ("offline", {"type": "postgres", "url": "host=db.internal port=5433 dbname=ml user=fc password='p w!'"},
     "host db.internal, port 5433, dbname ml, user fc"),
    ("offline", {"type": "postgres", "url": "postgresql://fc:pw@db:5432/ml?password=pw2&sslmode=require",
                 "schema": "features"}, "postgresql://fc@db:5432/ml, schema features"),
    ("offline", {"type": "snowflake", "account": "acme-x1", "user": "svc", "password": "pw",
                 "private_key_passphrase": "pw3", "database": "ML"}, "database ML, user svc, account acme-x1"),
    ("online", {"type": "redis", "url": "rediss://:pw@cache.internal:6380/2"}, "rediss://cache.internal:6380/2"),
    ("online", {"type": "redis"}, "redis://127.0.0.1:6379/0 (the default)"),
    # a password with an unencoded '/', '?' or '#' ends the URL's netloc early: nothing of it may show
    ("online", {"type": "redis", "url": "redis://:/pw@127.0.0.1:1/0"}, "redis://(credentials not shown)"),
    ("online", {"type": "redis", "url": "redis://u:1234/pw@127.0.0.1:1/0"}, "redis://(credentials not shown)"),
    ("online", {"type": "postgres", "url": "postgresql://fc:a?pw@db/ml"}, "postgresql://(credentials not shown)"),
    ("online", {"type": "redis", "url": "redis://:a#pw@cache/0"}, "redis://(credentials not shown)"),
])
def test_descriptions_never_show_a_secret(side, settings, shown):
    from fcompile.target_checks import describe_settings

    described = describe_settings(side, settings)
    assert described == shown and "pw" not in described and "p w" not in described


@pytest.mark.parametrize(("side", "settings", "shown"), [
    ("offline", {"type": "duckdb"}, "in memory"),
    ("offline", {"type": "postgres"}, "default settings"),
    ("offline", {"type": "redshift"}, "default settings"),  # compile-only: no runner to ask
    ("online", {"type": "sqlite"}, "path .fcompile/online.db (the default)"),
    ("online", {"type": "postgres"}, "postgresql://127.0.0.1:5432/test (the default)"),
    ("online", {"type": "redis"}, "redis://127.0.0.1:6379/0 (the default)"),
])
def test_settings_that_name_no_location_show_the_default_of_the_runner_or_store(side, settings, shown):
    """Each runner and online store class says where it is by default (`default_location`)."""
    from fcompile.target_checks import describe_settings

    assert describe_settings(side, settings) == shown


@pytest.mark.parametrize("url", ["redis://:/pw@127.0.0.1:1/0", "redis://u:1234/pw@127.0.0.1:1/0",
                                 "postgresql://fc:a?pw@db/ml", "redis://:a#pw@cache/0", "redis://:pw@cache/0",
                                 "postgresql://db/ml?password=pw", "host=db password = 'p w'",
                                 "host=db password = pw", "host=db password='unterminated pw",
                                 "host=db password=pw\\ pw", "dbname=x password = 'a\\'pw'"])
def test_store_messages_never_show_a_password_the_url_parser_misplaces(url):
    from fcompile.connection_text import describe_connection

    assert "pw" not in describe_connection(url)


def test_a_duckdb_path_whose_folder_cannot_be_made_fails_its_check(project, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    write_target(project, f"{{type: duckdb, path: '{blocker}/sub/x.duckdb'}}", "{type: sqlite}")
    result = fcompile("debug", "-t", "remote", "--project-dir", str(project))
    assert result.returncode == 1
    assert_clean(result)
    state, detail = lines_of(result.stdout)["offline connection"]
    assert state == "fail" and "opening the offline database" in detail, result.stdout
