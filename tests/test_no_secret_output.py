"""No store password reaches any output: every command and every endpoint, under failure, is grepped for it.

A distinctive password is planted, through `{{ env_var() }}` as the docs say secrets come in, in a target's
online store (PostgreSQL, Redis) and, for PostgreSQL, its offline engine too - written every way a user
may write it (libpq's `password = '...'` with spaces, an unquoted space, an unterminated quote, a URL
whose password holds an unencoded '/', '#', '?', percent-encoded, in the query) - with the server down
(a closed port) or up but refusing (a database that does not exist, an unknown user, a Redis database out
of range). Then every CLI command runs in a subprocess and a real `fcompile serve` answers every endpoint,
with auth on and off. Neither stdout, stderr, the server's log, a response body nor any file the command
wrote (target/, .fcompile/) holds the password or any piece of it; a command whose store fails exits 1
with a diagnostic, never a traceback.

The commands and the cases are tables: a new command (or a new way to write a password) is a new row.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from serving.serving_helpers import WINDOW, Server, write_project

SECRET = "Pl4nted/S3cret#Pw0rd?T41l"
PIECES = ("Pl4nted", "S3cret", "Pw0rd", "T41l")  # each piece between the characters a parser stops at
ENCODED = quote(SECRET, safe="")
ADMIN_TOKEN = "admin-token-0123456789abcdef"
SECONDS = 90


@dataclass(frozen=True)
class Case:
    """A target whose online store (and, for PostgreSQL, offline engine) is `url` (via $FC_LEAK_URL)."""

    id: str
    store: str  # postgres or redis
    url: str
    offline_password: bool = False  # the offline engine takes the password as its own `password:` setting

    @property
    def failing(self) -> set[str]:
        """The sides whose connection fails: the store, and the offline engine where it is PostgreSQL."""
        return {"online", "offline"} if self.store == "postgres" else {"online"}


PG = "127.0.0.1:5432"
CASES = [
    # PostgreSQL down (a closed port)
    Case("pg-url-raw-down", "postgres", f"postgresql://fc:{SECRET}@127.0.0.1:1/test"),
    Case("pg-url-encoded-down", "postgres", f"postgresql://fc:{ENCODED}@127.0.0.1:1/test"),
    Case("pg-libpq-spaces-down", "postgres", f"host=127.0.0.1 port=1 dbname=test password = '{SECRET} Pw0rd'"),
    Case("pg-libpq-unquoted-space", "postgres", f"host=127.0.0.1 port=1 dbname=test password={SECRET} T41l"),
    Case("pg-libpq-unterminated", "postgres", f"host=127.0.0.1 port=1 dbname=test password='{SECRET}"),
    Case("pg-offline-password-key-down", "postgres", "postgresql://fc@127.0.0.1:1/test", offline_password=True),
    # PostgreSQL up, refusing: no such database, no such user
    Case("pg-url-raw-up", "postgres", f"postgresql://fc:{SECRET}@{PG}/no_such_database"),
    Case("pg-url-encoded-no-database", "postgres", f"postgresql://postgres:{ENCODED}@{PG}/fc_no_such_database"),
    Case("pg-libpq-spaces-no-user", "postgres",
         f"host=127.0.0.1 port=5432 dbname=test user=fc_no_such_user password = '{SECRET}'"),
    Case("pg-url-query-password", "postgres", f"postgresql://{PG}/fc_no_such_database?user=postgres&password={SECRET}"),
    # Redis down, and up but refusing (a database out of range, an unknown user)
    Case("redis-raw-down", "redis", f"redis://:{SECRET}@127.0.0.1:1/0"),
    Case("redis-encoded-down", "redis", f"redis://:{ENCODED}@127.0.0.1:1/0"),
    Case("redis-user-raw-up", "redis", f"redis://fc_nobody:{SECRET}@127.0.0.1:6379/0"),
    Case("redis-encoded-no-database", "redis", f"redis://:{ENCODED}@127.0.0.1:6379/999"),
    Case("redis-encoded-no-user", "redis", f"redis://fc_nobody:{ENCODED}@127.0.0.1:6379/0"),
    Case("redis-unknown-option", "redis", f"redis://:{ENCODED}@127.0.0.1:6379/0?fc_no_such_option=1"),
]


@dataclass(frozen=True)
class Command:
    id: str
    argv: tuple[str, ...]
    uses: frozenset[str]  # the sides it connects to: it fails (exit 1, a diagnostic) when one of them fails


def _command(id: str, *argv: str, uses: tuple[str, ...] = ()) -> Command:
    return Command(id, argv, frozenset(uses))


BOTH = ("offline", "online")
COMMANDS = [
    _command("validate", "validate"),
    _command("ls", "ls"),
    _command("build", "build", "--dialect", "all"),
    _command("compile", "compile", "--view", "driver_stats"),
    _command("schema", "schema"),
    _command("debug", "debug", uses=BOTH),
    _command("run --dry-run", "run", "--dry-run", "--end", WINDOW["end_ts"]),  # notes the store, runs nothing
    _command("run", "run", "--end", WINDOW["end_ts"], uses=BOTH),
    _command("materialize", "materialize", "--start", WINDOW["start_ts"], "--end", WINDOW["end_ts"], uses=BOTH),
    _command("materialize --full-refresh", "materialize", "--full-refresh", "--end", WINDOW["end_ts"], uses=BOTH),
    _command("get-online-features", "get-online-features", "--features", "driver_stats:conv_rate", "-e",
             "driver_id=1001", uses=("online",)),
    _command("get-historical-features", "get-historical-features", "--spine", "spine.csv", "--features",
             "driver_stats:conv_rate", "-o", "training.parquet", uses=("offline",)),
    _command("push online", "push", "stats_push", "--file", "rows.csv", uses=("online",)),
    _command("push offline", "push", "stats_push", "--file", "rows.csv", "--to", "offline"),  # a file source
    _command("seed", "seed", uses=("offline",)),
    _command("test", "test"),  # the project has no data test: nothing to run, nothing connected
    _command("profile", "profile", uses=("offline",)),  # statistics of every view's rows, on the offline engine
    _command("clean", "clean"),
    _command("online delete", "online", "delete", "--view", "driver_stats", "-e", "driver_id=1001",
             uses=("online",)),
    _command("materialize --reset-watermark", "materialize", "--reset-watermark", uses=("online",)),
    _command("plan", "plan", "--state", "target"),  # compares with what `build` wrote: after the readers
    _command("docs generate", "docs", "generate"),  # compiles and writes target/docs/: connects to nothing
]


def _project(root: Path, case: Case, auth: bool = False) -> Path:
    """The serving tests' project (a push source, views, a date-keyed view), with a target on `case`."""
    write_project(root, {"type": "sqlite"}, name=f"leak_{uuid.uuid4().hex[:8]}")
    document = json.loads((root / "fcompile_project.yml").read_text())
    online = {"type": case.store, "url": "{{ env_var('FC_LEAK_URL') }}", "connect_timeout": 3}
    offline = {"type": "duckdb", "path": ".fcompile/offline.duckdb"}
    if case.store == "postgres":
        offline = {"type": "postgres", "url": "{{ env_var('FC_LEAK_URL') }}", "connect_timeout": 3}
        if case.offline_password:
            offline["password"] = "{{ env_var('FC_LEAK_PASSWORD') }}"
    target = {"offline": offline, "online": online}
    if auth:
        target["serving"] = {"auth": {"tokens": [{"name": "admin", "token": "{{ env_var('FC_LEAK_TOKEN') }}",
                                                  "feature_services": ["*"], "feature_views": ["*"],
                                                  "push_sources": ["*"], "write_feature_views": ["*"],
                                                  "materialize": True}]}}
    document["targets"]["leak"] = target
    document["default_target"] = "leak"
    (root / "fcompile_project.yml").write_text(json.dumps(document, indent=2))
    (root / "rows.csv").write_text("driver_id,ts,conv_rate,trips,city\n1001,2024-05-03T10:00:00,0.5,3,Oslo\n")
    (root / "spine.csv").write_text("driver_id,event_timestamp\n1001,2024-05-03T10:00:00\n")
    (root / "seeds").mkdir(exist_ok=True)
    (root / "seeds" / "colors.csv").write_text("id,name\n1,red\n")
    return root


