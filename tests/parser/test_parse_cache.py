from pathlib import Path

import pytest

from fcompile.parser import parse_project
from fcompile.parser import cache as cache_module

PROJECT = "name: p\ntargets:\n  dev: {offline: {type: duckdb}, online: {type: sqlite}}\n"
SPEC = """\
entities:
  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}
sources:
  - {name: stats, table: raw.stats, timestamp_field: ts}
feature_views:
  - {name: v, entities: [driver], source: stats, features: [{name: f, dtype: float64}]}
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))
    monkeypatch.setattr(cache_module, "_KEY", [])
    root = tmp_path / "proj"
    (root / "features").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(PROJECT)
    (root / "features" / "a.yml").write_text(SPEC)
    return root


def test_unchanged_files_come_from_the_cache_and_edits_are_seen(project, monkeypatch):
    first = parse_project(project)
    assert (project / ".fcompile" / "parse-cache.bin").exists()
    calls = []
    real = cache_module.ParseCache.put
    monkeypatch.setattr(cache_module.ParseCache, "put", lambda self, f, p: (calls.append(f), real(self, f, p)))
    second = parse_project(project)
    assert calls == [] and second.graph == first.graph
    (project / "features" / "a.yml").write_text(SPEC.replace("float64", "int64"))
    third = parse_project(project)
    assert len(calls) == 1 and str(third.graph.feature_views[0].features[0].dtype) == "int64"


def test_a_cache_signed_by_someone_else_is_ignored(project, monkeypatch):
    parse_project(project)
    blob = (project / ".fcompile" / "parse-cache.bin").read_bytes()
    (project / ".fcompile" / "parse-cache.bin").write_bytes(blob[:10] + bytes([blob[10] ^ 1]) + blob[11:])
    calls = []
    real = cache_module.ParseCache.put
    monkeypatch.setattr(cache_module.ParseCache, "put", lambda self, f, p: (calls.append(f), real(self, f, p)))
    assert parse_project(project).graph is not None
    assert calls  # the tampered cache was not trusted: the file was parsed again


def test_cached_diagnostics_are_reported_again(project):
    (project / "features" / "a.yml").write_text(SPEC.replace("timestamp_field", "timestamp_feild"))
    first = parse_project(project).diagnostics
    second = parse_project(project).diagnostics
    assert first == second and first


def test_generated_code_is_kept_signed_and_a_tampered_copy_is_made_again(tmp_path, monkeypatch):
    """The schemas' validators: generated and compiled once, then loaded from the user's cache folder;
    a file not signed with this user's key is never run."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(cache_module, "_KEY", [])
    made = []

    def source() -> str:
        made.append(1)
        return "ANSWER = 42\n"

    namespace: dict = {}
    exec(cache_module.cached_code("answer", "v1", source), namespace)
    (kept,) = (tmp_path / "fcompile" / "code").iterdir()
    exec(cache_module.cached_code("answer", "v1", source), namespace)
    assert namespace["ANSWER"] == 42 and len(made) == 1
    blob = kept.read_bytes()
    kept.write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))  # the payload changed, the signature did not
    cache_module.cached_code("answer", "v1", source)
    assert len(made) == 2 and kept.read_bytes() == blob
    cache_module.cached_code("answer", "v2", source)  # another key (a new schema): made anew, kept beside
    assert len(made) == 3 and len(list(kept.parent.iterdir())) == 2


def test_the_schemas_validators_come_from_the_cache(project, monkeypatch):
    import fastjsonschema

    from fcompile.parser import structure

    structure._fast_check.cache_clear()
    parse_project(project)
    structure._fast_check.cache_clear()
    monkeypatch.setattr(fastjsonschema, "compile_to_code", lambda *a, **k: pytest.fail("generated again"))
    result = parse_project(project)
    assert result.graph is not None and not result.diagnostics
    bad = project / "features" / "a.yml"
    bad.write_text(SPEC.replace("timestamp_field", "timestamp_feild"))
    found = parse_project(project).diagnostics  # the cached validator still refuses what it should
    assert any(d.code.value == "FC010" and "timestamp_feild" in d.message for d in found)
    structure._fast_check.cache_clear()


# -- checks that load a large library, remembered (ParseCache.remembered) ---------------------------------------

ON_DEMAND = SPEC + """\
request_sources:
  - name: req
    fields: [{name: amount, dtype: float64}]
on_demand_views:
  - name: odv
    inputs: [v, req]
    features:
      - {name: scaled, dtype: float64, expr: "f * amount + 1"}
"""


def counting(monkeypatch, module, name: str) -> list:
    calls: list = []
    real = getattr(module, name)
    monkeypatch.setattr(module, name, lambda *a, **k: (calls.append(a), real(*a, **k))[1])
    return calls


def test_a_checked_expression_is_remembered_until_it_or_its_inputs_change(project, monkeypatch):
    from fcompile.expressions import check

    (project / "features" / "a.yml").write_text(ON_DEMAND)
    first = parse_project(project)
    assert first.ok, first.diagnostics
    calls = counting(monkeypatch, check, "check_expression")
    second = parse_project(project)
    assert calls == [] and second.graph == first.graph
    assert second.graph.on_demand_views[0].features[0].node == first.graph.on_demand_views[0].features[0].node
    assert second.graph.on_demand_views[0].features[0].node is not None
    # an input's dtype changes what the expression means: checked again
    (project / "features" / "a.yml").write_text(ON_DEMAND.replace("{name: f, dtype: float64}", "{name: f, dtype: int64}"))
    assert parse_project(project).ok and len(calls) == 1
    # an invalid edit is checked, reported at its column, and reported again by the next parse
    (project / "features" / "a.yml").write_text(ON_DEMAND.replace("f * amount + 1", "f * nosuch + 1"))
    for _ in range(2):
        result = parse_project(project)
        assert not result.ok
        [problem] = [d for d in result.diagnostics if "nosuch" in d.message]
        assert problem.position.line == ON_DEMAND.splitlines().index(
            '      - {name: scaled, dtype: float64, expr: "f * amount + 1"}') + 1
    assert len(calls) == 3


def test_a_schema_files_warnings_are_remembered_by_its_content(project, monkeypatch):
    from fcompile.parser import feature_schemas

    (project / "features" / "a.yml").write_text(SPEC.replace("source: stats,", "source: stats, schema: s.pbtxt,"))
    (project / "s.pbtxt").write_text('feature {\n  name: "f"\n}\nfeature {\n  name: "gone"\n}\n')
    first = parse_project(project)
    assert first.ok and [d.message for d in first.diagnostics] == [
        "feature view 'v': its schema names feature 'gone', which the view does not have"]
    calls = counting(monkeypatch, feature_schemas, "read_feature_schema")
    assert parse_project(project).diagnostics == first.diagnostics and calls == []
    (project / "s.pbtxt").write_text('feature {\n  name: "f"\n}\n')
    assert parse_project(project).diagnostics == [] and len(calls) == 1
    (project / "s.pbtxt").write_text('feature {\n  name: "f"\n  typ: BYTES\n}\n')  # broken: an error, every time
    for _ in range(2):
        [problem] = parse_project(project).diagnostics
        assert "not a TFDV Schema" in problem.message and problem.position.line == 3
    assert len(calls) == 3
