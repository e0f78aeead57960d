"""`fcompile docs generate` and `fcompile docs serve` on the sample project: what the pages say, the search
index and lineage data the pages load, the site's independence from the network, and the server."""

from __future__ import annotations

import html
import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import markupsafe

from conftest import fcompile

from fcompile.catalog.model import catalog_from_manifest, column_lineage, feature_users, search_index
from fcompile.catalog.sql_highlight import highlight_sql


def read_script(path: Path, name: str):
    text = path.read_text("utf-8")
    prefix = f"window.{name} = "
    assert text.startswith(prefix) and text.endswith(";\n")
    return json.loads(text[len(prefix):-2])


def manifest_of(project: Path) -> dict:
    done = fcompile("build", "--project-dir", str(project), "--target-path", str(project / "built"))
    assert done.returncode == 0, done.stderr
    return json.loads((project / "built" / "manifest.json").read_text())


def test_every_node_has_a_page_with_its_spec_position_and_users(sample_site):
    docs = sample_site / "target" / "docs"
    manifest = manifest_of(sample_site)
    for kind, entries in manifest["nodes"].items():
        for name, entry in entries.items():
            page = docs / kind / f"{name}.html"
            if kind == "test":
                assert not page.exists()
                continue
            text = page.read_text("utf-8")
            location = entry["location"]
            assert f"{location['path']}:{location['line']}:{location['column']}" in text, page
            assert str(markupsafe.escape(entry["spec"]["description"])) in text
    view = (docs / "feature_view" / "driver_hourly_stats.html").read_text("utf-8")
    assert "driver-performance@example.com" in view and "team: driver-performance" in view
    assert re.search(r"<dt>ttl</dt><dd>2h</dd>", view) and "yes: materialized to the online store" in view
    for feature in ("conv_rate", "acc_rate", "avg_daily_trips", "avg_rating"):
        assert f'id="feature-{feature}"' in view
    assert "renamed from conversion_rate" in view  # driver_stats maps its column conversion_rate to conv_rate
    windows = (docs / "feature_view" / "driver_trip_windows.html").read_text("utf-8")  # aggregations only
    assert "<dt>ttl</dt><dd>not used: each aggregation reads its own window</dd>" in windows
    assert "<dt>aggregation step</dt><dd>1h</dd>" in windows and "sum(fare) over 1d, every 1h" in windows
    used_by = view[view.index('id="used-by"'):]
    assert "driver_activity_v1" in used_by and "driver_ranking_v2" in used_by


def test_view_pages_show_the_built_sql_highlighted_and_the_latest_test_results(sample_site):
    docs = sample_site / "target" / "docs"
    view = (docs / "feature_view" / "driver_hourly_stats.html").read_text("utf-8")
    # without --dialect, the dialect of the target (no build in target/ yet): the file `build` writes, verbatim
    built = (sample_site / "built" / "compiled" / "duckdb" / "materialize" / "driver_hourly_stats.sql")
    if not built.exists():
        manifest_of(sample_site)
    block = re.search(r'<summary>duckdb</summary>\s*<pre><code class="sql">(.*?)</code></pre>', view, re.DOTALL)
    assert block is not None
    assert html.unescape(re.sub(r"<[^>]+>", "", block.group(1))) == built.read_text("utf-8")
    assert '<span class="sql-k">SELECT</span>' in block.group(1)
    results = json.loads((sample_site / "target" / "run_results.json").read_text())["results"]
    ours = [r for r in results if r["node"].startswith("test.driver_hourly_stats__")]
    assert ours and view.count('<span class="status status-pass">PASS</span>') == len(ours)
    # the schema checks `fcompile test` ran are no manifest nodes: their view's page shows them all the same
    lifetime = (docs / "feature_view" / "driver_lifetime_stats.html").read_text("utf-8")
    checks = re.search(r'<table class="list" id="schema-checks">(.*?)</table>', lifetime, re.DOTALL)
    assert checks is not None, "no schema checks on the page"
    rows = re.findall(r"<tr><td>(\w+)</td><td>(\w*)</td>\s*<td><span class=\"status status-(\w+)\">", checks.group(1))
    assert sorted(rows) == [(f"driver_lifetime_stats__{f}__schema", f, "pass")
                            for f in ("is_premium", "lifetime_trip_count", "vehicle_class")]


def test_highlighting_keeps_every_character(sample_site):
    for path in (sample_site / "built" / "compiled").rglob("*.sql"):
        text = path.read_text("utf-8")
        shown = highlight_sql(text, path.parts[-3])
        assert html.unescape(re.sub(r"<[^>]+>", "", str(shown))) == text, path
    tricky = "SELECT 'it''s' AS \"a<b\", $start -- a <comment>\nFROM t WHERE x > 1.5e3"
    shown = str(highlight_sql(tricky, "duckdb"))
    assert '<span class="sql-s">\'it\'\'s\'</span>' in shown and '<span class="sql-c">-- a &lt;comment&gt;</span>' in shown
    assert '<span class="sql-n">1.5e3</span>' in shown and "$start" in shown and "sql-k\">start" not in shown


