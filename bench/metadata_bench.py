"""Metadata API benchmark: the feature server's `MetadataIndex` (fcompile/serving/metadata.py) on a project
of 1,000 feature views x 20 features (parse_bench's), in process.

Prints the time to build the index (done once per loaded project, in the loading thread) and the time
each kind of answer takes to compute and encode, as the server does it on its event loop: a page of 100
and of 1,000 views, one view with its lineage, a lineage page of 1,000 nodes, one node's neighbourhood, and
a page for a token granted one service. Each answer is checked to be JSON of the expected size.

    python bench/metadata_bench.py [--views 1000] [--features 20] [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from parse_bench import generate_project

from fcompile.sdk import FeatureStore
from fcompile.serving.metadata import MetadataIndex, Page, encode
from fcompile.serving.settings import Grant, TokenGrant


def median_ms(calls: int, answer) -> float:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        answer()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "project"
        generate_project(root, args.views, args.features)
        graph = FeatureStore(str(root)).graph
    builds = []
    for _ in range(5):
        started = time.perf_counter()
        index = MetadataIndex(graph, 1)
        builds.append(time.perf_counter() - started)
    views = ("feature_view", "on_demand_view")
    name = graph.feature_views[len(graph.feature_views) // 2].name
    service = graph.feature_services[0]
    grant = TokenGrant("bench", b"0" * 32, Grant.of([service.name]), Grant(), Grant(), Grant(), False)
    answers = {
        "page of 100 views": (lambda: index.listing(views, None, Page(100, 0)), 100),
        "page of 1,000 views": (lambda: index.listing(views, None, Page(1000, 0)), min(1000, len(graph.feature_views))),
        "one view with lineage": (lambda: encode(index.feature_view(name, None)), None),
        "lineage page of 1,000 nodes": (lambda: encode(index.lineage(None, Page(1000, 0), None)), 1000),
        "one view's neighbourhood": (lambda: encode(index.lineage(None, Page(1000, 0), f"feature_view.{name}")), None),
        "page for a one-service token": (lambda: index.listing(views, grant, Page(100, 0)), None),
    }
    print(f"{len(graph.feature_views):,} views x {args.features} features, {len(graph.feature_services):,} services, "
          f"{len(graph.entities):,} entities")
    print(f"index build: {statistics.median(builds) * 1000:.1f} ms (median of 5)")
    for label, (answer, expected) in answers.items():
        document = json.loads(answer())
        count = len(document.get("items", document.get("nodes", [])))
        assert expected is None or count == expected, (label, count)
        print(f"{label:30} {median_ms(args.calls, answer):8.3f} ms")


if __name__ == "__main__":
    main()
