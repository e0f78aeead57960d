"""Generate the shipped SQL templates (fcompile/runners/shipped_sql.json) through sqlglot.

    python -m fcompile.dialects.shipped_build           # write the file
    python -m fcompile.dialects.shipped_build --check   # exit 1 when the shipped file differs

Run when fcompile is developed, never by a user's command. A template is derived from statements generated
the usual way (`generate_statements`, `window_estimate_select`) for plans whose names are sentinels: one plan
per source kind, time columns and number of keys, without features, is the base; the same plan with one
feature of each dtype class gives the unit of SQL a feature adds and where (a token diff: every difference
must be an insertion). A dtype class is the set of dtypes whose statement is the same text. The pretty-
printer's line-break decisions (`Generator.too_wide`) are recorded while generating, each as a width in
terms of the slots (fcompile/runners/shipped_sql.py checks them for a plan's names). Each template is then
checked: filled for plans of several features of mixed classes, it must equal sqlglot's own statement, else it
is not shipped and such plans compile through sqlglot.
"""

from __future__ import annotations

import collections
import contextlib
import difflib
import itertools
import json
import re
import sys
from pathlib import Path

from fcompile.dialects import compile_statements, generate_statements, get_dialect, query_statement, session_statements
from fcompile.graph import SCALAR_DTYPES, DType
from fcompile.planner.plans import FeatureColumn, KeyColumn, LatestValues, Relation
from fcompile.runners import shipped_sql
from fcompile.runners.external import window_estimate_select
from fcompile.sql_names import IDENTIFIER_RE

DIALECTS = ("duckdb",)
FILE = Path(shipped_sql.__file__).with_name(shipped_sql.DATA_FILE)
DTYPES = [DType(n) for n in SCALAR_DTYPES] + [DType("array", DType(n)) for n in SCALAR_DTYPES]
SOURCES = ("parquet", "csv", *(f"table{n}" for n in range(1, shipped_sql.MAX_TABLE_PARTS + 1)))
# Each template is generated twice, its sentinels short and long, which lays out lines differently where a
# name's length decides; a plan takes the first variant whose line-break decisions its names reproduce.
# (names' pad, the source's pad): a project's absolute paths are often longer than its names
PADS = tuple((name, source) for source in ("", "x" * 90) for name in ("", "x" * 8, "x" * 20, "x" * 45))
MARK = "Zq"  # every sentinel starts so (no SQL word the generator writes holds it), and is short: see PADS
KINDS = {"latest_values": True, "window_extent:start": False, "window_extent:open": False}  # kind -> pretty
_TOKEN = re.compile(r""""[^"]*"|'(?:[^']|'')*'|\w+|\s+|[^\w\s]""")


class NotTemplated(Exception):
    """A generated statement that the template form cannot express."""


def sentinel(name: str, pad: str) -> str:
    return f"{MARK}{name}{pad}"


def paths(pad: tuple[str, str]) -> dict[str, str]:
    return {"parquet": f"/{sentinel('path', pad[1])}.parquet", "csv": f"/{sentinel('path', pad[1])}.csv"}


def table_parts(pad: tuple[str, str]) -> list[str]:
    return [sentinel(f"t{i}", pad[1]) for i in range(shipped_sql.MAX_TABLE_PARTS)]


def key_column(i: int, dtype: DType, pad: tuple[str, str] = ("", "")) -> KeyColumn:
    return KeyColumn(sentinel(f"k{i}n", pad[0]), sentinel(f"k{i}s", pad[0]), dtype)


def feature_column(i: int, dtype: DType, pad: tuple[str, str] = ("", "")) -> FeatureColumn:
    return FeatureColumn(sentinel(f"f{i}s", pad[0]), sentinel(f"f{i}o", pad[0]), dtype)


def source_relation(source: str, zoned: tuple[str, ...], pad: tuple[str, str]) -> Relation:
    if source.startswith("table"):
        return Relation("table", ".".join(table_parts(pad)[:int(source[len("table"):])]), zoned)
    return Relation("path", paths(pad)[source], zoned)


