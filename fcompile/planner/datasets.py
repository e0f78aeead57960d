"""A dataset's plan: its spine and its features' training join (the point-in-time join, or the on-demand join
when it requests on-demand features), with where it is written."""

from __future__ import annotations

from typing import Mapping

from fcompile.graph import Dataset, FeatureGraph
from fcompile.planner.on_demand import plan_training_join
from fcompile.planner.plans import BuildDataset, JoinStrategy
from fcompile.planner.point_in_time import dataset_spine


def plan_build_dataset(graph: FeatureGraph, dataset: Dataset, spine_columns: tuple[str, ...] | None = None,
                       strategy: JoinStrategy | Mapping[str, JoinStrategy] | None = None) -> BuildDataset:
    query = plan_training_join(graph, dataset_spine(graph, dataset, spine_columns), dataset.projections,
                               dataset.full_feature_names, strategy, dataset.location)
    return BuildDataset(dataset.name, dataset.output, query, dataset.location)
