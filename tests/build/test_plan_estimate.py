"""`fcompile plan --estimate`: the rows a full refresh of each view would read, counted on DuckDB and checked
against the seed file the table was loaded from; an unreachable engine leaves the plan printed, with a note."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sample_projects import assert_clean, fcompile
from seeded_sample import init_seeded_sample
from test_plan import edit, write_state

UNREACHABLE_TARGET = """  down:
    offline: {type: postgres, host: 127.0.0.1, port: 1, user: nobody, dbname: nothing, connect_timeout: 2}
    online:  {type: sqlite, path: .fcompile/online.db}
"""


@pytest.fixture
def changed_sample(tmp_path) -> tuple[Path, Path]:
    """The seeded sample (its data ending an hour ago), its state built, then driver_hourly_stats's ttl 2h → 3h."""
    as_of = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)).replace(second=0, microsecond=0)
    project = init_seeded_sample(tmp_path / "sample", scale=0.05, as_of=as_of)
    state = write_state(project, tmp_path / "state")
    edit(project, "features/driver.yml", "    ttl: 2h", "    ttl: 3h")
    return project, state


def rows_since(project: Path, since: dt.datetime) -> int:
    """Counted in Python over the seed file the engine's table was loaded from."""
    table = pq.read_table(project / "seeds" / "driver_stats.parquet", columns=["event_timestamp"])
    return sum(moment >= since for moment in table["event_timestamp"].to_pylist())


def test_the_estimate_counts_the_source_window_of_each_full_refresh(changed_sample):
    project, state = changed_sample
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    result = fcompile("plan", "--state", str(state), "--estimate", "--format", "json", cwd=project)
    after = dt.datetime.now(dt.timezone.utc)
    assert_clean(result)
    assert result.returncode == 0, result.stderr
    materialize = json.loads(result.stdout)["materialize"]
    assert materialize["full_refresh"] == ["driver_hourly_stats"] and materialize["estimate_note"] is None
    [estimate] = materialize["estimates"]
    since = dt.datetime.fromisoformat(estimate["since"].replace("Z", "+00:00"))
    assert before - dt.timedelta(hours=3) <= since <= after - dt.timedelta(hours=3)  # the new ttl's window
    assert estimate["rows"] == rows_since(project, since) and estimate["note"] is None
    assert estimate["rows"] > 0  # the data ends an hour ago: the 3h window holds two hours of it

    text = fcompile("plan", "--state", str(state), "--estimate", cwd=project)
    assert text.returncode == 0
    assert f"rows to read for driver_hourly_stats: about {estimate['rows']:,} (since " in text.stdout
    plain = fcompile("plan", "--state", str(state), "--format", "json", cwd=project)
    assert "estimates" not in json.loads(plain.stdout)["materialize"]  # only when asked


def test_an_unreachable_engine_leaves_the_plan_with_a_note(changed_sample):
    project, state = changed_sample
    with (project / "fcompile_project.yml").open("a") as handle:
        handle.write(UNREACHABLE_TARGET)
    for output_format in ("text", "markdown", "json"):
        result = fcompile("plan", "--state", str(state), "--estimate", "--target", "down", "--format",
                          output_format, cwd=project)
        assert_clean(result)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "fcompile materialize --full-refresh --select driver_hourly_stats" in result.stdout
        assert "the target's offline engine cannot be reached" in result.stdout
        assert "127.0.0.1:1" in result.stdout and "recompute" in result.stdout
    materialize = json.loads(result.stdout)["materialize"]
    assert materialize["estimates"] == [] and materialize["estimate_note"].startswith("the target's offline engine")
