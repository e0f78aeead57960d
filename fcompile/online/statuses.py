"""The status of an online value, and their order (light: the serving path and the on-demand evaluator
import it without pyarrow).

`PRESENT`: the store holds a value within the view's ttl; `OUTSIDE_MAX_AGE`: it holds one older than the
ttl (returned as None); `NOT_FOUND`: it holds none (docs/concepts/materialization.md). A value computed from
several (an on-demand feature) takes the worst of its inputs' statuses, in `STATUS_ORDER`.
"""

from __future__ import annotations

PRESENT = "PRESENT"
NOT_FOUND = "NOT_FOUND"
OUTSIDE_MAX_AGE = "OUTSIDE_MAX_AGE"
STATUS_ORDER = (PRESENT, OUTSIDE_MAX_AGE, NOT_FOUND)  # best to worst
_RANK = {status: rank for rank, status in enumerate(STATUS_ORDER)}


def worst(a: list[str], b: list[str]) -> list[str]:
    """Entity by entity, the worse of two statuses."""
    return [x if _RANK[x] >= _RANK[y] else y for x, y in zip(a, b)]
