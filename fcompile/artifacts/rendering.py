"""Render many plans to SQL. Plans that differ only in names share one shape and one generated
template (fcompile/dialects/shapes.py): each distinct shape is taken from the compile cache or
generated once - in worker processes when there are enough shapes to pay for the processes (lowering
and generating is CPU-bound pure Python, so threads would not help) - and every plan's SQL is its
shape's template with its names put back. The result is the same, in the same order, whatever the
number of workers and whatever the cache holds."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Sequence, Union

from fcompile.artifacts.compile_cache import CompileCache, plan_key
from fcompile.artifacts.queries import PlannedQuery, render_plan
from fcompile.diagnostics import Diagnostic, DiagnosticError

# Below this many shapes to generate, worker start-up costs more than it saves.
PARALLEL_MIN_SHAPES = 16

Rendered = Union[str, list[Diagnostic]]  # the SQL, or why the dialect cannot express the plan


def available_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def render_all(planned: Sequence[PlannedQuery], cache: CompileCache | None = None,
               workers: int | None = None) -> list[Rendered]:
    from fcompile.dialects.shapes import Templates

    templates = Templates()
    items = [(p.dialect, p.plan) for p in planned] + [(p.dialect, p.then.plan) for p in planned if p.then]
    shapes: dict[tuple, tuple[str, Any]] = {}  # every distinct shape: templates key -> (dialect, shape plan)
    for name, plan in items:
        key = templates.key(name, True, plan)
        if key not in shapes:
            shapes[key] = (name, templates.shape(plan).plan)
    cache_keys: dict[tuple, str] = {}
    if cache is not None and cache.enabled:
        cache_keys = {key: plan_key(name, f"{key[2]}\0{plan!r}") for key, (name, plan) in shapes.items()}
        hits = cache.get_many(list(cache_keys.values()))
        for key, cache_key in cache_keys.items():
            if cache_key in hits:
                templates.add(key, json.loads(hits[cache_key]))
    missing = [key for key in shapes if key not in templates.generated]
    workers = available_workers() if workers is None else workers
    if workers > 1 and len(missing) >= PARALLEL_MIN_SHAPES:
        generated = _generate_in_processes([shapes[key] for key in missing], workers)
    else:
        generated = _generate_chunk([shapes[key] for key in missing])
    for key, statements in zip(missing, generated):
        templates.add(key, statements)
        if statements is not None and key in cache_keys:
            cache.put(cache_keys[key], json.dumps(statements))  # type: ignore[union-attr]
    rendered = render_chunk(items, templates)
    seconds = iter(rendered[len(planned):])  # each second query (a view's tiles), in the order of `planned`
    out: list[Rendered] = []
    for query, first in zip(planned, rendered):
        if query.then is None:
            out.append(first)
            continue
        second = next(seconds)
        if not isinstance(first, str) or not isinstance(second, str):
            out.append([*([] if isinstance(first, str) else first), *([] if isinstance(second, str) else second)])
        else:
            out.append(query.body(first, second))
    return out


def render_chunk(items: Sequence[tuple[str, Any]], templates=None) -> list[Rendered]:
    """Render (dialect name, plan) pairs in this process, sharing `templates` between plans."""
    from fcompile.dialects import get_dialect
    from fcompile.dialects.shapes import Templates

    dialects: dict[str, Any] = {}
    templates = Templates() if templates is None else templates
    out: list[Rendered] = []
    for name, plan in items:
        dialect = dialects.get(name) or dialects.setdefault(name, get_dialect(name))
        try:
            out.append(render_plan(plan, dialect, templates))
        except DiagnosticError as exc:
            out.append(list(exc.diagnostics))
    return out


def _generate_in_processes(work: list[tuple[str, Any]], workers: int) -> list[list[str] | None]:
    chunk_count = len(work)  # one shape per task: shapes differ in cost by 10x, small tasks balance best
    size = -(-len(work) // chunk_count)
    chunks = [work[i:i + size] for i in range(0, len(work), size)]
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [result for chunk in pool.map(_generate_chunk, chunks) for result in chunk]


def _generate_chunk(work: Sequence[tuple[str, Any]]) -> list[list[str] | None]:
    """Generate (dialect name, shape plan) pairs; also the worker processes' task. None where
    generating fails: the real plan is then compiled by itself, so its diagnostics carry its names."""
    from sqlglot.errors import SqlglotError

    from fcompile.dialects import generate_statements, get_dialect

    out: list[list[str] | None] = []
    for name, plan in work:
        try:
            out.append(generate_statements(plan, get_dialect(name)))
        except (DiagnosticError, SqlglotError):
            out.append(None)
    return out
