"""A feature view's `schema:` (issue 18): a TFDV `Schema` in text format, read and checked at parse time.

The path is relative to the project folder. The file must exist, parse as a
`tensorflow.metadata.v0.Schema` text proto (a syntax error is reported at its line and column in the file),
and should name only features of the view (a feature it names that the view lacks is a warning, at the
line that names it). What `fcompile test` checks against it is in fcompile/tasks/schema_checks.py.
"""

from __future__ import annotations

import os
import re
from typing import Any

from fcompile.diagnostics import Code, Diagnostic, Position
from fcompile.user_paths import path_not_found, resolve_path

MAX_SCHEMA_BYTES = 10 * 1024 * 1024


def schema_protos() -> Any:
    """`tensorflow_metadata.proto.v0.schema_pb2`, or None when tensorflow-metadata is not installed."""
    try:
        from tensorflow_metadata.proto.v0 import schema_pb2
    except ImportError:
        return None
    return schema_pb2


def schema_file_digest(absolute: str) -> str | None:
    """A hash of the schema file's bytes (what its checks are remembered by), or None when it cannot be
    read or is too large (then it is read and reported every time)."""
    import hashlib

    try:
        if not os.path.isfile(absolute) or os.path.getsize(absolute) > MAX_SCHEMA_BYTES:
            return None
        with open(absolute, "rb") as handle:
            return hashlib.blake2b(handle.read(), digest_size=20).hexdigest()
    except OSError:
        return None


def read_feature_schema(root: str, given: str, position: Position | None) -> tuple[Any, list[Diagnostic]]:
    """The `Schema` message the file at `given` (relative to the project folder `root`) holds, or None and the
    diagnostics (FC169) saying why it cannot be read."""
    absolute = resolve_path(given, root)
    if not os.path.isfile(absolute):
        return None, [path_not_found("schema file", given, absolute, "project", position, Code.SCHEMA_FILE)]
    pb = schema_protos()
    if pb is None:
        return None, [Diagnostic(Code.SCHEMA_FILE, f"schema file {given}: reading it needs the tensorflow-metadata "
                                 "package, which cannot be imported", position, "pip install tensorflow-metadata")]
    try:
        if os.path.getsize(absolute) > MAX_SCHEMA_BYTES:
            raise ValueError("larger than 10 MiB")
        with open(absolute, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, ValueError) as error:
        return None, [Diagnostic(Code.SCHEMA_FILE, f"schema file {given} cannot be read: {error}", position)]
    from google.protobuf import text_format

    schema = pb.Schema()
    try:
        text_format.Parse(text, schema)
    except text_format.ParseError as error:
        line, column = error.GetLine() or 0, error.GetColumn() or 0
        message = str(error)
        message = re.sub(r"^\d+:\d+ : ", "", message)
        return None, [Diagnostic(Code.SCHEMA_FILE, f"schema file {given} is not a TFDV Schema in text format: "
                                 f"{message}", Position(absolute, line, column),
                                 "write it with `fcompile profile --infer-schema`, or fix the line")]
    return schema, []


def check_schema_features(schema: Any, feature_names: list[str], absolute: str, label: str) -> list[Diagnostic]:
    """FC190 for each feature the schema names that the view does not have (at the line naming it)."""
    problems = []
    with open(absolute, encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    known = set(feature_names)
    for feature in schema.feature:
        if feature.name in known:
            continue
        problems.append(Diagnostic(
            Code.SCHEMA_FEATURE, f"{label}: its schema names feature '{feature.name}', which the view does not have",
            _line_naming(lines, feature.name, absolute),
            f"the view's features: {', '.join(feature_names)}; remove it from the schema, or infer the schema "
            "again with `fcompile profile --infer-schema`"))
    return problems


def _line_naming(lines: list[str], name: str, path: str) -> Position:
    pattern = re.compile(r'^(\s*)name\s*:\s*["\']' + re.escape(name) + r'["\']')
    for number, line in enumerate(lines, start=1):
        found = pattern.match(line)
        if found:
            return Position(path, number, len(found.group(1)) + 1)
    return Position(path)
