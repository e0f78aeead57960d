"""The randomized point-in-time cases end to end: through `FeatureStore.get_historical_features` (spine
as Arrow and in one other form) and through `fcompile get-historical-features`, compared row by row with
the reference (docs/concepts/point-in-time.md). Shapes and data come from test_point_in_time_random;
sources are tables in the project's DuckDB file, as a user's would be."""

from __future__ import annotations

from dataclasses import replace

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcompile import FeatureStore
from fcompile.cli import main

from compiler.harness import Case, arrow_table, assert_same_rows, expected, load_duckdb, write_project
from compiler.test_point_in_time_random import SHAPES, examples

SPINE_FORMS = ("table", "parquet", "pandas", "reader", "query")
SDK_SETTINGS = settings(derandomize=True, database=None, max_examples=5, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                               HealthCheck.function_scoped_fixture])
CLI_SETTINGS = settings(SDK_SETTINGS, max_examples=2)
CLI_SHAPES = (0, 4, 7)


def without_aliases(case: Case) -> Case:
    """A feature list cannot alias a view (only a service can), so aliased projections are left out."""
    return replace(case, projections=tuple(p for p in case.projections if p.alias is None))


def references(case: Case) -> list[str]:
    return [f"{p.view}:{feature}" for p in case.projections for feature in p.features]


class Stores:
    """One project and one FeatureStore per shape, reused by its examples."""

    def __init__(self, root) -> None:
        self.root = root
        self.stores: dict[int, FeatureStore] = {}

    def get(self, index: int, case: Case) -> FeatureStore:
        if index not in self.stores:
            write_project(case, self.root / f"shape{index}")
            self.stores[index] = FeatureStore(self.root / f"shape{index}")
        return self.stores[index]

    def close(self) -> None:
        for store in self.stores.values():
            store.close()


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    made = Stores(tmp_path_factory.mktemp("sdk_shapes"))
    yield made
    made.close()


def load(store: FeatureStore, case: Case) -> None:
    for table in (*case.tables, case.spine):
        load_duckdb(store.runner.con, table)  # type: ignore[attr-defined]


def spine_in_form(case: Case, form: str, folder):
    import pandas as pd
    import pyarrow as pa

    data = arrow_table(case.spine)
    if form == "table":
        return case.spine.name
    if form == "query":
        return f"SELECT * FROM {case.spine.name}"
    if form == "pandas":
        return data.to_pandas(types_mapper=pd.ArrowDtype)
    if form == "reader":
        return pa.RecordBatchReader.from_batches(data.schema, data.to_batches(max_chunksize=3))
    path = folder / "spine.parquet"
    pq.write_table(data, path, row_group_size=4)
    return str(path)


def rows_of(table) -> tuple[list[str], list[dict]]:
    return table.column_names, table.to_pylist()


@pytest.mark.parametrize("index", range(len(SHAPES)), ids=[f"shape{i}" for i in range(len(SHAPES))])
@SDK_SETTINGS
@given(data=st.data())
def test_random_point_in_time_through_the_sdk(stores, tmp_path, index, data):
    case, _ = data.draw(examples(index))
    case = without_aliases(case)
    form = data.draw(st.sampled_from(SPINE_FORMS))
    store = stores.get(index, case)
    load(store, case)
    wanted = expected(case)
    for label, spine in (("arrow", arrow_table(case.spine)), (form, spine_in_form(case, form, tmp_path))):
        job = store.get_historical_features(spine, features=references(case),
                                            full_feature_names=case.full_feature_names)
        assert_same_rows(rows_of(job.to_arrow()), wanted, f"{case.name} through the SDK ({label})\n{job.sql}")


@pytest.mark.parametrize("index", CLI_SHAPES, ids=[f"shape{i}" for i in CLI_SHAPES])
@CLI_SETTINGS
@given(data=st.data())
def test_random_point_in_time_through_the_cli(stores, tmp_path, index, data):
    case, _ = data.draw(examples(index))
    case = without_aliases(case)
    store = stores.get(index, case)
    load(store, case)  # the command opens the same database file, in this process
    spine = spine_in_form(case, "parquet", tmp_path)
    out = tmp_path / "training.parquet"
    args = ["get-historical-features", "--project-dir", str(stores.root / f"shape{index}"), "--spine", spine,
            "--features", ",".join(references(case)), "--output", str(out)]
    if case.full_feature_names:
        args.append("--full-feature-names")
    try:
        main(args)
    except SystemExit as exc:
        assert exc.code in (0, None), f"fcompile {' '.join(args)} exited with {exc.code}"
    assert_same_rows(rows_of(pq.read_table(out)), expected(case), f"{case.name} through the CLI")
