"""Render many plans to SQL: cached statements first; then each shape of plan once (plans that differ
only in names share one generated template, fcompile/dialects/shapes.py), in worker processes when
there are enough shapes to pay for the processes (lowering and generating is CPU-bound pure Python,
so threads would not help); then every plan from its shape's template. The result is the same, in the
same order, whatever the number of workers."""

from __future__ import annotations

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
    results: list[Rendered | None] = [None] * len(planned)
    keys = [plan_key(p.dialect, p.digest) if cache is not None and cache.enabled else "" for p in planned]
    hits = cache.get_many([k for k in keys if k]) if cache is not None else {}
    todo: list[int] = []
    for index, key in enumerate(keys):
        if key in hits:
            results[index] = hits[key]
        else:
            todo.append(index)
    items = [(planned[i].dialect, planned[i].plan) for i in todo]
    from fcompile.dialects.shapes import Templates

    templates = Templates()
    workers = available_workers() if workers is None else workers
    if workers > 1:
        _generate_shapes_in_processes(items, templates, workers)
    rendered = render_chunk(items, templates)
    for index, result in zip(todo, rendered):
        results[index] = result
        if isinstance(result, str) and keys[index]:
            cache.put(keys[index], result)  # type: ignore[union-attr]
    return results  # type: ignore[return-value]


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


def _generate_shapes_in_processes(items: Sequence[tuple[str, Any]], templates, workers: int) -> None:
    """Fill `templates` with every distinct shape among `items`, generated in worker processes (the
    keys are those `compile_statements` looks up). Too few shapes: leave it to the serial pass."""
    shapes: dict[tuple, tuple[str, Any]] = {}
    for name, plan in items:
        shape = templates.shape(plan)
        if shape is not None:
            shapes.setdefault(templates.key(name, True, shape), (name, shape.plan))
    if len(shapes) < PARALLEL_MIN_SHAPES:
        return
    work = list(shapes.values())
    chunk_count = min(len(work), workers * 4)
    size = -(-len(work) // chunk_count)
    chunks = [work[i:i + size] for i in range(0, len(work), size)]
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        generated = [result for chunk in pool.map(_generate_chunk, chunks) for result in chunk]
    for key, statements in zip(shapes, generated):
        templates.add(key, statements)


def _generate_chunk(work: Sequence[tuple[str, Any]]) -> list[list[str] | None]:
    """The worker processes' task: generate canonical plans (None where generating fails: the real
    plan is then compiled in the parent, so that its diagnostics carry its own names)."""
    from sqlglot.errors import SqlglotError

    from fcompile.dialects import generate_statements, get_dialect

    out: list[list[str] | None] = []
    for name, plan in work:
        try:
            out.append(generate_statements(plan, get_dialect(name)))
        except (DiagnosticError, SqlglotError):
            out.append(None)
    return out
