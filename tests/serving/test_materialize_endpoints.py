"""POST /materialize and /materialize-incremental (Feast's shapes), one at a time per project."""

from __future__ import annotations

import fcntl
import json
import os

from serving_helpers import WINDOW


def test_materialize_window_then_incremental(sqlite_server):
    reply = sqlite_server.post("/materialize", {**WINDOW, "feature_views": ["driver_stats"]})
    assert reply.status == 200, reply
    (result,) = reply.json["results"]
    assert result["feature_view"] == "driver_stats" and result["status"] == "success"
    assert result["window"] == {"start": "2024-04-01T00:00:00Z", "end": "2024-06-01T00:00:00Z",
                                "basis": "start"}
    assert result["rows_read"] == 4 and result["keys_written"] == 3 and result["errors"] == []
    assert result["message"] == "loaded 3 keys (4 rows) in [2024-04-01T00:00:00Z, 2024-06-01T00:00:00Z]"
    run_results = json.loads((sqlite_server.project / "target" / "run_results.json").read_text())
    assert run_results["metadata"]["command"] == "materialize"

    incremental = sqlite_server.post("/materialize-incremental", {"end_ts": "2024-06-02T00:00:00",
                                                                  "feature_views": None})
    assert incremental.status == 200, incremental
    by_view = {r["feature_view"]: r for r in incremental.json["results"]}
    assert "driver_archive" not in by_view  # online: false views are left out of "all"
    assert by_view["driver_stats"]["window"]["basis"] == "watermark"
    assert by_view["driver_stats"]["window"]["start"] == "2024-06-01T00:00:00Z"
    assert by_view["driver_stats"]["message"].startswith("no new rows since the watermark: none in [")

    earlier = sqlite_server.post("/materialize-incremental", {"end_ts": "2024-05-01T00:00:00",
                                                             "feature_views": ["driver_stats"]})
    (skipped,) = earlier.json["results"]
    assert (skipped["status"], skipped["rows_read"]) == ("skipped", 0)
    assert skipped["message"] == ("up to date: the watermark 2024-06-02T00:00:00Z is past the requested end "
                                  "2024-05-01T00:00:00Z; nothing read")


def test_second_materialization_gets_409_while_one_holds_the_lock(sqlite_server):
    """The lock is a flock on target/.materialize.lock: taken here, as another worker or server would."""
    path = sqlite_server.project / "target" / ".materialize.lock"
    path.parent.mkdir(exist_ok=True)
    handle = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        reply = sqlite_server.post("/materialize", WINDOW)
        assert reply.status == 409, reply
        assert reply.error["code"] == "FC129" and "already running" in reply.error["message"]
        assert sqlite_server.post("/materialize-incremental", {"end_ts": "2024-06-01"}).status == 409
        # reads go on meanwhile
        assert sqlite_server.online({"driver_id": [1001]}, feature_service="driver_v1").status == 200
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)
    assert sqlite_server.post("/materialize", WINDOW).status == 200

