"""Durations as people read them in listings, file headers and SQL comments.

In the planner's folder because compiled SQL holds them (CTE comments): the compile cache's key covers
the source of every module between a plan and its SQL (fcompile/artifacts/compile_cache.py)."""

from __future__ import annotations


def format_duration(seconds: float) -> str:
    """A duration the way a spec writes it: the largest unit that divides it (2h, 1d, 90m), else seconds."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
