"""Generate the shipped SQL templates (fcompile/runners/shipped_sql.json) through sqlglot.

    python -m fcompile.dialects.shipped_build           # write the file
    python -m fcompile.dialects.shipped_build --check   # exit 1 when the shipped file differs

Run when fcompile is developed, never by a user's command: a template is derived from statements generated the
usual way (`generate_statements`, `window_estimate_select`) for plans whose names are sentinels. A base plan
has one key and no feature; the same plan with one more key, or with one feature, of each dtype class gives
the unit of SQL that key or feature adds and where (a token diff: every difference must be an insertion). A
dtype class is the set of dtypes whose unit (or base) is the same text. Each base is then checked: its fill
for plans of several keys and features of mixed classes must equal sqlglot's own statement, else that base is
not shipped and such plans compile through sqlglot (fcompile/runners/shipped_sql.py says how they are filled).
"""

from __future__ import annotations

import difflib
import itertools
import json
import re
import sys
from pathlib import Path

from fcompile.dialects import generate_statements, get_dialect, session_statements
from fcompile.graph import SCALAR_DTYPES, DType
from fcompile.planner.plans import FeatureColumn, KeyColumn, LatestValues, Relation
from fcompile.runners import shipped_sql
from fcompile.runners.external import window_estimate_select
from fcompile.sql_names import IDENTIFIER_RE

DIALECTS = ("duckdb",)
FILE = Path(shipped_sql.__file__).with_name(shipped_sql.DATA_FILE)
DTYPES = [DType(n) for n in SCALAR_DTYPES] + [DType("array", DType(n)) for n in SCALAR_DTYPES]
PATHS = {"parquet": "/fcpathsentinel.parquet", "csv": "/fcpathsentinel.csv"}
TABLE_PARTS = [f"fct{i}sentinel" for i in range(shipped_sql.MAX_TABLE_PARTS)]
SOURCES = ("parquet", "csv", *(f"table{n}" for n in range(1, shipped_sql.MAX_TABLE_PARTS + 1)))
EVENT, CREATED = "fcevsentinel", "fccrsentinel"
_TOKEN = re.compile(r""""[^"]*"|'(?:[^']|'')*'|\w+|\s+|[^\w\s]""")


class NotTemplated(Exception):
    """A generated statement that the template form cannot express."""


def key_column(i: int, dtype: DType) -> KeyColumn:
    return KeyColumn(f"fck{i}nsentinel", f"fck{i}ssentinel", dtype)


def feature_column(i: int, dtype: DType) -> FeatureColumn:
    return FeatureColumn(f"fcf{i}ssentinel", f"fcf{i}osentinel", dtype)


def source_relation(source: str, zoned: tuple[str, ...]) -> Relation:
    if source.startswith("table"):
        return Relation("table", ".".join(TABLE_PARTS[:int(source[len("table"):])]), zoned)
    return Relation("path", PATHS[source], zoned)


def sentinel_plan(source: str, created: bool, event_zoned: bool, created_zoned: bool,
                  keys: list[DType], features: list[DType]) -> LatestValues:
    zoned = (EVENT,) * event_zoned + (CREATED,) * (created and created_zoned)
    return LatestValues("fcviewsentinel", source_relation(source, zoned),
                        tuple(key_column(i, d) for i, d in enumerate(keys)), EVENT, CREATED if created else None,
                        tuple(feature_column(i, d) for i, d in enumerate(features)))


def statement(dialect, kind: str, plan: LatestValues) -> str:
    if kind == "latest_values":
        (sql,) = generate_statements(plan, dialect, pretty=False)
        return sql
    return dialect.generate(window_estimate_select(dialect, plan, with_start=kind == "window_extent:start"),
                            pretty=False)


def pieces(sql: str, slots: dict[str, str]) -> list:
    """The statement as text and ["slot", name] pieces; a sentinel elsewhere than a whole quoted name or the
    path literal cannot be filled by fcompile's quoting, so it is refused."""
    out: list = []
    for token in _TOKEN.findall(sql):
        slot = slots.get(token)
        if slot is not None:
            out.append(["slot", slot])
        elif "sentinel" in token:
            raise NotTemplated(f"a sentinel inside {token!r}")
        elif out and isinstance(out[-1], str):
            out[-1] += token
        else:
            out.append(token)
    return out


