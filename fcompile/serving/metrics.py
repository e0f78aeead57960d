"""Prometheus metrics of the feature server (`GET /metrics`, text format).

| metric | type | labels |
| --- | --- | --- |
| `fcompile_serve_requests_total` | counter | `endpoint`, `feature_service`, `status` |
| `fcompile_serve_request_duration_seconds` | histogram | `endpoint`, `feature_service` |
| `fcompile_serve_errors_total` | counter | `endpoint`, `feature_service`, `code` (FCxxx, or `internal`) |
| `fcompile_serve_rows_read_total` | counter | `endpoint`, `feature_service` (entities read) |
| `fcompile_serve_rows_written_total` | counter | `endpoint`, `name` (the push source or feature view) |
| `fcompile_serve_reloads_total` | counter | `result` (`success`, `error`) |

`feature_service` is empty for a `features` list and for the other endpoints; `endpoint` is the path (for
a path with a name in it, its template: `/api/v1/feature_views/{name}`), or `other` for paths the server
does not have, so a scan of random URLs cannot grow the label set (names are used as labels only once the
graph knows them).

With several workers (`fcompile serve --workers N`), each worker process writes its values to files
in a folder that `fcompile serve` creates (prometheus_client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`),
and `/metrics`, whichever worker answers it, adds up every worker's files.

A request's counts (requests, duration, rows read) are added up in the worker's memory and written to the
metrics once a second (`flush`: from the server's periodic task, and before this worker answers `/metrics`),
rather than four locked writes to the metrics' files per request, a fifth of a one-entity request's time
in the server. So with several workers, `/metrics` shows the other workers' requests up to a second late.
Errors, writes and reloads are written at once.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from typing import Any

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                   5.0, 10.0, 30.0, 60.0, 300.0)
CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


class ServingMetrics:
    """The server's metrics, with the children of each label combination kept for the hot path."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        # In multiprocess mode values live in files and /metrics reads them through a fresh registry;
        # otherwise this private registry holds them (never the global one: one server per process).
        self._registry = None if self.multiprocess else CollectorRegistry(auto_describe=True)
        registry = self._registry
        self.requests = Counter("fcompile_serve_requests", "Requests answered, by endpoint, service and status.",
                                ("endpoint", "feature_service", "status"), registry=registry)
        self.duration = Histogram("fcompile_serve_request_duration_seconds", "Time from request to response.",
                                  ("endpoint", "feature_service"), registry=registry, buckets=LATENCY_BUCKETS)
        self.errors = Counter("fcompile_serve_errors", "Requests that failed, by diagnostic code.",
                              ("endpoint", "feature_service", "code"), registry=registry)
        self.rows_read = Counter("fcompile_serve_rows_read", "Entity rows read from the online store.",
                                 ("endpoint", "feature_service"), registry=registry)
        self.rows_written = Counter("fcompile_serve_rows_written", "Rows written by push and write-to-online-store.",
                                    ("endpoint", "name"), registry=registry)
        self.reloads = Counter("fcompile_serve_reloads", "Reloads of the project after its files changed.",
                               ("result",), registry=registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        # per label combination: [requests, seconds, rows read, requests per latency bucket], not yet written
        self._pending: dict[tuple[str, str, int], list] = {}
        self._deferred = True  # False if this prometheus_client's histograms cannot take a bucket's count at once

    def record(self, endpoint: str, service: str, status: int, seconds: float, rows_read: int = 0,
               error_code: str | None = None) -> None:
        key = (endpoint, service, status)
        pending = self._pending.get(key)
        if pending is None:
            children = self._children_of(key)
            if not self._deferred:
                children[0].inc()
                children[1].observe(seconds)
                if rows_read:
                    children[2].inc(rows_read)
                if error_code is not None:
                    self.errors.labels(endpoint, service, error_code).inc()
                return
            pending = self._pending[key] = [0, 0.0, 0, [0] * (len(LATENCY_BUCKETS) + 1)]
        pending[0] += 1
        pending[1] += seconds
        pending[2] += rows_read
        pending[3][bisect_left(LATENCY_BUCKETS, seconds)] += 1  # the first bucket whose bound is >= seconds
        if error_code is not None:
            self.errors.labels(endpoint, service, error_code).inc()

    def flush(self) -> None:
        """Write the requests recorded since the last flush to the metrics."""
        pending, self._pending = self._pending, {}
        for key, (count, seconds, rows, buckets) in pending.items():
            requests, duration, rows_read = self._children_of(key)
            requests.inc(count)
            duration._sum.inc(seconds)  # what `observe` does per value, for a bucket's values at once
            for bucket, observed in zip(duration._buckets, buckets):
                if observed:
                    bucket.inc(observed)
            if rows:
                rows_read.inc(rows)

    def _children_of(self, key: tuple[str, str, int]) -> tuple[Any, Any, Any]:
        children = self._children.get(key)
        if children is None:
            endpoint, service, status = key
            children = self._children[key] = (self.requests.labels(endpoint, service, str(status)),
                                              self.duration.labels(endpoint, service),
                                              self.rows_read.labels(endpoint, service))
            histogram = children[1]
            if not (hasattr(histogram, "_sum") and len(getattr(histogram, "_buckets", ())) == len(LATENCY_BUCKETS) + 1):
                self._deferred = False
        return children

    def written(self, endpoint: str, name: str, rows: int) -> None:
        if rows:
            self.rows_written.labels(endpoint, name).inc(rows)

    def reloaded(self, ok: bool) -> None:
        self.reloads.labels("success" if ok else "error").inc()

    def exposition(self) -> bytes:
        from prometheus_client import CollectorRegistry, generate_latest

        self.flush()
        if self._registry is not None:
            return generate_latest(self._registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
