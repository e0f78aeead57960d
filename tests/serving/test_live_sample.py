"""The first minutes of a newcomer: `fcompile init` (its data ends at the current hour), `fcompile seed`,
a bare `fcompile materialize`, then `fcompile get-online-features` and `fcompile serve`, both with no `--now`, give
PRESENT values for every online view of the sample."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from serving_helpers import Server

ENTITIES = {"driver_id": [1001, 1001], "customer_id": ["C00000001", "C00000002"]}
"""(1001, C00000001) is a regular pair at every seed (see fcompile/sample/data.py); (1001, C00000002) is not,
so only its pair view may be NOT_FOUND."""


def fcompile(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("FCOMPILE_PROJECT_DIR", "FCOMPILE_TARGET")}
    done = subprocess.run([sys.executable, "-m", "fcompile", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def current_hour() -> dt.datetime:
    """This hour (UTC); in its last half minute, the next one, so the test does not straddle the change."""
    now = dt.datetime.now(dt.timezone.utc)
    if now.minute == 59 and now.second >= 30:
        time.sleep(61 - now.second)
        now = dt.datetime.now(dt.timezone.utc)
    return now.replace(minute=0, second=0, microsecond=0)


def statuses(document: dict) -> dict[str, list[str]]:
    names = document["metadata"]["feature_names"]
    return {name: column["statuses"] for name, column in zip(names, document["results"], strict=True)}


def test_a_fresh_sample_serves_present_values_now(tmp_path: Path) -> None:
    hour = current_hour()
    project = tmp_path / "driver_ranking"
    created = fcompile("init", str(project), "--as-of", hour.isoformat(), cwd=tmp_path)
    assert f"The data ends at {hour:%Y-%m-%dT%H:%M:%S}Z." in created.stdout
    fcompile("seed", cwd=project)  # the sources are tables loaded from the project's seeds/
    loaded = fcompile("materialize", cwd=project)
    assert "5 feature views loaded, 0 failed" in loaded.stdout and "hint" not in loaded.stdout, loaded.stdout
    read = fcompile("get-online-features", "--service", "driver_ranking_v2", "--json",
                    "-e", "driver_id=1001", "-e", "customer_id=C00000001", cwd=project)
    found = statuses(json.loads(read.stdout))
    assert len(found) == 16  # the two keys and every feature of the service, from all five online views
    assert found == {name: ["PRESENT"] for name in found}

    server = Server(project, "--reload-interval", "0")
    try:
        reply = server.online(ENTITIES, feature_service="driver_ranking_v2")
        assert reply.status == 200, reply
        found = statuses(reply.json)
        pair_features = {"trips_together", "avg_rating_given"}
        assert {name: values for name, values in found.items() if name not in pair_features} == \
            {name: ["PRESENT", "PRESENT"] for name in found if name not in pair_features}
        assert {name: found[name][0] for name in pair_features} == dict.fromkeys(pair_features, "PRESENT")
    finally:
        server.stop()
