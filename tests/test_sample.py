"""The sample project: its files, its generated data, and the agreement between the two.

The data is checked against the YAML that describes it (columns, dtypes, time windows), because every later
stage — planner, dialects, runners, benchmarks — trusts that the sample is internally consistent.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from fcompile.sample import InitResult, init_project, sample_spec_files
from fcompile.sample.data import TABLES, WINDOW_DAYS, WINDOW_START, generate_sample_data

SMALL_SCALE = 0.2  # 20 drivers, 100 customers, 1,000 orders: enough for every property, fast to build.

EXPECTED_ARROW_TYPES: dict[str, pa.DataType] = {
    "bool": pa.bool_(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "string": pa.string(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> InitResult:
    return init_project(tmp_path_factory.mktemp("sample") / "nested" / "driver_ranking", scale=SMALL_SCALE)


@pytest.fixture(scope="module")
def specs(project: InitResult) -> dict[str, dict[str, dict[str, Any]]]:
    """Every object in the copied spec files, by kind and then by name."""
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for relative in project.spec_files:
        if relative.suffix != ".yml" or relative.name == "fcompile_project.yml":
            continue
        document = yaml.safe_load((project.destination / relative).read_text()) or {}
        for kind, items in document.items():
            for item in items:
                by_kind.setdefault(kind, {})[item["name"]] = item
    return by_kind


def read_sorted(path: Path) -> pa.Table:
    table = pq.read_table(path)
    return table.sort_by([(name, "ascending") for name in table.column_names])


def seed_file(project: InitResult, source: dict[str, Any]) -> Path:
    """The seed file a source's table is loaded from."""
    return project.destination / "seeds" / f"{source['table']}.parquet"


def source_schema(project: InitResult, source: dict[str, Any]) -> pa.Schema:
    return pq.read_schema(seed_file(project, source))


def file_column(source: dict[str, Any], name_in_fcompile: str) -> str:
    """The file column that `field_mapping` renames to `name_in_fcompile` (or the name itself)."""
    renamed_from = {new: old for old, new in source.get("field_mapping", {}).items()}
    return renamed_from.get(name_in_fcompile, name_in_fcompile)


def timestamps(project: InitResult, source: dict[str, Any], field: str) -> pa.ChunkedArray:
    return pq.read_table(seed_file(project, source), columns=[field])[field]


# --- init_project -----------------------------------------------------------------------------------------


def test_init_copies_every_spec_file(project: InitResult) -> None:
    names = {str(path) for path in project.spec_files}
    assert {"fcompile_project.yml", "README.md", "features/entities.yml", "features/services.yml",
            "features/orders.yml", "datasets/training.yml"} <= names
    assert project.spec_files == tuple(sample_spec_files())
    package_root = Path(__file__).parents[1] / "fcompile" / "sample" / "project"
    for relative in project.spec_files:
        assert (project.destination / relative).read_bytes() == (package_root / relative).read_bytes()


def test_init_writes_every_data_file_with_its_row_count(project: InitResult) -> None:
    assert set(project.rows) == set(TABLES)
    for file_name, rows in project.rows.items():
        assert rows > 0
        assert pq.read_metadata(project.destination / "seeds" / file_name).num_rows == rows
    assert project.total_rows == sum(project.rows.values())


def test_init_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        init_project(tmp_path, scale=0.01)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_init_refuses_a_file_as_destination(tmp_path: Path) -> None:
    target = tmp_path / "project"
    target.write_text("")
    with pytest.raises(FileExistsError, match="not a directory"):
        init_project(target, scale=0.01)


def test_init_accepts_an_existing_empty_directory(tmp_path: Path) -> None:
    result = init_project(tmp_path, scale=0.01)
    assert (tmp_path / "fcompile_project.yml").is_file()
    assert result.destination == tmp_path


def test_import_does_not_load_duckdb() -> None:
    code = "import sys, fcompile.sample; assert 'duckdb' not in sys.modules, 'duckdb imported eagerly'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- determinism and scale --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict[str, int]]]:
    """Three generations at a tiny scale: two with the same seed, one with another."""
    root = tmp_path_factory.mktemp("runs")
    return {label: (root / label, generate_sample_data(root / label, scale=0.05, seed=seed))
            for label, seed in [("seed7", 7), ("seed7_again", 7), ("seed8", 8)]}


