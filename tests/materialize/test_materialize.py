"""`fcompile materialize` end to end on the SQLite store: windows (first run, incremental with lateness,
--start, --full-refresh), watermarks, the newer-wins write, failures that stop nothing else, the summary,
progress lines and target/run_results.json."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from materialize_projects import STATS, UTC, at, with_rows, write_stats

from fcompile.cli import main
from fcompile.online import connect_online_store, online_view
from fcompile.parser import load_project

END = "2024-01-01T12:00:00"


def materialize(capsys, project, *args: str) -> tuple[int, str, str]:
    try:
        main(["materialize", "--project-dir", str(project), *args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def stored(project, view: str, keys: list) -> list:
    """Per key: (values, event_ts, created_ts) as stored, or None."""
    graph = load_project(project)
    target = online_view(graph, graph.feature_view(view))
    with connect_online_store(graph.project) as store:
        rows = store.read(target, [(k,) for k in keys], [name for name, _ in target.features])
    return [None if r is None else (dict(r.values), r.event_ts, r.created_ts) for r in rows]


def state(project, view: str):
    graph = load_project(project)
    with connect_online_store(graph.project) as store:
        return store.get_state(view)


def results(project) -> dict:
    return json.loads((project / "target" / "run_results.json").read_text())


def test_a_first_run_loads_the_newest_row_per_key_and_sets_the_watermarks(capsys, project):
    code, out, err = materialize(capsys, project, "--end", END)
    assert code == 0, err
    assert stored(project, "stats", [1, 2, 3]) == [
        ({"conv": 0.25, "trips": 3}, at(11), at(11, 30)),  # 11:00 twice: the later created wins
        ({"conv": 0.5, "trips": 5}, at(9), at(9)),
        None,
    ]
    # recent has a ttl of 1h: its first window is [11:00, 12:00], so driver 2 (09:00) is not loaded
    assert stored(project, "recent", [1, 2]) == [({"conv": 0.25}, at(11), at(11, 30)), None]
    assert stored(project, "rider", ["a", "b"]) == [({"rating": 4.0}, at(12), None), ({"rating": 3.0}, at(10), None)]
    for view in ("stats", "recent", "rider"):
        assert state(project, view).watermark == at(12)
    assert state(project, "archive") is None  # online: false
    stats = state(project, "stats")
    assert (stats.last_window_start, stats.rows_read, stats.keys_written) == (at(9), 4, 2)
    assert "3 feature views loaded, 0 failed; wrote target/run_results.json" in out and "archive" not in out
    assert "stats   loaded 2 keys (4 rows) in [2024-01-01T09:00:00Z, 2024-01-01T12:00:00Z] (" in out
    assert "recent  loaded 1 key (2 rows) in [2024-01-01T11:00:00Z, 2024-01-01T12:00:00Z] (" in out
    assert len(out.splitlines()) == 4 and "hint" not in out  # a line per view, the summary


def test_run_results_record_every_view(capsys, project):
    materialize(capsys, project, "--end", END)
    document = results(project)
    assert document["metadata"]["command"] == "materialize" and document["metadata"]["schema_version"] == 2
    by_node = {r["node"]: r for r in document["results"]}
    assert list(by_node) == ["feature_view.recent", "feature_view.rider", "feature_view.stats"]
    assert by_node["feature_view.stats"]["window"] == {"start": "2024-01-01T09:00:00Z",
                                                       "end": "2024-01-01T12:00:00Z", "basis": "earliest"}
    assert by_node["feature_view.recent"]["window"]["basis"] == "ttl"
    assert {k: by_node["feature_view.stats"][k] for k in ("status", "rows_read", "keys_written", "message")} == \
        {"status": "success", "rows_read": 4, "keys_written": 2,
         "message": "loaded 2 keys (4 rows) in [2024-01-01T09:00:00Z, 2024-01-01T12:00:00Z]"}


def test_an_incremental_run_starts_at_the_watermark_minus_the_lateness(capsys, project):
    materialize(capsys, project, "--end", END)
    # late rows: driver 2 at 11:30 (inside the 1h lateness before the 12:00 watermark) and driver 3 at 10:30
    # (too late: before 11:00); driver 1 at 12:30 (new)
    write_stats(project, with_rows(STATS, driver_id=[2, 3, 1], ts=[at(11, 30), at(10, 30), at(12, 30)],
                                   created=[at(13), at(13), at(13)], conv=[0.6, 0.7, 0.3], trips=[6, 7, 4]))
    code, _, err = materialize(capsys, project, "--end", "2024-01-01T13:00:00", "--select", "stats")
    assert code == 0, err
    assert stored(project, "stats", [1, 2, 3]) == [
        ({"conv": 0.3, "trips": 4}, at(12, 30), at(13)),
        ({"conv": 0.6, "trips": 6}, at(11, 30), at(13)),
        None,  # arrived later than the lateness allows: only a full refresh or --start reads it
    ]
    assert state(project, "stats").watermark == at(13) and state(project, "stats").last_window_start == at(11)
    assert state(project, "rider").watermark == at(12)  # not selected: untouched
    code, _, err = materialize(capsys, project, "--end", "2024-01-01T13:00:00", "--select", "stats", "--full-refresh")
    assert code == 0, err
    assert stored(project, "stats", [3]) == [({"conv": 0.7, "trips": 7}, at(10, 30), at(13))]
    assert state(project, "stats").last_window_start == at(9)


def test_replaying_an_old_window_never_overwrites_newer_values(capsys, project):
    materialize(capsys, project, "--end", END)
    code, _, err = materialize(capsys, project, "--start", "2024-01-01T09:00", "--end", "2024-01-01T10:00")
    assert code == 0, err
    assert stored(project, "stats", [1, 2]) == [({"conv": 0.25, "trips": 3}, at(11), at(11, 30)),
                                                ({"conv": 0.5, "trips": 5}, at(9), at(9))]
    assert state(project, "stats").watermark == at(12)  # a watermark never moves back


def test_full_refresh_deletes_nothing_first(capsys, project):
    materialize(capsys, project, "--end", END)
    write_stats(project, {column: values[:0] for column, values in STATS.items()})  # the source is now empty
    code, _, err = materialize(capsys, project, "--end", END, "--full-refresh", "--select", "stats")
    assert code == 0, err
    assert stored(project, "stats", [1, 2])[0] == ({"conv": 0.25, "trips": 3}, at(11), at(11, 30))


BROKEN = """\
sources:
  - {name: missing_src, table: no_such_table, timestamp_field: ts}
