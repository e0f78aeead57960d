"""The catalog site in a real browser (headless Chromium through chromedriver's W3C WebDriver protocol), opened
from the file system as a user opens it: search for a feature, follow the result to its view, and read the
lineage graph cytoscape drew there; a screenshot of each step is kept under the test's tmp folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from catalog_browser import Browser, browser_missing

pytestmark = pytest.mark.skipif(browser_missing() is not None, reason=browser_missing() or "")

PNG = b"\x89PNG\r\n\x1a\n"
GRAPH_NODES = ("return window.fcompileGraph && window.fcompileGraph.nodes().length ? "
               "window.fcompileGraph.nodes().map(n => n.data('kind') + '.' + n.data('text')).sort() : null")
GRAPH_EDGES = ("return window.fcompileGraph.edges().map(e => e.source().data('text') + ' -> ' + "
               "e.target().data('text')).sort()")


@pytest.fixture(scope="module")
def browser():
    opened = Browser()
    try:
        yield opened
    finally:
        opened.close()


def keep_screenshot(browser: Browser, path: Path) -> None:
    shot = browser.screenshot()
    assert shot.startswith(PNG) and len(shot) > 10_000  # a page drawn, not an empty frame
    path.write_bytes(shot)


def test_search_a_feature_follow_it_to_its_view_and_read_the_lineage(browser, sample_site, tmp_path):
    docs = sample_site / "target" / "docs"
    browser.open((docs / "index.html").as_uri())
    assert browser.script("return document.title").startswith("Overview · driver_ranking")
    browser.type(browser.find("#search"), "conv_rate")
    hits = browser.wait_for("const links = [...document.querySelectorAll('#search-results a')];"
                            "return links.length ? links.map(a => a.textContent) : null")
    assert any("driver_hourly_stats:conv_rate" in hit for hit in hits), hits
    assert "driver_hourly_stats:conv_rate" in hits[0]  # the feature named so comes first
    keep_screenshot(browser, tmp_path / "search.png")

    browser.click(browser.find("#search-results a"))
    browser.wait_for("return location.pathname.endsWith('/feature_view/driver_hourly_stats.html')")
    assert browser.url.endswith("#feature-conv_rate")
    assert browser.script("return document.querySelector('h1').textContent").endswith("driver_hourly_stats")

    nodes = browser.wait_for(GRAPH_NODES)
    assert nodes == ["entity.driver", "feature_service.driver_activity_v1", "feature_service.driver_ranking_orders",
                     "feature_service.driver_ranking_v2", "feature_view.driver_hourly_stats",
                     "on_demand_view.order_features", "source.driver_stats"]
    assert browser.script(GRAPH_EDGES) == [
        "driver -> driver_hourly_stats", "driver_hourly_stats -> driver_activity_v1",
        "driver_hourly_stats -> driver_ranking_orders", "driver_hourly_stats -> driver_ranking_v2",
        "driver_hourly_stats -> order_features", "driver_stats -> driver_hourly_stats",
        "order_features -> driver_ranking_orders"]
    listed = browser.script("return [...document.querySelectorAll('.graph-nodes a')].map(a => a.textContent).sort()")
    assert listed == sorted(n.split(".", 1)[1] for n in nodes)
    # drawn: every node has a place inside the graph's box, and the layout spreads them out
    boxes = browser.script("const cy = window.fcompileGraph; const w = cy.width(), h = cy.height();"
                           "return cy.nodes().map(n => { const b = n.renderedBoundingBox();"
                           " return [b.x1 >= -1 && b.x2 <= w + 1 && b.y1 >= -1 && b.y2 <= h + 1, b.x1]; })")
    assert all(inside for inside, _ in boxes) and len({round(x) for _, x in boxes}) >= 3
    keep_screenshot(browser, tmp_path / "feature_view.png")

    browser.click(browser.find("[data-action=expand]"))  # one step further: the services' dataset comes in
    grown = browser.wait_for(GRAPH_NODES.replace("nodes().length", f"nodes().length > {len(nodes)}"))
    assert "dataset.driver_ranking_training" in grown


def test_a_features_column_lineage_reads_its_source_column(browser, sample_site, tmp_path):
    docs = sample_site / "target" / "docs"
    browser.open((docs / "feature_view" / "driver_hourly_stats.html").as_uri())
    browser.click(browser.find("#feature-conv_rate a.column-lineage"))
    nodes = browser.wait_for(GRAPH_NODES)
    # the source's column conversion_rate is mapped to conv_rate; three services and the dataset take the
    # feature, and the on-demand feature conv_band reads it (and goes to a service and the dataset in turn)
    assert nodes == ["dataset.driver_ranking_training.driver_recent:conv_rate",
                     "dataset.driver_ranking_training.order_features:conv_band",
                     "feature_service.driver_activity_v1.driver_hourly_stats:conv_rate",
                     "feature_service.driver_ranking_orders.driver_recent:conv_rate",
                     "feature_service.driver_ranking_orders.order_features:conv_band",
                     "feature_service.driver_ranking_v2.driver_recent:conv_rate",
                     "feature_view.driver_hourly_stats.conv_rate", "on_demand_view.order_features.conv_band",
                     "source.driver_stats.conversion_rate"]
    labels = browser.script("return window.fcompileGraph.edges().map(e => e.data('label') || '').sort()")
    assert "renamed from conversion_rate" in labels
    keep_screenshot(browser, tmp_path / "column_lineage.png")


def test_an_aggregated_features_column_lineage_names_its_function_and_window(browser, sample_site):
    docs = sample_site / "target" / "docs"
    browser.open((docs / "lineage.html").as_uri() + "?feature=feature_view.driver_trip_windows:fare_sum_1d")
    nodes = browser.wait_for(GRAPH_NODES)
    assert "source.trips.fare" in nodes and "feature_view.driver_trip_windows.fare_sum_1d" in nodes
    labels = browser.script("return window.fcompileGraph.edges().map(e => e.data('label') || '')")
    assert any(label.startswith("sum(fare) over 1d") for label in labels), labels


def test_an_on_demand_features_column_lineage_goes_up_to_source_columns_and_request_fields(browser, on_demand_site):
    docs = on_demand_site / "target" / "docs"
    browser.open((docs / "lineage.html").as_uri() + "?feature=on_demand_view.derived:doubled")
    nodes = browser.wait_for(GRAPH_NODES)
    assert nodes == ["feature_view.stats.rate", "feature_view.stats.trips", "on_demand_view.derived.doubled",
                     "on_demand_view.order_features.per_trip", "request_source.req.amount", "source.trips.rate",
                     "source.trips.trips"]
    assert browser.script(GRAPH_EDGES) == [
        "order_features.per_trip -> derived.doubled", "req.amount -> order_features.per_trip",
        "stats.rate -> derived.doubled", "stats.trips -> order_features.per_trip", "trips.rate -> stats.rate",
        "trips.trips -> stats.trips"]
