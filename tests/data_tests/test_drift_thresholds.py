"""Drift thresholds in the spec (issue 18): `drift:` on a view and its features, checked at parse time
(FC193-FC195), kept in the manifest (a change of them is metadata to `fcompile plan`), and checked by
`fcompile profile --compare REF` on DuckDB against hand-made data whose PSI, Jensen-Shannon and L-infinity
figures the test computes itself from the raw values (numpy histograms, the formulas written out here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import duckdb
import numpy as np
import pytest

from fcompile.diagnostics import Code
from fcompile.parser import parse_project

from build.sample_projects import assert_clean, fcompile

pytest.importorskip("tensorflow_metadata.proto.v0.statistics_pb2",
                    reason="tensorflow-metadata is not installed (a dependency of fcompile)")

PROJECT = ("name: drifting\ndefault_target: dev\ntargets:\n  dev:\n    offline: {type: duckdb, path: offline.duckdb}\n"
           "    online: {type: sqlite, path: online.db}\n")


def spec(view_drift: str = "", rate: str = "", kind: str = "", count: str = "") -> str:
    def line(name: str, dtype: str, drift: str) -> str:
        return f"      - {{name: {name}, dtype: {dtype}{', drift: ' + drift if drift else ''}}}\n"

    return ("entities:\n  - {name: driver, join_keys: [{name: driver_id, dtype: int64}]}\n"
            "sources:\n  - {name: rows_src, table: rows, timestamp_field: event_ts}\n"
            "feature_views:\n  - name: profiled\n    entities: [driver]\n    source: rows_src\n"
            + (f"    drift: {view_drift}\n" if view_drift else "")
            + "    features:\n" + line("rate", "float64", rate) + line("kind", "string", kind)
            + line("trips", "int64", count))


def project(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fcompile_project.yml").write_text(PROJECT)
    (root / "spec.yml").write_text(text)
    return root


# -- parse time ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, code, at, words", [
    ({"rate": "{max_jss: 0.1}"}, Code.DRIFT_KEY, "max_jss", "unknown drift key 'max_jss'"),
    ({"view_drift": "{max_js: 0.1, treshold: 2}"}, Code.DRIFT_KEY, "treshold", "unknown drift key 'treshold'"),
    ({"view_drift": "[max_js]"}, Code.WRONG_TYPE, "[max_js]", "'drift' must be a mapping, not a list"),  # the JSON Schema
    ({"view_drift": "{severity: warn}"}, Code.DRIFT_KEY, "{severity", "drift names no threshold"),
    ({"rate": "{max_psi: -0.2}"}, Code.DRIFT_THRESHOLD, "-0.2", "drift max_psi must be a finite number from 0, not -0.2"),
    ({"rate": "{max_js: high}"}, Code.DRIFT_THRESHOLD, "high", "drift max_js must be a finite number from 0, not str 'high'"),
    ({"rate": "{max_js: true}"}, Code.DRIFT_THRESHOLD, "true", "not true"),
    ({"count": "{max_null_fraction_diff: 5}"}, Code.DRIFT_THRESHOLD, "5}", "the figure never exceeds 1"),
    ({"rate": "{max_js: 0.1, severity: fatal}"}, Code.DRIFT_THRESHOLD, "fatal", "drift severity 'fatal' is not error or warn"),
    ({"rate": "{max_linf: 0.1}"}, Code.DRIFT_KIND, "max_linf",
     "feature 'rate': max_linf applies to strings, not to a feature of dtype float64"),
    ({"count": "{max_linf: 0.1}"}, Code.DRIFT_KIND, "max_linf", "an int64 feature takes"),
    ({"kind": "{max_psi: 0.2}"}, Code.DRIFT_KIND, "max_psi",
     "feature 'kind': max_psi applies to numbers and booleans, not to a feature of dtype string"),
])
def test_each_drift_problem_is_a_positioned_diagnostic(tmp_path, kwargs, code, at, words):
    text = spec(**kwargs)
    result = parse_project(project(tmp_path, text), use_cache=False)
    assert result.graph is None
    [problem] = result.diagnostics
    assert problem.code is code and words in problem.render(), problem.render()
    [(line, column)] = [(n, row.index(at) + 1) for n, row in enumerate(text.split("\n"), 1) if at in row]
    assert (problem.position.line, problem.position.column) == (line, column), problem.render()
    assert problem.hint or code is Code.WRONG_TYPE


def test_a_view_threshold_that_applies_to_none_of_its_features_is_fc195(tmp_path):
    text = spec(view_drift="{max_linf: 0.1}").replace("      - {name: kind, dtype: string}\n", "")
    result = parse_project(project(tmp_path, text), use_cache=False)
    [problem] = result.diagnostics
    assert problem.code is Code.DRIFT_KIND and (problem.position.line, problem.position.column) == (9, 13), \
        problem.render()
    assert "max_linf applies to strings, and none of the view's profiled features is one" in problem.message


def test_thresholds_resolve_per_feature_the_manifest_keeps_them_and_plan_calls_a_change_metadata(tmp_path):
    from fcompile.artifacts.changes import METADATA, spec_changes
    from fcompile.artifacts.manifest import build_manifest, manifest_problems
    from fcompile.graph import DriftThresholds
    from fcompile.tasks.drift_checks import declared_checks

    result = parse_project(project(tmp_path, spec(view_drift="{max_js: 0.2, max_linf: 0.3, severity: warn}",
                                                  rate="{max_js: 0.05, max_psi: 0.1, severity: error}",
                                                  count="{severity: error}")),  # the view's thresholds, as errors
                           use_cache=False)
    assert result.ok, [d.render() for d in result.diagnostics]
    view = result.graph.feature_view("profiled")
    assert view.drift_of("rate") == DriftThresholds(max_psi=0.1, max_js=0.05, max_linf=0.3, severity="error")
    assert declared_checks(view) == [("rate", "max_psi", 0.1, "error"), ("rate", "max_js", 0.05, "error"),
                                     ("kind", "max_linf", 0.3, "warn"), ("trips", "max_js", 0.2, "error")]
    manifest = json.loads(json.dumps(build_manifest(result.graph, {})))
    assert manifest_problems(manifest) == []
    entry = manifest["nodes"]["feature_view"]["profiled"]["spec"]
    assert entry["drift"] == {"max_psi": None, "max_js": 0.2, "max_linf": 0.3, "max_null_fraction_diff": None,
                              "severity": "warn"}
    assert entry["features"][0]["drift"]["max_psi"] == 0.1 and "drift" not in entry["features"][1]
    assert entry["features"][2]["drift"] == {"max_psi": None, "max_js": None, "max_linf": None,
                                             "max_null_fraction_diff": None, "severity": "error"}
    loosened = json.loads(json.dumps(entry))
    loosened["drift"]["max_js"] = 0.5
    loosened["features"][0]["drift"]["max_psi"] = 0.3
    changes = spec_changes("feature_view", entry, loosened, online=True)
    assert {c.field for c in changes} == {"drift", "features.rate.drift"}
    assert all(c.change_class == METADATA and not c.full_refresh for c in changes)


def test_a_view_without_drift_keeps_its_manifest_entry(tmp_path):
    result = parse_project(project(tmp_path, spec()), use_cache=False)
    entry = result.graph.feature_view("profiled")
    from fcompile.graph import to_plain

    plain = to_plain(entry)
    assert "drift" not in plain and all("drift" not in f for f in plain["features"])


# -- fcompile profile --compare on hand-made data -------------------------------------------------------------

def fill(database: Path, rates: list[float | None], kinds: list[str | None], trips: list[int | None]) -> None:
    with duckdb.connect(str(database)) as con:
        con.execute("CREATE OR REPLACE TABLE rows (driver_id BIGINT, event_ts TIMESTAMP, rate DOUBLE, kind VARCHAR, "
                    "trips BIGINT)")
        con.executemany("INSERT INTO rows VALUES (?, TIMESTAMP '2025-01-01' + INTERVAL (?) SECOND, ?, ?, ?)",
                        [(i, i, r, k, t) for i, (r, k, t) in enumerate(zip(rates, kinds, trips))])


def shares(values: list[float | None]) -> np.ndarray:
    """The 10 equal-width buckets between min and max of the non-NULL values (the last one closed), as shares."""
    kept = np.array([v for v in values if v is not None], dtype=np.float64)
    counts, _ = np.histogram(kept, bins=10, range=(kept.min(), kept.max()))
    return counts / counts.sum()


def js_base2(p: np.ndarray, q: np.ndarray) -> float:
    m = (p + q) / 2
    return float(sum(a / 2 * math.log2(a / c) for a, c in zip(p, m) if a) +
                 sum(b / 2 * math.log2(b / c) for b, c in zip(q, m) if b))


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    e, a = np.maximum(reference, 1e-4), np.maximum(current, 1e-4)
    return float(np.sum((a - e) * np.log(a / e)))


# 100 rows each. rate spans 0..10 in both (so the two histograms share their edges); its mass moves right.
REFERENCE_RATES = [0.0, 10.0] + [i % 10 + 0.5 for i in range(98)]
CURRENT_RATES = [0.0, 10.0] + [min(9.5, i % 10 + 0.5 + (i % 3 == 0) * 1.0) for i in range(90)] + [None] * 8
REFERENCE_KINDS = ["a"] * 50 + ["b"] * 50
CURRENT_KINDS = ["a"] * 70 + ["b"] * 20 + ["c"] * 10
REFERENCE_TRIPS = [i % 4 for i in range(100)]
CURRENT_TRIPS = [i % 4 for i in range(100)]


@pytest.fixture(scope="module")
def figures() -> dict[str, float]:
    """The figures computed here, from the raw values."""
    p, q = shares(REFERENCE_RATES), shares(CURRENT_RATES)
    assert len(p) == len(q) == 10
    kinds_before = {k: REFERENCE_KINDS.count(k) / 100 for k in set(REFERENCE_KINDS)}
    kinds_after = {k: CURRENT_KINDS.count(k) / 100 for k in set(CURRENT_KINDS)}
    return {"js": js_base2(p, q), "psi": psi(p, q),
            "linf": max(abs(kinds_before.get(k, 0) - kinds_after.get(k, 0)) for k in {"a", "b", "c"}),
            "nulls": 8 / 100}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A profile of the reference rows, written by `fcompile profile`."""
    root = project(tmp_path_factory.mktemp("reference"), spec())
    fill(root / "offline.duckdb", REFERENCE_RATES, REFERENCE_KINDS, REFERENCE_TRIPS)
    done = fcompile("profile", cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    [path] = (root / "target" / "profiles" / "feature_view.profiled").glob("*.pb")
    return path


def compared(root: Path, reference: Path, text: str) -> tuple:
    project(root, text)
    fill(root / "offline.duckdb", CURRENT_RATES, CURRENT_KINDS, CURRENT_TRIPS)
    done = fcompile("profile", "--compare", str(reference), cwd=root)
    assert_clean(done)
    checks = {line.split()[1].rstrip(":"): line.split() for line in done.stdout.splitlines()
              if line.startswith("    ") and line.split()[0] in ("PASS", "WARN", "FAIL", "SKIP")}
    return done, checks


def test_the_drift_table_shows_the_figures_computed_from_the_raw_values(tmp_path, reference, figures):
    done, checks = compared(tmp_path / "plain", reference, spec())
    assert done.returncode == 0 and checks == {}, done.stdout + done.stderr
    table = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()[-3:]}
    assert table["rate"] == [f"{figures['nulls']:+.4f}", f"{figures['psi']:.4f}", f"{figures['js']:.4f}", "-"]
    assert table["kind"] == ["+0.0000", "-", "-", f"{figures['linf']:.4f}"]
    assert not (tmp_path / "plain" / "target" / "run_results.json").exists()  # no thresholds: report only