feature_views:
  - {name: broken, entities: [driver], source: missing_src, features: [{name: x, dtype: int64}]}
"""


def test_a_failing_view_does_not_stop_the_others(capsys, project):
    materialize(capsys, project, "--end", END)
    (project / "broken.yml").write_text(BROKEN)  # its table is not in the offline database
    write_stats(project, with_rows(STATS, driver_id=[2], ts=[at(12, 30)], created=[at(13)], conv=[0.9], trips=[9]))
    code, out, err = materialize(capsys, project, "--end", "2024-01-01T13:00")
    assert code == 1
    assert "error[FC110]: feature view 'broken': DuckDB failed" in err and "Traceback" not in err + out
    assert "3 feature views loaded, 1 failed" in out  # broken sorts first: the views after it still ran
    assert "broken  failed: error[FC110] above (" in out
    assert state(project, "broken") is None
    assert state(project, "stats").watermark == at(13)
    assert stored(project, "stats", [2])[0][0] == {"conv": 0.9, "trips": 9}
    failed = {r["node"]: r for r in results(project)["results"]}["feature_view.broken"]
    assert failed["status"] == "error" and "FC110" in failed["message"] and failed["keys_written"] is None


def test_a_failure_keeps_the_watermark_where_it_was(capsys, project):
    materialize(capsys, project, "--end", END, "--select", "stats")
    (project / "data" / "stats.parquet").unlink()  # a warning when parsing, an error once the data is needed
    code, _, err = materialize(capsys, project, "--end", "2024-01-01T13:00", "--select", "stats")
    assert code == 1
    assert "error[FC062]: feature view 'stats': its source 'stats_src' matches no file ('data/stats.parquet')" in err
    assert state(project, "stats").watermark == at(12)


def test_a_missing_source_file_is_fc062_for_that_view(capsys, project):
    (project / "data" / "riders.parquet").unlink()
    code, _, err = materialize(capsys, project, "--end", END, "--select", "rider")
    assert code == 1 and "error[FC062]: feature view 'rider': its source 'rider_src' matches no file" in err


def test_selection_notes_offline_views_and_other_kinds(capsys, project):
    code, out, err = materialize(capsys, project, "--end", END, "--select", "archive stats driver_v1")
    assert code == 0, err
    assert "note: feature view archive is offline only (online: false); skipped" in err
    assert "1 other selected node(s) ignored" in err
    assert "1 feature view loaded, 0 failed" in out
    code, out, _ = materialize(capsys, project, "--end", END, "--select", "archive")
    assert code == 0 and "nothing to materialize" in out


def test_progress_is_plain_lines_when_not_a_terminal(capsys, project):
    _, _, err = materialize(capsys, project, "--end", END, "--select", "stats")
    assert "materializing feature view stats: window [2024-01-01T09:00:00Z, 2024-01-01T12:00:00Z] " \
           "(earliest), 4 source rows to read" in err
    assert "success" not in err  # the view's result is on stdout, once


def test_a_view_with_nothing_new_prints_one_line(capsys, project):
    """An incremental run that finds nothing since the watermark: the view's result line, and no progress
    line before it saying the same."""
    code, _, err = materialize(capsys, project, "--end", "2024-01-01T14:00", "--select", "stats")
    assert code == 0 and "materializing feature view stats" in err
    code, out, err = materialize(capsys, project, "--end", "2024-01-01T14:00", "--select", "stats")
    assert code == 0, err
    assert "materializing feature view" not in err
    assert [line.split()[0] for line in out.splitlines() if "stats" in line] == ["stats"]
    assert "stats  no new rows since the watermark: none in [2024-01-01T13:00:00Z, 2024-01-01T14:00:00Z]" in out


def test_an_empty_source_window_still_moves_the_watermark(capsys, project):
    code, out, err = materialize(capsys, project, "--end", "2024-01-01T07:00", "--select", "stats")
    assert code == 0, err
    assert stored(project, "stats", [1]) == [None]
    assert state(project, "stats").watermark == dt.datetime(2024, 1, 1, 7, tzinfo=UTC)
    assert results(project)["results"][0]["window"]["start"] is None


def test_windows_that_read_nothing_say_so_and_hint_once(capsys, project):
    """Data that ends long before `--end`: the ttl view's window is empty - the run says so, when its newest
    row is, and how to load it; the watermark still moves (the empty window committed), so an earlier
    `--end` then finds every view up to date, and says that too, with the hint once."""
    code, out, err = materialize(capsys, project, "--end", "2024-01-02T12:00")
    assert code == 0, err
    assert "recent  no rows in [2024-01-02T11:00:00Z, 2024-01-02T12:00:00Z]; newest row at 2024-01-01T11:00:00Z (" \
        in out
    assert "2 feature views loaded, 1 read no rows, 0 failed; wrote target/run_results.json" in out
    assert out.count("hint:") == 1
    assert "hint: the newest rows of a view are older than its window: `fcompile materialize --full-refresh --end " \
           "2024-01-01T11:00:00Z` loads the values as of then (read them with --now 2024-01-01T11:00:00Z)" in out
    assert stored(project, "recent", [1]) == [None]
    assert state(project, "recent").watermark == dt.datetime(2024, 1, 2, 12, tzinfo=UTC)
    entry = {r["node"]: r for r in results(project)["results"]}["feature_view.recent"]
    assert (entry["status"], entry["rows_read"], entry["keys_written"]) == ("success", 0, 0)
    assert entry["message"].startswith("no rows in [2024-01-02T11:00:00Z, 2024-01-02T12:00:00Z]; newest row at")

    code, out, err = materialize(capsys, project, "--end", END)
    assert code == 0, err
    assert "recent  up to date: the watermark 2024-01-02T12:00:00Z is past the requested end 2024-01-01T12:00:00Z; " \
           "nothing read (" in out
    assert "3 feature views up to date, 0 failed" in out
    assert out.count("hint:") == 1 and "add --full-refresh to read its window again, or give --start" in out
    assert {r["node"]: r["status"] for r in results(project)["results"]} == dict.fromkeys(
        ["feature_view.recent", "feature_view.rider", "feature_view.stats"], "skipped")

    code, out, err = materialize(capsys, project, "--full-refresh", "--end", "2024-01-01T11:00:00Z")
    assert code == 0 and "3 feature views loaded, 0 failed" in out and "hint" not in out
    assert stored(project, "recent", [1]) == [({"conv": 0.25}, at(11), at(11, 30))]


def test_a_failure_shared_by_every_view_prints_its_hint_once(capsys, project):
    (project / "data" / "stats.parquet").unlink()
    (project / "data" / "riders.parquet").unlink()
    code, out, err = materialize(capsys, project, "--end", END)
    assert code == 1
    assert err.count("error[FC062]") == 3 and err.count("hint:") == 1
    assert "recent  failed: error[FC062] above (" in out and "0 feature views" not in out
    assert out.splitlines()[-1] == "3 failed; wrote target/run_results.json"


@pytest.mark.parametrize("args, code, message", [
    (["--start", "yesterday"], "FC090", "--start 'yesterday' is not an ISO 8601 date or time"),
    (["--end", "2024-13-01"], "FC090", "--end '2024-13-01' is not an ISO 8601"),
    (["--start", "2024-01-02", "--end", "2024-01-01"], "FC119", "the window starts (2024-01-02T00:00:00Z) after"),
    (["--select", "statz"], "FC090", "no node is named 'statz'"),
])
def test_bad_arguments_are_diagnostics(capsys, project, args, code, message):
    exit_code, out, err = materialize(capsys, project, *args)
    assert exit_code == 1 and f"error[{code}]" in err and message in err and "Traceback" not in err


def test_zoned_bounds_are_converted_to_utc(capsys, project):
    code, _, err = materialize(capsys, project, "--start", "2024-01-01T11:00:00+01:00",
                               "--end", "2024-01-01T12:00:00+02:00", "--select", "stats")
    assert code == 0, err
    # the window is [10:00, 10:00] UTC: driver 1's 10:00 row only
    assert stored(project, "stats", [1, 2]) == [({"conv": 0.1, "trips": 1}, at(10), at(10)), None]


def test_a_second_run_is_refused_while_one_holds_the_projects_lock(capsys, project):
    from fcompile.tasks.locks import lock_path, materialization_lock

    with materialization_lock(lock_path(load_project(project))):  # as a running command or server holds it
        code, _, err = materialize(capsys, project, "--end", END)
    assert code == 1 and "error[FC129]" in err and "already running" in err
    assert state(project, "stats") is None  # nothing ran
    assert materialize(capsys, project, "--end", END)[0] == 0  # released with the run that held it
