"""Pushed rows whose event time is later than now plus a day (the limit of a materialization window's end,
FC119) are refused with FC122 naming the row, the column, the value and the limit, and nothing of the push is
written: stored, such a row would win over every real value of its key until then (newer wins)."""

from __future__ import annotations

import datetime as dt
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from push_projects import at, online_values, stats_rows
from test_push_cli import cli
from test_push_validation import assert_nothing_stored, problems

from fcompile import FeatureStore

UTC = dt.timezone.utc
LIMIT = re.compile(r"later than (\S+) \(now plus 1 day\)")


def check_limit(message: str) -> None:
    """The limit the message names is now plus a day (give or take the test's own time)."""
    limit = dt.datetime.fromisoformat(LIMIT.search(message).group(1).replace("Z", "+00:00"))
    assert abs(limit - (dt.datetime.now(UTC) + dt.timedelta(days=1))) < dt.timedelta(minutes=1)


@pytest.mark.parametrize("to", ["online", "offline", "online_and_offline"])
def test_a_row_in_the_far_future_fails_the_whole_push(project, to):
    rows = stats_rows([1, 8, 9, 7], [at(11), "2205-01-01T00:00:00Z", dt.datetime(9999, 12, 31), at(11)],
                      [0.9, 0.8, 0.7, 0.6])
    with FeatureStore(project) as fs:
        ((code, message, hint),) = problems(lambda: fs.push("stats_push", rows, to=to))
        assert code == "FC122"
        assert message.startswith("push source 'stats_push': column 'event_timestamp' (event timestamp) holds "
                                  "2205-01-01T00:00:00Z in row 1 (and 1 more row), later than ")
        check_limit(message)
        assert "at most 1 day ahead of now" in hint and "nothing was written" in hint
        assert_nothing_stored(fs, project)


def test_write_to_online_store_refuses_a_future_row_and_writes_none(project):
    soon = dt.datetime.now(UTC) + dt.timedelta(hours=2)  # clock skew: accepted
    with FeatureStore(project) as fs:
        ((code, message, _),) = problems(lambda: fs.write_to_online_store(
            "driver_stats", stats_rows([1, 8], [soon, dt.datetime.now(UTC) + dt.timedelta(days=2)], [0.9, 0.8])))
        assert code == "FC122" and "holds " in message and " in row 1, later than " in message
        assert_nothing_stored(fs, project)
        assert fs.write_to_online_store("driver_stats", stats_rows([1], [soon], [0.9])) == 1
        assert online_values(fs, "driver_stats", ["conv_rate"], [1], now=soon)[1][0] == {"conv_rate": 0.9}


def test_the_cli_refuses_a_future_row(capsys, project, tmp_path):
    rows = tmp_path / "rows.parquet"
    pq.write_table(pa.table(stats_rows([1], [dt.datetime(2205, 1, 1, tzinfo=UTC)], [0.5])), rows)
    code, out, err = cli(capsys, "push", "stats_push", "--file", str(rows), "--project-dir", str(project))
    assert code == 1 and out == "" and "Traceback" not in err
    assert "error[FC122]: push source 'stats_push': column 'event_timestamp' (event timestamp) holds " \
           "2205-01-01T00:00:00Z in row 0, later than " in err
    with FeatureStore(project) as fs:
        assert_nothing_stored(fs, project)


@pytest.mark.parametrize("to", ["online", "offline"])
def test_a_created_time_in_the_far_future_fails_the_push_too(project, to):
    """A created time decides between rows of one event time: a future one would beat every later correction."""
    rows = {**stats_rows([1, 8], [at(11), at(11)], [0.9, 0.8]), "created": [at(11), "2205-01-01T00:00:00Z"]}
    with FeatureStore(project) as fs:
        ((code, message, hint),) = problems(lambda: fs.push("stats_push", rows, to=to))
        assert code == "FC122"
        assert message.startswith("push source 'stats_push': column 'created' (created timestamp) holds "
                                  "2205-01-01T00:00:00Z in row 1, later than ")
        check_limit(message)
        assert "event or created time" in hint
        assert_nothing_stored(fs, project)
