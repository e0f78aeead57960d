"""`fcompile seed`: load the project's seed files (`seeds/`, fcompile/parser/seeds.py) into tables of the
target's offline engine, each replacing the table of its name.

Each seed is read a batch at a time (Parquet by row groups, CSV by blocks, as spine files are read) and
handed to the runner's `load_table`, which loads the rows under another name and swaps the table in, so a
failed load leaves the old table as it was. Seeds load one after the other; one that fails is reported and
the others still load.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, Sequence

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position, did_you_mean
from fcompile.parser.seeds import ProjectSeeds, Seed
from fcompile.runners.base import Runner

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class SeedResult:
    name: str
    status: str               # "success" or "error"
    table: str                # the table as the engine names it (the seed's name when the load failed)
    rows: int | None
    seconds: float
    diagnostics: tuple[Diagnostic, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status == "success"


class SeedProgress(Protocol):
    """Told how a load goes (the CLI draws a bar per seed, or prints lines in a log)."""

    def start(self, seed: Seed, total_rows: int | None) -> None: ...

    def advance(self, seed: Seed, rows: int) -> None: ...

    def done(self, result: SeedResult) -> None: ...


class _Silent:
    def start(self, seed: Seed, total_rows: int | None) -> None:
        pass

    def advance(self, seed: Seed, rows: int) -> None:
        pass

    def done(self, result: SeedResult) -> None:
        pass


def select_seeds(seeds: ProjectSeeds, names: Sequence[str] = ()) -> list[Seed]:
    """The seeds named (each value may hold several names separated by spaces or commas), in the order of
    their names; every seed when none is named. Raises FC090 for a name that is no seed."""
    seeds.raise_problems()
    wanted = [name for value in names for name in value.replace(",", " ").split()]
    if not wanted:
        return [seeds.seeds[name] for name in sorted(seeds.seeds)]
    unknown = [name for name in wanted if name not in seeds.seeds]
    if unknown:
        known = sorted(seeds.seeds)
        raise DiagnosticError([Diagnostic(
            Code.BAD_ARGUMENT, f"no seed named '{name}' in seeds/", None,
            did_you_mean(name, known) or (f"seeds: {', '.join(known)}" if known else
                                          "put Parquet or CSV files under seeds/; each is the seed of its stem"))
            for name in unknown])
    return [seeds.seeds[name] for name in sorted(set(wanted))]


def load_seeds(runner: Runner, seeds: Sequence[Seed], progress: SeedProgress | None = None) -> list[SeedResult]:
    """Load each seed into its table; a failure is reported in its result and the next seed still loads."""
    progress = progress or _Silent()
    results = []
    for seed in seeds:
        result = load_seed(runner, seed, progress)
        progress.done(result)
        results.append(result)
    return results


def load_seed(runner: Runner, seed: Seed, progress: SeedProgress | None = None) -> SeedResult:
    progress = progress or _Silent()
    started = time.perf_counter()
    read_errors: list[DiagnosticError] = []
    try:
        data, total = _read_seed(seed)
        progress.start(seed, total)
        loaded = runner.load_table(_counted(data, seed, progress, read_errors), seed.name, seed.description)
    except DiagnosticError as error:
        # a file that stops reading part-way fails the engine's load: say what the file's reader said
        found = read_errors[0] if read_errors else error
        problems = tuple(_in_context(d, seed) for d in found.diagnostics)
        return SeedResult(seed.name, "error", seed.name, None, time.perf_counter() - started, problems)
    return SeedResult(seed.name, "success", loaded.table, loaded.rows, time.perf_counter() - started)


def _read_seed(seed: Seed) -> tuple[pa.RecordBatchReader, int | None]:
    """The seed's rows as a reader, and how many there are where the file says (Parquet's footer)."""
    from fcompile.parser.seeds import seed_schema
    from fcompile.runners.external import read_spine_files

    seed_schema(seed)  # FC004 naming the file, before anything is loaded
    total = None
    if seed.file_format == "parquet":
        import pyarrow.parquet as pq

        total = pq.read_metadata(seed.path).num_rows  # the footer only; no file left open
    return read_spine_files([seed.path], seed.description), total


def _counted(data: pa.RecordBatchReader, seed: Seed, progress: SeedProgress,
             read_errors: list[DiagnosticError]) -> pa.RecordBatchReader:
    """The rows, telling `progress` of each batch taken; a reading error is also kept in `read_errors`."""
    import pyarrow as pa

    def batches():
        try:
            for batch in data:
                yield batch
                progress.advance(seed, batch.num_rows)
        except DiagnosticError as error:
            read_errors.append(error)
            raise

    return pa.RecordBatchReader.from_batches(data.schema, batches())


def _in_context(diagnostic: Diagnostic, seed: Seed) -> Diagnostic:
    label = f"seed '{seed.name}'"
    message = diagnostic.message if diagnostic.message.startswith(label) else f"{label}: {diagnostic.message}"
    return replace(diagnostic, message=message, position=diagnostic.position or Position(seed.path))
