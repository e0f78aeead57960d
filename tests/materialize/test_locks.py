"""One materialization at a time (fcompile/tasks/locks.py, docs/concepts/materialization.md): a second
`fcompile materialize` - from the same folder, or from a clone of the project writing the same online store
- is FC129 at once, naming the busy store, and a run killed with SIGKILL frees the locks (Redis: when the
lock's expiry passes). The holder is a real process taking the locks the command takes (`hold_materialization`)
and opening the offline engine, as a running `fcompile materialize` does; the second run is the real command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from materialize_projects import write_project
from store_cleanup import delete_postgres_project, delete_redis_project, new_project

END = "2024-01-01T12:00:00"
ROOT = Path(__file__).resolve().parents[2]

HOLDER = """\
import sys, time
from fcompile.parser import load_project
from fcompile.runners import connect_runner
from fcompile.tasks.locks import hold_materialization

graph = load_project(sys.argv[1])
with hold_materialization(graph), connect_runner(graph.project):
    print("held", flush=True)
    time.sleep(120)
"""


def environment() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}


def fcompile(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fcompile", *args], capture_output=True, text=True,
                          env=environment(), timeout=120)


class Holder:
    """A process holding a project's materialization locks and its offline engine, until killed."""

    def __init__(self, project: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER, str(project)], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, env=environment())
        line = self.process.stdout.readline()
        assert line == "held\n", self.process.stderr.read()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def __enter__(self) -> Holder:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.process.poll() is None:
            self.kill()
        self.process.stdout.close()
        self.process.stderr.close()


def set_targets(project: Path, name: str, offline: dict, online: dict) -> Path:
    path = project / "fcompile_project.yml"
    settings = yaml.safe_load(path.read_text())
    settings["name"] = name
    settings["targets"]["dev"] = {"offline": offline, "online": online}
    path.write_text(yaml.safe_dump(settings, sort_keys=False))
    return project


def test_a_second_run_in_the_same_folder_is_fc129_not_the_engines_file_lock(tmp_path):
    """The offline engine is a DuckDB file, which one process at a time may open: the second run must find
    the materialization lock before it tries the engine (FC110 said nothing of a running materialization)."""
    project = set_targets(write_project(tmp_path / "p"), "locks_test",
                          {"type": "duckdb", "path": ".fcompile/offline.duckdb"},
                          {"type": "sqlite", "path": ".fcompile/online.db"})
    with Holder(project) as holder:
        second = fcompile("materialize", "--project-dir", str(project), "--end", END)
        assert second.returncode == 1 and "error[FC129]" in second.stderr, second.stderr
        assert "FC110" not in second.stderr and "already running" in second.stderr and "Traceback" not in second.stderr
        ran = fcompile("run", "--project-dir", str(project), "--end", END)  # `run` materializes too
        assert ran.returncode == 1 and "error[FC129]" in ran.stderr and "FC110" not in ran.stderr, ran.stderr
        holder.kill()
    again = fcompile("materialize", "--project-dir", str(project), "--end", END)
    assert again.returncode == 0, again.stderr


@pytest.fixture(params=("sqlite", "redis", "postgres"))
def clones(request, tmp_path):
    """Two copies of one project (same name) whose targets write the same online store: (first, second,
    the store's type, its settings and the project's name)."""
    name = new_project()
    if request.param == "sqlite":
        online = {"type": "sqlite", "path": str(tmp_path / "shared" / "online.db")}
    elif request.param == "redis":
        url = request.getfixturevalue("redis_url")
        online = {"type": "redis", "url": url, "materialize_lock_seconds": 1}
    else:
        url = request.getfixturevalue("postgres_url")
        online = {"type": "postgres", "url": url}
    folders = [set_targets(write_project(tmp_path / clone), name, {"type": "duckdb"}, online)
               for clone in ("clone_a", "clone_b")]
    yield folders[0], folders[1], request.param, {**online, "project": name}
    if request.param == "redis":
        delete_redis_project(online["url"], name)
    elif request.param == "postgres":
        delete_postgres_project(online["url"], name)


STORE_NAMED = {"sqlite": "into the SQLite online store ", "redis": "into the Redis online store at redis://",
               "postgres": "into the PostgreSQL online store at postgresql://"}


def test_clones_of_a_project_writing_one_store_take_turns(clones):
    first, second, store_type, online = clones
    with Holder(first) as holder:
        busy = fcompile("materialize", "--project-dir", str(second), "--end", END)
        assert busy.returncode == 1 and "error[FC129]" in busy.stderr, busy.stderr
        assert STORE_NAMED[store_type] in busy.stderr and "from another folder" in busy.stderr
        assert "Traceback" not in busy.stderr
        holder.kill()
    if store_type == "redis":  # the killed run's lock expires after materialize_lock_seconds (1 s)
        wait_for_expiry(online)
    again = fcompile("materialize", "--project-dir", str(second), "--end", END)
    assert again.returncode == 0, again.stderr


def wait_for_expiry(online: dict) -> None:
    import redis

    from fcompile.online.redis import LOCK_KEY

    client = redis.Redis.from_url(online["url"])
    try:
        key = f"fc:{online['project']}:".encode() + LOCK_KEY
        deadline = time.monotonic() + 10
        while client.exists(key) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not client.exists(key)
    finally:
        client.close()


def test_the_redis_lock_is_renewed_while_held_and_released_only_by_its_holder(redis_url):
    import redis

    from fcompile.diagnostics import DiagnosticError
    from fcompile.online.redis import LOCK_KEY, RedisOnlineStore

    project = new_project()
    settings = {"type": "redis", "url": redis_url, "materialize_lock_seconds": 0.6}
    client = redis.Redis.from_url(redis_url)
    key = f"fc:{project}:".encode() + LOCK_KEY
    try:
        with RedisOnlineStore.connect(settings, project, ".") as holder, \
                RedisOnlineStore.connect(settings, project, ".") as other:
            with holder.materialization_lock():
                time.sleep(1.5)  # past two expiries: renewed meanwhile
                with pytest.raises(DiagnosticError) as caught:
                    with other.materialization_lock():
                        pass
                assert caught.value.diagnostics[0].code.value == "FC129"
                assert "within 0.6 s" in caught.value.diagnostics[0].hint
                client.set(key, b"another run's token")  # as if the lock had expired and another run took it
            assert client.get(key) == b"another run's token"  # not ours: left in place
            client.delete(key)
            with other.materialization_lock():
                pass
            assert client.get(key) is None  # released at the end
    finally:
        delete_redis_project(redis_url, project)
        client.close()