def test_the_search_index_holds_every_name_description_and_tag(sample_site):
    docs = sample_site / "target" / "docs"
    index = read_script(docs / "assets" / "search-index.js", "FCOMPILE_SEARCH")
    manifest = manifest_of(sample_site)
    labels = {entry[0]: entry for entry in index}
    for kind, entries in manifest["nodes"].items():
        for name, entry in entries.items():
            if kind == "test":
                continue
            assert labels[name][1] == kind and (docs / labels[name][3]).is_file()
            for key, value in entry["spec"]["tags"]:
                assert f"{key}:{value}".lower() in labels[name][2]
            for key in entry["spec"].get("join_keys", ()):
                assert key["name"] in labels[name][2]
            for feature in entry["spec"].get("features", ()):
                found = labels[f"{name}:{feature['name']}"]
                assert found[3] == f"{kind}/{name}.html#feature-{feature['name']}"
                assert feature["description"].lower() in found[2]


def test_the_lineage_data_is_the_manifests_dependencies(sample_site):
    docs = sample_site / "target" / "docs"
    nodes = read_script(docs / "assets" / "lineage-data.js", "FCOMPILE_LINEAGE")["nodes"]
    manifest = manifest_of(sample_site)
    ids = [f"{n['k']}.{n['n']}" for n in nodes]
    for node in nodes:
        entry = manifest["nodes"][node["k"]][node["n"]]
        assert sorted(ids[d] for d in node["d"]) == sorted(d for d in entry["depends_on"] if d in ids)
    service = next(n for n in nodes if n["n"] == "driver_ranking_v2")
    assert [ids[p[0]] for p in service["p"]][0] == "feature_view.driver_hourly_stats" and service["p"][0][2] == "driver_recent"


def test_the_site_loads_nothing_from_the_network(sample_site):
    docs = sample_site / "target" / "docs"
    for path in [*docs.rglob("*.html"), docs / "assets" / "catalog.css", docs / "assets" / "catalog.js",
                 docs / "assets" / "lineage.js"]:
        text = path.read_text("utf-8")
        for link in re.findall(r'(?:src|href)="([^"]*)"|url\(([^)]*)\)', text):
            target = "".join(link)
            assert not re.match(r"(https?:)?//", target), (path, target)
            if not target.startswith(("#", "?")) and "{" not in target:
                local = (path.parent / target.split("#")[0].split("?")[0]).resolve()
                assert local.exists(), (path, target)


def test_on_demand_features_read_their_inputs_through_their_expression():
    spec = {"description": "", "owner": "", "tags": []}
    manifest = {"metadata": {"project": "p", "fcompile_version": "0"}, "compiled": [], "nodes": {
        "source": {"trips": {"spec": {**spec, "field_mapping": [["fare_eur", "fare"]]}, "depends_on": []}},
        "feature_view": {"stats": {"spec": {**spec, "source": "trips", "features": [
            {"name": "fare", "dtype": "float64"},
            {"name": "fares_1d", "dtype": "float64",
             "aggregation": {"function": "sum", "column": "fare", "window": 86400.0}}],
            "aggregation_step": 3600.0}, "depends_on": ["source.trips"]}},
        "request_source": {"req": {"spec": {**spec, "fields": [{"name": "tip", "dtype": "float64"}]}, "depends_on": []}},
        "on_demand_view": {"odv": {"spec": {**spec, "inputs": ["stats", "req"], "features": [
            {"name": "total", "dtype": "float64", "expr": "stats.fare + req.tip", "reads": ["stats.fare", "req.tip"]}]},
            "depends_on": ["feature_view.stats", "request_source.req"]}},
        "feature_service": {"svc": {"spec": {**spec, "projections": [
            {"view": "stats", "features": ["fare"], "alias": "s"}]}, "depends_on": ["feature_view.stats"]}},
        "test": {"stats__fare__not_null": {"spec": {**spec, "parent_kind": "feature_view", "parent": "stats",
                                                    "column": "fare", "kind": "not_null"}, "depends_on": []}},
    }}
    run_results = {"metadata": {"finished_at": "2026-01-01T00:00:00Z"}, "results": [
        {"node": "test.stats__fare__not_null", "status": "fail", "failures": 3},
        {"node": "test.gone", "status": "pass"},
        {"node": "test.stats__fare__drift_js", "status": "warn", "failures": 1, "kind": "drift",
         "parent": "feature_view.stats", "column": "fare", "message": "Jensen-Shannon 0.2000 > max_js 0.1"},
        {"node": "test.gone__fare__drift_js", "status": "fail", "kind": "drift", "parent": "feature_view.gone"},
        {"node": "test.stats__fare__schema", "status": "fail", "failures": 2, "kind": "schema",
         "parent": "feature_view.stats", "column": "fare", "message": "2 anomalies"},
        {"node": "test.stats__schema", "status": "error", "kind": "schema", "parent": "feature_view.stats",
         "column": None}]}
    catalog = catalog_from_manifest(manifest, {}, run_results)
    odv = column_lineage(catalog, catalog.nodes["on_demand_view.odv"])
    assert [(c.feature, c.upstream, c.how) for c in odv] == [
        ("total", (("feature_view.stats", "fare"), ("request_source.req", "tip")), "stats.fare + req.tip")]
    view = {c.feature: c for c in column_lineage(catalog, catalog.nodes["feature_view.stats"])}
    assert view["fare"].upstream == (("source.trips", "fare_eur"),) and view["fare"].how == "renamed from fare_eur"
    assert view["fares_1d"].upstream == (("source.trips", "fare_eur"),)
    assert view["fares_1d"].how == "sum(fare_eur) over 1d, every 1h"
    assert feature_users(catalog, "feature_view.stats") == {"fare": [("feature_service.svc", "s:fare")]}
    assert [(r.name, r.status, r.failures, r.kind) for r in catalog.test_results["feature_view.stats"]] == [
        ("stats__fare__drift_js", "warn", 1, "drift"), ("stats__fare__not_null", "fail", 3, "not_null"),
        ("stats__fare__schema", "fail", 2, "schema"), ("stats__schema", "error", None, "schema")]
    assert catalog.used_by["feature_view.stats"] == ["feature_service.svc", "on_demand_view.odv"]
    assert {e[0] for e in search_index(catalog)} >= {"odv", "odv:total", "req", "stats:fares_1d"}


