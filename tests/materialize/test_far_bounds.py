"""Bounds far from now: a 100-year ttl (the longest duration) materializes, a longer one is a diagnostic
at its position, a future `--end` is refused (it would become the watermark), and `--full-refresh` puts back
a watermark that moved past now."""

from __future__ import annotations

import datetime as dt

import pytest
from materialize_projects import PROJECT, SPEC, at
from test_materialize import END, materialize, state, stored

from fcompile.cli import main
from fcompile.online import connect_online_store
from fcompile.online.base import ViewState
from fcompile.parser import load_project

UTC = dt.timezone.utc


def validate(capsys, project) -> tuple[int, str]:
    try:
        main(["validate", "--project-dir", str(project)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_100_year_ttl_materializes_and_a_longer_one_is_fc051_at_its_position(capsys, project):
    (project / "features.yml").write_text(SPEC.replace("ttl: 1h", "ttl: 36525d"))
    code, out, err = materialize(capsys, project, "--end", END, "--select", "recent")
    assert code == 0, err
    assert stored(project, "recent", [1, 2])[1][1] == at(9)  # the whole source is inside the ttl
    assert state(project, "recent").last_window_start == dt.datetime(1924, 1, 1, 12, tzinfo=UTC)
    line = SPEC.splitlines().index("    ttl: 1h") + 1
    for ttl in ("36526d", "9999999w", "99999999999999999999d", "P99999999999W"):
        (project / "features.yml").write_text(SPEC.replace("ttl: 1h", f"ttl: {ttl}").replace(
            "lateness: 1h", "lateness: 99999999999999999999d"))
        code, output = validate(capsys, project)
        assert code == 1 and "Traceback" not in output, output
        assert f"features.yml:{line}:10: error[FC051]" in output and f"'{ttl}' is longer than 100 years" in output
        assert output.count("error[FC051]") == 2  # the lateness too


def test_a_future_end_is_fc119_and_moves_no_watermark(capsys, project):
    materialize(capsys, project, "--end", END)
    code, out, err = materialize(capsys, project, "--end", "2205-01-01")
    assert code == 1 and "error[FC119]: the window ends at 2205-01-01T00:00:00Z, later than " in err
    assert "(now plus 1 day)" in err and "Traceback" not in err and state(project, "stats").watermark == at(12)


def test_an_end_a_little_ahead_leaves_the_watermark_at_the_time_of_the_read(capsys, project):
    """An end inside the day of tolerance is read, but the watermark stops at the time the window was read:
    rows for the minutes after it may still arrive, and the next incremental run must read them."""
    before = dt.datetime.now(UTC).replace(microsecond=0)
    code, out, err = materialize(capsys, project, "--end", (before + dt.timedelta(minutes=20)).isoformat())
    assert code == 0, err
    watermark = state(project, "stats").watermark
    assert before <= watermark <= dt.datetime.now(UTC)
    code, out, err = materialize(capsys, project)  # incremental, to now: read again, not "up to date"
    assert code == 0 and "up to date" not in out + err, out + err


@pytest.fixture(params=["sqlite", "redis"])
def any_store_project(request, project):
    """The materialization project on the SQLite store, or on Redis under a fresh project name."""
    if request.param == "sqlite":
        yield project
        return
    from store_cleanup import delete_redis_project, new_project

    url, name = request.getfixturevalue("redis_url"), new_project()
    (project / "fcompile_project.yml").write_text(PROJECT.replace("name: materialize_test", f"name: {name}").replace(
        "{type: sqlite, path: .fcompile/online.db}", f"{{type: redis, url: '{url}'}}"))
    yield project
    delete_redis_project(url, name)


def test_full_refresh_moves_a_watermark_back_from_the_future(capsys, any_store_project):
    project = any_store_project
    graph = load_project(project)
    with connect_online_store(graph.project) as store:  # as an earlier fcompile let a typo'd --end leave it
        store.put_state("stats", ViewState(dt.datetime(2205, 1, 1, tzinfo=UTC), None, None))
    code, out, err = materialize(capsys, project, "--end", END, "--select", "stats")
    assert code == 0 and "up to date" in out + err  # skipped: the watermark is past the end
    assert "later than now" in out + err and "fcompile materialize --reset-watermark" in out + err
    code, out, err = materialize(capsys, project, "--end", END, "--select", "stats", "--full-refresh")
    assert code == 0, err
    assert state(project, "stats").watermark == at(12)
    assert stored(project, "stats", [1])[0][0] == {"conv": 0.25, "trips": 3}