def sentinel_plan(structure: tuple, keys: list[DType], features: list[DType],
                  pad: tuple[str, str] = ("", "")) -> LatestValues:
    source, created, event_zoned, created_zoned = structure
    event, created_name = sentinel("ev", pad[0]), sentinel("cr", pad[0])
    zoned = (event,) * event_zoned + (created_name,) * (created and created_zoned)
    return LatestValues(sentinel("view", pad[0]), source_relation(source, zoned, pad),
                        tuple(key_column(i, d, pad) for i, d in enumerate(keys)), event,
                        created_name if created else None,
                        tuple(feature_column(i, d, pad) for i, d in enumerate(features)))


@contextlib.contextmanager
def recorded_widths(calls: list[tuple[str, bool]]):
    """Every `too_wide` decision of sqlglot's generator while inside: (the measured text, the outcome)."""
    from sqlglot.generator import Generator

    original = Generator.too_wide

    def too_wide(self, args) -> bool:
        args = tuple(args)
        wide = original(self, args)
        calls.append(("".join(args), wide))
        return wide

    Generator.too_wide = too_wide  # type: ignore[method-assign]
    try:
        yield
    finally:
        Generator.too_wide = original  # type: ignore[method-assign]


def statement(dialect, kind: str, plan: LatestValues, calls: list | None = None) -> str:
    with recorded_widths([] if calls is None else calls):
        if kind == "latest_values":
            (sql,) = generate_statements(plan, dialect, pretty=KINDS[kind])
            return sql
        return dialect.generate(window_estimate_select(dialect, plan, with_start=kind == "window_extent:start"),
                                pretty=KINDS[kind])


def slot_texts(structure: tuple, keys: int, unit: bool, pad: tuple[str, str]) -> dict[str, str]:
    """Slot name -> the sentinel's text as it appears in a statement (quoted)."""
    if unit:
        feature = feature_column(0, DType("int64"), pad)
        return {"feature.source": f'"{feature.source_column}"', "feature.output": f'"{feature.output_name}"'}
    texts = {"event": f'"{sentinel("ev", pad[0])}"', "created": f'"{sentinel("cr", pad[0])}"'}
    for i in range(keys):
        key = key_column(i, DType("int64"), pad)
        texts |= {f"key{i}.name": f'"{key.name}"', f"key{i}.source": f'"{key.source_column}"'}
    source = structure[0]
    if source.startswith("table"):
        texts |= {f"table{i}": f'"{part}"' for i, part in enumerate(table_parts(pad)[:int(source[len("table"):])])}
    else:
        texts["path"] = f"'{paths(pad)[source]}'"
    return texts


def pieces(sql: str, texts: dict[str, str]) -> list:
    """The statement as text and ["slot", name] pieces; a sentinel elsewhere than a whole quoted name or the
    path literal cannot be filled by fcompile's quoting, so it is refused."""
    slots = {text: slot for slot, text in texts.items()}
    out: list = []
    for token in _TOKEN.findall(sql):
        slot = slots.get(token)
        if slot is not None:
            out.append(["slot", slot])
        elif MARK in token:
            raise NotTemplated(f"a sentinel inside {token!r}")
        elif out and isinstance(out[-1], str):
            out[-1] += token
        else:
            out.append(token)
    return out


def widths(calls: list[tuple[str, bool]], texts: dict[str, str]) -> list:
    """The recorded decisions as [constant, {slot: times}, wide]; a sentinel outside the slots' texts is refused."""
    found = []
    for text, wide in calls:
        times = {slot: text.count(sentinel) for slot, sentinel in texts.items() if sentinel in text}
        rest = text
        for sentinel in texts.values():
            rest = rest.replace(sentinel, "")
        if MARK in rest:
            raise NotTemplated(f"a sentinel outside the slots in {text!r}")
        found.append([len(rest), dict(sorted(times.items())), wide])
    return found


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


