"""The sample's data ends at `as_of`: deterministic for a given `as_of`, nothing later than it, and fresh
there (what `fcompile init` followed by `materialize` and a read with no `--now` shows as PRESENT)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from fcompile.sample import DEFAULT_AS_OF, init_project
from fcompile.sample.data import TABLES, WINDOW_DAYS, data_end, generate_sample_data

SCALE = 0.05  # 5 drivers, 25 customers, 250 orders


def data_file(project: Path, file_name: str) -> Path:
    """Where the generated file is in the project, wherever the sample keeps its data."""
    [path] = project.rglob(file_name)
    return path


def timestamp_columns(table: pa.Table) -> list[str]:
    return [f.name for f in table.schema if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)]


@pytest.mark.parametrize("as_of", [datetime(2026, 3, 10, 17, 25, 9, tzinfo=UTC), datetime(2026, 3, 10, 0, 30)])
def test_the_same_as_of_seed_and_scale_give_the_same_bytes(tmp_path: Path, as_of: datetime) -> None:
    first = generate_sample_data(tmp_path / "a", scale=SCALE, seed=5, as_of=as_of)
    again = generate_sample_data(tmp_path / "b", scale=SCALE, seed=5, as_of=data_end(as_of))  # same minute
    later = generate_sample_data(tmp_path / "c", scale=SCALE, seed=5, as_of=as_of + timedelta(days=1))
    assert first == again
    for file_name in TABLES:
        a, b, c = (data_file(tmp_path / name, file_name).read_bytes() for name in "abc")
        assert a == b, file_name
        assert a != c, file_name
    assert data_end(as_of) == as_of.replace(second=0, microsecond=0, tzinfo=UTC)


def test_init_takes_as_of_on_the_command_line(tmp_path: Path, capsys) -> None:
    from fcompile.cli import main

    for name in ("a", "b"):
        main(["init", str(tmp_path / name), "--scale", str(SCALE), "--as-of", "2026-03-10T17:25:09+02:00"])
    assert "The data ends at 2026-03-10T15:25:00Z." in capsys.readouterr().out  # UTC, floored to the minute
    for file_name in TABLES:
        assert data_file(tmp_path / "a", file_name).read_bytes() == data_file(tmp_path / "b", file_name).read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        main(["init", str(tmp_path / "c"), "--as-of", "today"])
    assert exit_info.value.code == 1 and not (tmp_path / "c").exists()
    assert "error[FC090]: --as-of 'today' is not an ISO 8601 date or time" in capsys.readouterr().err


def test_the_default_as_of_is_fixed(tmp_path: Path) -> None:
    result = init_project(tmp_path / "p", scale=SCALE)
    assert result.data_end == DEFAULT_AS_OF == datetime(2025, 1, 15, tzinfo=UTC)
    stats = pq.read_table(data_file(tmp_path / "p", "driver_stats.parquet"))
    assert pc.min(stats["event_timestamp"]).as_py() == DEFAULT_AS_OF - timedelta(days=WINDOW_DAYS)


AS_OFS = [datetime(2026, 7, 4, 0, 0, tzinfo=UTC), datetime(2026, 7, 4, 1, 0, tzinfo=UTC),
          datetime(2026, 7, 4, 17, 0, tzinfo=UTC), DEFAULT_AS_OF,
          datetime(2026, 7, 4, 22, 59, tzinfo=UTC)]  # init a minute before an hour ends: fresh until 23:59


@pytest.fixture(scope="module", params=AS_OFS, ids=lambda moment: moment.strftime("%Y-%m-%dT%H:%M"))
def generated(request, tmp_path_factory) -> tuple[datetime, dict[str, pa.Table]]:
    root = tmp_path_factory.mktemp("as_of")
    generate_sample_data(root, scale=0.2, seed=42, as_of=request.param)
    return request.param, {name: pq.read_table(data_file(root, name)) for name in TABLES}


def test_nothing_is_later_than_as_of(generated) -> None:
    """No event time, snapshot, `created` time or order after `as_of`."""
    as_of, tables = generated
    for name, table in tables.items():
        for column in timestamp_columns(table):
            newest = pc.max(table[column]).as_py()
            newest = datetime.combine(newest, datetime.min.time(), UTC) if not isinstance(newest, datetime) else newest
            assert newest <= as_of, (name, column, newest)


def test_every_driver_and_customer_is_fresh_at_as_of(generated) -> None:
    as_of, tables = generated
    stats = tables["driver_stats.parquet"]
    drivers = set(stats["driver_id"].to_pylist())
    last_hour = stats.filter(pc.equal(stats["event_timestamp"], pa.scalar(as_of - timedelta(hours=1),
                                                                          stats["event_timestamp"].type)))
    assert set(last_hour["driver_id"].to_pylist()) == drivers  # within the 2h ttl for an hour after as_of
    profiles = tables["driver_profile.parquet"]
    assert set(profiles["driver_id"].to_pylist()) == drivers  # no ttl: any snapshot will do
    customers = tables["customer_profile.parquet"]
    newest = customers.group_by("customer_id").aggregate([("snapshot_ts", "max")])
    assert newest.num_rows == 100
    assert pc.min(newest["snapshot_ts_max"]).as_py() >= as_of - timedelta(days=1)  # within the 2-day ttl
    trips = tables["driver_customer_trips.parquet"]
    pair = trips.filter(pc.and_(pc.equal(trips["driver_id"], 1001), pc.equal(trips["customer_id"], "C00000001")))
    assert pc.max(pair["last_trip_at"]).as_py() >= as_of - timedelta(days=3.5)  # within the 1-week ttl


def test_the_designed_properties_hold_at_any_as_of(generated) -> None:
    as_of, tables = generated
    stats = tables["driver_stats.parquet"]
    first_hour = as_of - timedelta(days=WINDOW_DAYS)
    assert pc.min(stats["event_timestamp"]).as_py() == first_hour
    hours = stats.group_by(["driver_id", "event_timestamp"]).aggregate([("created", "count")])
    assert 0.95 * 20 * WINDOW_DAYS * 24 < hours.num_rows < 20 * WINDOW_DAYS * 24  # gaps: the 2h ttl matters
    assert pc.sum(pc.greater(hours["created_count"], 1)).as_py() > 0  # corrections with a later `created`
    for name, column in (("driver_profile.parquet", "updated_at"), ("customer_profile.parquet", "snapshot_ts")):
        times = tables[name][column]
        assert pc.min(times).as_py() >= first_hour, name
        hour = 2 if name == "driver_profile.parquet" else 0
        assert pc.all(pc.equal(pc.hour(times), hour)).as_py(), name  # daily, at a fixed UTC hour
    orders = tables["orders.parquet"]["event_timestamp"]
    assert pc.min(orders).as_py() < first_hour  # the earliest orders find no feature values
    assert pc.min(orders).as_py() >= first_hour - timedelta(days=1)


def test_orders_on_the_statistics_grid_meet_a_row_at_their_exact_time(generated) -> None:
    """Some orders fall exactly on a `driver_stats` event time (the grid counts back from `as_of`, whatever
    its minute), so the inclusive `event_ts <= spine_ts` bound is exercised by the sample."""
    _, tables = generated
    stats_times = set(tables["driver_stats.parquet"]["event_timestamp"].to_pylist())
    order_times = set(tables["orders.parquet"]["event_timestamp"].to_pylist())
    assert order_times & stats_times