def test_thresholds_above_the_figures_pass(tmp_path, reference, figures):
    loose = (f"{{max_psi: {figures['psi'] * 1.01:.6f}, max_js: {figures['js'] * 1.01:.6f}, "
             f"max_null_fraction_diff: 0.09}}")
    done, checks = compared(tmp_path / "pass", reference,
                            spec(rate=loose, kind=f"{{max_linf: {figures['linf'] + 0.001:.4f}}}"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert {name: words[0] for name, words in checks.items()} == {
        "profiled__rate__drift_psi": "PASS", "profiled__rate__drift_js": "PASS",
        "profiled__rate__drift_null_fraction_diff": "PASS", "profiled__kind__drift_linf": "PASS"}
    assert f"Jensen-Shannon {figures['js']:.4f} <=" in done.stdout
    assert "drift checks: 4 passed, 0 warned, 0 failed, 0 skipped (4 checks)" in done.stdout


def test_a_threshold_below_its_figure_fails_with_exit_1_and_the_results_are_recorded(tmp_path, reference, figures):
    root = tmp_path / "fail"
    done, checks = compared(root, reference, spec(view_drift="{max_js: 0.9, max_null_fraction_diff: 0.05}",
                                                  kind="{max_linf: 0.25, severity: warn}"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert checks["profiled__rate__drift_null_fraction_diff"][:5] == \
        ["FAIL", "profiled__rate__drift_null_fraction_diff:", "NULL", "fraction", "change"]
    assert f"NULL fraction change {figures['nulls']:.4f} > max_null_fraction_diff 0.05" in done.stdout
    assert checks["profiled__kind__drift_linf"][0] == "WARN"  # 0.3 > 0.25, severity warn
    assert checks["profiled__rate__drift_js"][0] == "PASS"
    assert checks["profiled__trips__drift_js"][0] == "PASS" and checks["profiled__kind__drift_null_fraction_diff"][0] == "PASS"
    assert "drift checks: 4 passed, 1 warned, 1 failed, 0 skipped (6 checks)" in done.stdout
    recorded = json.loads((root / "target" / "run_results.json").read_text())
    assert recorded["metadata"]["command"] == "profile"
    entries = {e["node"]: e for e in recorded["results"]}
    failed = entries["test.profiled__rate__drift_null_fraction_diff"]
    assert failed["status"] == "fail" and failed["severity"] == "error" and failed["failures"] == 1
    assert (failed["kind"], failed["parent"], failed["column"], failed["metric"]) == \
        ("drift", "feature_view.profiled", "rate", "max_null_fraction_diff")
    assert failed["figure"] == pytest.approx(figures["nulls"]) and failed["threshold"] == 0.05
    warned = entries["test.profiled__kind__drift_linf"]
    assert warned["status"] == "warn" and warned["figure"] == pytest.approx(figures["linf"])
    assert entries["test.profiled__rate__drift_js"]["figure"] == pytest.approx(figures["js"], abs=1e-12)
    latest = json.loads((root / "target" / "test_results.json").read_text())
    assert {e["node"]: e["status"] for e in latest["results"]} == {n: e["status"] for n, e in entries.items()}
    assert all(e["command"] == "profile" for e in latest["results"])
    # the catalog shows them on the view's page
    assert fcompile("build", cwd=root).returncode == 0
    site = fcompile("docs", "generate", cwd=root)
    assert site.returncode == 0, site.stdout + site.stderr
    page = (root / "target" / "docs" / "feature_view" / "profiled.html").read_text()
    checks_table = page[page.index('id="drift-checks"'):]
    assert "profiled__rate__drift_null_fraction_diff" in checks_table and "status-fail" in checks_table
    assert "status-warn" in checks_table


def test_warn_severity_never_fails_and_a_feature_new_to_the_reference_is_skipped(tmp_path, reference, figures):
    text = spec(view_drift="{max_psi: 0.001, max_linf: 0.01, max_null_fraction_diff: 0.01, severity: warn}")
    text = text.replace("      - {name: trips, dtype: int64}\n", "      - {name: late, dtype: int64, drift: {max_js: 0.1}}\n")
    root = project(tmp_path / "warn", text)
    fill(root / "offline.duckdb", CURRENT_RATES, CURRENT_KINDS, CURRENT_TRIPS)
    with duckdb.connect(str(root / "offline.duckdb")) as con:
        con.execute("ALTER TABLE rows ADD COLUMN late BIGINT DEFAULT 3")
    done = fcompile("profile", "--compare", str(reference), cwd=root)
    assert_clean(done)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARN  profiled__rate__drift_psi: PSI" in done.stdout
    assert "SKIP  profiled__late__drift_js: Jensen-Shannon: the reference profile has no such feature" in done.stdout
    assert "failed" in done.stdout and " 0 failed," in done.stdout
