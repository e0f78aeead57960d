"""`fcompile plan` printed three ways, all from one `Plan`: text for a terminal, markdown for a pull-request
comment (each node's SQL diff folded in a `<details>` block), and a JSON document for tools.

The JSON document (`PLAN_FORMAT_VERSION` changes whenever its shape does):

    {"format_version": 1, "project": str, "state": str, "dialects": [str], "exit_code": 0 | 2,
     "breaking": bool, "summary": {"breaking": int, "recompute": int, "compatible": int, "metadata": int,
                                   "unchanged": int},
     "nodes": [{"node": "kind.name", "kind": str, "name": str, "status": "added|removed|changed|sql",
                "class": "breaking|recompute|compatible|metadata", "location": {"path", "line", "column"} | null,
                "changes": [{"field": str, "what": "added|removed|changed", "before": any, "after": any,
                             "class": str, "full_refresh": bool, "summary": str, "effect": str}],
                "sql": [{"dialect": str, "path": str, "status": "added|removed|changed",
                         "diff": [str], "more_lines": int}]}],
     "materialize": {"full_refresh": [str], "command": str | null, "first_load": [str], "left_behind": [str],
                     # with --estimate only:
                     "estimates": [{"view": str, "rows": int | null, "since": str | null, "note": str | null}],
                     "estimate_note": str | null}}
"""

from __future__ import annotations

import json
import re
from typing import Any

from fcompile.artifacts.changes import CLASS_LABELS, CLASSES
from fcompile.artifacts.plan import NodePlan, Plan, SqlDiff

PLAN_FORMAT_VERSION = 1
MARKDOWN_BUDGET = 60_000  # characters: GitHub keeps a comment to 65,536


def plan_document(plan: Plan) -> dict[str, Any]:
    summary = {c: plan.count(c) for c in reversed(CLASSES)}
    summary["unchanged"] = plan.unchanged
    return {
        "format_version": PLAN_FORMAT_VERSION,
        "project": plan.project,
        "state": plan.state,
        "dialects": list(plan.dialects),
        "exit_code": plan.exit_code,
        "breaking": plan.breaking,
        "summary": summary,
        "nodes": [_node_document(node) for node in plan.nodes],
        "materialize": {"full_refresh": list(plan.materialize.full_refresh), "command": plan.materialize.command,
                        "first_load": list(plan.materialize.first_load),
                        "left_behind": list(plan.materialize.left_behind), **_estimates_document(plan)},
    }


def _estimates_document(plan: Plan) -> dict[str, Any]:
    m = plan.materialize
    if not m.estimated:
        return {}
    return {"estimates": [{"view": e.view, "rows": e.rows, "since": _moment(e.since), "note": e.note}
                          for e in m.estimates],
            "estimate_note": m.estimate_note}


def _moment(value) -> str | None:
    import datetime as dt

    if value is None:
        return None
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _node_document(node: NodePlan) -> dict[str, Any]:
    return {
        "node": str(node.ref), "kind": node.ref.kind, "name": node.ref.name, "status": node.status,
        "class": node.change_class, "location": dict(node.location) if node.location else None,
        "changes": [{"field": r.change.field, "what": r.change.what, "before": r.change.before,
                     "after": r.change.after, "class": r.change.change_class, "full_refresh": r.change.full_refresh,
                     "summary": r.summary, "effect": r.effect} for r in node.reasons],
        "sql": [{"dialect": d.dialect, "path": d.path, "status": d.status, "diff": list(d.lines),
                 "more_lines": d.more_lines} for d in node.sql],
    }


def render_json(plan: Plan) -> str:
    return json.dumps(plan_document(plan), indent=2, sort_keys=True, ensure_ascii=False)


def _headline(plan: Plan) -> str:
    counts = [f"{plan.count(c)} {CLASS_LABELS[c]}" for c in reversed(CLASSES) if plan.count(c)]
    changed = len(plan.nodes)
    if not changed:
        return f"no change to project '{plan.project}' since {plan.state} ({plan.unchanged} nodes compared)"
    return (f"{changed} node{'s' * (changed != 1)} changed since {plan.state}: {', '.join(counts)}; "
            f"{plan.unchanged} unchanged")