def classes(dialect, role: str) -> dict[str, str]:
    """dtype -> class name: dtypes whose statement (with one more key, or one feature, of that dtype) is the
    same text share a class."""
    texts: dict[str, str] = {}
    found = {}
    structure = ("parquet", True, False, False)
    for dtype in DTYPES:
        keys, features = ([DType("int64"), dtype], []) if role == "key" else ([DType("int64")], [dtype])
        try:
            sql = statement(dialect, "latest_values", sentinel_plan(structure, keys, features))
        except Exception:  # a dtype the lowering refuses in this role: no class, compiled through sqlglot
            continue
        found[str(dtype)] = texts.setdefault(sql, f"{role}{len(texts)}")
    return found


def template(dialect, kind: str, structure: tuple, keys: list[DType], feature_reps: dict[str, DType],
             pad: tuple[str, str]) -> dict:
    """One base's template (raises NotTemplated when it cannot be expressed)."""
    base_calls: list = []
    base_sql = statement(dialect, kind, sentinel_plan(structure, keys, [], pad), base_calls)
    base_texts, unit_texts = slot_texts(structure, len(keys), False, pad), slot_texts(structure, len(keys), True, pad)
    units: dict[str, dict] = {}
    where: list[int] | None = None
    for name, dtype in (feature_reps.items() if kind == "latest_values" else ()):
        calls: list = []
        try:
            found = insertions(base_sql, statement(dialect, kind, sentinel_plan(structure, keys, [dtype], pad), calls))
            # a unit's decisions are those that read its feature, and only it; the others are the base's own
            own = [c for c in calls if any(t in c[0] for t in unit_texts.values())]
            if collections.Counter(c for c in calls if c not in own) != collections.Counter(base_calls):
                raise NotTemplated("a feature changes a decision of the base")
            unit = {"points": [pieces(text, unit_texts) for _, text in found], "widths": widths(own, unit_texts)}
        except NotTemplated:
            continue
        at = [i for i, _ in found]
        if where is None:
            where = at
        if at == where:  # every class must insert at the same places; a class that does not is left out
            units[name] = unit
    tokens = _TOKEN.findall(base_sql)
    parts: list = []
    done = 0
    for number, index in enumerate(where or ()):
        parts += pieces("".join(tokens[done:index]), base_texts)
        parts.append(["insert", number])
        done = index
    parts += pieces("".join(tokens[done:]), base_texts)
    return {"base": _merged(parts), "feature": units, "widths": widths(base_calls, base_texts)}


def _merged(parts: list) -> list:
    out: list = []
    for part in parts:
        if isinstance(part, str) and out and isinstance(out[-1], str):
            out[-1] += part
        elif part != "":
            out.append(part)
    return out


def compiled(dialect, kind: str, plan: LatestValues) -> str:
    """The statement as the compiler writes it: the newest-rows query through the shapes (as the compiled file
    and the runner have it), the window's count as the runner generates it."""
    if kind == "latest_values":
        return query_statement(compile_statements(plan, dialect), dialect)[1]
    return statement(dialect, kind, plan)


def checked(dialect, kind: str, structure: tuple, keys: list[DType], feature_reps: dict[str, DType],
            entry: dict, found: dict, pad: tuple[str, str]) -> bool:
    """The template filled for plans of several features of mixed classes equals sqlglot's statement."""
    store, *suffix = kind.split(":")
    dtypes = [d for n, d in feature_reps.items() if n in found["feature"]] if store == "latest_values" else []
    cases = [[], dtypes[:1], dtypes * 2, list(itertools.chain(*zip(dtypes, reversed(dtypes))))]
    key_classes = [entry["key_classes"][str(d)] for d in keys]
    data = {**root_settings(), "dialects": {dialect.name: {
        **{k: entry[k] for k in ("session", "key_classes", "feature_classes", "table_name_keywords")},
        store: {shipped_sql.base_key(*structure, key_classes, *suffix): [found]}}}}
    for features in cases:
        plan = sentinel_plan(structure, keys, features, pad)
        if store == "latest_values":
            filled = shipped_sql.latest_values_sql(plan, dialect.name, data)
            filled_text = None if filled is None else filled[1]
        else:
            filled_text = shipped_sql.window_extent_sql(plan, dialect.name, suffix == ["start"], data)
        if filled_text != compiled(dialect, kind, plan):
            return False
    return True


