"""Build benchmark: `fcompile build --dialect all` on a generated project of 1,000 feature views.

Prints each figure beside a baseline measured in the same run: sqlglot parsing and pretty-printing the
very statements the build emits, each in its dialect, in one process - about the least any compiler that
prints its SQL through sqlglot pays (no lowering, no identifier rules, no re-parse check).
Target (from the issue): under 5 s on the project's 2-core machine. The CLI is timed as a user runs it
(a new process each time): fully cold (no parse or compile cache, no target/), with only the parse cache,
with nothing changed, `--check`, and after editing one spec file. `--profile` shows where a cold build's
time goes.

    python bench/build_bench.py [--views 1000] [--features 20] [--dialect all] [--repeat 3] [--profile]
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
    compile_project, expected_target, read_tree, resolve_dialects, write_target,
)
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


def stage_seconds(root: Path, dialects: tuple[str, ...]) -> list[tuple[str, float]]:
    """Wall seconds of each stage of a fully cold build, in this process (imports already done)."""
    shutil.rmtree(root / ".fcompile", ignore_errors=True)
    parse, graph = timed(lambda: load_project(root))
    compile_, result = timed(lambda: compile_project(graph, dialects))
    manifest, state = timed(lambda: expected_target(graph, result, root / "target"))
    write, _ = timed(lambda: write_target(state))
    return [("parse the YAML (no parse cache)", parse), ("plan, generate each shape, fill every file", compile_),
            ("manifest", manifest), ("write target/", write)]


def profile_cold_build(root: Path, dialects: tuple[str, ...]) -> str:
    """Shares of a serial cold build's time, by stage (cProfile inflates every share alike)."""
    profiler = cProfile.Profile()
    profiler.enable()
    build_in_process(root, dialects, use_cache=False, workers=1)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    total = max(row[3] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = stats.stats  # type: ignore[attr-defined]

    def cumulative(func: str, module: str) -> float:
        return sum(row[3] for (path, _, name), row in rows.items() if name == func and module in path)

    stages = [
        ("parsing the project", cumulative("load_project", "parser/__init__")),
        ("planning and file headers", cumulative("plan", "artifacts/queries")),
        ("shapes of the plans", cumulative("shape_of", "dialects/shapes")),
        ("lowering the shapes to sqlglot trees", cumulative("compile_select", "dialects/__init__")
         + cumulative("lower_build_dataset", "dialects/datasets")),
        ("generating their SQL (incl. the re-parse check)", cumulative("generate", "dialects/base")),
        ("  of which the re-parse check", cumulative("parse", "sqlglot/__init__")),
        ("filling the templates with names", cumulative("fill", "dialects/shapes")),
        ("manifest", cumulative("expected_target", "artifacts/build")),
        ("writing target/", cumulative("write_target", "artifacts/build")),
    ]
    return "\n".join(f"  {label:48s} {seconds / total:6.1%}" for label, seconds in stages)


def fresh_copy(source: Path, parent: Path) -> Path:
    """The project's YAML in a new folder: no caches, no target/ (and no large deletion just before a
    timed run, which makes file creation slow on disks mounted with `discard`)."""
    copy = Path(tempfile.mkdtemp(dir=parent)) / "project"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns(".fcompile", "target"))
    return copy


def best_cli(runs: int, prepare, *args: str) -> float:
    best = float("inf")
    for _ in range(runs):
        root = prepare()
        best = min(best, cli(root, *args))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=1000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--dialect", default="all")
    parser.add_argument("--repeat", type=int, default=3, help="runs per CLI figure (the best is kept)")
    parser.add_argument("--profile", action="store_true", help="profile a cold build of 100 views")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fcompile-build-bench-"))
    try:
        source = work / "source"
        generate_project(source, args.views, args.features)
        dialects = resolve_dialects(load_project(source), args.dialect)
        flag = ("--dialect", args.dialect)

        def with_parse_cache() -> Path:
            root = fresh_copy(source, work)
            load_project(root)  # fills .fcompile/parse-cache.bin only
            return root

        fully_cold = best_cli(args.repeat, lambda: fresh_copy(source, work), *flag)
        cold_compile = best_cli(args.repeat, with_parse_cache, *flag)
        built = fresh_copy(source, work)
        cli(built, *flag)
        warm = min(cli(built, *flag) for _ in range(args.repeat))
        check = cli(built, *flag, "--check")
        spec = sorted((built / "features").glob("*.yml"))[0]
        spec.write_text(spec.read_text().replace("ttl: 1d", "ttl: 2d", 1))
        edited = cli(built, *flag)
        files = read_tree(built / "target" / "compiled")
        base = sqlglot_baseline(files)
        stages = stage_seconds(fresh_copy(source, work), dialects)

        print(f"project: {args.views} feature views x {args.features} features; dialects: {', '.join(dialects)}; "
              f"{len(files):,} files")
        print(f"{'what (CLI figures: best of ' + str(args.repeat) + ', process start included)':64s} "
              f"{'seconds':>8s} {'x baseline':>11s}  target < {TARGET_SECONDS:g} s")
        rows = [
            ("sqlglot parse + pretty-print of the same SQL, baseline", base),
            ("fcompile build, fully cold (no caches, no target/)", fully_cold),
            ("fcompile build, cold compile (parse cache only)", cold_compile),
            ("fcompile build, warm (nothing changed)", warm),
            ("fcompile build --check, warm", check),
            ("fcompile build, one spec file edited", edited),
        ]
        for name, seconds in rows:
            verdict = "" if "baseline" in name else ("ok" if seconds < TARGET_SECONDS else "over")
            print(f"{name:64s} {seconds:8.2f} {seconds / base:11.3f}  {verdict}")
        print("a fully cold build, in process, by stage:")
        for name, seconds in stages:
            print(f"  {name:62s} {seconds:8.2f}")
        if args.profile:
            small = work / "profile"
            generate_project(small, 100, args.features)
            print(f"where a cold, serial build's time goes (100 views, {', '.join(dialects)}):")
            print(profile_cold_build(small, dialects))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
