"""How a change to a node's definition affects what was built from it: the change classes of `fcompile plan`.

Two manifest entries of one node (`nodes.<kind>.<name>.spec`) are compared field by field. Each changed
field gets a class, from the least to the most serious:

| class        | meaning                                                           | examples                                   |
| ------------ | ----------------------------------------------------------------- | ------------------------------------------ |
| `metadata`   | nothing computed changes                                          | description, tags, owner                   |
| `compatible` | what existed keeps working and keeps its values                   | a feature or node added, a join strategy   |
| `recompute`  | values change: training sets built before differ, online rows too | ttl, source, field mapping, timestamp field |
| `breaking`   | something that reads the node fails or reads other columns        | a feature removed or retyped, keys changed |

`FIELD_CLASSES` is the table; a field it does not name (one a newer fcompile adds, such as a feature's
aggregation or expression) is `recompute` when its value changes, and a feature removed is `breaking`
whatever it held. Lists of named things (features, join keys) are compared by name, feature services' and
datasets' projections by the output columns they give.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping

METADATA, COMPATIBLE, RECOMPUTE, BREAKING = "metadata", "compatible", "recompute", "breaking"
CLASSES = (METADATA, COMPATIBLE, RECOMPUTE, BREAKING)  # in order of seriousness
CLASS_LABELS = {METADATA: "metadata only", COMPATIBLE: "compatible", RECOMPUTE: "recompute", BREAKING: "breaking"}

METADATA_FIELDS = frozenset({"description", "tags", "owner"})

# (kind, field) -> class for fields whose change is one class whatever the values; "*" is any kind.
FIELD_CLASSES: dict[tuple[str, str], str] = {
    **{("*", name): METADATA for name in METADATA_FIELDS},
    ("feature_view", "ttl"): RECOMPUTE,
    ("feature_view", "source"): RECOMPUTE,
    ("feature_view", "push_source"): RECOMPUTE,
    ("feature_view", "entities"): BREAKING,
    # the three join strategies give identical results (docs/concepts/point-in-time.md): only the cost changes
    ("feature_view", "strategy"): COMPATIBLE,
    # lateness only moves where incremental runs restart: training values stay; rows an earlier run missed
    # come back with a full refresh
    ("feature_view", "lateness"): COMPATIBLE,
    # the schema `fcompile test` checks profiles against: nothing computed changes
    ("feature_view", "schema"): METADATA,
    # drift thresholds only decide whether `fcompile profile --compare` passes: nothing computed changes
    ("feature_view", "drift"): METADATA,
    ("source", "kind"): RECOMPUTE,
    ("source", "locator"): RECOMPUTE,
    ("source", "timestamp_field"): RECOMPUTE,
    ("source", "created_timestamp_field"): RECOMPUTE,
    ("source", "tie_breaker"): RECOMPUTE,
    ("source", "field_mapping"): RECOMPUTE,
    ("push_source", "batch_source"): RECOMPUTE,
    ("dataset", "spine"): RECOMPUTE,
    ("dataset", "output"): BREAKING,
    ("dataset", "full_feature_names"): BREAKING,
    ("dataset", "service"): COMPATIBLE,  # what it gives is its projections, compared on their own
}
# Node kinds something outside the project names (online reads, pushes, `run --select`): removing one breaks that.
REMOVAL_BREAKS = frozenset({"feature_view", "feature_service", "push_source", "dataset"})
DURATION_FIELDS = frozenset({"ttl", "lateness", "aggregation_step", "window", "step"})


@dataclass(frozen=True)
class FieldChange:
    """One changed field of a node: `field` as a path (`ttl`, `features.conv_rate.dtype`), its values before
    and after (None where absent), its class, and whether the view's online rows need a full refresh."""

    field: str
    before: Any
    after: Any
    change_class: str
    full_refresh: bool = False
    what: str = ""  # "added" / "removed" / "changed"


def most_serious(classes) -> str:
    return max(classes, key=CLASSES.index, default=METADATA)


def spec_changes(kind: str, before: Mapping[str, Any], after: Mapping[str, Any], online: bool = False
                 ) -> list[FieldChange]:
    """Every changed field between two specs of one node, classified. `online`: the node is an online
    feature view (its changes of values need a full refresh of the online store)."""
    changes: list[FieldChange] = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        special = SPECIAL_FIELDS.get((kind, name)) or SPECIAL_FIELDS.get(("*", name))
        if special is not None:
            changes.extend(special(old, new, online))
            continue
        change_class = FIELD_CLASSES.get((kind, name)) or FIELD_CLASSES.get(("*", name)) or RECOMPUTE
        what = "added" if name not in before else "removed" if name not in after else "changed"
        refresh = online and change_class in (RECOMPUTE, BREAKING)
        changes.append(FieldChange(name, old, new, change_class, refresh, what))
    return changes