MAX_TEXT_WIDTH = 80  # sqlglot's Generator default, which fcompile's dialects use (checked in generate)


def root_settings() -> dict:
    """The file's settings beside the dialects: what the compiler's layout depends on."""
    from fcompile.dialects import shapes

    return {"max_text_width": MAX_TEXT_WIDTH, "shape_length_step": shapes.LENGTH_STEP,
            "shape_sentinel_pattern": shapes._ANY_SENTINEL.pattern}


def generate() -> dict:
    from sqlglot.generator import Generator

    if Generator().max_text_width != MAX_TEXT_WIDTH:
        raise RuntimeError(f"sqlglot's printer width is {Generator().max_text_width}, not {MAX_TEXT_WIDTH}")
    from fcompile.dialects import shapes

    if shapes._ANY_SENTINEL.flags & re.IGNORECASE == 0:
        raise RuntimeError("shapes' sentinel pattern is no longer case-insensitive: shipped_sql.py assumes it is")
    out: dict = {"generated_by": "python -m fcompile.dialects.shipped_build", **root_settings(), "dialects": {}}
    for name in DIALECTS:
        out["dialects"][name] = dialect_templates(get_dialect(name))
    return out


def dialect_templates(dialect) -> dict:
    key_classes, feature_classes = classes(dialect, "key"), classes(dialect, "feature")
    key_reps, feature_reps = _representatives(key_classes), _representatives(feature_classes)
    entry: dict = {"session": session_statements(dialect), "key_classes": key_classes,
                   "feature_classes": feature_classes, "table_name_keywords": table_name_keywords(),
                   "latest_values": {}, "window_extent": {}}
    for structure in itertools.product(SOURCES, (True, False), (False, True), (False, True)):
        if structure[3] and not structure[1]:  # a zoned created time without a created time
            continue
        for count in range(1, shipped_sql.MAX_KEYS + 1):
            for keys in itertools.product(list(key_reps.values()), repeat=count):
                for kind in KINDS:
                    store, *suffix = kind.split(":")
                    variants = []
                    for pad in PADS if KINDS[kind] else PADS[:1]:  # without layout, one variant fits every name
                        try:
                            found = template(dialect, kind, structure, list(keys), feature_reps, pad)
                        except NotTemplated:
                            continue
                        if found not in variants and checked(dialect, kind, structure, list(keys), feature_reps,
                                                              entry, found, pad):
                            variants.append(found)
                    if variants:
                        classes_ = [key_classes[str(d)] for d in keys]
                        entry[store][shipped_sql.base_key(*structure, classes_, *suffix)] = variants
    return entry


def table_name_keywords() -> list[str]:
    """The words some target dialect's tokenizer reads as keywords (lower case): a table part that is one is
    left to sqlglot's parsing of the locator, and the compiler's shapes keep it as written (shapes.py)."""
    from fcompile.dialects import shapes

    return sorted({w.lower() for w in shapes._keywords() if IDENTIFIER_RE.fullmatch(w)})


def _representatives(classes: dict[str, str]) -> dict[str, DType]:
    reps: dict[str, DType] = {}
    for dtype in DTYPES:
        name = classes.get(str(dtype))
        if name is not None:
            reps.setdefault(name, dtype)
    return reps


def rendered(data: dict) -> str:
    return json.dumps(data, indent=None, separators=(",", ":"), sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = rendered(generate())
    if "--check" in argv:
        if not FILE.exists() or FILE.read_text(encoding="utf-8") != text:
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