def quoted_slots(names: dict[str, str]) -> dict[str, str]:
    slots = {'"' + sentinel + '"': slot for slot, sentinel in names.items()}
    slots.update({"'" + path + "'": "path" for path in PATHS.values()})
    slots.update({'"' + part + '"': f"table{i}" for i, part in enumerate(TABLE_PARTS)})
    return slots


def insertions(base: str, longer: str) -> list[tuple[int, str]]:
    """Where `longer` adds text to `base`, as (token index in base, added text); only insertions allowed."""
    a, b = _TOKEN.findall(base), _TOKEN.findall(longer)
    found = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "insert":
            found.append((i1, "".join(b[j1:j2])))
        elif op != "equal":
            raise NotTemplated(f"{op} at token {i1}")
    return found


def base_slots(created: bool) -> dict[str, str]:
    names = {"event": EVENT, "key0.name": key_column(0, DType("int64")).name,
             "key0.source": key_column(0, DType("int64")).source_column}
    if created:
        names["created"] = CREATED
    return names


UNIT_SLOTS = {"key": {"key.name": key_column(1, DType("int64")).name,
                      "key.source": key_column(1, DType("int64")).source_column},
              "feature": {"feature.source": feature_column(0, DType("int64")).source_column,
                          "feature.output": feature_column(0, DType("int64")).output_name}}


def classes(dialect, kind: str, reference: tuple, role: str) -> dict[str, str]:
    """dtype -> class name: dtypes whose statement (with one more key, or one feature, of that dtype) is the
    same text share a class."""
    texts: dict[str, str] = {}
    found = {}
    for dtype in DTYPES:
        keys, features = ([DType("int64"), dtype], []) if role == "key" else ([DType("int64")], [dtype])
        try:
            sql = statement(dialect, kind, sentinel_plan(*reference, keys, features))
        except Exception:  # a dtype the lowering refuses in this role: no class, compiled through sqlglot
            continue
        found[str(dtype)] = texts.setdefault(sql, f"{role}{len(texts)}")
    return found


def template(dialect, kind: str, structure: tuple, key_class_dtype: DType, key_reps: dict[str, DType],
             feature_reps: dict[str, DType]) -> dict | None:
    """One base's template, or None when it cannot be expressed or fails its check."""
    created = structure[1]
    base_sql = statement(dialect, kind, sentinel_plan(*structure, [key_class_dtype], []))
    points: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for role, reps in (("key", key_reps), ("feature", feature_reps)):
        for name, dtype in reps.items():
            keys, features = ([key_class_dtype, dtype], []) if role == "key" else ([key_class_dtype], [dtype])
            try:
                points[(role, name)] = insertions(base_sql, statement(dialect, kind, sentinel_plan(
                    *structure, keys, features)))
            except NotTemplated:
                continue
    # every class of a role must insert at the same places; a class that does not is left out
    units: dict[str, dict[str, list]] = {"key": {}, "feature": {}}
    where: dict[str, list[int]] = {}
    for (role, name), found in points.items():
        at = [i for i, _ in found]
        if where.setdefault(role, at) != at:
            continue
        slots = quoted_slots(UNIT_SLOTS[role])
        units[role][name] = [pieces(text, slots) for _, text in found]
    inserts = sorted([(i, role, n) for role, at in where.items() for n, i in enumerate(at)],
                     key=lambda item: (item[0], item[1] != "key"))
    tokens = _TOKEN.findall(base_sql)
    text_parts: list = []
    at = 0
    for index, role, number in inserts:
        text_parts += pieces("".join(tokens[at:index]), quoted_slots(base_slots(created))) if index > at else []
        text_parts.append(["insert", role, number])
        at = index
    text_parts += pieces("".join(tokens[at:]), quoted_slots(base_slots(created)))
    found = {"base": text_parts, "key": units["key"], "feature": units["feature"]}
    return found if _checks(dialect, kind, structure, key_class_dtype, key_reps, feature_reps, found) else None