def test_docs_serve_serves_the_site_and_says_what_is_wrong(sample_site, tmp_path):
    command = [sys.executable, "-m", "fcompile", "docs", "serve", "--project-dir", str(sample_site), "--port", "0"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        url = re.search(r"http://[\d.]+:\d+/", line).group()
        with urllib.request.urlopen(url + "feature_view/driver_hourly_stats.html", timeout=10) as response:
            assert response.status == 200 and b"driver_hourly_stats" in response.read()
        with urllib.request.urlopen(url + "assets/vendor/cytoscape.min.js", timeout=10) as response:
            assert response.read() == (sample_site / "target/docs/assets/vendor/cytoscape.min.js").read_bytes()
    finally:
        server.terminate()
        server.wait(10)
    missing = fcompile("docs", "serve", "--project-dir", str(tmp_path))
    assert missing.returncode == 1 and "error[FC176]" in missing.stderr and "fcompile docs generate" in missing.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = fcompile("docs", "serve", "--project-dir", str(sample_site), "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 1 and "error[FC177]" in busy.stderr and "Traceback" not in busy.stderr


def test_docs_generate_reports_a_broken_project_as_diagnostics(tmp_path):
    (tmp_path / "fcompile_project.yml").write_text("name: p\ndefault_target: dev\ntargets:\n  dev:\n"
                                                   "    offline: {type: duckdb}\n    online: {type: sqlite}\n")
    (tmp_path / "views.yml").write_text("feature_views:\n  - name: v\n    entities: [nobody]\n    source: s\n"
                                        "    features: [{name: f, dtype: int64}]\n")
    done = fcompile("docs", "generate", "--project-dir", str(tmp_path))
    assert done.returncode == 1 and "views.yml:3:" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "target" / "docs").exists()


def test_on_demand_views_and_request_sources_get_pages_with_their_expressions(on_demand_site):
    docs = on_demand_site / "target" / "docs"
    page = (docs / "on_demand_view" / "derived.html").read_text("utf-8")
    assert "per_trip * 2 + stats.rate" in page and "computed at request time" in page
    assert 'href="../on_demand_view/order_features.html"' in page and 'href="../feature_view/stats.html"' in page
    request = (docs / "request_source" / "req.html").read_text("utf-8")
    assert "the order&#39;s amount" in request and 'href="../on_demand_view/order_features.html"' in request
    nodes = read_script(docs / "assets" / "lineage-data.js", "FCOMPILE_LINEAGE")["nodes"]
    ids = [f"{n['k']}.{n['n']}" for n in nodes]
    derived = nodes[ids.index("on_demand_view.derived")]
    assert [[name, [[ids[i], column] for i, column in reads], how] for name, reads, how in derived["f"]] == [
        ["doubled", [["on_demand_view.order_features", "per_trip"], ["feature_view.stats", "rate"]],
         "per_trip * 2 + stats.rate"]]


def test_the_pages_show_the_dialects_of_the_last_build_unless_told(on_demand_site, tmp_path):
    from fcompile.catalog.site import site_dialects
    from fcompile.parser import load_project

    graph = load_project(on_demand_site, None)
    target = tmp_path / "target"
    assert site_dialects(graph, None, target) == ("duckdb",)  # no build yet: the target's dialect
    for name in ("spark", "postgres", "not_a_dialect"):
        (target / "compiled" / name).mkdir(parents=True)
    assert site_dialects(graph, None, target) == ("postgres", "spark")
    assert site_dialects(graph, "trino", target) == ("trino",)
    assert len(site_dialects(graph, "all", target)) == 7
