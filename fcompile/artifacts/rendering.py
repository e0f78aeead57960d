"""Render many plans to SQL: cached statements first, the rest in worker processes when there are
enough of them to pay for the processes (lowering and generating is CPU-bound pure Python, so threads
would not help). The result is the same, in the same order, whatever the number of workers."""

from __future__ import annotations

import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Sequence, Union

from fcompile.artifacts.compile_cache import CompileCache, plan_key
from fcompile.artifacts.queries import PlannedQuery, render_plan
from fcompile.diagnostics import Diagnostic, DiagnosticError

# Below this many statements to render, worker start-up costs more than it saves.
PARALLEL_MIN_STATEMENTS = 64

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
    workers = available_workers() if workers is None else workers
    if workers > 1 and len(items) >= PARALLEL_MIN_STATEMENTS:
        rendered = _render_in_processes(items, workers)
    else:
        rendered = render_chunk(items)
    for index, result in zip(todo, rendered):
        results[index] = result
        if isinstance(result, str) and keys[index]:
            cache.put(keys[index], result)  # type: ignore[union-attr]
    return results  # type: ignore[return-value]


def render_chunk(items: Sequence[tuple[str, Any]]) -> list[Rendered]:
    """Render (dialect name, plan) pairs in this process (also the worker processes' task)."""
    from fcompile.dialects import get_dialect

    dialects: dict[str, Any] = {}
    out: list[Rendered] = []
    for name, plan in items:
        dialect = dialects.get(name) or dialects.setdefault(name, get_dialect(name))
        try:
            out.append(render_plan(plan, dialect))
        except DiagnosticError as exc:  # returned, not raised: it must cross a process boundary
            out.append(list(exc.diagnostics))
    return out


def _render_in_processes(items: list[tuple[str, Any]], workers: int) -> list[Rendered]:
    chunk_count = min(len(items), workers * 4)
    size = -(-len(items) // chunk_count)
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    context = multiprocessing.get_context("fork") if sys.platform == "linux" else None
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [result for chunk in pool.map(render_chunk, chunks) for result in chunk]
