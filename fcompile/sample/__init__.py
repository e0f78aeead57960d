"""The driver-ranking sample project: its spec files and a deterministic data generator.

`init_project` is what `fcompile init --sample` (or a test, or a benchmark) calls to get a complete,
runnable project in a fresh directory. The spec files ship inside the package under `project/` and are read
through `importlib.resources`, so this works from a wheel as well as from a source checkout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from fcompile.sample.data import DEFAULT_AS_OF, data_end, generate_sample_data

__all__ = ["DEFAULT_AS_OF", "InitResult", "generate_sample_data", "init_project", "sample_spec_files"]

_EXCLUDED_DIRS = frozenset({"seeds", "data", "target", ".fcompile", "__pycache__"})
"""Never copied: generated data and build output that may exist in a developer's checkout of the sample."""


@dataclass(frozen=True)
class InitResult:
    """What `init_project` wrote: where, which spec files, and how many rows per generated seed file."""

    destination: Path
    spec_files: tuple[PurePosixPath, ...]
    rows: Mapping[str, int]
    """Rows per seed file name (under `seeds/`), e.g. {"orders.parquet": 5000}."""
    data_end: datetime
    """The moment (UTC) the generated data ends at: `as_of`, floored to the minute."""

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def init_project(dest: Path, *, scale: float = 1.0, seed: int = 42, as_of: datetime = DEFAULT_AS_OF) -> InitResult:
    """Create the sample project in `dest` (spec files plus its data as seeds, ending at `as_of`, floored to the
    minute; see `fcompile.sample.data`) and return what was written.

    Refuses a non-empty `dest` so that it can never overwrite someone's work; missing parents are created.
    """
    dest = Path(dest)
    end = data_end(as_of)
    _ensure_empty_directory(dest)
    spec_files = tuple(sample_spec_files())
    root = _sample_root()
    for relative in spec_files:
        source = root.joinpath(*relative.parts)
        target = dest.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    rows = generate_sample_data(dest, scale=scale, seed=seed, as_of=end)
    return InitResult(destination=dest, spec_files=spec_files, rows=MappingProxyType(dict(rows)), data_end=end)


def sample_spec_files() -> list[PurePosixPath]:
    """Relative paths of the sample's files (YAML specs and README), sorted, without generated data."""
    return sorted(_walk(_sample_root(), PurePosixPath()))


def _sample_root() -> Traversable:
    return resources.files(__name__).joinpath("project")


def _walk(node: Traversable, relative: PurePosixPath) -> Iterator[PurePosixPath]:
    for child in node.iterdir():
        if child.is_dir():
            if child.name not in _EXCLUDED_DIRS:
                yield from _walk(child, relative / child.name)
        elif child.is_file():
            yield relative / child.name


def _ensure_empty_directory(dest: Path) -> None:
    if dest.exists():
        if not dest.is_dir():
            raise FileExistsError(f"cannot create the sample project at {dest}: it exists and is not a directory")
        if any(dest.iterdir()):
            raise FileExistsError(f"cannot create the sample project in {dest}: the directory is not empty")
    dest.mkdir(parents=True, exist_ok=True)
