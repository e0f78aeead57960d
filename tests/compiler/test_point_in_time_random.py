"""Randomized point-in-time and latest-values checks against the reference (docs/concepts/point-in-time.md).

Project shapes (1-3 views, keys, ttls, created columns, field mappings, requests, aliases) are a fixed,
seeded sample so their SQL is compiled once; hypothesis draws the data: tiny key and value domains so
key collisions, equal event times, created ties and full ties are the rule, NULLs everywhere, naive and
zoned timestamp columns, spines with duplicates, NULLs and times outside the data. Every example runs
every strategy on DuckDB and the PostgreSQL form on PostgreSQL, seeded (`derandomize`) for CI.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fcompile.dialects import compile_sql
from fcompile.graph import FeatureGraph, Projection
from fcompile.planner.plans import JoinStrategy
from fcompile.planner.point_in_time import plan_latest_values

from compiler.harness import (
    Case, DuckDBEngine, EntityDef, PostgresEngine, Table, ViewDef, assert_same_rows, compile_case, duckdb_connection,
    expected, expected_latest, in_spine_order, normalized, write_project,
)

T0 = dt.datetime(2024, 1, 1, 0, 0, 0)
SEC = dt.timedelta(seconds=1)
ENTITIES = {
    "driver": EntityDef("driver", (("driver_id", "int64"),)),
    "pair": EntityDef("pair", (("a", "int64"), ("b", "string"))),
}
KEY_VALUES = {"driver_id": [1, 2], "a": [1, 12], "b": ["3", "23"]}  # (1, 23) vs (12, 3); NULL as well
# seconds after T0: both sides of the 1s, 2s and 1h ttl boundaries
EVENT_OFFSETS = [0, 1, 2, 3, 3599, 3600, 3601, 3602, 7200]
SPINE_OFFSETS = EVENT_OFFSETS + [-1000, 100_000]
TTLS = [None, SEC, 2 * SEC, dt.timedelta(hours=1)]
FEATURE_KINDS = {  # kind -> (dtype, values)
    "n": ("int64", [0, 1, 2]),
    "s": ("string", ["", "a", "b", "ab"]),
    "x": ("float64", [-1.5, 0.0, 2.25, float("nan")]),
    "f": ("bool", [False, True]),
}
TIE_BREAKER_VALUES = [0, 1]  # few, so rows tie on it too
ZONES = [dt.timezone.utc, dt.timezone(dt.timedelta(hours=2)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]
STRATEGIES = (JoinStrategy.RANGE, JoinStrategy.ASOF, JoinStrategy.WINDOW)


@dataclass(frozen=True)
class Shape:
    """What a project looks like; the rows come later."""

    views: tuple[ViewDef, ...]
    projections: tuple[Projection, ...]
    full_feature_names: bool
    mixed: tuple[tuple[str, JoinStrategy], ...]  # one strategy per view, for one more run

    @property
    def entities(self) -> tuple[EntityDef, ...]:
        return tuple(ENTITIES[n] for n in sorted({e for v in self.views for e in v.entities}))

    @property
    def spine_keys(self) -> list[str]:
        return [k for e in self.entities for k, _ in e.keys]


def make_shape(rng: random.Random) -> Shape:
    full = rng.random() < 0.5
    views = []
    for i in range(rng.choice([1, 1, 2, 2, 3])):
        entities = rng.choice([("driver",), ("pair",), ("driver", "pair")])
        kinds = rng.sample(sorted(FEATURE_KINDS), 3)  # declaration order varies
        features = tuple((k if full else f"{k}{i}", FEATURE_KINDS[k][0]) for k in kinds)
        mapping = []
        if rng.random() < 0.4:
            mapping.append((f"raw_{features[0][0]}", features[0][0]))
        if rng.random() < 0.3:
            key = ENTITIES[entities[0]].keys[0][0]
            mapping.append((f"src_{key}", key))
        views.append(ViewDef(f"v{i}", entities, f"t{i}", features, ts=f"ts{i}",
                             created=f"created{i}" if rng.random() < 0.6 else None,
                             ttl=rng.choice(TTLS), field_mapping=tuple(mapping),
                             tie_breaker=f"seq{i}" if rng.random() < 0.4 else None))
    requested = [(v.name, name) for v in views for name, _ in v.features if rng.random() < 0.7]
    requested = requested or [(views[0].name, views[0].features[-1][0])]
    rng.shuffle(requested)
    projections = [Projection(view, (feature,)) for view, feature in requested]
    if full and rng.random() < 0.5:  # the same view again under an alias
        view, feature = requested[0]
        projections.insert(rng.randrange(len(projections) + 1), Projection(view, (feature,), alias="again"))
    mixed = tuple((v.name, rng.choice(STRATEGIES)) for v in views)
    return Shape(tuple(views), tuple(projections), full, mixed)


_rng = random.Random(20240310)
SHAPES = [make_shape(_rng) for _ in range(10)]


# -- data ------------------------------------------------------------------------------------------

def maybe_null(draw, values: list, one_in: int = 6):
    """One of `values`, or NULL about once in `one_in` draws."""
    return None if draw(st.integers(0, one_in - 1)) == 0 else draw(st.sampled_from(values))


def timestamp(offset: int, zone: dt.timezone | None) -> dt.datetime:
    at = T0 + offset * SEC
    return at if zone is None else at.replace(tzinfo=dt.timezone.utc).astimezone(zone)


@st.composite
def timestamps(draw, offsets, zoned: bool):
    offset = maybe_null(draw, offsets, 10)
    if offset is None:
        return None
    return timestamp(offset, draw(st.sampled_from(ZONES)) if zoned else None)


def source_table(draw, shape: Shape, view: ViewDef) -> Table:
    ts_type = draw(st.sampled_from(["timestamp", "timestamptz"]))
    created_type = draw(st.sampled_from(["timestamp", "timestamptz"]))
    keys = [(view.column(k), k) for e in view.entities for k, _ in ENTITIES[e].keys]
    columns = [(column, dict(k for ent in ENTITIES.values() for k in ent.keys)[k]) for column, k in keys]
    columns.append((view.column(view.ts), ts_type))
    if view.created:
        columns.append((view.column(view.created), created_type))
    if view.tie_breaker:
        columns.append((view.tie_breaker, "int64"))
    columns += [(view.column(name), dtype) for name, dtype in view.features]
    kind_of = {name: (name.rstrip("0123456789")) for name, _ in view.features}
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        row: dict[str, Any] = {column: maybe_null(draw, KEY_VALUES[k], 8) for column, k in keys}
        row[view.column(view.ts)] = draw(timestamps(EVENT_OFFSETS, ts_type == "timestamptz"))
        if view.created:
            row[view.column(view.created)] = draw(timestamps([0, 1, 2], created_type == "timestamptz"))
        if view.tie_breaker:
            row[view.tie_breaker] = maybe_null(draw, TIE_BREAKER_VALUES, 4)
        if rows and draw(st.integers(0, 2)) == 0:  # the same key and event time as an earlier row
            earlier = draw(st.sampled_from(rows))
            copied = [c for c, _ in keys] + [view.column(view.ts)]
            if view.created and draw(st.booleans()):
                copied.append(view.column(view.created))
            if view.tie_breaker and draw(st.booleans()):
                copied.append(view.tie_breaker)
            row.update({c: earlier[c] for c in copied})
        for name, _ in view.features:
            row[view.column(name)] = maybe_null(draw, FEATURE_KINDS[kind_of[name]][1])
        rows.append(row)
    return Table(view.table, tuple(columns), rows)


def spine_table(draw, shape: Shape, tables: tuple[Table, ...]) -> Table:
    ts_type = draw(st.sampled_from(["timestamp", "timestamptz"]))
    zoned = ts_type == "timestamptz"
    key_types = {k: t for e in shape.entities for k, t in e.keys}
    columns = (*[(k, key_types[k]) for k in shape.spine_keys], ("event_timestamp", ts_type), ("label", "int64"))
    rows = []
    for _ in range(draw(st.integers(0, 10))):
        row: dict[str, Any] = {k: maybe_null(draw, KEY_VALUES[k], 8) for k in shape.spine_keys}
        row["event_timestamp"] = draw(timestamps(SPINE_OFFSETS, zoned))
        view, table = draw(st.sampled_from(list(zip(shape.views, tables))))
        if table.rows and draw(st.booleans()):  # near a source row: at, just after, at the ttl bounds
            near = draw(st.sampled_from(table.rows))
            row.update({k: near[view.column(k)] for e in view.entities for k, _ in ENTITIES[e].keys})
            if near[view.column(view.ts)] is not None:
                delta = draw(st.sampled_from([0, 0, 1, 2, 3, 3600, 3601])) * SEC
                at = normalized(near[view.column(view.ts)]) + delta
                row["event_timestamp"] = at.astimezone(draw(st.sampled_from(ZONES))) if zoned else \
                    at.replace(tzinfo=None)
        row["label"] = draw(st.integers(0, 2))
        rows.append(row)
    if rows and draw(st.booleans()):
        rows.append(dict(rows[draw(st.integers(0, len(rows) - 1))]))  # an exact duplicate
    return Table("spine_t", columns, rows)


@st.composite
def examples(draw, index: int):
    shape = SHAPES[index]
    tables = tuple(source_table(draw, shape, view) for view in shape.views)
    case = Case(shape.entities, shape.views, tables, spine_table(draw, shape, tables), shape.projections,
                full_feature_names=shape.full_feature_names, name=f"shape{index}")
    view = draw(st.sampled_from(shape.views))
    start, end = sorted(draw(st.lists(st.sampled_from(EVENT_OFFSETS), min_size=2, max_size=2)))
    zone = draw(st.sampled_from([None, *ZONES]))
    return case, (view.name, timestamp(start, zone), timestamp(end, zone))


# -- compiled once per shape -------------------------------------------------------------------------

class Compiled:
    def __init__(self, root) -> None:
        self.root = root
        self.graphs: dict[int, FeatureGraph] = {}
        self.sql: dict[tuple, str] = {}

    def graph(self, index: int, case: Case) -> FeatureGraph:
        if index not in self.graphs:
            self.graphs[index] = write_project(case, self.root / f"shape{index}")
        return self.graphs[index]

    def point_in_time(self, index: int, case: Case, dialect: str, strategy, columns_known: bool = True) -> str:
        key = (index, dialect, str(strategy), columns_known)
        if key not in self.sql:
            self.sql[key] = compile_case(self.graph(index, case), case, dialect, strategy, columns_known)
        return self.sql[key]

    def latest(self, index: int, case: Case, dialect: str, view: str) -> str:
        key = (index, dialect, "latest", view)
        if key not in self.sql:
            graph = self.graph(index, case)
            self.sql[key] = compile_sql(plan_latest_values(graph, graph.feature_view(view)), dialect)
        return self.sql[key]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    return Compiled(tmp_path_factory.mktemp("random_shapes"))


@pytest.fixture(scope="module")
def random_duckdb():
    con = duckdb_connection()
    yield DuckDBEngine(con)
    con.close()


@pytest.fixture(scope="module")
def random_postgres(postgres_connection):
    return PostgresEngine(postgres_connection)


def runs(engine, index: int, case: Case, compiled: Compiled) -> list[tuple[str, str, bool]]:
    """(label, SQL, whether it returns rows in spine order) for every form this engine runs, each distinct
    SQL text once: every strategy with the spine's columns known, and two with them unknown (on PostgreSQL
    `s.*` of the spine table, in no order)."""
    shape = SHAPES[index]
    forms = [(str(s), compiled.point_in_time(index, case, engine.dialect, s), True) for s in STRATEGIES]
    if len(shape.views) > 1:
        forms.append((f"mixed {shape.mixed}", compiled.point_in_time(index, case, engine.dialect, dict(shape.mixed)),
                      True))
    ordered = in_spine_order(engine.dialect, columns_known=False)
    for strategy in (JoinStrategy.ASOF, JoinStrategy.RANGE):
        forms.append((f"{strategy}, spine columns unknown",
                      compiled.point_in_time(index, case, engine.dialect, strategy, columns_known=False), ordered))
    seen, unique = set(), []
    for label, sql, in_order in forms:
        if sql not in seen:
            seen.add(sql)
            unique.append((label, sql, in_order))
    return unique


def check_example(engine, compiled: Compiled, example) -> None:
    index, case, (view, start, end) = example
    engine.load_case(case)
    wanted = expected(case)
    for label, sql, ordered in runs(engine, index, case, compiled):
        actual = engine.query(sql)
        assert_same_rows(actual, wanted, f"{case.name} on {engine.dialect}, {label}\n{sql}", ordered)
    names, rows = engine.query(compiled.latest(index, case, engine.dialect, view), {"start": start, "end": end})
    got = sorted((tuple(str(normalized(v)) for v in r.values()) for r in rows))
    want_rows = expected_latest(case, view, start, end)
    want = sorted((tuple(str(normalized(v)) for v in r.values()) for r in want_rows))
    if want_rows:
        assert names == list(want_rows[0])
    assert got == want, f"{case.name} latest values of {view} in [{start}, {end}] on {engine.dialect}"


SETTINGS = settings(derandomize=True, database=None, max_examples=8, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.mark.parametrize("index", range(len(SHAPES)), ids=[f"shape{i}" for i in range(len(SHAPES))])
@SETTINGS
@given(data=st.data())
def test_random_point_in_time_on_duckdb(random_duckdb, compiled, index, data):
    check_example(random_duckdb, compiled, (index, *data.draw(examples(index))))


@pytest.mark.parametrize("index", range(len(SHAPES)), ids=[f"shape{i}" for i in range(len(SHAPES))])
@SETTINGS
@given(data=st.data())
def test_random_point_in_time_on_postgres(random_postgres, compiled, index, data):
    check_example(random_postgres, compiled, (index, *data.draw(examples(index))))


def test_the_shapes_cover_what_they_should():
    """The seeded sample keeps covering the interesting shapes if the seed or generator changes."""
    views = [v for s in SHAPES for v in s.views]
    assert any(len(s.views) == 3 for s in SHAPES) and any(len(s.views) == 1 for s in SHAPES)
    assert {v.ttl for v in views} == set(TTLS)
    assert any(v.created for v in views) and any(not v.created for v in views)
    assert any("pair" in v.entities for v in views) and any(v.field_mapping for v in views)
    assert any(s.full_feature_names for s in SHAPES) and any(not s.full_feature_names for s in SHAPES)
    assert any(p.alias for s in SHAPES for p in s.projections)
    assert any(v.tie_breaker for v in views) and any(not v.tie_breaker for v in views)
    kinds = {dtype for v in views for _, dtype in v.features}
    assert {"float64", "bool"} <= kinds


def _full_ties(case: Case, differing: str) -> bool:
    """Whether a view of `case` has rows equal in keys, event time, created time and tie_breaker whose
    `differing` feature kind ("x": floats, NaN included; "f": booleans) holds different values."""
    for view, table in zip(case.views, case.tables):
        tied: dict[tuple, set] = {}
        for row in table.rows:
            names = [c for c, _ in table.columns if c not in {view.column(n) for n, _ in view.features}]
            key = tuple(str(row[c]) for c in names)
            for name, _ in view.features:
                if name.rstrip("0123456789") == differing:
                    tied.setdefault((key, name), set()).add(str(row[view.column(name)]))
        if any(len(values) > 1 and "None" not in values for values in tied.values()):
            return True
    return False


@pytest.mark.parametrize("kind", ["x", "f"])
def test_the_data_has_full_ties_of_differing_values(kind):
    """The generator makes full ties whose tied rows hold different feature values (NaN among floats)."""
    from hypothesis import find

    index = next(i for i, s in enumerate(SHAPES) if any(n.rstrip("0123456789") == kind
                                                        for v in s.views for n, _ in v.features))
    found = find(examples(index), lambda example: _full_ties(example[0], kind),
                 settings=settings(derandomize=True, database=None, max_examples=500))
    assert _full_ties(found[0], kind)
