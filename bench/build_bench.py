"""Build benchmark: `fcompile build --dialect all` on a generated project of 1,000 feature views.

Prints each figure beside a baseline measured in the same run: sqlglot parsing and pretty-printing the
very statements the build emits, each in its dialect, in one process - about the least any compiler that
prints its SQL through sqlglot pays (no lowering, no identifier rules, no re-parse check).
Target (from the issue): under 5 s on the project's 2-core machine. `--profile` shows where a cold build's
time goes.

    python bench/build_bench.py [--views 1000] [--features 20] [--dialect all] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlglot

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_bench import generate_project  # noqa: E402  (the same generated project as the parse bench)

from fcompile.artifacts.build import (  # noqa: E402
    compile_project, expected_target, resolve_dialects, write_target,
)
from fcompile.artifacts.compile_cache import CACHE_FILE  # noqa: E402
from fcompile.dialects import DIALECTS  # noqa: E402
from fcompile.parser import load_project  # noqa: E402

TARGET_SECONDS = 5.0


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def build_in_process(root: Path, dialects: tuple[str, ...], use_cache: bool, workers: int | None = None):
    graph = load_project(root)
    result = compile_project(graph, dialects, use_cache=use_cache, workers=workers)
    assert result.ok, result.diagnostics[:3]
    write_target(expected_target(graph, result, root / "target"))
    return result


def cli(root: Path, *args: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "fcompile", "build", "--project-dir", str(root), *args],
                   check=True, capture_output=True)
    return time.perf_counter() - start


def sqlglot_baseline(files: dict[str, bytes]) -> float:
    """Parse and pretty-print every emitted statement in its dialect (header comments stripped)."""
    texts = []
    for path, content in files.items():
        body = "\n".join(line for line in content.decode().splitlines() if not line.startswith("-- "))
        texts.append((DIALECTS[path.split("/", 1)[0]].sqlglot_name, body))
    start = time.perf_counter()
    for read, body in texts:
        for statement in sqlglot.parse(body, read=read):
            statement.sql(dialect=read, pretty=True)
    return time.perf_counter() - start


def profile_cold_build(root: Path, dialects: tuple[str, ...]) -> str:
    """Shares of a serial cold build's time, by stage (cProfile inflates every share alike)."""
    profiler = cProfile.Profile()
    profiler.enable()
    build_in_process(root, dialects, use_cache=False, workers=1)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = max(row[3] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = stats.stats  # type: ignore[attr-defined]

    def cumulative(func: str, module: str, caller: tuple[str, str] | None = None) -> float:
        """Seconds in `func` of `module`, or only in its calls made by `caller` (function, module)."""
        seconds = 0.0
        for (path, _, name), row in rows.items():
            if name != func or module not in path:
                continue
            if caller is None:
                seconds += row[3]
            else:
                seconds += sum(c[3] for (cpath, _, cname), c in row[4].items()
                               if cname == caller[0] and caller[1] in cpath)
        return seconds

    generate = ("generate", "dialects/base")
    stages = [
        ("lowering: plan -> sqlglot tree", cumulative("compile_select", "dialects/__init__")
         + cumulative("lower_build_dataset", "dialects/datasets")),
        ("SqlDialect.generate, all of it", cumulative(*generate)),
        ("  its tree copy (Expression.copy)", cumulative("copy", "expressions", generate)),
        ("  identifier normalization and quoting", cumulative("finish", "dialects/base", generate)),
        ("  Expression.sql (the text)", cumulative("sql", "expressions", generate)),
        ("  re-parse check (sqlglot.parse)", cumulative("parse", "sqlglot/__init__", generate)),
        ("all Expression.copy calls (builders copy too)", cumulative("copy", "expressions")),
        ("planning and file headers", cumulative("plan", "artifacts/queries")),
        ("writing target/", cumulative("write_target", "artifacts/build")),
    ]
    lines = [f"  {label:46s} {seconds / total:6.1%}" for label, seconds in stages]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--dialect", default="all")
    parser.add_argument("--profile", action="store_true", help="profile a cold build of 100 views")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="fcompile-build-bench-"))
    try:
        generate_project(root, args.views, args.features)
        dialects = resolve_dialects(load_project(root), args.dialect)
        parse_seconds, _ = timed(lambda: load_project(root))
        (root / CACHE_FILE).unlink(missing_ok=True)
        cold, result = timed(lambda: build_in_process(root, dialects, use_cache=True))  # fills the cache
        files = result.files  # type: ignore[attr-defined]
        base = sqlglot_baseline(files)
        warm = min(cli(root, "--dialect", args.dialect) for _ in range(2))
        check = cli(root, "--dialect", args.dialect, "--check")
        spec = sorted((root / "features").glob("*.yml"))[0]
        spec.write_text(spec.read_text().replace("ttl: 1d", "ttl: 2d", 1))
        edited = cli(root, "--dialect", args.dialect)

        statements = len(files)
        print(f"project: {args.views} feature views x {args.features} features; dialects: {', '.join(dialects)}; "
              f"{statements:,} files")
        print(f"{'what':52s} {'seconds':>8s} {'x baseline':>11s}  target < {TARGET_SECONDS:g} s")
        rows = [
            ("sqlglot parse + pretty-print of the same SQL, baseline", base),
            ("fcompile parse only (warm parse cache)", parse_seconds),
            ("fcompile build, cold (empty compile cache), in process", cold),
            ("fcompile build CLI, warm (nothing changed)", warm),
            ("fcompile build --check CLI, warm", check),
            ("fcompile build CLI, one spec file edited", edited),
        ]
        for name, seconds in rows:
            verdict = "" if "baseline" in name or "parse only" in name else (
                "ok" if seconds < TARGET_SECONDS else "over")
            print(f"{name:52s} {seconds:8.2f} {seconds / base:11.2f}  {verdict}")
        print(f"cold: {cold / statements * 1000:.1f} ms per file (all CPUs); "
              f"baseline: {base / statements * 1000:.1f} ms per file (one CPU)")
        if args.profile:
            small = Path(tempfile.mkdtemp(prefix="fcompile-build-profile-"))
            try:
                generate_project(small, 100, args.features)
                print(f"where a cold, serial build's time goes (100 views, {', '.join(dialects)}):")
                print(profile_cold_build(small, dialects))
            finally:
                shutil.rmtree(small, ignore_errors=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
