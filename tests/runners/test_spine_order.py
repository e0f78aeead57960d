"""Spine order at scale (docs/concepts/point-in-time.md): row ids come from the spine itself, not from the order a
parallel scan happens to read it in; and DuckDB's comparison of naive and zoned timestamps."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from fcompile import FeatureStore
from fcompile.runners.duckdb import DuckDBRunner

T0 = np.datetime64("2024-01-01T08:00:00", "us")


def numbered_spine(rows: int, seed: int = 3) -> pa.Table:
    """`seq` numbers the rows in order; keys and times are shuffled so no sort recovers the order."""
    rng = np.random.default_rng(seed)
    return pa.table({
        "seq": np.arange(rows, dtype=np.int64),
        "driver_id": rng.integers(1, 4, rows),
        "event_timestamp": pa.array(T0 + rng.integers(0, 5 * 3600, rows).astype("timedelta64[s]"), pa.timestamp("us")),
    })


def expected_conv(spine: pa.Table) -> np.ndarray:
    """stats:conv from the small project's rows: driver 1 from 10:00 (0.1) and 11:00 (0.25), driver 2 from 09:00."""
    driver = spine["driver_id"].to_numpy()
    at = spine["event_timestamp"].to_numpy()
    hour = lambda h: np.datetime64(f"2024-01-01T{h:02d}:00:00", "us")
    conv = np.full(len(driver), np.nan)
    conv[(driver == 1) & (at >= hour(10))] = 0.1
    conv[(driver == 1) & (at >= hour(11))] = 0.25
    conv[(driver == 2) & (at >= hour(9))] = 0.5
    return conv


def test_a_multi_row_group_parquet_spine_of_two_million_rows_keeps_its_order(small_project, tmp_path):
    rows = 2_000_000
    spine = numbered_spine(rows)
    path = tmp_path / "spine.parquet"
    pq.write_table(spine, path, row_group_size=64 * 1024)
    assert pq.ParquetFile(path).num_row_groups > 20
    with FeatureStore(small_project) as fs:
        job = fs.get_historical_features(path, features=["stats:conv"])
        result = job.to_arrow()
        assert result.num_rows == rows
        assert np.array_equal(result["seq"].to_numpy(), np.arange(rows))
        assert np.array_equal(result["conv"].to_numpy(zero_copy_only=False), expected_conv(spine), equal_nan=True)
        assert job.to_parquet(tmp_path / "out.parquet") == rows  # streamed by DuckDB's COPY
    written = pq.read_table(tmp_path / "out.parquet", columns=["seq"])["seq"].to_numpy()
    assert np.array_equal(written, np.arange(rows))


def test_arrow_and_csv_spines_keep_their_order(small_project, tmp_path):
    spine = numbered_spine(300_000, seed=5)
    pcsv.write_csv(spine, tmp_path / "spine.csv")
    chunked = pa.Table.from_batches(spine.to_batches(max_chunksize=7_777))
    with FeatureStore(small_project) as fs:
        for given in (chunked, str(tmp_path / "spine.csv")):
            job = fs.get_historical_features(given, features=["stats:conv", "recent:conv"], full_feature_names=True)
            result = job.to_arrow()
            assert np.array_equal(result["seq"].to_numpy(), np.arange(300_000))
            assert np.array_equal(result["stats__conv"].to_numpy(zero_copy_only=False), expected_conv(spine),
                                  equal_nan=True)
        streamed = 0
        for batch in job.to_batches():  # streamed in order, batch after batch
            assert 0 < batch.num_rows < 300_000
            assert np.array_equal(batch["seq"].to_numpy(), np.arange(streamed, streamed + batch.num_rows))
            streamed += batch.num_rows
        assert streamed == 300_000


@pytest.mark.parametrize("zone", ["+02:00", "-05:30", "UTC"])
def test_duckdb_compares_naive_and_zoned_timestamps_as_utc_instants(zone):
    """The runner's session reads a naive TIMESTAMP as UTC when comparing it with a TIMESTAMPTZ, and
    returns zoned values in UTC (what docs/concepts/point-in-time.md relies on)."""
    naive = dt.datetime(2024, 1, 1, 12, 0)
    offset = dt.timedelta(hours=2) if zone == "+02:00" else dt.timedelta(hours=-5, minutes=-30) if zone == "-05:30" \
        else dt.timedelta(0)
    same_instant = naive.replace(tzinfo=dt.timezone.utc).astimezone(dt.timezone(offset))
    data = pa.table({"naive": pa.array([naive], pa.timestamp("us")),
                     "zoned": pa.array([same_instant], pa.timestamp("us", tz=zone)),
                     "later": pa.array([same_instant + dt.timedelta(microseconds=1)], pa.timestamp("us", tz=zone))})
    with DuckDBRunner() as runner:
        runner.con.register("t", data)
        query = "SELECT naive = zoned AS same, naive < later AS before, zoned AS z FROM t"
        result = runner.con.sql(query).to_arrow_table()
    row = result.to_pylist()[0]
    assert row["same"] is True and row["before"] is True
    assert result.schema.field("z").type == pa.timestamp("us", tz="UTC")
