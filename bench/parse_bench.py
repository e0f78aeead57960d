"""Parse benchmark: load and resolve a project of 1,000 feature views x 20 features.

Prints fcompile's time beside a baseline measured in the same run: PyYAML with libyaml loading the
same files into plain dicts (no positions, no checks) - the least any YAML-reading tool pays.
Target (issue #2): under 1 s on the project's 2-core machine. The `validate` CLI rows also compile
every node for the target's dialect in memory (what `build` would report); the parse rows do not.

    python bench/parse_bench.py [--views 1000] [--features 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from fcompile.parser import discover_spec_files, parse_project


def generate_project(root: Path, views: int, features: int, files: int = 10) -> None:
    """A project in the sample's shape: entities, file/table sources, views, services."""
    (root / "features").mkdir(parents=True)
    (root / "fcompile_project.yml").write_text(
        "name: bench\ndefault_target: dev\ntargets:\n"
        "  dev:\n    offline: {type: duckdb, path: .fcompile/offline.duckdb}\n"
        "    online: {type: sqlite, path: .fcompile/online.db}\n")
    per_file = views // files
    for f in range(files):
        first = f * per_file
        doc = {
            "entities": [{"name": f"entity_{first + i}", "join_keys": [{"name": f"key_{first + i}", "dtype": "int64"}],
                          "description": "benchmark entity"} for i in range(0, per_file, 10)],
            "sources": [{"name": f"source_{first + i}", "table": f"raw.events_{first + i}",
                         "timestamp_field": "event_timestamp", "created_timestamp_field": "created"}
                        for i in range(per_file)],
            "feature_views": [{
                "name": f"view_{first + i}", "entities": [f"entity_{first + i - i % 10}"],
                "source": f"source_{first + i}", "ttl": ["2h", "1d", "P7D"][i % 3],
                "tags": {"team": f"team_{i % 5}"}, "owner": "ml-platform@example.com",
                "features": [{"name": f"feature_{j}", "dtype": ["float64", "int64", "string"][j % 3],
                              "description": f"feature {j} of view {first + i}"} for j in range(features)],
            } for i in range(per_file)],
            "feature_services": [{
                "name": f"service_{first + i}",
                "features": [f"view_{first + i}:feature_{j}" for j in range(5)]
                + [{"view": f"view_{first + i + 1}", "features": ["feature_10", "feature_11"], "alias": "other"}],
            } for i in range(0, per_file - 1, 10)],
        }
        (root / "features" / f"file_{f:02d}.yml").write_text(yaml.safe_dump(doc, sort_keys=False))


def best_of(repeat: int, fn) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def cli_seconds(root: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fcompile", "validate", "--project-dir", str(root)],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fcompile-parse-bench-"))
    try:
        generate_project(root, args.views, args.features)
        files = discover_spec_files(root)
        lines = sum(p.read_text().count("\n") for p in files)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

        def baseline() -> None:
            for path in files:
                yaml.load(path.read_text(), Loader=loader)

        def cold() -> None:
            result = parse_project(root, use_cache=False)
            assert result.graph is not None and len(result.graph.feature_views) == args.views, result.diagnostics[:3]

        def warm() -> None:
            assert parse_project(root).graph is not None

        parse_project(root)  # fill the partial-parse cache
        edited = files[0]
        original = edited.read_text()

        def one_file_edited() -> None:
            edited.write_text(original.replace("benchmark entity", f"edited {time.perf_counter()}", 1))
            assert parse_project(root).graph is not None

        base = best_of(args.repeat, baseline)
        rows = [
            ("yaml.load (libyaml), baseline", base),
            ("fcompile parse, cold (no cache)", best_of(args.repeat, cold)),
            ("fcompile parse, warm (no change)", best_of(args.repeat, warm)),
            ("fcompile parse, one file edited", best_of(args.repeat, one_file_edited)),
        ]
        edited.write_text(original)
        parse_project(root)
        rows.append(("fcompile validate CLI, warm", min(cli_seconds(root) for _ in range(args.repeat))))
        shutil.rmtree(root / ".fcompile", ignore_errors=True)
        rows.append(("fcompile validate CLI, cold", cli_seconds(root)))

        print(f"project: {args.views} feature views x {args.features} features, {len(files)} files, {lines:,} lines")
        print(f"{'what':40s} {'seconds':>8s} {'x baseline':>11s}  target < 1 s")
        for name, seconds in rows:
            verdict = "" if name.startswith("yaml") else ("ok" if seconds < 1.0 else "over")
            print(f"{name:40s} {seconds:8.3f} {seconds / base:11.2f}  {verdict}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
