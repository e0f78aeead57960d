"""Which names a request's feature columns get: decided here, once, for `build`/`compile`, the SDK, `run` and
the server alike.

A request names its columns `feature` unless it asks for `view__feature` (`full_feature_names`). A feature
service is the exception: the parser accepts a service whose plain names collide only where every colliding
view is aliased (fcompile/parser/resolve.py), that is, a service meant to be read as `alias__feature`; every
reader of such a service uses full names, whatever it asked for. A list of features keeps the names it asked
for, and a collision there is FC070.
"""

from __future__ import annotations

from typing import Sequence

from fcompile.graph import Projection

FULL_NAMES_NOTE = "columns use full feature names (view__feature): the service's short names collide"


def uses_full_feature_names(projections: Sequence[Projection], requested: bool, service: bool) -> bool:
    """Whether the request's columns are `view__feature`: `requested`, or a service whose plain names collide."""
    if requested or not service:
        return requested
    names = [name for projection in projections for name in projection.output_names(False)]
    return len(names) != len(set(names))
