"""`fcompile materialize --reset-watermark` (and the SDK's `reset_watermarks`): how a watermark that moved
too far is put right. It unsets the watermark of the selected views and nothing else - their values and the
rest of their state stay, nothing is loaded - says what each was, prints the command to run next, and holds
the materialization lock; on SQLite, Redis and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from materialize_projects import PROJECT, at
from test_materialize import END, materialize, state, stored

from fcompile import FeatureStore
from fcompile.diagnostics import DiagnosticError
from fcompile.online import connect_online_store
from fcompile.online.base import ViewState
from fcompile.parser import load_project
from fcompile.tasks.locks import lock_path, materialization_lock

UTC = dt.timezone.utc
FUTURE = dt.datetime(2205, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "redis", "postgres"])
def store_project(request, project):
    """The materialization project on each online store (a fresh project name on the servers)."""
    if request.param == "sqlite":
        yield project
        return
    from store_cleanup import delete_postgres_project, delete_redis_project, new_project

    url, name = request.getfixturevalue(f"{request.param}_url"), new_project()
    (project / "fcompile_project.yml").write_text(PROJECT.replace("name: materialize_test", f"name: {name}").replace(
        "{type: sqlite, path: .fcompile/online.db}", f"{{type: {request.param}, url: '{url}'}}"))
    yield project
    (delete_redis_project if request.param == "redis" else delete_postgres_project)(url, name)


def poison(project, view: str, watermark: dt.datetime = FUTURE) -> None:
    """The watermark a typo'd `--end 2205-...` left with an earlier fcompile."""
    graph = load_project(project)
    with connect_online_store(graph.project) as store:
        state = store.get_state(view)
        store.put_state(view, ViewState(watermark, state.last_run_at, state.last_window_start, state.rows_read,
                                        state.keys_written))


def test_a_reset_unsets_the_watermark_keeps_the_values_and_the_next_run_loads_again(capsys, store_project):
    project = store_project
    assert materialize(capsys, project, "--end", END)[0] == 0
    before = state(project, "recent")
    poison(project, "stats")
    assert "up to date" in materialize(capsys, project, "--end", END, "-s", "stats")[1]  # skipped: poisoned

    code, out, err = materialize(capsys, project, "--reset-watermark", "--select", "stats", "recent")
    assert (code, err) == (0, ""), err
    assert out.splitlines() == [
        "recent  watermark was 2024-01-01T12:00:00Z; now unset",
        "stats   watermark was 2205-01-01T00:00:00Z; now unset",
        "2 watermarks unset, 0 had none; the stored values are kept and nothing was loaded",
        f"next: fcompile materialize --project-dir {project} --select stats recent   (loads each view's first-run "
        "window: end - ttl, or from the earliest data)",
    ]
    assert state(project, "stats").watermark is None and state(project, "recent").watermark is None
    assert state(project, "recent").keys_written == before.keys_written  # the rest of the state stays
    assert state(project, "rider").watermark == at(12)  # not selected
    assert stored(project, "stats", [1])[0][0] == {"conv": 0.25, "trips": 3}  # values kept

    code, out, err = materialize(capsys, project, "--reset-watermark", "-s", "stats")
    assert code == 0 and "stats  had no watermark (never materialized, or reset before); unchanged" in out

    code, out, err = materialize(capsys, project, "--end", END, "-s", "stats")
    assert code == 0 and "stats  loaded 2 keys (4 rows) in [2024-01-01T09:00:00Z, 2024-01-01T12:00:00Z]" in out
    assert state(project, "stats").watermark == at(12)


def test_without_a_selection_every_online_view_is_reset(capsys, project):
    materialize(capsys, project, "--end", END, "-s", "stats")
    code, out, err = materialize(capsys, project, "--reset-watermark")
    assert code == 0, err
    assert [line.split()[0] for line in out.splitlines()[:3]] == ["recent", "rider", "stats"]  # not archive
    assert "1 watermark unset, 2 had none" in out
    assert f"next: fcompile materialize --project-dir {project}   (" in out


def test_a_reset_takes_no_window_and_is_refused_while_a_materialization_runs(capsys, project):
    materialize(capsys, project, "--end", END)
    for extra in (["--end", END], ["--start", END], ["--full-refresh"]):
        code, out, err = materialize(capsys, project, "--reset-watermark", *extra)
        assert code == 1 and "error[FC090]: --reset-watermark only unsets watermarks and loads nothing; it takes " \
            f"no {extra[0]}" in err, err
    with materialization_lock(lock_path(load_project(project))):
        code, out, err = materialize(capsys, project, "--reset-watermark")
        assert code == 1 and "error[FC129]" in err
    assert state(project, "stats").watermark == at(12)


def test_the_sdk_resets_named_views_and_refuses_unknown_ones(capsys, store_project):
    project = store_project
    materialize(capsys, project, "--end", END)
    poison(project, "stats")
    with FeatureStore(project) as fs:
        resets = fs.reset_watermarks("stats")
        assert [(r.view, r.previous) for r in resets] == [("stats", FUTURE)]
        with pytest.raises(DiagnosticError) as caught:
            fs.reset_watermarks(["stat", "archive"])
        assert [d.code.value for d in caught.value.diagnostics] == ["FC032", "FC118"]
        fs.materialize_incremental(dt.datetime(2024, 1, 1, 12))
    assert state(project, "stats").watermark == at(12)