def _environment(case: Case) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FCOMPILE_", "FC_LEAK_"))}
    env.update(FC_LEAK_URL=case.url, FC_LEAK_PASSWORD=SECRET, FC_LEAK_TOKEN=ADMIN_TOKEN)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), env.get("PYTHONPATH")]))
    return env


def leaked(text: str | bytes) -> list[str]:
    """The planted password's pieces `text` holds."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [piece for piece in (SECRET, ENCODED, *PIECES) if piece in text]


def _files_holding_it(root: Path) -> list[str]:
    return [str(path.relative_to(root)) for path in root.rglob("*") if path.is_file() and leaked(path.read_bytes())]


def _run(root: Path, case: Case, command: Command) -> str | None:
    """What is wrong with `command` on `case` (None when nothing is)."""
    run = subprocess.run([sys.executable, "-m", "fcompile", *command.argv], cwd=root, env=_environment(case),
                         capture_output=True, text=True, timeout=SECONDS)
    output = run.stdout + run.stderr
    where = f"{case.id}: fcompile {' '.join(command.argv)} (exit {run.returncode})"
    problems = []
    if leaked(output):
        problems.append(f"prints {leaked(output)}")
    if "Traceback" in output or run.returncode not in (0, 1):
        problems.append("crashes")
    diagnostic = "error[FC" in run.stderr or (command.argv[0] == "debug" and "\nfail " in f"\n{run.stdout}")
    if command.uses & case.failing and (run.returncode != 1 or not diagnostic):
        problems.append("does not fail with a diagnostic")
    if problems:
        return f"{where} {', '.join(problems)}:\n{output}"
    return None


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_no_connection_message_holds_the_password(case, tmp_path):
    """Every message the engines and stores give when they cannot connect (what each command prints), and
    what `fcompile debug` says, in process: every case, quickly."""
    if case.store == "postgres":
        pytest.importorskip("psycopg")
    from fcompile.diagnostics import DiagnosticError
    from fcompile.online import connect_online_store
    from fcompile.parser import load_project
    from fcompile.runners import connect_runner
    from fcompile.target_checks import check_target

    root = _project(tmp_path / "project", case)
    env = _environment(case)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        project = load_project(root, None).project
        said = [f"{check.name}: {check.detail} {check.hint}" for check in check_target(root, None, env)]
    for side, connect in (("offline", connect_runner), ("online", connect_online_store)):
        try:
            connect(project).close()
        except DiagnosticError as error:
            said += [f"{side}: {d.render()}" for d in error.diagnostics]
        else:
            assert side not in case.failing, f"{case.id}: the {side} connection did not fail"
    assert len(said) > len(case.failing)
    assert not [line for line in said if leaked(line)], said


@pytest.mark.parametrize("message, text, shown", [
    ('missing "=" after "S3cret" in connection info string', "host=db password=Pl4nted S3cret", False),
    ("Port could not be cast to integer value as 'Pl4nted'", "redis://:Pl4nted/S3cret@db:6379/0", False),
    ("failed to resolve host 'T41l@db': Name or service not known", "postgresql://fc:Pl4nted@T41l@db/ml", False),
    ('invalid sslmode value: "Pl4nted"', "host=db sslmode=Pl4nted", False),
    ('connection to server at "db" (10.0.0.1), port 5432 failed: FATAL:  password authentication failed for user '
     '"fc"', "host=db port=5432 user=fc password = 'Pl4nted S3cret'", True),
    ('FATAL:  database "ml" does not exist', "postgresql://fc:Pl4nted@db:5432/ml?sslmode=require", True),
    ("Error 111 connecting to 127.0.0.1:1. Connection refused.", f"redis://:{ENCODED}@127.0.0.1:1/0", True),
    ("Error 111 connecting to 127.0.0.1:1. Connection refused.", f"redis://:{SECRET}@127.0.0.1:1/0", False),
])
def test_a_driver_message_is_shown_only_when_it_quotes_no_piece_of_the_password(message, text, shown):
    from fcompile.connection_text import DRIVER_MESSAGE_HIDDEN, driver_reason

    assert driver_reason(message, text) == (message if shown else DRIVER_MESSAGE_HIDDEN)


def _slow_unless(*ids: str) -> list:
    return [pytest.param(case, id=case.id, marks=() if case.id in ids else pytest.mark.slow) for case in CASES]


# Every command of every case costs 20-25 s of CPU (about 20 subprocesses), so the quick run takes one case
# (PostgreSQL offline and online, the text libpq quoted a piece of); `make bench` (-m slow) takes them all.
@pytest.mark.parametrize("case", _slow_unless("pg-libpq-unquoted-space"))
def test_no_command_prints_or_writes_the_password(case, tmp_path):
    if case.store == "postgres":
        pytest.importorskip("psycopg")
    root = _project(tmp_path / "project", case)
    # the commands that change nothing run side by side; then those that write, one after another
    writers = ("clean", "run", "materialize", "materialize --full-refresh", "materialize --reset-watermark",
               "online delete", "plan")
    readers = [c for c in COMMANDS if c.id not in writers]
    with ThreadPoolExecutor(4) as pool:
        problems = list(pool.map(lambda command: _run(root, case, command), readers))
    problems += [_run(root, case, c) for c in COMMANDS if c not in readers and c.id != "clean"]
    problems.append(f"{case.id}: files hold the password: {_files_holding_it(root)}" if _files_holding_it(root)
                    else None)
    problems.append(_run(root, case, next(c for c in COMMANDS if c.id == "clean")))
    problems = [p for p in problems if p]
    assert not problems, "\n\n".join(problems)


def test_the_commands_table_covers_every_command():
    """A new command gets a row here (or a reason it has none)."""
    from fcompile.cli import app

    without_a_row = {"init": "makes a new project: reads no target", "serve": "test_no_endpoint_... below",
                     "docs serve": "serves the files of target/docs/ until stopped: reads no target"}
    names = {(c.name or c.callback.__name__).replace("_", "-") for c in app.registered_commands}
    names |= {f"{group.name} {(c.name or c.callback.__name__).replace('_', '-')}"
              for group in app.registered_groups for c in group.typer_instance.registered_commands}
    covered = {c.argv[0] for c in COMMANDS} | {" ".join(c.argv[:2]) for c in COMMANDS}
    assert names - covered - set(without_a_row) == set()


# -- the server ------------------------------------------------------------------------------------

# a server takes 5-10 s to start and stop: two cases run always, the others under `make bench` (-m slow)
SERVED = [param for param in _slow_unless("pg-libpq-unquoted-space", "redis-raw-down")
          if param.id in ("pg-libpq-unquoted-space", "pg-url-raw-down", "pg-libpq-spaces-no-user", "redis-raw-down",
                          "redis-encoded-no-user")]
READ = {"entities": {"driver_id": [1001]}, "features": ["driver_stats:conv_rate"]}
REQUESTS = [
    ("GET", "/health", None),
    ("POST", "/get-online-features", READ),
    ("POST", "/get-online-features", {**READ, "feature_service": "driver_v1", "features": None}),
    ("POST", "/push", {"push_source_name": "stats_push", "df": {"driver_id": [1001], "ts": ["2024-05-03T10:00:00"],
                                                              "conv_rate": [0.5], "trips": [3], "city": ["Oslo"]}}),
    ("POST", "/push", {"push_source_name": "stats_push", "to": "offline", "df": {"driver_id": [1001]}}),
    ("POST", "/write-to-online-store", {"feature_view_name": "driver_stats", "df": {"driver_id": [1001]}}),
    ("POST", "/materialize", WINDOW),
    ("POST", "/materialize-incremental", {"end_ts": WINDOW["end_ts"]}),
    ("GET", "/metrics", None),
    ("GET", "/no-such-endpoint", None),
    ("POST", "/get-online-features", b"{not json"),
]


@pytest.mark.parametrize("auth", [False, True], ids=["auth-off", "auth-on"])
@pytest.mark.parametrize("case", SERVED)
def test_no_endpoint_answers_or_logs_the_password(case, auth, tmp_path):
    pytest.importorskip("uvicorn")
    if case.store == "postgres":
        pytest.importorskip("psycopg")
    root = _project(tmp_path / "project", case, auth)
    env = _environment(case)
    server = Server(root, "--reload-interval", "0", "--access-log", "--log-level", "debug", env=env)
    problems = []
    try:
        for method, path, body in REQUESTS:
            for headers in ({}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}) if auth else ({},):
                reply = server.call(method, path, body, headers=headers)
                if leaked(reply.body) or leaked(str(reply.headers)):
                    problems.append(f"{method} {path} {headers}: {reply.status} {reply.body[:500]!r}")
                if reply.status >= 500 and reply.status != 503:
                    problems.append(f"{method} {path} {headers}: {reply.status} {reply.body[:500]!r}")
        health = server.get("/health")
        assert health.status == 503, health
        if auth:
            assert health.json == {"status": "unhealthy"}
    finally:
        server.stop()
    log = server.log
    assert "cannot be reached" in log, log  # the startup check said so
    if leaked(log):
        problems.append(f"the server's log holds {leaked(log)}:\n{log}")
    if "Traceback" in log:
        problems.append(f"the server's log holds a traceback:\n{log}")
    if _files_holding_it(root):
        problems.append(f"files hold the password: {_files_holding_it(root)}")
    assert not problems, "\n\n".join(problems)
