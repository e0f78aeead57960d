"""What checks and plans need from a data file's schema, read once per version of the file.

Validation checks sources and seeds against their files' columns, and planning asks which timestamp columns
are zoned or in nanoseconds. Reading a Parquet footer is cheap, but importing pyarrow to read it costs more
than the rest of `fcompile validate`. So the summary of each file (its columns and their dtypes, its zoned and
nanosecond timestamp columns) is kept in the user's cache folder, signed like the parse cache
(fcompile/parser/cache.py) and keyed by the file's absolute path, modification time and size: a later command
reads it without importing pyarrow, and a file that changed in any of them is read again. A file that cannot
be read is never cached: its error is raised again each time.
"""

from __future__ import annotations

import functools
import os
import pickle
from dataclasses import dataclass
from typing import Callable

from fcompile.graph import DType
from fcompile.parser.cache import read_signed, user_cache_folder, write_signed
from fcompile.version import __version__

_MAGIC = b"FCFS1"
_LIMIT = 1024  # files remembered; the oldest are forgotten first


@dataclass(frozen=True)
class FileSchema:
    """A data file's columns, in file order, with their dtypes (None where no dtype corresponds)."""

    columns: tuple[tuple[str, DType | None], ...]
    zoned_times: tuple[str, ...] = ()       # timestamp columns with a time zone
    nanosecond_times: tuple[str, ...] = ()  # timestamp columns in nanoseconds, zoned or not

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def dtypes(self) -> dict[str, DType | None]:
        return dict(self.columns)


def schema_of_arrow(schema) -> FileSchema:
    """The summary of a pyarrow schema."""
    import pyarrow as pa

    from fcompile.parser.arrow_dtypes import arrow_to_dtype

    times = [f for f in schema if pa.types.is_timestamp(f.type)]
    return FileSchema(tuple((f.name, arrow_to_dtype(f.type)) for f in schema),
                      tuple(f.name for f in times if f.type.tz is not None),
                      tuple(f.name for f in times if f.type.unit == "ns"))


class FileSchemaCache:
    """File summaries by (absolute path, format, inode, modification and change times, size), kept across
    processes."""

    def __init__(self) -> None:
        self.path = user_cache_folder() / "file-schemas.bin"
        self._entries: dict[tuple, FileSchema] | None = None

    def schema(self, path: str, file_format: str, read: Callable[[str], FileSchema]) -> FileSchema:
        """The summary of the file at `path`, from the cache or from `read(path)` (which may raise; nothing
        is cached then)."""
        stat = os.stat(path)
        key = (os.path.abspath(path), file_format, stat.st_ino, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_size)
        entries = self._load()
        found = entries.get(key)
        if found is None:
            found = read(path)
            entries[key] = found
            while len(entries) > _LIMIT:
                del entries[next(iter(entries))]
            write_signed(self.path, _MAGIC, pickle.dumps((__version__, entries), protocol=pickle.HIGHEST_PROTOCOL))
        return found

    def _load(self) -> dict[tuple, FileSchema]:
        if self._entries is None:
            self._entries = {}
            payload = read_signed(self.path, _MAGIC)
            if payload is not None:
                try:
                    version, entries = pickle.loads(payload)
                    if version == __version__ and isinstance(entries, dict):
                        self._entries = entries
                except Exception:  # written by another fcompile: start over
                    pass
        return self._entries


@functools.lru_cache(maxsize=1)
def file_schema_cache() -> FileSchemaCache:
    """The cache, loaded at most once per process."""
    return FileSchemaCache()


def parquet_schema(path: str) -> FileSchema:
    """The summary of a Parquet file's footer. Raises what pyarrow raises for a file it cannot read."""

    def read(file: str) -> FileSchema:
        import pyarrow.parquet as pq

        return schema_of_arrow(pq.read_schema(file))

    return file_schema_cache().schema(path, "parquet", read)
