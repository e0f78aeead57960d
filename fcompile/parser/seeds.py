"""Seeds: data files kept with the project, under `seeds/`, that `fcompile seed` loads into tables.

A Parquet or CSV file at any depth below `seeds/` is the seed named by its stem: `seeds/raw/orders.csv`
becomes the table `orders` of the target's offline engine, in the schema (or dataset) where the runner
reads and writes its other tables. A `table:` source that names a seed (without a schema) takes its columns
and dtypes from the file at compile time: validation checks them as it checks a Parquet `path:` source, and
a dataset whose spine is such a source compiles for the dialects that must list a spine's columns.

A seed's name is an identifier like every other name of a project; a file whose stem is not one, or two
files with the same stem, are errors naming the files. CSV columns are typed by pyarrow's inference over
the file's first block (the same reading `fcompile seed` loads), Parquet columns by the file's schema.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError, Position
from fcompile.graph import DType
from fcompile.parser.file_schemas import file_schema_cache, schema_of_arrow

if TYPE_CHECKING:
    import pyarrow as pa

SEEDS_FOLDER = "seeds"
SEED_SUFFIXES = {".parquet": "parquet", ".csv": "csv"}


@dataclass(frozen=True)
class Seed:
    """One seed file: the table it becomes and where it is."""

    name: str        # the table: the file's stem
    path: str        # absolute
    relative: str    # as messages name it: seeds/orders.parquet (forward slashes)

    @property
    def file_format(self) -> str:
        return SEED_SUFFIXES[os.path.splitext(self.path)[1].lower()]

    @property
    def description(self) -> str:
        return f"the seed file {self.relative}"


@dataclass(frozen=True)
class ProjectSeeds:
    """The seeds of a project by name, and what is wrong with its `seeds/` folder."""

    seeds: dict[str, Seed]
    problems: tuple[Diagnostic, ...] = ()

    def get(self, table: str) -> Seed | None:
        """The seed a `table:` locator names: an unqualified name equal to a seed's."""
        return self.seeds.get(table)

    def raise_problems(self) -> None:
        if self.problems:
            raise DiagnosticError(list(self.problems))


def find_seeds(root: str | os.PathLike[str]) -> ProjectSeeds:
    """Every Parquet and CSV file below `root/seeds/` (hidden files and folders skipped), by stem."""
    from fcompile.parser.values import identifier_problems

    folder = os.path.join(os.fspath(root), SEEDS_FOLDER)
    found: dict[str, Seed] = {}
    problems: list[Diagnostic] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for file_name in sorted(filenames):
            stem, suffix = os.path.splitext(file_name)
            if file_name.startswith(".") or suffix.lower() not in SEED_SUFFIXES:
                continue
            path = os.path.join(dirpath, file_name)
            relative = os.path.relpath(path, root).replace(os.sep, "/")
            where = Position(path)
            bad = identifier_problems(stem)
            if bad:
                problems.extend(Diagnostic(p.code, f"seed file {relative}: the table name {p.message}",
                                           where, f"rename the file: {p.hint}" if p.hint else "rename the file")
                                for p in bad)
                continue
            if stem in found:
                problems.append(Diagnostic(Code.DUPLICATE_NAME, f"seed '{stem}' is defined by two files: "
                                           f"{found[stem].relative} and {relative}", where,
                                           "a seed's table is named by its file's stem: rename or remove one"))
                continue
            found[stem] = Seed(stem, path, relative)
    return ProjectSeeds(found, tuple(problems))


def seed_schema(seed: Seed) -> pa.Schema:
    """The seed's Arrow schema: the Parquet footer, or pyarrow's inference over a CSV file's first block.
    Raises FC004 for a file that cannot be read as its suffix says."""
    stat = os.stat(seed.path)
    return _schema(seed.path, seed.file_format, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=256)
def _schema(path: str, file_format: str, _mtime_ns: int, _size: int) -> pa.Schema:
    """Cached by the file's modification time and size: a build asks once per dataset and dialect."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    try:
        if file_format == "csv":
            with pa_csv.open_csv(path) as reader:
                return reader.schema
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DiagnosticError([Diagnostic(Code.FILE_UNREADABLE, f"cannot read the seed file {os.path.basename(path)} "
                                          f"as {file_format.upper()}: {reason}", Position(path),
                                          f"is it a valid {file_format.upper()} file?")]) from None


def seed_columns(seed: Seed) -> dict[str, DType | None]:
    """The seed's columns and their dtypes (None where no dtype corresponds to the file's type), in file order,
    from the file's cached summary (fcompile/parser/file_schemas.py): no pyarrow import once it is known."""
    return file_schema_cache().schema(seed.path, seed.file_format,
                                      lambda _path: schema_of_arrow(seed_schema(seed))).dtypes()