def _checks(dialect, kind, structure, key_class_dtype, key_reps, feature_reps, found) -> bool:
    """The fill of several keys and features of mixed classes equals sqlglot's statement."""
    key_dtypes = [d for n, d in key_reps.items() if n in found["key"]]
    feature_dtypes = [d for n, d in feature_reps.items() if n in found["feature"]]
    cases = [([], []), ([], feature_dtypes[:1]), (key_dtypes[:1], []), (key_dtypes * 2, feature_dtypes * 2),
             (list(reversed(key_dtypes)), list(itertools.chain(*zip(feature_dtypes, reversed(feature_dtypes)))))]
    store, *suffix = kind.split(":")
    key_classes = {str(d): n for n, d in key_reps.items()}
    data = {"dialects": {dialect.name: {
        "session": session_statements(dialect), "key_classes": key_classes, "table_name_keywords": [],
        "feature_classes": {str(d): n for n, d in feature_reps.items()},
        store: {shipped_sql.base_key(*structure, key_classes[str(key_class_dtype)], *suffix): found}}}}
    for extra_keys, features in cases:
        plan = sentinel_plan(*structure, [key_class_dtype, *extra_keys], features)
        if store == "latest_values":
            filled = shipped_sql.latest_values_sql(plan, dialect.name, data)
            filled = None if filled is None else filled[1]
        else:
            filled = shipped_sql.window_extent_sql(plan, dialect.name, suffix == ["start"], data)
        if filled != statement(dialect, kind, plan):
            return False
    return True


def generate() -> dict:
    out: dict = {"generated_by": "python -m fcompile.dialects.shipped_build", "dialects": {}}
    for name in DIALECTS:
        dialect = get_dialect(name)
        reference = ("parquet", True, False, False)
        key_classes = classes(dialect, "latest_values", reference, "key")
        feature_classes = classes(dialect, "latest_values", reference, "feature")
        key_reps = _representatives(key_classes)
        feature_reps = _representatives(feature_classes)
        entry: dict = {"session": session_statements(dialect), "key_classes": key_classes,
                       "feature_classes": feature_classes, "table_name_keywords": table_name_keywords(dialect),
                       "latest_values": {}, "window_extent": {}}
        for file_format, created, event_zoned, created_zoned in itertools.product(
                SOURCES, (True, False), (False, True), (False, True)):
            if created_zoned and not created:
                continue
            structure = (file_format, created, event_zoned, created_zoned)
            for key_class, key_dtype in key_reps.items():
                for kind, store, suffix in (("latest_values", "latest_values", ()),
                                            ("window_extent:start", "window_extent", ("start",)),
                                            ("window_extent:open", "window_extent", ("open",))):
                    try:
                        found = template(dialect, kind, structure, key_dtype, key_reps,
                                         feature_reps if kind == "latest_values" else {})
                    except NotTemplated:
                        found = None
                    if found is not None:
                        entry[store][shipped_sql.base_key(*structure, key_class, *suffix)] = found
        out["dialects"][name] = entry
    return out


def table_name_keywords(dialect) -> list[str]:
    """The words the dialect's tokenizer reads as keywords (lower case): a table part that is one is left to
    sqlglot's parsing of the locator."""
    from sqlglot.dialects.dialect import Dialect

    words = Dialect.get_or_raise(dialect.sqlglot_name).tokenizer_class.KEYWORDS
    return sorted({w.lower() for w in words if IDENTIFIER_RE.fullmatch(w)})


def _representatives(classes: dict[str, str]) -> dict[str, DType]:
    reps: dict[str, DType] = {}
    for dtype in DTYPES:
        name = classes.get(str(dtype))
        if name is not None:
            reps.setdefault(name, dtype)
    return reps


def rendered(data: dict) -> str:
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = rendered(generate())
    if "--check" in argv:
        if FILE.read_text(encoding="utf-8") != text:
            print(f"{FILE} differs from what sqlglot generates now: run `python -m fcompile.dialects.shipped_build`",
                  file=sys.stderr)
            return 1
        print(f"{FILE} is up to date")
        return 0
    FILE.write_text(text, encoding="utf-8")
    print(f"wrote {FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
