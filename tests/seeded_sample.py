"""The sample project as tests use it: created and seeded (what `fcompile init` then `fcompile seed` give),
or rewritten with `path:` sources over its files for the tests of file sources.

The sample declares every source as `table: <name>` and keeps its data as seeds (`seeds/<name>.parquet`);
a test that runs it must load the seeds first, as a user runs `fcompile seed`.
"""

from __future__ import annotations

import re
from pathlib import Path

from fcompile.parser import load_project
from fcompile.parser.seeds import find_seeds
from fcompile.runners import connect_runner
from fcompile.tasks.seeds import SeedResult, load_seeds, select_seeds
from fcompile.sample import init_project

_SOURCE_TABLE = re.compile(r"^(\s+)table: (\w+)$", re.MULTILINE)  # a source's own line, not `output: {table: }`


def seed_project(root: Path, target: str | None = None) -> list[SeedResult]:
    """Every seed of the project loaded into its target's offline engine (`fcompile seed --target`)."""
    graph = load_project(root, target)
    with connect_runner(graph.project) as runner:
        results = load_seeds(runner, select_seeds(find_seeds(root)))
    assert results and all(r.ok for r in results), [d.render() for r in results for d in r.diagnostics]
    return results


def init_seeded_sample(dest: Path, scale: float = 1.0, seed: int = 42, as_of=None) -> Path:
    """The sample project in `dest`, its seeds loaded into its default target (DuckDB, in the project); its
    data ends at `as_of` (default: the sample's fixed end, 2025-01-15T00:00Z)."""
    init_project(dest, scale=scale, seed=seed, **({} if as_of is None else {"as_of": as_of}))
    seed_project(dest)
    return dest


def as_path_sample(root: Path) -> Path:
    """A sample project made into its variant with file sources: the seed files moved to `data/` and each
    `table: <name>` source made `path: data/<name>.parquet` (the sample's form before it had seeds)."""
    data = root / "data"
    data.mkdir(exist_ok=True)
    for seed in sorted((root / "seeds").glob("*.parquet")):
        seed.rename(data / seed.name)
    (root / "seeds").rmdir()
    for spec in sorted(root.rglob("*.yml")):
        if spec.name != "fcompile_project.yml":
            spec.write_text(_SOURCE_TABLE.sub(r"\1path: data/\2.parquet", spec.read_text()))
    return root


def init_path_sample(dest: Path, scale: float = 1.0, seed: int = 42) -> Path:
    """The sample project with file sources (`path: data/<name>.parquet`) in `dest`: nothing to seed."""
    init_project(dest, scale=scale, seed=seed)
    return as_path_sample(dest)
