"""Each source's tie_breaker typed (docs/concepts/aggregations.md, "Online").

A view with a `last` aggregation that rows are pushed to keeps, beside each tile's `last` value, the order
of the row it came from - event time, created time and the source's tie_breaker - so that a pushed row tied
on event and created time with a stored one wins or loses as the training SQL's point-in-time order says.
The tiles need the tie_breaker's type for that, whatever the view looks up: it is the column's type in the
source as it can be read when parsing (a Parquet footer, a seed file), or, for a source whose columns
cannot be read then (a table or query, a CSV file), the dtype of a plain feature of that name in a view of
the source. A view that needs it when neither says is FC148.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Mapping

from fcompile.diagnostics import Code, DiagnosticSink
from fcompile.graph import DType, FeatureGraph, Source
from fcompile.parser.source_schema import TIE_BREAKER_DTYPES


def settle_tie_breakers(graph: FeatureGraph, columns_of: Mapping[str, Mapping[str, DType | None] | None],
                        sink: DiagnosticSink) -> FeatureGraph:
    """The graph with each tie_breaker's dtype where it can be known (`columns_of`: source name -> column ->
    dtype, None where the source's columns cannot be read), after FC148 for each view that needs an unknown
    one."""
    sources = []
    for source in graph.sources:
        reported = len(sink.items)
        dtype = _tie_breaker_dtype(graph, source, columns_of.get(source.name), sink) if source.tie_breaker else None
        if dtype is None and len(sink.items) == reported:  # one diagnostic a source
            _check_needed(graph, source, sink)
        sources.append(source if dtype == source.tie_breaker_dtype else replace(source, tie_breaker_dtype=dtype))
    changed = any(new is not old for new, old in zip(sources, graph.sources))
    return replace(graph, sources=tuple(sources)) if changed else graph


def _tie_breaker_dtype(graph: FeatureGraph, source: Source, columns: Mapping[str, DType | None] | None,
                       sink: DiagnosticSink) -> DType | None:
    if columns is not None and columns.get(source.tie_breaker) is not None:  # type: ignore[arg-type]
        dtype = columns[source.tie_breaker]  # type: ignore[index]
        return dtype if dtype.name in TIE_BREAKER_DTYPES else None  # type: ignore[union-attr]  # other types: FC050
    declared = {(feature.dtype, view.name) for view in graph.feature_views if view.source == source.name
                for feature in view.plain_features if feature.name == source.tie_breaker}
    dtypes = sorted({dtype for dtype, _ in declared}, key=str)
    if len(dtypes) > 1:
        ordered = sorted(declared, key=lambda d: (str(d[0]), d[1]))
        shown = ", ".join(f"{dtype} in view '{name}'" for dtype, name in ordered)
        sink.error(Code.TIE_BREAKER_TYPE, f"source '{source.name}': its tie_breaker '{source.tie_breaker}' is looked "
                   f"up as features of different dtypes ({shown})", source.column_location("tie_breaker"),
                   "declare the column's one type in every view that looks it up")
        return None
    if dtypes and dtypes[0].name not in TIE_BREAKER_DTYPES:
        sink.error(Code.TIE_BREAKER_TYPE, f"source '{source.name}': its tie_breaker '{source.tie_breaker}' is "
                   f"{dtypes[0]} (the dtype of a feature of that name), which cannot break ties the same way on "
                   "every warehouse", source.column_location("tie_breaker"),
                   "name an int, string, timestamp or date column as the tie_breaker")
        return None
    return dtypes[0] if dtypes else None


def _check_needed(graph: FeatureGraph, source: Source, sink: DiagnosticSink) -> None:
    """FC148 for each view over `source` that keeps a `last` of pushed rows and so needs the tie_breaker's
    type, which is not known."""
    if not source.tie_breaker:
        return
    for view in graph.feature_views:
        if view.source != source.name or view.push_source is None:
            continue
        last = next((f for f in view.aggregated_features
                     if f.aggregation is not None and f.aggregation.function == "last"), None)
        if last is None:
            continue
        sink.error(Code.TIE_BREAKER_TYPE, f"feature view '{view.name}': rows pushed to '{view.push_source}' are "
                   f"merged into its online tiles, whose `last` ('{last.name}') breaks ties by the tie_breaker "
                   f"'{source.tie_breaker}' of source '{source.name}', but that column's type cannot be read when "
                   "parsing", view.aggregation_location(last.name, "name"),
                   f"add '{source.tie_breaker}' to the view's features with its dtype (int64, string, timestamp or "
                   "date), or read the source from a Parquet file or a seed")