def _materialize_lines(plan: Plan) -> list[str]:
    m = plan.materialize
    lines = []
    if m.command:
        lines.append(f"refresh in full: {', '.join(m.full_refresh)}  ->  {m.command}")
        lines.extend(_estimate_lines(plan))
    if m.first_load:
        lines.append(f"loaded by the next run (new online views): {', '.join(m.first_load)}")
    if m.left_behind:
        lines.append(f"their rows stay in the online store (removed or offline now): {', '.join(m.left_behind)}")
    return lines or ["nothing beyond the usual incremental run"]


def _estimate_lines(plan: Plan) -> list[str]:
    """With --estimate: the rows each full refresh reads, or why that is not known."""
    m = plan.materialize
    if not m.estimated:
        return []
    if m.estimate_note:
        return [f"rows to read: not estimated: {m.estimate_note}"]
    lines = []
    for e in m.estimates:
        window = f"since {_moment(e.since)}" if e.since is not None else "all of its source"
        lines.append(f"rows to read for {e.view}: about {e.rows:,} ({window})" if e.rows is not None
                     else f"rows to read for {e.view}: not estimated: {e.note}")
    return lines


def _where(node: NodePlan) -> str:
    loc = node.location
    return f" ({loc['path']}:{loc['line']})" if loc else ""


def _diff_text(diff: SqlDiff) -> list[str]:
    if not diff.lines:
        return [f"{diff.path}: {diff.status} (the state holds no compiled files to compare with)"]
    more = [f"… {diff.more_lines} more line{'s' * (diff.more_lines != 1)}"] if diff.more_lines else []
    return [*diff.lines, *more]


def render_text(plan: Plan) -> str:
    out = [f"plan: {_headline(plan)}"]
    for node in plan.nodes:
        out.append("")
        out.append(f"{CLASS_LABELS[node.change_class]}: {node.ref}{_where(node)}")
        for reason in node.reasons:
            out.append(f"  - [{CLASS_LABELS[reason.change.change_class]}] {reason.text}")
        for diff in node.sql:
            out.append(f"  {diff.dialect}: {diff.path} {diff.status}")
            out.extend("    " + line for line in _diff_text(diff))
    out.append("")
    out.append("materialize next:")
    out.extend("  " + line for line in _materialize_lines(plan))
    if plan.breaking:
        out.append("")
        out.append("breaking changes: exit code 2")
    return "\n".join(out) + "\n"


def render_markdown(plan: Plan) -> str:
    title = "breaking changes" if plan.breaking else "no breaking change"
    out = [f"### fcompile plan: {title}", "", _headline(plan).replace(plan.state, f"`{plan.state}`", 1)]
    if plan.nodes:
        out += ["", "| node | class | changes |", "| --- | --- | --- |"]
        for node in plan.nodes:
            reasons = "<br>".join(_cell(r.text) for r in node.reasons)
            out.append(f"| `{node.ref}`{_cell(_where(node))} | **{CLASS_LABELS[node.change_class]}** | {reasons} |")
    out += ["", "**materialize next**", ""]
    out += [f"- {_cell(line)}" for line in _materialize_lines(plan)]
    budget, left_out = MARKDOWN_BUDGET - sum(len(line) + 1 for line in out), 0
    for node in (n for n in plan.nodes if n.sql):
        block = [f"<details><summary><code>{node.ref}</code>: compiled SQL ({len(node.sql)} "
                 f"file{'s' * (len(node.sql) != 1)})</summary>", ""]
        for diff in node.sql:
            text = _diff_text(diff)
            fence = "`" * max(3, _longest_backticks(text) + 1)  # SQL comments may hold backticks
            block += [f"`{diff.path}` ({diff.status})", "", f"{fence}diff", *text, fence, ""]
        block.append("</details>")
        size = sum(len(line) + 1 for line in block) + 1
        if size > budget:
            left_out += len(node.sql)
            continue
        budget -= size
        out += ["", *block]
    if left_out:
        out += ["", f"… the SQL diffs of {left_out} more file{'s' * (left_out != 1)} are left out (a comment holds "
                "65,536 characters); `fcompile plan --state DIR` prints them all"]
    return "\n".join(out) + "\n"


def _longest_backticks(lines: list[str]) -> int:
    return max((len(m) for line in lines for m in re.findall(r"`+", line)), default=0)


def _cell(text: str) -> str:
    """Text for a markdown table cell: no pipe or newline breaks the row."""
    return text.replace("|", "\\|").replace("\n", " ")


RENDERERS = {"text": render_text, "markdown": render_markdown, "json": lambda plan: render_json(plan) + "\n"}
