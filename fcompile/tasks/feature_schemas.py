"""`fcompile profile --infer-schema` (issue 18): a TFDV `Schema` (text proto) inferred from a profile.

Per feature, as TFDV's `infer_schema` writes them:
- `type`: INT (integers, booleans, times, dates), FLOAT (floats), BYTES (strings, bytes, arrays of them);
- `presence`: `min_count: 1` and `min_fraction`, the share of rows with a value, rounded down to two decimals
  (1.0 for a feature that had no NULL);
- `value_count {min: 1 max: 1}` for a feature that is not an array: one value per row;
- booleans: `bool_domain {}`;
- strings: a string domain (`domain:` naming a top-level `string_domain` of the feature's name) holding every
  value seen, when the profile's most frequent values account for every non-NULL row - at most
  `TOP_VALUES` distinct values. TFDV's rule is the same with a limit of 100 values by default
  (`max_string_domain_size`); a profile keeps its 10 most frequent values, so here the limit is 10;
- with `value_ranges`: integers get `int_domain {min max}` and floats `float_domain {min max}`, the range seen.
  TFDV infers no range; a range set from one profile is only as wide as that profile's data.
"""

from __future__ import annotations

import math
import os
from typing import Any

from fcompile.diagnostics import Code, Diagnostic, DiagnosticError
from fcompile.tasks.profiles import FeatureProfile, Profile

SCHEMAS_DIR = "schemas"


def schema_pb2() -> Any:
    from fcompile.tasks.profile_files import statistics_protos

    statistics_protos()  # FC167 when tensorflow-metadata is missing
    from tensorflow_metadata.proto.v0 import schema_pb2 as pb

    return pb


def infer_schema(profile: Profile, value_ranges: bool = False) -> Any:
    """The `Schema` of a profile's features (see the module's docstring)."""
    pb = schema_pb2()
    schema = pb.Schema()
    domains = []
    for feature in profile.features:
        out = schema.feature.add()
        out.name = feature.name
        _infer_feature(pb, profile, feature, out, value_ranges, domains)
    for name, values in domains:
        domain = schema.string_domain.add()
        domain.name = name
        domain.value.extend(values)
    return schema


def _infer_feature(pb, profile: Profile, feature: FeatureProfile, out, value_ranges: bool, domains: list) -> None:
    dtype = feature.dtype
    element = dtype.element.name if dtype.element is not None else dtype.name
    out.type = pb.BYTES if element in ("string", "bytes") else pb.FLOAT if element in ("float32", "float64") else pb.INT
    rows = feature.present + feature.missing
    out.presence.min_count = 1
    out.presence.min_fraction = math.floor(feature.present / rows * 100) / 100 if rows else 1.0
    if not dtype.is_array:
        out.value_count.min = out.value_count.max = 1
    if element == "bool":
        out.bool_domain.SetInParent()
    strings = feature.strings
    if strings is not None and strings.top_values and sum(c for _, c in strings.top_values) == feature.present:
        out.domain = feature.name
        domains.append((feature.name, sorted(v for v, _ in strings.top_values)))
    numbers = feature.numbers
    if value_ranges and numbers is not None and element != "bool" and feature.kind == "number":
        if out.type == pb.FLOAT:
            out.float_domain.min, out.float_domain.max = numbers.min, numbers.max
        else:
            out.int_domain.min, out.int_domain.max = int(numbers.min), int(numbers.max)


def schema_path(root: str, view: str) -> str:
    return os.path.join(root, SCHEMAS_DIR, f"{view}.pbtxt")


def write_schema(schema: Any, path: str, header: str) -> None:
    """Write `schema` in text format at `path` (its folder made), after `header` as comment lines; FC191 when
    it cannot be written."""
    from google.protobuf import text_format

    text = "".join(f"# {line}\n" for line in header.splitlines()) + text_format.MessageToString(schema)
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as error:
        raise DiagnosticError([Diagnostic(Code.SCHEMA_OUTPUT, f"the schema cannot be written to {path}: "
                                          f"{error.strerror or error}", None,
                                          "give a writable path with --output")]) from None