def test_same_seed_and_scale_give_identical_tables(tiny_runs: dict[str, tuple[Path, dict[str, int]]]) -> None:
    (first, first_rows), (second, second_rows) = tiny_runs["seed7"], tiny_runs["seed7_again"]
    assert first_rows == second_rows
    for file_name in TABLES:
        assert read_sorted(first / "seeds" / file_name).equals(read_sorted(second / "seeds" / file_name)), file_name


def test_another_seed_gives_other_values(tiny_runs: dict[str, tuple[Path, dict[str, int]]]) -> None:
    first, other = tiny_runs["seed7"][0], tiny_runs["seed8"][0]
    for file_name in TABLES:
        assert not read_sorted(first / "seeds" / file_name).equals(read_sorted(other / "seeds" / file_name)), file_name


def test_scale_multiplies_row_counts(project: InitResult, tiny_runs: dict[str, tuple[Path, dict[str, int]]]) -> None:
    small, large = tiny_runs["seed7"][1], project.rows  # scale 0.05 and SMALL_SCALE = 0.2
    for file_name in TABLES:
        assert large[file_name] > 3 * small[file_name], file_name
    assert (small["orders.parquet"], large["orders.parquet"]) == (250, 1_000)


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), float("inf"), 1e9, True, "1"])
def test_invalid_scale_is_refused(tmp_path: Path, scale: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        generate_sample_data(tmp_path, scale=scale)
    assert not (tmp_path / "seeds").exists()


@pytest.mark.parametrize("seed", [1.5, "42", None, False])
def test_invalid_seed_is_refused(tmp_path: Path, seed: Any) -> None:
    with pytest.raises(TypeError):
        generate_sample_data(tmp_path, seed=seed)


# --- the data agrees with the YAML ------------------------------------------------------------------------


def test_spec_contains_the_documented_objects(specs: dict[str, dict[str, dict[str, Any]]]) -> None:
    assert set(specs["entities"]) == {"driver", "customer"}
    assert {"driver_stats", "customer_profile", "driver_customer_trips", "orders"} <= set(specs["sources"])
    views = specs["feature_views"]
    assert len({view.get("ttl") for view in views.values()}) >= 3
    assert any("ttl" not in view for view in views.values())
    assert any(set(view["entities"]) == {"driver", "customer"} for view in views.values())
    assert any(specs["sources"][view["source"]].get("created_timestamp_field") for view in views.values())
    assert set(specs["feature_services"]) == {"driver_activity_v1", "driver_ranking_v2", "driver_ranking_orders"}
    assert any(isinstance(item, dict) and "alias" in item
               for item in specs["feature_services"]["driver_ranking_v2"]["features"])
    assert "order_features:*" in specs["feature_services"]["driver_ranking_orders"]["features"]
    assert set(specs["request_sources"]) == {"order_request"} and set(specs["on_demand_views"]) == {"order_features"}
    assert specs["on_demand_views"]["order_features"]["inputs"] == [
        "driver_hourly_stats", "driver_trip_windows", "order_request"]
    dataset = specs["datasets"]["driver_ranking_training"]
    assert (dataset["spine"], dataset["service"]) == ("orders", "driver_ranking_orders")


def test_every_referenced_column_exists_with_its_declared_dtype(
        project: InitResult, specs: dict[str, dict[str, dict[str, Any]]]) -> None:
    sources, entities = specs["sources"], specs["entities"]
    checked = 0
    for view in specs["feature_views"].values():
        source = sources[view["source"]]
        schema = source_schema(project, source)
        expected = {key["name"]: key["dtype"] for entity in view["entities"] for key in entities[entity]["join_keys"]}
        expected |= {feature["name"]: feature["dtype"] for feature in view.get("features", [])}
        for feature in view.get("aggregations", {}).get("features", []):  # windowed aggregations read columns
            if "column" not in feature:  # count of rows
                continue
            column = file_column(source, feature["column"])
            assert column in schema.names, f"{view['name']}: {column} missing from {source['table']}"
            if feature["function"] in ("min", "max", "last") and "dtype" in feature:  # the column's own dtype
                expected[feature["column"]] = feature["dtype"]
            else:  # sum, avg, stddev, variance: over numbers
                field_type = schema.field(column).type
                assert pa.types.is_integer(field_type) or pa.types.is_floating(field_type), f"{view['name']}: {column}"
                checked += 1
        for field in ("timestamp_field", "created_timestamp_field"):
            if field in source:
                expected[source[field]] = "timestamp"
        for name, dtype in expected.items():
            column = file_column(source, name)
            assert column in schema.names, f"{view['name']}: {column} missing from {source['table']}"
            assert schema.field(column).type == EXPECTED_ARROW_TYPES[dtype], f"{view['name']}: {column}"
            checked += 1
    assert checked >= 25


def test_spine_carries_every_join_key_of_its_service(
        project: InitResult, specs: dict[str, dict[str, dict[str, Any]]]) -> None:
    dataset = specs["datasets"]["driver_ranking_training"]
    spine = specs["sources"][dataset["spine"]]
    schema = source_schema(project, spine)
    assert schema.field(spine["timestamp_field"]).type == EXPECTED_ARROW_TYPES["timestamp"]
    assert schema.field("completed").type == pa.bool_()
    for entity in specs["entities"].values():
        for key in entity["join_keys"]:
            assert schema.field(key["name"]).type == EXPECTED_ARROW_TYPES[key["dtype"]]
    for field in specs["request_sources"]["order_request"]["fields"]:  # the on-demand features read them
        assert schema.field(field["name"]).type == EXPECTED_ARROW_TYPES[field["dtype"]], field["name"]


def test_request_fields_in_the_spine_are_plausible(
        project: InitResult, specs: dict[str, dict[str, dict[str, Any]]]) -> None:
    """order_hour is the UTC hour of the order's time; order_amount is positive, never NULL, and varied."""
    spine = specs["sources"]["orders"]
    table = pq.read_table(seed_file(project, spine), columns=["event_timestamp", "order_amount", "order_hour"])
    hours = [t.hour for t in table["event_timestamp"].to_pylist()]
    assert table["order_hour"].to_pylist() == hours
    amounts = table["order_amount"].to_pylist()
    assert None not in amounts and min(amounts) >= 8 and max(amounts) <= 128 and len(set(amounts)) > 100


def test_service_output_names_do_not_collide(specs: dict[str, dict[str, dict[str, Any]]]) -> None:
    views = specs["feature_views"]
    for service in specs["feature_services"].values():
        names: list[str] = []
        for item in service["features"]:
            if isinstance(item, str):
                view, feature = item.split(":")
                item = {"view": view} if feature == "*" else {"view": view, "features": [feature]}
            declared = views.get(item["view"]) or specs["on_demand_views"][item["view"]]
            names += item.get("features") or [feature["name"] for feature in declared["features"]]
        assert not [name for name, count in Counter(names).items() if count > 1], service["name"]


def test_names_are_identifiers_and_not_reserved_words(specs: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Checked against fcompile's own rule and, more broadly, every dialect sqlglot knows reserved words for."""
    from sqlglot.dialects.dialect import Dialect, Dialects

    from fcompile.sql_names import dialects_reserving

    reserved = {word.lower() for dialect in Dialects if dialect.value
                for word in getattr(Dialect.get_or_raise(dialect.value).generator_class, "RESERVED_KEYWORDS", ())}
    assert {"user", "order", "value", "timestamp"} <= reserved
    names = {name for objects in specs.values() for name in objects}
    for objects in specs.values():
        for item in objects.values():
            names |= {key["name"] for key in item.get("join_keys", [])}
            names |= {feature["name"] for feature in item.get("features", []) if isinstance(feature, dict)
                      and "name" in feature}
            names |= set(item.get("field_mapping", {}).values())
            names |= {value for key, value in item.items() if key.endswith("timestamp_field")}
    for name in names:
        assert NAME_PATTERN.fullmatch(name) and "__" not in name, name
        assert name.lower() not in reserved and not dialects_reserving(name), name


# --- properties the semantics tests rely on ---------------------------------------------------------------


def test_about_one_percent_of_driver_hours_are_late_corrections(project: InitResult) -> None:
    stats = pq.read_table(project.destination / "seeds" / "driver_stats.parquet")
    groups = stats.group_by(["driver_id", "event_timestamp"]).aggregate(
        [("created", "count_distinct"), ("created", "count"), ("conversion_rate", "count_distinct")])
    ties = groups.filter(pc.greater(groups["created_count"], 1))
    share = ties.num_rows / groups.num_rows
    assert 0.004 < share < 0.02
    assert pc.all(pc.equal(ties["created_count"], 2)).as_py()
    assert pc.all(pc.equal(ties["created_count_distinct"], 2)).as_py()  # created breaks every tie
    assert pc.sum(pc.greater(ties["conversion_rate_count_distinct"], 1)).as_py() > 0.9 * ties.num_rows
    assert pc.all(pc.greater(stats["created"], stats["event_timestamp"])).as_py()  # written after the hour


def test_driver_hours_have_gaps_so_the_ttl_matters(project: InitResult) -> None:
    drivers = round(100 * SMALL_SCALE)
    hours = pq.read_table(project.destination / "seeds" / "driver_stats.parquet",
                          columns=["driver_id", "event_timestamp"])
    distinct_hours = hours.group_by(["driver_id", "event_timestamp"]).aggregate([]).num_rows
    assert 0.95 * drivers * WINDOW_DAYS * 24 < distinct_hours < drivers * WINDOW_DAYS * 24


def test_feature_data_stays_inside_the_fixed_utc_window(
        project: InitResult, specs: dict[str, dict[str, dict[str, Any]]]) -> None:
    window_end = WINDOW_START + timedelta(days=WINDOW_DAYS)
    for name, source in specs["sources"].items():
        if name == "orders":
            continue
        column = timestamps(project, source, source["timestamp_field"])
        assert column.type.tz == "UTC"
        assert WINDOW_START <= pc.min(column).as_py() and pc.max(column).as_py() < window_end, name


def test_spine_reaches_before_and_after_the_feature_data(
        project: InitResult, specs: dict[str, dict[str, dict[str, Any]]]) -> None:
    sources = specs["sources"]
    feature_times = [timestamps(project, source, source["timestamp_field"])
                     for name, source in sources.items() if name != "orders"]
    first_feature = min(pc.min(column).as_py() for column in feature_times)
    last_feature = max(pc.max(column).as_py() for column in feature_times)
    order_times = timestamps(project, sources["orders"], "event_timestamp")
    before = pc.sum(pc.less(order_times, pa.scalar(first_feature, order_times.type))).as_py()
    after = pc.sum(pc.greater(order_times, pa.scalar(last_feature, order_times.type))).as_py()
    assert before > 0 and after > 0
    assert first_feature == datetime(2025, 1, 1, tzinfo=UTC)


def test_some_orders_fall_exactly_on_a_feature_hour(project: InitResult) -> None:
    order_times = pq.read_table(project.destination / "seeds" / "orders.parquet")["event_timestamp"]
    micros = pc.cast(order_times, pa.int64())
    hour = 3_600_000_000
    whole_hours = pc.multiply(pc.divide(micros, hour), hour)  # integer division
    on_the_hour = pc.sum(pc.equal(micros, whole_hours)).as_py()
    assert on_the_hour > 0


def test_most_orders_are_placed_with_a_regular_customer(project: InitResult) -> None:
    data = project.destination / "seeds"
    orders = pq.read_table(data / "orders.parquet", columns=["driver_id", "customer_id"])
    pairs = pq.read_table(data / "driver_customer_trips.parquet", columns=["driver_id", "customer_id"])
    known = set(zip(pairs["driver_id"].to_pylist(), pairs["customer_id"].to_pylist(), strict=True))
    hits = sum(pair in known for pair in zip(orders["driver_id"].to_pylist(), orders["customer_id"].to_pylist(),
                                             strict=True))
    assert 0.5 < hits / orders.num_rows < 0.8