def _features(old: Any, new: Any, online: bool) -> list[FieldChange]:
    """A view's features by name: added compatible, removed breaking, retyped breaking (rows written before
    are not converted), descriptions, tags and drift thresholds metadata, anything else about one (how it is computed) recompute."""
    before, after = _by_name(old), _by_name(new)
    changes = []
    for name in [*before, *(n for n in after if n not in before)]:
        path = f"features.{name}"
        if name not in after:
            changes.append(FieldChange(path, before[name], None, BREAKING, False, "removed"))
        elif name not in before:
            changes.append(FieldChange(path, None, after[name], COMPATIBLE, online, "added"))
        else:
            for key in sorted(set(before[name]) | set(after[name])):
                a, b = before[name].get(key), after[name].get(key)
                if a == b:
                    continue
                change_class = METADATA if key in METADATA_FIELDS or key == "drift" else \
                    BREAKING if key == "dtype" else RECOMPUTE
                changes.append(FieldChange(f"{path}.{key}", a, b, change_class,
                                           online and change_class != METADATA, "changed"))
    common = [n for n in before if n in after]
    if common != [n for n in after if n in before]:
        changes.append(FieldChange("features (order)", common, [n for n in after if n in before], COMPATIBLE,
                                   False, "changed"))
    return changes


def _join_keys(old: Any, new: Any, online: bool) -> list[FieldChange]:
    """An entity's join keys: any change but a description's is breaking (every view of the entity is keyed anew)."""
    before, after = _by_name(old), _by_name(new)
    changes = []
    for name in [*before, *(n for n in after if n not in before)]:
        a, b = before.get(name), after.get(name)
        if a is None or b is None:
            changes.append(FieldChange(f"join_keys.{name}", a, b, BREAKING, False, "added" if a is None else "removed"))
            continue
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                changes.append(FieldChange(f"join_keys.{name}.{key}", a.get(key), b.get(key),
                                           METADATA if key in METADATA_FIELDS else BREAKING, False, "changed"))
    if [n for n in before if n in after] != [n for n in after if n in before]:
        changes.append(FieldChange("join_keys (order)", list(before), list(after), BREAKING, False, "changed"))
    return changes


def _projections(old: Any, new: Any, online: bool) -> list[FieldChange]:
    """The output columns of a service or dataset, `view:feature` -> its alias: a column lost or renamed is
    breaking, a column gained compatible."""
    before, after = _columns(old), _columns(new)
    changes = []
    for column in [*before, *(c for c in after if c not in before)]:
        if column not in after:
            changes.append(FieldChange(f"features.{column}", column, None, BREAKING, False, "removed"))
        elif column not in before:
            changes.append(FieldChange(f"features.{column}", None, column, COMPATIBLE, False, "added"))
        elif before[column] != after[column]:
            changes.append(FieldChange(f"features.{column}.alias", before[column], after[column], BREAKING,
                                       False, "changed"))
    if not changes:  # the same columns in another order
        changes.append(FieldChange("features (order)", list(before), list(after), COMPATIBLE, False, "changed"))
    return changes


def _online(old: Any, new: Any, online: bool) -> list[FieldChange]:
    """A view going offline breaks its online readers; one going online is loaded by the next materialize."""
    return [FieldChange("online", old, new, BREAKING if old and not new else COMPATIBLE, False, "changed")]


def _by_name(items: Any) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in items or () if isinstance(item, dict) and "name" in item}


def _columns(projections: Any) -> dict[str, Any]:
    return {f"{p['view']}:{feature}": p.get("alias") for p in projections or () for feature in p["features"]}


SPECIAL_FIELDS: dict[tuple[str, str], Callable[[Any, Any, bool], list[FieldChange]]] = {
    ("*", "features"): _features,  # a view's, or a kind of view a later release adds
    ("*", "online"): _online,
    ("entity", "join_keys"): _join_keys,
    ("feature_service", "projections"): _projections,
    ("dataset", "projections"): _projections,
}


def value_text(field: str, value: Any) -> str:
    """A field's value as a person reads it: durations as a spec writes them, None as `none`, long text cut."""
    from fcompile.planner.durations import format_duration

    leaf = field.rpartition(".")[2]
    if value is None:
        return "none"
    if leaf in DURATION_FIELDS and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_duration(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value if len(value) <= 60 and "\n" not in value else json.dumps(value[:57] + "...")
    if isinstance(value, dict) and "name" in value and leaf == value.get("name"):
        value = {k: v for k, v in value.items() if k != "name"}
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."
